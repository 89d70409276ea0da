// Receptive-field size by layer, as an SVG line chart, with the input size marked.

const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

/** Draws the fields of `layers` (spatial conv and pool layers, in order) into `svg`, with a
 *  line at `inputSize` and a mark where the field first covers it. Keeps the SVG's title. */
export function drawRfChart(svg, layers, inputSize) {
  svg.replaceChildren(svg.querySelector("title"));
  if (!layers.length) return;
  const [W, H, L, B] = [640, 240, 44, 40];
  const maxY = Math.max(...layers.map((l) => l.rf[0]), inputSize ?? 0);
  const x = (i) => L + (i * (W - L - 10)) / Math.max(1, layers.length - 1);
  const y = (v) => H - B - (v * (H - B - 10)) / maxY;
  svg.append(el("line", { x1: L, y1: y(0), x2: W - 10, y2: y(0), stroke: "#999" }));
  svg.append(el("line", { x1: L, y1: y(0), x2: L, y2: 10, stroke: "#999" }));
  svg.append(el("text", { x: 4, y: 16, "font-size": 11 }, `${maxY} px`));
  if (inputSize) {
    svg.append(el("line", { x1: L, y1: y(inputSize), x2: W - 10, y2: y(inputSize), stroke: "#b3261e", "stroke-dasharray": "4 3" }));
    svg.append(el("text", { x: L + 4, y: y(inputSize) - 4, "font-size": 11, fill: "#b3261e" }, `input ${inputSize} px`));
    const cross = layers.findIndex((l) => l.rf[0] >= inputSize);
    if (cross >= 0) {
      svg.append(el("circle", { cx: x(cross), cy: y(layers[cross].rf[0]), r: 6, fill: "none", stroke: "#b3261e", "stroke-width": 2 }));
      svg.append(el("text", { x: Math.min(x(cross) + 8, W - 150), y: y(layers[cross].rf[0]) + 16, "font-size": 11, fill: "#b3261e" },
        `${layers[cross].label}: field ≥ input`));
    }
  }
  svg.append(el("polyline", { points: layers.map((l, i) => `${x(i)},${y(l.rf[0])}`).join(" "), fill: "none", stroke: "#2f6fdf", "stroke-width": 2 }));
  for (const [i, l] of layers.entries()) {
    const dot = el("circle", { cx: x(i), cy: y(l.rf[0]), r: 3, fill: "#2f6fdf" });
    dot.append(el("title", {}, `${l.label}: ${l.rf[0]} px`));
    svg.append(dot);
    if (l.kind === "pool" || i === 0) {
      // the last label ends at its dot, so it stays inside the chart
      const anchor = i === layers.length - 1 && i > 0 ? "end" : "middle";
      svg.append(el("text", { x: x(i), y: H - B + 14, "font-size": 10, "text-anchor": anchor }, l.label));
    }
  }
  svg.append(el("text", { x: W / 2, y: H - 6, "font-size": 11, "text-anchor": "middle" }, "layers in order (conv and pool); receptive field size in input pixels"));
}
