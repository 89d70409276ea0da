// Every way to hand the page an image: samples, a file, drop, paste, a webcam snapshot and
// the drawing pad. Each ends in one call, onImage(name, blob); a dropped .onnx file goes
// to onModelFile(file) instead, and trouble to onError(text).

const SAMPLES_URL = "samples/samples.json";
const PAD_BRUSH_PX = 22;

/** Wires every image source. `$` looks an element up by id. */
export function initInputs($, { onImage, onModelFile, onError }) {
  loadSamples($, onImage).catch((e) => onError(`Could not read the sample list: ${e.message}`));
  $("image-file").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    ev.target.value = "";
    if (file) onImage(file.name, file);
  });
  initDrop(onImage, onModelFile);
  // paste an image from the clipboard
  document.addEventListener("paste", (ev) => {
    const item = [...(ev.clipboardData?.items ?? [])].find((i) => i.type.startsWith("image/"));
    if (item) onImage("pasted image", item.getAsFile());
  });
  initWebcam($, onImage, onError);
  initPad($, onImage);
}

async function loadSamples($, onImage) {
  const response = await fetch(SAMPLES_URL);
  if (!response.ok) throw new Error(`${SAMPLES_URL}: ${response.status}`);
  for (const s of await response.json()) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "sample";
    b.setAttribute("role", "listitem");
    b.title = `${s.name} (${s.credit}, ${s.license})`;
    b.setAttribute("aria-label", s.name);
    const img = document.createElement("img");
    img.src = `samples/${s.file}`;
    img.alt = "";
    b.append(img);
    b.addEventListener("click", async () => onImage(s.name, await (await fetch(img.src)).blob()));
    $(s.kind === "fashion" ? "samples-fashion" : "samples-photo").append(b);
  }
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
    else onImage(file.name, file);
  });
}

function initWebcam($, onImage, onError) {
  let stream = null;
  const close = () => {
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    $("camera").hidden = true;
  };
  $("webcam").addEventListener("click", async () => {
    if (!navigator.mediaDevices?.getUserMedia) {
      return onError("This browser offers no camera here (it needs a secure page: https or localhost).");
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    } catch (e) {
      const why = e.name === "NotAllowedError" ? "camera access was refused" :
        e.name === "NotFoundError" ? "no camera was found" : e.message;
      return onError(`No webcam snapshot: ${why}.`);
    }
    $("camera-video").srcObject = stream;
    $("camera").hidden = false;
  });
  $("camera-close").addEventListener("click", close);
  $("camera-shoot").addEventListener("click", async () => {
    const video = $("camera-video");
    const c = document.createElement("canvas");
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    c.getContext("2d").drawImage(video, 0, 0);
    close();
    onImage("webcam snapshot", await new Promise((r) => c.toBlob(r)));
  });
}

// drawing pad: white strokes on black, as Fashion-MNIST's items are
function initPad($, onImage) {
  const pad = $("pad-canvas");
  const ctx = pad.getContext("2d");
  const clear = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
  };
  const stroke = (ev) => {
    const r = pad.getBoundingClientRect();
    ctx.fillStyle = "#fff";
    ctx.beginPath();
    ctx.arc(((ev.clientX - r.left) / r.width) * pad.width, ((ev.clientY - r.top) / r.height) * pad.height, PAD_BRUSH_PX / 2, 0, 2 * Math.PI);
    ctx.fill();
  };
  clear();
  let drawing = false;
  pad.addEventListener("pointerdown", (ev) => {
    drawing = true;
    pad.setPointerCapture(ev.pointerId);
    stroke(ev);
  });
  pad.addEventListener("pointermove", (ev) => drawing && stroke(ev));
  pad.addEventListener("pointerup", () => (drawing = false));
  $("draw").addEventListener("click", () => ($("pad").hidden = !$("pad").hidden));
  $("pad-clear").addEventListener("click", clear);
  $("pad-use").addEventListener("click", async () => onImage("drawing", await new Promise((r) => pad.toBlob(r))));
}

/** Decodes `blob` and draws it on `canvas`, scaled down so that no side exceeds `maxSide`;
 *  returns {width, height, rgba} or throws when the browser cannot decode it. */
export async function decodeToCanvas(blob, canvas, maxSide) {
  const bitmap = await createImageBitmap(blob);
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
