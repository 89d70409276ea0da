// The module worker that owns the wasm module and the model: every engine call happens
// here, so the page's main thread never blocks on inference. Its protocol is declared in
// engine.js, its only client.
//
// The first request chooses the build of the wasm module (builds.js): the threaded one on a
// cross-origin isolated page, relaxed SIMD where the browser has it, else the baseline,
// which is imported statically so that bundlers always ship it.
import * as baseline from "./pkg/vgg_wasm.js";
import { chooseBuild, RELAXED_SIMD_PROBE } from "./builds.js";

// The one piece of state: the module in use and the current model, replaced only by a
// successful load.
// cpuBehind: the last run was on WebGPU and the CPU has not computed its activations yet
// teach: {base, bytes, teacher} for teaching new classes, apart from the model shown
const held = { vgg: null, api: null, runtime: null, cpuBehind: false, teach: null };
let ready = null;
const POOL_START_S = 20;

const PROGRESS_EVERY_MS = 100; // at most this often a download's progress is posted

/**
 * The build's .wasm as a Response that reports its progress while it streams into the
 * compiler (WebAssembly.instantiateStreaming compiles during the download), and the times:
 * `downloadMs` until the last byte, `compileMs` from then until the module was ready.
 */
async function fetchWasm(url, progress) {
  const t0 = performance.now();
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: the server answered ${response.status} ${response.statusText}`);
  // a compressed transfer's Content-Length is not the byte count the stream gives
  const total = response.headers.get("content-encoding") ? 0 : Number(response.headers.get("content-length")) || 0;
  const load = { url: String(url), bytes: 0, downloadMs: null, compileMs: null };
  let posted = 0;
  const counted = response.body.pipeThrough(new TransformStream({
    transform(chunk, out) {
      load.bytes += chunk.byteLength;
      const now = performance.now();
      if (now - posted >= PROGRESS_EVERY_MS) {
        posted = now;
        progress({ what: "engine", loaded: load.bytes, total });
      }
      out.enqueue(chunk);
    },
    flush() {
      load.downloadMs = performance.now() - t0;
      progress({ what: "engine", loaded: load.bytes, total: total || load.bytes });
    },
  }));
  const done = () => {
    load.compileMs = performance.now() - t0 - load.downloadMs;
    return load;
  };
  return { response: new Response(counted, { headers: { "content-type": "application/wasm" } }), done };
}

/** Words for a build that `./build.sh serve` is still compiling (it leaves a file BUILDING in
 *  the build's folder meanwhile), or null. */
async function stillCompiling(name) {
  const what = { "pkg-threads": "the threaded build", "pkg-relaxed": "the relaxed-SIMD build" }[name] ?? name;
  try {
    const r = await fetch(new URL(`./${name}/BUILDING`, import.meta.url), { cache: "no-store" });
    return r.ok ? `${what} is still compiling (${(await r.text()).trim()}): reload the page when it lands` : null;
  } catch {
    return null;
  }
}

/** Loads the best build that loads, and starts its thread pool. `progress` hears how the
 *  download of its .wasm goes. */
async function boot({ threads = null, build = null } = {}, progress = () => {}) {
  const relaxedSimd = WebAssembly.validate(RELAXED_SIMD_PROBE);
  const isolated = self.crossOriginIsolated === true;
  const cores = navigator.hardwareConcurrency || 1;
  const plan = chooseBuild({ isolated, cores, relaxedSimd, threads, build });
  const notes = [...plan.notes];
  for (const name of plan.candidates) {
    try {
      const api = name === "pkg" ? baseline
        : await import(/* @vite-ignore */ /* webpackIgnore: true */ new URL(`./${name}/vgg_wasm.js`, import.meta.url).href);
      // the baseline's .wasm named literally, so that bundlers (Vite, webpack) ship it
      const url = name === "pkg" ? new URL("./pkg/vgg_wasm_bg.wasm", import.meta.url) : new URL(`./${name}/vgg_wasm_bg.wasm`, import.meta.url);
      let load = null;
      const wasm = await fetchWasm(url, progress).catch(() => null);
      if (wasm) {
        await api.default({ module_or_path: wasm.response });
        load = wasm.done();
      } else {
        // not where this file expects it (a bundler moved it): the glue's own URL, no progress
        await api.default();
      }
      let used = 1;
      if (name === "pkg-threads") {
        // a pool whose workers cannot start (blocked, or not isolated themselves) would
        // otherwise never answer: fall back to one thread instead, with the reason
        let timer;
        const late = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`its ${plan.threads} threads did not start within ${POOL_START_S} s`)), POOL_START_S * 1000);
        });
        await Promise.race([api.initThreadPool(plan.threads), late]).finally(() => clearTimeout(timer));
        api.useThreads(plan.threads);
        used = plan.threads;
      }
      held.api = api;
      held.runtime = { build: name, threads: used, relaxedSimd: name !== "pkg", isolated, cores, notes, load, int8Kernels: api.int8Kernels() };
      return held.runtime;
    } catch (e) {
      // a build this copy of the page or package does not ship, or one that fails here,
      // or one that `./build.sh serve` is still compiling
      notes.push((await stillCompiling(name)) ?? `${name} did not load (${e.message ?? e})`);
    }
  }
  throw new Error(`no build of the wasm module loaded: ${notes.join("; ")}`);
}

const handlers = {
  // the build was chosen when the first request arrived (the start request carries the choice)
  start: runtime,
  runtime,
  /** @param {import("./engine.js").LoadRequest} r */
  async load({ bytes, options, keepActivationsUpTo = 0, backend = "auto" }, status) {
    status(backend === "cpu" ? "optimising the model" : "optimising the model and uploading it to the GPU");
    let activations = bytes.byteLength <= keepActivationsUpTo;
    // throws on a bad model; "auto" takes the CPU, with the reason, where WebGPU cannot run it
    const create = (keep) => held.api.Vgg.create(new Uint8Array(bytes), { ...options, activations: keep, backend: options?.backend ?? backend });
    let next;
    try {
      next = await create(activations);
    } catch (e) {
      // a graph that branches (a multi-scale taught model) has no chain of layers to keep:
      // it still runs, without layer views (layers() below says why)
      if (!activations || !/activations need a chain of layers/.test(e.message)) throw e;
      activations = false;
      next = await create(false);
    }
    held.vgg?.free();
    held.vgg = next;
    held.cpuBehind = false;
    let layers = null, layersError = null, convStack = null;
    try {
      layers = next.layers();
      convStack = next.convStack();
    } catch (e) {
      layersError = e.message;
    }
    return { info: next.info, layers, layersError, convStack, activations, backend: next.backend };
  },
  /** @param {import("./engine.js").PreprocessRequest} r */
  preprocess({ preprocess }) {
    const vgg = model();
    vgg.setPreprocess(preprocess);
    held.cpuBehind = false;
    return { info: vgg.info };
  },
  backend({ name }) {
    const vgg = model();
    vgg.useBackend(name);
    return vgg.backend;
  },
  async classify({ rgba, width, height, topK }, status) {
    const vgg = model();
    status(runningOn(vgg));
    const predictions = await vgg.classifyAsync(new Uint8Array(rgba), width, height, topK);
    held.cpuBehind = predictions.timings.backend === "webgpu";
    return { predictions: [...predictions], timings: predictions.timings, view: vgg.modelView(), backend: vgg.backend };
  },
  async forward({ rgba, width, height, channels }, status) {
    const vgg = model();
    status(runningOn(vgg));
    const out = await vgg.forwardAsync(new Uint8Array(rgba), width, height);
    held.cpuBehind = out.timings.backend === "webgpu";
    return { shape: out.shape, timings: out.timings, view: vgg.modelView(), channels: topChannels(out, channels, Infinity), backend: vgg.backend };
  },
  // conv, pool and fc layers with their most active channels, small
  layers({ channels, side }, status) {
    const cpuMs = catchUp(status);
    const vgg = model();
    const layers = vgg.layers().filter((l) => ["conv", "pool", "fc"].includes(l.kind)).map((l) => {
      let top = [];
      try {
        top = topChannels(vgg.activation(l.label), channels, side);
      } catch {
        // not kept (the model was too large to keep activations)
      }
      return { ...l, channels: top };
    });
    return { layers, cpuMs };
  },
  channel({ layer, channel }, status) {
    catchUp(status);
    const { shape, data } = model().activation(layer);
    const [, c, h, w] = shape;
    if (!(channel >= 0 && channel < c)) throw new Error(`channel ${channel} is outside layer '${layer}' (${c} channels)`);
    return { layer, channel, h, w, data: data.slice(channel * h * w, (channel + 1) * h * w) };
  },
  unitField({ layer, channel, y, x }, status) {
    catchUp(status);
    const vgg = model();
    const field = vgg.receptiveField(layer, y, x);
    const nested = vgg.nestedFields(layer, y, x);
    status("computing the gradient");
    return { field, nested, erf: gradientMap(vgg.effectiveReceptiveField(layer, channel, y, x)) };
  },
  async forwardTensor({ data, shape }, status) {
    const vgg = model();
    status(runningOn(vgg));
    const out = await vgg.forwardTensorAsync(new Float32Array(data), shape);
    held.cpuBehind = out.timings.backend === "webgpu";
    return { shape: out.shape, data: out.data, timings: out.timings };
  },
  profile({ data, shape }, status) {
    status("running the model, timing each operator");
    return model().profileTensor(new Float32Array(data), shape);
  },
  saliency({ classIndex }, status) {
    catchUp(status);
    status("computing the gradient");
    return gradientMap(model().saliency(classIndex));
  },
  /** @param {import("./engine.js").TeachStartRequest} r */
  async teachStart({ bytes, options, teacher, items, backend = "auto" }, status) {
    status(backend === "cpu" ? "loading the convolutional base" : "loading the convolutional base (onto the GPU where there is one)");
    const base = await held.api.Vgg.create(new Uint8Array(bytes), { ...options, backend });
    let made;
    try {
      made = base.teacher(teacher);
      status(`restoring ${items.length} examples`);
      for (const { label, features } of items) {
        if (features) made.addFeatures(label, features);
        else made.addClass(label);
      }
    } catch (e) {
      made?.free();
      base.free();
      throw e;
    }
    if (held.teach) {
      held.teach.teacher.free();
      held.teach.base.free();
    }
    // the base's file stays: the export appends the classifier to it
    held.teach = { base, bytes: new Uint8Array(bytes), teacher: made };
    return teachState();
  },
  async teachAdd({ label, rgba, width, height }, status) {
    status("running the base on the example");
    const added = await teacher().addAsync(label, new Uint8Array(rgba), width, height);
    return { added: { label: added.label, count: added.count, features: added.features, timings: added.timings }, ...teachState() };
  },
  teachClass({ label, remove }) {
    if (remove) teacher().removeClass(label);
    else teacher().addClass(label);
    return teachState();
  },
  teachTrain({ options }, status) {
    status("training");
    return teacher().train(options);
  },
  async teachClassify({ rgba, width, height, topK }, status) {
    status("running the base");
    const p = await teacher().classifyAsync(new Uint8Array(rgba), width, height, topK);
    return { predictions: [...p], timings: p.timings };
  },
  teachExport() {
    const onnx = teacher().export(held.teach.bytes);
    return { onnx, sidecar: teacher().sidecar() };
  },
  // For tests of recovery: fails as a trap in the wasm would (an engine bug, memory
  // exhausted), after which this worker must be replaced.
  crashForTest() {
    throw new WebAssembly.RuntimeError("unreachable (a test asked for a trap)");
  },
};

/** The build in use, with the wasm memory's size now (it never shrinks: the peak). */
function runtime() {
  return { ...held.runtime, memoryBytes: held.api.memoryBytes() };
}

function runningOn(vgg) {
  return vgg.backend.name === "webgpu" ? "running the model on WebGPU" : "running the model";
}

/** After a WebGPU run, the activations that layer views and gradients read are computed on
 *  the CPU (WebGPU reads back only the answer): done here, with a status, at the first
 *  request that needs them. Returns the milliseconds it took, or null. */
function catchUp(status) {
  if (!held.cpuBehind) return null;
  status("computing the layers' activations on the CPU");
  const t0 = performance.now();
  model().completeOnCpu();
  held.cpuBehind = false;
  return performance.now() - t0;
}

function teacher() {
  if (!held.teach) throw new Error("teaching has not started: load the convolutional base first");
  return held.teach.teacher;
}

/** The classes taught so far, with their image counts. */
function teachState() {
  const t = teacher();
  return {
    classes: t.classes(), counts: [...t.counts()], side: t.side, scales: [...t.scales], dim: t.dim, flip: t.flip,
    backend: held.teach.base.backend,
  };
}

function model() {
  if (!held.vgg) throw new Error("no model is loaded yet: choose one first");
  return held.vgg;
}

/** A gradient without its [C, H, W] part, which the page does not draw. */
function gradientMap({ target, shape, map, ms }) {
  return { target, shape, map, ms };
}

/** The `count` channels with the largest mean activation, max-pooled to at most `side`
 *  pixels a side. */
function topChannels({ shape, data }, count, side) {
  if (shape.length !== 4) return [];
  const [, c, h, w] = shape;
  const plane = h * w;
  const means = [];
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let i = ch * plane; i < (ch + 1) * plane; i++) sum += data[i];
    means.push([sum / plane, ch]);
  }
  means.sort((a, b) => b[0] - a[0]);
  const f = Math.max(1, Math.ceil(Math.max(h, w) / side));
  const th = Math.ceil(h / f), tw = Math.ceil(w / f);
  return means.slice(0, count).map(([mean, ch]) => {
    const t = new Float32Array(th * tw).fill(-Infinity);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = Math.floor(y / f) * tw + Math.floor(x / f);
        t[i] = Math.max(t[i], data[ch * plane + y * w + x]);
      }
    }
    return { index: ch, mean, h: th, w: tw, data: t };
  });
}

self.onmessage = async ({ data }) => {
  const { id, type } = data;
  const status = (text) => self.postMessage({ id, status: text });
  const progress = (p) => self.postMessage({ id, progress: p });
  try {
    ready ??= boot(type === "start" ? data : {}, progress);
    await ready;
    const handler = handlers[type];
    if (!handler) throw new Error(`unknown request type ${JSON.stringify(type)}`);
    self.postMessage({ id, result: await handler(data, status) });
  } catch (e) {
    // after a trap the wasm instance's state cannot be trusted: the client replaces this worker
    const fatal = e instanceof WebAssembly.RuntimeError;
    self.postMessage({ id, error: e instanceof Error ? e.message : String(e), fatal });
  }
};
