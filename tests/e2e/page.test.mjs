// The page in headless Chromium, used as a person would: bundled models from the catalog,
// sample photos, your own file, a broken model that leaves the previous one working, and a
// main thread that never blocks during inference.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { launch, openPage, ROOT, serve, shot, SHOTS, skipUnless, waitText as waitTextIn } from "./harness.mjs";

const GEN = path.join(ROOT, "tests/fixtures/gen");
const json = (rel) => JSON.parse(readFileSync(path.join(ROOT, rel), "utf8"));
const SAMPLES = json("www/samples/samples.json");
const FASHION_CARD = "training/results/fashion-vgg.json";
let server, browser, page;

before(async () => {
  server = await serve(path.join(ROOT, "www"));
  browser = await launch();
  page = await openPage(browser, server.url);
  // watch for long tasks on the main thread for the whole session
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((l) => window.longTasks.push(...l.getEntries().map((e) => e.duration)))
      .observe({ type: "longtask", buffered: false });
  });
  console.log(`screenshots: ${SHOTS}`);
});

after(async () => {
  await browser?.close();
  server?.close();
});

const text = (sel) => page.textContent(sel);
const waitText = (sel, re) => waitTextIn(page, sel, re);

async function predictions() {
  await page.locator("#predictions li").first().waitFor();
  return page.$$eval("#predictions li", (lis) =>
    lis.map((li) => ({ label: li.querySelector(".label").textContent, pct: parseFloat(li.querySelector(".pct").textContent) })));
}

async function chooseModel(id, loadedName) {
  await page.selectOption("#model-select", id);
  await waitText("#model-status", new RegExp(`Loaded ${loadedName}`));
}

test("opens with the sample strips and a bundled model", async () => {
  await page.locator("#samples-fashion .sample").nth(9).waitFor();
  assert.equal(await page.locator("#samples-photo .sample").count(), SAMPLES.filter((s) => s.kind !== "fashion").length);
  assert.equal(await page.locator("#samples-fashion .sample").count(), 10);
  const ids = await page.$$eval("#model-select option", (os) => os.map((o) => o.value));
  assert.ok(ids.includes("vgg16-conv-base") && ids.includes("vgg16-7"), `catalog options: ${ids}`);
  await shot(page, "01-first-open");
});

test("the Fashion-VGG names bundled Fashion-MNIST samples as its model card says", { skip: skipUnless(existsSync(path.join(ROOT, FASHION_CARD)), FASHION_CARD) }, async () => {
  const card = json(FASHION_CARD);
  await waitText("#model-status", /Loaded Fashion-VGG/);
  const fashion = SAMPLES.filter((s) => s.kind === "fashion");
  let checked = 0;
  for (const [i, s] of fashion.entries()) {
    const index = Number(s.source.match(/image (\d+)/)[1]);
    await page.click(`#samples-fashion .sample >> nth=${i}`);
    await waitText("#result-status", new RegExp(`Top \\d+ for ${s.name.replace(/[()/]/g, ".")}`));
    const top = (await predictions())[0].label;
    if (index < card.subset) {
      // the crate must agree with the training script's own prediction for this image
      assert.equal(top, card.labels[card.subset_predictions[index]], s.name);
      checked += 1;
    }
  }
  assert.ok(checked >= 5, `checked ${checked} samples`);
  await shot(page, "02-fashion-prediction");
});

test("an ONNX file from disk classifies a sample photo", async () => {
  await page.setInputFiles("#model-file", path.join(GEN, "zoo_vgg16.onnx"));
  await waitText("#model-status", /Loaded zoo_vgg16\.onnx/);
  assert.match(await text("#model-summary"), /data \[\?, 3, 224, 224\].*1000 classes · 893\.1 KiB/);
  await page.click("#samples-photo .sample >> nth=0");
  await waitText("#result-status", /Top 5 for Chelsea/);
  const preds = await predictions();
  assert.equal(preds.length, 5);
  assert.ok(preds.every((p, i) => i === 0 || preds[i - 1].pct >= p.pct), "sorted");
  assert.match(await text("#timings"), /inference \d+\.\d ms/);
});

test("an uploaded image is classified", async () => {
  await page.setInputFiles("#image-file", path.join(ROOT, "www/samples/rocket.jpg"));
  await waitText("#result-status", /rocket\.jpg/);
  assert.equal((await predictions()).length, 5);
  assert.match(await text("#image-caption"), /rocket\.jpg · 640×427/);
});

test("a broken model shows an error and the previous model keeps working", async () => {
  await page.setInputFiles("#model-file", {
    name: "broken.onnx", mimeType: "application/octet-stream",
    buffer: readFileSync(path.join(GEN, "zoo_vgg16.onnx")).subarray(0, 5000),
  });
  await waitText("#model-status", /Could not load broken\.onnx/);
  const status = await text("#model-status");
  assert.match(status, /loading the model/);
  assert.match(status, /previous model is still loaded/);
  await shot(page, "03-broken-model");
  await page.click("#samples-photo .sample >> nth=1");
  await waitText("#result-status", /Top 5 for Coffee/);
  assert.equal((await predictions()).length, 5);
});

test("the VGG16 conv base shows feature maps of a photo", async () => {
  await chooseModel("vgg16-conv-base", "VGG16 convolutional base");
  await page.click("#samples-photo .sample >> nth=0");
  await waitText("#result-status", /feature maps of shape \[1, 512, 7, 10\] for Chelsea/);
  assert.equal(await page.locator("#feature-maps canvas").count(), 16);
  assert.equal(await page.locator("#predictions li").count(), 0);
  assert.match(await text("#model-credit"), /Visual Geometry Group.*CC BY 4\.0/);
  await shot(page, "04-vgg16-feature-maps");
});

test("the main thread never blocked for 200 ms", async () => {
  const longTasks = await page.evaluate(() => window.longTasks);
  assert.ok(longTasks.every((d) => d < 200), `long tasks on the main thread (ms): ${longTasks}`);
});
