// @ts-check
// "Why only 3x3?": the paper's argument (Simonyan & Zisserman 2015, Section 2.3) with the
// numbers of the loaded model, which the crate computes from its graph (convStack).
import { drawRfChart } from "../render/rf-chart.js";

/** The panel's sentences for a model's layers, convStack and preprocessing. Pure. */
export function paperFacts(layers, convStack) {
  const { convs, all3x3, stack } = convStack;
  const facts = [`${all3x3 ? "All" : "Not all"} ${convs} convolutions of this model are 3×3` +
    (all3x3 ? ", as in every configuration of the paper (A to E)." : ".")];
  if (stack) {
    const { labels, fields, channels: c, layers: n, stackWeights, singleWeights, field: rf } = stack;
    facts.push(`Stacked 3×3 layers grow the field: on ${labels.slice(0, 3).join(", ")}, ` +
      fields.map((r, i) => `${i + 1} layer${i ? "s" : ""} see${i ? "" : "s"} ${r}×${r}`).join(", ") + " (in units of their input).");
    facts.push(`With C = ${c} channels, ${n} stacked 3×3 layers have ${n}·9·C² = ${stackWeights.toLocaleString("en")} weights; ` +
      `one ${rf}×${rf} layer with the same field would have ${rf * rf}·C² = ${singleWeights.toLocaleString("en")}` +
      `: the stack has ${Math.round(100 * (1 - stackWeights / singleWeights))}% fewer weights, and ${n} ReLUs instead of 1.`);
  }
  const last = [...layers].reverse().find((l) => l.outShape.length === 3);
  if (last) facts.push(`Its last spatial layer, ${last.label}, sees ${last.rf[0]}×${last.rf[1]} input pixels with a stride of ${last.stride[0]}.`);
  return facts;
}

/** Shows the panel for a loaded model, or hides it when the model has no layer analysis.
 *  The chart is drawn again when its width changes: returns the ResizeObserver that does it,
 *  which replaces `previous` (the one of the model before), to hand in next time.
 *  @param {{panel: HTMLElement, list: HTMLElement, chart: Element}} parts
 *  @param {Pick<import("../protocol.js").LoadReply, "layers" | "convStack" | "info">} model
 *  @param {ResizeObserver | null} [previous]  @returns {ResizeObserver | null} */
export function showPaperPanel({ panel, list, chart }, model, previous = null) {
  panel.hidden = !model.layers;
  if (!model.layers) return previous;
  const { layers, convStack, info } = model;
  list.replaceChildren(...paperFacts(layers, convStack).map((t) => Object.assign(document.createElement("li"), { textContent: t })));
  // the input size the analysis was made for (a padded 3x3 conv keeps it)
  const input = info.preprocess.crop ? info.preprocess.crop[0] + 2 * info.preprocess.pad : layers[0].outShape[1];
  const spatial = layers.filter((l) => l.outShape.length === 3 && (l.kind === "conv" || l.kind === "pool"));
  // drawn for the width it has, and again when that changes (a phone turned, a window resized)
  const draw = () => drawRfChart(chart, spatial, input, chart.clientWidth || chart.parentElement.clientWidth);
  draw();
  previous?.disconnect();
  const observer = new ResizeObserver(draw);
  observer.observe(chart.parentElement);
  return observer;
}
