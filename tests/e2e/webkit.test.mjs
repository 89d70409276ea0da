// The page in Safari's engine: WebKitGTK's MiniBrowser (Debian's webkit2gtk-driver), driven
// over WebDriver by WebKitWebDriver, on a virtual display (xvfb-run: MiniBrowser has no
// headless mode that WebKitWebDriver can start). The core path a person takes, as
// firefox.test.mjs does for Firefox. Skipped where WebKitWebDriver or xvfb-run is missing;
// build.sh installs both (and with CI=true fails without them).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ROOT, serve, skipUnless } from "./harness.mjs";
import { JSC_TEST_ENV, WEBKIT, webkit, wwwWithWorkerHook } from "./webdriver.mjs";

const CARD = path.join(ROOT, "training/results/fashion-vgg.json");
const available = WEBKIT.driver !== "" && WEBKIT.xvfbRun !== "" && existsSync(CARD);

/** A script that clicks the button of `selector` whose text is `text`. */
const clickText = (/** @type {string} */ selector, /** @type {string} */ text) =>
  `[...document.querySelectorAll(${JSON.stringify(selector)})].find((b) => b.textContent.trim() === ${JSON.stringify(text)}).click()`;

test("the page works in WebKit: first answer, a Fashion-VGG sample, the conv base on a photo, a channel and a unit's field, a model from a file, saliency, two classes taught, an engine restart", {
  skip: skipUnless(available, "WebKitWebDriver or xvfb-run (Debian: webkit2gtk-driver, xvfb)"), timeout: 600_000,
}, async () => {
  const card = JSON.parse(readFileSync(CARD, "utf8"));
  const samples = JSON.parse(readFileSync(path.join(ROOT, "www/samples/samples.json"), "utf8"));
  const fashion = samples.filter((/** @type {any} */ s) => s.kind === "fashion");
  const i = fashion.findIndex((/** @type {any} */ s) => s.label === "Trouser");
  const sample = fashion[i];
  const expected = card.labels[card.subset_predictions[Number(sample.source.match(/image (\d+)/)[1])]];
  const server = await serve(wwwWithWorkerHook("vgg-wk-"));
  const wk = await webkit(JSC_TEST_ENV);
  try {
    await wk.go(`${server.url}/`);
    const engine = await wk.until("return document.querySelector('#engine-runtime').textContent || null");
    console.log(`WebKit ${wk.capabilities.browserVersion}: ${engine}`);
    // isolated (serve.py's headers), but WebKit has no relaxed SIMD
    assert.match(engine, /^Engine: SIMD128, .*cross-origin isolated/);
    await wk.until("return /Loaded Fashion-VGG/.test(document.querySelector('#model-status').textContent)");
    // the first answer comes by itself; then the sample clicked
    await wk.until("return /^Top \\d+ for/.test(document.querySelector('#result-status').textContent)");
    await wk.run(`document.querySelectorAll('#samples-fashion .sample')[${i}].click()`);
    await wk.until(`return document.querySelector('#result-status').textContent.includes(${JSON.stringify(`for ${sample.name}:`)})`);
    assert.equal(await wk.until("return document.querySelector('#predictions li .label')?.textContent"), expected);

    // the conv base on a photo: its feature maps, the layer strip, a channel and a unit's field
    await wk.run("const s = document.querySelector('#model-select'); s.value = 'vgg16-conv-base'; s.dispatchEvent(new Event('change'))");
    await wk.until("return /Loaded VGG16 convolutional base/.test(document.querySelector('#model-status').textContent)", 300_000);
    const t0 = Date.now();
    await wk.run("document.querySelectorAll('#samples-photo .sample')[0].click()");
    await wk.until("return document.querySelectorAll('#feature-maps canvas').length === 16", 300_000);
    assert.match(await wk.run("return document.querySelector('#result-status').textContent"), /for Chelsea.* returns feature maps of shape \[1, 512, 7, 10\]/);
    console.log(`WebKit: the conv base's answer on a photo ${Date.now() - t0} ms after the click; ${await wk.run("return document.querySelector('#timings')?.textContent ?? ''")}`);
    await wk.until("return [...document.querySelectorAll('#network .layer h3')].some((h) => h.textContent === 'conv5_3') && document.querySelector('#network .layer .thumb')", 300_000);
    await wk.run(`const col = [...document.querySelectorAll('#network .layer')].find((l) => l.querySelector('h3').textContent === 'conv5_3');
      col.querySelector('.thumb').click();`);
    await wk.until("return document.querySelector('#inspector-canvas') && /14×21 units/.test(document.querySelector('#inspector-caption').textContent)", 300_000);
    // unit (1, 2) of 14×21: the middle of its cell
    await wk.run(`const c = document.querySelector('#inspector-canvas'), r = c.getBoundingClientRect();
      c.dispatchEvent(new MouseEvent('click', { clientX: r.left + (2.5 * r.width) / 21, clientY: r.top + (1.5 * r.height) / 14, bubbles: true }));`);
    await wk.until("return document.querySelector('#view-canvas').dataset.field", 300_000);
    // conv5_3: 196 px, stride 16, padding 90 (as fields.test.mjs asserts in Chromium)
    assert.deepEqual(JSON.parse(await wk.run("return document.querySelector('#view-canvas').dataset.field")),
      { top: 16 - 90, left: 32 - 90, bottom: 16 - 90 + 195, right: 32 - 90 + 195 });
    assert.match(await wk.run("return document.querySelector('#unit-status').textContent"), /conv5_3, channel \d+, unit \(1, 2\): receptive field 196×196 px/);

    // a model opened from a file (with its sidecar), then the saliency of its answer
    await wk.upload("#model-file", path.join(ROOT, "www/models/fashion-vgg.onnx"), path.join(ROOT, "www/models/fashion-vgg.json"));
    await wk.until("return /^Loaded fashion-vgg\\.onnx/.test(document.querySelector('#model-status').textContent)", 300_000);
    await wk.run(`document.querySelectorAll('#samples-fashion .sample')[${i}].click()`);
    await wk.until(`return document.querySelector('#result-status').textContent.includes(${JSON.stringify(`for ${sample.name}:`)})`);
    assert.equal(await wk.until("return document.querySelector('#predictions li .label')?.textContent"), expected);
    await wk.until("return !document.querySelector('#saliency-toggle').hidden");
    await wk.run("const s = document.querySelector('#saliency'); s.checked = true; s.dispatchEvent(new Event('change'))");
    await wk.until("return document.querySelector('#view-canvas').dataset.heat === '1'");
    assert.match(await wk.run("return document.querySelector('#unit-status').textContent"), new RegExp(`^Red: the saliency of class \\d+ \\(${expected}\\)`));

    // two classes taught on the conv base's features, and the answer for a held-out image
    await wk.run("document.querySelector('#teach-start').click()");
    await wk.until("return /^Ready: the base sees 224×224 pixels/.test(document.querySelector('#teach-status').textContent)", 300_000);
    for (const name of ["shoes", "tops"]) {
      await wk.run(`document.querySelector('#teach-class-name').value = ${JSON.stringify(name)}; document.querySelector('#teach-new-class').requestSubmit();`);
      await wk.until(`return document.querySelector('#teach-classes li[data-name="${name}"]')`);
    }
    for (const [name, cls] of [["Sneaker", "shoes"], ["T-shirt", "tops"]]) {
      await wk.run(`document.querySelector('#samples-fashion .sample[title^="${name}"]').click()`);
      await wk.until(`return document.querySelector('#image-caption').textContent.startsWith(${JSON.stringify(name)})`);
      await wk.run(clickText(`#teach-classes li[data-name="${cls}"] button`, "+ image shown"));
      await wk.until(`return document.querySelector('#teach-classes li[data-name="${cls}"] .count').textContent === '1 image'`, 300_000);
    }
    await wk.run("document.querySelector('#teach-train').click()");
    const report = await wk.until("return /^Trained softmax regression on 2 images/.test(document.querySelector('#teach-report').textContent) && document.querySelector('#teach-report').textContent", 300_000);
    console.log(`WebKit: ${report}`);
    await wk.run(`document.querySelector('#samples-fashion .sample[title^="Ankle boot"]').click()`);
    await wk.until("return /^Your classes, for Ankle boot[^:]*: shoes \\d/.test(document.querySelector('#teach-answer').textContent)", 300_000);

    // a worker whose wasm traps is replaced and given the model again
    const workers = await wk.run("return window.workers.length");
    await wk.run("window.workers.at(-1).postMessage({ id: -1, type: 'crashForTest' })");
    await wk.until("return /The engine stopped .* and was restarted with .*; you can go on\\./.test(document.querySelector('#model-status').textContent)", 300_000);
    assert.ok(await wk.run("return window.workers.length") > workers, "a new worker");
    await wk.run(`document.querySelectorAll('#samples-fashion .sample')[${i}].click()`);
    // (the answer before the restart was for another image: wait for this one's)
    await wk.until(`return document.querySelector('#result-status').textContent.includes(${JSON.stringify(`for ${sample.name}:`)})`, 300_000);
    assert.equal(await wk.until("return document.querySelector('#predictions li .label')?.textContent"), expected);
    console.log(`WebKit: ${await wk.run("return navigator.userAgent")}`);
  } finally {
    await wk.close();
    server.close();
  }
});
