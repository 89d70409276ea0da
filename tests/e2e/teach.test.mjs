// Teaching new classes on the bundled VGG16 conv base, as a user does it: two classes from
// the samples, trained, a held-out image answered, the model downloaded as .onnx + .json and
// opened again through "Open an ONNX file…", and the classes kept across a reload.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { answerTo, contextKeepingWorkers, idle, openPage, shot, waitText, pageServerAndBrowser } from "./harness.mjs";

const env = pageServerAndBrowser();
const sample = (name) => `#samples-fashion .sample[title^="${name}"]`;

/** Shows sample `name` in the Image section, then adds it to class `cls`. */
async function teach(page, name, cls) {
  await page.click(sample(name));
  await waitText(page, "#image-caption", new RegExp(`^${name}`));
  const before = await page.textContent(`#teach-classes li[data-name="${cls}"] .count`);
  await page.click(`#teach-classes li[data-name="${cls}"] button:has-text("+ image shown")`);
  await page.waitForFunction(([c, b]) => document.querySelector(`#teach-classes li[data-name="${c}"] .count`)?.textContent !== b, [cls, before], { timeout: 60_000 });
  await waitText(page, "#teach-status", /^Added 1 image to /);
}

/** Declares classes by name, as a user types them. */
async function addClasses(page, names) {
  for (const name of names) {
    await page.fill("#teach-class-name", name);
    await page.click("#teach-new-class button[type=submit]");
    await page.locator(`#teach-classes li[data-name="${name}"]`).waitFor();
  }
}

/** Clicks "Download the model" and saves both downloads under their own names (the page's
 *  file input reads the sidecar by its name) in a directory removed after the test. */
