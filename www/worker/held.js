// @ts-check
// What the worker's handlers share: the type of its one state object (declared in worker.js)
// and of a handler, and the checked look-ups of what a request needs.

/**
 * @typedef {import("../pkg/vgg_wasm.js") & {initThreadPool?: (threads: number) => Promise<unknown>}} Api
 *   one build's module: every build has the baseline's API, the threaded one initThreadPool too
 * @typedef {import("../pkg/vgg_wasm.js").Vgg} Vgg
 * @typedef {import("../pkg/vgg_wasm.js").Teacher} Teacher
 * @typedef {import("../protocol.js").Runtime} Runtime
 * @typedef {import("../protocol.js").Protocol} Protocol
 *
 * @typedef {object} Held  the worker's state; only a successful load replaces its model
 * @property {Promise<Omit<Runtime, "memoryBytes">> | null} ready  the build's start, begun by the first request
 * @property {Api | null} api  the build in use, once started
 * @property {Omit<Runtime, "memoryBytes"> | null} runtime  which build runs, on how many threads, and how it loaded
 * @property {Vgg | null} vgg  the model shown on the page
 * @property {boolean} cpuBehind  the last run was on WebGPU and the CPU has not computed its activations yet
 * @property {import("../pkg/vgg_wasm.js").Visualization | null} visualization  the visualisation in progress on `vgg`
 * @property {{base: Vgg, bytes: Uint8Array, teacher: Teacher} | null} teach  the base and the teacher for
 *   new classes, apart from the model shown; `bytes`: the base's file, which the export appends to
 *
 * @typedef {(text: string) => void} Status  tells the client what the handler is doing, in words
 */

/**
 * A handler of requests of type T: it receives the request, the worker's state and a status
 * line, and returns (or resolves to) the Protocol's reply for T.
 * @template {keyof Protocol} T
 * @typedef {(request: Protocol[T][0], held: Held, status: Status) => Protocol[T][1] | Promise<Protocol[T][1]>} Handler
 */

/** @typedef {{[T in keyof Protocol]: Handler<T>}} Handlers  one handler per request type */

/** The model shown; throws where none is loaded.  @param {Held} held */
export function model(held) {
  if (!held.vgg) throw new Error("no model is loaded yet: choose one first");
  return held.vgg;
}

/** The teacher; throws before teaching started.  @param {Held} held */
export function teacher(held) {
  if (!held.teach) throw new Error("teaching has not started: load the convolutional base first");
  return held.teach.teacher;
}
