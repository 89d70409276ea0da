// @ts-check
// The teach panel's drawing: one row per class (name, count, thumbnails, its buttons), the
// training report and the confusion matrix of the held-out images. Class names are the
// user's text: textContent only.

const THUMBS_SHOWN = 12; // thumbnails per class row; the count says how many there are

/**
 * @param {HTMLElement} list the <ul>
 * @param {import("../teach-store.js").TaughtClass[]} classes
 * @param {{busy: boolean, onShown: (name: string) => void, onFiles: (name: string, files: File[]) => void,
 *   onBurst: (name: string) => void, onRemove: (name: string) => void}} actions
 */
export function showClasses(list, classes, { busy, onShown, onFiles, onBurst, onRemove }) {
  list.replaceChildren(...classes.map(({ name, examples }) => {
    const li = document.createElement("li");
    li.dataset.name = name;
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = `${examples.length} image${examples.length === 1 ? "" : "s"}`;
    const button = (text, action, title) => {
      const b = teachButton(text, title, busy, action);
      b.dataset.action = text;
      return b;
    };
    const files = document.createElement("input");
    files.type = "file";
    files.accept = "image/*";
    files.multiple = true;
    files.hidden = true;
    files.addEventListener("change", () => {
      const chosen = [...files.files];
      files.value = "";
      onFiles(name, chosen);
    });
    const thumbs = examples.slice(-THUMBS_SHOWN).map(({ thumb }) => {
      const img = document.createElement("img");
      img.src = thumb;
      img.alt = "";
      return img;
    });
    li.append(label, count,
      button("+ image shown", () => onShown(name), `Add the image shown in the Image section to ${name}`),
      button("+ files…", () => files.click(), `Add image files to ${name}`),
      button("+ webcam burst", () => onBurst(name), `Add 10 webcam frames (2 seconds) to ${name}`),
      button("remove", () => onRemove(name), `Forget ${name} and its examples`),
      files, ...thumbs);
    // files dropped on a row go to its class
    li.addEventListener("dragover", (ev) => {
      ev.preventDefault();
      li.classList.add("drop");
    });
    li.addEventListener("dragleave", () => li.classList.remove("drop"));
    li.addEventListener("drop", (ev) => {
      ev.preventDefault();
      ev.stopPropagation(); // not also the page's own image drop
      li.classList.remove("drop");
      const dropped = [...(ev.dataTransfer?.files ?? [])].filter((f) => f.type.startsWith("image/"));
      if (dropped.length) onFiles(name, dropped);
    });
    return li;
  }));
}

/** A button of the teach panel. While the worker is busy it says so (aria-disabled) and does
 *  nothing, but stays focusable: a disabled button would drop the keyboard's focus to the
 *  page's start each time an image is added. */
function teachButton(text, title, busy, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "secondary";
  b.textContent = text;
  b.title = title;
  b.setAttribute("aria-disabled", String(busy));
  b.addEventListener("click", () => b.getAttribute("aria-disabled") !== "true" && action());
  return b;
}

/** The image section's tray: a "+ class" button per class, adding the image shown to it
 *  (`onShown(name)`), so that teaching needs no scroll away from the image.
 *  @param {HTMLElement} tray  @param {HTMLElement} group  @param {import("../teach-store.js").TaughtClass[]} classes
 *  @param {{busy: boolean, onShown: (name: string) => void}} actions */
export function showTray(tray, group, classes, { busy, onShown }) {
  tray.hidden = classes.length === 0;
  group.replaceChildren(...classes.map(({ name, examples }) => {
    const b = teachButton(`+ ${name} (${examples.length})`, `Add the image shown to ${name}`, busy, () => onShown(name));
    b.dataset.name = name;
    return b;
  }));
}

/** The element that had the focus, as a selector that finds its counterpart once `root`
 *  is drawn again (a class row's or the tray's button), or null. */
export function focusKey(root) {
  const el = document.activeElement;
  if (!(el instanceof HTMLElement) || !root.contains(el)) return null;
  const row = el.closest("[data-name]");
  const name = row instanceof HTMLElement ? CSS.escape(row.dataset.name) : null;
  if (el.dataset.action && name) return `[data-name="${name}"] [data-action="${CSS.escape(el.dataset.action)}"]`;
  if (el.dataset.name) return `[data-name="${CSS.escape(el.dataset.name)}"]`;
  return null;
}

/** The training report in words; `images`: how many images the person added (each gives
 *  one descriptor per view: itself, its mirror, further scales).
 *  @param {import("../pkg/vgg_wasm.js").TrainReport} r  @param {number} [images] */
export function reportLine(r, images = r.examples) {
  const method = r.method === "softmax" ? "softmax regression" : "nearest class mean";
  const fit = r.method === "softmax" ? ` (${r.iterations} optimiser steps)` : "";
  const held = r.heldOut
    ? ` Held-out accuracy: ${(100 * r.heldOut.accuracy).toFixed(0)}% of ${imagesLine(Math.round((r.heldOut.examples * images) / r.examples), r.heldOut.examples)} the classifier did not see (matrix below); the classifier kept is trained on all.`
    : " With 5 images or more in every class, some are held out to measure accuracy.";
  return `Trained ${method} on ${imagesLine(images, r.examples)} of ${r.classes.length} classes in ${r.ms.toFixed(0)} ms${fit}; ` +
    `${(100 * r.trainAccuracy).toFixed(0)}% of the training ${images === r.examples ? "images" : "views"} right.${held}`;
}

/** The held-out confusion matrix, or nothing when none was held out. */
export function showConfusion(table, r) {
  table.hidden = !r?.heldOut;
  if (!r?.heldOut) return;
  const cell = (tag, text, cls) => {
    const c = document.createElement(tag);
    c.textContent = text;
    if (cls) c.className = cls;
    return c;
  };
  const head = document.createElement("tr");
  head.append(cell("th", ""), ...r.classes.map((c) => cell("th", c)));
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...r.heldOut.confusion.map((row, i) => {
    const tr = document.createElement("tr");
    const th = cell("th", r.classes[i]);
    th.scope = "row";
    tr.append(th, ...row.map((n, j) => cell("td", String(n), i === j ? "right" : "")));
    return tr;
  }));
}

/** "6 images", or "6 images (12 views with mirrors or scales)" where each image gave more
 *  than one descriptor. */
export function imagesLine(images, descriptors) {
  const words = `${images} image${images === 1 ? "" : "s"}`;
  return descriptors === images ? words : `${words} (${descriptors} views with mirrors or scales)`;
}
