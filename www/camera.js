// @ts-check
// The one webcam: opened into a <video>, read as frames, closed. Used by the snapshot in
// the Image section (inputs.js) and by teaching's bursts and live predictions (actions/teach.js).

const NO_CAMERA = "This browser offers no camera here (it needs a secure page: https or localhost).";

/** Why the camera could not be opened, in words. */
function refusal(e) {
  return e.name === "NotAllowedError" ? "camera access was refused" : e.name === "NotFoundError" ? "no camera was found" : e.message;
}

/**
 * Opens the webcam into `video`; with `play`, the video is shown and playing before this
 * returns. `what` begins the error's words ("No webcam snapshot").
 * @param {HTMLVideoElement} video
 * @returns {Promise<{stream: MediaStream, error?: undefined} | {stream?: undefined, error: string}>}
 */
export async function openCamera(video, what, { play = false } = {}) {
  if (!navigator.mediaDevices?.getUserMedia) return { error: NO_CAMERA };
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    video.srcObject = stream;
    if (play) {
      video.hidden = false;
      await video.play();
    }
    return { stream };
  } catch (e) {
    return { error: `${what}: ${refusal(e)}.` };
  }
}

/** Stops the camera (`stream` may be null). */
export function closeCamera(stream) {
  stream?.getTracks().forEach((t) => t.stop());
}

/** The video's current frame on a new canvas. @param {HTMLVideoElement} video */
function frameCanvas(video, willReadFrequently = false) {
  const c = document.createElement("canvas");
  c.width = video.videoWidth;
  c.height = video.videoHeight;
  const ctx = c.getContext("2d", { willReadFrequently });
  ctx.drawImage(video, 0, 0);
  return { canvas: c, ctx };
}

/** The video's current frame as pixels. @param {HTMLVideoElement} video
 *  @returns {{width: number, height: number, rgba: Uint8ClampedArray<ArrayBuffer>}} */
export function framePixels(video) {
  const { canvas, ctx } = frameCanvas(video, true);
  return { width: canvas.width, height: canvas.height, rgba: ctx.getImageData(0, 0, canvas.width, canvas.height).data };
}

/** The video's current frame as a PNG blob. @param {HTMLVideoElement} video
 *  @returns {Promise<Blob>} */
export function frameBlob(video) {
  const { canvas } = frameCanvas(video);
  return new Promise((r) => canvas.toBlob(r));
}
