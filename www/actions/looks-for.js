// @ts-check
// "What this channel looks for" (the open channel's visualisation, forming step by step:
// Simonyan et al. 2013, Olah et al. 2017) beside "Where it fired most" (its strongest units
// over the samples the model knows, each a crop of the unit's receptive field), and "What
// the model imagines a <class> looks like" under the answer. Each step is
// one request, so the worker answers other requests between them, a newer request (another
// channel, a new model) supersedes this one, and Stop ends it.
import { $, $canvas, setText, ticket } from "../dom.js";

/** @typedef {import("./context.js").Context} Context */

/** Side and steps of the page's visualisations on a model that takes any size; the words
 *  beside it say the time they took. */
export const LOOK_SIZE = 96;
export const LOOK_STEPS = 48;
/** Steps per request: a frame drawn every few steps. */
const CHUNK = 4;

/** Hides the panel and frees a visualisation in progress (a new model, a new channel).
 *  @param {Context} ctx */
export function resetLooksFor({ state, engine }) {
  ticket(state.tickets, "looksFor"); // retires a run in progress
  $("looks-for-out").hidden = true;
  $("looks-for-stop").hidden = true;
  setText("looks-for-status", "");
  $("imagined").hidden = true;
  $("imagine-stop").hidden = true;
  setText("imagine-status", "");
  engine.visualizeStop().catch(() => {});
}

/** Draws straight RGBA into a canvas of its size.  @param {HTMLCanvasElement} canvas
 *  @param {{width: number, height: number, rgba: Uint8ClampedArray<ArrayBuffer>}} image */
function draw(canvas, { width, height, rgba }) {
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d")?.putImageData(new ImageData(rgba, width, height), 0, 0);
}

/** Forms a visualisation frame by frame into `canvas`, with its words in `caption` and
 *  `status`, while `current()`; the caption starts with `title` and ends with `more(frame)`. The last frame (null
 *  when superseded before the first).
 *  @param {Context} ctx  @param {import("../pkg/vgg_wasm.js").VisualizeOptions} options
 *  @param {{canvas: HTMLCanvasElement, caption: string, status: string, title: string}} where  @param {() => boolean} current
 *  @param {(f: import("../protocol.js").VisualizeReply) => string} more
 *  @returns {Promise<import("../protocol.js").VisualizeReply | null>} */
async function formImage({ engine }, options, { canvas, caption, status, title }, current, more) {
  let f = await engine.visualize(options);
  while (current()) {
    draw(canvas, f);
    setText(caption, `${title}: step ${f.step} of ${f.steps}, ${f.width}×${f.height} px, ` +
      `${(f.msPerStep / 1000).toFixed(2)} s a step on the ${f.backend === "cpu" ? "CPU" : "GPU"}${more(f)}.`);
    if (f.step >= f.steps) return f;
    setText(status, `Forming the image by gradient ascent on the input (step ${f.step} of ${f.steps})…`);
    f = await engine.visualizeStep(CHUNK);
  }
  return null;
}

/** What the model imagines the class chosen in the answer's list looks like (Simonyan et
 *  al. 2013: the image that maximises its score), and what it answers on that image.
 *  @param {Context} ctx */
export async function imagine(ctx) {
  const { state } = ctx;
  const select = /** @type {HTMLSelectElement} */ ($("imagine-class"));
  const index = Number(select.value);
  const label = select.selectedOptions[0]?.textContent ?? String(index);
  if (!state.model || !(index >= 0)) return;
  const current = ticket(state.tickets, "looksFor");
  $("imagined").hidden = false;
  $("imagine-stop").hidden = false;
  setText("imagined-caption", "");
  try {
    const size = state.model.info.dynamicSize ? LOOK_SIZE : undefined;
    const f = await formImage(ctx, { target: { class: index }, size, steps: LOOK_STEPS, seed: 0 },
      { canvas: $canvas("imagined-canvas"), caption: "imagined-caption", status: "imagine-status", title: `What the model imagines a ${label} looks like` }, current,
      (f) => f.top ? `; on it the model answers ${f.top.label} (${(100 * f.top.probability).toFixed(1)}%)` : "");
    if (!current() || !f) return;
    $("imagine-stop").hidden = true;
    // (the caption above already says what the image is; the status says how it went)
    setText("imagine-status", `Done in ${(f.ms / 1000).toFixed(1)} s (score ${f.value.toPrecision(3)}).`);
  } catch (e) {
    if (current()) {
      $("imagine-stop").hidden = true;
      setText("imagine-status", `Could not imagine a ${label}: ${e.message}`, true);
    }
  }
}

