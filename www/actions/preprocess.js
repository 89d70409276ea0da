// @ts-check
// The Model section's preprocessing panel: the loaded model's preprocessing, as a form. A change is
// applied at once (a new layout loads the model again); the form can be saved as the
// model's sidecar .json.
import { $, $form, saveBlob, setText, ticket } from "../dom.js";
import { modelSummary } from "../format.js";
import { fieldsToOptions, readForm, showPreprocess, sidecarJson } from "../panels/preprocess.js";

/** @typedef {import("./context.js").Context} Context */

const preprocessParts = () => ({
  panel: $("preprocess-panel"), summary: $("preprocess-summary"), detected: $("preprocess-detected"),
  form: $form("preprocess-form"), status: $("preprocess-status"),
});

/** Shows the model's preprocessing; `refresh`: the form too, dropping the user's edits.
 *  @param {Context} ctx */
export function showPreprocessPanel({ state }, refresh = false) {
  const { model } = state;
  showPreprocess(preprocessParts(), { info: model.info, guessed: model.guessed, from: model.from }, refresh);
}

/** The user changed a field: the model runs with the new preprocessing at once (a new
 *  layout needs the model loaded again, which happens). A spec the model refuses is shown,
 *  and the previous one stays.  @param {Context} ctx */
export async function changePreprocess(ctx) {
  const { state, engine, hooks } = ctx;
  const { model } = state;
  if (!model) return;
  const current = ticket(state.tickets, "preprocess");
  let preprocess;
  try {
    preprocess = fieldsToOptions(readForm($form("preprocess-form")));
  } catch (e) {
    return setText("preprocess-status", `Not applied: ${e.message}.`, true);
  }
  if (preprocess.layout !== model.info.preprocess.layout) {
    // the graph is planned for one layout: another means loading the model again
    const layout = preprocess.layout.toUpperCase();
    setText("preprocess-status", `Loading ${model.name} again for the ${layout} layout…`);
    await model.reloadWith({ ...model.options, preprocess });
    if (state.model === model && current()) {
      showPreprocessPanel(ctx, true);
      setText("preprocess-status", `Not applied: ${model.name} could not be loaded with the ${layout} layout (the reason is above); ` +
        `it runs on with ${model.info.preprocess.layout.toUpperCase()}.`, true);
    }
    return;
  }
  try {
    const { info } = await engine.setPreprocess(preprocess);
    if (!current() || state.model !== model) return;
    model.info = info;
    model.options = { ...model.options, preprocess };
    setText("preprocess-status", "Applied; the image runs again with it.");
    setText("model-summary", modelSummary(model));
  } catch (e) {
    // the form keeps the user's values (a change of crop and border together passes through
    // states the model refuses); the model runs on with what it had
    if (current() && state.model === model) {
      setText("preprocess-status", `Not applied: ${e.message}. The previous preprocessing stays (“Undo” shows it).`, true);
    }
    return;
  }
  await hooks.run();
}

/** Saves the preprocessing in the form as a sidecar .json named after the model.
 *  @param {Context} ctx */
export function savePreprocess({ state }) {
  const { model } = state;
  if (!model) return;
  let preprocess;
  try {
    preprocess = fieldsToOptions(readForm($form("preprocess-form")));
  } catch (e) {
    return setText("preprocess-status", `Not saved: ${e.message}.`, true);
  }
  const name = `${model.name.replace(/\.onnx$/i, "")}.json`;
  saveBlob(new Blob([sidecarJson(preprocess, model.options?.labels)], { type: "application/json" }), name);
  setText("preprocess-status", `Saved ${name}: open it with the .onnx file next time.`);
}
