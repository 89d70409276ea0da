// UI only: every engine call goes to worker.js. Untrusted text (labels, file names) is
// rendered with textContent, never as HTML.

const TOP_K = 5; // predictions shown
const MAX_SIDE_PX = 4096; // larger images are scaled down before they are sent to the worker
const SAMPLES_URL = "samples/samples.json";
const CATALOG_URL = "models/catalog.json";
const DEPTH_URL = "models/depth.json"; // the depth experiment's results (training/train.py depth)
const DEFAULT_MODEL = "fashion-vgg"; // bundled and small (about 1.4 MB): useful at first open
const CACHE_NAME = "vgg-wasm-models-v1"; // Cache API store for downloaded models
const FEATURE_THUMBS = 16; // feature maps shown: the channels with the largest mean activation
const THUMB_PX = 72; // displayed size of one feature map
const VIEW_PX = 448; // the model's view of the image is drawn at least this many pixels wide
const INSPECT_PX = 256; // an opened channel is drawn this many pixels on its longer side

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
let downloadMs = null; // time to fetch the model being loaded, for the timings line
let fromCache = false; // whether it came from the Cache API

async function loadCatalog() {
  const select = $("model-select");
  try {
    catalog = (await (await fetch(CATALOG_URL)).json()).models;
  } catch (e) {
    return setText("model-status", `Could not read the model catalog: ${e.message}`, true);
  }
  const placeholder = document.createElement("option");
  placeholder.value = "";
  placeholder.disabled = true;
  placeholder.textContent = "Choose a model…";
  select.append(placeholder);
  select.value = "";
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

function chooseModel(id) {
  const entry = catalog.find((m) => m.id === id);
  if (!entry) return;
  const url = entry.bundled ? `models/${entry.file}` : entry.url;
  return requestModel(entry.name, () => fetchModel(url, entry, !entry.bundled), { options: entry.options, id, credit: credit(entry) });
}

/** Fetches a model with a progress bar, verifies its sha256, and keeps downloads in the
 *  Cache API so a reload does not download again. */
async function fetchModel(url, entry, cache) {
  const store = cache && "caches" in self ? await caches.open(CACHE_NAME) : null;
  const cached = await store?.match(url);
  let bytes;
  const t0 = performance.now();
  if (cached) {
    setText("model-status", `${entry.name}: from the cache.`);
    bytes = await cached.arrayBuffer();
    fromCache = true;
  } else {
    bytes = await fetchWithProgress(url, entry);
    fromCache = false;
  }
  downloadMs = performance.now() - t0;
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

// a model from any URL: the server must allow cross-origin downloads
$("url-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const url = $("model-url").value.trim();
  const fetchTimed = async () => {
    const t0 = performance.now();
    const bytes = await fetchWithProgress(url, { bytes: 0 });
    downloadMs = performance.now() - t0;
    return bytes;
  };
  requestModel(url.split("/").pop() || url, fetchTimed, { credit: `From ${url}.` });
});

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
  let options;
  try {
    options = sidecar ? JSON.parse(await sidecar.text()) : undefined;
  } catch (e) {
    return setText("model-status", `Could not read ${sidecar.name}: ${e.message}.`, true);
  }
  await requestModel(onnx.name, () => onnx.arrayBuffer(), { options });
});

function credit(entry) {
  const acc = entry.accuracy
    ? ` Reported top-1 accuracy ${entry.accuracy.top1}%${entry.accuracy.top5 ? `, top-5 ${entry.accuracy.top5}%` : ""} on ${entry.accuracy.dataset} (${entry.accuracy.source}).`
    : "";
  return `Source: ${entry.source}. License: ${entry.license}.${acc}`;
}

let modelSeq = 0; // the latest model request: older ones give way to it

/** Loads the model that `source()` (a promise of bytes) gives. A later request supersedes
 *  this one; a failure leaves the current model in place. */
