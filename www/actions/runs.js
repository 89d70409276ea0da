// @ts-check
// The Image and answer sections: a new image is drawn, then run on the current model (after the run in
// flight, if any), and the answer shown; and the backend it runs on, chosen by the user.
import { $, $canvas, setText, ticket } from "../dom.js";
import { backendDetail, backendSummary, featureMapsLine, fitNote, timingsLine } from "../format.js";
import { decodeToCanvas } from "../inputs.js";
import { placeAnswerBar, setAnswer } from "../panels/answer-bar.js";
import { showNetwork } from "../panels/network.js";
import { showFeatureMaps, showPredictions } from "../panels/results.js";
import { offerImagine } from "./looks-for.js";

/** @typedef {import("./context.js").Context} Context */

/** A new image: drawn at once, then run (after the run in flight, if any). Only the latest
 *  of images chosen in quick succession is drawn and run.
 *  @param {Context} ctx  @param {string} name  @param {Blob | Promise<Blob>} blob  @param {string | null} [domain] */
export async function setImage(ctx, name, blob, domain = null) {
  const { state, config, hooks } = ctx;
  const current = ticket(state.tickets, "image");
  setText("image-status", "");
  let pixels;
  try {
    pixels = await decodeToCanvas(await blob, $canvas("image-canvas"), config.MAX_SIDE_PX, current);
  } catch {
    // the previous image, its answer and its heading stay as they were
    if (current()) setText("image-status", `${name} is not an image this browser can decode; the previous one stays.`, true);
    return;
  }
  if (!pixels) return; // a newer image was chosen while this one decoded
  state.image = { name, domain, ...pixels };
  // a small image (Fashion-MNIST's 28×28) is shown enlarged by a whole factor, crisp
  const k = Math.max(1, Math.floor(config.MIN_IMAGE_PX / Math.max(pixels.width, pixels.height)));
  $canvas("image-canvas").style.width = k > 1 ? `${pixels.width * k}px` : "";
  $canvas("image-canvas").classList.toggle("upscaled", k > 1);
  state.times = {};
  setText("image-caption", `${name} · ${pixels.width}×${pixels.height}`);
  // the taught classes' answer for the image before is gone with it
  setAnswer($("answer-bar"), { taught: "" });
  $("taught-answer").hidden = true;
  const taught = state.teach.report && !state.teach.live ? hooks.predictTaught(state.image) : null;
  await run(ctx);
  await taught;
}

/** Runs the current image on the current model. While a run is in flight, a new request
 *  only marks that another is due: when the first ends, the latest image runs once.
 *  @param {Context} ctx  @returns {Promise<void> | void} */
export function run(ctx) {
  const { state } = ctx;
  if (!state.image) return;
  ticket(state.tickets, "run"); // answers for the image before are dropped from here on
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
  state.running = runOnce(ctx).finally(() => {
    state.running = null;
    if (state.runAgain) {
      state.runAgain = false;
      run(ctx);
    } else {
      $("result-panel").setAttribute("aria-busy", "false");
    }
  });
  return state.running;
}

/** One run of the current image, its answer, and its layers where the model keeps them.
 *  @param {Context} ctx */
