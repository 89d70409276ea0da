//! `Teacher`: new classes taught on a convolutional base (`vgg.teacher()`).

use super::args::*;
use super::vgg::Vgg;
use crate::pipeline::Pipeline;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

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

pub(super) fn added_to_js(added: crate::teach::Added) -> Result<JsValue, JsError> {
    let obj = to_js(&added)?;
    set(&obj, "features", &js_sys::Float32Array::from(added.features.as_slice()).into())?;
    Ok(obj)
}
