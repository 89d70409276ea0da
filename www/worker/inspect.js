// @ts-check
// The worker's handlers that look inside the model shown: its layers' activations, one
// channel, a unit's receptive fields and the saliency map. They read the activations the
// CPU keeps, computed after a WebGPU run at the first request that needs them.
import { model } from "./held.js";

/**
 * @typedef {import("./held.js").Held} Held
 * @typedef {import("./held.js").Status} Status
 */

/** After a WebGPU run, the activations that layer views and gradients read are computed on
 *  the CPU (WebGPU reads back only the answer): done here, with a status, at the first
 *  request that needs them. Returns the milliseconds it took, or null.
 *  @param {import("./held.js").Held} held  @param {import("./held.js").Status} status */
function catchUp(held, status) {
  if (!held.cpuBehind) return null;
  status("computing the layers' activations on the CPU");
  const t0 = performance.now();
  model(held).completeOnCpu();
  held.cpuBehind = false;
  return performance.now() - t0;
}

/** Conv, pool and fc layers with their most active channels, small.
 *  LayersRequest → LayersReply
 *  @param {import("../protocol.js").LayersRequest} request  @param {Held} held  @param {Status} status  @returns {import("../protocol.js").LayersReply} */
export function layers({ channels, side }, held, status) {
  const cpuMs = catchUp(held, status);
  const vgg = model(held);
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
}

/** ChannelRequest → ChannelReply
 *  @param {import("../protocol.js").ChannelRequest} request  @param {Held} held  @param {Status} status  @returns {import("../protocol.js").ChannelReply} */
export function channel({ layer, channel }, held, status) {
  catchUp(held, status);
  const { shape, data } = model(held).activation(layer);
  const [, c, h, w] = shape;
  if (!(channel >= 0 && channel < c)) throw new Error(`channel ${channel} is outside layer '${layer}' (${c} channels)`);
  return { layer, channel, h, w, data: data.slice(channel * h * w, (channel + 1) * h * w) };
}

/** UnitFieldRequest → UnitFieldReply
 *  @param {import("../protocol.js").UnitFieldRequest} request  @param {Held} held  @param {Status} status  @returns {import("../protocol.js").UnitFieldReply} */
export function unitField({ layer, channel, y, x }, held, status) {
  catchUp(held, status);
  const vgg = model(held);
  const field = vgg.receptiveField(layer, y, x);
  const nested = vgg.nestedFields(layer, y, x);
  status("computing the gradient");
  return { field, nested, erf: gradientMap(vgg.effectiveReceptiveField(layer, channel, y, x)) };
}

/** SaliencyRequest → SaliencyReply
 *  @param {import("../protocol.js").SaliencyRequest} request  @param {Held} held  @param {Status} status  @returns {import("../protocol.js").SaliencyReply} */
export function saliency({ classIndex }, held, status) {
  catchUp(held, status);
  status("computing the gradient");
  return gradientMap(model(held).saliency(classIndex));
}

/** A gradient without its [C, H, W] part, which the page does not draw.
 *  @param {import("../pkg/vgg_wasm.js").GradientMap} g  @returns {import("../protocol.js").GradientMap} */
function gradientMap({ target, shape, map, ms }) {
  return { target, shape, map, ms };
}

/** The `count` channels with the largest mean activation, max-pooled to at most `side`
 *  pixels a side.  @param {{shape: number[], data: Float32Array}} tensor  @param {number} count  @param {number} side
 *  @returns {import("../protocol.js").ChannelMap[]} */
export function topChannels({ shape, data }, count, side) {
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
