// @ts-check
// What a unit wants to see: a visualisation formed step by step (each step a request, so
// that other requests run between them and the page can stop or supersede it), and the
// patches of the samples where a channel fires most.
import { model } from "./held.js";

/** @typedef {import("./held.js").Held} Held  @typedef {import("./held.js").Status} Status */

/** A frame as the protocol sends it.  @param {import("../pkg/vgg_wasm.js").VisualizationFrame} f
 *  @returns {import("../protocol.js").VisualizeReply} */
function frame(f) {
  return { ...f, rgba: new Uint8ClampedArray(f.rgba) };
}

/** VisualizeRequest → VisualizeReply
 *  @param {import("../protocol.js").VisualizeRequest} request  @param {Held} held  @returns {import("../protocol.js").VisualizeReply} */
export function start(request, held) {
  // the options the request carries, without the envelope's type and id
  const { target, size, steps, seed, learningRate, l2, tv, jitter, rotate, scale } = request;
  const next = model(held).visualize({ target, size, steps, seed, learningRate, l2, tv, jitter, rotate, scale });
  held.visualization?.free();
  held.visualization = next;
  return frame(next.step(0));
}

/** VisualizeStepRequest → VisualizeReply
 *  @param {import("../protocol.js").VisualizeStepRequest} request  @param {Held} held  @returns {import("../protocol.js").VisualizeReply} */
export function step({ steps }, held) {
  if (!held.visualization) throw new Error("no visualisation is in progress: start one first");
  return frame(held.visualization.step(steps));
}

/** VisualizeStopRequest → null  @param {import("../protocol.js").VisualizeStopRequest} _  @param {Held} held  @returns {null} */
export function stop(_, held) {
  held.visualization?.free();
  held.visualization = null;
  return null;
}

/** PatchesRequest → PatchesReply
 *  @param {import("../protocol.js").PatchesRequest} request  @param {Held} held  @param {Status} status
 *  @returns {import("../protocol.js").PatchesReply} */
export function patches({ layer, channel, k, files }, held, status) {
  status(`running ${files.length} images`);
  return model(held).topPatches(files.map((f) => new Uint8Array(f)), layer, channel, k);
}
