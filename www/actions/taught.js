// @ts-check
// The taught classes at work: their answer for an image (in the teaching section, beside the
// model's answer and in the answer bar) and, live, for the teach panel's webcam, which this
// module opens and closes (teaching's bursts use it too). actions/teach.js teaches them.
import { closeCamera, framePixels, openCamera } from "../camera.js";
import { $, $video, setText } from "../dom.js";
import { placeAnswerBar, setAnswer } from "../panels/answer-bar.js";

/** @typedef {import("./context.js").Context} Context
 *  @typedef {{width: number, height: number, rgba: Uint8ClampedArray<ArrayBuffer>}} Pixels */

/** Says what teaching is doing; errors in red. */
export const teachStatus = (text, isError = false) => setText("teach-status", text, isError);

/** Opens the webcam in the teach panel; `null` with the reason said where it cannot. */
export async function webcam() {
  const { stream, error } = await openCamera($video("teach-video"), "No webcam", { play: true });
  if (error) teachStatus(error, true);
  return stream ?? null;
}

/** Closes the teach panel's webcam.  @param {MediaStream | null} stream */
export function closeWebcam(stream) {
  closeCamera(stream);
  $("teach-video").hidden = true;
}

/** The taught classes' answer for `image`; false where they could not answer (said).
 *  @param {Context} ctx  @param {Pixels & {name?: string}} image */
export async function predictTaught({ state, engine }, image) {
  const live = image.name == null; // a webcam frame: answered in the teach panel only
  // the image's answer, drawn only while it is still the image shown
  const shown = () => state.image === image;
  try {
    const pixels = { width: image.width, height: image.height, rgba: image.rgba.slice().buffer };
    const r = await engine.teachClassify(pixels, 3);
    const words = r.predictions.map((p) => `${p.label} ${(100 * p.probability).toFixed(1)}%`).join(" · ");
    // a classifier of n classes names one of them whatever the image shows: said beside it
    const n = state.teach.report?.classes.length ?? r.predictions.length;
    const line = `Your classes, for ${image.name ?? "the webcam"}: ${words} (${(r.timings.preprocessMs + r.timings.inferenceMs).toFixed(0)} ms). ` +
      `They know only your ${n} classes, so the answer is one of them whatever the image shows.`;
    setText("teach-answer", line);
    if (!live && shown()) {
      setText("taught-answer", line);
      $("taught-answer").hidden = false;
      const top = r.predictions[0];
      setAnswer($("answer-bar"), { taught: `${top.label} ${(100 * top.probability).toFixed(1)}%` });
      placeAnswerBar($("answer-bar"), $("result-panel"), state);
    }
    return true;
  } catch (e) {
    setText("teach-answer", `Your classes could not answer: ${e.message}`, true);
    if (!live && shown()) {
      setText("taught-answer", `Your classes could not answer: ${e.message}`, true);
      $("taught-answer").hidden = false;
    }
    return false;
  }
}

/** Predicts webcam frames one after another until pressed again, or until one fails (an
 *  error would otherwise repeat as fast as the worker answers).  @param {Context} ctx */
export async function toggleLive(ctx) {
  const t = ctx.state.teach;
  const button = $("teach-live");
  if (t.live) {
    const stream = t.live;
    t.live = null;
    closeWebcam(stream);
    button.setAttribute("aria-pressed", "false");
    return;
  }
  t.live = await webcam();
  if (!t.live) return;
  button.setAttribute("aria-pressed", "true");
  const stream = t.live;
  while (t.live === stream) {
    if (!(await predictTaught(ctx, framePixels($video("teach-video")))) && t.live === stream) await toggleLive(ctx);
  }
}
