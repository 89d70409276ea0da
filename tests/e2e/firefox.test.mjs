// The page in headless Firefox (Debian's firefox-esr), driven over WebDriver by geckodriver:
// playwright-core can only drive its own Firefox build, which cannot be downloaded here.
// Skipped where firefox-esr or geckodriver is not installed.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ROOT, serve, skipUnless } from "./harness.mjs";
import { webdriver, which, wwwWithWorkerHook } from "./webdriver.mjs";

const FIREFOX = "/usr/bin/firefox-esr";
const GECKODRIVER = which("geckodriver");
const CARD = path.join(ROOT, "training/results/fashion-vgg.json");
const available = existsSync(FIREFOX) && GECKODRIVER !== "" && existsSync(CARD);

/** Firefox over geckodriver, headless, with a fake camera that needs no permission prompt
 *  (for the webcam snapshot). */
const firefox = () => webdriver({
  name: "geckodriver", command: GECKODRIVER, args: (port) => ["--port", String(port), "--host", "127.0.0.1"],
  printsPort: /Listening on 127\.0\.0\.1:(\d+)/,
  capabilities: {
    browserName: "firefox",
    "moz:firefoxOptions": {
      binary: FIREFOX, args: ["-headless"],
      prefs: { "media.navigator.streams.fake": true, "media.navigator.permission.disabled": true },
    },
  },
});

