// Benchmark (not a test): vgg-wasm against onnxruntime-web, the runtime a page would use
// instead, in one headless Chromium page, on the same model file and the same input tensor,
// alternating the two after a warm-up; at 1 and at 2 threads (the page cross-origin
// isolated). One fresh page per model and thread count, so each peak of wasm memory is
// that model's own. Prints a table and writes target/bench/bench.json.
//
// With --webgpu: vgg-wasm's WebGPU path against onnxruntime-web's WebGPU execution provider,
// on Chromium's software adapter (SwiftShader: a minute or more per image), full-size VGG16.
//
// With --webkit: the same two runtimes in Safari's engine (WebKitGTK's MiniBrowser over
// WebKitWebDriver, on a virtual display), at 1 and 2 threads, each run followed by the build
// WebKit ran in Chromium on the same machine: what JavaScriptCore costs against V8.
//
// The first model also runs with `convolution: "direct"` (tract's own convolutions instead of
// Winograd), at 1 and 2 threads; --convolution=a,b runs every model with those values of the
// option instead (e.g. winograd-f2,winograd-f4 to compare tiles layer by layer).
//
//   node tests/bench/bench.mjs [--webgpu | --webkit] [--convolution=auto,direct] [rounds] [model.onnx ...]
//   (./build.sh bench writes the models)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { launch as launchBrowser, ROOT, serve } from "../e2e/harness.mjs";
import { WEBKIT, webkit as webkitSession } from "../e2e/webdriver.mjs";

const args = process.argv.slice(2);
const mode = ["--webgpu", "--webkit"].includes(args[0]) ? args.shift().slice(2) : "cpu";
const webgpu = mode === "webgpu";
const webkit = mode === "webkit";
const modes = args[0]?.startsWith("--convolution=") ? args.shift().split("=")[1].split(",") : null;
const rounds = Number(args[0] ?? (webgpu ? 2 : 8));
const models = args.slice(1).length ? args.slice(1)
  : (webgpu ? ["vgg16.onnx"] : ["vgg16.onnx", "vgg16-int8-qdq.onnx", "vgg16-int8-qop.onnx", "vgg19.onnx"]).map((m) => path.join(ROOT, ".cache/bench", m));
if (webkit && (!WEBKIT.driver || !WEBKIT.xvfbRun)) throw new Error("--webkit needs WebKitWebDriver and xvfb-run (Debian: webkit2gtk-driver, xvfb)");
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

/** A fresh page at bench.html, in Chromium or in WebKit (one MiniBrowser per page, so that
 *  each peak of wasm memory is that run's own): `call(fn, a)` runs `window[fn](a)` there. */
async function benchPage(engine) {
  const url = `${server.url}/tests/bench/bench.html${webgpu ? "?ep=webgpu" : ""}`;
  if (engine === "webkit") {
    const wk = await webkitSession();
    await wk.go(url);
    await wk.until("return window.benchReady === true", 120_000);
    return {
      userAgent: () => wk.run("return navigator.userAgent"),
      // WebDriver gives a script 30 s: the run is started, then its result polled for
      async call(/** @type {string} */ fn, /** @type {object} */ a) {
        await wk.run("window.benchStart(arguments[0], arguments[1])", fn, a);
        const r = await wk.until("return window.benchResult", 3_600_000);
        if (r.error) throw new Error(`WebKit: ${r.error}`);
        return r;
      },
      close: () => wk.close(),
    };
  }
  const page = await browser.newPage();
  page.on("console", (m) => m.type() === "error" && console.error("page:", m.text()));
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.benchReady === true);
  return {
    userAgent: () => page.evaluate(() => navigator.userAgent),
    call: (/** @type {string} */ fn, /** @type {object} */ a) => page.evaluate(([f, x]) => window[f](x), [fn, a]),
    close: () => page.close(),
  };
}

/** The runs of one model: the CPU bench's (both thread counts per convolution option, and the
 *  SIMD128 baseline for the first model), WebKit's (each thread count in WebKit, then
 *  the same build in Chromium), or WebGPU's one. */
function runsFor(model) {
  if (webgpu) return [{ threads: 1, engine: "chromium" }];
  if (webkit) return THREADS.flatMap((threads) => [{ threads, engine: "webkit" }, { threads, engine: "chromium", sameAs: "webkit" }]);
  const convolutions = modes ?? (model === models[0] ? ["auto", "direct"] : ["auto"]);
  return [...convolutions.flatMap((convolution) => THREADS.map((threads) => ({ threads, convolution, engine: "chromium" }))),
    ...(model === models[0] && !modes ? [{ threads: 1, baseline: true, convolution: "auto", engine: "chromium" }] : [])];
}

