// What each layer sees, on the bundled ImageNet VGG16 conv base: the JS API in headless
// Chromium returns activations, boxes and gradients; the page draws the box the API gives.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { launch, openPage, ROOT, serve, shot, waitText } from "./harness.mjs";

let server, browser, page;

before(async () => {
  server = await serve(path.join(ROOT, "www"));
  browser = await launch();
  page = await openPage(browser, server.url, { width: 1200, height: 1400 });
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("the JS API gives layers, activations, fields and gradients for the bundled VGG16 base", async () => {
  const r = await page.evaluate(async () => {
    const { default: init, Vgg } = await import("./pkg/vgg_wasm.js");
    await init();
    const bytes = new Uint8Array(await (await fetch("models/vgg16-conv-base.onnx")).arrayBuffer());
    const options = await (await fetch("models/vgg16-conv-base.json")).json();
    const vgg = new Vgg(bytes, { ...options, activations: true });
    // a 224x224 image: the conv base sees it at its own size
    const rgba = new Uint8Array(224 * 224 * 4).map((_, i) => (i * 2654435761) >>> 24);
    const t0 = performance.now();
    const out = vgg.forward(rgba, 224, 224);
    const forwardMs = performance.now() - t0;
    const layers = vgg.layers();
    const pool5 = layers.find((l) => l.label === "pool5");
    const act = vgg.activation("conv5_3");
    const field = vgg.receptiveField("conv5_3", 7, 7);
    const erf = vgg.effectiveReceptiveField("conv5_3", 12, 7, 7);
    const erfPool5 = vgg.effectiveReceptiveField("pool5", 12, 3, 3);
    // every non-zero of the gradient lies inside the theoretical field
    const [, h, w] = erf.shape;
    let outside = 0, nonzero = 0;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      if (erf.map[y * w + x] !== 0) {
        nonzero++;
        const b = field.unclipped;
        if (y < b.top || y > b.bottom || x < b.left || x > b.right) outside++;
      }
    }
    return { outShape: out.shape, forwardMs, pool5, actShape: act.shape, field, erfMs: erf.ms, erfPool5Ms: erfPool5.ms, nonzero, outside };
  });
  console.log(`VGG16 conv base at 224x224 in Chromium: forward ${r.forwardMs.toFixed(0)} ms; effective receptive field of ` +
    `conv5_3[12, 7, 7] ${r.erfMs.toFixed(0)} ms, of pool5[12, 3, 3] ${r.erfPool5Ms.toFixed(0)} ms`);
  assert.deepEqual(r.outShape, [1, 512, 7, 7]);
  assert.deepEqual([r.pool5.rf, r.pool5.stride, r.pool5.padding], [[212, 212], [32, 32], [90, 90]]);
  assert.equal(r.pool5.params, 0);
  assert.deepEqual(r.actShape, [1, 512, 14, 14]);
  // conv5_3: 196 px, stride 16, padding 90: unit 7 starts at 7 * 16 - 90 = 22
  assert.deepEqual(r.field.unclipped, { top: 22, left: 22, bottom: 217, right: 217 });
  assert.ok(r.nonzero > 1000, `${r.nonzero} non-zero gradient pixels`);
  assert.equal(r.outside, 0, "no gradient outside the theoretical field");
});

test("clicking a unit of conv5_3 draws the API's box and the effective field on the photo", async () => {
  await page.selectOption("#model-select", "vgg16-conv-base");
  await waitText(page, "#model-status", /Loaded VGG16 convolutional base/);
  await page.click("#samples-photo .sample >> nth=0"); // Chelsea, 451x300, seen at 336x224
  await page.locator("#network .layer").first().waitFor({ timeout: 120_000 });
  const labels = await page.$$eval("#network .layer h3", (hs) => hs.map((h) => h.textContent));
  assert.deepEqual(labels.slice(0, 3), ["conv1_1", "conv1_2", "pool1"]);
  assert.ok(labels.includes("conv5_3") && labels.at(-1) === "pool5", labels.join(" "));
  const facts = await page.textContent("#network .layer:nth-child(2) .facts");
  assert.match(facts, /64×224×336 · RF 5×5 px · 36\.9 k params/);
  // open the strongest channel of conv5_3 and click a unit near its top-left corner
  const col = page.locator("#network .layer", { has: page.locator("h3", { hasText: /^conv5_3$/ }) });
  await col.locator(".thumb").first().click();
  const canvas = page.locator("#inspector-canvas");
  await canvas.waitFor();
  const caption = await page.textContent("#inspector-caption");
  const [, h, w] = caption.match(/(\d+)×(\d+) units/).map(Number);
  assert.deepEqual([h, w], [14, 21]);
  const box = await canvas.boundingBox();
  // unit (1, 2): click the middle of its cell
  await page.mouse.click(box.x + ((2 + 0.5) * box.width) / w, box.y + ((1 + 0.5) * box.height) / h);
  await page.waitForFunction(() => document.querySelector("#view-canvas").dataset.heat === "1" &&
    document.querySelector("#view-canvas").dataset.field !== "", null, { timeout: 120_000 });
  const drawn = JSON.parse(await page.getAttribute("#view-canvas", "data-field"));
  // conv5_3: 196 px, stride 16, padding 90
  assert.deepEqual(drawn, { top: 1 * 16 - 90, left: 2 * 16 - 90, bottom: 1 * 16 - 90 + 195, right: 2 * 16 - 90 + 195 });
  assert.match(await page.textContent("#unit-status"), /conv5_3, channel \d+, unit \(1, 2\): receptive field 196×196 px/);
  // the heat map is on the canvas: red pixels inside the field
  const red = await page.evaluate(() => {
    const c = document.querySelector("#view-canvas");
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] < 120 && d[i + 2] < 80) n++;
    return n;
  });
  assert.ok(red > 500, `${red} red pixels`);
  await page.locator("#view-canvas").scrollIntoViewIfNeeded();
  await shot(page, "05-conv5_3-receptive-field");
  // the paper panel's numbers come from this model
  const paper = await page.textContent("#paper-facts");
  assert.match(paper, /All 13 convolutions of this model are 3×3/);
  assert.match(paper, /1 layer sees 3×3, 2 layers see 5×5, 3 layers see 7×7/);
  assert.match(paper, /C = 256 channels, 3 stacked 3×3 layers have 3·9·C² = 1,769,472 weights; one 7×7 layer .* 49·C² = 3,211,264/);
});
