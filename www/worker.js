// @ts-check
// The module worker that owns the wasm module and the models: every engine call happens
// here, so the page's main thread never blocks on inference. Its protocol is declared in
// engine.js, its only client; this file dispatches each request to its handler in worker/
// (models.js: the model shown; inspect.js: looking inside it; visualize.js: what a unit wants to
// see; teach.js: new classes) and
// posts the envelopes. The first request starts the build (worker/boot.js).
import { boot } from "./worker/boot.js";
import * as inspect from "./worker/inspect.js";
import * as models from "./worker/models.js";
import * as teach from "./worker/teach.js";
import * as visualize from "./worker/visualize.js";

/** The worker's one state object; only a successful load replaces its model.
 *  @type {import("./worker/held.js").Held} */
const held = {
  ready: null, // the build's start, begun by the first request (the start request carries the choice)
  api: null, // the build in use, once started
  runtime: null, // which build runs, on how many threads, and how its .wasm loaded
  vgg: null, // the model shown on the page
  cpuBehind: false, // the last run was on WebGPU and the CPU has not computed its activations yet
  visualization: null, // what a class or channel wants to see, forming (worker/visualize.js)
  teach: null, // {base, bytes, teacher} for teaching new classes, apart from the model shown
};

/** One handler per request type, each checked against engine.js's Protocol.
 *  @type {import("./worker/held.js").Handlers} */
const handlers = {
  start: models.runtime,
  runtime: models.runtime,
  load: models.load,
  preprocess: models.preprocess,
  backend: models.backend,
  classify: models.classify,
  forward: models.forward,
  forwardTensor: models.forwardTensor,
  profile: models.profile,
  layers: inspect.layers,
  channel: inspect.channel,
  unitField: inspect.unitField,
  saliency: inspect.saliency,
  visualize: visualize.start,
  visualizeStep: visualize.step,
  visualizeStop: visualize.stop,
  patches: visualize.patches,
  teachStart: teach.teachStart,
  teachAdd: teach.teachAdd,
  teachClass: teach.teachClass,
  teachTrain: teach.teachTrain,
  teachClassify: teach.teachClassify,
  teachExport: teach.teachExport,
  crashForTest: models.crashForTest,
};

/** Posts one envelope to the client.  @param {import("./protocol.js").ReplyMessage} message */
const post = (message) => self.postMessage(message);

self.onmessage = async (/** @type {MessageEvent<import("./protocol.js").RequestMessage>} */ { data }) => {
  const { id, type } = data;
  /** @param {string} text */
  const status = (text) => post({ id, status: text });
  /** @param {import("./protocol.js").Progress} p */
  const progress = (p) => post({ id, progress: p });
  try {
    held.ready ??= boot(held, data.type === "start" ? data : {}, progress);
    await held.ready;
    const handler = /** @type {import("./worker/held.js").Handler<typeof type>} */ (handlers[type]);
    if (!handler) throw new Error(`unknown request type ${JSON.stringify(type)}`);
    post({ id, result: await handler(data, held, status) });
  } catch (e) {
    // after a trap the wasm instance's state cannot be trusted: the client replaces this worker
    const fatal = e instanceof WebAssembly.RuntimeError;
    post({ id, error: e instanceof Error ? e.message : String(e), fatal });
  }
};
