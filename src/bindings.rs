//! The JavaScript API: the only `#[wasm_bindgen]` items. Each method checks what JS hands
//! in, calls the plain Rust [`Pipeline`], and converts errors once, here, into a JS `Error`
//! whose message carries the whole cause chain.

use crate::pipeline::{Options, Output, Pipeline, Timings};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** One ranked class. `probability` is in [0, 1]. */
export interface Prediction { index: number; label: string; probability: number; }
/** Milliseconds per stage, measured with `performance.now()`, and the backend that ran
 *  the model (after a failed WebGPU run, the CPU answers the same call). */
export interface Timings { preprocessMs: number; inferenceMs: number; backend: "webgpu" | "cpu"; }
/** Where `classifyAsync` and `forwardAsync` run: `adapter` names the GPU for "webgpu";
 *  `reason` says in words why the CPU answers (no `navigator.gpu`, no adapter, limits too
 *  low, an op the GPU path does not run, a lost device, the user's choice). */
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
  /** `Vgg.create` only: "auto" (default) uses WebGPU where it can, "webgpu" fails where it
   *  cannot, "cpu" never tries it. */
  backend?: "auto" | "webgpu" | "cpu";
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
/** The JSON sidecar of an exported model (what `new Vgg(bytes, sidecar)` takes). */
export interface TaughtSidecar { preprocess: PreprocessOptions; labels: string[]; }
"#;

/// A VGG network loaded from ONNX bytes, run on the CPU with tract.
///
/// Load once, then call `classify` (or `forward`) as often as needed. Every method throws
/// an `Error` naming the bad value on invalid input; the instance stays usable after a
/// failed call.
#[wasm_bindgen]
pub struct Vgg {
    // shared with the asynchronous (GPU) calls in flight, which borrow it only before and
    // after their GPU work, never across an await
    inner: Rc<RefCell<Pipeline>>,
}

