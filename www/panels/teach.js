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
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = text;
      b.title = title;
      b.disabled = busy;
      b.addEventListener("click", action);
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
      button("+ image shown", () => onShown(name), `Add the image shown in section 2 to ${name}`),
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

/** The training report in words.
 *  @param {import("../pkg/vgg_wasm.js").TrainReport} r */
export function reportLine(r) {
  const method = r.method === "softmax" ? "softmax regression" : "nearest class mean";
  const fit = r.method === "softmax" ? `, ${r.iterations} L-BFGS iterations, loss ${r.loss.toFixed(3)}` : "";
  const held = r.heldOut
    ? ` Held-out accuracy: ${(100 * r.heldOut.accuracy).toFixed(0)}% of ${r.heldOut.examples} descriptors the classifier did not see (matrix below); the classifier kept is trained on all.`
    : " With 5 images or more in every class, some are held out to measure accuracy.";
  return `Trained ${method} on ${r.examples} descriptors of ${r.classes.length} classes in ${r.ms.toFixed(0)} ms${fit}; ` +
    `${(100 * r.trainAccuracy).toFixed(0)}% of the training images right.${held}`;
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