async function exportModel(t, page) {
  const downloads = [];
  page.on("download", (d) => downloads.push(d));
  await page.click("#teach-export");
  for (const t0 = Date.now(); downloads.length < 2;) {
    if (Date.now() - t0 > 30_000) throw new Error(`${downloads.length} of the 2 downloads (.onnx, .json) came in 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const dir = mkdtempSync(path.join(tmpdir(), "taught-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return Promise.all(downloads.map(async (d) => {
    const file = path.join(dir, d.suggestedFilename());
    await d.saveAs(file);
    return file;
  }));
}

test("two classes taught from samples answer a held-out image, export as ONNX that loads back, and survive a reload", { timeout: 300_000 }, async (t) => {
  const page = await openPage(env.browser, env.server.url, { width: 1366, height: 900 });
  t.after(() => page.close());
  await waitText(page, "#result-status", /^Top \d+ for /);
  await page.click("#teach-start");
  await waitText(page, "#teach-status", /^Ready: the base sees 224×224 pixels and describes each image with 512 numbers/, 120_000);
  await addClasses(page, ["shoes", "tops"]);
  assert.equal(await page.isDisabled("#teach-train"), true, "no examples yet: nothing to train");
  const t0 = Date.now();
  for (const [name, cls] of [["Sneaker", "shoes"], ["Sandal", "shoes"], ["T-shirt", "tops"], ["Pullover", "tops"], ["Shirt", "tops"]]) {
    await teach(page, name, cls);
  }
  const status = await page.textContent("#teach-status");
  const ms = Number(status.match(/(\d+) ms each for the base/)[1]);
  console.log(`five examples taught in ${Date.now() - t0} ms (page); the last: ${ms} ms for the base (the image and its mirror)`);
  assert.equal(await page.textContent('#teach-classes li[data-name="shoes"] .count'), "2 images");
  assert.equal(await page.locator('#teach-classes li[data-name="tops"] img').count(), 3, "a thumbnail per example");

  await page.click("#teach-train");
  await waitText(page, "#teach-report", /^Trained softmax regression on 5 images \(10 views with mirrors or scales\) of 2 classes in \d+ ms \(\d+ optimiser steps\)/);
  console.log(await page.textContent("#teach-report"));
  // held out: images no class was taught
  for (const [name, want] of [["Ankle boot", "shoes"], ["Coat", "tops"]]) {
    await answerTo(page, sample(name));
    await waitText(page, "#teach-answer", new RegExp(`^Your classes, for ${name}[^:]*: ${want} \\d`));
  }
  await shot(page, "40-teach-trained");

  // the download: an .onnx and its sidecar
  const files = await exportModel(t, page);
  await waitText(page, "#teach-status", /^Downloaded vgg16-taught-2-classes\.onnx \(.*\) and vgg16-taught-2-classes\.json/);
  assert.deepEqual(files.map((f) => path.basename(f)).sort(), ["vgg16-taught-2-classes.json", "vgg16-taught-2-classes.onnx"]);
  const sidecar = JSON.parse(readFileSync(files.find((f) => f.endsWith(".json")), "utf8"));
  assert.deepEqual(sidecar.labels, ["shoes", "tops"]);
  assert.deepEqual(sidecar.preprocess.crop, [224, 224]);

  // opened again as a model: the current image (the coat) gets the taught answer
  await page.setInputFiles("#model-file", files);
  await waitText(page, "#model-status", /^Loaded vgg16-taught-2-classes\.onnx/, 120_000);
  await waitText(page, "#result-status", /^Top 2 for Coat/, 120_000);
  assert.equal((await page.textContent("#predictions li .label")).trim(), "tops");
  await shot(page, "41-teach-exported-model-loaded");
  // the .onnx alone: its metadata carries the preprocessing, so the same answer, not a guess
  const withSidecar = await page.textContent("#predictions");
  await page.setInputFiles("#model-file", files.find((f) => f.endsWith(".onnx")));
  await waitText(page, "#preprocess-summary", /^Preprocessing \(from the model file's metadata\)/, 120_000);
  await waitText(page, "#result-status", /^Top 2 for Coat/, 120_000);
  await idle(page);
  assert.equal(await page.textContent("#predictions"), withSidecar);

  // a reload keeps the classes (IndexedDB) and trains to the same answer
  await page.reload();
  await waitText(page, "#result-status", /^Top \d+ for /);
  await page.click("#teach-start");
  await waitText(page, "#teach-status", /^Restored 2 classes \(5 images\) kept in this browser/, 120_000);
  await page.click("#teach-train");
  await waitText(page, "#teach-report", /^Trained softmax regression on 5 images \(10 views/);
  await answerTo(page, sample("Ankle boot"));
  await waitText(page, "#teach-answer", /^Your classes, for Ankle boot[^:]*: shoes \d/);
  await page.click("#teach-clear");
  await waitText(page, "#teach-status", /^Forgot every class/);
  assert.equal(await page.locator("#teach-classes li").count(), 0);
});

test("taught at two sizes, the model downloads as one graph with a base per size, and loads back without layer views", { timeout: 300_000 }, async (t) => {
  const page = await openPage(env.browser, env.server.url, { width: 1366, height: 900 });
  t.after(() => page.close());
  await waitText(page, "#result-status", /^Top \d+ for /);
  await page.uncheck("#teach-flip");
  await page.check("#teach-scales");
  await page.click("#teach-start");
  await waitText(page, "#teach-status", /^Ready: the base sees 224×224 and 320×320 pixels/, 120_000);
  await addClasses(page, ["shoes", "tops"]);
  await teach(page, "Sneaker", "shoes");
  await teach(page, "T-shirt", "tops");
  await page.click("#teach-train");
  await waitText(page, "#teach-report", /^Trained softmax regression on 2 images of 2 classes/);
  const files = await exportModel(t, page);
  await answerTo(page, sample("Sandal"));
  await waitText(page, "#teach-answer", /^Your classes, for Sandal[^:]*: shoes \d/);
  await page.setInputFiles("#model-file", files);
  await waitText(page, "#model-status", /^Loaded vgg16-taught-2-classes\.onnx/, 120_000);
  await waitText(page, "#result-status", /^Top 2 for Sandal/, 120_000);
  assert.equal((await page.textContent("#predictions li .label")).trim(), "shoes");
  assert.match(await page.textContent("#unit-status"), /^This model's layers cannot be shown: .*branches/);
});

test("when the engine restarts, the taught classes come back from this browser's storage", { timeout: 300_000 }, async (t) => {
  const context = await contextKeepingWorkers(env.browser);
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(env.server.url);
  await waitText(page, "#result-status", /^Top \d+ for /);
  await page.uncheck("#teach-flip");
  await page.click("#teach-start");
  await waitText(page, "#teach-status", /^Ready:/, 120_000);
  await addClasses(page, ["shoes", "tops"]);
  await teach(page, "Sneaker", "shoes");
  await teach(page, "T-shirt", "tops");
  await page.click("#teach-train");
  await waitText(page, "#teach-report", /^Trained/);
  await page.evaluate(() => window.workers.at(-1).postMessage({ id: -1, type: "crashForTest" }));
  await waitText(page, "#teach-status", /^Restored 2 classes \(2 images\) kept in this browser/, 120_000);
  assert.equal(await page.textContent("#teach-report"), "The engine restarted: train again.");
  await page.click("#teach-train");
  await waitText(page, "#teach-report", /^Trained softmax regression on 2 images of 2 classes/);
  // Chromium's fake camera: a burst of frames as a class, then live answers until stopped
  await addClasses(page, ["camera"]);
  await page.click('#teach-classes li[data-name="camera"] button:has-text("+ webcam burst")');
  await waitText(page, "#teach-status", /^Added 10 images to camera \(10 in all\)/, 120_000);
  await page.click("#teach-train");
  await waitText(page, "#teach-report", /^Trained softmax regression on 12 images of 3 classes/);
  await page.click("#teach-live");
  await waitText(page, "#teach-answer", /^Your classes, for the webcam: camera \d/, 60_000);
  assert.equal(await page.getAttribute("#teach-live", "aria-pressed"), "true");
  await page.click("#teach-live");
  assert.equal(await page.getAttribute("#teach-live", "aria-pressed"), "false");
  assert.equal(await page.isHidden("#teach-video"), true, "the camera is closed");
});

test("a class is taught from image files, one by one, and a file that does not decode stops the batch, named", { timeout: 300_000 }, async (t) => {
  const page = await openPage(env.browser, env.server.url, { width: 1366, height: 900 });
  t.after(() => page.close());
  await waitText(page, "#result-status", /^Top \d+ for /);
  await page.click("#teach-start");
  await waitText(page, "#teach-status", /^Ready: /, 120_000);
  await addClasses(page, ["files"]);
  const input = '#teach-classes li[data-name="files"] input[type=file]';
  const www = path.resolve("www");
  await page.setInputFiles(input, [path.join(www, "samples/coffee.png"), path.join(www, "samples/rocket.jpg")]);
  await waitText(page, "#teach-status", /^Added 2 images to files \(2 in all\)/, 120_000);
  assert.equal(await page.locator('#teach-classes li[data-name="files"] img').count(), 2, "a thumbnail per file");
  // a good file, then two that do not decode: the batch stops at the first bad one, and the
  // one after it is never read (the harness fails the test on an unhandled rejection from it)
  await page.setInputFiles(input, [path.join(www, "samples/coffee.png"), path.join(www, "samples/samples.json"), path.join(www, "index.html")]);
  await waitText(page, "#teach-status", /^Stopped after 1: samples\.json is not an image this browser can decode/, 60_000);
  assert.equal(await page.textContent('#teach-classes li[data-name="files"] .count'), "3 images");
});