#[wasm_bindgen]
impl Vgg {
    /// Parses and optimises an ONNX model.
    ///
    /// `bytes`: the `.onnx` file. `options`: see `VggOptions` (preprocessing spec, labels).
    /// Throws if the bytes are not a loadable ONNX image model or an option is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer")] bytes: JsValue,
        #[wasm_bindgen(unchecked_param_type = "VggOptions | undefined")] options: JsValue,
    ) -> Result<Vgg, JsError> {
        let bytes = bytes_arg("bytes", &bytes, true)?;
        let p = Pipeline::new(bytes, options_from_js(options)?).map_err(js_error)?;
        Ok(Vgg { inner: Rc::new(RefCell::new(p)) })
    }

    /// Loads a model on the backend `options.backend` asks for: "auto" (default) runs on
    /// WebGPU when an adapter and a device are obtained and the GPU path supports every op
    /// of the model, else on the CPU, with the reason in `backend.reason`; "webgpu" rejects
    /// with that reason instead; "cpu" is `new Vgg`. WebGPU needs the package built with
    /// the `webgpu` feature (the npm package is). Use `classifyAsync`/`forwardAsync` to run
    /// on the backend; the synchronous methods always run on the CPU.
    pub async fn create(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer")] bytes: JsValue,
        #[wasm_bindgen(unchecked_param_type = "VggOptions | undefined")] options: JsValue,
    ) -> Result<Vgg, JsError> {
        let bytes = bytes_arg("bytes", &bytes, true)?;
        let p = Pipeline::create(bytes, options_from_js(options)?).await.map_err(js_error)?;
        Ok(Vgg { inner: Rc::new(RefCell::new(p)) })
    }

    /// The backend `classifyAsync` and `forwardAsync` run on, and why not the other.
    #[wasm_bindgen(getter, unchecked_return_type = "Backend")]
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.borrow().info().map_err(js_error)?.backend)
    }

    /// Chooses the backend: "webgpu" (only for a model `Vgg.create` put on a working GPU)
    /// or "cpu". Throws, naming the reason, when WebGPU is not available for this model.
    #[wasm_bindgen(js_name = useBackend)]
    pub fn use_backend(&self, name: &str) -> Result<(), JsError> {
        self.inner.borrow_mut().use_backend(name).map_err(js_error)
    }

    /// After a WebGPU run, computes on the CPU the activations that `activation`,
    /// `saliency` and `effectiveReceptiveField` read (WebGPU reads back only the output);
    /// those methods do it themselves when needed, so calling this first only moves the
    /// work (e.g. to show progress). Does nothing after a CPU run.
    #[wasm_bindgen(js_name = completeOnCpu)]
    pub fn complete_on_cpu(&self) -> Result<(), JsError> {
        self.inner.borrow_mut().complete_on_cpu().map_err(js_error)
    }

    /// `classify` on the model's backend (see `backend`): a promise of the same answer.
    /// A WebGPU run that fails is answered by the CPU (`timings.backend` says which ran);
    /// a lost device makes the CPU the backend from then on, with the reason.
    #[wasm_bindgen(js_name = classifyAsync, unchecked_return_type = "Promise<Classification>")]
    pub fn classify_async(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] rgba: JsValue,
        width: f64,
        height: f64,
        #[wasm_bindgen(js_name = topK)] top_k: Option<f64>,
    ) -> js_sys::Promise {
        promise((|| {
            let (w, h, k) = (dim("width", width)?, dim("height", height)?, top_k_arg(top_k)?);
            let rgba = rgba_arg(&rgba, w, h)?;
            #[cfg(feature = "webgpu")]
            {
                let job = {
                    let mut p = self.inner.borrow_mut();
                    p.check_classifier(k).map_err(js_error)?;
                    p.gpu_job(&rgba, w, h).map_err(js_error)?
                };
                if let Some(job) = job {
                    let inner = self.inner.clone();
                    return Ok(wasm_bindgen_futures::future_to_promise(async move {
                        let done = job.run().await;
                        let c = inner.borrow_mut().finish_gpu_classify(done, k).map_err(js_error)?;
                        Ok(classification_to_js(&c.predictions, &c.timings)?)
                    }));
                }
            }
            let c = self.inner.borrow_mut().classify(&rgba, w, h, k).map_err(js_error)?;
            Ok(js_sys::Promise::resolve(&classification_to_js(&c.predictions, &c.timings)?))
        })())
    }

    /// `forward` on the model's backend: a promise of the raw first output.
    #[wasm_bindgen(js_name = forwardAsync, unchecked_return_type = "Promise<Tensor>")]
    pub fn forward_async(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] rgba: JsValue,
        width: f64,
        height: f64,
    ) -> js_sys::Promise {
        promise((|| {
            let (w, h) = (dim("width", width)?, dim("height", height)?);
            let rgba = rgba_arg(&rgba, w, h)?;
            #[cfg(feature = "webgpu")]
            {
                let job = self.inner.borrow_mut().gpu_job(&rgba, w, h).map_err(js_error)?;
                if let Some(job) = job {
                    return Ok(self.finish_forward(job));
                }
            }
            let out = self.inner.borrow_mut().forward(&rgba, w, h).map_err(js_error)?;
            Ok(js_sys::Promise::resolve(&tensor_to_js(out)?))
        })())
    }

    /// `forwardTensor` on the model's backend: a promise of the raw first output.
    #[wasm_bindgen(js_name = forwardTensorAsync, unchecked_return_type = "Promise<Tensor>")]
    pub fn forward_tensor_async(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number[]")] shape: JsValue,
    ) -> js_sys::Promise {
        promise((|| {
            let (data, shape) = tensor_arg(&data, &shape)?;
            #[cfg(feature = "webgpu")]
            {
                let job = self.inner.borrow_mut().gpu_tensor_job(&data, &shape).map_err(js_error)?;
                if let Some(job) = job {
                    return Ok(self.finish_forward(job));
                }
            }
            let out = self.inner.borrow_mut().forward_tensor(&data, &shape).map_err(js_error)?;
            Ok(js_sys::Promise::resolve(&tensor_to_js(out)?))
        })())
    }

    /// Facts about the model: input and output names and shapes, head, preprocessing.
    #[wasm_bindgen(getter, unchecked_return_type = "ModelInfo")]
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.borrow().info().map_err(js_error)?)
    }

    /// Replaces the preprocessing (the `preprocess` object of `VggOptions`) without
    /// loading the model again; fields left out are filled in from the graph as at load.
    /// The layout must stay the one the model was loaded with. The last run's views and
    /// activations are dropped. Throws, naming the bad field, and changes nothing when the
    /// spec is invalid or does not fit the model's input.
    #[wasm_bindgen(js_name = setPreprocess)]
    pub fn set_preprocess(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PreprocessOptions")] preprocess: JsValue,
    ) -> Result<(), JsError> {
        let wrapped = js_sys::Object::new();
        js_sys::Reflect::set(&wrapped, &"preprocess".into(), &preprocess)
            .map_err(|_| JsError::new("invalid preprocess"))?;
        let spec = options_from_js(wrapped.into())?.preprocess.unwrap_or_default();
        self.inner.borrow_mut().set_preprocess(spec).map_err(js_error)
    }

    /// Classifies a straight (un-premultiplied) RGBA image, as `ImageData.data` holds it.
    ///
    /// `rgba` has `width * height * 4` bytes. Returns the `topK` (default 5) most probable
    /// classes, most probable first, with `timings`. Throws for a model without a
    /// classifier (use `forward`).
    #[wasm_bindgen(unchecked_return_type = "Classification")]
    pub fn classify(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] rgba: JsValue,
        width: f64,
        height: f64,
        #[wasm_bindgen(js_name = topK)] top_k: Option<f64>,
    ) -> Result<JsValue, JsError> {
        let (w, h, k) = (dim("width", width)?, dim("height", height)?, top_k_arg(top_k)?);
        let rgba = rgba_arg(&rgba, w, h)?;
        let c = self.inner.borrow_mut().classify(&rgba, w, h, k).map_err(js_error)?;
        classification_to_js(&c.predictions, &c.timings)
    }

    /// Classifies a PNG or JPEG file's bytes; otherwise as `classify`.
    #[wasm_bindgen(js_name = classifyImage, unchecked_return_type = "Classification")]
    pub fn classify_image(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer")] bytes: JsValue,
        #[wasm_bindgen(js_name = topK)] top_k: Option<f64>,
    ) -> Result<JsValue, JsError> {
        let k = top_k_arg(top_k)?;
        let bytes = bytes_arg("bytes", &bytes, true)?;
        let c = self.inner.borrow_mut().classify_encoded(&bytes, k).map_err(js_error)?;
        classification_to_js(&c.predictions, &c.timings)
    }

    /// Runs the model on an RGBA image and returns its raw first output (logits,
    /// probabilities, or feature maps for a convolution-only model).
    #[wasm_bindgen(unchecked_return_type = "Tensor")]
    pub fn forward(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] rgba: JsValue,
        width: f64,
        height: f64,
    ) -> Result<JsValue, JsError> {
        let (w, h) = (dim("width", width)?, dim("height", height)?);
        let rgba = rgba_arg(&rgba, w, h)?;
        tensor_to_js(self.inner.borrow_mut().forward(&rgba, w, h).map_err(js_error)?)
    }

    /// Runs the model on an input tensor that is already preprocessed.
    ///
    /// `data` is row-major f32 of `shape` (batch 1, the model's layout).
    #[wasm_bindgen(js_name = forwardTensor, unchecked_return_type = "Tensor")]
    pub fn forward_tensor(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number[]")] shape: JsValue,
    ) -> Result<JsValue, JsError> {
        let (data, shape) = tensor_arg(&data, &shape)?;
        tensor_to_js(self.inner.borrow_mut().forward_tensor(&data, &shape).map_err(js_error)?)
    }

    /// Runs an input tensor once like `forwardTensor`, timing every operator of tract's
    /// optimised plan, in plan order: `node` is the ONNX node it came from (with a suffix
    /// where tract split one operator into several), `op` tract's operator. For benchmarks;
    /// the run is not kept for `activation` or the gradients.
    #[wasm_bindgen(js_name = profileTensor, unchecked_return_type = "{ node: string; op: string; ms: number }[]")]
    pub fn profile_tensor(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number[]")] shape: JsValue,
    ) -> Result<JsValue, JsError> {
        let (data, shape) = tensor_arg(&data, &shape)?;
        to_js(&self.inner.borrow_mut().profile_tensor(&data, &shape).map_err(js_error)?)
    }
}

