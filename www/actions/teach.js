// @ts-check
// The teaching section: teaching new classes on the VGG16 convolutional base. The worker holds the base
// and a teacher apart from the model shown; the classes and their examples are kept in this
// browser (teach-store.js) and restored at the next start.
import { framePixels } from "../camera.js";
import { $, $button, $input, $video, saveBlob, setText } from "../dom.js";
import { formatBytes } from "../format.js";
import { decodeToCanvas } from "../inputs.js";
import { fetchEntry } from "../models.js";
import { gpuOptions } from "./models.js";
import { placeAnswerBar, setAnswer } from "../panels/answer-bar.js";
import { focusKey, reportLine, showClasses, showConfusion, showTray } from "../panels/teach.js";
import { clearTaught, loadTaught, saveTaught } from "../teach-store.js";
import { closeWebcam, predictTaught, teachStatus, webcam } from "./taught.js";

/** @typedef {import("./context.js").Context} Context
 *  @typedef {{width: number, height: number, rgba: Uint8ClampedArray<ArrayBuffer>}} Pixels
 *  @typedef {{label: string, image: Pixels}} Labelled */


/** Draws the classes and enables what can be done now.  @param {Context} ctx */
function showTeach(ctx) {
  const t = ctx.state.teach;
  // the focused button is drawn anew: the focus goes to its counterpart
  const focused = focusKey($("teach-classes")) ?? focusKey($("teach-tray-buttons"));
  const root = focused && $("teach-tray-buttons").contains(document.activeElement) ? $("teach-tray-buttons") : $("teach-classes");
  const onShown = (name) => ctx.state.image ? teachImages(ctx, name, [{ label: ctx.state.image.name, image: ctx.state.image }])
    : teachStatus("Choose an image in the Image section first.", true);
  showClasses($("teach-classes"), t.classes, {
    busy: t.busy,
    onShown,
    onFiles: (name, files) => teachFiles(ctx, name, files),
    onBurst: (name) => teachBurst(ctx, name),
    onRemove: (name) => removeTaughtClass(ctx, name),
  });
  showTray($("teach-tray"), $("teach-tray-buttons"), t.classes, { busy: t.busy, onShown });
  if (focused) /** @type {HTMLElement | null} */ (root.querySelector(focused))?.focus({ preventScroll: true });
  const counts = t.classes.map((c) => c.examples.length);
  // busy: said, not disabled (a disabled button drops the keyboard's focus)
  $button("teach-train").disabled = counts.length < 2 || counts.some((n) => n === 0);
  $button("teach-train").setAttribute("aria-disabled", String(t.busy));
  $button("teach-export").disabled = t.busy || !t.report;
  $button("teach-live").disabled = t.busy || !t.report;
}

/** Keeps the classes in this browser.  @param {Context} ctx */
function saveTeach({ state }) {
  const t = state.teach;
  return saveTaught({ base: t.base, side: t.side, flip: t.flip, scales: t.scales, classes: t.classes }).catch((e) =>
    teachStatus(`Taught, but not kept for next time: ${e.message}`, true));
}

/** Loads the base into the worker and restores what this browser kept; `byUser`: the person
 *  pressed Start (the class name takes the focus if it is still on Start), not an engine
 *  restart.  @param {Context} ctx  @param {boolean} [byUser] */
export async function startTeaching(ctx, byUser = false) {
  const { state, engine, config } = ctx;
  const entry = state.catalog.find((m) => m.id === config.TEACH_BASE);
  if (!entry) return teachStatus("The catalog has no VGG16 conv base to teach on.", true);
  const start = $button("teach-start");
  if (start.getAttribute("aria-disabled") === "true") return;
  // said, not disabled: a disabled button drops the keyboard's focus to the page's start
  start.setAttribute("aria-disabled", "true");
  try {
    teachStatus(`Fetching ${entry.short ?? entry.name}…`);
    const got = await fetchEntry(entry);
    const saved = await loadTaught().catch(() => null);
    const fits = saved?.base === entry.sha256 ? saved : null;
    const flip = fits ? fits.flip : $input("teach-flip").checked;
    const scales = fits ? fits.scales ?? [] : $input("teach-scales").checked ? config.TEACH_SCALES : [];
    const items = (fits?.classes ?? []).flatMap((c) => c.examples.length
      ? c.examples.map((e) => ({ label: c.name, features: e.features })) : [{ label: c.name }]);
    teachStatus(`Loading ${entry.short ?? entry.name}…`);
    const st = await engine.teachStart(got.bytes, {
      options: gpuOptions(state, entry.options), teacher: { flip, scales, side: fits?.side }, items,
      backend: state.backend === "cpu" ? "cpu" : "auto", onStatus: (s) => teachStatus(`${s}…`),
    });
    Object.assign(state.teach, { base: entry.sha256, side: st.side, flip: st.flip, scales: st.scales, classes: fits?.classes ?? [], report: null });
    $input("teach-flip").checked = st.flip;
    $input("teach-scales").checked = st.scales.length > 0;
    $input("teach-flip").disabled = $input("teach-scales").disabled = true;
    $("teach-work").hidden = false;
    $("teach-start").hidden = true;
    start.setAttribute("aria-disabled", "false"); // (an engine restart starts it again)
    const n = state.teach.classes.reduce((a, c) => a + c.examples.length, 0);
    teachStatus(fits ? `Restored ${state.teach.classes.length} classes (${n} images) kept in this browser. Train when ready.`
      : `Ready: the base sees ${[st.side, ...st.scales].map((s) => `${s}×${s}`).join(" and ")} pixels and describes each ` +
        `image with ${st.dim} numbers, ${st.backend.name === "webgpu" ? `on WebGPU (${st.backend.adapter})` : "on the CPU"}. Add a class.`);
    showTeach(ctx);
    // what the action opened, the first thing to do there, unless the person moved on
    const at = document.activeElement;
    if (byUser && (at === start || at === document.body || at === null)) $input("teach-class-name").focus();
  } catch (e) {
    start.setAttribute("aria-disabled", "false");
    teachStatus(`Could not start teaching: ${e.message}`, true);
  }
}