try {
  for (const model of models) {
    const rel = path.relative(ROOT, model);
    if (rel.startsWith("..")) throw new Error(`the model must lie inside the repository: ${model}`);
    for (const { threads, baseline = false, convolution = "auto", engine, sameAs = null } of runsFor(model)) {
      // Chromium after WebKit runs the build WebKit ran, on as many threads
      const other = sameAs && rows.at(-1);
      const page = await benchPage(engine);
      let r;
      try {
        machine.browsers ??= {};
        machine.browsers[engine] ??= await page.userAgent();
        r = webgpu
          ? await page.call("benchGpu", { url: `/${rel}`, rounds })
          : await page.call("benchRun", {
            url: `/${rel}`, threads: other ? other.ours.threads : threads, rounds, profile: !baseline && (!webkit || model === models[0]), baseline, convolution,
            build: other ? other.ours.build : null,
          });
      } finally {
        // (a MiniBrowser left behind would hold its gigabytes of wasm memory)
        await page.close();
      }
      Object.assign(r, { model: path.basename(model), baseline, engine, threads });
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
  const where = webkit ? ` in ${r.engine === "webkit" ? "WebKit" : "Chromium"}` : "";
  if (webgpu) {
    console.log(`${r.model} on WebGPU (${r.adapter}): vgg-wasm ${med(r.ours.ms).toFixed(0)} ms, onnxruntime-web ${med(r.ort.ms).toFixed(0)} ms; ` +
      `answers differ by ${r.relDiff.toExponential(1)}${ok ? "" : " WRONG"}`);
    return;
  }
  console.log(`${r.model} at ${r.threads} thread(s)${where}: vgg-wasm (${r.ours.build}, ${r.ours.threads} threads, ${r.algorithms}) ` +
    `${med(r.ours.ms).toFixed(0)} ms, onnxruntime-web ${med(r.ort.ms).toFixed(0)} ms; answers differ by ${r.relDiff.toExponential(1)}${ok ? "" : " WRONG"}`);
  if (r.ours.notes.length) console.log(`  vgg-wasm notes: ${r.ours.notes.join("; ")}`);
}

console.log(`\n${machine.cpus} cores (${machine.cpu}); load average ${machine.loadBefore} before, ${machine.loadAfter} after`);
for (const [engine, ua] of Object.entries(machine.browsers ?? {})) console.log(`${engine}: ${ua}`);
console.log(`${rounds} rounds after a warm-up, the two runtimes alternating; ms per image from the page`);
if (webgpu) gpuTable();
else if (webkit) {
  webkitTable();
  int8Table(rows.filter((r) => r.engine === "webkit"), "in WebKit");
  profileComparison();
} else {
  cpuTable();
  int8Table(rows, "");
  for (const r of rows.filter((r) => r.profile)) profileTable(r);
}

function gpuTable() {
  // GFLOP/s: 2 floating-point operations per multiply-accumulate of the graph's layers
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

function cpuTable() {
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
}

/** int8 against the fp32 model it was quantised from, in each runtime at each thread count:
 *  what a page gains by shipping the int8 file. */
function int8Table(rows, where) {
  const fp32 = (threads) => rows.find((r) => r.model === "vgg16.onnx" && r.threads === threads && !r.baseline && r.convolution === "auto");
  const int8Rows = rows.filter((r) => /int8/.test(r.model) && fp32(r.threads));
  if (int8Rows.length) {
    console.log(`\nint8 VGG16 against fp32 VGG16${where ? ` ${where}` : ""}, same runtime and threads (time and peak wasm memory, int8 / fp32; below 0.5 is 2× faster)`);
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
}

/** Where vgg-wasm's time goes in one profiled run, layer by layer. */
function profileTable(r) {
  const total = r.profile.reduce((s, l) => s + l.ms, 0);
  console.log(`\nWhere vgg-wasm's time goes: ${r.model}, ${r.ours.threads} thread(s), convolution "${r.convolution}" (${r.algorithms}), one profiled run (${total.toFixed(0)} ms)`);
  console.log("| layer | tract ops | ms | share | GMAC | GFLOP/s |");
  console.log("|---|---|---|---|---|---|");
  for (const l of r.profile.filter((l) => l.ms >= total / 200)) {
    const gflops = l.macs ? (2 * l.macs / l.ms / 1e6).toFixed(1) : "";
    console.log(`| ${l.label} | ${l.ops.join(", ")} | ${l.ms.toFixed(1)} | ${(100 * l.ms / total).toFixed(1)}% | ${(l.macs / 1e9).toFixed(2)} | ${gflops} |`);
  }
}

/** Each WebKit run beside the same build on as many threads in Chromium, on the same
 *  machine: what each runtime's time is in Safari's engine, and against V8. */
function webkitTable() {
  console.log("\n| model | threads asked | runtime | WebKit median ms | Chromium median ms | WebKit / Chromium | WebKit load ms | WebKit wasm MiB (× file) | max rel. diff (WebKit) | ours / ort in WebKit |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const w of rows.filter((r) => r.engine === "webkit")) {
    const c = rows.find((r) => r.engine === "chromium" && r.model === w.model && r.threads === w.threads);
    const bad = wrong(w) ? ` **wrong** (bound ${agreeBound(w.model)}${w.sameTop1 ? "" : ", top-1 differs"})` : "";
    const x = (b) => `${MiB(b)} (${(b / w.bytes).toFixed(2)}×)`;
    const vs = (a, b) => (b ? (med(a) / med(b)).toFixed(2) : "");
    console.log(`| ${w.model} | ${w.threads} | vgg-wasm (${w.ours.build}, ${w.ours.threads} thread${w.ours.threads > 1 ? "s" : ""}) | ${med(w.ours.ms).toFixed(0)} | ${c ? med(c.ours.ms).toFixed(0) : ""} | ` +
      `${vs(w.ours.ms, c?.ours.ms)} | ${w.ours.loadMs.toFixed(0)} | ${x(w.ours.memoryBytes)} | ${w.relDiff.toExponential(1)}${bad} | **${(med(w.ours.ms) / med(w.ort.ms)).toFixed(2)}** |`);
    console.log(`| | | onnxruntime-web 1.30 (wasm, ${w.ort.threads} thread${w.ort.threads > 1 ? "s" : ""}) | ${med(w.ort.ms).toFixed(0)} | ${c ? med(c.ort.ms).toFixed(0) : ""} | ` +
      `${vs(w.ort.ms, c?.ort.ms)} | ${w.ort.loadMs.toFixed(0)} | ${x(w.ort.memoryBytes)} | | |`);
  }
  if (rows.some((r) => r.engine === "webkit" && !r.sharedArrayBuffer)) {
    console.log("(this WebKit has no SharedArrayBuffer, even on the isolated page: neither runtime can run threads in it, so rows asking for 2 ran on 1)");
  }
}

/** vgg-wasm's profiled runs in WebKit and Chromium (same build, threads and model), layer by
 *  layer: where JavaScriptCore is slower than V8 for us. */
function profileComparison() {
  for (const w of rows.filter((r) => r.engine === "webkit" && r.profile)) {
    const c = rows.find((r) => r.engine === "chromium" && r.profile && r.model === w.model && r.threads === w.threads);
    if (!c) continue;
    const total = (r) => r.profile.reduce((s, l) => s + l.ms, 0);
    console.log(`\nWhere vgg-wasm's time goes in WebKit and in Chromium: ${w.model}, ${w.ours.build} on ${w.ours.threads} thread(s), one profiled run each (${total(w).toFixed(0)} and ${total(c).toFixed(0)} ms)`);
    console.log("| layer | tract ops | WebKit ms | Chromium ms | WebKit / Chromium | WebKit GFLOP/s |");
    console.log("|---|---|---|---|---|---|");
    for (const l of w.profile.filter((l) => l.ms >= total(w) / 200)) {
      const cl = c.profile.find((x) => x.name === l.name);
      const gflops = l.macs ? (2 * l.macs / l.ms / 1e6).toFixed(1) : "";
      console.log(`| ${l.label} | ${l.ops.join(", ")} | ${l.ms.toFixed(1)} | ${cl ? cl.ms.toFixed(1) : ""} | ${cl ? (l.ms / cl.ms).toFixed(2) : ""} | ${gflops} |`);
    }
  }
}

const out = path.join(ROOT, "target/bench");
mkdirSync(out, { recursive: true });
const file = { webgpu: "bench-webgpu.json", webkit: "bench-webkit.json", cpu: "bench.json" }[mode];
writeFileSync(path.join(out, file), JSON.stringify({ machine, rounds, rows }, null, 1));
console.log(`\nwritten: ${path.relative(ROOT, path.join(out, file))}`);
if (rows.some(wrong)) {
  console.error("the two runtimes' answers differ in a row marked wrong");
  process.exitCode = 1;
}
