// The page cannot be turned against its user: text from a model, its sidecar or a file
// name is shown as text, never run, and a Content-Security-Policy (meta tag and header)
// forbids inline script even where markup got in.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { answerTo, openPage, ROOT, waitText, pageServerAndBrowser } from "./harness.mjs";

const PAYLOAD = (i) => `<img src=x onerror="window.pwned=${i}">`;
const env = pageServerAndBrowser();

test("labels, sidecar text and file names with markup are shown as text and never run", async (t) => {
  const allow = [];
  const page = await openPage(env.browser, env.server.url, undefined, allow);
  t.after(() => page.close());
  await page.evaluate(() => {
    window.violations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.violations.push(e.violatedDirective));
  });
  await waitText(page, "#model-status", /Loaded Fashion-VGG/);
  const sidecar = JSON.parse(readFileSync(path.join(ROOT, "www/models/fashion-vgg.json"), "utf8"));
  sidecar.labels = sidecar.labels.map((_, i) => PAYLOAD(i + 1));
  const name = `"><script>window.pwned=99</script><img src=x onerror="window.pwned=98">.onnx`;
  await page.setInputFiles("#model-file", [
    { name, mimeType: "application/octet-stream", buffer: readFileSync(path.join(ROOT, "www/models/fashion-vgg.onnx")) },
    { name: "labels.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(sidecar)) },
  ]);
  await waitText(page, "#model-status", /^Loaded "><script>/);
  await answerTo(page, "#samples-fashion .sample >> nth=0");
  const labels = await page.$$eval("#predictions li .label", (ls) => ls.map((l) => l.textContent));
  assert.ok(labels.length > 0 && labels.every((l) => /^<img src=x onerror="window\.pwned=\d+">$/.test(l)), labels.join(" | "));
  assert.ok((await page.textContent("#model-status")).includes(name));
  assert.equal(await page.evaluate(() => document.querySelectorAll("img[src=x], script:not([src])").length), 0, "markup was parsed");
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  // and where markup does get into the page, the policy stops its inline script (the one
  // violation this test provokes)
  allow.push(/Executing inline event handler violates/);
  await page.evaluate((p) => document.body.insertAdjacentHTML("beforeend", p), PAYLOAD(100));
  await page.waitForFunction(() => window.violations.length > 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.deepEqual(await page.evaluate(() => [...new Set(window.violations)]), ["script-src-attr"]);
});

test("the policy is in the page and in the server's headers, for the worker too", async () => {
  const meta = readFileSync(path.join(ROOT, "www/index.html"), "utf8").match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)[1];
  assert.match(meta, /script-src 'self' 'wasm-unsafe-eval'/);
  const sources = meta.split(/[\s;]+/);
  for (const bad of ["'unsafe-inline'", "'unsafe-eval'", "*", "http:"]) assert.ok(!sources.includes(bad), `the policy allows ${bad}`);
  for (const file of ["", "worker.js", "pkg/vgg_wasm.js"]) {
    const r = await fetch(`${env.server.url}/${file}`);
    assert.equal(r.headers.get("content-security-policy"), meta, file || "index.html");
  }
});
