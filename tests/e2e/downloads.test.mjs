// Downloads of the ONNX Model Zoo VGGs, against a zoo-layout replica served by the test:
// a progress bar, the catalog's sha256 refusing a corrupted copy (and leaving the previous
// model working), the Cache API serving a reload, and the CORS advice for a foreign URL.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { launch, openPage, ROOT, serve, shot, sizeRe, waitText } from "./harness.mjs";

const REPLICA = readFileSync(path.join(ROOT, "tests/fixtures/gen/zoo_vgg16.onnx"));
const CORRUPT = Buffer.from(REPLICA);
CORRUPT[CORRUPT.length >> 1] ^= 0xff;
const SHA = createHash("sha256").update(REPLICA).digest("hex");
let server, other, browser, context, requests, routes;

// the catalog gains two zoo-layout entries served by the test: one good, one corrupted
async function catalogRoute(route) {
  const catalog = await (await route.fetch()).json();
  const entry = (id, name) => ({
    id, name, config: "D", task: "ImageNet, 1000 classes (random weights: a test replica)", bundled: false,
    source: "test replica", license: "none", url: `${server.url}/replica/${id}.onnx`, bytes: REPLICA.length,
    sha256: SHA, options: { preprocess: { preset: "imagenet" } }, accuracy: null,
  });
  catalog.models.push(entry("replica", "Zoo replica"), entry("replica-corrupt", "Zoo replica, corrupted"));
  await route.fulfill({ json: catalog });
}

function replicaRoute(route) {
  requests += 1;
  const body = route.request().url().includes("corrupt") ? CORRUPT : REPLICA;
  return route.fulfill({ body, headers: { "content-type": "application/octet-stream", "content-length": String(body.length) } });
}

before(async () => {
  server = await serve(path.join(ROOT, "www"));
  other = await serve(path.join(ROOT, "tests/fixtures/gen")); // another origin, no CORS headers
  browser = await launch();
  context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
  requests = 0; // downloads of the replica, both entries
  routes = [["**/models/catalog.json", catalogRoute], ["**/replica/*.onnx", replicaRoute]];
  for (const [pattern, handler] of routes) await context.route(pattern, handler);
});

after(async () => {
  await context?.unrouteAll({ behavior: "ignoreErrors" });
  await browser?.close();
  server?.close();
  other?.close();
});

test("a zoo model downloads with progress, is verified, cached, and read from the cache on reload", async () => {
  const page = await context.newPage();
  await page.goto(server.url);
  await page.evaluate(() => caches.delete("vgg-wasm-models-v1"));
  const before = requests; // this test's own downloads, whatever ran before it
  await page.locator("#model-select option[value=replica]").waitFor({ state: "attached" });
  // record every progress text shown
  await page.evaluate(() => {
    window.progress = [];
    new MutationObserver(() => window.progress.push(document.querySelector("#download-text").textContent))
      .observe(document.querySelector("#download-text"), { childList: true, characterData: true, subtree: true });
  });
  await page.selectOption("#model-select", "replica");
  await waitText(page, "#model-status", /Loaded Zoo replica: downloaded in \d+ ms, parsed and optimised in \d+ ms\./);
  const progress = await page.evaluate(() => window.progress);
  const size = sizeRe(path.join(ROOT, "tests/fixtures/gen/zoo_vgg16.onnx"));
  assert.ok(progress.some((t) => new RegExp(`${size} of ${size} \\(100%\\)`).test(t)), `progress: ${progress}`);
  assert.equal(requests - before, 1);
  await page.reload();
  await page.locator("#model-select option[value=replica]").waitFor({ state: "attached" });
  await page.selectOption("#model-select", "replica");
  await waitText(page, "#model-status", /Loaded Zoo replica: read from the cache in \d+ ms/);
  assert.equal(requests - before, 1, "the reload did not download again");
  await page.click("#clear-cache");
  await waitText(page, "#model-status", /removed from the cache/);
  assert.equal(await page.evaluate(async () => (await caches.open("vgg-wasm-models-v1")).keys().then((k) => k.length)), 0);
  await page.close();
});

test("a corrupted download is refused by its sha256 and the previous model keeps working", async () => {
  const page = await context.newPage();
  await page.goto(server.url);
  await page.locator("#model-select option[value=replica]").waitFor({ state: "attached" });
  await page.selectOption("#model-select", "replica");
  await waitText(page, "#model-status", /Loaded Zoo replica/);
  await page.selectOption("#model-select", "replica-corrupt");
  await waitText(page, "#model-status", /Could not load Zoo replica, corrupted: sha256 mismatch/);
  assert.match(await page.textContent("#model-status"), /previous model is still loaded/);
  assert.equal(await page.inputValue("#model-select"), "replica", "the picker shows the model in use");
  await shot(page, "08-sha256-refused");
  await page.click("#samples-photo .sample >> nth=0");
  await waitText(page, "#result-status", /Top 5 for Chelsea/);
  await page.close();
});

test("a download the cache cannot keep (storage full) still loads, and the page says so", async () => {
  const full = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
  // the same catalog and replica routes as the shared context
  for (const [pattern, handler] of routes) await full.route(pattern, handler);
  await full.addInitScript(() => {
    // (the script also runs in frames without the Cache API, such as the first about:blank)
    if (typeof Cache !== "undefined") {
      Cache.prototype.put = () => Promise.reject(new DOMException("The quota has been exceeded.", "QuotaExceededError"));
    }
  });
  const page = await full.newPage();
  await page.goto(server.url);
  await page.selectOption("#model-select", "replica");
  await waitText(page, "#model-status", /Loaded Zoo replica: downloaded.*It could not be kept for next time \(the browser's storage for this site is full\): it will be downloaded again\./);
  await page.click("#samples-photo .sample >> nth=0");
  await waitText(page, "#result-status", /Top 5 for Chelsea/);
  await full.close();
});

test("a URL on a server without CORS is explained", async () => {
  const page = await context.newPage();
  await page.goto(server.url);
  await page.fill("#model-url", `${other.url}/zoo_vgg16.onnx`);
  await page.click("#url-form button");
  await waitText(page, "#model-status", /Could not load zoo_vgg16\.onnx: .*CORS.*Open an ONNX file/);
  // the catalog route may still be in flight (this test never needed the catalog): closing the
  // page under it rejects route.fetch after the test has ended
  await page.locator("#model-select option[value=replica]").waitFor({ state: "attached" });
  await page.close();
});
