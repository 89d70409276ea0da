// @ts-check
// Activation maps and heat maps as pixels. Pure drawing: data in, canvas out.

/** A grey canvas of a non-negative [h, w] map, each map scaled to its own maximum and
 *  displayed `side` pixels on its longer side. */
export function greyMap(data, w, h, side) {
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  let max = 0;
  for (const v of data) max = Math.max(max, v);
  const img = new ImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const v = max > 0 ? Math.round((255 * Math.max(0, data[i])) / max) : 0;
    img.data.set([v, v, v, 255], 4 * i);
  }
  c.getContext("2d").putImageData(img, 0, 0);
  const s = side / Math.max(w, h);
  c.style.width = `${Math.round(w * s)}px`;
  c.style.height = `${Math.round(h * s)}px`;
  return c;
}

/** Draws an [H, W] map as red whose opacity grows with the value, over `k`-times scaled
 *  pixels starting at (x0, x0). Returns false, drawing nothing, when the map is all zero. */
export function drawHeat(ctx, map, W, H, x0, k) {
  let max = 0;
  for (const v of map) max = Math.max(max, v);
  if (!(max > 0)) return false;
  const img = new ImageData(W, H);
  for (let i = 0; i < W * H; i++) {
    const a = Math.sqrt(map[i] / max); // square root: faint pixels stay visible
    img.data.set([255, 40, 0, Math.round(220 * a)], 4 * i);
  }
  const c = document.createElement("canvas");
  c.width = W;
  c.height = H;
  c.getContext("2d").putImageData(img, 0, 0);
  ctx.drawImage(c, x0, x0, W * k, H * k);
  return true;
}