#[cfg(feature = "webgpu")]
impl Vgg {
    /// Runs a prepared GPU job; the promise resolves to the output (from the CPU if the
    /// GPU run failed).
    fn finish_forward(&self, job: crate::pipeline::GpuJob) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let done = job.run().await;
            let out = inner.borrow_mut().finish_gpu(done).map_err(js_error)?;
            Ok(tensor_to_js(out)?)
        })
    }
}

/// The promise of an asynchronous method; a check that failed before any work rejects it.
fn promise(r: Result<js_sys::Promise, JsError>) -> js_sys::Promise {
    r.unwrap_or_else(|e| js_sys::Promise::reject(&e.into()))
}

/// A Float32Array and its shape, checked.
fn tensor_arg(data: &JsValue, shape: &JsValue) -> Result<(Vec<f32>, Vec<usize>), JsError> {
    let data = data
        .dyn_ref::<js_sys::Float32Array>()
        .ok_or_else(|| JsError::new(&format!("data must be a Float32Array, got {}", describe(data))))?
        .to_vec();
    let shape: Vec<usize> = serde_wasm_bindgen::from_value(shape.clone())
        .map_err(|_| JsError::new(&format!("shape must be an array of non-negative integers, got {shape:?}")))?;
    Ok((data, shape))
}

