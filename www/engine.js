// @ts-check
// The one client of worker.js, and the one place its protocol is declared (below: Protocol
// pairs each request with its reply; the envelopes carry them). The page, the benchmark and
// the npm package's users talk to the model through this class; tsc checks it and the
// worker's handlers (www/worker/) against the protocol.
import { checkThreads } from "./builds.js";

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
 * @typedef {import("./pkg/vgg_wasm.js").VggOptions} VggOptions
 * @typedef {import("./pkg/vgg_wasm.js").PreprocessOptions} PreprocessOptions
 * @typedef {{index: number, mean: number, h: number, w: number, data: Float32Array}} ChannelMap  one channel, max-pooled to `side` px
 * @typedef {Omit<import("./pkg/vgg_wasm.js").GradientMap, "gradient">} GradientMap  the package's
 *   GradientMap without its [C, H, W] `gradient`, which the page does not draw (not sent)
 *
 * Requests and replies, by type:
 * @typedef {import("./pkg/vgg_wasm.js").Backend} Backend
 * @typedef {{type: "load", bytes: ArrayBuffer, options?: VggOptions, keepActivationsUpTo?: number, backend?: "auto" | "webgpu" | "cpu"}} LoadRequest
 *   `keepActivationsUpTo`: models up to this many bytes keep their activations (for layers, channel, unitField, saliency), if
 *   their graph is a chain; default 0, none. `backend`: where classify and forward run (default "auto": WebGPU where it can)
 * @typedef {{info: ModelInfo, layers: LayerInfo[] | null, layersError: string | null, convStack: ConvStack | null, activations: boolean,
 *   backend: Backend}} LoadReply
 * @typedef {{type: "preprocess", preprocess: PreprocessOptions}} PreprocessRequest  replaces the loaded model's preprocessing
 *   (VggOptions.preprocess; the layout stays the one it was loaded with)
 * @typedef {{info: ModelInfo}} PreprocessReply  the model's facts with the new preprocessing
 * @typedef {{type: "backend", name: "webgpu" | "cpu"}} BackendRequest  switches the loaded model's backend (WebGPU only where
 *   it was loaded onto a GPU)
 * @typedef {Backend} BackendReply
 * @typedef {{type: "classify", topK: number} & Image} ClassifyRequest
 * @typedef {{predictions: Prediction[], timings: Timings, view: View, backend: Backend}} ClassifyReply  `timings.backend`: which
 *   backend answered; `backend`: the model's backend after the call (the CPU, with the reason, once a device was lost)
 * @typedef {{type: "forward", channels: number} & Image} ForwardRequest
 * @typedef {{shape: number[], timings: Timings, view: View, channels: ChannelMap[], backend: Backend}} ForwardReply
 *   `channels`: the output's most active channels, strongest first
 * @typedef {{type: "layers", channels: number, side: number}} LayersRequest
 * @typedef {{layers: (LayerInfo & {channels: ChannelMap[]})[], cpuMs: number | null}} LayersReply  conv, pool and fc layers;
 *   `cpuMs`: after a WebGPU run, the time the CPU took to compute the activations (WebGPU reads back only the answer), else null
 * @typedef {{type: "channel", layer: string, channel: number}} ChannelRequest
 * @typedef {{layer: string, channel: number, h: number, w: number, data: Float32Array}} ChannelReply
 * @typedef {{type: "unitField", layer: string, channel: number, y: number, x: number}} UnitFieldRequest
 * @typedef {{field: UnitField, nested: NestedField[], erf: GradientMap}} UnitFieldReply
 * @typedef {{type: "saliency", classIndex?: number}} SaliencyRequest
 * @typedef {GradientMap} SaliencyReply
 * @typedef {import("./pkg/vgg_wasm.js").VisualizeOptions} VisualizeOptions
 * @typedef {{type: "visualize"} & VisualizeOptions} VisualizeRequest  starts a visualisation of the model shown (replacing
 *   the one before, which is freed); replies with its first frame, before any step
 * @typedef {Omit<import("./pkg/vgg_wasm.js").VisualizationFrame, "rgba"> & {rgba: Uint8ClampedArray<ArrayBuffer>}} VisualizeReply
 *   the image now (transferred) and what the model makes of it
 * @typedef {{type: "visualizeStep", steps: number}} VisualizeStepRequest  takes that many more steps of the visualisation
 * @typedef {{type: "visualizeStop"}} VisualizeStopRequest  frees the visualisation (a cancel)
 * @typedef {{type: "patches", layer: string, channel: number, k: number, files: ArrayBuffer[]}} PatchesRequest  the k units of
 *   the channel that fire most over the encoded image files (transferred); the last run is left as it was
 * @typedef {import("./pkg/vgg_wasm.js").Patch[]} PatchesReply
 * @typedef {{type: "forwardTensor", data: ArrayBuffer, shape: number[]}} ForwardTensorRequest  an input tensor already
 *   preprocessed (Float32 values; transferred)
 * @typedef {{shape: number[], data: Float32Array, timings: Timings}} ForwardTensorReply
 * @typedef {{type: "profile", data: ArrayBuffer, shape: number[]}} ProfileRequest
 * @typedef {{node: string, op: string, ms: number}[]} ProfileReply  ms per operator of tract's plan, in order
 *
 * Teaching (a second model in the worker, apart from the one shown: the convolutional base):
 * @typedef {{type: "teachStart", bytes: ArrayBuffer, options?: VggOptions, teacher?: import("./pkg/vgg_wasm.js").TeacherOptions,
 *   backend?: "auto" | "webgpu" | "cpu", items: {label: string, features?: Float32Array}[]}} TeachStartRequest  loads the base
 *   (on `backend`, default "auto": WebGPU where it can) and a teacher on it, restoring stored examples (an item without
 *   features declares an empty class); the base's file is kept for the export
 * @typedef {{classes: string[], counts: number[], side: number, scales: number[], dim: number, flip: boolean,
 *   backend: Backend}} TeachState  `backend`: where the base runs, and why not the GPU
 * @typedef {{type: "teachAdd", label: string} & Image} TeachAddRequest
 * @typedef {{added: import("./pkg/vgg_wasm.js").Added} & TeachState} TeachAddReply
 * @typedef {{type: "teachClass", label: string, remove?: boolean}} TeachClassRequest  declares (or removes, with its examples) a class
 * @typedef {{type: "teachTrain", options?: import("./pkg/vgg_wasm.js").TrainOptions}} TeachTrainRequest
 * @typedef {import("./pkg/vgg_wasm.js").TrainReport} TeachTrainReply
 * @typedef {{type: "teachClassify", topK: number} & Image} TeachClassifyRequest
 * @typedef {{predictions: Prediction[], timings: Timings}} TeachClassifyReply
 * @typedef {{type: "teachExport"}} TeachExportRequest
 * @typedef {{onnx: Uint8Array<ArrayBuffer>, sidecar: import("./pkg/vgg_wasm.js").TaughtSidecar}} TeachExportReply
 * @typedef {{type: "crashForTest"}} CrashForTestRequest  fails as a wasm trap would (tests)
 * @typedef {{type: "start", threads?: number | null, build?: string | null}} StartRequest  sent first by Engine; chooses the
 *   build (www/builds.js) and starts its threads
 * @typedef {{type: "runtime"}} RuntimeRequest
 * @typedef {{build: "pkg" | "pkg-threads", threads: number, relaxedSimd: boolean, isolated: boolean, cores: number,
 *   notes: string[], memoryBytes: number, int8Kernels: string, load: {url: string, bytes: number, downloadMs: number,
 *   compileMs: number} | null}} Runtime  the build that runs and on how many threads; `notes` say in words why a faster one
 *   was not taken; `memoryBytes` is the wasm memory now (never shrinks: the peak); `int8Kernels`: which kernels run int8
 *   models' matrix products, in words; `load`: its .wasm, how long its download took and how long compiling went on after
 *   it (null where a bundler moved the .wasm and the module fetched it itself, without progress)
 *
 * The protocol: each request type, with its request and its reply.
 * @typedef {{start: [StartRequest, Runtime], runtime: [RuntimeRequest, Runtime], load: [LoadRequest, LoadReply],
 *   preprocess: [PreprocessRequest, PreprocessReply], backend: [BackendRequest, BackendReply], classify: [ClassifyRequest, ClassifyReply],
 *   forward: [ForwardRequest, ForwardReply], layers: [LayersRequest, LayersReply], channel: [ChannelRequest, ChannelReply],
 *   unitField: [UnitFieldRequest, UnitFieldReply], saliency: [SaliencyRequest, SaliencyReply], profile: [ProfileRequest, ProfileReply],
 *   visualize: [VisualizeRequest, VisualizeReply], visualizeStep: [VisualizeStepRequest, VisualizeReply],
 *   visualizeStop: [VisualizeStopRequest, null], patches: [PatchesRequest, PatchesReply],
 *   forwardTensor: [ForwardTensorRequest, ForwardTensorReply], teachStart: [TeachStartRequest, TeachState],
 *   teachAdd: [TeachAddRequest, TeachAddReply], teachClass: [TeachClassRequest, TeachState], teachTrain: [TeachTrainRequest, TeachTrainReply],
 *   teachClassify: [TeachClassifyRequest, TeachClassifyReply], teachExport: [TeachExportRequest, TeachExportReply],
 *   crashForTest: [CrashForTestRequest, never]}} Protocol
 * @typedef {keyof Protocol} RequestType
 * @typedef {Protocol[RequestType][0]} Request  the union of requests, told apart by `type`
 * @typedef {Protocol[RequestType][1]} Reply  the union of replies
 *
 * The envelopes:
 * @typedef {{what: string, loaded: number, total: number}} Progress  a download's bytes so far (`what`: "engine", the .wasm; `total` 0: unknown)
 * @typedef {{id: number} & Request} RequestMessage  what the client posts; `id` pairs the answers
 * @typedef {{id: number, status: string}} StatusMessage  what the worker is doing, in words
 * @typedef {{id: number, progress: Progress}} ProgressMessage  a download's progress
 * @typedef {{id: number, result: Reply}} ResultMessage  the request's reply, last
 * @typedef {{id: number, error: string, fatal: boolean}} ErrorMessage  or its failure, last: `error` is the message of a
 *   JS Error; `fatal`: the wasm trapped, and the client replaces the worker by a new one, which holds no model
 * @typedef {StatusMessage | ProgressMessage | ResultMessage | ErrorMessage} ReplyMessage
 *
 * The client's own:
 * @typedef {(status: string) => void} OnStatus  hears what the worker is doing, in words
 * @typedef {{onStatus?: OnStatus}} Listen
 * @typedef {{resolve: (reply: Reply) => void, reject: (e: Error) => void} & Listen & Pick<EngineOptions, "onProgress">} Pending  unanswered
 * @typedef {{threads?: number | null, build?: StartRequest["build"], onProgress?: ((p: Progress) => void) | null}} EngineOptions
 */

