//! What JS hands in, checked and named when wrong, and what goes back to it.

use crate::pipeline::{Options, Output, Timings};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// `VggOptions` from JS. serde-wasm-bindgen reads only the fields a struct declares, so a
/// misspelt option would pass unnoticed: the whole object is read first and then checked
/// against the declared fields. `undefined` and `null` mean "not given" at any depth.
pub(super) fn options_from_js(options: JsValue) -> Result<Options, JsError> {
    options_of(options)
}

/// An options object of type `T` from JS (see `options_from_js`).
pub(super) fn options_of<T: serde::de::DeserializeOwned + Default>(options: JsValue) -> Result<T, JsError> {
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
pub(super) fn js_error(e: anyhow::Error) -> JsError {
    JsError::new(&format!("{e:#}"))
}

/// What a JS value is, for a message: its type, or its constructor's name, and its size.
pub(super) fn describe(v: &JsValue) -> String {
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
pub(super) fn bytes_arg(name: &str, v: &JsValue, buffer_ok: bool) -> Result<Vec<u8>, JsError> {
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

/// RGBA pixels for a `width` x `height` image with its checked size: both whole numbers of
/// pixels within the pixel limit, checked before the bytes are copied into wasm memory (their
/// length is checked with the pixels, in Rust). The one reader of an image from JS.
pub(super) fn rgba_arg(v: &JsValue, width: f64, height: f64) -> Result<(Vec<u8>, u32, u32), JsError> {
    let (w, h) = (dim("width", width)?, dim("height", height)?);
    crate::preprocess::check_size(w, h).map_err(js_error)?;
    Ok((bytes_arg("rgba", v, false)?, w, h))
}

/// [`rgba_arg`] as an image.
pub(super) fn image_arg(rgba: &JsValue, width: f64, height: f64) -> Result<image::RgbaImage, JsError> {
    let (rgba, w, h) = rgba_arg(rgba, width, height)?;
    crate::preprocess::rgba_image(&rgba, w, h).map_err(js_error)
}

pub(super) fn dim(name: &str, v: f64) -> Result<u32, JsError> {
    if v.fract() == 0.0 && v >= 1.0 && v <= u32::MAX as f64 {
        Ok(v as u32)
    } else {
        Err(JsError::new(&format!("{name} must be a whole number of pixels > 0, got {v}")))
    }
}

pub(super) fn top_k_arg(k: Option<f64>) -> Result<usize, JsError> {
    match k {
        None => Ok(5),
        Some(k) if k.fract() == 0.0 && k >= 1.0 && k <= u32::MAX as f64 => Ok(k as usize),
        Some(k) => Err(JsError::new(&format!("topK must be a whole number >= 1, got {k}"))),
    }
}

pub(super) fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("converting the answer for JS: {e}")))
}

pub(super) fn set(obj: &JsValue, key: &str, value: &JsValue) -> Result<(), JsError> {
    js_sys::Reflect::set(obj, &key.into(), value)
        .map(|_| ())
        .map_err(|_| JsError::new(&format!("could not set '{key}' on the answer")))
}

pub(super) fn classification_to_js(
    predictions: &[crate::predictions::Prediction],
    timings: &Timings,
) -> Result<JsValue, JsError> {
    let arr = to_js(&predictions)?;
    set(&arr, "timings", &to_js(timings)?)?;
    Ok(arr)
}

pub(super) fn tensor_to_js(out: Output) -> Result<JsValue, JsError> {
    let obj: JsValue = js_sys::Object::new().into();
    set(&obj, "shape", &to_js(&out.shape)?)?;
    // a copy, not a view: wasm memory may grow and detach a view
    set(&obj, "data", &js_sys::Float32Array::from(out.data.as_slice()).into())?;
    set(&obj, "timings", &to_js(&out.timings)?)?;
    Ok(obj)
}

/// The promise of an asynchronous method; a check that failed before any work rejects it.
pub(super) fn promise(r: Result<js_sys::Promise, JsError>) -> js_sys::Promise {
    r.unwrap_or_else(|e| js_sys::Promise::reject(&e.into()))
}

/// A Float32Array and its shape, checked.
pub(super) fn tensor_arg(data: &JsValue, shape: &JsValue) -> Result<(Vec<f32>, Vec<usize>), JsError> {
    let data = data
        .dyn_ref::<js_sys::Float32Array>()
        .ok_or_else(|| JsError::new(&format!("data must be a Float32Array, got {}", describe(data))))?
        .to_vec();
    let shape: Vec<usize> = serde_wasm_bindgen::from_value(shape.clone())
        .map_err(|_| JsError::new(&format!("shape must be an array of non-negative integers, got {shape:?}")))?;
    Ok((data, shape))
}
