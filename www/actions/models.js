// @ts-check
// The Model section: which model the worker holds. From the catalog (the default one at first
// open), a URL or the user's files; a later request supersedes an earlier one, and a failure
// leaves the current model in place.
import { $, $button, $select, $progress, setText, ticket } from "../dom.js";
import { convolutionSummary, credit, formatBytes, loadedLine, modelSummary } from "../format.js";
import { fitSamples } from "../inputs.js";
import { clearCache, download, downloadFailure, fetchEntry, loadCatalog, sha256Hex } from "../models.js";
import { showPaperPanel } from "../panels/paper.js";
import { fillPicker } from "../panels/picker.js";

/** @typedef {import("./context.js").Context} Context */

/** A model's options as loaded: with `softwareGpu` where the person chose WebGPU (the CPU is
 *  faster than a software adapter, so "auto" alone leaves it).
 *  @param {import("./context.js").State} state  @param {import("../pkg/vgg_wasm.js").VggOptions | undefined} options */
export function gpuOptions(state, options) {
  return state.backend === "webgpu" ? { ...options, softwareGpu: true } : options;
}

/** Reads the catalog into the picker; at first open, loads the default model and runs a
 *  sample on it.  @param {Context} ctx */
export async function initCatalog(ctx) {
  const { state, config } = ctx;
  const select = $select("model-select");
  try {
    state.catalog = await loadCatalog();
  } catch (e) {
    return setText("model-status", `Could not read the model catalog: ${e.message}`, true);
  }
  fillPicker(select, state.catalog);
  initPicker(ctx, select);
  // the default only while the user has asked for no model (the catalog can arrive late)
  const entry = state.catalog.find((m) => m.id === config.DEFAULT_MODEL);
  if (state.tickets.model === 0 && entry) {
    select.value = config.DEFAULT_MODEL;
    const loading = chooseModel(ctx, config.DEFAULT_MODEL);
    await firstAnswer(ctx, entry);
    await loading;
  }
}

/** The picker loads on an explicit choice only: a pick from its open list (mouse, touch, or
 *  Enter in the list), Enter on it, or its Load button. Arrow keys and typing on the closed
 *  picker change its value (and fire "change") in Chromium and Firefox; loading there would
 *  start each download passed over, the 500 MB VGG16 among them, so they only offer Load.
 *  @param {Context} ctx  @param {HTMLSelectElement} select */
function initPicker(ctx, select) {
  let keyed = false; // the value was last changed by keys on the closed picker
  // the keys that change a closed picker's value: arrows, Page/Home/End, type-to-find; not
  // the ones that open its list (Space, F4, Alt+arrow) nor modifiers alone
  const changing = (ev) => !ev.altKey && !ev.ctrlKey && !ev.metaKey &&
    (/^(Arrow(Up|Down|Left|Right)|Page(Up|Down)|Home|End)$/.test(ev.key) || (ev.key.length === 1 && ev.key !== " "));
  select.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      loadChosen(ctx);
    } else if (changing(ev)) {
      keyed = true;
    } else if (ev.key === " " || ev.key === "F4" || ev.altKey) {
      keyed = false; // the list opens: a pick there is explicit
    }
  });
  select.addEventListener("pointerdown", () => (keyed = false));
  select.addEventListener("change", () => {
    const byKeys = keyed;
    keyed = false;
    if (byKeys) return offerLoad(ctx);
    loadChosen(ctx);
  });
  $button("model-load").addEventListener("click", () => loadChosen(ctx));
}

/** Loads the picker's model, unless it is the one loaded or loading.  @param {Context} ctx */
function loadChosen(ctx) {
  const { state } = ctx;
  const id = $select("model-select").value;
  const entry = state.catalog.find((m) => m.id === id);
  if (!entry || id === (state.model?.id ?? "") || state.loading === entry.name) return;
  chooseModel(ctx, id);
}

/** Hides the Load offer (a load started or ended: the picker shows what is loaded). */
function withdrawLoad() {
  $button("model-load").hidden = $("model-pick-hint").hidden = true;
  setText("model-pick-hint", "");
}

/** After keys on the closed picker: what Enter or Load would load, and its size.
 *  @param {Context} ctx */