async function requestModel(name, source, { options, id = null, credit = "" } = {}) {
  const seq = ++modelSeq;
  download?.abort();
  try {
    const bytes = await source();
    if (seq !== modelSeq) return;
    const size = bytes.byteLength; // read now: the buffer is transferred to the worker
    setText("model-status", `Loading ${name} (${formatBytes(size)})…`);
    const t0 = performance.now();
    const info = await call("load", { bytes, options }, {
      transfer: [bytes],
      onStatus: (s) => seq === modelSeq && setText("model-status", `Loading ${name}: ${s}…`),
    });
    if (seq !== modelSeq) return; // a newer model follows this one into the worker
    modelInfo = { ...info, name, bytes: size };
    const fetched = downloadMs === null ? "" : ` (${fromCache ? "read from the cache" : "downloaded"} in ${downloadMs.toFixed(0)} ms)`;
    setText("model-status", `Loaded ${name} in ${(performance.now() - t0).toFixed(0)} ms: parsed and optimised${fetched}.`);
    selectedId = id;
    $("model-select").value = id ?? "";
    setText("model-credit", credit);
    setText("model-summary", summary(modelInfo));
    showPaperPanel(modelInfo);
    resetLayerViews();
    if (image) await run();
  } catch (e) {
    if (seq !== modelSeq) return;
    $("model-select").value = selectedId ?? "";
    const kept = modelInfo ? " The previous model is still loaded." : "";
    setText("model-status", `Could not load ${name}: ${e.message}.${kept}`, true);
  } finally {
    if (seq === modelSeq) {
      downloadMs = null;
      fromCache = false;
    }
  }
}

