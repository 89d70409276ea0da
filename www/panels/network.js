// @ts-check
// "What each layer sees": a column per layer with its facts and most active channels, and
// the inspector, where a channel opens and its units can be clicked.
import { formatCount } from "../format.js";
import { greyMap } from "../render/maps.js";

const THUMB_PX = 64; // displayed size of a layer's channel thumbnail
const INSPECT_PX = 256; // an opened channel is drawn this many pixels on its longer side

/** Fills the strip with `layers` (the engine's layers reply); `onOpen(layer, channel)`
 *  runs when a thumbnail is clicked. */
export function showNetwork(strip, layers, onOpen) {
  strip.replaceChildren();
  for (const l of layers) {
    const col = document.createElement("div");
    col.className = "layer";
    col.setAttribute("role", "listitem");
    const h = document.createElement("h3");
    h.textContent = l.label;
    const facts = document.createElement("p");
    facts.className = "facts";
    facts.textContent = `${l.outShape.join("×")} · RF ${l.rf[0]}×${l.rf[1]} px · ${formatCount(l.params)} params · ${formatCount(l.macs)} MACs`;
    col.append(h, facts);
    for (const ch of l.channels) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "thumb";
      b.setAttribute("aria-label", `${l.label} channel ${ch.index}`);
      b.title = `${l.label} channel ${ch.index} (mean ${ch.mean.toFixed(2)}): open it`;
      b.append(greyMap(ch.data, ch.w, ch.h, THUMB_PX));
      b.addEventListener("click", () => onOpen(l.label, ch.index));
      col.append(b);
    }
    strip.append(col);
  }
}

/** Shows channel `ch` (the engine's channel reply) in the inspector; `onUnit(y, x)` runs
 *  for a clicked unit, or the centre unit on Enter. */
export function showChannel({ inspector, caption }, ch, onUnit) {
  const canvas = greyMap(ch.data, ch.w, ch.h, INSPECT_PX);
  canvas.id = "inspector-canvas";
  canvas.tabIndex = 0;
  canvas.setAttribute("aria-label", `${ch.layer} channel ${ch.channel}: click a unit`);
  inspector.querySelector("#inspector-canvas").replaceWith(canvas);
  inspector.hidden = false;
  caption.textContent = `${ch.layer}, channel ${ch.channel}: ${ch.h}×${ch.w} units. Click one.`;
  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    onUnit(Math.min(ch.h - 1, Math.floor(((ev.clientY - r.top) / r.height) * ch.h)),
      Math.min(ch.w - 1, Math.floor(((ev.clientX - r.left) / r.width) * ch.w)));
  });
  canvas.addEventListener("keydown", (ev) => ev.key === "Enter" && onUnit(ch.h >> 1, ch.w >> 1));
  canvas.scrollIntoView({ block: "nearest" });
}