function offerLoad({ state }) {
  const select = $select("model-select");
  const entry = state.catalog.find((m) => m.id === select.value);
  const differs = Boolean(entry) && select.value !== (state.model?.id ?? "");
  $button("model-load").hidden = !differs;
  $("model-pick-hint").hidden = !differs;
  if (differs) {
    setText("model-pick-hint", `Enter or Load loads ${entry.short ?? entry.name} (${formatBytes(entry.bytes)}${entry.bundled ? "" : ", a download"}).`);
  }
}

/** At first open, one sample the default model knows runs by itself (it waits for the model
 *  to load), so that an answer is on screen without a click, unless the user chose an image.
 *  @param {Context} ctx  @param {import("./context.js").CatalogEntry} entry */
async function firstAnswer({ state }, entry) {
  fitSamples($, entry.recognises?.domain, entry.short ?? entry.name);
  const samples = await state.samples;
  if (state.tickets.image > 0) return;
  const sample = samples.find((s) => s.domain === entry.recognises?.domain) ?? samples[0];
  await sample?.pick();
}

/** Progress of a download, in the download box; returns the callbacks to hand it.
 *  @param {Context} ctx  @param {string} name */
function downloadProgress({ state }, name) {
  state.download = new AbortController();
  $("download").hidden = false;
  /** @param {{loaded: number, total: number}} p */
  const onProgress = ({ loaded, total }) => {
    $progress("download-progress").value = total ? loaded / total : 0;
    setText("download-text", `${formatBytes(loaded)} of ${formatBytes(total)} (${total ? Math.floor((100 * loaded) / total) : 0}%)`);
  };
  /** @param {string} s */
  const onStage = (s) => setText("model-status", `${name}: ${s}…`);
  const done = () => {
    $("download").hidden = true;
    state.download = null;
  };
  return { onProgress, onStage, signal: state.download.signal, done };
}

/** The catalog's model `id`.  @param {Context} ctx  @param {string} id */
export function chooseModel(ctx, id) {
  const entry = ctx.state.catalog.find((m) => m.id === id);
  if (!entry) return;
  withdrawLoad();
  return requestModel(ctx, entry.name, async () => {
    const p = downloadProgress(ctx, entry.name);
    try {
      return await fetchEntry(entry, p);
    } finally {
      p.done();
    }
  }, { options: entry.options, id, credit: credit(entry), fit: entry.recognises ?? null, from: "from the catalog", short: entry.short });
}

/** A model from any URL: the server must allow cross-origin downloads. No catalog vouches
 *  for it, so its sha256 is shown for the user to compare with the publisher's.
 *  @param {Context} ctx  @param {string} url */