function summary(info) {
  const shape = (s) => `[${s.map((d) => d ?? "?").join(", ")}]`;
  const head = info.head.kind === "classifier"
    ? `${info.head.classes} classes${info.head.softmaxInGraph ? " (softmax in graph)" : ""}`
    : "feature maps (no classifier)";
  const params = info.layers ? ` · ${info.layers.reduce((n, l) => n + l.params, 0).toLocaleString("en")} parameters` : "";
  const convs = info.layers ? ` · ${info.layers.filter((l) => l.opType.endsWith("Conv")).length} conv layers` : "";
  return `${info.nodes} nodes${convs}${params} · input ${info.inputName} ${shape(info.inputShape)} · output ${shape(info.outputShape)}: ${head} · ${formatBytes(info.bytes)}`;
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

// drop anywhere: an image is classified, an .onnx file is loaded
document.addEventListener("dragover", (ev) => {
  ev.preventDefault();
  document.body.classList.add("dragging");
});
document.addEventListener("dragleave", (ev) => ev.relatedTarget === null && document.body.classList.remove("dragging"));
document.addEventListener("drop", async (ev) => {
  ev.preventDefault();
  document.body.classList.remove("dragging");
  const file = ev.dataTransfer?.files?.[0];
  if (!file) return;
  if (file.name.toLowerCase().endsWith(".onnx")) {
    await requestModel(file.name, () => file.arrayBuffer());
  } else {
    await setImage(file.name, file);
  }
});

// paste an image from the clipboard
document.addEventListener("paste", async (ev) => {
  const item = [...(ev.clipboardData?.items ?? [])].find((i) => i.type.startsWith("image/"));
  if (item) await setImage("pasted image", item.getAsFile());
});

// webcam snapshot
let stream = null;
$("webcam").addEventListener("click", async () => {
  if (!navigator.mediaDevices?.getUserMedia) {
    return setText("result-status", "This browser offers no camera here (it needs a secure page: https or localhost).", true);
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (e) {
    const why = e.name === "NotAllowedError" ? "camera access was refused" :
      e.name === "NotFoundError" ? "no camera was found" : e.message;
    return setText("result-status", `No webcam snapshot: ${why}.`, true);
  }
  $("camera-video").srcObject = stream;
  $("camera").hidden = false;
});
function closeCamera() {
  stream?.getTracks().forEach((t) => t.stop());
  stream = null;
  $("camera").hidden = true;
}
$("camera-close").addEventListener("click", closeCamera);
$("camera-shoot").addEventListener("click", async () => {
  const video = $("camera-video");
  const c = document.createElement("canvas");
  c.width = video.videoWidth;
  c.height = video.videoHeight;
  c.getContext("2d").drawImage(video, 0, 0);
  closeCamera();
  await setImage("webcam snapshot", await new Promise((r) => c.toBlob(r)));
});

// drawing pad: white strokes on black, as Fashion-MNIST's items are
const PAD_BRUSH_PX = 22;
const pad = $("pad-canvas");
const padCtx = pad.getContext("2d");
function clearPad() {
  padCtx.fillStyle = "#000";
  padCtx.fillRect(0, 0, pad.width, pad.height);
}
clearPad();
let drawing = false;
pad.addEventListener("pointerdown", (ev) => {
  drawing = true;
  pad.setPointerCapture(ev.pointerId);
  stroke(ev);
});
pad.addEventListener("pointermove", (ev) => drawing && stroke(ev));
pad.addEventListener("pointerup", () => (drawing = false));
function stroke(ev) {
  const r = pad.getBoundingClientRect();
  padCtx.fillStyle = "#fff";
  padCtx.beginPath();
  padCtx.arc(((ev.clientX - r.left) / r.width) * pad.width, ((ev.clientY - r.top) / r.height) * pad.height, PAD_BRUSH_PX / 2, 0, 2 * Math.PI);
  padCtx.fill();
}
$("draw").addEventListener("click", () => ($("pad").hidden = !$("pad").hidden));
$("pad-clear").addEventListener("click", clearPad);
$("pad-use").addEventListener("click", async () => setImage("drawing", await new Promise((r) => pad.toBlob(r))));

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
      const { predictions, timings, view } = await call("classify", { rgba, width, height, topK: TOP_K }, {
        transfer: [rgba], onStatus: (s) => seq === runSeq && setText("result-status", `${s}…`),
      });
      if (seq !== runSeq) return;
      showPredictions(predictions);
      showView(view);
      setText("result-status", `Top ${predictions.length} for ${image.name}:`);
      showTimings(timings);
    } else {
      setText("result-status", "Running…");
      const out = await call("forward", { rgba, width, height }, { transfer: [rgba] });
      if (seq !== runSeq) return;
      showView(out.view);
      setText("result-status",
        `This model has no classifier: it returns feature maps of shape [${out.shape.join(", ")}] for ${image.name}. ` +
        `The ${Math.min(FEATURE_THUMBS, out.shape[1])} most active channels:`);
      showFeatureMaps(out);
      showTimings(out.timings);
    }
    if (modelInfo.activations && modelInfo.layers) await showNetwork(seq);
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
  setText("timings", `preprocess ${t.preprocessMs.toFixed(1)} ms · inference ${t.inferenceMs.toFixed(1)} ms (in the worker)`);
}

// --- the model's view of the image, with receptive fields and gradients drawn on it ---
let view = null; // {width, height, rgba, geometry} of the last run
let overlay = {}; // {field, nested, heat, unit} drawn over the view

function resetLayerViews() {
  view = null;
  overlay = {};
  $("view-figure").hidden = true;
  $("network-panel").hidden = true;
  $("inspector").hidden = true;
  $("saliency").checked = false;
  $("saliency-toggle").hidden = true;
  setText("unit-status", "");
}

function showView(v) {
  view = v;
  overlay = {};
  $("saliency").checked = false;
  $("view-figure").hidden = false;
  $("saliency-toggle").hidden = !(modelInfo.activations && modelInfo.head.kind === "classifier" && modelInfo.layers);
  const g = v.geometry;
  setText("view-caption", `The image as the model sees it: ${v.width}×${v.height} pixels` +
    (g.scaleX !== 1 || g.scaleY !== 1 ? `, resized ×${g.scaleX.toFixed(3)}` : "") +
    (g.left || g.top ? `, cropped at (${g.left}, ${g.top})` : "") + (g.pad ? `, padded by ${g.pad}` : "") + ".");
  drawView();
}

