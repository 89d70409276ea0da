// @ts-check
// The page's composition root: the one state object, the page's constants and the wiring
// between its sections. The actions (actions/) receive {state, engine, config, hooks} and
// never import this file; engine.js talks to the worker, models.js fetches, inputs.js and
// camera.js gather images, render/ and panels/ draw. Untrusted text (labels, file names) is
// rendered with textContent only.
import * as inspect from "./actions/inspect.js";
import * as looksFor from "./actions/looks-for.js";
import * as models from "./actions/models.js";
import * as preprocess from "./actions/preprocess.js";
import * as runs from "./actions/runs.js";
import * as taught from "./actions/taught.js";
import * as teach from "./actions/teach.js";
import { $, $input, setText } from "./dom.js";
import { Engine } from "./engine.js";
import { initInputs } from "./inputs.js";
import { placeAnswerBar } from "./panels/answer-bar.js";
import { showDepthPanel } from "./panels/depth.js";
import { isolateWithServiceWorker, keepForOffline, showEngineProgress, showRuntime } from "./runtime.js";

/** @type {import("./actions/context.js").Config} */
const config = Object.freeze({
  TOP_K: 5, // predictions shown
  MAX_SIDE_PX: 4096, // larger images are scaled down before they are sent to the worker
  MIN_IMAGE_PX: 168, // smaller images are shown enlarged by a whole factor to at least this (28×28 ×6)
  DEFAULT_MODEL: "fashion-vgg", // bundled and small (about 1.4 MB): useful at first open
  FEATURE_MAPS: 16, // feature maps shown for a model without a classifier
  STRIP_CHANNELS: 3, // channels shown per layer in the network strip
  STRIP_THUMB_PX: 64, // strip thumbnails are max-pooled to at most this many pixels a side
  // Models up to this size keep their activations (layer views, gradients): the ImageNet VGG16
  // and VGG19 (528-548 MiB) too. Keeping them holds a second copy of the weights for the
  // backward pass; measured with the 553 MB VGG16, wasm memory after loading is 1917 MiB on one
  // thread and 2318 MiB on two (1074 and 1470 MiB without), within wasm's 4 GiB.
  ACTIVATIONS_MAX_BYTES: 640 * 1024 * 1024,
  PREPROCESS_TYPING_MS: 400, // a preprocessing field is applied this long after the last keystroke
  TEACH_BASE: "vgg16-conv-base", // the catalog entry taught on: real ImageNet weights, bundled
  TEACH_MAX_CLASSES: 20,
  BURST_FRAMES: 10, // a webcam burst: this many frames…
  BURST_EVERY_MS: 200, // …this far apart
  THUMB_PX: 48, // stored thumbnails of taught examples
  TEACH_SCALES: [320], // the further size the "scales" box adds (the base sees 224 px)
});

// `?threads=N` in the page's address overrides the default thread count (onnxruntime-web's
// rule); threads need a cross-origin isolated page, and the engine says when it has none.
const THREADS = new URLSearchParams(location.search).get("threads");
// `?backend=cpu` starts on the CPU, `?backend=webgpu` on the GPU whatever it is (a software
// one too); the default, "auto", WebGPU where the browser, its adapter and the model make it
// worth it, with the reason on the page where they do not.
const BACKEND_PARAM = new URLSearchParams(location.search).get("backend");
const BACKEND = BACKEND_PARAM === "cpu" || BACKEND_PARAM === "webgpu" ? BACKEND_PARAM : "auto";

const engine = Engine.start(undefined, { threads: THREADS == null ? null : Number(THREADS), onProgress: showEngineProgress });

/** The page's one state object: every field is here from the start.
 *  @type {import("./actions/context.js").State} */