const MAX_RESTARTS = 5;

export class Engine {
  /** @param {() => Worker} makeWorker starts a module worker running worker.js; called again to replace a worker whose
   *  wasm trapped or that died  @param {EngineOptions} [options] */
  constructor(makeWorker, { threads = null, build = null, onProgress = null } = {}) {
    checkThreads(threads); // here, so that a bad count throws at once, not in the worker
    this.makeWorker = makeWorker;
    this.threads = threads;
    this.build = build;
    /** Hears the download of the engine's .wasm, at every start and restart.  @type {EngineOptions["onProgress"]} */
    this.onProgress = onProgress;
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    this.nextId = 1;
    /** How many times the worker was replaced. */
    this.restarts = 0;
    /** Called with the reason after the worker was replaced; the new one holds no model.
     *  @type {((reason: string) => void) | null} */
    this.onRestart = null;
    this.attach(makeWorker());
  }

  /** @param {Worker} worker */
  attach(worker) {
    this.worker = worker;
    /** The build the worker runs and its threads, once it started.  @type {Promise<Runtime>} */
    this.started = null;
    worker.addEventListener("message", (/** @type {MessageEvent<ReplyMessage>} */ { data }) => {
      if (worker !== this.worker) return;
      const req = this.pending.get(data.id);
      if ("status" in data) return req?.onStatus?.(data.status);
      if ("progress" in data) return req?.onProgress?.(data.progress);
      this.pending.delete(data.id);
      if ("error" in data) {
        req?.reject(new Error(data.error));
        if (data.fatal) this.restart(data.error);
      } else {
        req?.resolve(data.result);
      }
    });
    worker.addEventListener("error", (e) => {
      if (worker === this.worker) this.restart(e.message || "the worker stopped");
    });
    this.started = this.call({ type: "start", threads: this.threads, build: this.build }, { onProgress: (p) => this.onProgress?.(p) });
    // a failed start fails every request after it, with its reason; not unhandled here
    this.started.catch(() => {});
  }

