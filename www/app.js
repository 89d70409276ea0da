// The page's composition root: one state object and the wiring between the modules.
// engine.js talks to the worker, models.js fetches, inputs.js gathers images, render/ and
// panels/ draw. Untrusted text (labels, file names) is rendered with textContent only.
import { Engine } from "./engine.js";
import {
  backendSummary, convolutionSummary, credit, engineProgress, fitNote, formatBytes, loadedLine, modelSummary, runtimeSummary, timingsLine, viewCaption,
} from "./format.js";
import { decodeToCanvas, fitSamples, initInputs } from "./inputs.js";
import { clearCache, download, downloadFailure, fetchEntry, loadCatalog, sha256Hex } from "./models.js";
import { showDepthPanel } from "./panels/depth.js";
import { showChannel, showNetwork } from "./panels/network.js";
import { showPaperPanel } from "./panels/paper.js";
import { fillPicker } from "./panels/picker.js";
import { fieldsToOptions, readForm, showPreprocess, sidecarJson } from "./panels/preprocess.js";
import { showFeatureMaps, showPredictions } from "./panels/results.js";
import { reportLine, showClasses, showConfusion } from "./panels/teach.js";
import { clearTaught, loadTaught, saveTaught } from "./teach-store.js";
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
const PREPROCESS_TYPING_MS = 400; // a preprocessing field is applied this long after the last keystroke
const TEACH_BASE = "vgg16-conv-base"; // the catalog entry taught on: real ImageNet weights, bundled
const TEACH_MAX_CLASSES = 20;
const BURST_FRAMES = 10; // a webcam burst: this many frames…
const BURST_EVERY_MS = 200; // …this far apart
const THUMB_PX = 48; // stored thumbnails of taught examples
const TEACH_SCALES = [320]; // the further size the "scales" box adds (the base sees 224 px)

const $ = (id) => document.getElementById(id);

// `?threads=N` in the page's address overrides the default thread count (onnxruntime-web's
// rule); threads need a cross-origin isolated page, and the engine says when it has none.
const THREADS = new URLSearchParams(location.search).get("threads");
// `?backend=cpu` starts on the CPU; the default, WebGPU where the browser and the model allow
// it, with the reason on the page where they do not.
const BACKEND = new URLSearchParams(location.search).get("backend") === "cpu" ? "cpu" : "webgpu";

const state = {
  engine: Engine.start(undefined, { threads: THREADS == null ? null : Number(THREADS), onProgress: showEngineProgress }),
  engineReady: false, // the engine's build is downloaded, compiled and started
  catalog: [], // www/models/catalog.json entries
  samples: null, // a promise of the samples, each with pick()
  // {info, layers, convStack, activations, name, bytes, id, fit, options, guessed} of the model
  // the worker holds
  model: null,
  loading: null, // the name of the model being fetched or loaded, while one is
  image: null, // {name, width, height, rgba, domain} of the current image
  view: null, // {width, height, rgba, geometry} the model saw in the last run
  overlay: {}, // {field, nested, heat, unitHeat, unitText} drawn over the view, and the unit's words
  download: null, // AbortController of the download in flight
  backend: BACKEND, // the user's choice, "webgpu" or "cpu"; the model's own is state.model.backend
  times: {}, // inference ms on the current image and model, by backend ("webgpu", "cpu")
  answerInView: true, // the answer's last line is on screen (else the answer bar shows)
  running: null, // the run in flight, if any: a newer image waits for it, then runs alone
  runAgain: false, // an image or model arrived during that run
  open: null, // {layer, channel} open in the inspector, reopened on the next image
  // teaching: the base's sha256 once started, the classes with their examples (as saved in
  // IndexedDB), the last training report, the webcam stream while live, and busy while the
  // worker teaches
  teach: { base: null, classes: [], report: null, live: null, busy: false },
  typing: null, // the timer that applies a preprocessing field once the user stops typing
  // Every request that draws takes a ticket; an answer whose ticket is no longer current
  // is dropped. A new run also retires the channel and overlay tickets of the old image.
  tickets: { model: 0, image: 0, run: 0, channel: 0, overlay: 0, preprocess: 0 },
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

/** The engine's WebAssembly download, with a bar: on a slow connection it is most of the
 *  wait at first open. */
function showEngineProgress(p) {
  $("engine-progress").hidden = p.total > 0 && p.loaded >= p.total;
  $("engine-progress-bar").value = p.total ? p.loaded / p.total : 0;
  setText("engine-progress-text", engineProgress(p));
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
  const entry = state.catalog.find((m) => m.id === DEFAULT_MODEL);
  if (state.tickets.model === 0 && entry) {
    select.value = DEFAULT_MODEL;
    const loading = chooseModel(DEFAULT_MODEL);
    await firstAnswer(entry);
    await loading;
  }
}

/** At first open, one sample the default model knows runs by itself (it waits for the model
 *  to load), so that an answer is on screen without a click, unless the user chose an image. */
async function firstAnswer(entry) {
  fitSamples($, entry.recognises?.domain, entry.short ?? entry.name);
  const samples = await state.samples;
  if (state.tickets.image > 0) return;
  const sample = samples.find((s) => s.domain === entry.recognises?.domain) ?? samples[0];
  await sample?.pick();
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
  }, { options: entry.options, id, credit: credit(entry), fit: entry.recognises ?? null, from: "from the catalog", short: entry.short });
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
      if (e.stage === "cancelled") throw e;
      throw new Error(downloadFailure([{ url, error: e }], { online: navigator.onLine, page: url }), { cause: e });
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
  await requestModel(onnx.name, async () => ({ bytes: await onnx.arrayBuffer(), ms: null }), { options, from: sidecar ? `from ${sidecar.name}` : undefined });
}