const state = {
  engineReady: false, // the engine's build is downloaded, compiled and started
  catalog: [], // www/models/catalog.json entries
  samples: null, // a promise of the samples, each with pick()
  // the model the worker holds: the load's reply with its name, size, catalog id, options,
  // where its preprocessing came from, and reload()/reloadWith() (actions/models.js)
  model: null,
  loading: null, // the name of the model being fetched or loaded, while one is
  image: null, // {name, width, height, rgba, domain} of the current image
  view: null, // {width, height, rgba, geometry} the model saw in the last run
  overlay: {}, // {field, nested, heat, unitHeat, unitText} drawn over the view, and the unit's words
  download: null, // AbortController of the download in flight
  backend: BACKEND, // the user's choice: "auto" until one is made, then "webgpu" or "cpu"; the model's own is state.model.backend
  times: {}, // inference ms on the current image and model, by backend ("webgpu", "cpu")
  answerInView: true, // the answer's last line is on screen (else the answer bar shows)
  using: null, // the element the person focused or touched last: the answer bar never covers it
  running: null, // the run in flight, if any: a newer image waits for it, then runs alone
  runAgain: false, // an image or model arrived during that run
  open: null, // {layer, channel} open in the inspector, reopened on the next image
  teach: {
    base: null, // the sha256 of the base taught on, once teaching started
    side: null, // the side in pixels the base sees (its descriptors are made at this size)…
    flip: false, // …with the image's mirror too…
    scales: [], // …and at these further sides
    classes: [], // the classes with their examples, as saved in IndexedDB (teach-store.js)
    report: null, // the last training's report, once trained
    live: null, // the webcam's stream while live predictions run
    busy: false, // the worker is teaching (adding examples or training)
  },
  typing: null, // the timer that applies a preprocessing field once the user stops typing
  chartObserver: null, // redraws the receptive-field chart (the paper panel) at its width; replaced with each model
  // Every request that draws takes a ticket; an answer whose ticket is no longer current
  // is dropped. A new run also retires the channel and overlay tickets of the old image.
  tickets: { model: 0, image: 0, run: 0, channel: 0, overlay: 0, preprocess: 0, looksFor: 0 },
};

/** How one section asks another; each hook is an action of the section named.
 *  @type {import("./actions/context.js").Hooks} */
const hooks = Object.freeze({
  run: () => runs.run(ctx),
  showBackend: (backend) => runs.showBackend(ctx, backend),
  showPreprocessPanel: (refresh) => preprocess.showPreprocessPanel(ctx, refresh),
  resetLayerViews: () => inspect.resetLayerViews(ctx),
  showView: (view) => inspect.showView(ctx, view),
  openChannel: (layer, channel) => inspect.openChannel(ctx, layer, channel, true), // a thumbnail the person chose
  reopenChannel: (layers) => inspect.reopenChannel(ctx, layers),
  predictTaught: (image) => taught.predictTaught(ctx, image),
});

/** What every action receives.  @type {import("./actions/context.js").Context} */
const ctx = Object.freeze({ state, engine, config, hooks });

// --- the engine ---

// A worker whose wasm trapped (an engine bug, memory exhausted) is replaced by the engine;
// the new one is given the last model that loaded, and the user is told in words.
engine.onRestart = async (reason) => {
  const last = state.model;
  state.model = null;
  inspect.resetLayerViews(ctx);
  showRuntime(ctx);
  teach.restartTeaching(ctx);
  if (!last) return setText("model-status", `The engine stopped (${reason}) and was restarted.`, true);
  setText("model-status", `The engine stopped (${reason}); it was restarted and is loading ${last.name} again…`, true);
  await last.reload();
  if (state.model) setText("model-status", `The engine stopped (${reason}) and was restarted with ${last.name}; you can go on.`);
};
isolateWithServiceWorker();
showRuntime(ctx);

// --- the Model section ---