/** After the engine restarted: the classes come back from storage; train again.  @param {Context} ctx */
export function restartTeaching(ctx) {
  if (!ctx.state.teach.base) return;
  Object.assign(ctx.state.teach, { report: null, busy: false });
  $("taught-answer").hidden = true;
  setAnswer($("answer-bar"), { taught: "" });
  showConfusion($("teach-confusion"), null);
  setText("teach-report", "The engine restarted: train again.");
  startTeaching(ctx);
}

/** Declares class `name` (at most TEACH_MAX_CLASSES).  @param {Context} ctx  @param {string} name */
export async function addTaughtClass(ctx, name) {
  const { state, engine, config } = ctx;
  const t = state.teach;
  if (t.classes.length >= config.TEACH_MAX_CLASSES) return teachStatus(`At most ${config.TEACH_MAX_CLASSES} classes.`, true);
  try {
    const st = await engine.teachClass(name);
    for (const c of st.classes) if (!t.classes.some((k) => k.name === c)) t.classes.push({ name: c, examples: [] });
    await saveTeach(ctx);
    showTeach(ctx);
  } catch (e) {
    teachStatus(`Could not add the class: ${e.message}`, true);
  }
}

/** @param {Context} ctx  @param {string} name */
async function removeTaughtClass(ctx, name) {
  try {
    await ctx.engine.teachClass(name, { remove: true });
    ctx.state.teach.classes = ctx.state.teach.classes.filter((c) => c.name !== name);
    await saveTeach(ctx);
    teachStatus(`Forgot ${name}. Train again to use the change.`);
    const inRows = $("teach-classes").contains(document.activeElement);
    showTeach(ctx);
    // the row with the pressed button is gone: the focus goes to the class name field
    if (inRows && !$("teach-classes").contains(document.activeElement)) $input("teach-class-name").focus({ preventScroll: true });
  } catch (e) {
    teachStatus(`Could not remove ${name}: ${e.message}`, true);
  }
}

/** A small JPEG of `image` for the class row, `side` px square.  @param {Pixels} image  @param {number} side */
function thumbnail({ width, height, rgba }, side) {
  const src = document.createElement("canvas");
  src.width = width;
  src.height = height;
  src.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
  const c = document.createElement("canvas");
  c.width = c.height = side;
  const crop = Math.min(width, height);
  c.getContext("2d").drawImage(src, (width - crop) / 2, (height - crop) / 2, crop, crop, 0, 0, side, side);
  return c.toDataURL("image/jpeg", 0.8);
}

/** Teaches images (or functions that make them: a file is decoded only when its turn comes,
 *  so one batch never holds every file's pixels) to class `name`, one at a time, with progress.
 *  @param {Context} ctx  @param {string} name  @param {(Labelled | (() => Promise<Labelled>))[]} images */