  /** Replaces the worker: what was asked of the old one fails, with the reason. A worker
   *  that keeps failing (it cannot even start) is not replaced forever.  @param {string} reason */
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
   *  onnxruntime-web's rule, half the cores and at most 4); `build`: "pkg" or
   *  "pkg-threads" to run that build or fail (default: the best that loads).
   *  @param {string | URL} [url]  @param {EngineOptions} [options] */
  static start(url, { threads = null, build = null, onProgress = null } = {}) {
    return new Engine(() => url ? new Worker(url, { type: "module" }) : new Worker(new URL("./worker.js", import.meta.url), { type: "module" }), { threads, build, onProgress });
  }

  /** Posts `request`; its reply is the Protocol's for its type.
   *  @template {RequestType} T
   *  @param {Request & {type: T}} request
   *  @param {{transfer?: Transferable[], onStatus?: OnStatus, onProgress?: (p: Progress) => void}} [how]
   *  @returns {Promise<Protocol[T][1]>} */
  call(request, { transfer = [], onStatus, onProgress } = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onStatus, onProgress });
      /** @type {RequestMessage} */
      const message = { id, ...request };
      this.worker.postMessage(message, transfer);
    });
  }

  /** Loads a model (the bytes are transferred); the previous one stays if this fails.
   *  @param {ArrayBuffer} bytes
   *  @param {{options?: VggOptions, keepActivationsUpTo?: number, backend?: LoadRequest["backend"], onStatus?: OnStatus}} [how]
   *  @returns {Promise<LoadReply>} */
  load(bytes, { options, keepActivationsUpTo, backend, onStatus } = {}) {
    return this.call({ type: "load", bytes, options, keepActivationsUpTo, backend }, { transfer: [bytes], onStatus });
  }

  /** @param {PreprocessOptions} preprocess  @returns {Promise<PreprocessReply>} */
  setPreprocess(preprocess) {
    return this.call({ type: "preprocess", preprocess });
  }

  /** @param {"webgpu" | "cpu"} name  @returns {Promise<BackendReply>} */
  setBackend(name) {
    return this.call({ type: "backend", name });
  }

  /** @param {Image} image its pixels are transferred  @param {number} topK  @param {Listen} [how]  @returns {Promise<ClassifyReply>} */
  classify(image, topK, { onStatus } = {}) {
    return this.call({ type: "classify", ...image, topK }, { transfer: [image.rgba], onStatus });
  }

  /** @param {Image} image its pixels are transferred  @param {number} channels  @param {Listen} [how]  @returns {Promise<ForwardReply>} */
  forward(image, channels, { onStatus } = {}) {
    return this.call({ type: "forward", ...image, channels }, { transfer: [image.rgba], onStatus });
  }

  /** @param {number} channels  @param {number} side  @param {Listen} [how]  @returns {Promise<LayersReply>} */
  layers(channels, side, { onStatus } = {}) {
    return this.call({ type: "layers", channels, side }, { onStatus });
  }

  /** @param {string} layer  @param {number} channel  @param {Listen} [how]  @returns {Promise<ChannelReply>} */
  channel(layer, channel, { onStatus } = {}) {
    return this.call({ type: "channel", layer, channel }, { onStatus });
  }

  /** @param {string} layer  @param {number} channel  @param {number} y  @param {number} x  @param {Listen} [how]
   *  @returns {Promise<UnitFieldReply>} */
  unitField(layer, channel, y, x, { onStatus } = {}) {
    return this.call({ type: "unitField", layer, channel, y, x }, { onStatus });
  }

  /** @returns {Promise<Runtime>} the build, threads and wasm memory now */
  runtime() {
    return this.call({ type: "runtime" });
  }

  /** @param {Float32Array<ArrayBuffer>} data transferred  @param {number[]} shape  @param {Listen} [how]  @returns {Promise<ForwardTensorReply>} */
  forwardTensor(data, shape, { onStatus } = {}) {
    return this.call({ type: "forwardTensor", data: data.buffer, shape }, { transfer: [data.buffer], onStatus });
  }

  /** @param {Float32Array<ArrayBuffer>} data transferred  @param {number[]} shape  @param {Listen} [how]  @returns {Promise<ProfileReply>} */
  profile(data, shape, { onStatus } = {}) {
    return this.call({ type: "profile", data: data.buffer, shape }, { transfer: [data.buffer], onStatus });
  }

  /** @param {number} [classIndex]  @param {Listen} [how]  @returns {Promise<SaliencyReply>} */
  saliency(classIndex, { onStatus } = {}) {
    return this.call({ type: "saliency", classIndex }, { onStatus });
  }

  /** Starts a visualisation of what a class or channel wants to see: its first frame.
   *  @param {VisualizeOptions} options  @returns {Promise<VisualizeReply>} */
  visualize(options) {
    return this.call({ type: "visualize", ...options });
  }

  /** @param {number} steps  @returns {Promise<VisualizeReply>} the frame after that many more steps */
  visualizeStep(steps) {
    return this.call({ type: "visualizeStep", steps });
  }

  /** Frees the visualisation in progress, if any.  @returns {Promise<null>} */
  visualizeStop() {
    return this.call({ type: "visualizeStop" });
  }

  /** @param {string} layer  @param {number} channel  @param {number} k  @param {ArrayBuffer[]} files encoded images, transferred
   *  @param {Listen} [how]  @returns {Promise<PatchesReply>} */
  patches(layer, channel, k, files, { onStatus } = {}) {
    return this.call({ type: "patches", layer, channel, k, files }, { transfer: files, onStatus });
  }

  /** Loads the base to teach on (its bytes are transferred) and restores `items`.
   *  @param {ArrayBuffer} bytes
   *  @param {{options?: VggOptions, teacher?: TeachStartRequest["teacher"], items?: TeachStartRequest["items"],
   *    backend?: TeachStartRequest["backend"], onStatus?: OnStatus}} [how]
   *  @returns {Promise<TeachState>} */
  teachStart(bytes, { options, teacher, items = [], backend, onStatus } = {}) {
    return this.call({ type: "teachStart", bytes, options, teacher, items, backend }, { transfer: [bytes], onStatus });
  }

  /** @param {string} label  @param {Image} image its pixels are transferred  @param {Listen} [how]  @returns {Promise<TeachAddReply>} */
  teachAdd(label, image, { onStatus } = {}) {
    return this.call({ type: "teachAdd", label, ...image }, { transfer: [image.rgba], onStatus });
  }

  /** @param {string} label  @param {{remove?: boolean}} [how]  @returns {Promise<TeachState>} */
  teachClass(label, { remove = false } = {}) {
    return this.call({ type: "teachClass", label, remove });
  }

  /** @param {TeachTrainRequest["options"]} options  @param {Listen} [how]  @returns {Promise<TeachTrainReply>} */
  teachTrain(options, { onStatus } = {}) {
    return this.call({ type: "teachTrain", options }, { onStatus });
  }

  /** @param {Image} image its pixels are transferred  @param {number} topK  @param {Listen} [how]  @returns {Promise<TeachClassifyReply>} */
  teachClassify(image, topK, { onStatus } = {}) {
    return this.call({ type: "teachClassify", ...image, topK }, { transfer: [image.rgba], onStatus });
  }

  /** @returns {Promise<TeachExportReply>} */
  teachExport() {
    return this.call({ type: "teachExport" });
  }
}
