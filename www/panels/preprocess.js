// @ts-check
// "How pixels become the model's input": the preprocessing the model runs with, in a form the
// user can change (the page runs the image again at once) and save as a sidecar .json. Open
// and marked as a guess when no catalog entry or sidecar said how.

/** The shortest decimal that is the same f32 as `v`: the crate keeps these numbers as f32,
 *  whose f64 conversion shows a tail (0.485 arrives as 0.48500001430511475). Pure. */
export function f32(v) {
  for (let digits = 1; digits < 9; digits++) {
    const d = Number(v.toPrecision(digits));
    if (Math.fround(d) === Math.fround(v)) return d;
  }
  return Number(v.toPrecision(9)); // always enough for an f32
}

/** The form's field values for a resolved spec (ModelInfo.preprocess). Pure. */
export function specToFields(spec) {
  const [cropH, cropW] = spec.crop ?? [0, 0];
  return {
    channelOrder: spec.channelOrder, layout: spec.layout, scale: f32(spec.scale),
    mean0: f32(spec.mean[0]), mean1: f32(spec.mean[1]), mean2: f32(spec.mean[2]),
    std0: f32(spec.std[0]), std1: f32(spec.std[1]), std2: f32(spec.std[2]),
    resize: spec.resize ?? 0, cropH, cropW, pad: spec.pad,
  };
}

/** The `preprocess` options (VggOptions.preprocess) of the form's values (strings, as the
 *  form holds them). Throws, naming the field, for a value that is not a number. Pure.
 *  @param {{[field: string]: FormDataEntryValue}} f  @returns {import("../pkg/vgg_wasm.js").PreprocessOptions} */
export function fieldsToOptions(f) {
  const num = (name) => {
    const v = Number(f[name]);
    if (f[name] === "" || !Number.isFinite(v)) throw new Error(`${name} must be a number, got ${JSON.stringify(f[name])}`);
    return v;
  };
  return {
    channelOrder: /** @type {"rgb" | "bgr" | "gray"} */ (f.channelOrder), layout: /** @type {"nchw" | "nhwc"} */ (f.layout), scale: num("scale"),
    mean: [num("mean0"), num("mean1"), num("mean2")], std: [num("std0"), num("std1"), num("std2")],
    resize: num("resize"), crop: [num("cropH"), num("cropW")], pad: num("pad"),
  };
}

/** The sidecar a model loads with next time: these preprocessing options, and the labels
 *  when the model was given some. Pure. */
export function sidecarJson(preprocess, labels) {
  return JSON.stringify(labels ? { preprocess, labels } : { preprocess }, null, 1) + "\n";
}

/** The form's values, as strings. */
export function readForm(form) {
  return Object.fromEntries(new FormData(form));
}

/** Shows the model's preprocessing in the form: `guessed` opens it and says so; `detected`
 *  lists what was read from the graph. `refresh`: the same model again (undoing the
 *  user's edits), left open or closed as the user has it. */
export function showPreprocess({ panel, summary, detected, form, status }, { info, guessed, from }, refresh = false) {
  for (const [name, value] of Object.entries(specToFields(info.preprocess))) form.elements[name].value = String(value);
  panel.hidden = false;
  if (!refresh) panel.open = guessed;
  panel.classList.toggle("guessed", guessed);
  summary.textContent = guessed
    ? "Preprocessing was guessed (no sidecar said how): check it against how the model was trained"
    : `Preprocessing (${from})`;
  detected.textContent = info.detected.length ? `Read from the graph: ${info.detected.join("; ")}.` : "";
  status.textContent = "";
  status.classList.remove("error");
}
