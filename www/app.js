// The page's composition root: one state object and the wiring between the modules.
// engine.js talks to the worker, models.js fetches, inputs.js gathers images, render/ and
// panels/ draw. Untrusted text (labels, file names) is rendered with textContent only.
import { Engine } from "./engine.js";
import { backendSummary, credit, formatBytes, modelSummary, runtimeSummary, timingsLine, viewCaption } from "./format.js";
import { decodeToCanvas, initInputs } from "./inputs.js";
import { clearCache, download, fetchEntry, loadCatalog, sha256Hex } from "./models.js";
import { showDepthPanel } from "./panels/depth.js";
import { showChannel, showNetwork } from "./panels/network.js";
import { showPaperPanel } from "./panels/paper.js";
import { fillPicker } from "./panels/picker.js";
import { showFeatureMaps, showPredictions } from "./panels/results.js";
import { drawFieldView } from "./render/field-view.js";

const TOP_K = 5; // predictions shown
const MAX_SIDE_PX = 4096; // larger images are scaled down before they are sent to the worker
const DEFAULT_MODEL = "fashion-vgg"; // bundled and small (about 1.4 MB): useful at first open
const FEATURE_MAPS = 16; // feature maps shown for a model without a classifier
const STRIP_CHANNELS = 3; // channels shown per layer in the network strip
const STRIP_THUMB_PX = 64; // strip thumbnails are max-pooled to at most this many pixels a side
// Models up to this size keep their activations (layer views, gradients): the ImageNet VGG16
// and VGG19 (528-548 MiB) too. Keeping them holds a second copy of the weights for the
// backward pass; measured with the 553 MB VGG16, wasm memory after loading is 1917 MiB on one
// thread and 2318 MiB on two (1074 and 1470 MiB without), within wasm's 4 GiB.
const ACTIVATIONS_MAX_BYTES = 640 * 1024 * 1024;

const $ = (id) => document.getElementById(id);

// `?threads=N` in the page's address overrides the default thread count (onnxruntime-web's
// rule); threads need a cross-origin isolated page, and the engine says when it has none.
const THREADS = new URLSearchParams(location.search).get("threads");
// `?backend=cpu` starts on the CPU; the default, WebGPU where the browser and the model allow
// it, with the reason on the page where they do not.
const BACKEND = new URLSearchParams(location.search).get("backend") === "cpu" ? "cpu" : "webgpu";

const state = {
  engine: Engine.start(undefined, { threads: THREADS == null ? null : Number(THREADS) }),
  catalog: [], // www/models/catalog.json entries
  model: null, // {info, layers, convStack, activations, name, bytes, id} of the model the worker holds
  image: null, // {name, width, height, rgba} of the current image
  view: null, // {width, height, rgba, geometry} the model saw in the last run
  overlay: {}, // {field, nested, heat, unitHeat, unitText} drawn over the view, and the unit's words
  download: null, // AbortController of the download in flight
  backend: BACKEND, // the user's choice, "webgpu" or "cpu"; the model's own is state.model.backend
  times: {}, // inference ms on the current image and model, by backend ("webgpu", "cpu")
  // Every request that draws takes a ticket; an answer whose ticket is no longer current
  // is dropped. A new run also retires the channel and overlay tickets of the old image.
  tickets: { model: 0, run: 0, channel: 0, overlay: 0 },
};

/** A new ticket of `kind`; the function it returns says whether it is still current. */
function ticket(kind) {
  const n = ++state.tickets[kind];
  const run = state.tickets.run;
  return () => state.tickets[kind] === n && (kind === "model" || state.tickets.run === run);
}

function setText(id, text, isError = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", isError);
}

// --- models ---

async function initCatalog() {
  const select = $("model-select");
  try {
    state.catalog = await loadCatalog();
  } catch (e) {
    return setText("model-status", `Could not read the model catalog: ${e.message}`, true);
  }
  fillPicker(select, state.catalog);
  select.addEventListener("change", () => chooseModel(select.value));
  // the default only while the user has asked for no model (the catalog can arrive late)
  if (state.tickets.model === 0 && state.catalog.some((m) => m.id === DEFAULT_MODEL)) {
    select.value = DEFAULT_MODEL;
    await chooseModel(DEFAULT_MODEL);
  }
}

/** Progress of a download, in the download box; returns the callbacks to hand it. */
function downloadProgress(name) {
  state.download = new AbortController();
  $("download").hidden = false;
  const onProgress = ({ loaded, total }) => {
    $("download-progress").value = total ? loaded / total : 0;
    setText("download-text", `${formatBytes(loaded)} of ${formatBytes(total)} (${total ? Math.floor((100 * loaded) / total) : 0}%)`);
  };
  const onStage = (s) => setText("model-status", `${name}: ${s}…`);
  const done = () => {
    $("download").hidden = true;
    state.download = null;
  };
  return { onProgress, onStage, signal: state.download.signal, done };
}

