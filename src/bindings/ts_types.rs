//! The TypeScript types of the plain objects that cross the boundary (options, answers,
//! facts), written into the package's `.d.ts`; `tests/web.rs` checks them against what the
//! methods return.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** One ranked class. `probability` is in [0, 1]. */
export interface Prediction { index: number; label: string; probability: number; }
/** Milliseconds per stage, measured with `performance.now()`, and the backend that ran
 *  the model (after a failed WebGPU run, the CPU answers the same call). */
export interface Timings { preprocessMs: number; inferenceMs: number; backend: "webgpu" | "cpu"; }
/** Where `classifyAsync` and `forwardAsync` run: `adapter` names the GPU for "webgpu";
 *  `reason` says in words why the CPU answers (no `navigator.gpu`, no adapter, only a
 *  software adapter, limits too low, an op the GPU path does not run, a lost device, the
 *  user's choice). */
export interface Backend { name: "webgpu" | "cpu"; adapter?: string; reason?: string; }
/** Top-k predictions, most probable first, with the call's timings. */
export type Classification = Prediction[] & { timings: Timings };
/** A raw model output: row-major `data` of `shape`. */
export interface Tensor { shape: number[]; data: Float32Array; timings: Timings; }
/** How pixels become the input tensor. Every field is optional and applies over `preset`
 *  (default "imagenet"); mean and std are in R, G, B order whatever `channelOrder` is.
 *  `resize` is the shorter side in pixels (0: none); `crop` is a centre crop [height, width]
 *  ([0, 0]: none); `pad` adds a black border of that many pixels after the crop. Without them, the geometry follows the graph's fixed input size
 *  (resize to size * 256/224, then crop), or keeps the image size when it is dynamic. */
export interface PreprocessOptions {
  preset?: "imagenet" | "caffe";
  channelOrder?: "rgb" | "bgr" | "gray";
  scale?: number;
  mean?: [number, number, number];
  std?: [number, number, number];
  resize?: number;
  crop?: [number, number];
  pad?: number;
  layout?: "nchw" | "nhwc";
}
/** Options for `new Vgg(bytes, options)`; the same object a model's JSON sidecar holds.
 *  Unknown keys, at any level, are errors; `undefined` and `null` mean "not given".
 *  `activations: true` keeps every layer's output after each run (for `activation`,
 *  `saliency`, `effectiveReceptiveField`), at some cost in memory and speed. */
export interface VggOptions {
  preprocess?: PreprocessOptions; labels?: string[]; activations?: boolean;
  /** `Vgg.create` only: "auto" (default) uses WebGPU where it can on a hardware adapter,
   *  "webgpu" on any adapter and fails where it cannot, "cpu" never tries it. */
  backend?: "auto" | "webgpu" | "cpu";
  /** `Vgg.create` only: lets "auto" take a software adapter (SwiftShader, lavapipe) too;
   *  default false, since the CPU path is faster there. */
  softwareGpu?: boolean;
  /** How the CPU runs 3x3 stride-1 convolutions: "auto" (default: Winograd F(4x4,3x3)
   *  where the bench measured it faster, tract's convolution elsewhere), "direct" (tract's
   *  convolution everywhere), "winograd-f2" or "winograd-f4" (that tile on every 3x3
   *  stride-1 convolution). `ModelInfo.convolutions` says what each ran. */
  convolution?: "auto" | "direct" | "winograd-f2" | "winograd-f4";
}
/** The algorithm one convolution of the CPU plan runs: "direct", "winograd F(2x2,3x3)" or
 *  "winograd F(4x4,3x3)". `node` is the graph node. */
export interface Convolution { node: string; algorithm: string; }
/** One layer of the chain, computed from the graph for the last input size. `name` is its
 *  output tensor, `node` the graph node computing it; `rf` (receptive
 *  field), `stride` and `padding` are in input pixels, [height, width]; `outShape` is
 *  [C, H, W] or [features]; `macs` counts multiply-accumulates. */
