// The page: fetches the model with progress, hands it to the package's worker through its
// Engine (the worker owns vgg-wasm, so the page never blocks on inference), then sends the
// image's pixels to classify. Vite bundles the worker that Engine.start() names.
import { fetchBytes } from "vgg-wasm";
import { Engine } from "vgg-wasm/engine";

const status = (text) => (document.getElementById("status").textContent = text);
// Files in public/ are served from the site's base URL.
const BASE = import.meta.env.BASE_URL;
const engine = Engine.start();
try {
  const options = await (await fetch(`${BASE}fashion-vgg.json`)).json(); // preprocessing and labels
  const bytes = await fetchBytes(`${BASE}fashion-vgg.onnx`, {
    onProgress: ({ loaded }) => status(`Loading the model: ${loaded} bytes`),
  });
  await engine.load(bytes.buffer, { options });
  const img = document.getElementById("image");
  await img.decode();
  const canvas = new OffscreenCanvas(img.naturalWidth, img.naturalHeight);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const { data, width, height } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const { predictions, timings } = await engine.classify({ rgba: data.buffer, width, height }, 3);
  status(`Inference took ${timings.inferenceMs.toFixed(1)} ms.`);
  const list = document.getElementById("result");
  for (const p of predictions) {
    const li = document.createElement("li");
    li.textContent = `${p.label}: ${(100 * p.probability).toFixed(1)}%`;
    list.append(li);
  }
} catch (e) {
  status(`Error: ${e.message}`);
}