let hatch = null;
function hatchPattern(ctx) {
  if (hatch) return hatch;
  const c = document.createElement("canvas");
  c.width = c.height = 8;
  const x = c.getContext("2d");
  x.strokeStyle = "rgba(200, 30, 30, 0.8)";
  x.beginPath();
  x.moveTo(0, 8);
  x.lineTo(8, 0);
  x.stroke();
  return (hatch = ctx.createPattern(c, "repeat"));
}

function drawView() {
  if (!view) return;
  const { width: W, height: H } = view;
  const f = overlay.field?.unclipped;
  // room around the image for the part of a field that lies in the padding
  const margin = f ? Math.max(0, -f.top, -f.left, f.bottom - (H - 1), f.right - (W - 1)) : 0;
  const k = Math.max(1, Math.ceil(VIEW_PX / (W + 2 * margin)));
  const canvas = $("view-canvas");
  canvas.width = (W + 2 * margin) * k;
  canvas.height = (H + 2 * margin) * k;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = "#e8e8e8";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const px = (v) => (v + margin) * k;
  const img = document.createElement("canvas");
  img.width = W;
  img.height = H;
  img.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(view.rgba), W, H), 0, 0);
  ctx.drawImage(img, px(0), px(0), W * k, H * k);
  if (overlay.heat) drawHeat(ctx, overlay.heat, W, H, px(0), k);
  // what is drawn, for tests and tools: the field in the model's input pixels
  canvas.dataset.field = f ? JSON.stringify(f) : "";
  canvas.dataset.heat = overlay.heat ? "1" : "";
  if (!f) return;
  // the field's part outside the image: padding, hatched (inside the field, outside the image)
  ctx.save();
  ctx.beginPath();
  ctx.rect(px(f.left), px(f.top), (f.right - f.left + 1) * k, (f.bottom - f.top + 1) * k);
  ctx.clip();
  ctx.beginPath();
  ctx.rect(px(f.left), px(f.top), (f.right - f.left + 1) * k, (f.bottom - f.top + 1) * k);
  ctx.rect(px(0), px(0), W * k, H * k);
  ctx.fillStyle = hatchPattern(ctx);
  ctx.fill("evenodd");
  ctx.restore();
  // the same unit's field at each earlier layer: its units' centres
  ctx.lineWidth = 1;
  for (const [i, n] of (overlay.nested ?? []).entries()) {
    const [t, l, b, r] = n.centers;
    ctx.strokeStyle = `rgba(40, 110, 230, ${0.35 + 0.5 * (i / Math.max(1, overlay.nested.length - 1))})`;
    ctx.strokeRect(px(l) + k / 2, px(t) + k / 2, (r - l) * k + 1, (b - t) * k + 1);
  }
  ctx.lineWidth = 3;
  ctx.strokeStyle = "#ffcc00";
  ctx.strokeRect(px(f.left), px(f.top), (f.right - f.left + 1) * k, (f.bottom - f.top + 1) * k);
}

/** A [H, W] map drawn as red with opacity growing with the value. */
function drawHeat(ctx, map, W, H, x0, k) {
  let max = 0;
  for (const v of map) max = Math.max(max, v);
  if (!(max > 0)) return;
  const img = new ImageData(W, H);
  for (let i = 0; i < W * H; i++) {
    const a = Math.sqrt(map[i] / max); // square root: faint pixels stay visible
    img.data.set([255, 40, 0, Math.round(220 * a)], 4 * i);
  }
  const c = document.createElement("canvas");
  c.width = W;
  c.height = H;
  c.getContext("2d").putImageData(img, 0, 0);
  ctx.drawImage(c, x0, x0, W * k, H * k);
}