test("the page works in Firefox: Fashion-VGG predictions, VGG16 feature maps, file, drop, webcam, drawing, markup shown as text, a trapped worker replaced", { skip: skipUnless(available, "firefox-esr or geckodriver") }, async () => {
  const card = JSON.parse(readFileSync(CARD, "utf8"));
  const samples = JSON.parse(readFileSync(path.join(ROOT, "www/samples/samples.json"), "utf8"));
  const i = samples.filter((s) => s.kind === "fashion").findIndex((s) => s.label === "Trouser");
  const sample = samples.filter((s) => s.kind === "fashion")[i];
  const expected = card.labels[card.subset_predictions[Number(sample.source.match(/image (\d+)/)[1])]];
  const server = await serve(wwwWithWorkerHook("vgg-ff-"));
  const ff = await firefox();
  try {
    // isolated (serve.py's headers) and asked for two threads: Firefox (ESR 153 has relaxed
    // SIMD) runs the threaded build, and the restart below replaces it with a new pool
    await ff.go(`${server.url}/?threads=2`);
    const engine = await ff.until("return document.querySelector('#engine-runtime').textContent || null");
    console.log(`Firefox: ${engine}`);
    assert.match(engine, /^Engine: relaxed SIMD, 2 threads, cross-origin isolated\. Its [\d.]+ MiB of WebAssembly: downloaded in \d+ ms, compiled \d+ ms after the last byte\.$/);
    await ff.until("return /Loaded Fashion-VGG/.test(document.querySelector('#model-status').textContent)");
    // the first answer comes by itself; then the sample clicked
    await ff.until("return /^Top \\d+ for/.test(document.querySelector('#result-status').textContent)");
    await ff.run(`document.querySelectorAll('#samples-fashion .sample')[${i}].click()`);
    await ff.until(`return document.querySelector('#result-status').textContent.includes(${JSON.stringify(`for ${sample.name}:`)})`);
    const top = await ff.until("return document.querySelector('#predictions li .label')?.textContent");
    assert.equal(top, expected);
    await ff.run("const s = document.querySelector('#model-select'); s.value = 'vgg16-conv-base'; s.dispatchEvent(new Event('change'))");
    await ff.until("return /Loaded VGG16 convolutional base/.test(document.querySelector('#model-status').textContent)");
    await ff.run("document.querySelectorAll('#samples-photo .sample')[0].click()");
    await ff.until("return document.querySelectorAll('#feature-maps canvas').length === 16");
    assert.match(await ff.run("return document.querySelector('#result-status').textContent"), /for Chelsea.* returns feature maps of shape \[1, 512, 7, 10\]/);
    // the other ways in: a file, a drop, the webcam, the drawing pad
    await ff.upload("#image-file", path.join(ROOT, "www/samples/rocket.jpg"));
    await ff.until("return /rocket\\.jpg/.test(document.querySelector('#result-status').textContent)");
    // two drops straight after the answer, while its layer strip still runs: the second
    // image is the one answered. (Before www/dom.js's ticket fix, the first image's queued run
    // starting while the second decoded made the page drop the second as stale: in Firefox,
    // whose decoding is slower, in about one run in three.)
    const handBack = (kind) => `
      const [b64, name, type] = arguments;
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type }));
      ${kind}`;
    const coffee = readFileSync(path.join(ROOT, "www/samples/coffee.png")).toString("base64");
    const drop = "const e = new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }); document.querySelector('main').dispatchEvent(e);";
    await ff.run(handBack(drop), coffee, "dropped-first.png", "image/png");
    await ff.until("return /dropped-first\\.png/.test(document.querySelector('#image-caption').textContent)");
    await ff.run(handBack(drop), coffee, "dropped-coffee.png", "image/png");
    await ff.until("return /dropped-coffee\\.png/.test(document.querySelector('#result-status').textContent)");
    // (paste is tested in Chromium only: Firefox gives a scripted ClipboardEvent an empty clipboard)
    await ff.run("document.querySelector('#webcam').click()");
    await ff.until("return document.querySelector('#camera-video').videoWidth > 0");
    await ff.run("document.querySelector('#camera-shoot').click()");
    await ff.until("return /webcam snapshot/.test(document.querySelector('#result-status').textContent)");
    await ff.run(`document.querySelector('#draw').click();
      const pad = document.querySelector('#pad-canvas'), r = pad.getBoundingClientRect();
      const at = (type, x, y) => pad.dispatchEvent(new PointerEvent(type, { clientX: r.left + x, clientY: r.top + y, pointerId: 1, bubbles: true }));
      at('pointerdown', 60, 60); for (let i = 0; i <= 20; i++) at('pointermove', 60 + 8 * i, 60 + 8 * i); at('pointerup', 220, 220);`);
    await ff.until("return / for drawing/.test(document.querySelector('#result-status').textContent)");
    // markup in labels and a file name is shown as text, never run
    const dir = mkdtempSync(path.join(tmpdir(), "vgg-ff-xss-"));
    const evil = path.join(dir, `"><img src=x onerror=window.pwned=98>.onnx`);
    symlinkSync(path.join(ROOT, "www/models/fashion-vgg.onnx"), evil);
    const sidecar = JSON.parse(readFileSync(path.join(ROOT, "www/models/fashion-vgg.json"), "utf8"));
    sidecar.labels = sidecar.labels.map((_, i) => `<img src=x onerror="window.pwned=${i + 1}">`);
    writeFileSync(path.join(dir, "labels.json"), JSON.stringify(sidecar));
    await ff.upload("#model-file", evil, path.join(dir, "labels.json"));
    await ff.until("return /^Loaded \"><img/.test(document.querySelector('#model-status').textContent)");
    await ff.run(`document.querySelectorAll('#samples-fashion .sample')[${i}].click()`);
    const label = await ff.until("return document.querySelector('#predictions li .label')?.textContent.startsWith('<img') && document.querySelector('#predictions li .label').textContent");
    assert.match(label, /^<img src=x onerror="window\.pwned=\d+">$/);
    assert.deepEqual(await ff.run("return [window.pwned ?? null, document.querySelectorAll('img[src=x]').length]"), [null, 0]);
    // a worker whose wasm traps is replaced and given the model again
    await ff.run("window.workers.at(-1).postMessage({ id: -1, type: 'crashForTest' })");
    await ff.until("return /The engine stopped .* and was restarted with .*; you can go on\\./.test(document.querySelector('#model-status').textContent)");
    assert.equal(await ff.run("return window.workers.length"), 2);
    await ff.run(`document.querySelectorAll('#samples-fashion .sample')[${i}].click()`);
    await ff.until("return document.querySelectorAll('#predictions li').length > 0 && !/Classifying/.test(document.querySelector('#result-status').textContent)");
    const ua = await ff.run("return navigator.userAgent");
    console.log(`Firefox: ${ua}`);
  } finally {
    await ff.close();
    server.close();
  }
});
