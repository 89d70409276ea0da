// Owns the model: loads it once from public/, then classifies what the page sends.
import { fromUrl } from "vgg-wasm";

// Files in public/ are served from the site's base URL; a worker's relative URLs would
// resolve against its own script in assets/.
const BASE = import.meta.env.BASE_URL;
const MODEL = `${BASE}fashion-vgg.onnx`; // with its sidecar fashion-vgg.json (preprocessing, labels)
const model = (async () => {
  const options = await (await fetch(`${BASE}fashion-vgg.json`)).json();
  return fromUrl(MODEL, { options, onProgress: (progress) => self.postMessage({ progress }) });
})();

self.onmessage = async ({ data }) => {
  try {
    const vgg = await model;
    const top = vgg.classify(new Uint8Array(data.rgba), data.width, data.height, 3);
    self.postMessage({ predictions: [...top], inferenceMs: top.timings.inferenceMs });
  } catch (e) {
    self.postMessage({ error: e.message });
  }
};
