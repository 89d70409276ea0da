// @ts-check
// The worker's handlers for teaching new classes: a second model (the convolutional base)
// and a teacher on it, apart from the model shown on the page.
import { teacher } from "./held.js";

/**
 * @typedef {import("./held.js").Held} Held
 * @typedef {import("./held.js").Status} Status
 */

/** The classes taught so far, with their image counts.
 *  @param {import("./held.js").Held} held  @returns {import("../protocol.js").TeachState} */
function teachState(held) {
  const t = teacher(held);
  return {
    classes: t.classes(), counts: [...t.counts()], side: t.side, scales: [...t.scales], dim: t.dim, flip: t.flip,
    backend: held.teach.base.backend,
  };
}

/** TeachStartRequest → TeachState
 *  @param {import("../protocol.js").TeachStartRequest} request  @param {Held} held  @param {Status} status  @returns {Promise<import("../protocol.js").TeachState>} */
export async function teachStart({ bytes, options, teacher: teacherOptions, items, backend = "auto" }, held, status) {
  // (no GPU words before the engine knows there is one)
  status("loading the convolutional base");
  const base = await held.api.Vgg.create(new Uint8Array(bytes), { ...options, backend });
  let made;
  try {
    made = base.teacher(teacherOptions);
    status(`restoring ${items.length} examples`);
    for (const { label, features } of items) {
      if (features) made.addFeatures(label, features);
      else made.addClass(label);
    }
  } catch (e) {
    made?.free();
    base.free();
    throw e;
  }
  if (held.teach) {
    held.teach.teacher.free();
    held.teach.base.free();
  }
  // the base's file stays: the export appends the classifier to it
  held.teach = { base, bytes: new Uint8Array(bytes), teacher: made };
  return teachState(held);
}

/** TeachAddRequest → TeachAddReply
 *  @param {import("../protocol.js").TeachAddRequest} request  @param {Held} held  @param {Status} status  @returns {Promise<import("../protocol.js").TeachAddReply>} */
export async function teachAdd({ label, rgba, width, height }, held, status) {
  status("running the base on the example");
  const added = await teacher(held).addAsync(label, new Uint8Array(rgba), width, height);
  return { added: { label: added.label, count: added.count, features: added.features, timings: added.timings }, ...teachState(held) };
}

/** TeachClassRequest → TeachState
 *  @param {import("../protocol.js").TeachClassRequest} request  @param {Held} held  @returns {import("../protocol.js").TeachState} */
export function teachClass({ label, remove }, held) {
  if (remove) teacher(held).removeClass(label);
  else teacher(held).addClass(label);
  return teachState(held);
}

/** TeachTrainRequest → TeachTrainReply
 *  @param {import("../protocol.js").TeachTrainRequest} request  @param {Held} held  @param {Status} status  @returns {import("../protocol.js").TeachTrainReply} */
export function teachTrain({ options }, held, status) {
  status("training");
  return teacher(held).train(options);
}

/** TeachClassifyRequest → TeachClassifyReply
 *  @param {import("../protocol.js").TeachClassifyRequest} request  @param {Held} held  @param {Status} status  @returns {Promise<import("../protocol.js").TeachClassifyReply>} */
export async function teachClassify({ rgba, width, height, topK }, held, status) {
  status("running the base");
  const p = await teacher(held).classifyAsync(new Uint8Array(rgba), width, height, topK);
  return { predictions: [...p], timings: p.timings };
}

/** TeachExportRequest → TeachExportReply
 *  @param {import("../protocol.js").TeachExportRequest} _request  @param {Held} held  @returns {import("../protocol.js").TeachExportReply} */
export function teachExport(_request, held) {
  // a copy out of wasm memory (wasm-bindgen's Vec<u8>), on its own ArrayBuffer
  const onnx = /** @type {Uint8Array<ArrayBuffer>} */ (teacher(held).export(held.teach.bytes));
  return { onnx, sidecar: teacher(held).sidecar() };
}
