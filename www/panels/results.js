// @ts-check
// What the model answered: top-k bars, or the most active feature maps of a model
// without a classifier.
import { greyMap } from "../render/maps.js";

const FEATURE_PX = 72; // displayed size of one feature map

/** Top-k predictions as labelled bars. Labels come from the user's model: text only. */
export function showPredictions(list, predictions) {
  list.replaceChildren();
  for (const p of predictions) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = p.label;
    label.title = p.label; // shown whole on hover where the line cuts it
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

/** The engine's ranked channels of a feature-map output, each scaled to its own maximum. */
export function showFeatureMaps(grid, channels) {
  grid.replaceChildren();
  for (const ch of channels) {
    const canvas = greyMap(ch.data, ch.w, ch.h, FEATURE_PX);
    // a fixed width and the map's own aspect, whatever its orientation
    canvas.style.width = `${FEATURE_PX}px`;
    canvas.style.height = "";
    let max = 0;
    for (const v of ch.data) max = Math.max(max, v);
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `channel ${ch.index}: mean ${ch.mean.toFixed(2)}, maximum ${max.toPrecision(3)}`);
    // each map is labelled: which channel, and what its white stands for
    const figure = document.createElement("figure");
    const caption = document.createElement("figcaption");
    caption.textContent = `ch ${ch.index} · max ${max.toPrecision(3)}`;
    figure.append(canvas, caption);
    grid.append(figure);
  }
}
