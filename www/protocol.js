// @ts-check
// The worker protocol, declared once: what Engine (engine.js) posts to worker.js and what the
// worker's handlers (www/worker/) answer. Protocol pairs each request type with its request
// and its reply; the envelopes carry them. Types only (JSDoc, checked by tsc): nothing runs.
/**
 * @typedef {import("./pkg/vgg_wasm.js").ModelInfo} ModelInfo
 * @typedef {import("./pkg/vgg_wasm.js").LayerInfo} LayerInfo
 * @typedef {import("./pkg/vgg_wasm.js").ConvStack} ConvStack
 * @typedef {import("./pkg/vgg_wasm.js").Prediction} Prediction
 * @typedef {import("./pkg/vgg_wasm.js").Timings} Timings
 * @typedef {import("./pkg/vgg_wasm.js").View} View
 * @typedef {import("./pkg/vgg_wasm.js").UnitField} UnitField
 * @typedef {import("./pkg/vgg_wasm.js").NestedField} NestedField
 *
 * @typedef {{width: number, height: number, rgba: ArrayBuffer}} Image  straight RGBA pixels
 * @typedef {import("./pkg/vgg_wasm.js").VggOptions} VggOptions
 * @typedef {import("./pkg/vgg_wasm.js").PreprocessOptions} PreprocessOptions
 * @typedef {{index: number, mean: number, h: number, w: number, data: Float32Array}} ChannelMap  one channel, max-pooled to `side` px
 * @typedef {Omit<import("./pkg/vgg_wasm.js").GradientMap, "gradient">} GradientMap  the package's
 *   GradientMap without its [C, H, W] `gradient`, which the page does not draw (not sent)
 *
 * Requests and replies, by type:
 * @typedef {import("./pkg/vgg_wasm.js").Backend} Backend
 * @typedef {{type: "load", bytes: ArrayBuffer, options?: VggOptions, keepActivationsUpTo?: number, backend?: "auto" | "webgpu" | "cpu"}} LoadRequest
 *   `keepActivationsUpTo`: models up to this many bytes keep their activations (for layers, channel, unitField, saliency), if
 *   their graph is a chain; default 0, none. `backend`: where classify and forward run (default "auto": WebGPU where it can)
 * @typedef {{info: ModelInfo, layers: LayerInfo[] | null, layersError: string | null, convStack: ConvStack | null, activations: boolean,
 *   backend: Backend}} LoadReply
 * @typedef {{type: "preprocess", preprocess: PreprocessOptions}} PreprocessRequest  replaces the loaded model's preprocessing
 *   (VggOptions.preprocess; the layout stays the one it was loaded with)
 * @typedef {{info: ModelInfo}} PreprocessReply  the model's facts with the new preprocessing
 * @typedef {{type: "backend", name: "webgpu" | "cpu"}} BackendRequest  switches the loaded model's backend (WebGPU only where
 *   it was loaded onto a GPU)
 * @typedef {Backend} BackendReply
 * @typedef {{type: "classify", topK: number} & Image} ClassifyRequest
 * @typedef {{predictions: Prediction[], timings: Timings, view: View, backend: Backend}} ClassifyReply  `timings.backend`: which
 *   backend answered; `backend`: the model's backend after the call (the CPU, with the reason, once a device was lost)
 * @typedef {{type: "forward", channels: number} & Image} ForwardRequest
 * @typedef {{shape: number[], timings: Timings, view: View, channels: ChannelMap[], backend: Backend}} ForwardReply
 *   `channels`: the output's most active channels, strongest first
 * @typedef {{type: "layers", channels: number, side: number}} LayersRequest
 * @typedef {{layers: (LayerInfo & {channels: ChannelMap[]})[], cpuMs: number | null}} LayersReply  conv, pool and fc layers;
 *   `cpuMs`: after a WebGPU run, the time the CPU took to compute the activations (WebGPU reads back only the answer), else null
 * @typedef {{type: "channel", layer: string, channel: number}} ChannelRequest
 * @typedef {{layer: string, channel: number, h: number, w: number, data: Float32Array}} ChannelReply
 * @typedef {{type: "unitField", layer: string, channel: number, y: number, x: number}} UnitFieldRequest
 * @typedef {{field: UnitField, nested: NestedField[], erf: GradientMap}} UnitFieldReply
 * @typedef {{type: "saliency", classIndex?: number}} SaliencyRequest
 * @typedef {GradientMap} SaliencyReply
 * @typedef {import("./pkg/vgg_wasm.js").VisualizeOptions} VisualizeOptions
 * @typedef {{type: "visualize"} & VisualizeOptions} VisualizeRequest  starts a visualisation of the model shown (replacing
 *   the one before, which is freed); replies with its first frame, before any step
 * @typedef {Omit<import("./pkg/vgg_wasm.js").VisualizationFrame, "rgba"> & {rgba: Uint8ClampedArray<ArrayBuffer>}} VisualizeReply
 *   the image now (transferred) and what the model makes of it
 * @typedef {{type: "visualizeStep", steps: number}} VisualizeStepRequest  takes that many more steps of the visualisation
 * @typedef {{type: "visualizeStop"}} VisualizeStopRequest  frees the visualisation (a cancel)
 * @typedef {{type: "patches", layer: string, channel: number, k: number, files: ArrayBuffer[]}} PatchesRequest  the k units of
 *   the channel that fire most over the encoded image files (transferred); the last run is left as it was
 * @typedef {import("./pkg/vgg_wasm.js").Patch[]} PatchesReply
 * @typedef {{type: "forwardTensor", data: ArrayBuffer, shape: number[]}} ForwardTensorRequest  an input tensor already
 *   preprocessed (Float32 values; transferred)
 * @typedef {{shape: number[], data: Float32Array, timings: Timings}} ForwardTensorReply
 * @typedef {{type: "profile", data: ArrayBuffer, shape: number[]}} ProfileRequest
 * @typedef {{node: string, op: string, ms: number}[]} ProfileReply  ms per operator of tract's plan, in order
 *
 * Teaching (a second model in the worker, apart from the one shown: the convolutional base):
 * @typedef {{type: "teachStart", bytes: ArrayBuffer, options?: VggOptions, teacher?: import("./pkg/vgg_wasm.js").TeacherOptions,
 *   backend?: "auto" | "webgpu" | "cpu", items: {label: string, features?: Float32Array}[]}} TeachStartRequest  loads the base
 *   (on `backend`, default "auto": WebGPU where it can) and a teacher on it, restoring stored examples (an item without
 *   features declares an empty class); the base's file is kept for the export
 * @typedef {{classes: string[], counts: number[], side: number, scales: number[], dim: number, flip: boolean,
 *   backend: Backend}} TeachState  `backend`: where the base runs, and why not the GPU
 * @typedef {{type: "teachAdd", label: string} & Image} TeachAddRequest
 * @typedef {{added: import("./pkg/vgg_wasm.js").Added} & TeachState} TeachAddReply
 * @typedef {{type: "teachClass", label: string, remove?: boolean}} TeachClassRequest  declares (or removes, with its examples) a class
 * @typedef {{type: "teachTrain", options?: import("./pkg/vgg_wasm.js").TrainOptions}} TeachTrainRequest
 * @typedef {import("./pkg/vgg_wasm.js").TrainReport} TeachTrainReply
 * @typedef {{type: "teachClassify", topK: number} & Image} TeachClassifyRequest
 * @typedef {{predictions: Prediction[], timings: Timings}} TeachClassifyReply
 * @typedef {{type: "teachExport"}} TeachExportRequest
 * @typedef {{onnx: Uint8Array<ArrayBuffer>, sidecar: import("./pkg/vgg_wasm.js").TaughtSidecar}} TeachExportReply
 * @typedef {{type: "crashForTest"}} CrashForTestRequest  fails as a wasm trap would (tests)
 * @typedef {{type: "start", threads?: number | null, build?: string | null}} StartRequest  sent first by Engine; chooses the
 *   build (www/builds.js) and starts its threads
 * @typedef {{type: "runtime"}} RuntimeRequest
 * @typedef {{build: import("./builds.js").BuildName, threads: number, relaxedSimd: boolean, isolated: boolean, cores: number,
 *   notes: string[], memoryBytes: number, int8Kernels: string, load: {url: string, bytes: number, downloadMs: number,
 *   compileMs: number} | null}} Runtime  the build that runs and on how many threads; `notes` say in words why a faster one
 *   was not taken; `memoryBytes` is the wasm memory now (never shrinks: the peak); `int8Kernels`: which kernels run int8
 *   models' matrix products, in words; `load`: its .wasm, how long its download took and how long compiling went on after
 *   it (null where a bundler moved the .wasm and the module fetched it itself, without progress)
 *
 * The protocol: each request type, with its request and its reply.
 * @typedef {{start: [StartRequest, Runtime], runtime: [RuntimeRequest, Runtime], load: [LoadRequest, LoadReply],
 *   preprocess: [PreprocessRequest, PreprocessReply], backend: [BackendRequest, BackendReply], classify: [ClassifyRequest, ClassifyReply],
 *   forward: [ForwardRequest, ForwardReply], layers: [LayersRequest, LayersReply], channel: [ChannelRequest, ChannelReply],
 *   unitField: [UnitFieldRequest, UnitFieldReply], saliency: [SaliencyRequest, SaliencyReply], profile: [ProfileRequest, ProfileReply],
 *   visualize: [VisualizeRequest, VisualizeReply], visualizeStep: [VisualizeStepRequest, VisualizeReply],
 *   visualizeStop: [VisualizeStopRequest, null], patches: [PatchesRequest, PatchesReply],
 *   forwardTensor: [ForwardTensorRequest, ForwardTensorReply], teachStart: [TeachStartRequest, TeachState],
 *   teachAdd: [TeachAddRequest, TeachAddReply], teachClass: [TeachClassRequest, TeachState], teachTrain: [TeachTrainRequest, TeachTrainReply],
 *   teachClassify: [TeachClassifyRequest, TeachClassifyReply], teachExport: [TeachExportRequest, TeachExportReply],
 *   crashForTest: [CrashForTestRequest, never]}} Protocol
 * @typedef {keyof Protocol} RequestType
 * @typedef {Protocol[RequestType][0]} Request  the union of requests, told apart by `type`
 * @typedef {Protocol[RequestType][1]} Reply  the union of replies
 *
 * The envelopes:
 * @typedef {{what: string, loaded: number, total: number}} Progress  a download's bytes so far (`what`: "engine", the .wasm; `total` 0: unknown)
 * @typedef {{id: number} & Request} RequestMessage  what the client posts; `id` pairs the answers
 * @typedef {{id: number, status: string}} StatusMessage  what the worker is doing, in words
 * @typedef {{id: number, progress: Progress}} ProgressMessage  a download's progress
 * @typedef {{id: number, result: Reply}} ResultMessage  the request's reply, last
 * @typedef {{id: number, error: string, fatal: boolean}} ErrorMessage  or its failure, last: `error` is the message of a
 *   JS Error; `fatal`: the wasm trapped, and the client replaces the worker by a new one, which holds no model
 * @typedef {StatusMessage | ProgressMessage | ResultMessage | ErrorMessage} ReplyMessage
 */

export {};
