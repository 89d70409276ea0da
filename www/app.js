// UI only: every engine call goes to worker.js. Untrusted text (labels, file names) is
// rendered with textContent, never as HTML.

const TOP_K = 5; // predictions shown
const MAX_SIDE_PX = 4096; // larger images are scaled down before they are sent to the worker
const SAMPLES_URL = "samples/samples.json";
const CATALOG_URL = "models/catalog.json";
const DEFAULT_MODEL = "fashion-vgg"; // bundled and small (about 1.4 MB): useful at first open
const CACHE_NAME = "vgg-wasm-models-v1"; // Cache API store for downloaded models
const FEATURE_THUMBS = 16; // feature maps shown: the channels with the largest mean activation
const THUMB_PX = 72; // displayed size of one feature map

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

// --- models: the catalog, downloads, files ---
let catalog = []; // www/models/catalog.json entries
let selectedId = null; // the catalog entry (or "file") the loaded model came from
let download = null; // AbortController of the download in flight

async function loadCatalog() {
  const select = $("model-select");
  try {
    catalog = (await (await fetch(CATALOG_URL)).json()).models;
  } catch (e) {
    return setText("model-status", `Could not read the model catalog: ${e.message}`, true);
  }
  const groups = [
    ["Bundled with the page", catalog.filter((m) => m.bundled)],
    ["ONNX Model Zoo (download on request)", catalog.filter((m) => !m.bundled)],
  ];
  for (const [label, models] of groups) {
    const group = document.createElement("optgroup");
    group.label = label;
    for (const m of models) {
      const opt = document.createElement("option");
      opt.value = m.id;
      opt.textContent = `${m.name} · ${formatBytes(m.bytes)}${m.bundled ? "" : " download"}`;
      group.append(opt);
    }
    select.append(group);
  }
  select.addEventListener("change", () => chooseModel(select.value));
  if (catalog.some((m) => m.id === DEFAULT_MODEL)) {
    select.value = DEFAULT_MODEL;
    await chooseModel(DEFAULT_MODEL);
  }
}

async function chooseModel(id) {
  const entry = catalog.find((m) => m.id === id);
  if (!entry) return;
  download?.abort();
  try {
    const bytes = entry.bundled ? await fetchModel(`models/${entry.file}`, entry, false) : await fetchModel(entry.url, entry, true);
    await loadModel(entry.name, bytes, entry.options);
    selectedId = id;
    setCredit(entry);
  } catch (e) {
    $("model-select").value = selectedId ?? "";
    const kept = modelInfo ? " The previous model is still loaded." : "";
    setText("model-status", `Could not load ${entry.name}: ${e.message}${kept}`, true);
  }
}

/** Fetches a model with a progress bar, verifies its sha256, and keeps downloads in the
 *  Cache API so a reload does not download again. */
async function fetchModel(url, entry, cache) {
  const store = cache && "caches" in self ? await caches.open(CACHE_NAME) : null;
  const cached = await store?.match(url);
  let bytes;
  if (cached) {
    setText("model-status", `${entry.name}: from the cache.`);
    bytes = await cached.arrayBuffer();
  } else {
    bytes = await fetchWithProgress(url, entry);
  }
  setText("model-status", `${entry.name}: checking sha256…`);
  const digest = await sha256Hex(bytes);
  if (digest !== entry.sha256) {
    if (cached) await store.delete(url);
    throw new Error(`sha256 mismatch: the file has ${digest}, the catalog expects ${entry.sha256}; it was not used`);
  }
  if (store && !cached) await store.put(url, new Response(bytes.slice(0)));
  return bytes;
}