export interface LayerInfo {
  name: string; node: string; label: string; opType: string;
  kind: "conv" | "pool" | "fc" | "relu" | "norm" | "flatten" | "softmax" | "other";
  kernel: [number, number];
  rf: [number, number]; stride: [number, number]; padding: [number, number];
  outShape: number[]; params: number; macs: number;
}
/** Inclusive pixel box in the input tensor; may extend past it (padding). */
export interface Box { top: number; left: number; bottom: number; right: number; }
/** Where a unit looks: its box unclipped and clipped to the input (null if outside). */
export interface UnitField { unclipped: Box; clipped: Box | null; center: [number, number]; }
/** A gradient with respect to the input tensor: `gradient` is [C, H, W] (`shape`), `map`
 *  is [H, W] (saliency: max over channels of |g|; receptive field: sum of |g|). */
export interface GradientMap { target: string; shape: [number, number, number]; gradient: Float32Array; map: Float32Array; ms: number; }
/** Tensor pixel (x, y) shows image pixel ((x - pad + left) / scaleX, (y - pad + top) / scaleY). */
export interface Geometry { scaleX: number; scaleY: number; left: number; top: number; pad: number; width: number; height: number; }
/** The image as the model saw it in the last run (after resize, crop and pad), as straight
 *  RGBA, with how its pixels map onto the original image. */
export interface View { width: number; height: number; rgba: Uint8ClampedArray; geometry: Geometry; }
/** For unit (y, x) of a layer, the units of one earlier layer it depends on (`units`, in
 *  that layer's grid) and their centres in input pixels (`centers`: top, left, bottom, right). */
export interface NestedField { name: string; label: string; units: Box; centers: [number, number, number, number]; }
/** The longest run of convolutions between pools (Simonyan & Zisserman 2015, Section 2.3):
 *  `fields` are the receptive fields of its first 1, 2, 3 layers in units of its input;
 *  `layers` (n, at most 3) stacked 3x3 layers with `channels` C in and out have
 *  `stackWeights` = n·9·C² weights, one `field` x `field` layer `singleWeights` = field²·C². */
export interface Stack {
  labels: string[]; fields: number[]; channels: number; layers: number;
  stackWeights: number; singleWeights: number; field: number;
}
/** How many convolutions the model has, whether all are 3x3, and its longest stack (null
 *  when no two convolutions follow each other). */
export interface ConvStack { convs: number; all3x3: boolean; stack: Stack | null; }
/** Facts about the loaded model. Dynamic dimensions are `null`. `detected` says in words
 *  what was read from the file to fill in what the options left open (the preprocessing in
 *  its metadata under "preprocess", first, when the options give none; a channels-last
 *  layout, one grey channel, the graph's own scaling of its input, its fixed size).
 *  `threads`: how many inference runs on (1, or what `useThreads` set in the threaded build). */
export interface ModelInfo {
  inputName: string;
  inputShape: (number | null)[];
  outputName: string;
  outputShape: number[];
  head: { kind: "classifier"; classes: number; softmaxInGraph: boolean } | { kind: "features" };
  preprocess: Required<Omit<PreprocessOptions, "preset" | "resize" | "crop">> &
    { resize: number | null; crop: [number, number] | null };
  dynamicSize: boolean;
  nodes: number;
  detected: string[];
  threads: number;
  backend: Backend;
  /** Every convolution of the graph, in order, with the algorithm the CPU runs it with. */
  convolutions: Convolution[];
  /** The kernels the CPU plan's matrix products run on, by name, each once in plan order:
   *  tract's for this CPU or engine, `vgg_wasm_i8_dot_*` for vgg-wasm's int8 kernels. */
  matmulKernels: string[];
}
/** Options of `vgg.teacher(options)`. `side`: the square input the base sees (shorter
 *  side resized to it, then centre-cropped; default the base's fixed size, else its
 *  preprocessing's resize, else 224). `flip`: also learn from each image's mirror.
 *  `scales`: up to 3 further sides the base also sees that input at (resized bilinearly),
 *  the descriptors averaged, as the paper pools over scales; the export then holds one base
 *  per size (sharing its weights) and has no chain of layers to inspect. */
