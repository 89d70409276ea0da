//! `Vgg.visualize` (what a unit or class wants to see, formed step by step) and
//! `Vgg.topPatches` (where a channel fired most in a set of images).

use super::args::*;
use super::vgg::Vgg;
use crate::pipeline::{Pipeline, Visualizing};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A visualisation in progress (from `vgg.visualize`): call `step(n)` until `done`, drawing
/// each frame it returns; free it (or let it go) to stop. Runs on the CPU.
#[wasm_bindgen]
pub struct Visualization {
    base: Rc<RefCell<Pipeline>>,
    inner: Visualizing,
}

#[wasm_bindgen]
impl Vgg {
    /// Starts a visualisation by gradient ascent on the input (Simonyan, Vedaldi &
    /// Zisserman 2013 for classes; Olah et al. 2017's regularisers): see
    /// `VisualizeOptions`. Needs `options.activations`. Throws, naming it, on a target
    /// the model lacks (layer, channel, unit or class), a size the model does not take,
    /// or a setting out of range; the model is untouched either way.
    #[wasm_bindgen(unchecked_return_type = "Visualization")]
    pub fn visualize(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VisualizeOptions")] options: JsValue,
    ) -> Result<Visualization, JsError> {
        let opts: crate::visualize::VisualizeOptions = options_of(options)?;
        let inner = self.inner.borrow().visualization(&opts).map_err(js_error)?;
        Ok(Visualization { base: self.inner.clone(), inner })
    }

    /// The `k` strongest units of `channel` of `layer` (after its ReLU) over `images`
    /// (each encoded bytes, a `Uint8Array`, or `{ rgba, width, height }`), with each
    /// unit's receptive field and its crop from the image as the model saw it; ties go to
    /// the earlier image. Needs `options.activations`. Does not change the last run.
    #[wasm_bindgen(js_name = topPatches, unchecked_return_type = "Patch[]")]
    pub fn top_patches(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "(Uint8Array | { rgba: Uint8Array | Uint8ClampedArray; width: number; height: number })[]"
        )]
        images: JsValue,
        layer: &str,
        channel: f64,
        k: f64,
    ) -> Result<JsValue, JsError> {
        let channel = super::inspect::index("channel", channel)?;
        let k = super::inspect::index("k", k)?;
        if !js_sys::Array::is_array(&images) {
            return Err(JsError::new(&format!("images must be an array, got {}", describe(&images))));
        }
        let images = js_sys::Array::from(&images)
            .iter()
            .enumerate()
            .map(|(i, v)| image_of(&v).map_err(|e| JsError::new(&format!("images[{i}]: {}", error_text(e)))))
            .collect::<Result<Vec<_>, _>>()?;
        let patches = self.inner.borrow_mut().top_patches(&images, layer, channel, k).map_err(js_error)?;
        let out = js_sys::Array::new();
        for p in patches {
            let obj = to_js(&p)?;
            set(&obj, "rgba", &js_sys::Uint8ClampedArray::from(p.rgba.as_slice()).into())?;
            out.push(&obj);
        }
        Ok(out.into())
    }
}

/// One image of `topPatches`: encoded bytes, or straight RGBA with its size.
fn image_of(v: &JsValue) -> Result<image::RgbaImage, JsError> {
    if v.is_instance_of::<js_sys::Uint8Array>() || v.is_instance_of::<js_sys::ArrayBuffer>() {
        return crate::preprocess::decode_image(&bytes_arg("image", v, true)?).map_err(js_error);
    }
    if !v.is_object() {
        return Err(JsError::new(&format!("expected encoded bytes or {{ rgba, width, height }}, got {}", describe(v))));
    }
    let get = |k: &str| js_sys::Reflect::get(v, &k.into()).unwrap_or(JsValue::UNDEFINED);
    let num = |k: &str| get(k).as_f64().unwrap_or(f64::NAN);
    image_arg(&get("rgba"), num("width"), num("height"))
}

fn error_text(e: JsError) -> String {
    let v: JsValue = e.into();
    v.dyn_ref::<js_sys::Error>().map_or_else(|| format!("{v:?}"), |e| String::from(e.message()))
}

#[wasm_bindgen]
impl Visualization {
    /// Takes up to `n` more steps (0: none, only the frame) and returns the image now with
    /// what the model makes of it (`VisualizationFrame`).
    #[wasm_bindgen(unchecked_return_type = "VisualizationFrame")]
    pub fn step(&mut self, n: f64) -> Result<JsValue, JsError> {
        let n = super::inspect::index("n", n)?;
        let frame = self.base.borrow_mut().visualize_steps(&mut self.inner, n).map_err(js_error)?;
        let obj = to_js(&frame)?;
        set(&obj, "rgba", &js_sys::Uint8ClampedArray::from(frame.rgba.as_slice()).into())?;
        Ok(obj)
    }

    /// Whether every step asked for has been taken.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.inner.inner.done()
    }

    /// Steps taken so far.
    #[wasm_bindgen(getter, js_name = stepsTaken)]
    pub fn steps_taken(&self) -> u32 {
        self.inner.inner.step as u32
    }

    /// What is maximised, in words: "class 3 (Dress)", "conv4_2 channel 12".
    #[wasm_bindgen(getter)]
    pub fn target(&self) -> String {
        self.inner.label.clone()
    }
}