$("saliency").addEventListener("change", async (ev) => {
  if (!ev.target.checked) {
    overlay.heat = overlay.unit ? overlay.unitHeat : null;
    return drawView();
  }
  try {
    setText("unit-status", "Computing the saliency map…");
    const s = await call("saliency", {});
    overlay.heat = s.map;
    setText("unit-status", `Saliency of ${s.target}: |∂ score / ∂ pixel|, largest over colour channels (Simonyan et al. 2014); ${s.ms.toFixed(0)} ms.`);
    drawView();
  } catch (e) {
    setText("unit-status", `Saliency failed: ${e.message}`, true);
  }
});

// --- the network strip and the channel inspector ---
async function showNetwork(seq) {
  let layers;
  try {
    layers = await call("strip", {});
  } catch (e) {
    return setText("unit-status", `Layer views failed: ${e.message}`, true);
  }
  if (seq !== runSeq) return;
  const strip = $("network");
  strip.replaceChildren();
  for (const l of layers) {
    const col = document.createElement("div");
    col.className = "layer";
    col.setAttribute("role", "listitem");
    const h = document.createElement("h3");
    h.textContent = l.label;
    const facts = document.createElement("p");
    facts.className = "facts";
    facts.textContent = `${l.outShape.join("×")} · RF ${l.rf[0]}×${l.rf[1]} px · ${formatCount(l.params)} params · ${formatCount(l.macs)} MACs`;
    col.append(h, facts);
    for (const ch of l.channels) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "thumb";
      b.setAttribute("aria-label", `${l.label} channel ${ch.index}`);
      b.title = `${l.label} channel ${ch.index} (mean ${ch.mean.toFixed(2)}): open it`;
      b.append(mapCanvas(ch.data, ch.w, ch.h, 64));
      b.addEventListener("click", () => openChannel(l, ch.index));
      col.append(b);
    }
    strip.append(col);
  }
  $("network-panel").hidden = false;
}

/** A grey canvas of a non-negative map, scaled to `side` pixels on its longer side. */
function mapCanvas(data, w, h, side) {
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  let max = 0;
  for (const v of data) max = Math.max(max, v);
  const img = new ImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const v = max > 0 ? Math.round((255 * Math.max(0, data[i])) / max) : 0;
    img.data.set([v, v, v, 255], 4 * i);
  }
  c.getContext("2d").putImageData(img, 0, 0);
  const s = side / Math.max(w, h);
  c.style.width = `${Math.round(w * s)}px`;
  c.style.height = `${Math.round(h * s)}px`;
  return c;
}

async function openChannel(layer, channel) {
  const ch = await call("channel", { layer: layer.label, channel });
  const canvas = mapCanvas(ch.data, ch.w, ch.h, INSPECT_PX);
  canvas.id = "inspector-canvas";
  canvas.tabIndex = 0;
  canvas.setAttribute("aria-label", `${layer.label} channel ${channel}: click a unit`);
  $("inspector-canvas").replaceWith(canvas);
  $("inspector").hidden = false;
  setText("inspector-caption", `${layer.label}, channel ${channel}: ${ch.h}×${ch.w} units. Click one.`);
  const pick = (y, x) => showUnit(layer, channel, y, x);
  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    pick(Math.min(ch.h - 1, Math.floor(((ev.clientY - r.top) / r.height) * ch.h)),
      Math.min(ch.w - 1, Math.floor(((ev.clientX - r.left) / r.width) * ch.w)));
  });
  // keyboard: Enter picks the centre unit
  canvas.addEventListener("keydown", (ev) => ev.key === "Enter" && pick(ch.h >> 1, ch.w >> 1));
  canvas.scrollIntoView({ block: "nearest" });
}

