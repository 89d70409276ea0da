// @ts-check
// The one client of worker.js. The page, the benchmark and the npm package's users talk to
// the model through this class; tsc checks it and the worker's handlers (www/worker/)
// against the protocol, declared once in protocol.js.
import { checkThreads } from "./builds.js";

/**
 * The worker protocol's types are in protocol.js (a reply is Protocol[type][1]); those this
 * client names besides:
 * @typedef {import("./protocol.js").Progress} Progress
 * @typedef {import("./protocol.js").Protocol} Protocol
 * @typedef {import("./protocol.js").RequestType} RequestType
 * @typedef {import("./protocol.js").Request} Request
 * @typedef {import("./protocol.js").Reply} Reply
 * @typedef {import("./protocol.js").ReplyMessage} ReplyMessage
 * @typedef {import("./protocol.js").RequestMessage} RequestMessage
 * @typedef {import("./protocol.js").Image} Image
 * @typedef {import("./protocol.js").VggOptions} VggOptions
 * @typedef {import("./protocol.js").PreprocessOptions} PreprocessOptions
 * @typedef {import("./protocol.js").VisualizeOptions} VisualizeOptions
 * @typedef {import("./protocol.js").StartRequest} StartRequest
 * @typedef {import("./protocol.js").Runtime} Runtime
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
   *  @param {{options?: VggOptions, keepActivationsUpTo?: number, backend?: Protocol["load"][0]["backend"], onStatus?: OnStatus}} [how]
   *  @returns {Promise<Protocol["load"][1]>} */
  load(bytes, { options, keepActivationsUpTo, backend, onStatus } = {}) {
    return this.call({ type: "load", bytes, options, keepActivationsUpTo, backend }, { transfer: [bytes], onStatus });
  }

  /** @param {PreprocessOptions} preprocess  @returns {Promise<Protocol["preprocess"][1]>} */
  setPreprocess(preprocess) {
    return this.call({ type: "preprocess", preprocess });
  }

  /** @param {"webgpu" | "cpu"} name  @returns {Promise<Protocol["backend"][1]>} */
  setBackend(name) {
    return this.call({ type: "backend", name });
  }

  /** @param {Image} image its pixels are transferred  @param {number} topK  @param {Listen} [how]  @returns {Promise<Protocol["classify"][1]>} */
  classify(image, topK, { onStatus } = {}) {
    return this.call({ type: "classify", ...image, topK }, { transfer: [image.rgba], onStatus });
  }

  /** @param {Image} image its pixels are transferred  @param {number} channels  @param {Listen} [how]  @returns {Promise<Protocol["forward"][1]>} */
  forward(image, channels, { onStatus } = {}) {
    return this.call({ type: "forward", ...image, channels }, { transfer: [image.rgba], onStatus });
  }

  /** @param {number} channels  @param {number} side  @param {Listen} [how]  @returns {Promise<Protocol["layers"][1]>} */
  layers(channels, side, { onStatus } = {}) {
    return this.call({ type: "layers", channels, side }, { onStatus });
  }

  /** @param {string} layer  @param {number} channel  @param {Listen} [how]  @returns {Promise<Protocol["channel"][1]>} */
  channel(layer, channel, { onStatus } = {}) {
    return this.call({ type: "channel", layer, channel }, { onStatus });
  }

  /** @param {string} layer  @param {number} channel  @param {number} y  @param {number} x  @param {Listen} [how]
   *  @returns {Promise<Protocol["unitField"][1]>} */
  unitField(layer, channel, y, x, { onStatus } = {}) {
    return this.call({ type: "unitField", layer, channel, y, x }, { onStatus });
  }

  /** @returns {Promise<Runtime>} the build, threads and wasm memory now */
  runtime() {
    return this.call({ type: "runtime" });
  }

  /** @param {Float32Array<ArrayBuffer>} data transferred  @param {number[]} shape  @param {Listen} [how]  @returns {Promise<Protocol["forwardTensor"][1]>} */
  forwardTensor(data, shape, { onStatus } = {}) {
    return this.call({ type: "forwardTensor", data: data.buffer, shape }, { transfer: [data.buffer], onStatus });
  }

  /** @param {Float32Array<ArrayBuffer>} data transferred  @param {number[]} shape  @param {Listen} [how]  @returns {Promise<Protocol["profile"][1]>} */
  profile(data, shape, { onStatus } = {}) {
    return this.call({ type: "profile", data: data.buffer, shape }, { transfer: [data.buffer], onStatus });
  }

  /** @param {number} [classIndex]  @param {Listen} [how]  @returns {Promise<Protocol["saliency"][1]>} */
  saliency(classIndex, { onStatus } = {}) {
    return this.call({ type: "saliency", classIndex }, { onStatus });
  }

  /** Starts a visualisation of what a class or channel wants to see: its first frame.
   *  @param {VisualizeOptions} options  @returns {Promise<Protocol["visualize"][1]>} */
  visualize(options) {
    return this.call({ type: "visualize", ...options });
  }

  /** @param {number} steps  @returns {Promise<Protocol["visualize"][1]>} the frame after that many more steps */
  visualizeStep(steps) {
    return this.call({ type: "visualizeStep", steps });
  }

  /** Frees the visualisation in progress, if any.  @returns {Promise<null>} */
  visualizeStop() {
    return this.call({ type: "visualizeStop" });
  }

  /** @param {string} layer  @param {number} channel  @param {number} k  @param {ArrayBuffer[]} files encoded images, transferred
   *  @param {Listen} [how]  @returns {Promise<Protocol["patches"][1]>} */
  patches(layer, channel, k, files, { onStatus } = {}) {
    return this.call({ type: "patches", layer, channel, k, files }, { transfer: files, onStatus });
  }

  /** Loads the base to teach on (its bytes are transferred) and restores `items`.
   *  @param {ArrayBuffer} bytes
   *  @param {{options?: VggOptions, teacher?: Protocol["teachStart"][0]["teacher"], items?: Protocol["teachStart"][0]["items"],
   *    backend?: Protocol["teachStart"][0]["backend"], onStatus?: OnStatus}} [how]
   *  @returns {Promise<Protocol["teachStart"][1]>} */
  teachStart(bytes, { options, teacher, items = [], backend, onStatus } = {}) {
    return this.call({ type: "teachStart", bytes, options, teacher, items, backend }, { transfer: [bytes], onStatus });
  }

  /** @param {string} label  @param {Image} image its pixels are transferred  @param {Listen} [how]  @returns {Promise<Protocol["teachAdd"][1]>} */
  teachAdd(label, image, { onStatus } = {}) {
    return this.call({ type: "teachAdd", label, ...image }, { transfer: [image.rgba], onStatus });
  }

  /** @param {string} label  @param {{remove?: boolean}} [how]  @returns {Promise<Protocol["teachStart"][1]>} */
  teachClass(label, { remove = false } = {}) {
    return this.call({ type: "teachClass", label, remove });
  }

  /** @param {Protocol["teachTrain"][0]["options"]} options  @param {Listen} [how]  @returns {Promise<Protocol["teachTrain"][1]>} */
  teachTrain(options, { onStatus } = {}) {
    return this.call({ type: "teachTrain", options }, { onStatus });
  }

  /** @param {Image} image its pixels are transferred  @param {number} topK  @param {Listen} [how]  @returns {Promise<Protocol["teachClassify"][1]>} */
  teachClassify(image, topK, { onStatus } = {}) {
    return this.call({ type: "teachClassify", ...image, topK }, { transfer: [image.rgba], onStatus });
  }

  /** @returns {Promise<Protocol["teachExport"][1]>} */
  teachExport() {
    return this.call({ type: "teachExport" });
  }
}
