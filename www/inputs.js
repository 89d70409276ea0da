// @ts-check
// Every way to hand the page an image: samples, a file, drop, paste, a webcam snapshot and
// the drawing pad. Each ends in one call, onImage(name, blob or a promise of one, domain) (domain: what kind of
// image it is, "photo" or "fashion" for the samples and the pad, null when unknown); a
// dropped .onnx file goes to onModelFile(file) instead, and trouble to onError(text).
import { closeCamera, frameBlob, openCamera } from "./camera.js";

const SAMPLES_URL = "samples/samples.json";
const PAD_BRUSH_PX = 22;

/** What kind of image a sample is: its `kind`, photos unless it says otherwise. */
export const sampleDomain = (s) => s.kind ?? "photo";

/** Wires every image source. `$` looks an element up by id. Returns the samples once their
 *  list arrived (an empty list when it could not be read), each with `pick()`, which hands
 *  it to onImage as a click does. */
export function initInputs($, { onImage: handOn, onModelFile, onError }) {
  // the sample picked last is marked (aria-current); an image from anywhere else unmarks it
  const onImage = (name, blob, domain, sample = null) => {
    for (const b of document.querySelectorAll(".sample[aria-current]")) b.removeAttribute("aria-current");
    sample?.setAttribute("aria-current", "true");
    return handOn(name, blob, domain);
  };
  const samples = loadSamples($, onImage).catch((e) => {
    onError(`Could not read the sample list: ${e.message}`);
    return [];
  });
  $("image-file").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    ev.target.value = "";
    if (file) onImage(file.name, file, null);
  });
  initDrop(onImage, onModelFile);
  // paste an image from the clipboard
  document.addEventListener("paste", (ev) => {
    const item = [...(ev.clipboardData?.items ?? [])].find((i) => i.type.startsWith("image/"));
    if (item) onImage("pasted image", item.getAsFile(), null);
  });
  initWebcam($, onImage, onError);
  initPad($, onImage);
  return samples;
}

/** Puts the group of samples of `domain` first and marks the others as not what `model`
 *  knows (`domain` null: every group as it is). */
export function fitSamples($, domain, model) {
  const groups = [...$("sample-groups").querySelectorAll(".sample-group")];
  for (const g of groups) {
    const fits = !domain || g.dataset.domain === domain;
    g.classList.toggle("mismatch", !fits);
    g.querySelector(".fit").textContent = fits ? "" : `(not what ${model} knows)`;
  }
  const first = groups.find((g) => g.dataset.domain === domain);
  if (first && first !== groups[0]) $("sample-groups").prepend(first);
}

async function loadSamples($, onImage) {
  const response = await fetch(SAMPLES_URL);
  if (!response.ok) throw new Error(`${SAMPLES_URL}: ${response.status}`);
  const samples = [];
  for (const s of await response.json()) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "sample";
    b.title = `${s.name} (${s.credit}, ${s.license})`;
    b.setAttribute("aria-label", s.name);
    const img = document.createElement("img");
    // the button shows a small thumbnail where there is one (tools/sample_thumbs.py): a
    // first visit does not fetch every photo whole; the image itself comes when picked
    img.src = `samples/${s.thumb ?? s.file}`;
    img.alt = "";
    b.append(img);
    // the blob as a promise: the page's order of images is the order of the clicks
    const domain = sampleDomain(s);
    const pick = () => onImage(s.name, fetch(`samples/${s.file}`).then((r) => r.blob()), domain, b);
    b.addEventListener("click", pick);
    $(domain === "fashion" ? "samples-fashion" : "samples-photo").append(b);
    samples.push({ ...s, domain, pick });
  }
  return samples;
}

// drop anywhere: an image is classified, an .onnx file is loaded
function initDrop(onImage, onModelFile) {
  document.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", (ev) => ev.relatedTarget === null && document.body.classList.remove("dragging"));
  document.addEventListener("drop", (ev) => {
    ev.preventDefault();
    document.body.classList.remove("dragging");
    const file = ev.dataTransfer?.files?.[0];
    if (!file) return;
    if (file.name.toLowerCase().endsWith(".onnx")) onModelFile(file);
    else onImage(file.name, file, null);
  });
}

function initWebcam($, onImage, onError) {
  const video = /** @type {HTMLVideoElement} */ ($("camera-video"));
  /** @type {MediaStream | null} */
  let stream = null;
  const close = () => {
    closeCamera(stream);
    stream = null;
    $("camera").hidden = true;
  };
  $("webcam").addEventListener("click", async () => {
    const opened = await openCamera(video, "No webcam snapshot");
    if (opened.error) return onError(opened.error);
    stream = opened.stream;
    $("camera").hidden = false;
  });
  $("camera-close").addEventListener("click", close);
  $("camera-shoot").addEventListener("click", async () => {
    const blob = frameBlob(video);
    close();
    onImage("webcam snapshot", await blob, null);
  });
}

// drawing pad: white strokes on black, as Fashion-MNIST's items are. Each stroke is drawn
// as joined segments (pointer events arrive far apart when the pen moves fast) and the
// drawing is classified when the pen lifts.
function initPad($, onImage) {
  const pad = $("pad-canvas");
  const ctx = pad.getContext("2d");
  const clear = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
  };
  const at = (ev) => {
    const r = pad.getBoundingClientRect();
    return [((ev.clientX - r.left) / r.width) * pad.width, ((ev.clientY - r.top) / r.height) * pad.height];
  };
  let last = null; // the pen's previous point while it is down
  const stroke = (ev) => {
    const p = at(ev);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = PAD_BRUSH_PX;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(...(last ?? p));
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
  };
  const classify = async () => onImage("drawing", await new Promise((r) => pad.toBlob(r)), "fashion");
  clear();
  pad.addEventListener("pointerdown", (ev) => {
    last = null;
    stroke(ev);
    try {
      pad.setPointerCapture(ev.pointerId); // the stroke goes on outside the pad
    } catch {
      // a pointer that is already up (or a scripted one) cannot be captured; nothing lost
    }
  });
  pad.addEventListener("pointermove", (ev) => {
    if (last) for (const e of ev.getCoalescedEvents?.() ?? [ev]) stroke(e);
  });
  const lift = () => {
    if (!last) return;
    last = null;
    classify();
  };
  pad.addEventListener("pointerup", lift);
  pad.addEventListener("pointercancel", lift);
  $("draw").addEventListener("click", () => ($("pad").hidden = !$("pad").hidden));
  $("pad-clear").addEventListener("click", clear);
}

/** Decodes `blob` and draws it on `canvas`, scaled down so that no side exceeds `maxSide`;
 *  returns {width, height, rgba}, or null without drawing when `current()` says a newer
 *  image was chosen meanwhile; throws when the browser cannot decode it. */
export async function decodeToCanvas(blob, canvas, maxSide, current = () => true) {
  const bitmap = await createImageBitmap(blob);
  if (!current()) {
    bitmap.close();
    return null;
  }
  const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  return { width, height, rgba: ctx.getImageData(0, 0, width, height).data };
}
