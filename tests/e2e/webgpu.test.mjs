// The page on WebGPU (Chromium's software adapter, SwiftShader): the bundled Fashion-VGG
// loads onto the GPU, a sample is answered there with the CPU's predictions, the layer strip
// and the saliency map still work (from the CPU), the user can switch to the CPU and back
// and sees both timings; without an adapter the page says why it runs on the CPU; and the
// threaded build (shared wasm memory) feeds WebGPU as well.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import path from "node:path";
import { answerTo, launch, openPage, ROOT, serve, shot, waitText } from "./harness.mjs";

let site, repo, gpuBrowser, plainBrowser;
before(async () => {
  site = await serve(path.join(ROOT, "www"));
  repo = await serve(ROOT);
  gpuBrowser = await launch({ webgpu: true });
  plainBrowser = await launch();
});
after(async () => {
  await gpuBrowser?.close();
  await plainBrowser?.close();
  site?.close();
  repo?.close();
});

/** The shown predictions: [{label, pct}] (probability in percent, as shown). */
async function predictions(page) {
  await page.locator("#predictions li").first().waitFor();
  return page.$$eval("#predictions li", (lis) =>
    lis.map((li) => ({ label: li.querySelector(".label").textContent, pct: parseFloat(li.querySelector(".pct").textContent) })));
}

