// The module worker that owns the wasm module and the model: every engine call happens
// here, so the page's main thread never blocks on inference.
//
// Protocol: the page posts {id, type, ...}; the worker answers {id, status} while working,
// then {id, result} or {id, error}. Types: "load" {bytes, options, name}, "classify"
// {rgba, width, height, topK}, "forward" {rgba, width, height}.
import init, { Vgg } from "./pkg/vgg_wasm.js";

const ready = init();
let vgg = null; // the current model; replaced only by a successful load

const handlers = {
  async load({ bytes, options }, status) {
    status("optimising the model");
    const next = new Vgg(new Uint8Array(bytes), options ?? undefined); // throws on a bad model
    const previous = vgg;
    vgg = next;
    previous?.free();
    return vgg.info;
  },
  async classify({ rgba, width, height, topK }, status) {
    requireModel();
    status("running the model");
    const predictions = vgg.classify(new Uint8Array(rgba), width, height, topK);
    return { predictions: [...predictions], timings: predictions.timings };
  },
  async forward({ rgba, width, height }, status) {
    requireModel();
    status("running the model");
    return vgg.forward(new Uint8Array(rgba), width, height);
  },
};

function requireModel() {
  if (!vgg) throw new Error("no model is loaded yet: open an ONNX file first");
}

self.onmessage = async ({ data }) => {
  const { id, type } = data;
  const status = (text) => self.postMessage({ id, status: text });
  try {
    await ready;
    const handler = handlers[type];
    if (!handler) throw new Error(`unknown request type ${JSON.stringify(type)}`);
    const result = await handler(data, status);
    const transfer = result?.data instanceof Float32Array ? [result.data.buffer] : [];
    self.postMessage({ id, result }, transfer);
  } catch (e) {
    self.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
};