async function teachImages(ctx, name, images) {
  const { state, engine, config } = ctx;
  const t = state.teach;
  if (t.busy) return;
  t.busy = true;
  showTeach(ctx);
  const cls = t.classes.find((c) => c.name === name);
  let done = 0, ms = 0;
  try {
    for (const next of images) {
      const { label, image } = typeof next === "function" ? await next() : next;
      teachStatus(`Adding ${label} to ${name} (${done + 1} of ${images.length})…`);
      const pixels = { width: image.width, height: image.height, rgba: image.rgba.slice().buffer };
      const { added } = await engine.teachAdd(name, pixels);
      cls.examples.push({ features: added.features, thumb: thumbnail(image, config.THUMB_PX) });
      ms += added.timings.preprocessMs + added.timings.inferenceMs;
      done++;
      showTeach(ctx);
    }
    teachStatus(`Added ${done} image${done === 1 ? "" : "s"} to ${name} (${cls.examples.length} in all), ` +
      `${(ms / Math.max(1, done)).toFixed(0)} ms each for the base${t.flip ? " (the image and its mirror)" : ""}.` +
      (t.report ? " Train again to use them." : ""));
  } catch (e) {
    teachStatus(`Stopped after ${done}: ${e.message}`, true);
  } finally {
    t.busy = false;
    await saveTeach(ctx);
    showTeach(ctx);
  }
}

/** Image files to pixels, one by one (a file that does not decode stops the batch, named).
 *  @param {Context} ctx  @param {string} name  @param {File[]} files */
function teachFiles(ctx, name, files) {
  const canvas = document.createElement("canvas");
  return teachImages(ctx, name, files.map((f) => async () => {
    const image = await decodeToCanvas(f, canvas, ctx.config.MAX_SIDE_PX).catch(() => {
      throw new Error(`${f.name} is not an image this browser can decode`);
    });
    return { label: f.name, image };
  }));
}

/** A burst of webcam frames: grabbed first (two seconds), then taught.  @param {Context} ctx  @param {string} name */
async function teachBurst(ctx, name) {
  const { BURST_FRAMES, BURST_EVERY_MS } = ctx.config;
  const stream = await webcam();
  if (!stream) return;
  const frames = [];
  try {
    for (let i = 0; i < BURST_FRAMES; i++) {
      teachStatus(`Webcam burst for ${name}: frame ${i + 1} of ${BURST_FRAMES}…`);
      frames.push({ label: `webcam frame ${i + 1}`, image: framePixels($video("teach-video")) });
      await new Promise((r) => setTimeout(r, BURST_EVERY_MS));
    }
  } finally {
    closeWebcam(stream);
  }
  await teachImages(ctx, name, frames);
}

/** Trains the classifier on the examples, and answers for the current image.  @param {Context} ctx */
export async function trainTaught(ctx) {
  const { state, engine } = ctx;
  const t = state.teach;
  if (t.busy) return;
  t.busy = true;
  showTeach(ctx);
  try {
    teachStatus("Training…");
    t.report = await engine.teachTrain({ seed: 0 });
    setText("teach-report", reportLine(t.report, t.classes.reduce((n, c) => n + c.examples.length, 0)));
    showConfusion($("teach-confusion"), t.report);
    teachStatus("Trained: choose any image (the Image section has buttons for your classes too), or predict from the webcam.");
    if (state.image) await predictTaught(ctx, state.image);
  } catch (e) {
    teachStatus(`Could not train: ${e.message}`, true);
  } finally {
    t.busy = false;
    showTeach(ctx);
  }
}

/** Downloads the base with the taught classifier as ONNX, and its sidecar.  @param {Context} ctx */
export async function exportTaught({ state, engine }) {
  try {
    teachStatus("Writing the model…");
    const { onnx, sidecar } = await engine.teachExport();
    const stem = `vgg16-taught-${state.teach.report.classes.length}-classes`;
    saveBlob(new Blob([onnx], { type: "application/octet-stream" }), `${stem}.onnx`);
    saveBlob(new Blob([JSON.stringify(sidecar, null, 1)], { type: "application/json" }), `${stem}.json`);
    teachStatus(`Downloaded ${stem}.onnx (${formatBytes(onnx.byteLength)}) and ${stem}.json: open both with ` +
      "“Open an ONNX file…” in the Model section, or in onnxruntime.");
  } catch (e) {
    teachStatus(`Could not export: ${e.message}`, true);
  }
}

/** Forgets every class, in the worker and in this browser.  @param {Context} ctx */
export async function clearTeach(ctx) {
  const t = ctx.state.teach;
  try {
    for (const c of [...t.classes]) await ctx.engine.teachClass(c.name, { remove: true });
    await clearTaught();
    Object.assign(t, { classes: [], report: null });
    setText("teach-report", "");
    setText("teach-answer", "");
    $("taught-answer").hidden = true;
    setAnswer($("answer-bar"), { taught: "" });
    placeAnswerBar($("answer-bar"), $("result-panel"), ctx.state);
    showConfusion($("teach-confusion"), null);
    teachStatus("Forgot every class, here and in this browser's storage.");
    showTeach(ctx);
  } catch (e) {
    teachStatus(`Could not forget the classes: ${e.message}`, true);
  }
}
