// `./build.sh dist` is a folder any static host serves as is: copied elsewhere and served
// by a plain static server that sends no headers (as GitHub Pages), the page works, and its
// service worker makes it cross-origin isolated so that it runs on threads.
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { launch, openPage, ROOT, serve, shot, waitText } from "./harness.mjs";

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