$("download-cancel").addEventListener("click", () => state.download?.abort());
$("url-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  models.modelFromUrl(ctx, $input("model-url").value.trim());
});
$("clear-cache").addEventListener("click", () => models.clearModels(ctx));
$input("model-file").addEventListener("change", (ev) => {
  const input = /** @type {HTMLInputElement} */ (ev.target);
  const files = [...input.files];
  input.value = "";
  models.modelFromFiles(ctx, files);
});
runs.initBackendChoice(ctx);

// --- the Model section: its preprocessing ---

// a field is tried as soon as the user stops typing in it, not only when it loses focus
$("preprocess-form").addEventListener("input", () => {
  clearTimeout(state.typing);
  state.typing = setTimeout(() => preprocess.changePreprocess(ctx), config.PREPROCESS_TYPING_MS);
});
$("preprocess-form").addEventListener("change", () => {
  clearTimeout(state.typing);
  preprocess.changePreprocess(ctx);
});
$("preprocess-form").addEventListener("submit", (ev) => ev.preventDefault());
$("preprocess-save").addEventListener("click", () => preprocess.savePreprocess(ctx));
$("preprocess-undo").addEventListener("click", () => state.model && preprocess.showPreprocessPanel(ctx, true));

// --- the Image section, the answer, the layers and the inspector ---

$("looks-for-run").addEventListener("click", () => looksFor.lookFor(ctx));
$("looks-for-stop").addEventListener("click", () => looksFor.stopLooking(ctx));
$("imagine-run").addEventListener("click", () => looksFor.imagine(ctx));
$("imagine-stop").addEventListener("click", () => looksFor.stopLooking(ctx));
$input("saliency").addEventListener("change", (ev) => inspect.toggleSaliency(ctx, /** @type {HTMLInputElement} */ (ev.target).checked));
// the answer bar shows only while the answer (down to its timings line) is out of view, and
// steps aside from what the person focuses or touches; on scroll it may point the other way
const placeBar = () => placeAnswerBar($("answer-bar"), $("result-panel"), state);
new IntersectionObserver(([e]) => {
  state.answerInView = e.isIntersecting;
  placeBar();
}).observe($("timings"));
// what is in use: a focused element, or a control or canvas touched (a finger that lands on
// text to scroll the page leaves the focused element the one in use)
const USED = "button, a[href], input, select, textarea, summary, label, canvas, video, [tabindex]";
for (const type of ["focusin", "pointerdown"]) {
  document.addEventListener(type, (ev) => {
    const target = ev.target instanceof Element ? ev.target : null;
    state.using = type === "focusin" ? target : target?.closest(USED) ?? document.activeElement;
    placeBar();
  }, { capture: true, passive: true });
}
let barFrame = 0;
addEventListener("scroll", () => {
  cancelAnimationFrame(barFrame);
  barFrame = requestAnimationFrame(placeBar);
}, { passive: true });
state.samples = initInputs($, {
  onImage: (name, blob, domain) => runs.setImage(ctx, name, blob, domain),
  onModelFile: (file) => models.requestModel(ctx, file.name, async () => ({ bytes: await file.arrayBuffer(), ms: null })),
  onError: (text) => setText("image-status", text, true),
});
// the hosted page keeps what its first answer used, for offline use
models.initCatalog(ctx).then(() => keepForOffline(engine)).catch(() => {});

// --- the teaching section ---

$("teach-start").addEventListener("click", () => teach.startTeaching(ctx, true));
$("teach-new-class").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = $input("teach-class-name").value.trim();
  $input("teach-class-name").value = "";
  if (name) teach.addTaughtClass(ctx, name);
});
$("teach-train").addEventListener("click", () => teach.trainTaught(ctx));
$("teach-export").addEventListener("click", () => teach.exportTaught(ctx));
$("teach-live").addEventListener("click", () => taught.toggleLive(ctx));
$("teach-clear").addEventListener("click", () => teach.clearTeach(ctx));

// --- the depth panel ---

showDepthPanel({ panel: $("depth-panel"), intro: $("depth-intro"), table: $("depth-table"), notes: $("depth-notes"), source: $("depth-source") });