export interface TeacherOptions { side?: number; flip?: boolean; scales?: number[]; }
/** An image taught: its class's image count, its descriptor(s) (the base's output averaged
 *  over space, `dim` numbers each; the mirror's follows with `flip`), to store and hand
 *  back to `addFeatures` later, and what the base's run cost. */
export interface Added { label: string; count: number; features: Float32Array; timings: Timings; }
/** Options of `teacher.train(options)`. `method`: "softmax" (logistic regression with an
 *  L2 penalty `l2` on standardised descriptors, fitted by L-BFGS from zero: deterministic)
 *  or "nearestMean" (no fitting). `holdout`: the fraction of each class's images held out
 *  to measure accuracy when every class has at least 5 (default 0.2; 0: none), chosen with
 *  `seed`. */
export interface TrainOptions { method?: "softmax" | "nearestMean"; l2?: number; maxIterations?: number; holdout?: number; seed?: number; }
/** Held-out accuracy; `confusion[true][predicted]` counts, classes in `TrainReport.classes` order. */
export interface HeldOut { examples: number; accuracy: number; confusion: number[][]; seed: number; }
/** What `train` did: the classifier kept is fitted on every example; `heldOut` (null when
 *  some class has fewer than 5 images) comes from a second fit without the held-out ones. */
export interface TrainReport {
  method: "softmax" | "nearestMean"; classes: string[]; examples: number; iterations: number;
  loss: number; trainAccuracy: number; heldOut: HeldOut | null; ms: number;
}
/** What `vgg.visualize` maximises: a class's unnormalised score (`{ class }`), a channel's
 *  mean (`{ layer, channel }`), or one unit (`{ layer, channel, unit: [y, x] }`), each
 *  before its ReLU. */
export type VisualizeTarget = { class: number } | { layer: string; channel: number; unit?: [number, number] };
/** Options of `vgg.visualize`. `size`: the side of the image, for a model of any size
 *  (default 128; a fixed-size model uses its own). `steps` (default 64), `seed` (default 0:
 *  the same seed gives the same image), Adam's `learningRate` (0.05), the `l2` and `tv`
 *  (total variation) penalties per pixel relative to the objective's first value (0.0005
 *  each), and each step's random warp: `jitter` px (size / 16), `rotate` degrees (5),
 *  `scale` (0.05: 95 % to 105 %). */
export interface VisualizeOptions {
  target: VisualizeTarget; size?: number; steps?: number; seed?: number; learningRate?: number;
  l2?: number; tv?: number; jitter?: number; rotate?: number; scale?: number;
}
/** The image after `step` of `steps` steps, as straight RGBA, and what the model makes of
 *  it: `value` (the objective), `activation` (a channel's mean after its ReLU, as
 *  `activation()` shows it, comparable with real images), `top` (a classifier's answer);
 *  `ms` spent in steps so far. */
export interface VisualizationFrame {
  width: number; height: number; rgba: Uint8ClampedArray; step: number; steps: number; target: string;
  value: number; activation: number | null; top: Prediction | null; ms: number; msPerStep: number; backend: "cpu";
}
/** One of a channel's strongest units over the images given to `topPatches`: which image
 *  (index), the unit, its value, its receptive field (`field`, input tensor pixels) and the
 *  crop of that field clipped at the image (`rgba`, `width` x `height`; where
 *  `field.unclipped` exceeds `field.clipped`, the unit also saw padding). */
export interface Patch {
  image: number; y: number; x: number; value: number; field: UnitField; width: number; height: number;
  rgba: Uint8ClampedArray;
}
/** The JSON sidecar of an exported model (what `new Vgg(bytes, sidecar)` takes). */
export interface TaughtSidecar { preprocess: PreprocessOptions; labels: string[]; }
"#;
