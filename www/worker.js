// The module worker that owns the wasm module and the model: every engine call happens
// here, so the page's main thread never blocks on inference.
//
// Protocol: the page posts {id, type, ...}; the worker answers {id, status} while working,
// then {id, result} or {id, error}. Types: "load" {bytes, options}, "classify" {rgba,
// width, height, topK}, "forward" {rgba, width, height}, "strip", "channel" {layer,
// channel}, "unit" {layer, channel, y, x}, "saliency".
import init, { Vgg } from "./pkg/vgg_wasm.js";

// Models up to this size keep their activations (layer views, gradients); the 500 MB
// ImageNet VGGs would need twice their size again in wasm memory, which has 4 GiB.
const ACTIVATIONS_MAX_BYTES = 200 * 1024 * 1024;
const THUMB_MAX = 64; // thumbnails are max-pooled down to at most this many pixels a side
const THUMBS_PER_LAYER = 3;

const ready = init();
let vgg = null; // the current model; replaced only by a successful load
let last = null; // {width, height, rgba} of the last image run, for views and gradients

const handlers = {
  async load({ bytes, options }, status) {
    status("optimising the model");
    const activations = bytes.byteLength <= ACTIVATIONS_MAX_BYTES;
    const next = new Vgg(new Uint8Array(bytes), { ...options, activations }); // throws on a bad model
    const previous = vgg;
    vgg = next;
    previous?.free();
    last = null;
    let layers = null;
    let layersError = null;
    try {
      layers = vgg.layers();
    } catch (e) {
      layersError = e.message;
    }
    return { ...vgg.info, layers, layersError, activations };
  },
  async classify({ rgba, width, height, topK }, status) {
    requireModel();
    status("running the model");
    const predictions = vgg.classify(new Uint8Array(rgba), width, height, topK);
    remember(rgba, width, height);
    return { predictions: [...predictions], timings: predictions.timings, view: view() };
  },
  async forward({ rgba, width, height }, status) {
    requireModel();
    status("running the model");
    const out = vgg.forward(new Uint8Array(rgba), width, height);
    remember(rgba, width, height);
    return { ...out, view: view() };
  },
  // per displayed layer: its analysis and the most active channels, small
  async strip() {
    requireRun();
    const layers = vgg.layers();
    return layers.filter((l) => /^(conv|pool|fc)\d/.test(l.label)).map((l) => {
      let channels = [];
      try {
        const { shape, data } = vgg.activation(l.label);
        channels = topChannels(shape, data);
      } catch {
        // not kept (the model was too large to keep activations)
      }
      return { ...l, channels };
    });
  },
  async channel({ layer, channel }) {
    requireRun();
    const { shape, data } = vgg.activation(layer);
    const [, , h, w] = shape;
    return { layer, channel, h, w, data: data.slice(channel * h * w, (channel + 1) * h * w) };
  },
  async unit({ layer, channel, y, x }, status) {
    requireRun();
    const field = vgg.receptiveField(layer, y, x);
    const nested = vgg.nestedFields(layer, y, x);
    status("computing the gradient");
    const erf = vgg.effectiveReceptiveField(layer, channel, y, x);
    return { layer, channel, y, x, field, nested, erf: { map: erf.map, shape: erf.shape, ms: erf.ms, target: erf.target } };
  },
  async saliency(_, status) {
    requireRun();
    status("computing the gradient");
    const s = vgg.saliency();
    return { map: s.map, shape: s.shape, ms: s.ms, target: s.target };
  },
};

function requireModel() {
  if (!vgg) throw new Error("no model is loaded yet: choose one first");
}

function requireRun() {
  requireModel();
  if (!last) throw new Error("run the model on an image first");
}

function remember(rgba, width, height) {
  last = { rgba: new Uint8Array(rgba), width, height };
}

function view() {
  const v = vgg.modelView(last.rgba, last.width, last.height);
  return { ...v, geometry: vgg.inputGeometry(last.width, last.height) };
}

/** The channels with the largest mean activation, max-pooled down to thumbnails. */
function topChannels(shape, data) {
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
  const f = Math.max(1, Math.ceil(Math.max(h, w) / THUMB_MAX));
  const th = Math.ceil(h / f), tw = Math.ceil(w / f);
  return means.slice(0, THUMBS_PER_LAYER).map(([mean, ch]) => {
    const t = new Float32Array(th * tw);
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
  try {
    await ready;
    const handler = handlers[type];
    if (!handler) throw new Error(`unknown request type ${JSON.stringify(type)}`);
    const result = await handler(data, status);
    self.postMessage({ id, result });
  } catch (e) {
    self.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
};
