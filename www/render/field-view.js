// @ts-check
// The image as the model sees it, with a unit's receptive field (hatched where it lies in
// the padding), the nested fields of the layers before it, and a heat map.
import { drawHeat } from "./maps.js";

const VIEW_PX = 448; // the view is drawn at least this many pixels wide

function hatchPattern(ctx) {
  const c = document.createElement("canvas");
  c.width = c.height = 8;
  const x = c.getContext("2d");
  x.strokeStyle = "rgba(200, 30, 30, 0.8)";
  x.beginPath();
  x.moveTo(0, 8);
  x.lineTo(8, 0);
  x.stroke();
  return ctx.createPattern(c, "repeat");
}

/** `rgba` with each pixel made its ITU-R BT.601 luma, as the crate's "gray" channel order
 *  computes it (PIL's convert("L")): what a one-channel model sees. Pure. */
export function toGrey(rgba) {
  const out = new Uint8ClampedArray(rgba);
  for (let i = 0; i < out.length; i += 4) {
    const y = 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
    out[i] = out[i + 1] = out[i + 2] = y;
  }
  return out;
}

/**
 * Draws `view` ({width, height, rgba}) on `canvas` with `overlay` ({field, nested, heat}:
 * a unit's field from the API, its nested fields, an [H, W] heat map; each optional), in
 * grey for a model that sees grey (`grey`). What is drawn is recorded on the canvas
 * (data-field, data-heat, data-grey) for tests and tools.
 */
export function drawFieldView(canvas, view, overlay = {}, grey = false) {
  const { width: W, height: H } = view;
  const f = overlay.field?.unclipped;
  // room around the image for the part of a field that lies in the padding
  const margin = f ? Math.max(0, -f.top, -f.left, f.bottom - (H - 1), f.right - (W - 1)) : 0;
  const k = Math.max(1, Math.ceil(VIEW_PX / (W + 2 * margin)));
  canvas.width = (W + 2 * margin) * k;
  canvas.height = (H + 2 * margin) * k;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = "#e8e8e8";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const px = (v) => (v + margin) * k;
  const img = document.createElement("canvas");
  img.width = W;
  img.height = H;
  img.getContext("2d").putImageData(new ImageData(grey ? toGrey(view.rgba) : new Uint8ClampedArray(view.rgba), W, H), 0, 0);
  canvas.dataset.grey = grey ? "1" : "";
  ctx.drawImage(img, px(0), px(0), W * k, H * k);
  const heat = overlay.heat ? drawHeat(ctx, overlay.heat, W, H, px(0), k) : false;
  canvas.dataset.field = f ? JSON.stringify(f) : "";
  canvas.dataset.heat = heat ? "1" : "";
  if (!f) return;
  const fieldRect = () => ctx.rect(px(f.left), px(f.top), (f.right - f.left + 1) * k, (f.bottom - f.top + 1) * k);
  // the field's part outside the image: padding, hatched (inside the field, outside the image)
  ctx.save();
  ctx.beginPath();
  fieldRect();
  ctx.clip();
  ctx.beginPath();
  fieldRect();
  ctx.rect(px(0), px(0), W * k, H * k);
  ctx.fillStyle = hatchPattern(ctx);
  ctx.fill("evenodd");
  ctx.restore();
  // the same unit's field at each earlier layer: its units' centres
  const nested = overlay.nested ?? [];
  ctx.lineWidth = 1;
  for (const [i, n] of nested.entries()) {
    const [t, l, b, r] = n.centers;
    ctx.strokeStyle = `rgba(40, 110, 230, ${0.35 + 0.5 * (i / Math.max(1, nested.length - 1))})`;
    ctx.strokeRect(px(l) + k / 2, px(t) + k / 2, (r - l) * k + 1, (b - t) * k + 1);
  }
  ctx.lineWidth = 3;
  ctx.strokeStyle = "#ffcc00";
  ctx.beginPath();
  fieldRect();
  ctx.stroke();
}
