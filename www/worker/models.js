// @ts-check
// The worker's handlers for the model shown on the page: load it, change its preprocessing
// or backend, run it (on pixels or on a tensor), profile it, and report the runtime.
import { model } from "./held.js";
import { topChannels } from "./inspect.js";

/**
 * @typedef {import("./held.js").Held} Held
 * @typedef {import("./held.js").Status} Status
 */

/** @param {import("./held.js").Vgg} vgg */
function runningOn(vgg) {
  return vgg.backend.name === "webgpu" ? "running the model on WebGPU" : "running the model";
}

/** Handles StartRequest and RuntimeRequest (the build was chosen when the first request
 *  arrived: the start request carries the choice): the build in use, with the wasm memory's
 *  size now (it never shrinks: the peak).
 *  @param {import("../protocol.js").StartRequest | import("../protocol.js").RuntimeRequest} _request  @param {Held} held  @returns {import("../protocol.js").Runtime} */
export function runtime(_request, held) {
  return { ...held.runtime, memoryBytes: held.api.memoryBytes() };
}

/** LoadRequest → LoadReply
 *  @param {import("../protocol.js").LoadRequest} request  @param {Held} held  @param {Status} status  @returns {Promise<import("../protocol.js").LoadReply>} */
export async function load({ bytes, options, keepActivationsUpTo = 0, backend = "auto" }, held, status) {
  // no GPU words before the engine knows there is one: the loaded line says where it went
  status("optimising the model");
  let activations = bytes.byteLength <= keepActivationsUpTo;
  // throws on a bad model; "auto" takes the CPU, with the reason, where WebGPU cannot run it
  /** @param {boolean} keep */
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
  // a visualisation holds the model it was made on: it goes with it
  held.visualization?.free();
  held.visualization = null;
  held.cpuBehind = false;
  let layers = null, layersError = null, convStack = null;
  try {
    layers = next.layers();
    convStack = next.convStack();
  } catch (e) {
    layersError = e.message;
  }
  return { info: next.info, layers, layersError, convStack, activations, backend: next.backend };
}

/** PreprocessRequest → PreprocessReply
 *  @param {import("../protocol.js").PreprocessRequest} request  @param {Held} held  @returns {import("../protocol.js").PreprocessReply} */
export function preprocess({ preprocess }, held) {
  const vgg = model(held);
  vgg.setPreprocess(preprocess);
  held.cpuBehind = false;
  return { info: vgg.info };
}

/** BackendRequest → BackendReply
 *  @param {import("../protocol.js").BackendRequest} request  @param {Held} held  @returns {import("../protocol.js").BackendReply} */
export function backend({ name }, held) {
  const vgg = model(held);
  vgg.useBackend(name);
  return vgg.backend;
}

/** ClassifyRequest → ClassifyReply
 *  @param {import("../protocol.js").ClassifyRequest} request  @param {Held} held  @param {Status} status  @returns {Promise<import("../protocol.js").ClassifyReply>} */
export async function classify({ rgba, width, height, topK }, held, status) {
  const vgg = model(held);
  status(runningOn(vgg));
  const predictions = await vgg.classifyAsync(new Uint8Array(rgba), width, height, topK);
  held.cpuBehind = predictions.timings.backend === "webgpu";
  return { predictions: [...predictions], timings: predictions.timings, view: vgg.modelView(), backend: vgg.backend };
}

/** ForwardRequest → ForwardReply
 *  @param {import("../protocol.js").ForwardRequest} request  @param {Held} held  @param {Status} status  @returns {Promise<import("../protocol.js").ForwardReply>} */
export async function forward({ rgba, width, height, channels }, held, status) {
  const vgg = model(held);
  status(runningOn(vgg));
  const out = await vgg.forwardAsync(new Uint8Array(rgba), width, height);
  held.cpuBehind = out.timings.backend === "webgpu";
  return { shape: out.shape, timings: out.timings, view: vgg.modelView(), channels: topChannels(out, channels, Infinity), backend: vgg.backend };
}

/** ForwardTensorRequest → ForwardTensorReply
 *  @param {import("../protocol.js").ForwardTensorRequest} request  @param {Held} held  @param {Status} status  @returns {Promise<import("../protocol.js").ForwardTensorReply>} */
export async function forwardTensor({ data, shape }, held, status) {
  const vgg = model(held);
  status(runningOn(vgg));
  const out = await vgg.forwardTensorAsync(new Float32Array(data), shape);
  held.cpuBehind = out.timings.backend === "webgpu";
  return { shape: out.shape, data: out.data, timings: out.timings };
}

/** ProfileRequest → ProfileReply
 *  @param {import("../protocol.js").ProfileRequest} request  @param {Held} held  @param {Status} status  @returns {import("../protocol.js").ProfileReply} */
export function profile({ data, shape }, held, status) {
  status("running the model, timing each operator");
  return model(held).profileTensor(new Float32Array(data), shape);
}

/** For tests of recovery: fails as a trap in the wasm would (an engine bug, memory
 *  exhausted), after which this worker must be replaced.  CrashForTestRequest → never
 *  @returns {never} */
export function crashForTest() {
  throw new WebAssembly.RuntimeError("unreachable (a test asked for a trap)");
}
