// The page in headless Chromium, used as a person would: open a model, pick images,
// read the answer; a broken model leaves the previous one working; the main thread
// never blocks during inference.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { launch, ROOT, serve, shot, SHOTS } from "./harness.mjs";

const GEN = path.join(ROOT, "tests/fixtures/gen");
const LABELS = readFileSync(path.join(ROOT, "src/labels/imagenet1k.txt"), "utf8").trim().split("\n");
let server, browser, page;

before(async () => {
  server = await serve(path.join(ROOT, "www"));
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(server.url);
  console.log(`screenshots: ${SHOTS}`);
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function predictions() {
  await page.locator("#predictions li").first().waitFor();
  return page.$$eval("#predictions li", (lis) =>
    lis.map((li) => ({ label: li.querySelector(".label").textContent, pct: parseFloat(li.querySelector(".pct").textContent) })));
}

test("opens with the sample strip and no model", async () => {
  await page.locator("#samples .sample").nth(3).waitFor();
  assert.equal(await page.locator("#samples .sample").count(), 4);
  assert.match(await page.textContent("#model-status"), /No model loaded/);
  await shot(page, "01-first-open");
});

test("an ONNX file from disk classifies a sample photo", async () => {
  await page.setInputFiles("#model-file", path.join(GEN, "zoo_vgg16.onnx"));
  await page.waitForFunction(() => /Loaded zoo_vgg16\.onnx/.test(document.querySelector("#model-status").textContent));
  assert.match(await page.textContent("#model-summary"), /data \[\?, 3, 224, 224\].*1000 classes · 893\.1 KiB/);
  // watch for long tasks on the main thread while the worker runs the model
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((l) => window.longTasks.push(...l.getEntries().map((e) => e.duration)))
      .observe({ type: "longtask" });
  });
  await page.click("#samples .sample >> nth=0");
  const preds = await predictions();
  assert.equal(preds.length, 5);
  for (const p of preds) assert.ok(LABELS.includes(p.label), `${p.label} is an ImageNet label`);
  assert.ok(preds.every((p, i) => i === 0 || preds[i - 1].pct >= p.pct), "sorted");
  assert.match(await page.textContent("#timings"), /inference \d+\.\d ms/);
  const longTasks = await page.evaluate(() => window.longTasks);
  assert.ok(longTasks.every((d) => d < 200), `long tasks on the main thread: ${longTasks}`);
  await shot(page, "02-classified-sample");
});

test("an uploaded image is classified", async () => {
  await page.setInputFiles("#image-file", path.join(ROOT, "www/samples/rocket.jpg"));
  await page.waitForFunction(() => /rocket\.jpg/.test(document.querySelector("#result-status").textContent));
  assert.equal((await predictions()).length, 5);
  assert.match(await page.textContent("#image-caption"), /rocket\.jpg · 640×427/);
});

test("a broken model shows an error and the previous model keeps working", async () => {
  const before = await predictions();
  await page.setInputFiles("#model-file", {
    name: "broken.onnx", mimeType: "application/octet-stream", buffer: readFileSync(path.join(GEN, "zoo_vgg16.onnx")).subarray(0, 5000),
  });
  await page.waitForFunction(() => /Could not load broken\.onnx/.test(document.querySelector("#model-status").textContent));
  const status = await page.textContent("#model-status");
  assert.match(status, /loading the model/);
  assert.match(status, /previous model is still loaded/);
  await shot(page, "03-broken-model");
  await page.click("#samples .sample >> nth=0");
  await page.waitForFunction(() => /Chelsea/.test(document.querySelector("#result-status").textContent));
  const again = await predictions();
  assert.equal(again.length, 5);
  assert.ok(again.every((p) => LABELS.includes(p.label)));
  assert.notDeepEqual(before, [], "had predictions before");
});

test("a convolution-only model reports feature maps, not predictions", async () => {
  await page.setInputFiles("#model-file", path.join(GEN, "features_vgg16.onnx"));
  await page.waitForFunction(() => /Loaded features_vgg16/.test(document.querySelector("#model-status").textContent));
  await page.waitForFunction(() => /no classifier/.test(document.querySelector("#result-status").textContent));
  assert.match(await page.textContent("#result-status"), /feature maps of shape \[1, 32, 9, 14\]/);
  assert.equal(await page.locator("#predictions li").count(), 0);
  await shot(page, "04-features-model");
});