test("a sample is answered on WebGPU as on the CPU, and the page says which ran", async () => {
  const page = await openPage(gpuBrowser, site.url);
  await waitText(page, "#model-status", /Loaded Fashion-VGG/, 120_000);
  // "auto" leaves the only adapter here, a software one (SwiftShader), for the CPU, and says why
  await waitText(page, "#backend-status", /^Runs on the CPU: the only GPU here is a software one, slower than the CPU \(choose WebGPU to use it anyway\)\.$/);
  assert.match(await page.textContent("#backend-detail"), /^the only WebGPU adapter is a software one, .*swiftshader.*: the CPU is faster here$/i);
  assert.equal(await page.isChecked("input[name=backend][value=cpu]"), true);
  // chosen, WebGPU runs there all the same: the model is loaded again onto the GPU
  await page.check("input[name=backend][value=webgpu]");
  await waitText(page, "#backend-status", /^Runs on WebGPU: .+/, 120_000);
  assert.equal(await page.isChecked("input[name=backend][value=webgpu]"), true);
  await answerTo(page, "#samples-fashion .sample >> nth=0", /^Top \d+ for/, 120_000);
  await waitText(page, "#timings", /^WebGPU: preprocess [\d.]+ ms · inference [\d.]+ ms/);
  const gpu = await predictions(page);
  // the layer strip comes from the CPU, which the timings then say
  await page.locator("#network .layer .thumb").first().waitFor({ timeout: 120_000 });
  await waitText(page, "#timings", /the layers' activations on the CPU: \d+ ms/);
  await page.check("#saliency");
  await page.waitForFunction(() => document.querySelector("#view-canvas").dataset.heat === "1", null, { timeout: 120_000 });
  await shot(page, "webgpu-01-answer");

  // the CPU answers the same image the same way, and both timings are shown
  await page.check("input[name=backend][value=cpu]");
  await waitText(page, "#backend-status", /^Runs on the CPU: chosen by the user/);
  await waitText(page, "#timings", /^CPU: preprocess [\d.]+ ms · inference [\d.]+ ms · on WebGPU before: [\d.]+ ms/, 120_000);
  const cpu = await predictions(page);
  assert.deepEqual(cpu.map((p) => p.label), gpu.map((p) => p.label));
  // shown to 0.1%: the two may round the last digit differently
  for (const [i, p] of cpu.entries()) assert.ok(Math.abs(p.pct - gpu[i].pct) <= 0.1, `${p.label}: ${p.pct}% vs ${gpu[i].pct}%`);

  // and back
  await page.check("input[name=backend][value=webgpu]");
  await waitText(page, "#backend-status", /^Runs on WebGPU/);
  await waitText(page, "#timings", /^WebGPU: .* · on CPU before: [\d.]+ ms/, 120_000);
  await shot(page, "webgpu-02-both-timings");
  // with WebGPU chosen, a model the GPU path cannot run still loads, on the CPU, saying why
  await page.setInputFiles("#model-file", path.join(ROOT, "tests/fixtures/gen/zoo_vgg16_int8.onnx"));
  await waitText(page, "#model-status", /^Loaded zoo_vgg16_int8\.onnx/, 120_000);
  await waitText(page, "#backend-status", /^Runs on the CPU: the GPU path cannot run one of this model's layers\.$/);
  assert.match(await page.textContent("#backend-detail"), /unsupported op `(Dynamic)?QuantizeLinear`/);
  await page.close();
});

test("without a WebGPU adapter the page runs on the CPU and says why", async () => {
  const context = await plainBrowser.newContext();
  // what the radio and the model's status said from the start, before the engine knew
  await context.addInitScript(() => {
    window.said = [];
    document.addEventListener("DOMContentLoaded", () => {
      window.tickedFirst = document.querySelector("input[name=backend]:checked")?.value ?? null;
      new MutationObserver(() => window.said.push(document.querySelector("#model-status").textContent))
        .observe(document.querySelector("#model-status"), { childList: true, characterData: true, subtree: true });
    });
  });
  const page = await context.newPage();
  await page.goto(site.url);
  await waitText(page, "#model-status", /Loaded Fashion-VGG/, 120_000);
  // in plain words, with the engine's own text behind "Details"
  await waitText(page, "#backend-status", /^Runs on the CPU: this browser found no GPU it can use \(no WebGPU adapter\)\.$/);
  assert.equal(await page.isVisible("#backend-details"), true);
  assert.match(await page.textContent("#backend-detail"), /^no WebGPU adapter: /);
  assert.equal(await page.isChecked("input[name=backend][value=cpu]"), true);
  // the radio never said WebGPU before it knew, and no status spoke of a GPU there is not
  assert.notEqual(await page.evaluate(() => window.tickedFirst), "webgpu");
  const said = await page.evaluate(() => window.said);
  assert.ok(said.length > 1, `the loading said something: ${said}`);
  assert.deepEqual(said.filter((s) => /GPU/.test(s)), [], "no GPU words without a GPU");
  // asking for WebGPU here says why not (and ticks the CPU again), and the CPU keeps answering
  await page.click("input[name=backend][value=webgpu]");
  await waitText(page, "#backend-status", /not available for this model/);
  await page.click("#samples-fashion .sample >> nth=1");
  await waitText(page, "#timings", /^CPU: preprocess/, 120_000);
  await shot(page, "webgpu-03-no-adapter");
  await context.close();
});

test("the threaded build runs the GPU path too (shared wasm memory to WebGPU)", async () => {
  const page = await openPage(gpuBrowser, `${repo.url}/tests/e2e/blank.html`);
  const r = await page.evaluate(async () => {
    const { Engine } = await import("/www/engine.js");
    const engine = Engine.start(undefined, { threads: 2 });
    const runtime = await engine.started;
    const dir = "/tests/fixtures/gen/";
    const get = async (f) => (await fetch(dir + f)).arrayBuffer();
    const [model, input, ref] = [await get("zoo_vgg16.onnx"), new Float32Array(await get("zoo_vgg16.input.bin")), new Float32Array(await get("zoo_vgg16.output.bin"))];
    const loaded = await engine.load(model, { backend: "webgpu" });
    const out = await engine.forwardTensor(input, [1, 3, 224, 224]);
    let err = 0, scale = 0;
    for (let i = 0; i < ref.length; i++) { err = Math.max(err, Math.abs(out.data[i] - ref[i])); scale = Math.max(scale, Math.abs(ref[i])); }
    engine.worker.terminate();
    return { build: runtime.build, backend: loaded.backend.name, ran: out.timings.backend, rel: err / scale };
  });
  assert.deepEqual([r.build, r.backend, r.ran], ["pkg-threads", "webgpu", "webgpu"]);
  // against onnxruntime's output for the fixture
  assert.ok(r.rel <= 1e-4, `relative error ${r.rel}`);
  await page.close();
});
