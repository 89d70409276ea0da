// @ts-check
// Receptive-field size by layer, as an SVG line chart, with the input size marked. Drawn in
// CSS pixels for the width it is shown at, so that its text stays 12 px on a phone too.

const NS = "http://www.w3.org/2000/svg";
const FONT_PX = 12;
const CHAR_PX = 7; // about the width of one character at FONT_PX, to keep labels inside
const MIN_W = 300;
const MAX_W = 720;

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

/** The x of a label of `text` centred at `x` moved so that it stays within [lo, hi], and its
 *  anchor. Pure. */
export function placeLabel(x, text, lo, hi) {
  const half = (text.length * CHAR_PX) / 2;
  if (x - half < lo) return { x: lo, anchor: "start" };
  if (x + half > hi) return { x: hi, anchor: "end" };
  return { x, anchor: "middle" };
}

/** Draws the fields of `layers` (spatial conv and pool layers, in order) into `svg`, `width`
 *  CSS pixels wide, with a line at `inputSize` and a mark where the field first covers it.
 *  Keeps the SVG's title. */
export function drawRfChart(svg, layers, inputSize, width = 640) {
  svg.replaceChildren(svg.querySelector("title"));
  if (!layers.length) return;
  const W = Math.round(Math.min(MAX_W, Math.max(MIN_W, width)));
  const [H, L, R, T, B] = [260, 48, 12, 28, 48];
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const text = (attrs, t) => el("text", { "font-size": FONT_PX, ...attrs }, t);
  const maxY = Math.max(...layers.map((l) => l.rf[0]), inputSize ?? 0);
  const x = (i) => L + (i * (W - L - R)) / Math.max(1, layers.length - 1);
  const y = (v) => H - B - (v * (H - B - T)) / maxY;
  svg.append(el("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), stroke: "#999" }));
  svg.append(el("line", { x1: L, y1: y(0), x2: L, y2: T, stroke: "#999" }));
  svg.append(text({ x: L - 4, y: y(maxY) + 4, "text-anchor": "end" }, String(maxY)));
  svg.append(text({ x: L - 4, y: y(0) + 4, "text-anchor": "end" }, "0"));
  svg.append(text({ x: 4, y: 14 }, "receptive field, input pixels"));
  if (inputSize) {
    svg.append(el("line", { x1: L, y1: y(inputSize), x2: W - R, y2: y(inputSize), stroke: "#b3261e", "stroke-dasharray": "4 3" }));
    // at the left and under the line, where the fields are still small: its right end meets
    // the curve, and above it at the top lie the axis' words
    svg.append(text({ x: L + 6, y: y(inputSize) + FONT_PX + 3, fill: "#b3261e" }, `input ${inputSize} px`));
    const cross = layers.findIndex((l) => l.rf[0] >= inputSize);
    if (cross >= 0) {
      const cy = y(layers[cross].rf[0]);
      svg.append(el("circle", { cx: x(cross), cy, r: 6, fill: "none", stroke: "#b3261e", "stroke-width": 2 }));
      const words = `${layers[cross].label}: field ≥ input`;
      const at = placeLabel(x(cross) - 10, words, L + 4, W - R);
      svg.append(text({ x: at.x, y: cy + 20, fill: "#b3261e", "text-anchor": at.anchor === "middle" ? "end" : at.anchor }, words));
    }
  }
  svg.append(el("polyline", { points: layers.map((l, i) => `${x(i)},${y(l.rf[0])}`).join(" "), fill: "none", stroke: "#2f6fdf", "stroke-width": 2 }));
  let lastEnd = -Infinity; // labels that would overlap the previous one are left out
  for (const [i, l] of layers.entries()) {
    const dot = el("circle", { cx: x(i), cy: y(l.rf[0]), r: 3, fill: "#2f6fdf" });
    dot.append(el("title", {}, `${l.label}: ${l.rf[0]} px`));
    svg.append(dot);
    if (l.kind === "pool" || i === 0) {
      const at = placeLabel(x(i), l.label, 2, W - 2);
      const half = (l.label.length * CHAR_PX) / 2;
      const start = at.anchor === "start" ? at.x : at.anchor === "end" ? at.x - 2 * half : at.x - half;
      if (start < lastEnd + 4) continue;
      lastEnd = start + 2 * half;
      svg.append(text({ x: at.x, y: H - B + 16, "text-anchor": at.anchor, "data-layer": l.label }, l.label));
    }
  }
  svg.append(text({ x: W / 2, y: H - 8, "text-anchor": "middle" }, "layers in order (conv and pool)"));
}