/** Loads the model that `source()` gives ({bytes, ms, fromCache}). A later request
 *  supersedes this one; a failure leaves the current model in place. `fit`: what the model
 *  recognises (the catalog's `recognises`); `from`: where its preprocessing comes from, in
 *  words (none given: it is guessed, and the page says so). */
async function requestModel(name, source, { options, id = null, credit = "", fit = null, from = null, short = null } = {}) {
  const current = ticket("model");
  state.download?.abort();
  state.loading = name;
  setText("model-status", `Fetching ${name}…`);
  try {
    const got = await source();
    if (!current()) return;
    const size = got.bytes.byteLength; // read now: the buffer is transferred to the worker
    if (!state.engineReady) {
      setText("model-status", `${name} (${formatBytes(size)}) is here; waiting for the engine, whose WebAssembly is still downloading…`);
      await state.engine.started.catch(() => {}); // its failure is the load's, below
      if (!current()) return;
    }
    setText("model-status", `Loading ${name} (${formatBytes(size)}): parsing and optimising…`);
    const t0 = performance.now();
    const loaded = await state.engine.load(got.bytes, {
      options, keepActivationsUpTo: ACTIVATIONS_MAX_BYTES,
      // "auto" never fails for want of a GPU: the CPU answers, and the page says why
      backend: state.backend === "cpu" ? "cpu" : "auto",
      onStatus: (s) => current() && setText("model-status", `Loading ${name}: ${s}…`),
    });
    if (!current()) return; // a newer model follows this one into the worker
    const loadMs = performance.now() - t0;
    state.loading = null;
    // a file that carries its preprocessing in its metadata (a taught model's export) was
    // not guessed: the crate names that source first in `detected` (src/pipeline.rs)
    const fromFile = loaded.info.detected.some((d) => d.includes("the model's metadata (\"preprocess\")"));
    const guessed = !options?.preprocess && !fromFile;
    // `reload` fetches it again into a new worker, should this one stop; `reloadWith` loads
    // it with other options (a layout the loaded graph was not planned for)
    const again = (opts) => requestModel(name, source, { options: opts, id, credit, fit, from: opts === options ? from : "as you set it", short });
    state.model = {
      ...loaded, name, bytes: size, id, loadedFor: state.backend, fit, options, guessed, from: from ?? (fromFile ? "from the model file's metadata" : "guessed"),
      short: short ?? name, reload: () => again(options), reloadWith: again,
    };
    const fetched = got.ms == null ? null : { ms: got.ms, fromCache: got.fromCache };
    const notKept = got.notKept ? ` It could not be kept for next time (${got.notKept}): it will be downloaded again.` : "";
    setText("model-status", loadedLine(name, { fetched, loadMs, backend: loaded.backend.name }) + notKept);
    $("model-select").value = id ?? "";
    setText("model-credit", got.credit ?? credit);
    setText("model-summary", modelSummary({ ...loaded, bytes: size }));
    showPreprocessPanel();
    fitSamples($, fit?.domain, short ?? name);
    state.times = {};
    showBackend(loaded.backend);
    setText("convolution-status", convolutionSummary(loaded.info.convolutions));
    showPaperPanel({ panel: $("paper-panel"), list: $("paper-facts"), chart: $("rf-chart") }, state.model);
    resetLayerViews();
    if (state.image) await run();
  } catch (e) {
    if (!current()) return;
    state.loading = null;
    $("model-select").value = state.model?.id ?? "";
    const kept = state.model ? " The previous model is still loaded." : "";
    setText("model-status", `Could not load ${name}: ${e.message}.${kept}`, true);
    if (state.image && !state.model) setText("result-status", `${state.image.name} waits for a model that loads.`, true);
  }
}

