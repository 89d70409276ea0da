// The one client of worker.js, and the one place its protocol is declared. The page, the
// benchmark and the npm package's users talk to the model through this class.
//
// Messages: the client posts {id, type, ...request}; the worker answers {id, status} (words)
// and {id, progress} (a download: {what, loaded, total} bytes, total 0 when unknown) while
// it works, then {id, result} or {id, error, fatal} (error: the message of a JS Error;
// fatal: the wasm trapped, and the worker is replaced by a new one, which holds no model).

/**
 * @typedef {import("./pkg/vgg_wasm.js").ModelInfo} ModelInfo
 * @typedef {import("./pkg/vgg_wasm.js").LayerInfo} LayerInfo
 * @typedef {import("./pkg/vgg_wasm.js").ConvStack} ConvStack
 * @typedef {import("./pkg/vgg_wasm.js").Prediction} Prediction
 * @typedef {import("./pkg/vgg_wasm.js").Timings} Timings
 * @typedef {import("./pkg/vgg_wasm.js").View} View
 * @typedef {import("./pkg/vgg_wasm.js").UnitField} UnitField
 * @typedef {import("./pkg/vgg_wasm.js").NestedField} NestedField
 *
 * @typedef {{width: number, height: number, rgba: ArrayBuffer}} Image  straight RGBA pixels
 * @typedef {{index: number, mean: number, h: number, w: number, data: Float32Array}} ChannelMap
 *   one channel of an activation, max-pooled down to at most `side` pixels a side
 * @typedef {{target: string, shape: number[], map: Float32Array, ms: number}} GradientMap
 *
 * Requests and replies, by type:
 * @typedef {import("./pkg/vgg_wasm.js").Backend} Backend
 * @typedef {{type: "load", bytes: ArrayBuffer, options?: object, keepActivationsUpTo?: number,
 *   backend?: "auto" | "webgpu" | "cpu"}} LoadRequest
 *   `keepActivationsUpTo`: models up to this many bytes keep their activations (for layers,
 *   channel, unitField, saliency), if their graph is a chain; default 0, none. `backend`: where classify and forward
 *   run (default "auto": WebGPU where the model and the browser allow it)
 * @typedef {{info: ModelInfo, layers: LayerInfo[] | null, layersError: string | null,
 *   convStack: ConvStack | null, activations: boolean, backend: Backend}} LoadReply
 * @typedef {{type: "preprocess", preprocess: object}} PreprocessRequest  replaces the loaded
 *   model's preprocessing (VggOptions.preprocess; the layout stays the one it was loaded with)
 * @typedef {{info: ModelInfo}} PreprocessReply  the model's facts with the new preprocessing
 * @typedef {{type: "backend", name: "webgpu" | "cpu"}} BackendRequest  switches the loaded
 *   model's backend (WebGPU only where it was loaded onto a GPU)
 * @typedef {Backend} BackendReply
 * @typedef {{type: "classify", topK: number} & Image} ClassifyRequest
 * @typedef {{predictions: Prediction[], timings: Timings, view: View, backend: Backend}} ClassifyReply
 *   `timings.backend`: which backend answered; `backend`: the model's backend after the call
 *   (the CPU, with the reason, once a device was lost)
 * @typedef {{type: "forward", channels: number} & Image} ForwardRequest
 * @typedef {{shape: number[], timings: Timings, view: View, channels: ChannelMap[], backend: Backend}} ForwardReply
 *   `channels`: the output's most active channels, strongest first
 * @typedef {{type: "layers", channels: number, side: number}} LayersRequest
 * @typedef {{layers: (LayerInfo & {channels: ChannelMap[]})[], cpuMs: number | null}} LayersReply
 *   conv, pool and fc layers; `cpuMs`: after a WebGPU run, the time the CPU took to compute
 *   the activations (WebGPU reads back only the answer), else null
 * @typedef {{type: "channel", layer: string, channel: number}} ChannelRequest
 * @typedef {{layer: string, channel: number, h: number, w: number, data: Float32Array}} ChannelReply
 * @typedef {{type: "unitField", layer: string, channel: number, y: number, x: number}} UnitFieldRequest
 * @typedef {{field: UnitField, nested: NestedField[], erf: GradientMap}} UnitFieldReply
 * @typedef {{type: "saliency", classIndex?: number}} SaliencyRequest
 * @typedef {GradientMap} SaliencyReply
 * @typedef {{type: "forwardTensor", data: ArrayBuffer, shape: number[]}} ForwardTensorRequest
 *   an input tensor already preprocessed (Float32 values; transferred)
 * @typedef {{shape: number[], data: Float32Array, timings: Timings}} ForwardTensorReply
 * @typedef {{type: "profile", data: ArrayBuffer, shape: number[]}} ProfileRequest
 * @typedef {{node: string, op: string, ms: number}[]} ProfileReply  ms per operator of
 *   tract's plan, in order
 *
 * Teaching (a second model in the worker, apart from the one shown: the convolutional base):
 * @typedef {{type: "teachStart", bytes: ArrayBuffer, options?: object,
 *   teacher?: import("./pkg/vgg_wasm.js").TeacherOptions, backend?: "auto" | "webgpu" | "cpu",
 *   items: {label: string, features?: Float32Array}[]}} TeachStartRequest
 *   loads the base (on `backend`, default "auto": WebGPU where it can) and a teacher on it,
 *   restoring stored examples (an item without features declares an empty class); the
 *   base's file is kept for the export
 * @typedef {{classes: string[], counts: number[], side: number, scales: number[], dim: number, flip: boolean,
 *   backend: Backend}} TeachState  `backend`: where the base runs, and why not the GPU
 * @typedef {{type: "teachAdd", label: string} & Image} TeachAddRequest
 * @typedef {{added: import("./pkg/vgg_wasm.js").Added} & TeachState} TeachAddReply
 * @typedef {{type: "teachClass", label: string, remove?: boolean}} TeachClassRequest  declares
 *   (or removes, with its examples) a class; replies TeachState
 * @typedef {{type: "teachTrain", options?: import("./pkg/vgg_wasm.js").TrainOptions}} TeachTrainRequest
 * @typedef {import("./pkg/vgg_wasm.js").TrainReport} TeachTrainReply
 * @typedef {{type: "teachClassify", topK: number} & Image} TeachClassifyRequest
 * @typedef {{predictions: Prediction[], timings: Timings}} TeachClassifyReply
 * @typedef {{type: "teachExport"}} TeachExportRequest
 * @typedef {{onnx: Uint8Array, sidecar: import("./pkg/vgg_wasm.js").TaughtSidecar}} TeachExportReply
 * @typedef {{type: "crashForTest"}} CrashForTestRequest  fails as a wasm trap would (tests)
 * @typedef {{type: "start", threads?: number | null, build?: string | null}} StartRequest
 *   sent first by Engine; chooses the build (www/builds.js) and starts its threads
 * @typedef {{type: "runtime"}} RuntimeRequest
 * @typedef {{build: "pkg" | "pkg-relaxed" | "pkg-threads", threads: number, relaxedSimd: boolean,
 *   isolated: boolean, cores: number, notes: string[], memoryBytes: number, int8Kernels: string,
 *   load: {url: string, bytes: number, downloadMs: number, compileMs: number} | null}} Runtime
 *   the build that runs and on how many threads; `notes` say in words why a faster one
 *   was not taken; `memoryBytes` is the wasm memory now (never shrinks: the peak);
 *   `int8Kernels`: which kernels run int8 models' matrix products, in words; `load`:
 *   its .wasm, how long its download took and how long compiling went on after it (null
 *   where a bundler moved the .wasm and the module fetched it itself, without progress)
 */

