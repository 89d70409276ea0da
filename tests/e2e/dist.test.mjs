// `./build.sh dist` is a folder any static host serves as is: copied elsewhere and served
// by a plain static server that sends no headers (as GitHub Pages), the page works, and its
// service worker makes it cross-origin isolated so that it runs on threads.
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { idle, launch, openPage, ROOT, serve, shot, slowNetwork, waitText } from "./harness.mjs";

/** dist/ served as a host that isolates it and serves precompressed files, and a page in a
 *  fresh browser (1366×900), all closed after the test. */
async function distPage(t) {
  const server = await serve(path.join(ROOT, "dist"));
  const browser = await launch();
  t.after(async () => {
    await browser.close();
    server.close();
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  return { server, context, page: await context.newPage() };
}

test("dist/ served from another directory without headers works, on threads", async () => {
  assert.ok(existsSync(path.join(ROOT, "dist/index.html")), "./build.sh dist writes dist/");
  // for hosts that read _headers: isolation and the policy
  // exactly the policy of the page's meta tag (the worker gets no meta tag of its own)
  const meta = readFileSync(path.join(ROOT, "www/index.html"), "utf8").match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)[1];
  assert.equal(readFileSync(path.join(ROOT, "dist/_headers"), "utf8"),
    `/*\n  Content-Security-Policy: ${meta}\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n`);
  const dir = path.join(mkdtempSync(path.join(tmpdir(), "vgg-dist-")), "site");
  cpSync(path.join(ROOT, "dist"), dir, { recursive: true });
  const server = await serve(dir, { isolated: false });
  const browser = await launch();
  try {
    const page = await openPage(browser, `${server.url}/?threads=2`);
    // the service worker installs, the page reloads once under it, isolated
    await waitText(page, "#engine-runtime", /relaxed SIMD, 2 threads, cross-origin isolated\./);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    await page.selectOption("#model-select", "vgg16-conv-base");
    await waitText(page, "#model-status", /Loaded VGG16 convolutional base/);
    await page.click("#samples-photo .sample >> nth=2");
    await waitText(page, "#result-status", /for Falcon 9.* returns feature maps of shape \[1, 512, 7, 10\]/, 120_000);
    assert.equal(await page.locator("#feature-maps canvas").count(), 16);
    await shot(page, "09-dist");
  } finally {
    await browser.close();
    server.close();
  }
});

test("a first visit to dist/ at 20 Mbit/s downloads under 5 MB, compressed, and answers (time logged)", async (t) => {
  // the builds and scripts have .br copies beside them (tools/compress.mjs), which the server
  // sends as a host serving precompressed files does
  for (const f of ["pkg/vgg_wasm_bg.wasm", "pkg-threads/vgg_wasm_bg.wasm", "app.js"]) {
    assert.ok(existsSync(path.join(ROOT, "dist", `${f}.br`)), `dist/${f}.br`);
  }
  const { server, context, page } = await distPage(t);
  await slowNetwork(context, page);
  const got = [];
  page.on("requestfinished", async (r) => {
    const s = await r.sizes().catch(() => null);
    const response = await r.response();
    if (s) got.push({ url: r.url(), bytes: s.responseBodySize + s.responseHeadersSize, encoding: (await response?.allHeaders())?.["content-encoding"] ?? "" });
  });
  const t0 = Date.now();
  await page.goto(server.url);
  // the first answer comes by itself (a sample the default model knows)
  await waitText(page, "#result-status", /^Top 5 for /, 120_000);
  const ms = Date.now() - t0;
  await idle(page);
  await page.waitForLoadState("networkidle");
  const total = got.reduce((a, b) => a + b.bytes, 0);
  const wasm = got.find((g) => g.url.endsWith("_bg.wasm"));
  console.log(`dist/ at 20 Mbit/s: first answer ${ms} ms after navigation; first visit ${(total / 1e6).toFixed(2)} MB in ${got.length} requests ` +
    `(the engine ${(wasm.bytes / 1e6).toFixed(2)} MB, ${wasm.encoding}; largest: ${got.sort((a, b) => b.bytes - a.bytes).slice(0, 3).map((g) => `${g.url.split("/").slice(-2).join("/")} ${(g.bytes / 1e6).toFixed(2)} MB`).join(", ")})`);
  assert.equal(wasm.encoding, "br", "the engine came brotli-compressed");
  assert.ok(total <= 5e6, `a first visit downloads ${(total / 1e6).toFixed(2)} MB`);
  await shot(page, "09-dist-first-visit");
});

test("after one visit, dist/ answers with the network off (the service worker's cache), and is installable", async (t) => {
  const { server, context, page } = await distPage(t);
  await page.goto(server.url);
  await waitText(page, "#result-status", /^Top 5 for /, 120_000);
  // the worker has kept the engine build the page ran on (its .wasm and glue), the glue the
  // engine's worker imports whichever build it runs, and the model
  await page.waitForFunction(async () => {
    const keys = (await (await caches.open("vgg-wasm-offline-v1")).keys()).map((r) => new URL(r.url).pathname);
    return keys.some((k) => k.endsWith("/vgg_wasm_bg.wasm") && keys.includes(k.replace(/_bg\.wasm$/, ".js")))
      && keys.includes("/pkg/vgg_wasm.js") && keys.includes("/models/fashion-vgg.onnx") && keys.includes("/");
  }, null, { timeout: 60_000, polling: 250 });
  const manifest = await page.evaluate(async () => (await fetch(document.querySelector("link[rel=manifest]").href)).json());
  assert.equal(manifest.start_url, "./");
  assert.ok(manifest.icons.length > 0 && manifest.display === "standalone");
  // no network at all: the browser is offline and the server is gone
  await context.setOffline(true);
  server.close();
  await page.reload();
  await waitText(page, "#result-status", /^Top 5 for /, 120_000);
  assert.match(await page.textContent("#model-status"), /^Loaded Fashion-VGG/);
  await shot(page, "09-dist-offline");
});