function chooseModel(id) {
  const entry = state.catalog.find((m) => m.id === id);
  if (!entry) return;
  return requestModel(entry.name, async () => {
    const p = downloadProgress(entry.name);
    try {
      return await fetchEntry(entry, p);
    } finally {
      p.done();
    }
  }, { options: entry.options, id, credit: credit(entry) });
}

/** A model from any URL: the server must allow cross-origin downloads. No catalog vouches
 *  for it, so its sha256 is shown for the user to compare with the publisher's. */
function modelFromUrl(url) {
  requestModel(url.split("/").pop() || url, async () => {
    const p = downloadProgress(url);
    try {
      const got = await download(url, p);
      return { ...got, credit: `From ${url} (sha256 ${await sha256Hex(got.bytes)}).` };
    } catch (e) {
      if (e.stage !== "connect") throw e;
      throw new Error(`${e.message}. If the server does not allow cross-origin downloads (CORS), ` +
        "download the file yourself and use “Open an ONNX file…”", { cause: e });
    } finally {
      p.done();
    }
  });
}

async function modelFromFiles(files) {
  const onnx = files.find((f) => f.name.toLowerCase().endsWith(".onnx"));
  if (!onnx) return setText("model-status", "Choose an .onnx file (optionally with its .json sidecar).", true);
  const sidecar = files.find((f) => f.name.toLowerCase().endsWith(".json"));
  let options;
  try {
    options = sidecar ? JSON.parse(await sidecar.text()) : undefined;
  } catch (e) {
    return setText("model-status", `Could not read ${sidecar.name}: ${e.message}.`, true);
  }
  await requestModel(onnx.name, async () => ({ bytes: await onnx.arrayBuffer(), ms: null }), { options });
}

/** Loads the model that `source()` gives ({bytes, ms, fromCache}). A later request
 *  supersedes this one; a failure leaves the current model in place. */
async function requestModel(name, source, { options, id = null, credit = "" } = {}) {
  const current = ticket("model");
  state.download?.abort();
  try {
    const got = await source();
    if (!current()) return;
    const size = got.bytes.byteLength; // read now: the buffer is transferred to the worker
    setText("model-status", `Loading ${name} (${formatBytes(size)})…`);
    const t0 = performance.now();
    const loaded = await state.engine.load(got.bytes, {
      options, keepActivationsUpTo: ACTIVATIONS_MAX_BYTES,
      // "auto" never fails for want of a GPU: the CPU answers, and the page says why
      backend: state.backend === "cpu" ? "cpu" : "auto",
      onStatus: (s) => current() && setText("model-status", `Loading ${name}: ${s}…`),
    });
    if (!current()) return; // a newer model follows this one into the worker
    // `reload` fetches it again into a new worker, should this one stop
    state.model = {
      ...loaded, name, bytes: size, id, loadedFor: state.backend,
      reload: () => requestModel(name, source, { options, id, credit }),
    };
    const fetched = got.ms == null ? "" : ` (${got.fromCache ? "read from the cache" : "downloaded"} in ${got.ms.toFixed(0)} ms)`;
    const notKept = got.notKept ? ` It could not be kept for next time (${got.notKept}): it will be downloaded again.` : "";
    setText("model-status", `Loaded ${name} in ${(performance.now() - t0).toFixed(0)} ms: parsed and optimised${fetched}.${notKept}`);
    $("model-select").value = id ?? "";
    setText("model-credit", got.credit ?? credit);
    setText("model-summary", modelSummary({ ...loaded, bytes: size }));
    state.times = {};
    showBackend(loaded.backend);
    showPaperPanel({ panel: $("paper-panel"), list: $("paper-facts"), chart: $("rf-chart") }, state.model);
    resetLayerViews();
    if (state.image) await run();
  } catch (e) {
    if (!current()) return;
    $("model-select").value = state.model?.id ?? "";
    const kept = state.model ? " The previous model is still loaded." : "";
    setText("model-status", `Could not load ${name}: ${e.message}.${kept}`, true);
  }
}

// --- images and runs ---

async function setImage(name, blob) {
  let pixels;
  try {
    pixels = await decodeToCanvas(blob, $("image-canvas"), MAX_SIDE_PX);
  } catch {
    return setText("result-status", `${name} is not an image this browser can decode.`, true);
  }
  state.image = { name, ...pixels };
  state.times = {};
  setText("image-caption", `${name} · ${pixels.width}×${pixels.height}`);
  await run();
}

