// The page: reads the image's pixels and asks the worker, which owns vgg-wasm, to classify
// them, so the page never blocks on inference.
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const img = document.getElementById("image");
await img.decode();
const canvas = new OffscreenCanvas(img.naturalWidth, img.naturalHeight);
const ctx = canvas.getContext("2d");
ctx.drawImage(img, 0, 0);
const { data, width, height } = ctx.getImageData(0, 0, canvas.width, canvas.height);
worker.onmessage = ({ data: msg }) => {
  if (msg.progress) {
    document.getElementById("status").textContent = `Loading the model: ${msg.progress.loaded} bytes`;
  } else if (msg.error) {
    document.getElementById("status").textContent = `Error: ${msg.error}`;
  } else {
    document.getElementById("status").textContent = `Inference took ${msg.inferenceMs.toFixed(1)} ms.`;
    const list = document.getElementById("result");
    for (const p of msg.predictions) {
      const li = document.createElement("li");
      li.textContent = `${p.label}: ${(100 * p.probability).toFixed(1)}%`;
      list.append(li);
    }
  }
};
worker.postMessage({ rgba: data.buffer, width, height }, [data.buffer]);
