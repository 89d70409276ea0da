// What the README promises about models from elsewhere, each on its own page: a slow
// download shows its progress and can be cancelled, a URL that allows CORS loads, an ONNX
// file opens with its JSON sidecar, and nothing large is fetched that the user did not ask
// for (the page works with every other origin unreachable).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { answerTo, launch, openPage, ROOT, serve, serveFiles, shot, sizeRe, waitText } from "./harness.mjs";

const GEN = path.join(ROOT, "tests/fixtures/gen");
const REPLICA = readFileSync(path.join(GEN, "zoo_vgg16.onnx"));
const json = (rel) => JSON.parse(readFileSync(path.join(ROOT, rel), "utf8"));
let server, slow, fast, browser;

before(async () => {
  server = await serve(path.join(ROOT, "www"));
  // the replica (under 1 MiB) in 16 KiB pieces every 100 ms: seconds, time to see progress and cancel
  slow = await serveFiles({ "/slow.onnx": REPLICA }, { chunk: 16 * 1024, delayMs: 100 });
  fast = await serveFiles({ "/zoo_vgg16.onnx": REPLICA });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
  slow?.close();
  fast?.close();
});

/** A fresh page whose catalog has one more entry, downloaded from the slow server. */
async function pageWithSlowEntry() {
  const context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
  await context.route("**/models/catalog.json", async (route) => {
    const catalog = await (await route.fetch()).json();
    catalog.models.push({
      id: "slow", name: "Slow replica", config: "D", task: "ImageNet, 1000 classes (random weights: a test replica)",
      bundled: false, source: "test replica", license: "none", url: `${slow.url}/slow.onnx`, bytes: REPLICA.length,
      sha256: createHash("sha256").update(REPLICA).digest("hex"), options: { preprocess: { preset: "imagenet" } }, accuracy: null,
    });
    await route.fulfill({ json: catalog });
  });
  const page = await context.newPage();
  await page.goto(server.url);
  return page;
}

test("a slow download shows intermediate progress, and Cancel stops it and keeps the model", async () => {
  const page = await pageWithSlowEntry();
  await waitText(page, "#model-status", /Loaded Fashion-VGG/);
  await page.evaluate(() => caches.delete("vgg-wasm-models-v1"));
  const before = slow.stats.aborted;
  await page.selectOption("#model-select", "slow");
  // some bytes in, not all
  await page.waitForFunction(() => {
    const m = document.querySelector("#download-text").textContent.match(/\((\d+)%\)/);
    return m && Number(m[1]) >= 10 && Number(m[1]) < 90;
  }, null, { timeout: 30_000 });
  assert.match(await page.textContent("#download-text"), new RegExp(`KiB of ${sizeRe(path.join(GEN, "zoo_vgg16.onnx"))} \\(\\d+%\\)`));
  const value = await page.$eval("#download-progress", (p) => p.value);
  assert.ok(value > 0 && value < 1, `progress bar at ${value}`);
  await shot(page, "11-download-progress");
  await page.click("#download-cancel");
  await waitText(page, "#model-status", /Could not load Slow replica: download cancelled.*previous model is still loaded/);
  assert.equal(await page.isHidden("#download"), true, "the progress box is gone");
  assert.equal(await page.inputValue("#model-select"), "fashion-vgg", "the picker shows the model in use");
  // the connection was closed before the last byte (the server sees it a moment later)
  for (const t0 = Date.now(); slow.stats.aborted < before + 1 && Date.now() - t0 < 10_000;) await new Promise((r) => setTimeout(r, 20));
  assert.equal(slow.stats.aborted, before + 1, "the server saw the download stop");
  await answerTo(page, "#samples-fashion .sample >> nth=0");
  await page.context().close();
});

test("Load from URL loads a model from a server that allows CORS", async () => {
  const page = await openPage(browser, server.url);
  await waitText(page, "#model-status", /Loaded Fashion-VGG/);
  await page.fill("#model-url", `${fast.url}/zoo_vgg16.onnx`);
  await page.click("#url-form button");
  await waitText(page, "#model-status", /Loaded zoo_vgg16\.onnx: downloaded in \d+ ms, parsed and optimised in \d+ ms\./);
  // no catalog vouches for it: its own sha256 is shown
  const sha = createHash("sha256").update(REPLICA).digest("hex");
  assert.equal(await page.textContent("#model-credit"), `From ${fast.url}/zoo_vgg16.onnx (sha256 ${sha}).`);
  assert.match(await page.textContent("#model-summary"), /1000 classes/);
  await page.click("#samples-photo .sample >> nth=0");
  await waitText(page, "#result-status", /Top 5 for Chelsea/);
  await page.close();
});

test("an ONNX file opened with its JSON sidecar uses the sidecar's preprocessing and labels", async () => {
  const card = json("training/results/fashion-vgg.json");
  const page = await openPage(browser, server.url);
  await waitText(page, "#model-status", /Loaded Fashion-VGG/);
  // the bundled Fashion-VGG under other names: without the sidecar it would get ImageNet's
  // three channels and labels, and fail or answer ImageNet classes
  await page.setInputFiles("#model-file", [
    { name: "my-model.onnx", mimeType: "application/octet-stream", buffer: readFileSync(path.join(ROOT, "www/models/fashion-vgg.onnx")) },
    { name: "my-model.json", mimeType: "application/json", buffer: readFileSync(path.join(ROOT, "www/models/fashion-vgg.json")) },
  ]);
  await waitText(page, "#model-status", /Loaded my-model\.onnx/);
  assert.match(await page.textContent("#model-summary"), /\[\?, 1, 32, 32\].*10 classes/);
  // Fashion-MNIST test image 0 (the first fashion sample's source): as in training
  const samples = json("www/samples/samples.json").filter((s) => s.kind === "fashion");
  const i = samples.findIndex((s) => Number(s.source.match(/image (\d+)/)[1]) < card.subset);
  const index = Number(samples[i].source.match(/image (\d+)/)[1]);
  await answerTo(page, `#samples-fashion .sample >> nth=${i}`);
  const top = await page.textContent("#predictions li .label");
  assert.equal(top, card.labels[card.subset_predictions[index]]);
  await page.close();
});

test("nothing is fetched from another origin, and no bundled model before it is chosen", async () => {
  const context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
  const requests = [];
  // every other origin unreachable, as offline
  await context.route("**/*", (route) => {
    const url = route.request().url();
    requests.push(url);
    return url.startsWith(server.url) ? route.continue() : route.abort("internetdisconnected");
  });
  const page = await context.newPage();
  await page.goto(server.url);
  await waitText(page, "#model-status", /Loaded Fashion-VGG/);
  await answerTo(page, "#samples-fashion .sample >> nth=0");
  await page.click("#samples-photo .sample >> nth=0");
  await waitText(page, "#result-status", /Top \d+ for Chelsea/);
  const foreign = requests.filter((u) => !u.startsWith(server.url));
  assert.deepEqual(foreign, [], "requests to other origins");
  const models = requests.filter((u) => u.endsWith(".onnx")).map((u) => u.split("/").pop());
  assert.deepEqual(models, ["fashion-vgg.onnx"], "the only model fetched is the default");
  // a bundled model is fetched when chosen, and works without the network
  await page.selectOption("#model-select", "depth-A");
  await waitText(page, "#model-status", /Loaded Depth experiment: configuration A/);
  assert.ok(requests.some((u) => u.endsWith("/depth-A.onnx")));
  assert.equal(requests.filter((u) => !u.startsWith(server.url)).length, 0);
  await context.close();
});