// --- preprocessing ---

const preprocessParts = () => ({
  panel: $("preprocess-panel"), summary: $("preprocess-summary"), detected: $("preprocess-detected"),
  form: $("preprocess-form"), status: $("preprocess-status"),
});

function showPreprocessPanel(refresh = false) {
  const { model } = state;
  showPreprocess(preprocessParts(), { info: model.info, guessed: model.guessed, from: model.from }, refresh);
}

/** The user changed a field: the model runs with the new preprocessing at once (a new
 *  layout needs the model loaded again, which happens). A spec the model refuses is shown,
 *  and the previous one stays. */
async function changePreprocess() {
  const { model } = state;
  if (!model) return;
  const current = ticket("preprocess");
  let preprocess;
  try {
    preprocess = fieldsToOptions(readForm($("preprocess-form")));
  } catch (e) {
    return setText("preprocess-status", `Not applied: ${e.message}.`, true);
  }
  if (preprocess.layout !== model.info.preprocess.layout) {
    // the graph is planned for one layout: another means loading the model again
    const layout = preprocess.layout.toUpperCase();
    setText("preprocess-status", `Loading ${model.name} again for the ${layout} layout…`);
    await model.reloadWith({ ...model.options, preprocess });
    if (state.model === model && current()) {
      showPreprocessPanel(true);
      setText("preprocess-status", `Not applied: ${model.name} could not be loaded with the ${layout} layout (the reason is above); ` +
        `it runs on with ${model.info.preprocess.layout.toUpperCase()}.`, true);
    }
    return;
  }
  try {
    const { info } = await state.engine.setPreprocess(preprocess);
    if (!current() || state.model !== model) return;
    model.info = info;
    model.options = { ...model.options, preprocess };
    setText("preprocess-status", "Applied; the image runs again with it.");
    setText("model-summary", modelSummary(model));
  } catch (e) {
    // the form keeps the user's values (a change of crop and border together passes through
    // states the model refuses); the model runs on with what it had
    if (current() && state.model === model) {
      setText("preprocess-status", `Not applied: ${e.message}. The previous preprocessing stays (“Undo” shows it).`, true);
    }
    return;
  }
  await run();
}