async function runOnce(ctx) {
  const { state, engine, config, hooks } = ctx;
  const n = state.tickets.run;
  const current = () => state.tickets.run === n;
  const { model, image } = state;
  const pixels = { width: image.width, height: image.height, rgba: image.rgba.slice().buffer }; // the page keeps its own
  /** @param {string} s */
  const onStatus = (s) => current() && setText("result-status", `${s}…`);
  $("predictions").replaceChildren();
  $("feature-maps").replaceChildren();
  setText("timings", "");
  showFit(model, image);
  // the open channel shows the old image: dimmed (not hidden, which would move the page and
  // drop the focus) until the new one's layers are here; a focused thumbnail is drawn anew
  // then, and gets the focus back
  const focused = document.activeElement;
  const refocus = focused?.classList.contains("thumb") ? focused.getAttribute("aria-label") : null;
  $("inspector").classList.add("stale");
  $("inspector").setAttribute("aria-busy", "true");
  try {
    let timings, view;
    if (model.info.head.kind === "classifier") {
      setText("result-status", "Classifying…");
      const r = await engine.classify(pixels, config.TOP_K, { onStatus });
      if (!current()) return;
      showPredictions($("predictions"), r.predictions);
      offerImagine(ctx, r.predictions);
      setText("result-status", `Top ${r.predictions.length} for ${image.name}:`);
      showAnswerBar(ctx, `${r.predictions[0].label} ${(100 * r.predictions[0].probability).toFixed(1)}%`);
      ({ timings, view } = r);
      showBackend(ctx, r.backend);
    } else {
      setText("result-status", "Running…");
      const r = await engine.forward(pixels, config.FEATURE_MAPS, { onStatus });
      if (!current()) return;
      setText("result-status", featureMapsLine(image.name, r.shape, model.info.outputShape, r.channels.length));
      showFeatureMaps($("feature-maps"), r.channels);
      showAnswerBar(ctx, `${r.channels.length} feature maps`);
      ({ timings, view } = r);
      showBackend(ctx, r.backend);
    }
    hooks.showView(view);
    state.times[timings.backend] = timings.inferenceMs;
    setText("timings", timingsLine(timings, state.times));
    if (model.activations && model.layers) {
      // the answer stays in view; the layers' progress goes where their time will be shown
      /** @param {string} s */
      const layerStatus = (s) => current() && setText("timings", `${timingsLine(timings, state.times)} · ${s}…`);
      const { layers, cpuMs } = await engine.layers(config.STRIP_CHANNELS, config.STRIP_THUMB_PX, { onStatus: layerStatus });
      if (!current()) return;
      setText("timings", timingsLine(timings, state.times, cpuMs));
      showNetwork($("network"), layers, hooks.openChannel);
      $("network").hidden = false;
      $("network-hint").hidden = false;
      if (refocus) {
        /** @type {HTMLElement | null} */ ($("network").querySelector(`.thumb[aria-label="${CSS.escape(refocus)}"]`))?.focus({ preventScroll: true });
      }
      await hooks.reopenChannel(layers);
    }
  } catch (e) {
    if (current()) setText("result-status", `Failed: ${e.message}`, true);
  } finally {
    // a channel that was not opened again (gone from this model, or the run failed) goes
    if (current() && $("inspector").classList.contains("stale")) $("inspector").hidden = true;
  }
}

/** Says next to the answer when the image is not of the kind the model knows.
 *  @param {import("./context.js").Model} model  @param {import("./context.js").PageImage} image */
function showFit(model, image) {
  const note = fitNote(model.short, model.fit, image.domain, model.info.head.kind === "classifier");
  $("fit-note").hidden = !note;
  setText("fit-note", note);
}

/** The model's answer in the answer bar.  @param {Context} ctx  @param {string} text */
function showAnswerBar({ state }, text) {
  setAnswer($("answer-bar"), { model: text });
  placeAnswerBar($("answer-bar"), $("result-panel"), state);
}

/** Shows where the model runs and why, and ticks the matching choice.
 *  @param {Context} ctx  @param {import("./context.js").Backend} backend */
export function showBackend({ state }, backend) {
  if (!backend) return;
  if (state.model) state.model.backend = backend;
  setText("backend-status", backendSummary(backend));
  setText("backend-detail", backendDetail(backend));
  $("backend-details").hidden = !backendDetail(backend);
  for (const input of backendInputs()) input.checked = input.value === backend.name;
}

/** The user chose a backend: the loaded model switches (one loaded for the CPU only is
 *  loaded again, onto the GPU), and the current image runs again on it.
 *  @param {Context} ctx  @param {"webgpu" | "cpu"} name */
export async function chooseBackend(ctx, name) {
  const { state, engine } = ctx;
  const before = state.backend;
  state.backend = name;
  const { model } = state;
  if (!model) return;
  try {
    showBackend(ctx, await engine.setBackend(name));
  } catch (e) {
    // loaded for the CPU alone, or "auto" left a software adapter: load it again, taking the
    // GPU whatever it is (actions/models.js gpuOptions); where that fails the model before
    // stays, on the CPU
    if (name === "webgpu" && (model.loadedFor === "cpu" || /software one/.test(model.backend?.reason ?? ""))) {
      await model.reload();
      if (state.model !== model) return; // loaded onto the GPU (and run again)
      state.backend = before;
    }
    showBackend(ctx, model.backend);
    return setText("backend-status", `${e.message}.`, true);
  }
  await run(ctx);
}

/** The backend choices, ticked as the state says, each switching when chosen.
 *  @param {Context} ctx */
export function initBackendChoice(ctx) {
  // the truth from the start: the CPU where it is asked for or the browser has no WebGPU;
  // otherwise nothing is ticked until the first model says where it runs
  const cpu = ctx.state.backend === "cpu" || !("gpu" in navigator);
  // (with `?backend=webgpu` the GPU is asked for: ticked until the load says otherwise)
  const gpu = ctx.state.backend === "webgpu" && !cpu;
  for (const input of backendInputs()) {
    input.checked = (cpu && input.value === "cpu") || (gpu && input.value === "webgpu");
    input.addEventListener("change", () => input.checked && chooseBackend(ctx, /** @type {"webgpu" | "cpu"} */ (input.value)));
  }
}

/** The page's backend choices (radio buttons). */
const backendInputs = () => /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll("input[name=backend]"));