async function fetchWithProgress(url, entry) {
  download = new AbortController();
  const box = $("download");
  box.hidden = false;
  try {
    let response;
    try {
      response = await fetch(url, { signal: download.signal });
    } catch (e) {
      if (e.name === "AbortError") throw new Error("download cancelled");
      throw new Error(`the download failed before it started (${e.message}). If the server does not allow ` +
        "cross-origin downloads (CORS), download the file yourself and use “Open an ONNX file…”");
    }
    if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`);
    const total = Number(response.headers.get("content-length")) || entry.bytes;
    const reader = response.body.getReader();
    const chunks = [];
    let received = 0;
    for (;;) {
      let step;
      try {
        step = await reader.read();
      } catch (e) {
        throw new Error(e.name === "AbortError" ? "download cancelled" : `the download broke off: ${e.message}`);
      }
      if (step.done) break;
      chunks.push(step.value);
      received += step.value.byteLength;
      $("download-progress").value = total ? received / total : 0;
      setText("download-text", `${formatBytes(received)} of ${formatBytes(total)} (${total ? Math.floor((100 * received) / total) : 0}%)`);
    }
    const bytes = new Uint8Array(received);
    let offset = 0;
    for (const c of chunks) {
      bytes.set(c, offset);
      offset += c.byteLength;
    }
    return bytes.buffer;
  } finally {
    box.hidden = true;
    download = null;
  }
}

$("download-cancel").addEventListener("click", () => download?.abort());

$("clear-cache").addEventListener("click", async () => {
  if (!("caches" in self)) return setText("model-status", "This browser has no Cache API here.", true);
  await caches.delete(CACHE_NAME);
  setText("model-status", "Downloaded models were removed from the cache.");
});

async function sha256Hex(bytes) {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
}

$("model-file").addEventListener("change", async (ev) => {
  const files = [...ev.target.files];
  ev.target.value = "";
  const onnx = files.find((f) => f.name.toLowerCase().endsWith(".onnx"));
  if (!onnx) return setText("model-status", "Choose an .onnx file (optionally with its .json sidecar).", true);
  const sidecar = files.find((f) => f.name.toLowerCase().endsWith(".json"));
  try {
    const options = sidecar ? JSON.parse(await sidecar.text()) : undefined;
    await loadModel(onnx.name, await onnx.arrayBuffer(), options);
    selectedId = null;
    $("model-select").value = "";
    setText("model-credit", "");
  } catch (e) {
    const kept = modelInfo ? " The previous model is still loaded." : "";
    setText("model-status", `Could not load ${onnx.name}: ${e.message}.${kept}`, true);
  }
});

function setCredit(entry) {
  const acc = entry.accuracy
    ? ` Reported top-1 accuracy ${entry.accuracy.top1}%${entry.accuracy.top5 ? `, top-5 ${entry.accuracy.top5}%` : ""} on ${entry.accuracy.dataset} (${entry.accuracy.source}).`
    : "";
  setText("model-credit", `Source: ${entry.source}. License: ${entry.license}.${acc}`);
}

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
  try {
    const samples = await (await fetch(SAMPLES_URL)).json();
    for (const s of samples) {
      const strip = $(s.kind === "fashion" ? "samples-fashion" : "samples-photo");
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
let runSeq = 0; // only the latest run may draw its answer

async function run() {
  if (!image) return;
  const seq = ++runSeq;
  if (!modelInfo) return setText("result-status", "Now choose a model.");
  const { width, height } = image;
  const rgba = image.rgba.slice().buffer; // a copy to transfer; the page keeps its pixels
  $("predictions").replaceChildren();
  $("feature-maps").replaceChildren();
  setText("timings", "");
  try {
    if (modelInfo.head.kind === "classifier") {
      setText("result-status", "Classifying…");
      const { predictions, timings } = await call("classify", { rgba, width, height, topK: TOP_K }, {
        transfer: [rgba], onStatus: (s) => seq === runSeq && setText("result-status", `${s}…`),
      });
      if (seq !== runSeq) return;
      showPredictions(predictions);
      setText("result-status", `Top ${predictions.length} for ${image.name}:`);
      showTimings(timings);
    } else {
      setText("result-status", "Running…");
      const out = await call("forward", { rgba, width, height }, { transfer: [rgba] });
      if (seq !== runSeq) return;
      setText("result-status",
        `This model has no classifier: it returns feature maps of shape [${out.shape.join(", ")}] for ${image.name}. ` +
        `The ${Math.min(FEATURE_THUMBS, out.shape[1])} most active channels:`);
      showFeatureMaps(out);
      showTimings(out.timings);
    }
  } catch (e) {
    if (seq === runSeq) setText("result-status", `Failed: ${e.message}`, true);
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

/** Draws the channels with the largest mean activation, each scaled to its own maximum. */
function showFeatureMaps({ shape, data }) {
  if (shape.length !== 4) return;
  const [, channels, h, w] = shape;
  const plane = h * w;
  const means = Array.from({ length: channels }, (_, c) => {
    let sum = 0;
    for (let i = c * plane; i < (c + 1) * plane; i++) sum += data[i];
    return [sum / plane, c];
  }).sort((a, b) => b[0] - a[0]);
  const grid = $("feature-maps");
  for (const [mean, c] of means.slice(0, FEATURE_THUMBS)) {
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    canvas.style.width = `${THUMB_PX}px`;
    canvas.title = `channel ${c}, mean ${mean.toFixed(2)}`;
    const px = new ImageData(w, h);
    let max = 0;
    for (let i = 0; i < plane; i++) max = Math.max(max, data[c * plane + i]);
    for (let i = 0; i < plane; i++) {
      const v = max > 0 ? Math.round((255 * Math.max(0, data[c * plane + i])) / max) : 0;
      px.data.set([v, v, v, 255], 4 * i);
    }
    canvas.getContext("2d").putImageData(px, 0, 0);
    grid.append(canvas);
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
loadCatalog();