#[wasm_bindgen]
impl Vgg {
    /// Every layer of the chain with its receptive field, effective stride and padding,
    /// output shape, parameters and multiply-accumulates, for the last input size.
    /// Throws if the graph is not a chain of VGG operators.
    #[wasm_bindgen(unchecked_return_type = "LayerInfo[]")]
    pub fn layers(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.borrow().layers().map_err(js_error)?)
    }

    /// Where unit (`y`, `x`) of `layer` (a label such as "conv5_3", or a tensor name) looks
    /// in the input tensor. Cheap: geometry only, no model run.
    #[wasm_bindgen(js_name = receptiveField, unchecked_return_type = "UnitField")]
    pub fn receptive_field(&self, layer: &str, y: f64, x: f64) -> Result<JsValue, JsError> {
        let (y, x) = (index("y", y)?, index("x", x)?);
        to_js(&self.inner.borrow().receptive_field(layer, y, x).map_err(js_error)?)
    }

    /// For unit (`y`, `x`) of `layer`, the units of every earlier spatial layer it depends
    /// on (`units`, in that layer's grid) and their centres in input pixels (`centers`:
    /// top, left, bottom, right): boxes that widen towards the unit's receptive field.
    #[wasm_bindgen(js_name = nestedFields, unchecked_return_type = "NestedField[]")]
    pub fn nested_fields(&self, layer: &str, y: f64, x: f64) -> Result<JsValue, JsError> {
        let (y, x) = (index("y", y)?, index("x", x)?);
        to_js(&self.inner.borrow().nested_fields(layer, y, x).map_err(js_error)?)
    }

    /// The last run's output of `layer` (needs `options.activations`). A convolution is
    /// read after its ReLU.
    #[wasm_bindgen(unchecked_return_type = "{ shape: number[]; data: Float32Array }")]
    pub fn activation(&self, layer: &str) -> Result<JsValue, JsError> {
        let mut p = self.inner.borrow_mut();
        p.complete_on_cpu().map_err(js_error)?;
        let (shape, data) = p.activation(layer).map_err(js_error)?;
        let obj: JsValue = js_sys::Object::new().into();
        set(&obj, "shape", &to_js(shape)?)?;
        set(&obj, "data", &js_sys::Float32Array::from(data.as_slice()).into())?;
        Ok(obj)
    }

    /// Class saliency (Simonyan et al. 2014) of `classIndex` (default: the top class of the
    /// last run): the gradient of its score with respect to the input. Needs
    /// `options.activations` and a model with a classifier.
    #[wasm_bindgen(unchecked_return_type = "GradientMap")]
    pub fn saliency(&self, #[wasm_bindgen(js_name = classIndex)] class_index: Option<f64>) -> Result<JsValue, JsError> {
        let class = class_index.map(|c| index("classIndex", c)).transpose()?;
        let mut p = self.inner.borrow_mut();
        p.complete_on_cpu().map_err(js_error)?;
        gradient_to_js(p.saliency(class).map_err(js_error)?)
    }

    /// Effective receptive field (Luo et al. 2016) of unit (`channel`, `y`, `x`) of `layer`
    /// on the last image: the gradient of its pre-activation with respect to the input.
    #[wasm_bindgen(js_name = effectiveReceptiveField, unchecked_return_type = "GradientMap")]
    pub fn effective_receptive_field(&self, layer: &str, channel: f64, y: f64, x: f64) -> Result<JsValue, JsError> {
        let (c, y, x) = (index("channel", channel)?, index("y", y)?, index("x", x)?);
        let mut p = self.inner.borrow_mut();
        p.complete_on_cpu().map_err(js_error)?;
        gradient_to_js(p.unit_gradient(layer, c, y, x).map_err(js_error)?)
    }

    /// How a `width` x `height` image maps onto the input tensor (resize scale, crop offset).
    #[wasm_bindgen(js_name = inputGeometry, unchecked_return_type = "Geometry")]
    pub fn input_geometry(&self, width: f64, height: f64) -> Result<JsValue, JsError> {
        let (w, h) = (dim("width", width)?, dim("height", height)?);
        to_js(&self.inner.borrow().spec().geometry(w, h).map_err(js_error)?)
    }

    /// The image as the model saw it in the last `classify` or `forward`: resized, cropped
    /// and padded, as straight RGBA, with its `geometry`. Kept from the run, not prepared
    /// again. Throws before the first run, or after `forwardTensor` (no image).
    #[wasm_bindgen(js_name = modelView, unchecked_return_type = "View")]
    pub fn model_view(&self) -> Result<JsValue, JsError> {
        let p = self.inner.borrow();
        let view = p.last_view().map_err(js_error)?;
        let obj: JsValue = js_sys::Object::new().into();
        set(&obj, "width", &view.pixels.width().into())?;
        set(&obj, "height", &view.pixels.height().into())?;
        set(&obj, "rgba", &js_sys::Uint8ClampedArray::from(view.pixels.as_raw().as_slice()).into())?;
        set(&obj, "geometry", &to_js(&view.geometry)?)?;
        Ok(obj)
    }

    /// The paper's case for stacks of 3x3 convolutions (Section 2.3), computed from this
    /// model's layers: how many convolutions, whether all are 3x3, and its longest stack.
    /// Throws if the graph is not a chain of VGG operators.
    #[wasm_bindgen(js_name = convStack, unchecked_return_type = "ConvStack")]
    pub fn conv_stack(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.borrow().conv_stack().map_err(js_error)?)
    }
}

