// @ts-check
// "What each layer sees": the image as the model saw it, the network strip's channels in the inspector,
// a unit's receptive fields (theoretical and effective) and the saliency map.
import { $, $canvas, $input, setText, ticket } from "../dom.js";
import { formatBytes, viewCaption } from "../format.js";
import { showChannel } from "../panels/network.js";
import { drawFieldView } from "../render/field-view.js";
import { resetLooksFor } from "./looks-for.js";

/** @typedef {import("./context.js").Context} Context */

/** Hides the views of the last run's layers (a new model).  @param {Context} ctx */
export function resetLayerViews(ctx) {
  const { state } = ctx;
  resetLooksFor(ctx);
  // the classes offered were the last model's (a new channel keeps them: the row's height
  // stays as it is under a person reading below it)
  $("imagine-row").hidden = true;
  state.view = null;
  state.overlay = {};
  state.open = null;
  $("view-figure").hidden = true;
  $("view-legend").hidden = true;
  $("network-panel").hidden = true;
  $("inspector").hidden = true;
  $("inspector").classList.remove("stale");
  $("network").replaceChildren();
  $input("saliency").checked = false;
  $("saliency-toggle").hidden = true;
  setText("unit-status", "");
}

/** The image as the model saw it, and what can be inspected of this model.
 *  @param {Context} ctx  @param {import("./context.js").View} view */
export function showView({ state, config }, view) {
  state.view = view;
  state.overlay = {};
  const { model } = state;
  $input("saliency").checked = false;
  $("view-figure").hidden = false;
  $("view-legend").hidden = true; // until a unit is open on this image
  $("network-panel").hidden = false;
  const layers = Boolean(model.activations && model.layers);
  $("network").hidden = !layers;
  $("network-hint").hidden = !layers;
  $("saliency-toggle").hidden = !(layers && model.info.head.kind === "classifier");
  setText("unit-status", layers ? "" : model.layersError
    ? `This model's layers cannot be shown: ${model.layersError}.`
    : `This model is larger than ${formatBytes(config.ACTIVATIONS_MAX_BYTES)}, so its layers' activations are not kept: only its input is shown.`);
  setText("view-caption", viewCaption(view));
  drawFieldView($canvas("view-canvas"), view, {}, model.info.preprocess.channelOrder === "gray");
}

/** Draws the model's view with the current overlay.  @param {Context} ctx */
function redraw({ state }) {
  drawFieldView($canvas("view-canvas"), state.view, state.overlay, state.model.info.preprocess.channelOrder === "gray");
}

/** After a new image's layers arrived: the channel that was open opens again on it, if the
 *  layer and channel still exist.  @param {Context} ctx  @param {import("./context.js").Layers} layers */
export async function reopenChannel(ctx, layers) {
  const open = ctx.state.open;
  const layer = open && layers.find((l) => l.label === open.layer);
  if (layer && open.channel < layer.outShape[0]) await openChannel(ctx, open.layer, open.channel, false);
  else ctx.state.open = null;
}

/** Opens `channel` of `layer` in the inspector; `byUser`: the person asked (focus goes to
 *  it), not a new image's layers reopening it (the page stays where it is).
 *  @param {Context} ctx  @param {string} layer  @param {number} channel  @param {boolean} [byUser] */
export async function openChannel(ctx, layer, channel, byUser = false) {
  const { state, engine } = ctx;
  const current = ticket(state.tickets, "channel");
  try {
    const ch = await engine.channel(layer, channel);
    if (!current()) return;
    // another channel: what the last one looked for goes (a new image keeps it: it does not depend on the image)
    if (byUser) resetLooksFor(ctx);
    state.open = { layer, channel }; // the channel shown, opened again on the next image
    showChannel({ inspector: $("inspector"), caption: $("inspector-caption"), cursor: $("inspector-cursor") }, ch,
      (y, x) => showUnit(ctx, layer, channel, y, x, ch.data[y * ch.w + x]), { byUser });
  } catch (e) {
    if (current()) setText("unit-status", `Could not open ${layer} channel ${channel}: ${e.message}`, true);
  }
}

/** A unit's receptive field over the view, and its effective one (a gradient).
 *  @param {Context} ctx  @param {string} layer  @param {number} channel  @param {number} y  @param {number} x
 *  @param {number} value the unit's activation */
async function showUnit(ctx, layer, channel, y, x, value) {
  const { state, engine } = ctx;
  const current = ticket(state.tickets, "overlay");
  try {
    setText("unit-status", `Computing the effective receptive field of ${layer}[${channel}, ${y}, ${x}]…`);
    const u = await engine.unitField(layer, channel, y, x);
    if (!current()) return;
    $input("saliency").checked = false;
    state.overlay = { field: u.field, nested: u.nested, heat: u.erf.map, unitHeat: u.erf.map };
    redraw(ctx);
    const b = u.field.unclipped;
    // a unit at zero (its ReLU is off on this image) has no gradient: no heat map to show
    const heat = u.erf.map.some((v) => v > 0)
      ? `Red: its effective receptive field, |∂ unit / ∂ pixel| (Luo et al. 2016), ${u.erf.ms.toFixed(0)} ms.`
      : `No red: no pixel changes this unit on this image (its value is ${value === 0 ? "0" : value.toPrecision(3)}; every path ` +
        "from the image to it passes a ReLU that is off), so its effective receptive field is empty. Try a brighter unit.";
    $("view-legend").hidden = false;
    state.overlay.unitText = `${layer}, channel ${channel}, unit (${y}, ${x}): receptive field ${b.bottom - b.top + 1}×${b.right - b.left + 1} px, ` +
      `rows ${b.top}…${b.bottom}, columns ${b.left}…${b.right} of the model's view (yellow; hatched where it is padding). ` +
      `Blue: the units it depends on at each earlier layer. ${heat}`;
    setText("unit-status", state.overlay.unitText);
  } catch (e) {
    if (current()) setText("unit-status", `Could not compute this unit: ${e.message}`, true);
  }
}

/** The saliency map over the view, or (off) back to the unit's field.
 *  @param {Context} ctx  @param {boolean} on */
export async function toggleSaliency(ctx, on) {
  const { state, engine } = ctx;
  const current = ticket(state.tickets, "overlay");
  if (!on) {
    // back to the unit's field and its words, if one was open; else nothing
    state.overlay.heat = state.overlay.unitHeat ?? null;
    setText("unit-status", state.overlay.unitText ?? "");
    setText("legend-red", "its effective field");
    return redraw(ctx);
  }
  try {
    setText("unit-status", "Computing the saliency map…");
    const s = await engine.saliency();
    if (!current()) return;
    state.overlay.heat = s.map;
    // the unit's boxes stay drawn under the saliency: the words say so
    const boxes = state.overlay.field ? " The yellow and blue boxes are still the chosen unit's receptive fields; its own red field returns when this is off." : "";
    setText("legend-red", `the saliency of ${s.target}`);
    setText("unit-status", `Red: the saliency of ${s.target}: |∂ score / ∂ pixel|, largest over colour channels (Simonyan et al. 2014); ${s.ms.toFixed(0)} ms.${boxes}`);
    redraw(ctx);
  } catch (e) {
    if (current()) setText("unit-status", `Saliency failed: ${e.message}`, true);
  }
}
