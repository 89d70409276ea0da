// UI only: every engine call goes to worker.js. Untrusted text (labels, file names) is
// rendered with textContent, never as HTML.

const TOP_K = 5; // predictions shown
const MAX_SIDE_PX = 4096; // larger images are scaled down before they are sent to the worker
const SAMPLES_URL = "samples/samples.json";

const $ = (id) => document.getElementById(id);

// --- worker RPC: one promise per request, {status} messages shown while it runs ---
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const pending = new Map();
let nextId = 1;

worker.onmessage = ({ data }) => {
  const req = pending.get(data.id);
  if (!req) return;
  if ("status" in data) return req.onStatus?.(data.status);
  pending.delete(data.id);
  if ("error" in data) req.reject(new Error(data.error));
  else req.resolve(data.result);
};
worker.onerror = (e) => {
  for (const req of pending.values()) req.reject(new Error(`the worker failed: ${e.message}`));
  pending.clear();
};

function call(type, payload, { transfer = [], onStatus } = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onStatus });
    worker.postMessage({ id, type, ...payload }, transfer);
  });
}

// --- state ---
let modelInfo = null; // info of the model the worker holds, once one loaded
let image = null; // {rgba, width, height, name} of the current image

// --- model ---
$("model-file").addEventListener("change", async (ev) => {
  const files = [...ev.target.files];
  ev.target.value = "";
  const onnx = files.find((f) => f.name.toLowerCase().endsWith(".onnx"));
  if (!onnx) return setText("model-status", "Choose an .onnx file (optionally with its .json sidecar).", true);
  const sidecar = files.find((f) => f.name.toLowerCase().endsWith(".json"));
  try {
    const options = sidecar ? JSON.parse(await sidecar.text()) : undefined;
    await loadModel(onnx.name, await onnx.arrayBuffer(), options);
  } catch (e) {
    const kept = modelInfo ? " The previous model is still loaded." : "";
    setText("model-status", `Could not load ${onnx.name}: ${e.message}.${kept}`, true);
  }
});

async function loadModel(name, bytes, options) {
  const size = bytes.byteLength; // read now: the buffer is transferred to the worker
  setText("model-status", `Loading ${name} (${formatBytes(size)})…`);
  const t0 = performance.now();
  const info = await call("load", { bytes, options }, {
    transfer: [bytes],
    onStatus: (s) => setText("model-status", `Loading ${name}: ${s}…`),
  });
  modelInfo = { ...info, name, bytes: size };
  setText("model-status", `Loaded ${name} in ${(performance.now() - t0).toFixed(0)} ms.`);
  setText("model-summary", summary(modelInfo));
  if (image) await run();
}

function summary(info) {
  const shape = (s) => `[${s.map((d) => d ?? "?").join(", ")}]`;
  const head = info.head.kind === "classifier"
    ? `${info.head.classes} classes${info.head.softmaxInGraph ? " (softmax in graph)" : ""}`
    : "feature maps (no classifier)";
  return `${info.nodes} nodes · input ${info.inputName} ${shape(info.inputShape)} · output ${shape(info.outputShape)}: ${head} · ${formatBytes(info.bytes)}`;
}

// --- images ---
async function loadSamples() {
  const strip = $("samples");
  try {
    const samples = await (await fetch(SAMPLES_URL)).json();
    for (const s of samples) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "sample";
      b.setAttribute("role", "listitem");
      b.title = `${s.name} (${s.credit}, ${s.license})`;
      b.setAttribute("aria-label", s.name);
      const img = document.createElement("img");
      img.src = `samples/${s.file}`;
      img.alt = "";
      b.append(img);
      b.addEventListener("click", async () => setImage(s.name, await (await fetch(img.src)).blob()));
      strip.append(b);
    }
  } catch (e) {
    setText("result-status", `Could not read the sample list: ${e.message}`, true);
  }
}

$("image-file").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  ev.target.value = "";
  if (file) await setImage(file.name, file);
});

async function setImage(name, blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    return setText("result-status", `${name} is not an image this browser can decode.`, true);
  }
  const scale = Math.min(1, MAX_SIDE_PX / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = $("image-canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  image = { name, width, height, rgba: ctx.getImageData(0, 0, width, height).data };
  setText("image-caption", `${name} · ${width}×${height}`);
  await run();
}

// --- inference ---
async function run() {
  if (!image) return;
  if (!modelInfo) return setText("result-status", "Now open an ONNX model to classify this image.");
  const { width, height } = image;
  const rgba = image.rgba.slice().buffer; // a copy to transfer; the page keeps its pixels
  $("predictions").replaceChildren();
  setText("timings", "");
  try {
    if (modelInfo.head.kind === "classifier") {
      setText("result-status", "Classifying…");
      const { predictions, timings } = await call("classify", { rgba, width, height, topK: TOP_K }, {
        transfer: [rgba], onStatus: (s) => setText("result-status", `${s}…`),
      });
      showPredictions(predictions);
      setText("result-status", `Top ${predictions.length} for ${image.name}:`);
      showTimings(timings);
    } else {
      setText("result-status", "Running…");
      const out = await call("forward", { rgba, width, height }, { transfer: [rgba] });
      setText("result-status",
        `This model has no classifier: it returns feature maps of shape [${out.shape.join(", ")}] for ${image.name}.`);
      showTimings(out.timings);
    }
  } catch (e) {
    setText("result-status", `Failed: ${e.message}`, true);
  }
}

function showPredictions(predictions) {
  const list = $("predictions");
  for (const p of predictions) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = p.label;
    const bar = document.createElement("meter");
    bar.min = 0;
    bar.max = 1;
    bar.value = p.probability;
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${(p.probability * 100).toFixed(1)}%`;
    li.append(label, bar, pct);
    list.append(li);
  }
}

function showTimings(t) {
  setText("timings", `preprocess ${t.preprocessMs.toFixed(1)} ms · inference ${t.inferenceMs.toFixed(1)} ms`);
}

// --- helpers ---
function setText(id, text, isError = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

loadSamples();