async function run() {
  if (!state.image) return;
  const current = ticket("run");
  const { model, image } = state;
  if (!model) return setText("result-status", "Now choose a model.");
  const pixels = { width: image.width, height: image.height, rgba: image.rgba.slice().buffer }; // the page keeps its own
  const onStatus = (s) => current() && setText("result-status", `${s}…`);
  $("predictions").replaceChildren();
  $("feature-maps").replaceChildren();
  setText("timings", "");
  try {
    let timings, view;
    if (model.info.head.kind === "classifier") {
      setText("result-status", "Classifying…");
      const r = await state.engine.classify(pixels, TOP_K, { onStatus });
      if (!current()) return;
      showPredictions($("predictions"), r.predictions);
      setText("result-status", `Top ${r.predictions.length} for ${image.name}:`);
      ({ timings, view } = r);
      showBackend(r.backend);
    } else {
      setText("result-status", "Running…");
      const r = await state.engine.forward(pixels, FEATURE_MAPS, { onStatus });
      if (!current()) return;
      setText("result-status", `This model has no classifier: it returns feature maps of shape [${r.shape.join(", ")}] ` +
        `for ${image.name}. The ${r.channels.length} most active channels:`);
      showFeatureMaps($("feature-maps"), r.channels);
      ({ timings, view } = r);
      showBackend(r.backend);
    }
    showView(view);
    state.times[timings.backend] = timings.inferenceMs;
    setText("timings", timingsLine(timings, state.times));
    if (model.activations && model.layers) {
      // the answer stays in view; the layers' progress goes where their time will be shown
      const layerStatus = (s) => current() && setText("timings", `${timingsLine(timings, state.times)} · ${s}…`);
      const { layers, cpuMs } = await state.engine.layers(STRIP_CHANNELS, STRIP_THUMB_PX, { onStatus: layerStatus });
      if (!current()) return;
      setText("timings", timingsLine(timings, state.times, cpuMs));
      showNetwork($("network"), layers, openChannel);
      $("network-panel").hidden = false;
    }
  } catch (e) {
    if (current()) setText("result-status", `Failed: ${e.message}`, true);
  }
}

// --- the backend ---

/** Shows where the model runs and why, and ticks the matching choice. */
function showBackend(backend) {
  if (!backend) return;
  if (state.model) state.model.backend = backend;
  setText("backend-status", backendSummary(backend));
  for (const input of document.querySelectorAll("input[name=backend]")) input.checked = input.value === backend.name;
}

/** The user chose a backend: the loaded model switches (one loaded for the CPU only is
 *  loaded again, onto the GPU), and the current image runs again on it. */
async function chooseBackend(name) {
  state.backend = name;
  const { model } = state;
  if (!model) return;
  try {
    showBackend(await state.engine.setBackend(name));
  } catch (e) {
    // loaded for the CPU alone: load it again, for the GPU
    if (name === "webgpu" && model.loadedFor === "cpu") return model.reload();
    showBackend(model.backend);
    return setText("backend-status", `${e.message}.`, true);
  }
  await run();
}

// --- the model's view, the inspector and gradients ---

function resetLayerViews() {
  state.view = null;
  state.overlay = {};
  $("view-figure").hidden = true;
  $("network-panel").hidden = true;
  $("inspector").hidden = true;
  $("saliency").checked = false;
  $("saliency-toggle").hidden = true;
  setText("unit-status", "");
}

function showView(view) {
  state.view = view;
  state.overlay = {};
  const { model } = state;
  $("saliency").checked = false;
  $("view-figure").hidden = false;
  $("saliency-toggle").hidden = !(model.activations && model.info.head.kind === "classifier" && model.layers);
  setText("view-caption", viewCaption(view));
  drawFieldView($("view-canvas"), view);
}

async function openChannel(layer, channel) {
  const current = ticket("channel");
  try {
    const ch = await state.engine.channel(layer, channel);
    if (!current()) return;
    showChannel({ inspector: $("inspector"), caption: $("inspector-caption") }, ch, (y, x) => showUnit(layer, channel, y, x));
  } catch (e) {
    if (current()) setText("unit-status", `Could not open ${layer} channel ${channel}: ${e.message}`, true);
  }
}

async function showUnit(layer, channel, y, x) {
  const current = ticket("overlay");
  try {
    setText("unit-status", `Computing the effective receptive field of ${layer}[${channel}, ${y}, ${x}]…`);
    const u = await state.engine.unitField(layer, channel, y, x);
    if (!current()) return;
    $("saliency").checked = false;
    state.overlay = { field: u.field, nested: u.nested, heat: u.erf.map, unitHeat: u.erf.map };
    drawFieldView($("view-canvas"), state.view, state.overlay);
    const b = u.field.unclipped;
    state.overlay.unitText = `${layer}, channel ${channel}, unit (${y}, ${x}): receptive field ${b.bottom - b.top + 1}×${b.right - b.left + 1} px, ` +
      `rows ${b.top}…${b.bottom}, columns ${b.left}…${b.right} of the model's view (yellow; hatched where it is padding). ` +
      `Blue: the units it depends on at each earlier layer. Red: its effective receptive field, |∂ unit / ∂ pixel| (Luo et al. 2016), ${u.erf.ms.toFixed(0)} ms.`;
    setText("unit-status", state.overlay.unitText);
    $("view-canvas").scrollIntoView({ block: "nearest" });
  } catch (e) {
    if (current()) setText("unit-status", `Could not compute this unit: ${e.message}`, true);
  }
}

