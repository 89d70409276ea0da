// Benchmark (not a test): per-image time of a full-size VGG16 in headless Chromium,
// through the page's own worker, side by side with onnxruntime on this machine's CPU in
// the same run. Usage: node tests/e2e/bench.mjs MODEL.onnx [runs]
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import path from "node:path";
import { launch, ROOT, serve } from "./harness.mjs";

const model = path.resolve(process.argv[2] ?? "");
const runs = Number(process.argv[3] ?? 5);
const rel = path.relative(ROOT, model);
if (rel.startsWith("..")) throw new Error(`the model must lie inside the repository: ${model}`);

// reference: onnxruntime, one thread (the wasm build is single-threaded) and default threads
const ort = JSON.parse(execFileSync(path.join(ROOT, ".venv/bin/python"), ["-c", `
import json, sys, time, numpy as np, onnxruntime as ort
x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
res = {}
for threads in (1, 0):
    o = ort.SessionOptions(); o.intra_op_num_threads = threads
    s = ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    s.run(None, {name: x})
    ts = []
    for _ in range(${runs}):
        t = time.perf_counter(); s.run(None, {name: x}); ts.append((time.perf_counter() - t) * 1e3)
    res["threads_%d" % threads] = sorted(ts)[len(ts) // 2]
print(json.dumps(res))
`, model], { encoding: "utf8", maxBuffer: 1 << 20 }));

const server = await serve(ROOT);
const browser = await launch();
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.log("page:", m.text()));
  await page.goto(`${server.url}/www/index.html`);
  const wasm = await page.evaluate(async ({ url, runs }) => {
    const { Engine } = await import("/www/engine.js");
    const engine = Engine.start();
    let t = performance.now();
    const bytes = await (await fetch(url)).arrayBuffer();
    const downloadMs = performance.now() - t;
    t = performance.now();
    await engine.load(bytes);
    const loadMs = performance.now() - t;
    const rgba = new Uint8Array(224 * 224 * 4).map((_, i) => (i * 2654435761) >>> 24);
    const inference = [], total = [];
    for (let i = 0; i <= runs; i++) {
      const copy = rgba.slice().buffer;
      t = performance.now();
      const r = await engine.classify({ rgba: copy, width: 224, height: 224 }, 5);
      if (i > 0) { inference.push(r.timings.inferenceMs); total.push(performance.now() - t); }
    }
    const median = (a) => a.sort((x, y) => x - y)[a.length >> 1];
    return { downloadMs, loadMs, inferenceMs: median(inference), roundTripMs: median(total) };
  }, { url: `/${rel}`, runs });
  const ua = await page.evaluate(() => navigator.userAgent);
  console.log(JSON.stringify({ model: rel, bytes: statSync(model).size, runs, browser: ua, wasm, onnxruntime: ort }, null, 1));
  console.log(`per image (median of ${runs}): wasm ${wasm.inferenceMs.toFixed(0)} ms; onnxruntime 1 thread ` +
    `${ort.threads_1.toFixed(0)} ms (wasm/ort = ${(wasm.inferenceMs / ort.threads_1).toFixed(2)}x), ` +
    `all threads ${ort.threads_0.toFixed(0)} ms (${(wasm.inferenceMs / ort.threads_0).toFixed(2)}x)`);
} finally {
  await browser.close();
  server.close();
}