/// Sets how many threads inference runs on, for every `Vgg` of this module. In the threaded
/// build (`vgg_wasm_threads`), call `await initThreadPool(n)` first, once, then
/// `useThreads(k)` with 1 ≤ k ≤ n; the single-threaded build accepts only 1. Throws on
/// anything else.
/// New classes taught on a convolutional base (`vgg.teacher()`): each image becomes the
/// base's output averaged over space (512 numbers for VGG16), and a linear classifier is
/// trained on those, as the paper's Appendix B uses VGG on other datasets. Holds the
/// examples' descriptors, not the images. Every method throws an `Error` naming the bad
/// value; a failed call changes nothing.
#[wasm_bindgen]
pub struct Teacher {
    base: Rc<RefCell<Pipeline>>,
    // shared with the asynchronous calls in flight, like `Vgg::inner`
    inner: Rc<RefCell<crate::teach::Teacher>>,
}

#[wasm_bindgen]
impl Vgg {
    /// A teacher on this model, which must be a convolutional base (its output feature
    /// maps, like the bundled VGG16 conv base). `options`: see `TeacherOptions`.
    pub fn teacher(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TeacherOptions | undefined")] options: JsValue,
    ) -> Result<Teacher, JsError> {
        let opts = options_of(options)?;
        let inner = crate::teach::Teacher::new(&self.inner.borrow(), opts).map_err(js_error)?;
        Ok(Teacher { base: self.inner.clone(), inner: Rc::new(RefCell::new(inner)) })
    }
}

#[wasm_bindgen]
impl Teacher {
    /// Declares a class without examples (`add` declares one too); returns its index.
    #[wasm_bindgen(js_name = addClass)]
    pub fn add_class(&mut self, name: &str) -> Result<usize, JsError> {
        self.inner.borrow_mut().add_class(name).map_err(js_error)
    }

    /// Removes a class and its examples.
    #[wasm_bindgen(js_name = removeClass)]
    pub fn remove_class(&mut self, name: &str) -> Result<(), JsError> {
        self.inner.borrow_mut().remove_class(name).map_err(js_error)
    }