async function toggleSaliency(on) {
  const current = ticket("overlay");
  if (!on) {
    // back to the unit's field and its words, if one was open; else nothing
    state.overlay.heat = state.overlay.unitHeat ?? null;
    setText("unit-status", state.overlay.unitText ?? "");
    return drawFieldView($("view-canvas"), state.view, state.overlay);
  }
  try {
    setText("unit-status", "Computing the saliency map…");
    const s = await state.engine.saliency();
    if (!current()) return;
    state.overlay.heat = s.map;
    setText("unit-status", `Saliency of ${s.target}: |∂ score / ∂ pixel|, largest over colour channels (Simonyan et al. 2014); ${s.ms.toFixed(0)} ms.`);
    drawFieldView($("view-canvas"), state.view, state.overlay);
  } catch (e) {
    if (current()) setText("unit-status", `Saliency failed: ${e.message}`, true);
  }
}

// --- wiring ---

// A worker whose wasm trapped (an engine bug, memory exhausted) is replaced by the engine;
// the new one is given the last model that loaded, and the user is told in words.
state.engine.onRestart = async (reason) => {
  const last = state.model;
  state.model = null;
  resetLayerViews();
  showRuntime();
  if (!last) return setText("model-status", `The engine stopped (${reason}) and was restarted.`, true);
  setText("model-status", `The engine stopped (${reason}); it was restarted and is loading ${last.name} again…`, true);
  await last.reload();
  if (state.model) setText("model-status", `The engine stopped (${reason}) and was restarted with ${last.name}; you can go on.`);
};

/** On a host that cannot send COOP and COEP, coi-sw.js adds them and the page reloads once
 *  under it, so that threads are possible. Never twice in a session: where the worker
 *  cannot isolate the page (a browser that ignores it), the page stays single-threaded. */
async function isolateWithServiceWorker() {
  if (crossOriginIsolated || !isSecureContext || !("serviceWorker" in navigator)) return;
  if (sessionStorage.getItem("coi-reloaded")) return;
  try {
    const registration = await navigator.serviceWorker.register("./coi-sw.js");
    if (navigator.serviceWorker.controller) return; // it controls the page, yet no isolation
    await new Promise((resolve) => {
      const worker = registration.installing ?? registration.waiting ?? registration.active;
      if (worker.state === "activated") return resolve();
      worker.addEventListener("statechange", () => worker.state === "activated" && resolve());
    });
    sessionStorage.setItem("coi-reloaded", "1");
    location.reload();
  } catch {
    // service workers blocked (private browsing, a policy): one thread, as the page says
  }
}
isolateWithServiceWorker();

/** Says which build of the engine runs and on how many threads, once its worker started. */
function showRuntime() {
  state.engine.started.then((r) => setText("engine-runtime", runtimeSummary(r)),
    (e) => setText("engine-runtime", `The engine could not start: ${e.message}`, true));
}
showRuntime();

$("download-cancel").addEventListener("click", () => state.download?.abort());
$("url-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  modelFromUrl($("model-url").value.trim());
});
$("clear-cache").addEventListener("click", async () => {
  try {
    await clearCache();
    setText("model-status", "Downloaded models were removed from the cache.");
  } catch (e) {
    setText("model-status", `Could not clear the cache: ${e.message}.`, true);
  }
});
$("model-file").addEventListener("change", (ev) => {
  const files = [...ev.target.files];
  ev.target.value = "";
  modelFromFiles(files);
});
$("saliency").addEventListener("change", (ev) => toggleSaliency(ev.target.checked));
for (const input of document.querySelectorAll("input[name=backend]")) {
  input.checked = input.value === state.backend;
  input.addEventListener("change", () => input.checked && chooseBackend(input.value));
}
initInputs($, {
  onImage: setImage,
  onModelFile: (file) => requestModel(file.name, async () => ({ bytes: await file.arrayBuffer(), ms: null })),
  onError: (text) => setText("result-status", text, true),
});
initCatalog();
showDepthPanel({ panel: $("depth-panel"), intro: $("depth-intro"), table: $("depth-table"), source: $("depth-source") });