export function modelFromUrl(ctx, url) {
  requestModel(ctx, url.split("/").pop() || url, async () => {
    const p = downloadProgress(ctx, url);
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

/** An .onnx file, with its .json sidecar if one was chosen with it.
 *  @param {Context} ctx  @param {File[]} files */
export async function modelFromFiles(ctx, files) {
  const onnx = files.find((f) => f.name.toLowerCase().endsWith(".onnx"));
  if (!onnx) return setText("model-status", "Choose an .onnx file (optionally with its .json sidecar).", true);
  const sidecar = files.find((f) => f.name.toLowerCase().endsWith(".json"));
  let options;
  try {
    options = sidecar ? JSON.parse(await sidecar.text()) : undefined;
  } catch (e) {
    return setText("model-status", `Could not read ${sidecar.name}: ${e.message}.`, true);
  }
  await requestModel(ctx, onnx.name, async () => ({ bytes: await onnx.arrayBuffer(), ms: null }), { options, from: sidecar ? `from ${sidecar.name}` : undefined });
}

/** Forgets the downloaded models.  @param {Context} _ctx */
export async function clearModels(_ctx) {
  try {
    await clearCache();
    setText("model-status", "Downloaded models were removed from the cache.");
  } catch (e) {
    setText("model-status", `Could not clear the cache: ${e.message}.`, true);
  }
}

/**
 * @typedef {{bytes: ArrayBuffer, ms: number | null, fromCache?: boolean, notKept?: string, credit?: string}} Got
 * @typedef {{options?: import("../pkg/vgg_wasm.js").VggOptions, id?: string | null, credit?: string,
 *   fit?: import("./context.js").Fit | null, from?: string | null, short?: string | null}} ModelMeta
 */

/** Loads the model that `source()` gives ({bytes, ms, fromCache}). A later request
 *  supersedes this one; a failure leaves the current model in place. `fit`: what the model
 *  recognises (the catalog's `recognises`); `from`: where its preprocessing comes from, in
 *  words (none given: it is guessed, and the page says so).
 *  @param {Context} ctx  @param {string} name  @param {() => Promise<Got>} source  @param {ModelMeta} [meta] */
export async function requestModel(ctx, name, source, { options, id = null, credit = "", fit = null, from = null, short = null } = {}) {
  const { state, engine, config, hooks } = ctx;
  const current = ticket(state.tickets, "model");
  state.download?.abort();
  state.loading = name;
  setText("model-status", `Fetching ${name}…`);
  try {
    const got = await source();
    if (!current()) return;
    const size = got.bytes.byteLength; // read now: the buffer is transferred to the worker
    if (!state.engineReady) {
      setText("model-status", `${name} (${formatBytes(size)}) is here; waiting for the engine, whose WebAssembly is still downloading…`);
      await engine.started.catch(() => {}); // its failure is the load's, below
      if (!current()) return;
    }
    setText("model-status", `Loading ${name} (${formatBytes(size)}): parsing and optimising…`);
    const t0 = performance.now();
    const loaded = await engine.load(got.bytes, {
      // "auto" never fails for want of a GPU: the CPU answers, and the page says why; where
      // the person chose WebGPU it takes a software adapter too (softwareGpu), and an int8
      // model still loads, on the CPU, saying why
      options: gpuOptions(state, options), keepActivationsUpTo: config.ACTIVATIONS_MAX_BYTES,
      backend: state.backend === "cpu" ? "cpu" : "auto",
      onStatus: (s) => current() && setText("model-status", `Loading ${name}: ${s}…`),
    });
    if (!current()) return; // a newer model follows this one into the worker
    const loadMs = performance.now() - t0;
    state.loading = null;
    // a file that carries its preprocessing in its metadata (a taught model's export) was
    // not guessed: the crate names that source first in `detected` (src/pipeline/resolve.rs)
    const fromFile = loaded.info.detected.some((d) => d.includes("the model's metadata (\"preprocess\")"));
    const guessed = !options?.preprocess && !fromFile;
    // `reload` fetches it again into a new worker, should this one stop; `reloadWith` loads
    // it with other options (a layout the loaded graph was not planned for)
    /** @param {import("../pkg/vgg_wasm.js").VggOptions} opts */
    const again = (opts) => requestModel(ctx, name, source, { options: opts, id, credit, fit, from: opts === options ? from : "as you set it", short });
    state.model = {
      ...loaded, name, bytes: size, id, loadedFor: state.backend, fit, options, guessed, from: from ?? (fromFile ? "from the model file's metadata" : "guessed"),
      short: short ?? name, reload: () => again(options), reloadWith: again,
    };
    const fetched = got.ms == null ? null : { ms: got.ms, fromCache: got.fromCache };
    const notKept = got.notKept ? ` It could not be kept for next time (${got.notKept}): it will be downloaded again.` : "";
    setText("model-status", loadedLine(name, { fetched, loadMs, backend: loaded.backend.name }) + notKept);
    $select("model-select").value = id ?? "";
    withdrawLoad();
    setText("model-credit", got.credit ?? credit);
    setText("model-summary", modelSummary({ ...loaded, bytes: size }));
    hooks.showPreprocessPanel();
    fitSamples($, fit?.domain, short ?? name);
    state.times = {};
    hooks.showBackend(loaded.backend);
    setText("convolution-status", convolutionSummary(loaded.info.convolutions));
    state.chartObserver = showPaperPanel({ panel: $("paper-panel"), list: $("paper-facts"), chart: $("rf-chart") }, state.model, state.chartObserver);
    hooks.resetLayerViews();
    if (state.image) await hooks.run();
  } catch (e) {
    if (!current()) return;
    state.loading = null;
    $select("model-select").value = state.model?.id ?? "";
    withdrawLoad();
    const kept = state.model ? " The previous model is still loaded." : "";
    setText("model-status", `Could not load ${name}: ${e.message}.${kept}`, true);
    if (state.image && !state.model) setText("result-status", `${state.image.name} waits for a model that loads.`, true);
  }
}