    /// Teaches a straight RGBA image (`width * height * 4` bytes) as an example of class
    /// `label`: runs the base on it (and on its mirror with `flip`).
    #[wasm_bindgen(unchecked_return_type = "Added")]
    pub fn add(
        &mut self,
        label: &str,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] rgba: JsValue,
        width: f64,
        height: f64,
    ) -> Result<JsValue, JsError> {
        let img = image_arg(&rgba, width, height)?;
        let added = self.inner.borrow_mut().add(&mut self.base.borrow_mut(), label, &img).map_err(js_error)?;
        added_to_js(added)
    }

    /// `add` on the base's backend (`vgg.backend`: WebGPU for a base `Vgg.create` put on a
    /// GPU, else the CPU): a promise of the same answer, `timings.backend` saying which ran.
    #[wasm_bindgen(js_name = addAsync, unchecked_return_type = "Promise<Added>")]
    pub fn add_async(
        &self,
        label: String,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] rgba: JsValue,
        width: f64,
        height: f64,
    ) -> js_sys::Promise {
        promise((|| {
            let img = image_arg(&rgba, width, height)?;
            let (teacher, base) = (self.inner.clone(), self.base.clone());
            Ok(wasm_bindgen_futures::future_to_promise(async move {
                let added =
                    crate::teach::Teacher::add_on_backend(&teacher, &base, &label, &img).await.map_err(js_error)?;
                Ok(added_to_js(added)?)
            }))
        })())
    }

    /// `classify` on the base's backend, as `addAsync`.
    #[wasm_bindgen(js_name = classifyAsync, unchecked_return_type = "Promise<Classification>")]
    pub fn classify_async(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] rgba: JsValue,
        width: f64,
        height: f64,
        #[wasm_bindgen(js_name = topK)] top_k: Option<f64>,
    ) -> js_sys::Promise {
        promise((|| {
            let (img, k) = (image_arg(&rgba, width, height)?, top_k_arg(top_k)?);
            let (teacher, base) = (self.inner.clone(), self.base.clone());
            Ok(wasm_bindgen_futures::future_to_promise(async move {
                let c = crate::teach::Teacher::classify_on_backend(&teacher, &base, &img, k).await.map_err(js_error)?;
                Ok(classification_to_js(&c.predictions, &c.timings)?)
            }))
        })())
    }

    /// Teaches a PNG or JPEG file's bytes; otherwise as `add`.
    #[wasm_bindgen(js_name = addImage, unchecked_return_type = "Added")]
    pub fn add_image(
        &mut self,
        label: &str,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer")] bytes: JsValue,
    ) -> Result<JsValue, JsError> {
        let bytes = bytes_arg("bytes", &bytes, true)?;
        let img = crate::preprocess::decode_image(&bytes).map_err(js_error)?;
        let added = self.inner.borrow_mut().add(&mut self.base.borrow_mut(), label, &img).map_err(js_error)?;
        added_to_js(added)
    }

    /// Adds an image's descriptors computed before (an `Added.features`, e.g. restored from
    /// storage) to class `label`, without running the base. Returns the class's image count.
    #[wasm_bindgen(js_name = addFeatures)]
    pub fn add_features(
        &mut self,
        label: &str,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] features: JsValue,
    ) -> Result<usize, JsError> {
        let Some(a) = features.dyn_ref::<js_sys::Float32Array>() else {
            return Err(JsError::new(&format!("features must be a Float32Array, got {}", describe(&features))));
        };
        self.inner.borrow_mut().add_features(label, &a.to_vec()).map_err(js_error)
    }

    /// Class names, in the order they were declared.
    pub fn classes(&self) -> Vec<String> {
        self.inner.borrow().examples().classes().to_vec()
    }

    /// Images taught per class, in `classes()` order.
    pub fn counts(&self) -> Vec<u32> {
        self.inner.borrow().examples().counts().into_iter().map(|c| c as u32).collect()
    }

    /// The side of the square input the base sees, in pixels.
    #[wasm_bindgen(getter)]
    pub fn side(&self) -> u32 {
        self.inner.borrow().side()
    }

    /// Whether each image's mirror is taught too.
    #[wasm_bindgen(getter)]
    pub fn flip(&self) -> bool {
        self.inner.borrow().flip()
    }

    /// The further sides the base sees each image at (empty: `side` only).
    #[wasm_bindgen(getter)]
    pub fn scales(&self) -> Vec<u32> {
        self.inner.borrow().scales().to_vec()
    }

    /// A descriptor's length: the base's output channels.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> usize {
        self.inner.borrow().dim()
    }

    /// Trains a classifier on every example (see `TrainOptions`); it replaces the last.
    /// Throws when there are no classes, one class, or a class without examples.
    #[wasm_bindgen(unchecked_return_type = "TrainReport")]
    pub fn train(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "TrainOptions | undefined")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        let opts: crate::teach::TrainOptions = options_of(options)?;
        to_js(&self.inner.borrow_mut().train(&opts).map_err(js_error)?)
    }

    /// The `topK` (default 5) most probable taught classes of a straight RGBA image.
    #[wasm_bindgen(unchecked_return_type = "Classification")]
    pub fn classify(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] rgba: JsValue,
        width: f64,
        height: f64,
        #[wasm_bindgen(js_name = topK)] top_k: Option<f64>,
    ) -> Result<JsValue, JsError> {
        let (img, k) = (image_arg(&rgba, width, height)?, top_k_arg(top_k)?);
        let c = self.inner.borrow_mut().classify(&mut self.base.borrow_mut(), &img, k).map_err(js_error)?;
        classification_to_js(&c.predictions, &c.timings)
    }

    /// The trained classifier as a complete `.onnx`: `baseBytes`, the file the base was
    /// loaded from (checked to be its graph; the loaded model keeps no copy of it), with
    /// an average over the whole feature map, a Gemm and a Softmax appended, the input
    /// fixed to `side` x `side`, and the class names in the metadata (`labels`), which
    /// `new Vgg(bytes)` reads. Load it with `sidecar()` as its options for the same answers.
    #[wasm_bindgen(js_name = export)]
    pub fn export_onnx(
        &mut self,
        #[wasm_bindgen(js_name = baseBytes, unchecked_param_type = "Uint8Array | ArrayBuffer")] base_bytes: JsValue,
    ) -> Result<js_sys::Uint8Array, JsError> {
        let bytes = bytes_arg("baseBytes", &base_bytes, true)?;
        let out = self.inner.borrow_mut().export(&mut self.base.borrow_mut(), &bytes).map_err(js_error)?;
        Ok(js_sys::Uint8Array::from(out.as_slice()))
    }

    /// The exported model's options: the base's preprocessing at `side` and the labels.
    #[wasm_bindgen(unchecked_return_type = "TaughtSidecar")]
    pub fn sidecar(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.borrow().sidecar(&self.base.borrow()).map_err(js_error)?)
    }
}

fn added_to_js(added: crate::teach::Added) -> Result<JsValue, JsError> {
    let obj = to_js(&added)?;
    set(&obj, "features", &js_sys::Float32Array::from(added.features.as_slice()).into())?;
    Ok(obj)
}

#[wasm_bindgen(js_name = useThreads)]
pub fn use_threads(threads: JsValue) -> Result<(), JsError> {
    let n = threads.as_f64().filter(|n| n.fract() == 0.0 && *n >= 1.0 && *n <= 256.0).ok_or_else(|| {
        JsError::new(&format!("threads must be a whole number from 1 to 256, got {}", describe(&threads)))
    })?;
    crate::model::use_threads(n as usize).map_err(js_error)
}

/// How many threads inference runs on now (always 1 in the single-threaded build).
#[wasm_bindgen(js_name = threadCount)]
pub fn thread_count() -> usize {
    crate::model::threads()
}

/// Bytes of wasm memory this module holds now. Wasm memory grows and never shrinks, so this
/// is also its peak so far. (0 outside WebAssembly.)
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) as f64 * 65536.0;
    #[cfg(not(target_arch = "wasm32"))]
    0.0
}