async function showUnit(layer, channel, y, x) {
  try {
    setText("unit-status", `Computing the effective receptive field of ${layer.label}[${channel}, ${y}, ${x}]…`);
    const u = await call("unit", { layer: layer.label, channel, y, x });
    $("saliency").checked = false;
    overlay = { field: u.field, nested: u.nested, heat: u.erf.map, unitHeat: u.erf.map, unit: u };
    drawView();
    const b = u.field.unclipped;
    setText("unit-status", `${layer.label}, channel ${channel}, unit (${y}, ${x}): receptive field ${b.bottom - b.top + 1}×${b.right - b.left + 1} px, ` +
      `rows ${b.top}…${b.bottom}, columns ${b.left}…${b.right} of the model's view (yellow; hatched where it is padding). ` +
      `Blue: the units it depends on at each earlier layer. Red: its effective receptive field, |∂ unit / ∂ pixel| (Luo et al. 2016), ${u.erf.ms.toFixed(0)} ms.`);
    $("view-canvas").scrollIntoView({ block: "nearest" });
  } catch (e) {
    setText("unit-status", `Could not compute this unit: ${e.message}`, true);
  }
}

// --- the paper's argument, with numbers from the loaded model ---
function showPaperPanel(info) {
  const panel = $("paper-panel");
  panel.hidden = !info.layers;
  if (!info.layers) return;
  const layers = info.layers;
  const convs = layers.filter((l) => l.opType.endsWith("Conv"));
  const facts = [];
  const all3 = convs.every((l) => l.kernel[0] === 3 && l.kernel[1] === 3);
  facts.push(`${all3 ? "All" : "Not all"} ${convs.length} convolutions of this model are 3×3` +
    (all3 ? ", as in every configuration of the paper (A to E)." : "."));
  // the longest run of convolutions between pools, and the field it adds
  let best = [];
  let run = [];
  for (const l of layers) {
    if (l.opType.endsWith("Conv")) run.push(l);
    else if (/Pool/.test(l.opType)) run = [];
    if (run.length > best.length) best = [...run];
  }
  if (best.length >= 2) {
    const before = layers[layers.indexOf(best[0]) - 1];
    const base = before ? before.rf[0] : 1;
    const step = before ? before.stride[0] : 1;
    const sizes = best.slice(0, 3).map((l) => (l.rf[0] - base) / step + 1);
    facts.push(`Stacked 3×3 layers grow the field: on ${best.map((l) => l.label).slice(0, 3).join(", ")}, ` +
      sizes.map((r, i) => `${i + 1} layer${i ? "s" : ""} see${i ? "" : "s"} ${r}×${r}`).join(", ") + " (in units of their input).");
    const c = best[best.length - 1].outShape[0];
    const n = Math.min(3, best.length);
    const rf = 2 * n + 1;
    facts.push(`With C = ${c} channels, ${n} stacked 3×3 layers have ${n}·9·C² = ${(n * 9 * c * c).toLocaleString("en")} weights; ` +
      `one ${rf}×${rf} layer with the same field would have ${rf * rf}·C² = ${(rf * rf * c * c).toLocaleString("en")} ` +
      `(${Math.round(100 * (1 - (9 * n) / (rf * rf)))}% fewer), and the stack has ${n} ReLUs instead of 1.`);
  }
  const last = [...layers].reverse().find((l) => l.outShape.length === 3);
  // the input size the analysis was made for (a padded 3x3 conv keeps it)
  const input = info.preprocess.crop ? info.preprocess.crop[0] + 2 * info.preprocess.pad : layers[0].outShape[1];
  if (last) facts.push(`Its last spatial layer, ${last.label}, sees ${last.rf[0]}×${last.rf[1]} input pixels with a stride of ${last.stride[0]}.`);
  const list = $("paper-facts");
  list.replaceChildren(...facts.map((t) => Object.assign(document.createElement("li"), { textContent: t })));
  drawRfChart(layers.filter((l) => l.outShape.length === 3 && /^(conv|pool)/.test(l.label)), input);
}

