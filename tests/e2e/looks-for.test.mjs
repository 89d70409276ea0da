// What a channel looks for (issue 33): the JS API's visualize and topPatches in headless
// Chromium, and the inspector's "What this channel looks for" beside "Where it fired most"
// on the bundled VGG16 conv base, at a laptop's and a phone's size (screenshots kept).
import assert from "node:assert/strict";
import { test } from "node:test";
import { openPage, shot, waitText, pageServerAndBrowser } from "./harness.mjs";

const env = pageServerAndBrowser();

test("visualize forms a class's image step by step, names bad targets, and topPatches finds the strongest units", async (t) => {
  const page = await openPage(env.browser, env.server.url, { width: 1200, height: 900 });
  t.after(() => page.close());
  const r = await page.evaluate(async () => {
    const { default: init, Vgg } = await import("./pkg/vgg_wasm.js");
    await init();
    const bytes = new Uint8Array(await (await fetch("models/fashion-vgg.onnx")).arrayBuffer());
    const options = await (await fetch("models/fashion-vgg.json")).json();
    const vgg = new Vgg(bytes, { ...options, activations: true });
    const errors = [];
    for (const o of [{ target: { class: 12 } }, { target: { layer: "conv9_1", channel: 0 } }, { target: { class: 1 }, steps: NaN },
      { target: { class: 1 }, size: 0 }, {}]) {
      try { vgg.visualize(o); errors.push(null); } catch (e) { errors.push(e instanceof Error ? e.message : `not an Error: ${e}`); }
    }
    const v = vgg.visualize({ target: { class: 3 }, steps: 24, seed: 1 });
    const first = v.step(0);
    const frames = [];
    while (!v.done) frames.push(v.step(8));
    const last = frames[frames.length - 1];
    v.free();
    const files = await Promise.all(["fashion-dress.png", "fashion-bag.png"].map(async (f) => new Uint8Array(await (await fetch(`samples/${f}`)).arrayBuffer())));
    const patches = vgg.topPatches(files, "conv1_1", 2, 4);
    let badImage = null;
    try { vgg.topPatches([files[0], 7], "conv1_1", 2, 4); } catch (e) { badImage = e.message; }
    // the model still answers
    const px = new Uint8Array(28 * 28 * 4).fill(255);
    const answer = vgg.classify(px, 28, 28, 1)[0].label;
    return { errors, first: { step: first.step, w: first.width, bytes: first.rgba.length }, steps: frames.map((f) => f.step),
      last: { top: last.top, value: last.value, target: last.target, msPerStep: last.msPerStep },
      patches: patches.map((p) => ({ image: p.image, value: p.value, w: p.width, bytes: p.rgba.length, field: p.field })), badImage, answer };
  });
  console.log(`Fashion-VGG class 3 in Chromium: ${r.last.msPerStep.toFixed(1)} ms a step; answered ${r.last.top.label} (${r.last.top.probability.toFixed(3)})`);
  assert.match(r.errors[0], /class 12 is out of range/);
  assert.match(r.errors[1], /no layer named 'conv9_1'/);
  assert.match(r.errors[2], /steps must be a finite number/);
  assert.match(r.errors[3], /size 0 does not fit|size must be/);
  assert.match(r.errors[4], /options.target is required/);
  assert.deepEqual(r.first, { step: 0, w: 32, bytes: 32 * 32 * 4 }); // 28 px padded by 2
  assert.deepEqual(r.steps, [8, 16, 24]);
  assert.equal(r.last.target, "class 3 (Dress)");
  assert.equal(r.last.top.index, 3);
  assert.equal(r.patches.length, 4);
  for (let i = 1; i < 4; i++) assert.ok(r.patches[i - 1].value >= r.patches[i].value, "strongest first");
  for (const p of r.patches) assert.equal(p.bytes, p.w * (p.field.clipped.bottom - p.field.clipped.top + 1) * 4);
  assert.match(r.badImage, /images\[1\]: expected encoded bytes or \{ rgba, width, height \}, got 7/);
  assert.equal(typeof r.answer, "string");
});

