// @ts-check
// "What each layer sees": a column per layer with its facts and most active channels, and
// the inspector, where a channel opens and its units can be clicked.
import { formatCount } from "../format.js";
import { greyMap } from "../render/maps.js";

const THUMB_PX = 64; // displayed size of a layer's channel thumbnail
const INSPECT_PX = 256; // an opened channel is drawn this many pixels on its longer side
const ANNOUNCE_MS = 250; // a unit reached with the arrow keys is announced once the keys rest this long

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
 *  for a clicked unit, or on Enter or Space for the unit the arrow keys moved to (each move
 *  is announced in the caption, a live region: position and value, once the keys rest).
 *  `byUser`: the person opened it, so focus moves to it (scrolling only if it is out of
 *  view); a channel opened again for a new image takes the focus only where the one it
 *  replaces had it, without scrolling. */
export function showChannel({ inspector, caption, cursor }, ch, onUnit, { byUser = false } = {}) {
  const canvas = greyMap(ch.data, ch.w, ch.h, INSPECT_PX);
  canvas.id = "inspector-canvas";
  canvas.tabIndex = 0;
  // the arrow keys move over units: a screen reader passes them through to the page
  canvas.setAttribute("role", "application");
  canvas.setAttribute("aria-roledescription", "grid of units");
  canvas.setAttribute("aria-label", `${ch.layer} channel ${ch.channel}, ${ch.h} by ${ch.w} units: arrow keys move, Enter shows a unit's field`);
  const old = inspector.querySelector("#inspector-canvas");
  const hadFocus = document.activeElement === old;
  old.replaceWith(canvas);
  inspector.hidden = false;
  inspector.classList.remove("stale"); // it shows the current image again
  inspector.removeAttribute("aria-busy");
  caption.textContent = `${ch.layer}, channel ${ch.channel}: ${ch.h}×${ch.w} units. Click one, or move with the arrow keys and press Enter.`;
  let at = { y: ch.h >> 1, x: ch.w >> 1 }; // the keyboard's unit
  cursor.hidden = true;
  // the cursor over the unit: inside the canvas's border, at least 4 px, centred on the unit
  const place = () => {
    const kx = canvas.clientWidth / ch.w;
    const ky = canvas.clientHeight / ch.h;
    const [w, h] = [Math.max(4, kx), Math.max(4, ky)];
    Object.assign(cursor.style, {
      left: `${canvas.offsetLeft + canvas.clientLeft + (at.x + 0.5) * kx - w / 2}px`,
      top: `${canvas.offsetTop + canvas.clientTop + (at.y + 0.5) * ky - h / 2}px`,
      width: `${w}px`, height: `${h}px`,
    });
    cursor.hidden = false;
  };
  let announce = 0;
  const value = () => ch.data[at.y * ch.w + at.x];
  // the image before's channel, dimmed while the new one's layers come, answers nothing
  const stale = () => inspector.classList.contains("stale");
  canvas.addEventListener("click", (ev) => {
    if (stale()) return;
    const r = canvas.getBoundingClientRect();
    at = {
      y: Math.min(ch.h - 1, Math.floor(((ev.clientY - r.top) / r.height) * ch.h)),
      x: Math.min(ch.w - 1, Math.floor(((ev.clientX - r.left) / r.width) * ch.w)),
    };
    place();
    onUnit(at.y, at.x);
  });
  canvas.addEventListener("focus", place);
  canvas.addEventListener("keydown", (ev) => {
    const step = ev.shiftKey ? 4 : 1;
    const moves = { ArrowUp: [-step, 0], ArrowDown: [step, 0], ArrowLeft: [0, -step], ArrowRight: [0, step], Home: [-ch.h, -ch.w], End: [ch.h, ch.w] };
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      return stale() ? undefined : onUnit(at.y, at.x);
    }
    const m = moves[ev.key];
    if (!m) return;
    ev.preventDefault(); // the page does not scroll under the arrow keys
    at = { y: Math.max(0, Math.min(ch.h - 1, at.y + m[0])), x: Math.max(0, Math.min(ch.w - 1, at.x + m[1])) };
    place();
    // said once the keys rest: a held arrow key does not queue a sentence per unit
    clearTimeout(announce);
    announce = setTimeout(() => {
      if (canvas.isConnected) caption.textContent = `Unit (${at.y}, ${at.x}) of ${ch.h}×${ch.w}, value ${value().toPrecision(3)}. Enter shows its field.`;
    }, ANNOUNCE_MS);
  });
  if (byUser) canvas.focus();
  else if (hadFocus) canvas.focus({ preventScroll: true });
}