/** Saves the preprocessing in the form as a sidecar .json named after the model. */
function savePreprocess() {
  const { model } = state;
  if (!model) return;
  let preprocess;
  try {
    preprocess = fieldsToOptions(readForm($("preprocess-form")));
  } catch (e) {
    return setText("preprocess-status", `Not saved: ${e.message}.`, true);
  }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([sidecarJson(preprocess, model.options?.labels)], { type: "application/json" }));
  a.download = `${model.name.replace(/\.onnx$/i, "")}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 0);
  setText("preprocess-status", `Saved ${a.download}: open it with the .onnx file next time.`);
}

// --- teaching new classes (section 5) ---

/** Says what teaching is doing; errors in red. */
const teachStatus = (text, isError = false) => setText("teach-status", text, isError);

/** Draws the classes and enables what can be done now. */
function showTeach() {
  const t = state.teach;
  showClasses($("teach-classes"), t.classes, {
    busy: t.busy,
    onShown: (name) => state.image ? teachImages(name, [{ label: state.image.name, image: state.image }])
      : teachStatus("Choose an image in section 2 first.", true),
    onFiles: (name, files) => teachFiles(name, files),
    onBurst: (name) => teachBurst(name),
    onRemove: (name) => removeTaughtClass(name),
  });
  const counts = t.classes.map((c) => c.examples.length);
  $("teach-train").disabled = t.busy || counts.length < 2 || counts.some((n) => n === 0);
  $("teach-export").disabled = t.busy || !t.report;
  $("teach-live").disabled = t.busy || !t.report;
}

function saveTeach() {
  const t = state.teach;
  return saveTaught({ base: t.base, side: t.side, flip: t.flip, scales: t.scales, classes: t.classes }).catch((e) =>
    teachStatus(`Taught, but not kept for next time: ${e.message}`, true));
}

/** Loads the base into the worker and restores what this browser kept. */
async function startTeaching() {
  const entry = state.catalog.find((m) => m.id === TEACH_BASE);
  if (!entry) return teachStatus("The catalog has no VGG16 conv base to teach on.", true);
  $("teach-start").disabled = true;
  try {
    teachStatus(`Fetching ${entry.short ?? entry.name}…`);
    const got = await fetchEntry(entry);
    const saved = await loadTaught().catch(() => null);
    const fits = saved?.base === entry.sha256 ? saved : null;
    const flip = fits ? fits.flip : $("teach-flip").checked;
    const scales = fits ? fits.scales ?? [] : $("teach-scales").checked ? TEACH_SCALES : [];
    const items = (fits?.classes ?? []).flatMap((c) => c.examples.length
      ? c.examples.map((e) => ({ label: c.name, features: e.features })) : [{ label: c.name }]);
    teachStatus(`Loading ${entry.short ?? entry.name}…`);
    const st = await state.engine.teachStart(got.bytes, {
      options: entry.options, teacher: { flip, scales, side: fits?.side }, items,
      backend: state.backend === "cpu" ? "cpu" : "auto", onStatus: (s) => teachStatus(`${s}…`),
    });
    Object.assign(state.teach, { base: entry.sha256, side: st.side, flip: st.flip, scales: st.scales, classes: fits?.classes ?? [], report: null });
    $("teach-flip").checked = st.flip;
    $("teach-scales").checked = st.scales.length > 0;
    $("teach-flip").disabled = $("teach-scales").disabled = true;
    $("teach-work").hidden = false;
    $("teach-start").hidden = true;
    const n = state.teach.classes.reduce((a, c) => a + c.examples.length, 0);
    teachStatus(fits ? `Restored ${state.teach.classes.length} classes (${n} images) kept in this browser. Train when ready.`
      : `Ready: the base sees ${[st.side, ...st.scales].map((s) => `${s}×${s}`).join(" and ")} pixels and describes each ` +
        `image with ${st.dim} numbers, ${st.backend.name === "webgpu" ? `on WebGPU (${st.backend.adapter})` : "on the CPU"}. Add a class.`);
    showTeach();
  } catch (e) {
    $("teach-start").disabled = false;
    teachStatus(`Could not start teaching: ${e.message}`, true);
  }
}

async function addTaughtClass(name) {
  const t = state.teach;
  if (t.classes.length >= TEACH_MAX_CLASSES) return teachStatus(`At most ${TEACH_MAX_CLASSES} classes.`, true);
  try {
    const st = await state.engine.teachClass(name);
    for (const c of st.classes) if (!t.classes.some((k) => k.name === c)) t.classes.push({ name: c, examples: [] });
    await saveTeach();
    showTeach();
  } catch (e) {
    teachStatus(`Could not add the class: ${e.message}`, true);
  }
}

async function removeTaughtClass(name) {
  try {
    await state.engine.teachClass(name, { remove: true });
    state.teach.classes = state.teach.classes.filter((c) => c.name !== name);
    await saveTeach();
    teachStatus(`Forgot ${name}. Train again to use the change.`);
    showTeach();
  } catch (e) {
    teachStatus(`Could not remove ${name}: ${e.message}`, true);
  }
}

/** A small JPEG of `image` ({width, height, rgba}) for the class row. */
function thumbnail({ width, height, rgba }) {
  const src = document.createElement("canvas");
  src.width = width;
  src.height = height;
  src.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
  const c = document.createElement("canvas");
  c.width = c.height = THUMB_PX;
  const side = Math.min(width, height);
  c.getContext("2d").drawImage(src, (width - side) / 2, (height - side) / 2, side, side, 0, 0, THUMB_PX, THUMB_PX);
  return c.toDataURL("image/jpeg", 0.8);
}

/** Teaches images ({label, image: {width, height, rgba}}, or a promise of them) to class
 *  `name`, one at a time, with progress. */
async function teachImages(name, images) {
  const t = state.teach;
  if (t.busy) return;
  t.busy = true;
  showTeach();
  const cls = t.classes.find((c) => c.name === name);
  let done = 0, ms = 0;
  try {
    for (const next of images) {
      const { label, image } = await next;
      teachStatus(`Adding ${label} to ${name} (${done + 1} of ${images.length})…`);
      const pixels = { width: image.width, height: image.height, rgba: image.rgba.slice().buffer };
      const { added } = await state.engine.teachAdd(name, pixels);
      cls.examples.push({ features: added.features, thumb: thumbnail(image) });
      ms += added.timings.preprocessMs + added.timings.inferenceMs;
      done++;
      showTeach();
    }
    teachStatus(`Added ${done} image${done === 1 ? "" : "s"} to ${name} (${cls.examples.length} in all), ` +
      `${(ms / Math.max(1, done)).toFixed(0)} ms each for the base${t.flip ? " (the image and its mirror)" : ""}.` +
      (t.report ? " Train again to use them." : ""));
  } catch (e) {
    teachStatus(`Stopped after ${done}: ${e.message}`, true);
  } finally {
    t.busy = false;
    await saveTeach();
    showTeach();
  }
}

/** Image files to pixels, one by one (a file that does not decode stops the batch, named). */
function teachFiles(name, files) {
  const canvas = document.createElement("canvas");
  return teachImages(name, files.map((f) => (async () => {
    const image = await decodeToCanvas(f, canvas, MAX_SIDE_PX).catch(() => {
      throw new Error(`${f.name} is not an image this browser can decode`);
    });
    return { label: f.name, image };
  })));
}

/** Opens the webcam; `null` with the reason said where it cannot. */
async function webcam() {
  if (!navigator.mediaDevices?.getUserMedia) {
    teachStatus("This browser offers no camera here (it needs a secure page: https or localhost).", true);
    return null;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    const video = $("teach-video");
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    return stream;
  } catch (e) {
    teachStatus(`No webcam: ${e.name === "NotAllowedError" ? "camera access was refused" : e.message}.`, true);
    return null;
  }
}

function closeWebcam(stream) {
  stream?.getTracks().forEach((t) => t.stop());
  $("teach-video").hidden = true;
}

function frame() {
  const video = $("teach-video");
  const c = document.createElement("canvas");
  c.width = video.videoWidth;
  c.height = video.videoHeight;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0);
  return { width: c.width, height: c.height, rgba: ctx.getImageData(0, 0, c.width, c.height).data };
}

/** A burst of webcam frames: grabbed first (two seconds), then taught. */
async function teachBurst(name) {
  const stream = await webcam();
  if (!stream) return;
  const frames = [];
  try {
    for (let i = 0; i < BURST_FRAMES; i++) {
      teachStatus(`Webcam burst for ${name}: frame ${i + 1} of ${BURST_FRAMES}…`);
      frames.push({ label: `webcam frame ${i + 1}`, image: frame() });
      await new Promise((r) => setTimeout(r, BURST_EVERY_MS));
    }
  } finally {
    closeWebcam(stream);
  }
  await teachImages(name, frames);
}

async function trainTaught() {
  const t = state.teach;
  t.busy = true;
  showTeach();
  try {
    teachStatus("Training…");
    t.report = await state.engine.teachTrain({ seed: 0 });
    setText("teach-report", reportLine(t.report));
    showConfusion($("teach-confusion"), t.report);
    teachStatus("Trained: choose any image in section 2, or predict from the webcam.");
    if (state.image) await predictTaught(state.image);
  } catch (e) {
    teachStatus(`Could not train: ${e.message}`, true);
  } finally {
    t.busy = false;
    showTeach();
  }
}

/** The taught classes' answer for `image`; false where they could not answer (said). */
async function predictTaught(image) {
  try {
    const pixels = { width: image.width, height: image.height, rgba: image.rgba.slice().buffer };
    const r = await state.engine.teachClassify(pixels, 3);
    const words = r.predictions.map((p) => `${p.label} ${(100 * p.probability).toFixed(1)}%`).join(" · ");
    setText("teach-answer", `Your classes, for ${image.name ?? "the webcam"}: ${words} (${(r.timings.preprocessMs + r.timings.inferenceMs).toFixed(0)} ms)`);
    return true;
  } catch (e) {
    setText("teach-answer", `Your classes could not answer: ${e.message}`, true);
    return false;
  }
}

/** Predicts webcam frames one after another until pressed again, or until one fails (an
 *  error would otherwise repeat as fast as the worker answers). */
async function toggleLive() {
  const t = state.teach;
  const button = $("teach-live");
  if (t.live) {
    const stream = t.live;
    t.live = null;
    closeWebcam(stream);
    button.setAttribute("aria-pressed", "false");
    return;
  }
  t.live = await webcam();
  if (!t.live) return;
  button.setAttribute("aria-pressed", "true");
  const stream = t.live;
  while (t.live === stream) {
    if (!(await predictTaught({ name: "the webcam", ...frame() })) && t.live === stream) await toggleLive();
  }
}

async function exportTaught() {
  try {
    teachStatus("Writing the model…");
    const { onnx, sidecar } = await state.engine.teachExport();
    const stem = `vgg16-taught-${state.teach.report.classes.length}-classes`;
    for (const [blob, name] of [
      [new Blob([onnx], { type: "application/octet-stream" }), `${stem}.onnx`],
      [new Blob([JSON.stringify(sidecar, null, 1)], { type: "application/json" }), `${stem}.json`],
    ]) {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 0);
    }
    teachStatus(`Downloaded ${stem}.onnx (${formatBytes(onnx.byteLength)}) and ${stem}.json: open both with ` +
      "“Open an ONNX file…” in section 1, or in onnxruntime.");
  } catch (e) {
    teachStatus(`Could not export: ${e.message}`, true);
  }
}

async function clearTeach() {
  const t = state.teach;
  try {
    for (const c of [...t.classes]) await state.engine.teachClass(c.name, { remove: true });
    await clearTaught();
    Object.assign(t, { classes: [], report: null });
    setText("teach-report", "");
    setText("teach-answer", "");
    showConfusion($("teach-confusion"), null);
    teachStatus("Forgot every class, here and in this browser's storage.");
    showTeach();
  } catch (e) {
    teachStatus(`Could not forget the classes: ${e.message}`, true);
  }
}

// --- images and runs ---

/** A new image: drawn at once, then run (after the run in flight, if any). Only the latest
 *  of images chosen in quick succession is drawn and run. */
async function setImage(name, blob, domain = null) {
  const current = ticket("image");
  setText("image-status", "");
  let pixels;
  try {
    pixels = await decodeToCanvas(await blob, $("image-canvas"), MAX_SIDE_PX, current);
  } catch {
    // the previous image, its answer and its heading stay as they were
    if (current()) setText("image-status", `${name} is not an image this browser can decode; the previous one stays.`, true);
    return;
  }
  if (!pixels) return; // a newer image was chosen while this one decoded
  state.image = { name, domain, ...pixels };
  state.times = {};
  setText("image-caption", `${name} · ${pixels.width}×${pixels.height}`);
  const taught = state.teach.report && !state.teach.live ? predictTaught(state.image) : null;
  await run();
  await taught;
}

/** Runs the current image on the current model. While a run is in flight, a new request
 *  only marks that another is due: when the first ends, the latest image runs once. */
function run() {
  if (!state.image) return;
  ticket("run"); // answers for the image before are dropped from here on
  if (!state.model) {
    return setText("result-status", state.loading
      ? `Queued: ${state.image.name} runs as soon as ${state.loading} has loaded.`
      : "Now choose a model.");
  }
  if (state.running) {
    state.runAgain = true;
    setText("result-status", `Queued: ${state.image.name} runs when the run before it ends…`);
    return state.running;
  }
  // aria-busy: assistive technology waits for the whole answer (and tests wait on it)
  $("result-panel").setAttribute("aria-busy", "true");
  state.running = runOnce().finally(() => {
    state.running = null;
    if (state.runAgain) {
      state.runAgain = false;
      run();
    } else {
      $("result-panel").setAttribute("aria-busy", "false");
    }
  });
  return state.running;
}

async function runOnce() {
  const n = state.tickets.run;
  const current = () => state.tickets.run === n;
  const { model, image } = state;
  const pixels = { width: image.width, height: image.height, rgba: image.rgba.slice().buffer }; // the page keeps its own
  const onStatus = (s) => current() && setText("result-status", `${s}…`);
  $("predictions").replaceChildren();
  $("feature-maps").replaceChildren();
  setText("timings", "");
  showFit(model, image);
  // the open channel shows the old image: hidden until the new one's layers are here
  $("inspector").hidden = true;
  try {
    let timings, view;
    if (model.info.head.kind === "classifier") {
      setText("result-status", "Classifying…");
      const r = await state.engine.classify(pixels, TOP_K, { onStatus });
      if (!current()) return;
      showPredictions($("predictions"), r.predictions);
      setText("result-status", `Top ${r.predictions.length} for ${image.name}:`);
      showAnswerBar(`${r.predictions[0].label} ${(100 * r.predictions[0].probability).toFixed(1)}%`);
      ({ timings, view } = r);
      showBackend(r.backend);
    } else {
      setText("result-status", "Running…");
      const r = await state.engine.forward(pixels, FEATURE_MAPS, { onStatus });
      if (!current()) return;
      setText("result-status", `This model has no classifier: it returns feature maps of shape [${r.shape.join(", ")}] ` +
        `for ${image.name}. The ${r.channels.length} most active channels:`);
      showFeatureMaps($("feature-maps"), r.channels);
      showAnswerBar(`${r.channels.length} feature maps`);
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
      $("network").hidden = false;
      $("network-hint").hidden = false;
      reopenChannel(layers);
    }
  } catch (e) {
    if (current()) setText("result-status", `Failed: ${e.message}`, true);
  }
}

/** Says next to the answer when the image is not of the kind the model knows. */
function showFit(model, image) {
  const note = fitNote(model.short, model.fit, image.domain);
  $("fit-note").hidden = !note;
  setText("fit-note", note);
}

/** The answer in a bar at the bottom of the screen, shown while the answer itself is out of
 *  view (on a phone it lies below the image): tapping it goes there. */
function showAnswerBar(text) {
  const bar = $("answer-bar");
  bar.textContent = `${text} · see the answer ↓`;
  bar.dataset.answer = text;
  bar.hidden = state.answerInView;
}

// --- the backend ---// --- the backend ---

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
  state.open = null;
  $("view-figure").hidden = true;
  $("network-panel").hidden = true;
  $("inspector").hidden = true;
  $("network").replaceChildren();
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
  $("network-panel").hidden = false;
  const layers = Boolean(model.activations && model.layers);
  $("network").hidden = !layers;
  $("network-hint").hidden = !layers;
  $("saliency-toggle").hidden = !(layers && model.info.head.kind === "classifier");
  setText("unit-status", layers ? "" : model.layersError
    ? `This model's layers cannot be shown: ${model.layersError}.`
    : `This model is larger than ${formatBytes(ACTIVATIONS_MAX_BYTES)}, so its layers' activations are not kept: only its input is shown.`);
  setText("view-caption", viewCaption(view));
  drawFieldView($("view-canvas"), view, {}, model.info.preprocess.channelOrder === "gray");
}