/** The classes of the answer, to imagine one: shown where the model keeps its activations.
 *  @param {Context} ctx  @param {import("../pkg/vgg_wasm.js").Prediction[]} predictions */
export function offerImagine({ state }, predictions) {
  const can = Boolean(state.model?.activations && state.model.layers);
  $("imagine-row").hidden = !can;
  if (!can) return;
  const select = /** @type {HTMLSelectElement} */ ($("imagine-class"));
  const keep = select.value;
  select.replaceChildren(...predictions.map((p) => {
    const o = document.createElement("option");
    o.value = String(p.index);
    o.textContent = p.label;
    return o;
  }));
  if (predictions.some((p) => String(p.index) === keep)) select.value = keep;
}

/** The open channel's top patches over the model's samples, then its visualisation.
 *  @param {Context} ctx */
export async function lookFor(ctx) {
  const { state, engine } = ctx;
  const open = state.open;
  if (!open || !state.model) return;
  const { layer, channel } = open;
  const current = ticket(state.tickets, "looksFor");
  $("looks-for-out").hidden = false;
  $("looks-for-stop").hidden = false;
  $("patches").replaceChildren();
  setText("patches-caption", "");
  setText("looks-for-caption", "");
  try {
    // where it fired most: the samples of what the model knows (all of them if it says not)
    setText("looks-for-status", `Running the samples through the model to find where ${layer} channel ${channel} fires most…`);
    const domain = state.model.fit?.domain ?? null;
    const samples = (await state.samples ?? []).filter((s) => !domain || s.domain === domain);
    const files = await Promise.all(samples.map((s) => fetch(`samples/${s.file}`).then((r) => r.arrayBuffer())));
    const patches = await engine.patches(layer, channel, 9, files);
    if (!current()) return;
    $("patches").replaceChildren(...patches.map((p) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "patch";
      const name = samples[p.image].name;
      b.title = `${name}: unit (${p.y}, ${p.x}), ${p.value.toPrecision(3)}`;
      b.setAttribute("aria-label", `${name}, unit (${p.y}, ${p.x}), activation ${p.value.toPrecision(3)}`);
      const c = document.createElement("canvas");
      if (p.width > 0) draw(c, { width: p.width, height: p.height, rgba: new Uint8ClampedArray(p.rgba) });
      // the unit also saw padding: its box reaches past the image
      if (p.field.clipped && JSON.stringify(p.field.clipped) !== JSON.stringify(p.field.unclipped)) b.classList.add("padded");
      b.append(c);
      b.addEventListener("click", () => samples[p.image].pick());
      return b;
    }));
    const best = patches.length ? patches[0].value : 0;
    setText("patches-caption", `Where it fired most: the ${patches.length} strongest units over ${samples.length} samples ` +
      `(best ${best.toPrecision(3)}); each is the unit's receptive field, cut at the image (dashed: it also saw padding). Click one to open that sample.`);
    // what it looks for: the image formed by gradient ascent
    const size = state.model.info.dynamicSize ? LOOK_SIZE : undefined;
    const f = await formImage(ctx, { target: { layer, channel }, size, steps: LOOK_STEPS, seed: 0 },
      { canvas: $canvas("looks-for-canvas"), caption: "looks-for-caption", status: "looks-for-status", title: `What ${layer} channel ${channel} looks for` }, current,
      (f) => f.activation === null ? "" : `; the channel's mean on it ${f.activation.toPrecision(3)}`);
    if (!current() || !f) return;
    $("looks-for-stop").hidden = true;
    const beats = f.activation !== null && patches.length
      ? ` Its mean activation there is ${f.activation.toPrecision(3)}, against ${best.toPrecision(3)} at the best single unit of any sample.` : "";
    setText("looks-for-status", `Done in ${(f.ms / 1000).toFixed(1)} s.${beats}`);
  } catch (e) {
    if (current()) {
      $("looks-for-stop").hidden = true;
      setText("looks-for-status", `Could not show what ${layer} channel ${channel} looks for: ${e.message}`, true);
    }
  }
}

/** Stops the visualisation in progress; what formed so far stays.  @param {Context} ctx */
export function stopLooking(ctx) {
  ticket(ctx.state.tickets, "looksFor");
  for (const [button, status] of [["looks-for-stop", "looks-for-status"], ["imagine-stop", "imagine-status"]]) {
    if (!$(button).hidden) setText(status, "Stopped.");
    $(button).hidden = true;
  }
  ctx.engine.visualizeStop().catch(() => {});
}