import { checkThreads } from "./builds.js";

const MAX_RESTARTS = 5;

export class Engine {
  /** @param {() => Worker} makeWorker starts a module worker running worker.js; called
   *  again to replace a worker whose wasm trapped or that died */
  constructor(makeWorker, { threads = null, build = null, onProgress = null } = {}) {
    checkThreads(threads); // here, so that a bad count throws at once, not in the worker
    this.makeWorker = makeWorker;
    this.threads = threads;
    this.build = build;
    /** Hears the download of the engine's .wasm ({what: "engine", loaded, total}), at every
     *  start and restart.  @type {((p: {what: string, loaded: number, total: number}) => void) | null} */
    this.onProgress = onProgress;
    this.pending = new Map();
    this.nextId = 1;
    /** How many times the worker was replaced. */
    this.restarts = 0;
    /** Called with the reason after the worker was replaced; the new one holds no model.
     *  @type {((reason: string) => void) | null} */
    this.onRestart = null;
    this.attach(makeWorker());
  }

  attach(worker) {
    this.worker = worker;
    /** The build the worker runs and its threads, once it started.  @type {Promise<Runtime>} */
    this.started = null;
    worker.addEventListener("message", ({ data }) => {
      if (worker !== this.worker) return;
      const req = this.pending.get(data.id);
      if ("status" in data) return req?.onStatus?.(data.status);
      if ("progress" in data) return req?.onProgress?.(data.progress);
      this.pending.delete(data.id);
      if ("error" in data) req?.reject(new Error(data.error));
      else req?.resolve(data.result);
      if (data.fatal) this.restart(data.error);
    });
    worker.addEventListener("error", (e) => {
      if (worker === this.worker) this.restart(e.message || "the worker stopped");
    });
    this.started = this.call({ type: "start", threads: this.threads, build: this.build }, { onProgress: (p) => this.onProgress?.(p) });
    // a failed start fails every request after it, with its reason; not unhandled here
    this.started.catch(() => {});
  }

  /** Replaces the worker: what was asked of the old one fails, with the reason. A worker
   *  that keeps failing (it cannot even start) is not replaced forever. */
  restart(reason) {
    this.worker.terminate();
    const again = this.restarts < MAX_RESTARTS;
    for (const req of this.pending.values()) req.reject(new Error(`the engine stopped (${reason})${again ? " and was restarted" : ""}`));
    this.pending.clear();
    if (!again) return;
    this.restarts += 1;
    this.attach(this.makeWorker());
    this.onRestart?.(reason);
  }

