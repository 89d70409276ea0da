// Every way to hand the page an image: drop, paste, webcam (Chromium's fake camera), the
// drawing pad; and the page at phone width.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { openPage, ROOT, shot, waitText, pageServerAndBrowser } from "./harness.mjs";

const env = pageServerAndBrowser();

/** A fresh page for each test, answering with a classifier: the zoo-layout fixture (random
 *  weights, for tests only), opened after the default model so that it stays. */
async function open(t) {
  const page = await openPage(env.browser, env.server.url);
  t.after(() => page.close());
  await waitText(page, "#model-status", /Loaded Fashion-VGG/);
  await page.setInputFiles("#model-file", path.join(ROOT, "tests/fixtures/gen/zoo_vgg16.onnx"));
  await waitText(page, "#model-status", /Loaded zoo_vgg16\.onnx/);
  return page;
}

/** A DataTransfer holding one file, made in the page. */
function transfer(page, file, name, type) {
  return page.evaluateHandle(([b64, name, type]) => {
    const dt = new DataTransfer();
    dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type }));
    return dt;
  }, [readFileSync(file).toString("base64"), name, type]);
}

test("an image dropped anywhere is classified", async (t) => {
  const page = await open(t);
  const dataTransfer = await transfer(page, path.join(ROOT, "www/samples/coffee.png"), "dropped-coffee.png", "image/png");
  await page.dispatchEvent("main", "drop", { dataTransfer });
  await waitText(page, "#result-status", /Top 5 for dropped-coffee\.png/);
  assert.match(await page.textContent("#image-caption"), /dropped-coffee\.png · 600×400/);
  assert.equal(await page.locator("#predictions li").count(), 5);
});

test("a dropped .onnx file is loaded as the model", async (t) => {
  const page = await open(t);
  const dataTransfer = await transfer(page, path.join(ROOT, "tests/fixtures/gen/zoo_vgg19.onnx"), "zoo_vgg19.onnx", "");
  await page.dispatchEvent("main", "drop", { dataTransfer });
  await waitText(page, "#model-status", /Loaded zoo_vgg19\.onnx/);
});

test("a pasted image is classified", async (t) => {
  const page = await open(t);
  const clipboardData = await transfer(page, path.join(ROOT, "www/samples/rocket.jpg"), "rocket.jpg", "image/jpeg");
  await page.evaluate((dt) => document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt })), clipboardData);
  await waitText(page, "#result-status", /Top 5 for pasted image/);
  assert.match(await page.textContent("#image-caption"), /pasted image · 640×427/);
});

test("a webcam snapshot is classified", async (t) => {
  const page = await open(t);
  await page.click("#webcam");
  await page.locator("#camera-video").waitFor();
  await page.waitForFunction(() => document.querySelector("#camera-video").videoWidth > 0);
  await page.click("#camera-shoot");
  await waitText(page, "#result-status", /Top 5 for webcam snapshot/);
  assert.equal(await page.isHidden("#camera"), true, "the camera closes after the snapshot");
});

test("a drawing is classified when the pen lifts, and a fast stroke is a line, not beads", async (t) => {
  const page = await open(t);
  await waitText(page, "#result-status", /Top \d+ for/); // the first answer, on its own
  await page.click("#draw");
  const box = await page.locator("#pad-canvas").boundingBox();
  await page.mouse.move(box.x + 60, box.y + 60);
  await page.mouse.down();
  // one move event per side: 160 px apart, far more than the brush
  for (const [x, y] of [[220, 60], [220, 220], [60, 220], [60, 60]]) await page.mouse.move(box.x + x, box.y + y, { steps: 1 });
  await page.mouse.up();
  await waitText(page, "#result-status", /Top 5 for drawing/);
  assert.match(await page.textContent("#image-caption"), /drawing · 280×280/);
  // the middle of each side is white (the pad's canvas is 280 px, shown at 280 px)
  const middles = await page.evaluate(() => {
    const ctx = document.querySelector("#pad-canvas").getContext("2d");
    return [[140, 60], [220, 140], [140, 220], [60, 140]].map(([x, y]) => ctx.getImageData(x, y, 1, 1).data[0]);
  });
  assert.deepEqual(middles, [255, 255, 255, 255]);
  await shot(page, "06-drawing");
});

test("the page fits a phone-width screen", async () => {
  const phone = await openPage(env.browser, env.server.url, { width: 390, height: 844 });
  await phone.locator("#samples-photo .sample").first().waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
  await shot(phone, "07-phone-width");
  await phone.close();
});
