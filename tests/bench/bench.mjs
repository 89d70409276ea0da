// Benchmark (not a test): vgg-wasm against onnxruntime-web, the runtime a page would use
// instead, in one headless Chromium page, on the same model file and the same input tensor,
// alternating the two after a warm-up; at 1 and at 2 threads (the page cross-origin
// isolated). One fresh page per model and thread count, so each peak of wasm memory is
// that model's own. Prints a table and writes target/bench/bench.json.
//
// With --webgpu: vgg-wasm's WebGPU path against onnxruntime-web's WebGPU execution provider,
// on Chromium's software adapter (SwiftShader: a minute or more per image), full-size VGG16.
//
// The first model also runs with `convolution: "direct"` (tract's own convolutions instead of
// Winograd), at 1 and 2 threads; --convolution=a,b runs every model with those values of the
// option instead (e.g. winograd-f2,winograd-f4 to compare tiles layer by layer).
//
//   node tests/bench/bench.mjs [--webgpu] [--convolution=auto,direct] [rounds] [model.onnx ...]
//   (./build.sh bench writes the models)
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, serve } from "../e2e/harness.mjs";

import { launch as launchBrowser } from "../e2e/harness.mjs";

const args = process.argv.slice(2);
const webgpu = args[0] === "--webgpu";
if (webgpu) args.shift();
const modes = args[0]?.startsWith("--convolution=") ? args.shift().split("=")[1].split(",") : null;
const rounds = Number(args[0] ?? (webgpu ? 2 : 8));
const models = args.slice(1).length ? args.slice(1)
  : (webgpu ? ["vgg16.onnx"] : ["vgg16.onnx", "vgg16-int8-qdq.onnx", "vgg16-int8-qop.onnx", "vgg19.onnx"]).map((m) => path.join(ROOT, ".cache/bench", m));
const THREADS = [1, 2];
// A row whose answers differ by more than this (largest difference relative to the largest
// output) or whose top-1 class differs is marked wrong: a fast wrong answer cannot win.
// int8 models get a wider bound: the two runtimes round the requantisation of each of the
// 13 layers each in its own way (onnxruntime multiplies in f32, tract in 31-bit fixed
// point), and one step of difference early on spreads; the reduced-width int8 fixtures
// agree within 2 output steps (tests/fixtures/make_fixtures.py).
const agreeBound = (model) => (/int8/.test(model) ? 5e-2 : 1e-4);
const wrong = (r) => r.relDiff > agreeBound(r.model) || !r.sameTop1;

const MiB = (b) => (b / 2 ** 20).toFixed(0);
const ms = (a) => Math.min(...a);
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const server = await serve(ROOT);
const browser = await launchBrowser({ webgpu });
const rows = [];
const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadBefore: load() };
try {
  for (const model of models) {
    const rel = path.relative(ROOT, model);
    if (rel.startsWith("..")) throw new Error(`the model must lie inside the repository: ${model}`);
    // the SIMD128 build too, on one thread, for the first model: what relaxed SIMD gains
    const convolutions = modes ?? (model === models[0] ? ["auto", "direct"] : ["auto"]);
    const runs = webgpu ? [{ threads: 1 }]
      : [...convolutions.flatMap((convolution) => THREADS.map((threads) => ({ threads, convolution }))),
         ...(model === models[0] && !modes ? [{ threads: 1, baseline: true, convolution: "auto" }] : [])];
    for (const { threads, baseline = false, convolution } of runs) {
      const page = await browser.newPage();
      page.on("console", (m) => m.type() === "error" && console.error("page:", m.text()));
      page.on("pageerror", (e) => console.error("page error:", e.message));
      await page.goto(`${server.url}/tests/bench/bench.html${webgpu ? "?ep=webgpu" : ""}`);
      await page.waitForFunction(() => window.benchReady === true);
      machine.browser ??= await page.evaluate(() => navigator.userAgent);
      const r = webgpu
        ? await page.evaluate((a) => window.benchGpu(a), { url: `/${rel}`, rounds })
        : await page.evaluate((a) => window.benchRun(a), { url: `/${rel}`, threads, rounds, profile: !baseline, baseline, convolution });
      await page.close();
      r.model = path.basename(model);
      r.baseline = baseline;
      rows.push(r);
      report(r);
    }
  }
} finally {
  await browser.close();
  server.close();
}
machine.loadAfter = load();


