// The accuracy comparison of the teach issue, in headless Chromium through the page's own
// engine (its worker, its threaded build): on the same split as tests/teach.rs (Fashion-MNIST
// test images in test-set order, per class the first 20 taught, the next 10 held out, at
// 112 px), VGG16 features with the crate's softmax regression must beat the nearest class
// mean on raw pixels. Also logs the milliseconds per descriptor and for training.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { openPage, pageServerAndBrowser, skipUnless } from "./harness.mjs";

const env = pageServerAndBrowser();
const DATA = "/usr/share/datasets/fashion-mnist";
const have = (() => {
  try {
    readFileSync(`${DATA}/t10k-labels-idx1-ubyte.gz`);
    return true;
  } catch {
    return false;
  }
})();
const CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
const TAUGHT = 20, HELD = 10, SIDE = 112;

/** Per class, the first TAUGHT + HELD test images: {label, taught, pixels (28x28 grey)}. */
function split() {
  const images = gunzipSync(readFileSync(`${DATA}/t10k-images-idx3-ubyte.gz`)).subarray(16);
  const labels = gunzipSync(readFileSync(`${DATA}/t10k-labels-idx1-ubyte.gz`)).subarray(8);
  const seen = new Array(10).fill(0);
  const out = [];
  for (let i = 0; i < labels.length && out.length < 10 * (TAUGHT + HELD); i++) {
    const c = labels[i];
    if (seen[c] >= TAUGHT + HELD) continue;
    out.push({ label: c, taught: seen[c] < TAUGHT, pixels: [...images.subarray(i * 784, (i + 1) * 784)] });
    seen[c]++;
  }
  return out;
}

/** Nearest class mean on raw pixels (0-1): the baseline. */
function pixelNearestMean(items) {
  const means = CLASSES.map((_, c) => {
    const mine = items.filter((it) => it.taught && it.label === c);
    return mine[0].pixels.map((_, j) => mine.reduce((a, it) => a + it.pixels[j] / 255, 0) / mine.length);
  });
  const held = items.filter((it) => !it.taught);
  const right = held.filter((it) => {
    const d = means.map((m) => m.reduce((a, v, j) => a + (v - it.pixels[j] / 255) ** 2, 0));
    return d.indexOf(Math.min(...d)) === it.label;
  }).length;
  return right / held.length;
}

test("in Chromium, VGG16 features with softmax regression beat raw pixels' nearest mean on the native test's split", {
  timeout: 600_000, skip: skipUnless(have, `Fashion-MNIST (${DATA})`),
}, async (t) => {
  const page = await openPage(env.browser, env.server.url);
  t.after(() => page.close());
  const items = split();
  const r = await page.evaluate(async ({ items, classes, side }) => {
    const { Engine } = await import("./engine.js");
    const engine = Engine.start();
    const runtime = await engine.started;
    const base = await (await fetch("models/vgg16-conv-base.onnx")).arrayBuffer();
    const options = await (await fetch("models/vgg16-conv-base.json")).json();
    await engine.teachStart(base, { options, teacher: { side } });
    const image = (it) => {
      const rgba = new Uint8ClampedArray(28 * 28 * 4);
      it.pixels.forEach((v, i) => rgba.set([v, v, v, 255], i * 4));
      return { width: 28, height: 28, rgba: rgba.buffer };
    };
    let describeMs = 0, n = 0;
    for (const it of items.filter((it) => it.taught)) {
      const { added } = await engine.teachAdd(classes[it.label], image(it));
      describeMs += added.timings.preprocessMs + added.timings.inferenceMs;
      n++;
    }
    const report = await engine.teachTrain({ holdout: 0 });
    const held = items.filter((it) => !it.taught);
    let right = 0;
    for (const it of held) {
      const { predictions } = await engine.teachClassify(image(it), 1);
      right += predictions[0].label === classes[it.label];
    }
    return { accuracy: right / held.length, describeMs: describeMs / n, trainMs: report.ms, build: runtime.build, threads: runtime.threads };
  }, { items, classes: CLASSES, side: SIDE });
  const pixels = pixelNearestMean(items);
  console.log(`${r.build}, ${r.threads} thread(s), ${SIDE} px: VGG16 + softmax ${(100 * r.accuracy).toFixed(1)}%, ` +
    `raw pixels' nearest mean ${(100 * pixels).toFixed(1)}%; ${r.describeMs.toFixed(0)} ms per descriptor, ` +
    `training on ${10 * TAUGHT} descriptors ${r.trainMs.toFixed(0)} ms`);
  assert.ok(r.accuracy > pixels, `VGG16 features + softmax (${r.accuracy}) must beat raw pixels' nearest mean (${pixels})`);
});
