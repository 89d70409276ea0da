//! The JavaScript API: the only `#[wasm_bindgen]` items. Each method checks what JS hands
//! in, calls the plain Rust [`Pipeline`], and converts errors once, here, into a JS `Error`
//! whose message carries the whole cause chain.

use crate::pipeline::{Options, Output, Pipeline, Timings};
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** One ranked class. `probability` is in [0, 1]. */
export interface Prediction { index: number; label: string; probability: number; }
/** Milliseconds per stage, measured with `performance.now()`. */
export interface Timings { preprocessMs: number; inferenceMs: number; }
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
/** Options for `new Vgg(bytes, options)`; the same object a model's JSON sidecar holds. */
export interface VggOptions { preprocess?: PreprocessOptions; labels?: string[]; }
/** Facts about the loaded model. Dynamic dimensions are `null`. */
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
}
"#;

/// A VGG network loaded from ONNX bytes, run on the CPU with tract.
///
/// Load once, then call `classify` (or `forward`) as often as needed. Every method throws
/// an `Error` naming the bad value on invalid input; the instance stays usable after a
/// failed call.
#[wasm_bindgen]
pub struct Vgg {
    inner: Pipeline,
}

#[wasm_bindgen]
impl Vgg {
    /// Parses and optimises an ONNX model.
    ///
    /// `bytes`: the `.onnx` file. `options`: see `VggOptions` (preprocessing spec, labels).
    /// Throws if the bytes are not a loadable ONNX image model or an option is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(
        bytes: &[u8],
        #[wasm_bindgen(unchecked_param_type = "VggOptions | undefined")] options: JsValue,
    ) -> Result<Vgg, JsError> {
        let options: Options = if options.is_undefined() || options.is_null() {
            Options::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| JsError::new(&format!("invalid options: {e}")))?
        };
        Ok(Vgg { inner: Pipeline::new(bytes, options).map_err(js_error)? })
    }

    /// Facts about the model: input and output names and shapes, head, preprocessing.
    #[wasm_bindgen(getter, unchecked_return_type = "ModelInfo")]
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.info().map_err(js_error)?)
    }

    /// Classifies a straight (un-premultiplied) RGBA image, as `ImageData.data` holds it.
    ///
    /// `rgba` has `width * height * 4` bytes. Returns the `topK` (default 5) most probable
    /// classes, most probable first, with `timings`. Throws for a model without a
    /// classifier (use `forward`).
    #[wasm_bindgen(unchecked_return_type = "Classification")]
    pub fn classify(
        &mut self,
        rgba: &[u8],
        width: f64,
        height: f64,
        #[wasm_bindgen(js_name = topK)] top_k: Option<f64>,
    ) -> Result<JsValue, JsError> {
        let (w, h, k) = (dim("width", width)?, dim("height", height)?, top_k_arg(top_k)?);
        let c = self.inner.classify(rgba, w, h, k).map_err(js_error)?;
        classification_to_js(&c.predictions, &c.timings)
    }

    /// Classifies a PNG or JPEG file's bytes; otherwise as `classify`.
    #[wasm_bindgen(js_name = classifyImage, unchecked_return_type = "Classification")]
    pub fn classify_image(
        &mut self,
        bytes: &[u8],
        #[wasm_bindgen(js_name = topK)] top_k: Option<f64>,
    ) -> Result<JsValue, JsError> {
        let k = top_k_arg(top_k)?;
        let c = self.inner.classify_encoded(bytes, k).map_err(js_error)?;
        classification_to_js(&c.predictions, &c.timings)
    }

    /// Runs the model on an RGBA image and returns its raw first output (logits,
    /// probabilities, or feature maps for a convolution-only model).
    #[wasm_bindgen(unchecked_return_type = "Tensor")]
    pub fn forward(&mut self, rgba: &[u8], width: f64, height: f64) -> Result<JsValue, JsError> {
        let (w, h) = (dim("width", width)?, dim("height", height)?);
        tensor_to_js(self.inner.forward(rgba, w, h).map_err(js_error)?)
    }

    /// Runs the model on an input tensor that is already preprocessed.
    ///
    /// `data` is row-major f32 of `shape` (batch 1, the model's layout).
    #[wasm_bindgen(js_name = forwardTensor, unchecked_return_type = "Tensor")]
    pub fn forward_tensor(
        &mut self,
        data: &[f32],
        #[wasm_bindgen(unchecked_param_type = "number[]")] shape: JsValue,
    ) -> Result<JsValue, JsError> {
        let shape: Vec<usize> = serde_wasm_bindgen::from_value(shape.clone()).map_err(|_| {
            JsError::new(&format!("shape must be an array of non-negative integers, got {shape:?}"))
        })?;
        tensor_to_js(self.inner.forward_tensor(data, &shape).map_err(js_error)?)
    }
}

/// The one conversion from the crate's errors to a JS `Error`: `{:#}` keeps the chain.
fn js_error(e: anyhow::Error) -> JsError {
    JsError::new(&format!("{e:#}"))
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