function report(r) {
  const ok = !wrong(r);
  if (webgpu) {
    console.log(`${r.model} on WebGPU (${r.adapter}): vgg-wasm ${med(r.ours.ms).toFixed(0)} ms, onnxruntime-web ${med(r.ort.ms).toFixed(0)} ms; ` +
      `answers differ by ${r.relDiff.toExponential(1)}${ok ? "" : " WRONG"}`);
    return;
  }
  console.log(`${r.model} at ${r.threads} thread(s): vgg-wasm (${r.ours.build}, ${r.ours.threads} threads, ${r.algorithms}) ` +
    `${med(r.ours.ms).toFixed(0)} ms, onnxruntime-web ${med(r.ort.ms).toFixed(0)} ms; answers differ by ${r.relDiff.toExponential(1)}${ok ? "" : " WRONG"}`);
  if (r.ours.notes.length) console.log(`  vgg-wasm notes: ${r.ours.notes.join("; ")}`);
}

console.log(`\n${machine.cpus} cores (${machine.cpu}); load average ${machine.loadBefore} before, ${machine.loadAfter} after`);
if (webgpu) {
  // GFLOP/s: 2 floating-point operations per multiply-accumulate of the graph's layers
  console.log(`${machine.browser}; ${rounds} rounds after a warm-up, the two alternating; ms per image from the page`);
  console.log("\n| model | adapter | runtime | median ms | min ms | GFLOP/s | load ms | wasm MiB (× file) | max rel. diff | ratio ours/ort |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const gflops = (t) => (2 * r.macs / t / 1e6).toFixed(2);
    const bad = wrong(r) ? ` **wrong**${r.sameTop1 ? "" : " (top-1 differs)"}` : "";
    console.log(`| ${r.model} | ${r.adapter} | vgg-wasm (WebGPU) | ${med(r.ours.ms).toFixed(0)} | ${ms(r.ours.ms).toFixed(0)} | ${gflops(med(r.ours.ms))} | ` +
      `${r.ours.loadMs.toFixed(0)} | ${MiB(r.ours.memoryBytes)} (${(r.ours.memoryBytes / r.bytes).toFixed(2)}×) | ${r.relDiff.toExponential(1)}${bad} | ` +
      `**${(med(r.ours.ms) / med(r.ort.ms)).toFixed(2)}** |`);
    console.log(`| | | onnxruntime-web 1.30 (webgpu EP) | ${med(r.ort.ms).toFixed(0)} | ${ms(r.ort.ms).toFixed(0)} | ${gflops(med(r.ort.ms))} | ${r.ort.loadMs.toFixed(0)} | | | |`);
  }
  console.log(`(${(r0 => (2 * r0.macs / 1e9).toFixed(1))(rows[0])} GFLOP per image, from the graph's layers)`);
}
else {
console.log(`${machine.browser}; ${rounds} rounds after a warm-up, the two runtimes alternating; ms per image from the page`);
console.log("\n| model | MB | runtime | threads | median ms | min ms | load ms | wasm MiB (× file) | max rel. diff | ratio ours/ort |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  const mb = (r.bytes / 1e6).toFixed(0);
  const bad = wrong(r) ? ` **wrong** (bound ${agreeBound(r.model)}${r.sameTop1 ? "" : ", top-1 differs"})` : "";
  const x = (b) => `${MiB(b)} (${(b / r.bytes).toFixed(2)}×)`;
  console.log(`| ${r.model} | ${mb} | vgg-wasm (${r.ours.build}, ${r.convolution}) | ${r.ours.threads} | ${med(r.ours.ms).toFixed(0)} | ${ms(r.ours.ms).toFixed(0)} | ` +
    `${r.ours.loadMs.toFixed(0)} | ${x(r.ours.memoryBytes)} | ${r.relDiff.toExponential(1)}${bad} | ` +
    `**${(med(r.ours.ms) / med(r.ort.ms)).toFixed(2)}** (load ${(r.ours.loadMs / r.ort.loadMs).toFixed(2)}) |`);
  console.log(`| | | onnxruntime-web 1.30 (wasm) | ${r.ort.threads} | ${med(r.ort.ms).toFixed(0)} | ${ms(r.ort.ms).toFixed(0)} | ` +
    `${r.ort.loadMs.toFixed(0)} | ${x(r.ort.memoryBytes)} | | |`);
}
// int8 against the fp32 model it was quantised from, in each runtime at each thread count:
// what a page gains by shipping the int8 file
const fp32 = (threads) => rows.find((r) => r.model === "vgg16.onnx" && r.threads === threads && !r.baseline && r.convolution === "auto");
const int8Rows = rows.filter((r) => /int8/.test(r.model) && fp32(r.threads));
if (int8Rows.length) {
  console.log("\nint8 VGG16 against fp32 VGG16, same runtime and threads (time and peak wasm memory, int8 / fp32; below 0.5 is 2× faster)");
  console.log("| model | threads | vgg-wasm time | vgg-wasm memory | onnxruntime-web time | onnxruntime-web memory |");
  console.log("|---|---|---|---|---|---|");
  for (const r of int8Rows) {
    const f = fp32(r.threads);
    const q = (a, b) => (a / b).toFixed(2);
    console.log(`| ${r.model} | ${r.threads} | ${q(med(r.ours.ms), med(f.ours.ms))} | ${q(r.ours.memoryBytes, f.ours.memoryBytes)} | ` +
      `${q(med(r.ort.ms), med(f.ort.ms))} | ${q(r.ort.memoryBytes, f.ort.memoryBytes)} |`);
  }
  // which int8 kernels ran depends on the engine (src/model/int8_mmm.rs)
  for (const k of new Set(int8Rows.map((r) => `${r.ours.build}: ${r.ours.int8Kernels}`))) console.log(`int8 matrix products in ${k}`);
}
for (const r of rows.filter((r) => r.profile)) {
  const total = r.profile.reduce((s, l) => s + l.ms, 0);
  console.log(`\nWhere vgg-wasm's time goes: ${r.model}, ${r.ours.threads} thread(s), convolution "${r.convolution}" (${r.algorithms}), one profiled run (${total.toFixed(0)} ms)`);
  console.log("| layer | tract ops | ms | share | GMAC | GFLOP/s |");
  console.log("|---|---|---|---|---|---|");
  for (const l of r.profile.filter((l) => l.ms >= total / 200)) {
    const gflops = l.macs ? (2 * l.macs / l.ms / 1e6).toFixed(1) : "";
    console.log(`| ${l.label} | ${l.ops.join(", ")} | ${l.ms.toFixed(1)} | ${(100 * l.ms / total).toFixed(1)}% | ${(l.macs / 1e9).toFixed(2)} | ${gflops} |`);
  }
}
}
const out = path.join(ROOT, "target/bench");
mkdirSync(out, { recursive: true });
const file = webgpu ? "bench-webgpu.json" : "bench.json";
writeFileSync(path.join(out, file), JSON.stringify({ machine, rounds, rows }, null, 1));
console.log(`\nwritten: ${path.relative(ROOT, path.join(out, file))}`);
if (rows.some(wrong)) {
  console.error("the two runtimes' answers differ in a row marked wrong");
  process.exitCode = 1;
}
