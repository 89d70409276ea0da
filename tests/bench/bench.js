// The benchmark's page side: vgg-wasm (through the page's own worker and Engine) and
// onnxruntime-web (its wasm execution provider, from this origin) on the same model bytes
// and the same input tensor, alternating after a warm-up. bench.mjs drives it.

// Every wasm memory onnxruntime-web makes or instantiates, to read its size after the runs
// (wasm memory never shrinks, so that is its peak). Installed before ort is imported.
const memories = new Set();
const Memory = WebAssembly.Memory;
WebAssembly.Memory = function (...args) {
  const m = new Memory(...args);
  memories.add(m);
  return m;
};
WebAssembly.Memory.prototype = Memory.prototype;
for (const name of ["instantiate", "instantiateStreaming"]) {
  const original = WebAssembly[name];
  WebAssembly[name] = async (...args) => {
    const result = await original.apply(WebAssembly, args);
    const exports = (result.instance ?? result).exports;
    for (const v of Object.values(exports)) if (v instanceof Memory) memories.add(v);
    return result;
  };
}

const { Engine } = await import("/www/engine.js");
const { convolutionCounts } = await import("/www/format.js");
// bench.html?ep=webgpu: onnxruntime-web's WebGPU build (its WebGPU execution provider)
const EP = new URLSearchParams(location.search).get("ep") === "webgpu" ? "webgpu" : "wasm";
const ort = await import(`/tests/bench/node_modules/onnxruntime-web/dist/ort.${EP}.min.mjs`);
ort.env.wasm.wasmPaths = "/tests/bench/node_modules/onnxruntime-web/dist/";

/** A fixed pseudo-random input in [-2, 2], like a normalised image. */
function input(shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = (s / 2 ** 32) * 4 - 2;
  }
  return x;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

/** Largest |a - b| relative to the largest |b|. */
function relDiff(a, b) {
  let err = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return a.length === b.length ? err / scale : Infinity;
}

/** Runs vgg-wasm (`engine`, on `backend`) and onnxruntime-web (`session`) on `x`, one after
 *  the other, `rounds` times after a warm-up (kernel compilation, buffer allocation); fills
 *  `ours.ms`, `ours.inferenceMs` and `theirs.ms`, and sets on `out` how far the last answers
 *  differ (`relDiff`) and whether their top-1 classes agree. */
async function alternate({ engine, backend, session, x, shape, rounds, ours, theirs, out }) {
  const feed = () => ({ [session.inputNames[0]]: new ort.Tensor("float32", x.slice(), shape) });
  let a = null, b = null;
  for (let i = -1; i < rounds; i++) {
    let t = performance.now();
    const r = await engine.forwardTensor(x.slice(), shape);
    const ms = performance.now() - t;
    if (r.timings.backend !== backend) throw new Error(`vgg-wasm answered on ${r.timings.backend}, not ${backend}`);
    t = performance.now();
    const o = await session.run(feed());
    const ortMs = performance.now() - t;
    if (i < 0) continue; // warm-up
    ours.ms.push(ms);
    ours.inferenceMs.push(r.timings.inferenceMs);
    theirs.ms.push(ortMs);
    a = r.data;
    b = await o[session.outputNames[0]].getData();
  }
  out.relDiff = relDiff(a, b);
  const argmax = (v) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);
  out.sameTop1 = argmax(a) === argmax(b);
}