/// Which kernels run int8 models' matrix products in this build on this engine, in words:
/// vgg-wasm's relaxed-SIMD dot product kernels (where the engine's relaxed dot product reads
/// bytes above 127 as unsigned, without saturating: V8 on x86 with VNNI) or tract's.
#[wasm_bindgen(js_name = int8Kernels)]
pub fn int8_kernels() -> String {
    crate::model::int8_kernels().to_string()
}

/// The int8 matrix kernels this build can run on this engine, by name: the values
/// `forceInt8Kernel` takes (tract's wasm kernels, and in the relaxed-SIMD builds vgg-wasm's).
#[wasm_bindgen(js_name = int8KernelNames)]
pub fn int8_kernel_names() -> Vec<String> {
    crate::model::int8_kernel_names().into_iter().map(str::to_string).collect()
}

/// For tests and benchmarks: makes models loaded afterwards run their int8 products on the
/// kernel `name` (one of `int8KernelNames()`) wherever it can take them, even where this
/// engine's relaxed dot product makes vgg-wasm's kernels inexact for inputs that can saturate
/// it; `undefined` gives the choice back. `ModelInfo.matmulKernels` says what a model runs.
/// Throws for a name this build does not run here.
#[wasm_bindgen(js_name = forceInt8Kernel)]
pub fn force_int8_kernel(name: Option<String>) -> Result<(), JsError> {
    crate::model::force_int8_kernel(name.as_deref()).map_err(js_error)
}

/// Whether this build of the module can use more than one thread (`initThreadPool` exists).
#[wasm_bindgen(js_name = isThreadedBuild)]
pub fn is_threaded_build() -> bool {
    crate::model::THREADED_BUILD
}

// wasm-bindgen-rayon's `initThreadPool(n)`: starts n Web Workers sharing this module's memory.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

fn index(name: &str, v: f64) -> Result<usize, JsError> {
    if v.fract() == 0.0 && v >= 0.0 && v <= u32::MAX as f64 {
        Ok(v as usize)
    } else {
        Err(JsError::new(&format!("{name} must be a whole number >= 0, got {v}")))
    }
}

fn gradient_to_js(g: crate::pipeline::Gradient) -> Result<JsValue, JsError> {
    let obj: JsValue = js_sys::Object::new().into();
    set(&obj, "target", &g.target.as_str().into())?;
    set(&obj, "shape", &to_js(&g.shape)?)?;
    set(&obj, "gradient", &js_sys::Float32Array::from(g.data.as_slice()).into())?;
    set(&obj, "map", &js_sys::Float32Array::from(g.map.as_slice()).into())?;
    set(&obj, "ms", &g.ms.into())?;
    Ok(obj)
}

/// `VggOptions` from JS. serde-wasm-bindgen reads only the fields a struct declares, so a
/// misspelt option would pass unnoticed: the whole object is read first and then checked
/// against the declared fields. `undefined` and `null` mean "not given" at any depth.
fn options_from_js(options: JsValue) -> Result<Options, JsError> {
    options_of(options)
}

/// An options object of type `T` from JS (see `options_from_js`).
fn options_of<T: serde::de::DeserializeOwned + Default>(options: JsValue) -> Result<T, JsError> {
    fn drop_nulls(v: &mut serde_json::Value) {
        if let serde_json::Value::Object(m) = v {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(drop_nulls);
        }
    }
    /// JSON has no NaN or Infinity: serde would read them as null, "not given"; refuse them
    /// by name instead. Options are a few levels deep; deeper (or cyclic) is refused too.
    fn finite(v: &JsValue, path: &str, depth: usize) -> Result<(), JsError> {
        if depth > 8 {
            return Err(JsError::new(&format!("invalid options: {path} is nested too deeply")));
        }
        if let Some(n) = v.as_f64() {
            if !n.is_finite() {
                return Err(JsError::new(&format!("invalid options: {path} must be a finite number, got {n}")));
            }
        } else if js_sys::Array::is_array(v) {
            for (i, x) in js_sys::Array::from(v).iter().enumerate() {
                finite(&x, &format!("{path}[{i}]"), depth + 1)?;
            }
        } else if v.is_object() {
            for key in js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>()).iter() {
                let k = key.as_string().unwrap_or_default();
                finite(
                    &js_sys::Reflect::get(v, &key).unwrap_or(JsValue::UNDEFINED),
                    &format!("{path}.{k}"),
                    depth + 1,
                )?;
            }
        }
        Ok(())
    }
    if options.is_undefined() || options.is_null() {
        return Ok(T::default());
    }
    if !options.is_object() || js_sys::Array::is_array(&options) {
        return Err(JsError::new(&format!("invalid options: expected an object, got {}", describe(&options))));
    }
    finite(&options, "options", 0)?;
    let invalid = |e: &dyn std::fmt::Display| JsError::new(&format!("invalid options: {e}"));
    let mut value: serde_json::Value = serde_wasm_bindgen::from_value(options).map_err(|e| invalid(&e))?;
    drop_nulls(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            invalid(&inner)
        } else {
            invalid(&format!("{path}: {inner}"))
        }
    })
}