  /** Starts worker.js (next to this module, or at `url`) as a module worker. Written as
   *  `new Worker(new URL(...))` so that bundlers (Vite, webpack 5) bundle the worker.
   *  `threads`: how many to run on where the page is cross-origin isolated (default:
   *  onnxruntime-web's rule, half the cores and at most 4); `build`: "pkg", "pkg-relaxed"
   *  or "pkg-threads" to run that build or fail (default: the best that loads). */
  static start(url, { threads = null, build = null, onProgress = null } = {}) {
    return new Engine(() => url ? new Worker(url, { type: "module" }) : new Worker(new URL("./worker.js", import.meta.url), { type: "module" }), { threads, build, onProgress });
  }

  call(request, { transfer = [], onStatus, onProgress } = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onStatus, onProgress });
      this.worker.postMessage({ id, ...request }, transfer);
    });
  }

  /** Loads a model (the bytes are transferred); the previous one stays if this fails.
   *  @returns {Promise<LoadReply>} */
  load(bytes, { options, keepActivationsUpTo, backend, onStatus } = {}) {
    return this.call({ type: "load", bytes, options, keepActivationsUpTo, backend }, { transfer: [bytes], onStatus });
  }

  /** @returns {Promise<PreprocessReply>} */
  setPreprocess(preprocess) {
    return this.call({ type: "preprocess", preprocess });
  }

  /** @param {"webgpu" | "cpu"} name  @returns {Promise<BackendReply>} */
  setBackend(name) {
    return this.call({ type: "backend", name });
  }

  /** @param {Image} image its pixels are transferred  @returns {Promise<ClassifyReply>} */
  classify(image, topK, { onStatus } = {}) {
    return this.call({ type: "classify", ...image, topK }, { transfer: [image.rgba], onStatus });
  }

  /** @param {Image} image its pixels are transferred  @returns {Promise<ForwardReply>} */
  forward(image, channels, { onStatus } = {}) {
    return this.call({ type: "forward", ...image, channels }, { transfer: [image.rgba], onStatus });
  }

  /** @returns {Promise<LayersReply>} */
  layers(channels, side, { onStatus } = {}) {
    return this.call({ type: "layers", channels, side }, { onStatus });
  }

  /** @returns {Promise<ChannelReply>} */
  channel(layer, channel, { onStatus } = {}) {
    return this.call({ type: "channel", layer, channel }, { onStatus });
  }

  /** @returns {Promise<UnitFieldReply>} */
  unitField(layer, channel, y, x, { onStatus } = {}) {
    return this.call({ type: "unitField", layer, channel, y, x }, { onStatus });
  }

  /** @returns {Promise<Runtime>} the build, threads and wasm memory now */
  runtime() {
    return this.call({ type: "runtime" });
  }

  /** @param {Float32Array} data transferred  @returns {Promise<ForwardTensorReply>} */
  forwardTensor(data, shape, { onStatus } = {}) {
    return this.call({ type: "forwardTensor", data: data.buffer, shape }, { transfer: [data.buffer], onStatus });
  }

  /** @param {Float32Array} data transferred  @returns {Promise<ProfileReply>} */
  profile(data, shape, { onStatus } = {}) {
    return this.call({ type: "profile", data: data.buffer, shape }, { transfer: [data.buffer], onStatus });
  }

  /** @returns {Promise<SaliencyReply>} */
  saliency(classIndex, { onStatus } = {}) {
    return this.call({ type: "saliency", classIndex }, { onStatus });
  }

  /** Loads the base to teach on (its bytes are transferred) and restores `items`.
   *  @returns {Promise<TeachState>} */
  teachStart(bytes, { options, teacher, items = [], backend, onStatus } = {}) {
    return this.call({ type: "teachStart", bytes, options, teacher, items, backend }, { transfer: [bytes], onStatus });
  }

  /** @param {Image} image its pixels are transferred  @returns {Promise<TeachAddReply>} */
  teachAdd(label, image, { onStatus } = {}) {
    return this.call({ type: "teachAdd", label, ...image }, { transfer: [image.rgba], onStatus });
  }

  /** @returns {Promise<TeachState>} */
  teachClass(label, { remove = false } = {}) {
    return this.call({ type: "teachClass", label, remove });
  }

  /** @returns {Promise<TeachTrainReply>} */
  teachTrain(options, { onStatus } = {}) {
    return this.call({ type: "teachTrain", options }, { onStatus });
  }

  /** @param {Image} image its pixels are transferred  @returns {Promise<TeachClassifyReply>} */
  teachClassify(image, topK, { onStatus } = {}) {
    return this.call({ type: "teachClassify", ...image, topK }, { transfer: [image.rgba], onStatus });
  }

  /** @returns {Promise<TeachExportReply>} */
  teachExport() {
    return this.call({ type: "teachExport" });
  }
}
