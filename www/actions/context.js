// @ts-check
// What every action receives: the page's one state object (created, with a comment on each
// field, in app.js), the engine, the page's constants, and the hooks by which one section
// asks another (an action never imports app.js or another action). Types only.

/**
 * @typedef {import("../engine.js").Engine} Engine
 * @typedef {import("../protocol.js").LoadReply} LoadReply
 * @typedef {import("../protocol.js").Backend} Backend
 * @typedef {import("../protocol.js").View} View
 * @typedef {import("../protocol.js").LayersReply["layers"]} Layers
 * @typedef {import("../protocol.js").UnitField} UnitField
 * @typedef {import("../protocol.js").NestedField} NestedField
 * @typedef {import("../protocol.js").TeachTrainReply} TrainReport
 * @typedef {import("../teach-store.js").TaughtClass} TaughtClass
 * @typedef {import("../dom.js").Tickets} Tickets
 *
 * @typedef {{domain: string, what?: string}} Fit  what a model recognises (the catalog's `recognises`)
 * @typedef {{id: string, name: string, short?: string, file?: string, bundled?: boolean, bytes?: number,
 *   sha256: string, options?: object, recognises?: Fit, page?: string}} CatalogEntry  one model of www/models/catalog.json
 * @typedef {{name: string, file: string, domain: string | null, pick: () => Promise<void>}} Sample  one of www/samples, picked as a click does
 *
 * @typedef {LoadReply & {name: string, bytes: number, id: string | null, loadedFor: "auto" | "webgpu" | "cpu", fit: Fit | null,
 *   options: import("../pkg/vgg_wasm.js").VggOptions | undefined, guessed: boolean, from: string, short: string, reload: () => Promise<void>,
 *   reloadWith: (options: object) => Promise<void>}} Model
 *   the model the worker holds: the load's reply (its `backend` kept current), its file's name and
 *   size, its catalog id, the backend it was loaded for, what it recognises, the options it was
 *   loaded with (VggOptions, as JSON), whether its preprocessing was guessed and where it came
 *   from, and how to load it again (with other options)
 * @typedef {{name: string, domain: string | null, width: number, height: number, rgba: Uint8ClampedArray<ArrayBuffer>}} PageImage
 *   the current image, as drawn (at most MAX_SIDE_PX a side)
 * @typedef {{field?: UnitField, nested?: NestedField[], heat?: Float32Array | null, unitHeat?: Float32Array,
 *   unitText?: string}} Overlay  drawn over the model's view: a unit's field, the heat shown, the unit's own heat and words
 * @typedef {{base: string | null, side: number | null, flip: boolean, scales: number[], classes: TaughtClass[],
 *   report: TrainReport | null, live: MediaStream | null, busy: boolean}} Teach
 *
 * @typedef {{engineReady: boolean, catalog: CatalogEntry[], samples: Promise<Sample[]> | null, model: Model | null,
 *   loading: string | null, image: PageImage | null, view: View | null, overlay: Overlay, download: AbortController | null,
 *   backend: "auto" | "webgpu" | "cpu", times: {[backend: string]: number}, answerInView: boolean, using: Element | null, running: Promise<void> | null,
 *   runAgain: boolean, open: {layer: string, channel: number} | null, teach: Teach,
 *   typing: ReturnType<typeof setTimeout> | null, chartObserver: ResizeObserver | null, tickets: Tickets}} State
 *   see app.js for each field
 *
 * @typedef {{TOP_K: number, MAX_SIDE_PX: number, MIN_IMAGE_PX: number, DEFAULT_MODEL: string, FEATURE_MAPS: number, STRIP_CHANNELS: number,
 *   STRIP_THUMB_PX: number, ACTIVATIONS_MAX_BYTES: number, PREPROCESS_TYPING_MS: number, TEACH_BASE: string,
 *   TEACH_MAX_CLASSES: number, BURST_FRAMES: number, BURST_EVERY_MS: number, THUMB_PX: number, TEACH_SCALES: number[]}} Config
 *   the page's constants (app.js, with their units)
 *
 * @typedef {object} Hooks  one section's entry points that another calls
 * @property {() => Promise<void> | void} run  runs the current image on the current model (runs.js)
 * @property {(backend: Backend) => void} showBackend  says where the model runs (runs.js)
 * @property {(refresh?: boolean) => void} showPreprocessPanel  the model's preprocessing (preprocess.js)
 * @property {() => void} resetLayerViews  hides the views of the last run's layers (inspect.js)
 * @property {(view: View) => void} showView  draws the image as the model saw it (inspect.js)
 * @property {(layer: string, channel: number) => Promise<void>} openChannel  opens a channel the person chose in the inspector, and focuses it (inspect.js)
 * @property {(layers: Layers) => Promise<void>} reopenChannel  opens the open channel again on a new image (inspect.js)
 * @property {(image: {name?: string, width: number, height: number, rgba: Uint8ClampedArray<ArrayBuffer>}) => Promise<boolean>} predictTaught
 *   the taught classes' answer for an image (teach.js)
 *
 * @typedef {{state: State, engine: Engine, config: Config, hooks: Hooks}} Context
 */

export {};