/// The one conversion from the crate's errors to a JS `Error`: `{:#}` keeps the chain.
fn js_error(e: anyhow::Error) -> JsError {
    JsError::new(&format!("{e:#}"))
}

/// What a JS value is, for a message: its type, or its constructor's name, and its size.
fn describe(v: &JsValue) -> String {
    if v.is_null() {
        return "null".into();
    }
    if let Some(n) = v.as_f64() {
        return format!("{n}");
    }
    if !v.is_object() {
        return match v.as_string() {
            Some(s) => format!("a string of {} characters", s.chars().count()),
            None => format!("{} {v:?}", v.js_typeof().as_string().unwrap_or_default()),
        };
    }
    let name = js_sys::Reflect::get(v, &"constructor".into())
        .and_then(|c| js_sys::Reflect::get(&c, &"name".into()))
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_else(|| "an object".into());
    let len = js_sys::Reflect::get(v, &"length".into()).ok().and_then(|l| l.as_f64());
    len.map_or(name.clone(), |n| format!("{name} of length {n}"))
}

/// Bytes from a `Uint8Array` (or `Uint8ClampedArray`, or an `ArrayBuffer` when
/// `buffer_ok`), copied into wasm memory; anything else is refused by type.
fn bytes_arg(name: &str, v: &JsValue, buffer_ok: bool) -> Result<Vec<u8>, JsError> {
    if let Some(a) = v.dyn_ref::<js_sys::Uint8Array>() {
        Ok(a.to_vec())
    } else if let Some(a) = v.dyn_ref::<js_sys::Uint8ClampedArray>() {
        Ok(a.to_vec())
    } else if let (Some(b), true) = (v.dyn_ref::<js_sys::ArrayBuffer>(), buffer_ok) {
        Ok(js_sys::Uint8Array::new(b).to_vec())
    } else {
        let kinds = if buffer_ok { "a Uint8Array or an ArrayBuffer" } else { "a Uint8Array or Uint8ClampedArray" };
        Err(JsError::new(&format!("{name} must be {kinds}, got {}", describe(v))))
    }
}

/// RGBA pixels for a `width` x `height` image, copied into wasm memory only once their
/// type and the pixel limit are checked (the length is checked with the pixels, in Rust).
fn rgba_arg(v: &JsValue, width: u32, height: u32) -> Result<Vec<u8>, JsError> {
    crate::preprocess::check_size(width, height).map_err(js_error)?;
    bytes_arg("rgba", v, false)
}

/// A straight RGBA image of `width` x `height` from JS, checked as `rgba_arg` and
/// `rgba_image` check it.
fn image_arg(rgba: &JsValue, width: f64, height: f64) -> Result<image::RgbaImage, JsError> {
    let (w, h) = (dim("width", width)?, dim("height", height)?);
    crate::preprocess::rgba_image(&rgba_arg(rgba, w, h)?, w, h).map_err(js_error)
}

fn dim(name: &str, v: f64) -> Result<u32, JsError> {
    if v.fract() == 0.0 && v >= 1.0 && v <= u32::MAX as f64 {
        Ok(v as u32)
    } else {
        Err(JsError::new(&format!("{name} must be a whole number of pixels > 0, got {v}")))
    }
}

fn top_k_arg(k: Option<f64>) -> Result<usize, JsError> {
    match k {
        None => Ok(5),
        Some(k) if k.fract() == 0.0 && k >= 1.0 && k <= u32::MAX as f64 => Ok(k as usize),
        Some(k) => Err(JsError::new(&format!("topK must be a whole number >= 1, got {k}"))),
    }
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("converting the answer for JS: {e}")))
}

fn set(obj: &JsValue, key: &str, value: &JsValue) -> Result<(), JsError> {
    js_sys::Reflect::set(obj, &key.into(), value)
        .map(|_| ())
        .map_err(|_| JsError::new(&format!("could not set '{key}' on the answer")))
}

fn classification_to_js(predictions: &[crate::predictions::Prediction], timings: &Timings) -> Result<JsValue, JsError> {
    let arr = to_js(&predictions)?;
    set(&arr, "timings", &to_js(timings)?)?;
    Ok(arr)
}

fn tensor_to_js(out: Output) -> Result<JsValue, JsError> {
    let obj: JsValue = js_sys::Object::new().into();
    set(&obj, "shape", &to_js(&out.shape)?)?;
    // a copy, not a view: wasm memory may grow and detach a view
    set(&obj, "data", &js_sys::Float32Array::from(out.data.as_slice()).into())?;
    set(&obj, "timings", &to_js(&out.timings)?)?;
    Ok(obj)
}
