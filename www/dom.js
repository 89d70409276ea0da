// @ts-check
// The page's small DOM helpers: look-ups by id (typed by what the element is), text with an
// error style, tickets that drop stale answers, and a blob's download. No state of its own.

/** The element with id `id` (the page's ids are fixed in index.html). */
export const $ = (id) => document.getElementById(id);
/** @param {string} id  @returns {HTMLInputElement} */
export const $input = (id) => /** @type {HTMLInputElement} */ ($(id));
/** @param {string} id  @returns {HTMLButtonElement} */
export const $button = (id) => /** @type {HTMLButtonElement} */ ($(id));
/** @param {string} id  @returns {HTMLSelectElement} */
export const $select = (id) => /** @type {HTMLSelectElement} */ ($(id));
/** @param {string} id  @returns {HTMLCanvasElement} */
export const $canvas = (id) => /** @type {HTMLCanvasElement} */ ($(id));
/** @param {string} id  @returns {HTMLProgressElement} */
export const $progress = (id) => /** @type {HTMLProgressElement} */ ($(id));
/** @param {string} id  @returns {HTMLFormElement} */
export const $form = (id) => /** @type {HTMLFormElement} */ ($(id));
/** @param {string} id  @returns {HTMLVideoElement} */
export const $video = (id) => /** @type {HTMLVideoElement} */ ($(id));

/** Puts `text` in element `id`, in red where it is an error. */
export function setText(id, text, isError = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", isError);
}

/**
 * @typedef {{model: number, image: number, run: number, channel: number, overlay: number, preprocess: number, looksFor: number}} Tickets
 *   the latest ticket of each kind of request that draws
 */

/** A new ticket of `kind`; the function it returns says whether it is still current: no
 *  newer ticket of its kind, and (but for a model, an image, or what a channel looks for, which
 *  is the same on any image) no newer run. An image being
 *  decoded is superseded only by a newer image: a run that starts meanwhile is for an older
 *  one (the queued run of the image before), and must not drop it.
 *  @param {Tickets} tickets  @param {keyof Tickets} kind  @returns {() => boolean} */
export function ticket(tickets, kind) {
  const n = ++tickets[kind];
  const run = tickets.run;
  return () => tickets[kind] === n && (kind === "model" || kind === "image" || kind === "looksFor" || tickets.run === run);
}

/** Offers `blob` as a download named `name`. */
export function saveBlob(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 0);
}