/** After a new image's layers arrived: the channel that was open opens again on it, if the
 *  layer and channel still exist. */
function reopenChannel(layers) {
  const open = state.open;
  const layer = open && layers.find((l) => l.label === open.layer);
  if (layer && open.channel < layer.outShape[0]) openChannel(open.layer, open.channel);
  else state.open = null;
}

async function openChannel(layer, channel) {
  const current = ticket("channel");
  try {
    const ch = await state.engine.channel(layer, channel);
    if (!current()) return;
    state.open = { layer, channel }; // the channel shown, opened again on the next image
    showChannel({ inspector: $("inspector"), caption: $("inspector-caption") }, ch,
      (y, x) => showUnit(layer, channel, y, x, ch.data[y * ch.w + x]));
  } catch (e) {
    if (current()) setText("unit-status", `Could not open ${layer} channel ${channel}: ${e.message}`, true);
  }
}

async function showUnit(layer, channel, y, x, value) {
  const current = ticket("overlay");
  try {
    setText("unit-status", `Computing the effective receptive field of ${layer}[${channel}, ${y}, ${x}]…`);
    const u = await state.engine.unitField(layer, channel, y, x);
    if (!current()) return;
    $("saliency").checked = false;
    state.overlay = { field: u.field, nested: u.nested, heat: u.erf.map, unitHeat: u.erf.map };
    drawFieldView($("view-canvas"), state.view, state.overlay, state.model.info.preprocess.channelOrder === "gray");
    const b = u.field.unclipped;
    // a unit at zero (its ReLU is off on this image) has no gradient: no heat map to show
    const heat = u.erf.map.some((v) => v > 0)
      ? `Red: its effective receptive field, |∂ unit / ∂ pixel| (Luo et al. 2016), ${u.erf.ms.toFixed(0)} ms.`
      : `No red: no pixel changes this unit on this image (its value is ${value === 0 ? "0" : value.toPrecision(3)}; every path ` +
        "from the image to it passes a ReLU that is off), so its effective receptive field is empty. Try a brighter unit.";
    state.overlay.unitText = `${layer}, channel ${channel}, unit (${y}, ${x}): receptive field ${b.bottom - b.top + 1}×${b.right - b.left + 1} px, ` +
      `rows ${b.top}…${b.bottom}, columns ${b.left}…${b.right} of the model's view (yellow; hatched where it is padding). ` +
      `Blue: the units it depends on at each earlier layer. ${heat}`;
    setText("unit-status", state.overlay.unitText);
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
    return drawFieldView($("view-canvas"), state.view, state.overlay, state.model.info.preprocess.channelOrder === "gray");
  }
  try {
    setText("unit-status", "Computing the saliency map…");
    const s = await state.engine.saliency();
    if (!current()) return;
    state.overlay.heat = s.map;
    setText("unit-status", `Saliency of ${s.target}: |∂ score / ∂ pixel|, largest over colour channels (Simonyan et al. 2014); ${s.ms.toFixed(0)} ms.`);
    drawFieldView($("view-canvas"), state.view, state.overlay, state.model.info.preprocess.channelOrder === "gray");
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
  if (state.teach.base) {
    // the taught classes come back from this browser's storage; the classifier is trained again
    Object.assign(state.teach, { report: null, busy: false });
    showConfusion($("teach-confusion"), null);
    setText("teach-report", "The engine restarted: train again.");
    startTeaching();
  }
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
  state.engineReady = false;
  state.engine.started.then((r) => {
    state.engineReady = true;
    $("engine-progress").hidden = true;
    setText("engine-runtime", runtimeSummary(r));
  }, (e) => {
    $("engine-progress").hidden = true;
    setText("engine-runtime", `The engine could not start: ${e.message}`, true);
  });
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
// a field is tried as soon as the user stops typing in it, not only when it loses focus
$("preprocess-form").addEventListener("input", () => {
  clearTimeout(state.typing);
  state.typing = setTimeout(changePreprocess, PREPROCESS_TYPING_MS);
});
$("preprocess-form").addEventListener("change", () => {
  clearTimeout(state.typing);
  changePreprocess();
});
$("preprocess-form").addEventListener("submit", (ev) => ev.preventDefault());
$("preprocess-save").addEventListener("click", savePreprocess);
$("preprocess-undo").addEventListener("click", () => state.model && showPreprocessPanel(true));
// the answer bar shows only while the answer (down to its timings line) is out of view
new IntersectionObserver(([e]) => {
  state.answerInView = e.isIntersecting;
  $("answer-bar").hidden = e.isIntersecting || !$("answer-bar").dataset.answer;
}).observe($("timings"));
state.samples = initInputs($, {
  onImage: setImage,
  onModelFile: (file) => requestModel(file.name, async () => ({ bytes: await file.arrayBuffer(), ms: null })),
  onError: (text) => setText("image-status", text, true),
});
initCatalog();
$("teach-start").addEventListener("click", startTeaching);
$("teach-new-class").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = $("teach-class-name").value.trim();
  $("teach-class-name").value = "";
  if (name) addTaughtClass(name);
});
$("teach-train").addEventListener("click", trainTaught);
$("teach-export").addEventListener("click", exportTaught);
$("teach-live").addEventListener("click", toggleLive);
$("teach-clear").addEventListener("click", clearTeach);
showDepthPanel({ panel: $("depth-panel"), intro: $("depth-intro"), table: $("depth-table"), notes: $("depth-notes"), source: $("depth-source") });
