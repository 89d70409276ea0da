//! `Vgg`: loading a model and running it (CPU, and WebGPU where the model was put there).

use super::args::*;
use crate::pipeline::Pipeline;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A VGG network loaded from ONNX bytes, run on the CPU with tract.
///
/// Load once, then call `classify` (or `forward`) as often as needed. Every method throws
/// an `Error` naming the bad value on invalid input; the instance stays usable after a
/// failed call.
#[wasm_bindgen]
pub struct Vgg {
    // shared with the asynchronous (GPU) calls in flight, which borrow it only before and
    // after their GPU work, never across an await
    pub(super) inner: Rc<RefCell<Pipeline>>,
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
    /// WebGPU when a hardware adapter (the high-performance one) and a device are obtained
    /// and the GPU path supports every op of the model, else on the CPU, with the reason in
    /// `backend.reason` (a software adapter such as SwiftShader is left to the CPU, which is
    /// faster there, unless `options.softwareGpu`); "webgpu" takes any adapter and rejects
    /// with the reason where it cannot; "cpu" is `new Vgg`. WebGPU needs the package built with
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
            let k = top_k_arg(top_k)?;
            let (rgba, w, h) = rgba_arg(&rgba, width, height)?;
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
            let (rgba, w, h) = rgba_arg(&rgba, width, height)?;
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
        let k = top_k_arg(top_k)?;
        let (rgba, w, h) = rgba_arg(&rgba, width, height)?;
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
        let (rgba, w, h) = rgba_arg(&rgba, width, height)?;
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
