//! `Vgg`'s inspection methods: layers, receptive fields, activations, gradients.

use super::args::*;
use super::vgg::Vgg;
use wasm_bindgen::prelude::*;

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

pub(super) fn index(name: &str, v: f64) -> Result<usize, JsError> {
    if v.fract() == 0.0 && v >= 0.0 && v <= u32::MAX as f64 {
        Ok(v as usize)
    } else {
        Err(JsError::new(&format!("{name} must be a whole number >= 0, got {v}")))
    }
}

pub(super) fn gradient_to_js(g: crate::pipeline::Gradient) -> Result<JsValue, JsError> {
    let obj: JsValue = js_sys::Object::new().into();
    set(&obj, "target", &g.target.as_str().into())?;
    set(&obj, "shape", &to_js(&g.shape)?)?;
    set(&obj, "gradient", &js_sys::Float32Array::from(g.data.as_slice()).into())?;
    set(&obj, "map", &js_sys::Float32Array::from(g.map.as_slice()).into())?;
    set(&obj, "ms", &g.ms.into())?;
    Ok(obj)
}
