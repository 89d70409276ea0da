//! Browser tests of the JS API (`wasm-pack test --headless --chrome`, and `--firefox`):
//! every fixture against onnxruntime's output, and every error case as a JS `Error`
//! after which the same instance still answers.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use vgg_wasm::bindings::Vgg;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &key.into()).expect("property exists")
}

/// The message of a thrown JS `Error`, failing the test if it is anything else.
fn error_message(e: wasm_bindgen::JsError) -> String {
    let v: JsValue = e.into();
    let err = v.dyn_ref::<js_sys::Error>().expect("a JS Error, not a string or panic");
    String::from(err.message())
}

fn tensor_data(out: &JsValue) -> Vec<f32> {
    get(out, "data").dyn_into::<js_sys::Float32Array>().expect("data is a Float32Array").to_vec()
}

#[wasm_bindgen_test]
fn every_fixture_matches_onnxruntime() {
    for fx in FIXTURES {
        let mut vgg = Vgg::new(fx.model, JsValue::UNDEFINED).unwrap_or_else(|e| panic!("{}: {}", fx.name, error_message(e)));
        let shape = serde_wasm_bindgen::to_value(fx.input_shape).unwrap();
        let out = vgg.forward_tensor(&f32s(fx.input), shape).unwrap_or_else(|e| panic!("{}: {}", fx.name, error_message(e)));
        let got_shape: Vec<usize> = serde_wasm_bindgen::from_value(get(&out, "shape")).unwrap();
        assert_eq!(got_shape, fx.output_shape, "{}", fx.name);
        let err = rel_max_err(&tensor_data(&out), &f32s(fx.output));
        console_log!("{:24} relative max error {err:.2e}", fx.name);
        assert!(err <= TOLERANCE, "{}: relative error {err} > {TOLERANCE}", fx.name);
    }
}

#[wasm_bindgen_test]
fn classify_answers_sorted_labelled_predictions_with_timings() {
    let mut vgg = Vgg::new(fixture("zoo_vgg16").model, JsValue::UNDEFINED).unwrap();
    let rgba = gradient_rgba(320, 240);
    let preds = vgg.classify(&rgba, 320.0, 240.0, Some(3.0)).unwrap();
    let arr = preds.dyn_ref::<js_sys::Array>().expect("an array");
    assert_eq!(arr.length(), 3);
    let probs: Vec<f64> = arr.iter().map(|p| get(&p, "probability").as_f64().unwrap()).collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]), "{probs:?}");
    let label = get(&arr.get(0), "label").as_string().unwrap();
    let index = get(&arr.get(0), "index").as_f64().unwrap() as usize;
    assert_eq!(label, vgg_wasm::labels::Labels::ImageNet.name(index));
    let timings = get(&preds, "timings");
    assert!(get(&timings, "inferenceMs").as_f64().unwrap() > 0.0);
    assert!(get(&timings, "preprocessMs").as_f64().unwrap() >= 0.0);
    // the same pixels as PNG bytes give the same answer
    let mut png = Vec::new();
    image::RgbaImage::from_raw(320, 240, rgba)
        .unwrap()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let from_png = vgg.classify_image(&png, Some(3.0)).unwrap();
    assert_eq!(get(&js_sys::Array::from(&from_png).get(0), "index").as_f64().unwrap() as usize, index);
    // info describes the model
    let info = vgg.info().unwrap();
    assert_eq!(get(&info, "inputName").as_string().unwrap(), "data");
    assert_eq!(get(&get(&info, "head"), "kind").as_string().unwrap(), "classifier");
    assert!(get(&info, "inputShape").dyn_ref::<js_sys::Array>().unwrap().get(0).is_null());
}

