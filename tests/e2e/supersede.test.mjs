// Answers that arrive late are dropped, not drawn: a channel or unit asked for on one image
// must not draw over the next image. The test holds the worker's answers of one request
// type back (a wrapper around Worker, installed before the page's scripts run), changes
// the image, then lets them through.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { nextFrame, ROOT, waitText, pageServerAndBrowser, watch } from "./harness.mjs";

const env = pageServerAndBrowser();

/** Runs in the page before its scripts: answers to requests of type `window.holdType`,
 *  posted while it is set, are kept in `window.held` until `window.releaseHeld()`;
 *  `window.outstanding` counts the requests not answered yet. */
function holdAnswers() {
  const Original = window.Worker;
  window.held = [];
  window.holdType = null;
  window.outstanding = 0;
  window.Worker = class extends Original {
    constructor(...args) {
      super(...args);
      this.holdIds = new Set();
      // registered first, so it can stop the page's own listener from seeing a held answer
      super.addEventListener("message", (ev) => {
        if ("status" in ev.data || "progress" in ev.data) return; // not answers
        if (!ev.releasing && this.holdIds.has(ev.data.id)) {
          ev.stopImmediatePropagation();
          window.held.push({ worker: this, data: ev.data });
          return;
        }
        window.outstanding -= 1;
      });
      window.releaseHeld = () => {
        for (const { worker, data } of window.held.splice(0)) {
          const ev = new MessageEvent("message", { data });
          ev.releasing = true;
          worker.dispatchEvent(ev);
        }
      };
    }
    postMessage(msg, transfer) {
      window.outstanding += 1;
      if (msg.type === window.holdType) this.holdIds.add(msg.id);
      super.postMessage(msg, transfer);
    }
  };
}

/** A fresh page for each test, with the answer-holding Worker, once Fashion-VGG is in. */
async function open(t) {
  const context = await env.browser.newContext({ viewport: { width: 1200, height: 1000 } });
  t.after(() => context.close());
  await context.addInitScript(holdAnswers);
  const page = watch(await context.newPage());
  await page.goto(env.server.url);
  await waitText(page, "#model-status", /Loaded Fashion-VGG/);
  return page;
}

/** Clicks Fashion-MNIST sample `i` and waits for its answer and its own layer strip (the
 *  previous image's strip stays until the new one replaces it). */
async function classifySample(page, i) {
  const name = await page.getAttribute(`#samples-fashion .sample >> nth=${i}`, "aria-label");
  const old = await page.$("#network .thumb");
  await page.click(`#samples-fashion .sample >> nth=${i}`);
  await waitText(page, "#result-status", new RegExp(`Top \\d+ for ${name.replace(/[()/]/g, ".")}`));
  await page.waitForFunction((old) => (!old || !old.isConnected) && !document.querySelector("#network-panel").hidden &&
    document.querySelector("#network .thumb"), old);
}

async function holdNext(page, type) {
  // every earlier request answered first, so that only the next one is held
  await page.waitForFunction(() => window.outstanding === 0);
  await page.evaluate((t) => (window.holdType = t), type);
}

async function release(page) {
  await page.evaluate(async () => {
    window.holdType = null;
    window.releaseHeld();
  });
  // the page's handlers of the released answers run, then a frame is drawn: a late answer
  // that were drawn would be on it
  await nextFrame(page);
  await nextFrame(page);
}

test("a unit's receptive field asked for on the old image is not drawn on the new one", async (t) => {
  const page = await open(t);
  await classifySample(page, 0);
  await page.locator("#network .thumb").first().click();
  await page.locator("#inspector-canvas").waitFor();
  await holdNext(page, "unitField");
  await page.locator("#inspector-canvas").click();
  await page.waitForFunction(() => window.held.length === 1);
  await classifySample(page, 1);
  await release(page);
  assert.equal(await page.getAttribute("#view-canvas", "data-field"), "", "no field drawn over the new image");
  assert.doesNotMatch(await page.textContent("#unit-status"), /receptive field \d+×\d+ px/);
  // the same unit asked for now, on the current image, is drawn
  await page.locator("#inspector-canvas").click();
  await page.waitForFunction(() => document.querySelector("#view-canvas").dataset.field !== "");
  assert.match(await page.textContent("#unit-status"), /receptive field \d+×\d+ px/);
});

test("a channel opened on the old image does not replace the inspector after the image changes", async (t) => {
  const page = await open(t);
  await classifySample(page, 2);
  await page.locator("#network .layer >> nth=0").locator(".thumb").first().click();
  await holdNext(page, "channel");
  const before = await page.textContent("#inspector-caption");
  assert.match(before, /^conv1_1, channel \d+/);
  const second = page.locator("#network .layer >> nth=1");
  const label = await second.locator("h3").textContent();
  await second.locator(".thumb").first().click();
  await page.waitForFunction(() => window.held.length === 1);
  await classifySample(page, 3);
  await release(page);
  assert.equal(await page.textContent("#inspector-caption"), before, `the late ${label} channel was not drawn`);
});

test("a model the user opened before the catalog arrived is not replaced by the default", async () => {
  const context = await env.browser.newContext();
  // the catalog arrives only after the user's own model has loaded
  let catalogAsked;
  const loaded = new Promise((r) => (catalogAsked = r));
  await context.route("**/models/catalog.json", async (route) => {
    await loaded;
    await route.continue();
  });
  const p = await context.newPage();
  const modelFiles = [];
  p.on("request", (r) => /\/models\/[^/]+\.onnx$/.test(new URL(r.url()).pathname) && modelFiles.push(r.url()));
  await p.goto(env.server.url);
  await p.setInputFiles("#model-file", path.join(ROOT, "tests/fixtures/gen/zoo_vgg16.onnx"));
  await waitText(p, "#model-status", /Loaded zoo_vgg16\.onnx/);
  catalogAsked();
  await p.locator("#model-select option[value=fashion-vgg]").waitFor({ state: "attached" });
  // the page decides on the default in the same task that fills the picker (www/actions/models.js,
  // initCatalog): by the next frame a default load would have asked for its file
  await nextFrame(p);
  assert.deepEqual(modelFiles, [], "no catalog model was downloaded");
  assert.match(await p.textContent("#model-status"), /Loaded zoo_vgg16\.onnx/);
  assert.match(await p.textContent("#model-summary"), /1000 classes/);
  await context.close();
});