test("a stopped visualisation is freed: the worker holds none after it, and start/stop cycles leave the memory where the first left it", async (t) => {
  const page = await openPage(env.browser, env.server.url, { width: 1200, height: 900 });
  t.after(() => page.close());
  const r = await page.evaluate(async () => {
    const { Engine } = await import("./engine.js");
    const engine = Engine.start();
    await engine.started;
    const bytes = await (await fetch("models/vgg16-conv-base.onnx")).arrayBuffer();
    const options = await (await fetch("models/vgg16-conv-base.json")).json();
    await engine.load(bytes, { options, keepActivationsUpTo: Infinity });
    // 192 px: each visualisation holds its image, Adam's two moments and a gradient (about
    // 1.8 MB), and the forward and backward passes' buffers while a step runs; 6 leaked ones
    // would grow the memory by 10 MB or more
    const cycle = async (seed) => {
      await engine.visualize({ target: { layer: "conv4_3", channel: 7 }, size: 192, steps: 4, seed });
      await engine.visualizeStep(2);
      await engine.visualizeStop();
    };
    await cycle(1);
    const after1 = (await engine.runtime()).memoryBytes;
    let stepAfterStop = null;
    try { await engine.visualizeStep(1); } catch (e) { stepAfterStop = e.message; }
    for (let seed = 2; seed <= 7; seed++) await cycle(seed);
    const after7 = (await engine.runtime()).memoryBytes;
    engine.worker.terminate();
    return { after1, after7, stepAfterStop };
  });
  console.log(`wasm memory after 1 visualisation started and stopped: ${(r.after1 / 2 ** 20).toFixed(1)} MiB; after 7: ${(r.after7 / 2 ** 20).toFixed(1)} MiB`);
  assert.match(r.stepAfterStop ?? "", /no visualisation is in progress/);
  // (a little slack for the allocator's fragmentation; six leaked visualisations are 9 MB or more)
  assert.ok(r.after7 - r.after1 < 4 * 2 ** 20, `memory grew by ${r.after7 - r.after1} bytes across 6 stopped visualisations: something they held was kept`);
});

for (const [device, viewport] of [["laptop", { width: 1366, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
  test(`${device}: a conv5 channel of the conv base shows what it looks for, forming, beside nine patches`, async (t) => {
    const page = await openPage(env.browser, env.server.url, viewport);
    t.after(() => page.close());
    await page.selectOption("#model-select", "vgg16-conv-base");
    await waitText(page, "#model-status", /Loaded VGG16 convolutional base/, 120_000);
    await page.click("#samples-photo .sample >> nth=0");
    await waitText(page, "#result-status", /for Chelsea/);
    await page.locator("#network .layer .thumb").first().waitFor({ timeout: 120_000 });
    const col = page.locator("#network .layer", { has: page.locator("h3", { hasText: /^conv5_3$/ }) });
    await col.locator(".thumb").first().click();
    await page.locator("#inspector-canvas").waitFor();
    await page.click("#looks-for-run");
    await page.waitForFunction(() => document.querySelectorAll("#patches .patch canvas").length === 9, null, { timeout: 180_000 });
    await waitText(page, "#patches-caption", /the 9 strongest units over 4 samples/);
    // the image forms: a frame past a few steps, drawn at its size
    await waitText(page, "#looks-for-caption", /What conv5_3 channel \d+ looks for: step ([4-9]|[1-9]\d) of 48, 96×96 px, [\d.]+ s a step on the CPU/, 180_000);
    const drawn = await page.evaluate(() => {
      const c = /** @type {HTMLCanvasElement} */ (document.querySelector("#looks-for-canvas"));
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let grey = 0;
      for (let i = 0; i < d.length; i += 4) grey += Math.abs(d[i] - 128) < 3 && Math.abs(d[i + 1] - 128) < 3 ? 1 : 0;
      return { w: c.width, h: c.height, greyShare: grey / (d.length / 4) };
    });
    assert.deepEqual([drawn.w, drawn.h], [96, 96]);
    assert.ok(drawn.greyShare < 0.5, `the image is still mid grey (${drawn.greyShare})`);
    await page.locator("#looks-for-out").scrollIntoViewIfNeeded();
    await shot(page, `looks-for-${device}`);
    console.log(`${device}: ${await page.locator("#looks-for-caption").textContent()}`);
    // Stop ends it where it is; the channel's inspector keeps working
    await page.click("#looks-for-stop");
    await waitText(page, "#looks-for-status", /Stopped/);
    // a patch opens its sample
    await page.locator("#patches .patch").first().click();
    await waitText(page, "#result-status", /for /);
  });
}

test("the answer's classes can be imagined: the image formed for one is answered as it", async (t) => {
  const page = await openPage(env.browser, env.server.url, { width: 1366, height: 900 });
  t.after(() => page.close());
  // the first open answers a Fashion-MNIST sample by itself
  await waitText(page, "#result-status", /^Top \d+ for /, 120_000);
  await page.locator("#imagine-row").waitFor();
  const options = await page.locator("#imagine-class option").allTextContents();
  assert.equal(options.length, 5);
  // the second class of the answer, not the one the image already is
  await page.selectOption("#imagine-class", { index: 1 });
  await page.click("#imagine-run");
  await waitText(page, "#imagine-status", /^Done in [\d.]+ s \(score [-\d.e+]+\)\.$/, 120_000);
  const caption = await page.locator("#imagined-caption").textContent();
  console.log(caption);
  assert.match(caption, /step 48 of 48, 32×32 px/);
  assert.ok(caption.includes(`on it the model answers ${options[1]} (`), caption);
  await shot(page, "imagine-laptop");
});