/** One model at one thread count: both runtimes loaded, `rounds` runs each, alternating. */
window.benchRun = async ({ url, threads, rounds, profile, baseline, convolution, build = null }) => {
  const bytes = await (await fetch(url)).arrayBuffer();
  const shape = [1, 3, 224, 224];
  const x = input(shape);
  const out = { url, threads, convolution, bytes: bytes.byteLength, crossOriginIsolated };

  // the baseline: the SIMD128 build by name, to measure what relaxed SIMD gains; `build`:
  // that build by name (the build another browser ran, to compare the two engines)
  const engine = Engine.start(undefined, baseline ? { build: "pkg" } : build ? { build, threads } : { threads });
  const runtime = await engine.started;
  let t = performance.now();
  const loaded = await engine.load(bytes.slice(0), { backend: "cpu", options: { convolution } });
  const loadMs = performance.now() - t;
  // what the convolutions ran, e.g. "winograd F(4x4,3x3) ×9, direct ×1"
  out.algorithms = convolutionCounts(loaded.info.convolutions).map(([a, n]) => `${a} ×${n}`).join(", ");
  // wasm memory never shrinks: its size now is the load's peak, after the runs the runs'
  const memoryAfterLoad = (await engine.runtime()).memoryBytes;
  const ours = { loadMs, memoryAfterLoad, build: runtime.build, threads: runtime.threads, notes: runtime.notes, int8Kernels: runtime.int8Kernels, ms: [], inferenceMs: [] };

  ort.env.wasm.numThreads = threads;
  t = performance.now();
  const session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  // the threads it runs on: onnxruntime-web falls back to one, and says so only in the
  // console, where the browser has no SharedArrayBuffer (WebKitGTK, even isolated)
  const theirs = { loadMs: performance.now() - t, threads: ort.env.wasm.numThreads, ms: [] };
  out.sharedArrayBuffer = typeof SharedArrayBuffer === "function";
  await alternate({ engine, backend: "cpu", session, x, shape, rounds, ours, theirs, out });
  ours.memoryBytes = (await engine.runtime()).memoryBytes;
  theirs.memoryBytes = Math.max(0, ...[...memories].map((m) => m.buffer.byteLength));
  if (profile) {
    // ms per ONNX layer (tract's plan nodes named "<layer>" or "<layer>.<part>"), next to
    // the layer's multiply-accumulates from the graph
    const nodes = await engine.profile(x.slice(), shape);
    out.nodes = nodes;
    const byLayer = new Map();
    for (const n of nodes) {
      const name = n.node.split(".")[0];
      const l = byLayer.get(name) ?? { ms: 0, ops: new Set() };
      l.ms += n.ms;
      l.ops.add(n.op);
      byLayer.set(name, l);
    }
    const layers = loaded.layers ?? [];
    const macs = new Map(layers.map((l) => [l.node, { macs: l.macs, label: l.label }]));
    out.profile = [...byLayer].map(([name, { ms, ops }]) => {
      // tract fuses a dense layer into the ReLU after it, under the ReLU's name: its
      // multiply-accumulates are those of the layer before
      let at = layers.findIndex((l) => l.node === name);
      if (at > 0 && layers[at].kind === "relu" && ops.has("OptMatMul")) at -= 1;
      const layer = layers[at];
      const label = layer ? (layer.node === name ? layer.label : `${layer.label}+relu`) : name;
      return { name, label, ops: [...ops], ms, macs: layer?.macs ?? 0 };
    });
  }
  await session.release();
  engine.worker.terminate();
  out.ours = ours;
  out.ort = theirs;
  return out;
};

/** One model on WebGPU: vgg-wasm's GPU path and onnxruntime-web's WebGPU execution
 *  provider on the same adapter, file and input; `rounds` runs each, alternating. */
window.benchGpu = async ({ url, rounds }) => {
  const bytes = await (await fetch(url)).arrayBuffer();
  const shape = [1, 3, 224, 224];
  const x = input(shape);
  const adapter = await navigator.gpu?.requestAdapter();
  const info = adapter?.info ?? {};
  const out = { url, threads: 1, bytes: bytes.byteLength, adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") };

  const engine = Engine.start(undefined, { threads: 1 });
  const runtime = await engine.started;
  let t = performance.now();
  const loaded = await engine.load(bytes.slice(0), { backend: "webgpu" });
  const ours = { loadMs: performance.now() - t, build: runtime.build, threads: 1, notes: runtime.notes, ms: [], inferenceMs: [], backend: loaded.backend };
  // multiply-accumulates per image, from the model's graph
  out.macs = (loaded.layers ?? []).reduce((s, l) => s + l.macs, 0);

  ort.env.wasm.numThreads = 1;
  t = performance.now();
  const session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: ["webgpu"], graphOptimizationLevel: "all" });
  const theirs = { loadMs: performance.now() - t, threads: 1, ms: [] };
  await alternate({ engine, backend: "webgpu", session, x, shape, rounds, ours, theirs, out });
  ours.memoryBytes = (await engine.runtime()).memoryBytes;
  await session.release();
  engine.worker.terminate();
  out.ours = ours;
  out.ort = theirs;
  return out;
};
// For a driver that cannot await a long script (WebDriver's script timeout): starts a run and
// leaves its result, or its error, in window.benchResult.
window.benchStart = (fn, args) => {
  window.benchResult = null;
  window[fn](args).then((r) => { window.benchResult = r; }, (e) => { window.benchResult = { error: String(e?.stack ?? e) }; });
};
window.benchReady = true;