#[wasm_bindgen_test]
fn every_error_is_a_js_error_and_the_instance_keeps_working() {
    let mut vgg = Vgg::new(fixture("zoo_vgg16").model, JsValue::UNDEFINED).unwrap();
    let rgba = gradient_rgba(64, 64);
    let first = js_sys::JSON::stringify(&vgg.classify(&rgba, 64.0, 64.0, None).unwrap()).unwrap();

    let msg = error_message(Vgg::new(&[], JsValue::UNDEFINED).err().unwrap());
    assert!(msg.contains("empty"), "{msg}");
    let msg = error_message(Vgg::new(b"garbage bytes, not onnx", JsValue::UNDEFINED).err().unwrap());
    assert!(msg.contains("loading the model"), "{msg}");
    let m = fixture("zoo_vgg16").model;
    let msg = error_message(Vgg::new(&m[..m.len() - 1000], JsValue::UNDEFINED).err().unwrap());
    assert!(msg.contains("loading the model"), "{msg}");
    let bad_opts = js_sys::JSON::parse(r#"{"preprocess": {"std": [1, 0, 1]}}"#).unwrap();
    let msg = error_message(Vgg::new(m, bad_opts).err().unwrap());
    assert!(msg.contains("std"), "{msg}");

    let msg = error_message(vgg.classify(&rgba[..1000], 64.0, 64.0, None).unwrap_err());
    assert!(msg.contains("1000 bytes") && msg.contains("64x64"), "{msg}");
    let msg = error_message(vgg.classify(&rgba, 0.0, 64.0, None).unwrap_err());
    assert!(msg.contains("width") && msg.contains("got 0"), "{msg}");
    let msg = error_message(vgg.classify(&rgba, 64.0, -3.0, None).unwrap_err());
    assert!(msg.contains("height") && msg.contains("-3"), "{msg}");
    let msg = error_message(vgg.classify(&rgba, 64.0, 64.0, Some(0.0)).unwrap_err());
    assert!(msg.contains("topK"), "{msg}");
    let msg = error_message(vgg.classify_image(b"not a png", None).unwrap_err());
    assert!(msg.contains("decoding image"), "{msg}");
    let msg = error_message(vgg.forward_tensor(&[0.0; 4], JsValue::from_str("nope")).unwrap_err());
    assert!(msg.contains("shape"), "{msg}");

    let again = js_sys::JSON::stringify(&vgg.classify(&rgba, 64.0, 64.0, None).unwrap()).unwrap();
    assert_eq!(String::from(again), String::from(first));
}

#[wasm_bindgen_test]
fn conv_only_model_returns_feature_maps_at_any_size() {
    let mut vgg = Vgg::new(fixture("features_vgg16").model, JsValue::UNDEFINED).unwrap();
    let out = vgg.forward(&gradient_rgba(130, 97), 130.0, 97.0).unwrap();
    let shape: Vec<usize> = serde_wasm_bindgen::from_value(get(&out, "shape")).unwrap();
    assert_eq!(shape, vec![1, 32, 3, 4]);
    assert_eq!(tensor_data(&out).len(), 32 * 3 * 4);
    let msg = error_message(vgg.classify(&gradient_rgba(64, 64), 64.0, 64.0, None).unwrap_err());
    assert!(msg.contains("no classifier"), "{msg}");
}

fn with_activations() -> JsValue {
    js_sys::JSON::parse(r#"{"activations": true}"#).unwrap()
}

#[wasm_bindgen_test]
fn gradients_match_finite_differences_in_the_browser() {
    let mut vgg = Vgg::new(GRAD_MODEL, with_activations()).unwrap();
    vgg.forward_tensor(&f32s(GRAD_INPUT), serde_wasm_bindgen::to_value(&[1, 3, 20, 20]).unwrap()).unwrap();
    let grad = |g: &JsValue| get(g, "gradient").dyn_into::<js_sys::Float32Array>().unwrap().to_vec();
    let s = vgg.saliency(Some(3.0)).unwrap();
    let err = rel_max_err(&grad(&s), &f32s(GRAD_SALIENCY_3));
    console_log!("saliency vs finite differences: {err:.2e}");
    assert!(err <= GRADIENT_TOLERANCE, "{err}");
    let u = vgg.effective_receptive_field("conv2_1", 2.0, 4.0, 6.0).unwrap();
    let err = rel_max_err(&grad(&u), &f32s(GRAD_UNIT_CONV2_1_2_4_6));
    console_log!("unit gradient vs finite differences: {err:.2e}");
    assert!(err <= GRADIENT_TOLERANCE, "{err}");
    assert_eq!(get(&u, "map").dyn_into::<js_sys::Float32Array>().unwrap().length(), 400);
    let msg = error_message(vgg.effective_receptive_field("conv2_1", 0.5, 0.0, 0.0).unwrap_err());
    assert!(msg.contains("channel") && msg.contains("0.5"), "{msg}");
}

#[wasm_bindgen_test]
fn layers_fields_and_activations_through_the_js_api() {
    let mut vgg = Vgg::new(fixture("features_vgg16").model, with_activations()).unwrap();
    vgg.forward(&gradient_rgba(224, 224), 224.0, 224.0).unwrap();
    let layers = js_sys::Array::from(&vgg.layers().unwrap());
    let pool5 = layers.iter().find(|l| get(l, "label").as_string().as_deref() == Some("pool5")).unwrap();
    let rf: Vec<usize> = serde_wasm_bindgen::from_value(get(&pool5, "rf")).unwrap();
    let padding: Vec<usize> = serde_wasm_bindgen::from_value(get(&pool5, "padding")).unwrap();
    assert_eq!((rf, padding), (vec![212, 212], vec![90, 90]));
    let f = vgg.receptive_field("conv5_3", 13.0, 0.0).unwrap();
    let unclipped = get(&f, "unclipped");
    assert_eq!(get(&unclipped, "left").as_f64(), Some(-90.0));
    assert_eq!(get(&unclipped, "top").as_f64(), Some(13.0 * 16.0 - 90.0));
    let a = vgg.activation("conv5_3").unwrap();
    let shape: Vec<usize> = serde_wasm_bindgen::from_value(get(&a, "shape")).unwrap();
    assert_eq!(shape, vec![1, 32, 14, 14]);
    let msg = error_message(vgg.receptive_field("conv5_3", 14.0, 0.0).unwrap_err());
    assert!(msg.contains("14 x 14"), "{msg}");
    let msg = error_message(vgg.saliency(None).unwrap_err());
    assert!(msg.contains("classifier"), "{msg}");
}

/// The keys of a JS object the bindings build by hand, sorted.
fn js_keys(v: &JsValue) -> std::collections::BTreeSet<String> {
    js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>()).iter().map(|k| k.as_string().unwrap()).collect()
}

#[wasm_bindgen_test]
fn answers_built_in_the_bindings_have_exactly_the_declared_fields() {
    let ts = ts_interfaces();
    let mut vgg = Vgg::new(fixture("features_vgg16").model, with_activations()).unwrap();
    let out = vgg.forward(&gradient_rgba(120, 90), 120.0, 90.0).unwrap();
    let view = vgg.model_view().unwrap();
    let erf = vgg.effective_receptive_field("conv5_3", 0.0, 0.0, 0.0).unwrap();
    for (name, value) in [("Tensor", &out), ("View", &view), ("GradientMap", &erf)] {
        assert_eq!(ts[name], js_keys(value), "interface {name}");
    }
    // the view is the run's own: the image at the model's size, not prepared again
    assert_eq!((get(&view, "width").as_f64(), get(&view, "height").as_f64()), (Some(120.0), Some(90.0)));
    assert_eq!(js_keys(&get(&view, "geometry")), ts["Geometry"]);
}
