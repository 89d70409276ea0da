// What each layer sees, on the bundled ImageNet VGG16 conv base: the JS API in headless
// Chromium returns activations, boxes and gradients; the page draws the box the API gives.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { answerTo, openPage, ROOT, shot, waitText, pageServerAndBrowser } from "./harness.mjs";

const json = (rel) => JSON.parse(readFileSync(path.join(ROOT, rel), "utf8"));
const env = pageServerAndBrowser();

/** Each test on a page of its own. */
async function open(t) {
  const page = await openPage(env.browser, env.server.url, { width: 1200, height: 1400 });
  t.after(() => page.close());
  return page;
}

test("the JS API gives layers, activations, fields and gradients for the bundled VGG16 base", async (t) => {
  const page = await open(t);
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

test("clicking a unit of conv5_3 draws the API's box, its padding hatched and the effective field inside it", async (t) => {
  const page = await open(t);
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
  // the view as drawn before any overlay (no margin): each view pixel, to tell the heat
  // map's colour from the photo's
  await page.evaluate(() => {
    const c = document.querySelector("#view-canvas");
    const k = c.width / 336;
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    window.plainView = Array.from({ length: 224 * 336 }, (_, p) => {
      const i = 4 * (Math.floor(p / 336) * k * c.width + (p % 336) * k);
      return [d[i], d[i + 1], d[i + 2]];
    });
  });
  const box = await canvas.boundingBox();
  // unit (1, 2): click the middle of its cell
  await page.mouse.click(box.x + ((2 + 0.5) * box.width) / w, box.y + ((1 + 0.5) * box.height) / h);
  await page.waitForFunction(() => document.querySelector("#view-canvas").dataset.heat === "1" &&
    document.querySelector("#view-canvas").dataset.field !== "", null, { timeout: 120_000 });
  const drawn = JSON.parse(await page.getAttribute("#view-canvas", "data-field"));
  // conv5_3: 196 px, stride 16, padding 90
  assert.deepEqual(drawn, { top: 1 * 16 - 90, left: 2 * 16 - 90, bottom: 1 * 16 - 90 + 195, right: 2 * 16 - 90 + 195 });
  assert.match(await page.textContent("#unit-status"), /conv5_3, channel \d+, unit \(1, 2\): receptive field 196×196 px/);
  // where things are on the canvas: the view (336x224) with a margin for the padding,
  // as field-view.js lays it out, and each pixel classified by its colour
  const px = await page.evaluate((f) => {
    const c = document.querySelector("#view-canvas");
    const [W, H] = [336, 224];
    const m = Math.max(0, -f.top, -f.left, f.bottom - (H - 1), f.right - (W - 1));
    const k = c.width / (W + 2 * m);
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    const n = { heatInField: 0, heatOutside: 0, hatch: 0, paddingInField: 0, markedOutsideField: 0, layout: [c.width, c.height, m, k] };
    for (let cy = 0; cy < c.height; cy++) for (let cx = 0; cx < c.width; cx++) {
      const [y, x] = [Math.floor(cy / k) - m, Math.floor(cx / k) - m]; // in the view's pixels
      const i = 4 * (cy * c.width + cx);
      const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
      const inImage = y >= 0 && y < H && x >= 0 && x < W;
      // 2 px off the field's edge: the yellow outline is drawn 3 px wide across it
      const inField = y >= f.top + 2 && y <= f.bottom - 2 && x >= f.left + 2 && x <= f.right - 2;
      const offField = y < f.top - 2 || y > f.bottom + 2 || x < f.left - 2 || x > f.right + 2;
      if (inImage) {
        // the heat map, (255, 40, 0) over the photo: red kept or up, green down
        const [r0, g0] = window.plainView[y * W + x];
        if (r >= r0 - 2 && g0 - g > 6) {
          if (inField) n.heatInField += 1;
          else if (offField) n.heatOutside += 1;
        }
      } else if (inField) {
        n.paddingInField += 1;
        // the hatch: rgba(200, 30, 30, 0.8) strokes over the grey margin
        if (r > 150 && g < 150 && b < 150) n.hatch += 1;
      } else if (offField && !(r === 232 && g === 232 && b === 232)) {
        n.markedOutsideField += 1;
      }
    }
    return n;
  }, drawn);
  console.log(`view canvas: ${JSON.stringify(px)}`);
  assert.ok(px.heatInField > 500, `${px.heatInField} heat pixels inside the field`);
  assert.equal(px.heatOutside, 0, "no heat outside the theoretical field");
  assert.ok(px.paddingInField > 1000, `the field reaches ${px.paddingInField} pixels into the padding`);
  assert.ok(px.hatch > px.paddingInField / 20, `${px.hatch} hatch pixels of ${px.paddingInField} in the padding`);
  assert.equal(px.markedOutsideField, 0, "the margin outside the field is left plain");
  await page.locator("#view-canvas").scrollIntoViewIfNeeded();
  await shot(page, "05-conv5_3-receptive-field");
  // the paper panel's numbers come from this model
  const paper = await page.textContent("#paper-facts");
  assert.match(paper, /All 13 convolutions of this model are 3×3/);
  assert.match(paper, /1 layer sees 3×3, 2 layers see 5×5, 3 layers see 7×7/);
  assert.match(paper, /C = 256 channels, 3 stacked 3×3 layers have 3·9·C² = 1,769,472 weights; one 7×7 layer .* 49·C² = 3,211,264/);
});

test("the saliency toggle draws the top class's saliency over the view and takes it away", async (t) => {
  const page = await open(t);
  await waitText(page, "#model-status", /Loaded Fashion-VGG/);
  await answerTo(page, "#samples-fashion .sample >> nth=0");
  await page.locator("#saliency-toggle").waitFor();
  assert.equal(await page.getAttribute("#view-canvas", "data-heat"), "");
  const top = await page.textContent("#predictions li .label");
  await page.check("#saliency");
  await page.waitForFunction(() => document.querySelector("#view-canvas").dataset.heat === "1");
  const status = await page.textContent("#unit-status");
  assert.match(status, /^Red: the saliency of class \d+ \((.*)\): \|∂ score \/ ∂ pixel\|/);
  assert.equal(status.match(/^Red: the saliency of class \d+ \((.*)\): \|/)[1], top, "the saliency of the top class");
  await shot(page, "06-saliency");
  await page.uncheck("#saliency");
  await page.waitForFunction(() => document.querySelector("#view-canvas").dataset.heat === "");
  // and its words go with it
  assert.equal(await page.textContent("#unit-status"), "");
});

test("the paper panel charts the loaded model's fields and the depth table quotes its sources", async (t) => {
  const page = await open(t);
  await waitText(page, "#model-status", /Loaded Fashion-VGG/);
  await page.locator("#paper-panel").waitFor();
  // Fashion-VGG: three blocks of two padded 3x3 convolutions and a 2x2 pool. By hand,
  // r = r + 2j per conv and r + j per pool, the jump j doubling at each pool
  const dots = await page.$$eval("#rf-chart circle > title", (ts) => ts.map((t) => t.textContent));
  assert.deepEqual(dots.map((d) => Number(d.match(/: (\d+) px$/)[1])), [3, 5, 6, 10, 14, 16, 24, 32, 36]);
  const texts = await page.$$eval("#rf-chart text", (ts) => ts.map((t) => t.textContent));
  // the input is 28 + 2 x 2 padding = 32 px; the 8th layer is the first to see all of it
  assert.ok(texts.includes("input 32 px"), texts.join(" | "));
  assert.ok(texts.includes(`${dots[7].split(":")[0]}: field ≥ input`), texts.join(" | "));
  // every label the chart writes lies inside its box (drawn for the width it is shown at)
  const outside = await page.$eval("#rf-chart", (svg) => {
    const [, , W, H] = svg.getAttribute("viewBox").split(" ").map(Number);
    return [...svg.querySelectorAll("text")].map((t) => t.getBBox())
      .filter((b) => b.x < 0 || b.y < 0 || b.x + b.width > W || b.y + b.height > H).map((b) => [b.x, b.y, b.width, b.height]);
  });
  assert.deepEqual(outside, [], "chart labels cut off");
  // the depth table: our runs from depth.json, the paper's Table 3 beside them, both sourced
  const depth = json("www/models/depth.json");
  await page.locator("#depth-panel").waitFor();
  const rows = await page.$$eval("#depth-table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  // ours, and the paper's C (not trained here) in its place
  assert.equal(rows.length, depth.rows.length + 1);
  const ours = rows.filter((r) => r[0] !== "C");
  for (const [i, r] of depth.rows.entries()) {
    const paper = depth.paper.train_test_scale_256[r.config];
    assert.deepEqual([ours[i][0], ours[i][1], ours[i][3], ours[i][4]], [
      r.config, String(r.conv_layers),
      `${r.mean_test_error.toFixed(2)}% (seeds: ${r.test_error.map((e) => `${e.toFixed(2)}%`).join(", ")})`,
      `${paper[0].toFixed(1)}% / ${paper[1].toFixed(1)}%`,
    ]);
  }
  // the parameters are the ones the loaded model's summary counts: depth A, loaded
  await page.selectOption("#model-select", "depth-A");
  await waitText(page, "#model-status", /Loaded Depth experiment: configuration A/);
  const summaryA = (await page.textContent("#model-summary")).match(/([\d,]+) parameters/)[1];
  assert.equal(ours[0][2], summaryA, "depth table and model summary agree for A");
  assert.match(await page.textContent("#depth-notes"), /batch norm's scale and shift .* folded into the convolutions.*Configuration C is D with a 1×1 convolution/);
  const source = await page.textContent("#depth-source");
  assert.ok(source.includes(depth.paper.source) && source.includes(depth.recipe), source);
});