function drawRfChart(layers, inputSize) {
  const svg = $("rf-chart");
  const NS = "http://www.w3.org/2000/svg";
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    return e;
  };
  const title = svg.querySelector("title");
  svg.replaceChildren(title);
  if (!layers.length) return;
  const [W, H, L, B] = [640, 240, 44, 40];
  const maxY = Math.max(...layers.map((l) => l.rf[0]), inputSize ?? 0);
  const x = (i) => L + (i * (W - L - 10)) / Math.max(1, layers.length - 1);
  const y = (v) => H - B - (v * (H - B - 10)) / maxY;
  svg.append(el("line", { x1: L, y1: y(0), x2: W - 10, y2: y(0), stroke: "#999" }));
  svg.append(el("line", { x1: L, y1: y(0), x2: L, y2: 10, stroke: "#999" }));
  svg.append(el("text", { x: 4, y: 16, "font-size": 11 }, `${maxY} px`));
  if (inputSize) {
    svg.append(el("line", { x1: L, y1: y(inputSize), x2: W - 10, y2: y(inputSize), stroke: "#b3261e", "stroke-dasharray": "4 3" }));
    svg.append(el("text", { x: L + 4, y: y(inputSize) - 4, "font-size": 11, fill: "#b3261e" }, `input ${inputSize} px`));
    const cross = layers.findIndex((l) => l.rf[0] >= inputSize);
    if (cross >= 0) {
      svg.append(el("circle", { cx: x(cross), cy: y(layers[cross].rf[0]), r: 6, fill: "none", stroke: "#b3261e", "stroke-width": 2 }));
      svg.append(el("text", { x: Math.min(x(cross) + 8, W - 150), y: y(layers[cross].rf[0]) + 16, "font-size": 11, fill: "#b3261e" },
        `${layers[cross].label}: field ≥ input`));
    }
  }
  svg.append(el("polyline", { points: layers.map((l, i) => `${x(i)},${y(l.rf[0])}`).join(" "), fill: "none", stroke: "#2f6fdf", "stroke-width": 2 }));
  for (const [i, l] of layers.entries()) {
    const dot = el("circle", { cx: x(i), cy: y(l.rf[0]), r: 3, fill: "#2f6fdf" });
    dot.append(el("title", {}, `${l.label}: ${l.rf[0]} px`));
    svg.append(dot);
    if (/^pool/.test(l.label) || i === 0) {
      svg.append(el("text", { x: x(i), y: H - B + 14, "font-size": 10, "text-anchor": "middle" }, l.label));
    }
  }
  svg.append(el("text", { x: W / 2, y: H - 6, "font-size": 11, "text-anchor": "middle" }, "layers in order (conv and pool); receptive field size in input pixels"));
}

// --- helpers ---
function formatCount(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

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

// --- the depth experiment, beside the paper's Table 3 ---
async function loadDepth() {
  let d;
  try {
    const r = await fetch(DEPTH_URL);
    if (!r.ok) return;
    d = await r.json();
  } catch {
    return;
  }
  setText("depth-intro", `The paper's configurations, every width divided by ${d.width_divisor}, trained here on ` +
    `Fashion-MNIST with the same recipe and epochs (${d.rows[0].epochs}); choose them in the model picker. ` +
    "The paper's numbers are for ImageNet at full width and are quoted beside ours, not compared as equals.");
  const body = $("depth-table").querySelector("tbody");
  body.replaceChildren();
  for (const r of d.rows) {
    const tr = document.createElement("tr");
    const paper = d.paper.train_test_scale_256[r.config];
    const ours = `${r.mean_test_error.toFixed(2)}%` + (r.spread === null ? "" : ` (seeds ${r.test_error.map((e) => e.toFixed(2)).join(", ")})`);
    for (const cell of [r.config, r.conv_layers, r.parameters.toLocaleString("en"), ours, paper ? `${paper[0]} / ${paper[1]}%` : "–"]) {
      const td = document.createElement("td");
      td.textContent = String(cell);
      tr.append(td);
    }
    body.append(tr);
  }
  setText("depth-source", `Paper: ${d.paper.source}. Ours: ${d.dataset}, measured by ${d.recipe}.`);
  $("depth-panel").hidden = false;
}

loadSamples();
loadCatalog();
loadDepth();
