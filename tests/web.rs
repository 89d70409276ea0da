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

/// Bytes as the Uint8Array a JS caller hands in.
fn u8s(b: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(b).into()
}

fn f32a(v: &[f32]) -> JsValue {
    js_sys::Float32Array::from(v).into()
}

fn tensor_data(out: &JsValue) -> Vec<f32> {
    get(out, "data").dyn_into::<js_sys::Float32Array>().expect("data is a Float32Array").to_vec()
}

#[wasm_bindgen_test]
fn every_fixture_matches_onnxruntime() {
    for fx in FIXTURES {
        let mut vgg =
            Vgg::new(u8s(fx.model), JsValue::UNDEFINED).unwrap_or_else(|e| panic!("{}: {}", fx.name, error_message(e)));
        let shape = serde_wasm_bindgen::to_value(fx.input_shape).unwrap();
        let out = vgg
            .forward_tensor(f32a(&f32s(fx.input)), shape)
            .unwrap_or_else(|e| panic!("{}: {}", fx.name, error_message(e)));
        let got_shape: Vec<usize> = serde_wasm_bindgen::from_value(get(&out, "shape")).unwrap();
        assert_eq!(got_shape, fx.output_shape, "{}", fx.name);
        let err = rel_max_err(&tensor_data(&out), &f32s(fx.output));
        console_log!("{:24} relative max error {err:.2e}", fx.name);
        assert!(err <= fx.tolerance, "{}: relative error {err} > {}", fx.name, fx.tolerance);
    }
}

#[wasm_bindgen_test]
fn winograd_transforms_match_a_direct_convolution() {
    // the SIMD128 transforms (f32x4 across four tiles), against the same plain reference
    for line in check_winograd_transforms() {
        console_log!("{line}");
    }
}

#[wasm_bindgen_test]
fn every_float_fixture_matches_onnxruntime_with_each_winograd_tile() {
    // every 3x3 convolution on F(2x2) and then on F(4x4), the products on tract's wasm kernel
    for mode in ["winograd-f2", "winograd-f4"] {
        for fx in FIXTURES.iter().filter(|f| !f.name.contains("int8")) {
            let options = js_sys::JSON::parse(&format!(r#"{{"convolution": "{mode}"}}"#)).unwrap();
            let mut vgg =
                Vgg::new(u8s(fx.model), options).unwrap_or_else(|e| panic!("{} {mode}: {}", fx.name, error_message(e)));
            let convolutions = js_sys::JSON::stringify(&get(&vgg.info().unwrap(), "convolutions")).unwrap();
            assert!(String::from(convolutions).contains("winograd"), "{} {mode}: no convolution rewritten", fx.name);
            let shape = serde_wasm_bindgen::to_value(fx.input_shape).unwrap();
            let out = vgg
                .forward_tensor(f32a(&f32s(fx.input)), shape)
                .unwrap_or_else(|e| panic!("{} {mode}: {}", fx.name, error_message(e)));
            let err = rel_max_err(&tensor_data(&out), &f32s(fx.output));
            console_log!("{:24} {mode:12} relative max error {err:.2e}", fx.name);
            assert!(err <= fx.tolerance, "{} {mode}: relative error {err} > {}", fx.name, fx.tolerance);
        }
    }
}

#[wasm_bindgen_test]
fn preprocessing_matches_torchvision_on_pil() {
    // the options reach the crate through the JS conversion, the pixels through `forward`
    for case in PREPROCESS_CASES {
        let model = if case.shape[0] == 1 { IDENTITY1 } else { IDENTITY3 };
        let options = js_sys::JSON::parse(case.options).unwrap();
        let mut vgg = Vgg::new(u8s(model), options).unwrap_or_else(|e| panic!("{}: {}", case.name, error_message(e)));
        let img = image::load_from_memory(case.photo).unwrap().to_rgba8();
        let out = vgg.forward(u8s(img.as_raw()), img.width() as f64, img.height() as f64).unwrap();
        match compare_preprocessing(case, &tensor_data(&out)) {
            Ok(line) => console_log!("{line}"),
            Err(e) => panic!("{e}"),
        }
    }
    // a channels-last model asked for with `layout: "nhwc"` sees the same pixels
    let case = &PREPROCESS_CASES[0];
    let options = js_sys::JSON::parse(case.options).unwrap();
    js_sys::Reflect::set(&get(&options, "preprocess"), &"layout".into(), &"nhwc".into()).unwrap();
    let mut vgg = Vgg::new(u8s(IDENTITY3_NHWC), options).unwrap();
    let img = image::load_from_memory(case.photo).unwrap().to_rgba8();
    let out = vgg.forward(u8s(img.as_raw()), img.width() as f64, img.height() as f64).unwrap();
    console_log!("nhwc: {}", compare_preprocessing(case, &tensor_data(&out)).unwrap());
}

#[wasm_bindgen_test]
fn channels_last_and_grey_models_are_recognised_from_the_graph() {
    // a Keras export needs no options: layout, scaling and size come from its graph
    let vgg = Vgg::new(u8s(fixture("keras_vgg16_nhwc").model), JsValue::UNDEFINED).unwrap();
    let info = vgg.info().unwrap();
    let pre = get(&info, "preprocess");
    assert_eq!(get(&pre, "layout").as_string().as_deref(), Some("nhwc"));
    assert_eq!(
        (get(&pre, "scale").as_f64(), get(&pre, "channelOrder").as_string().as_deref()),
        (Some(1.0), Some("rgb"))
    );
    let detected: Vec<String> = serde_wasm_bindgen::from_value(get(&info, "detected")).unwrap();
    console_log!("keras_vgg16_nhwc: {detected:?}");
    assert!(
        detected.iter().any(|d| d.starts_with("layout nhwc")) && detected.iter().any(|d| d.contains("Mul by")),
        "{detected:?}"
    );
    let mut vgg = vgg;
    let preds = vgg.classify(u8s(&gradient_rgba(300, 200)), 300.0, 200.0, Some(3.0)).unwrap();
    assert_eq!(js_sys::Array::from(&preds).length(), 3);
    let gray = Vgg::new(u8s(fixture("keras_vgg16_nhwc_gray").model), JsValue::UNDEFINED).unwrap();
    let pre = get(&gray.info().unwrap(), "preprocess");
    assert_eq!(
        (get(&pre, "layout").as_string().as_deref(), get(&pre, "channelOrder").as_string().as_deref()),
        (Some("nhwc"), Some("gray"))
    );
}

#[wasm_bindgen_test]
fn classify_answers_sorted_labelled_predictions_with_timings() {
    let mut vgg = Vgg::new(u8s(fixture("zoo_vgg16").model), JsValue::UNDEFINED).unwrap();
    let rgba = gradient_rgba(320, 240);
    let preds = vgg.classify(u8s(&rgba), 320.0, 240.0, Some(3.0)).unwrap();
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
    let from_png = vgg.classify_image(u8s(&png), Some(3.0)).unwrap();
    assert_eq!(get(&js_sys::Array::from(&from_png).get(0), "index").as_f64().unwrap() as usize, index);
    // info describes the model
    let info = vgg.info().unwrap();
    assert_eq!(get(&info, "inputName").as_string().unwrap(), "data");
    assert_eq!(get(&get(&info, "head"), "kind").as_string().unwrap(), "classifier");
    assert!(get(&info, "inputShape").dyn_ref::<js_sys::Array>().unwrap().get(0).is_null());
}

/// Calls `method` on a JS object as a JS caller would: the arguments go through
/// wasm-bindgen's generated glue, whatever their type.
fn call(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = get(obj, method).dyn_into().unwrap_or_else(|_| panic!("no method {method}"));
    f.apply(obj, &args.iter().collect::<js_sys::Array>())
}

/// CRC-32 (PNG's), for a hand-made PNG header.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for b in bytes {
        c ^= *b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// A PNG whose header declares `w` x `h` pixels (and holds none).
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]); // 8-bit RGBA
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    png
}

#[wasm_bindgen_test]
fn every_bad_input_is_a_js_error_naming_it_and_the_instance_keeps_working() {
    let m = fixture("zoo_vgg16").model;
    let vgg: JsValue = Vgg::new(u8s(m), JsValue::UNDEFINED).unwrap().into();
    let class = get(&vgg, "constructor").dyn_into::<js_sys::Function>().unwrap();
    let new = |bytes: JsValue, options: &str| {
        let options = if options.is_empty() { JsValue::UNDEFINED } else { js_sys::JSON::parse(options).unwrap() };
        js_sys::Reflect::construct(&class, &[bytes, options].iter().collect::<js_sys::Array>())
    };
    let rgba = u8s(&gradient_rgba(64, 64));
    let good = || call(&vgg, "classify", &[rgba.clone(), 64.into(), 64.into(), 3.into()]);
    let first = String::from(js_sys::JSON::stringify(&good().unwrap()).unwrap());
    let n = |v: f64| JsValue::from_f64(v);
    let s = |v: &str| JsValue::from_str(v);
    let json = |v: &str| js_sys::JSON::parse(v).unwrap();
    let nan_scale = json(r#"{"preprocess": {}}"#);
    js_sys::Reflect::set(&get(&nan_scale, "preprocess"), &"scale".into(), &n(f64::NAN)).unwrap();
    let mut random = vec![0u8; 4096];
    random.iter_mut().enumerate().for_each(|(i, b)| *b = (i as u32).wrapping_mul(2654435761).rotate_right(13) as u8);
    let png = {
        let mut v = Vec::new();
        image::RgbaImage::from_raw(64, 64, gradient_rgba(64, 64))
            .unwrap()
            .write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png)
            .unwrap();
        v
    };
    let tensor = || f32a(&vec![0.0; 3 * 224 * 224]);
    let threads = |v: JsValue| vgg_wasm::bindings::use_threads(v).map(|_| JsValue::UNDEFINED).map_err(JsValue::from);
    let shape = || serde_wasm_bindgen::to_value(&[1, 3, 224, 224]).unwrap();

    // (case, the call, what its message must contain)
    let mut cases: Vec<(String, Result<JsValue, JsValue>, Vec<&str>)> = vec![
        ("model bytes empty".into(), new(u8s(&[]), ""), vec!["empty"]),
        ("model bytes random".into(), new(u8s(&random), ""), vec!["4096 bytes"]),
        ("model bytes: a PNG".into(), new(u8s(&png), ""), vec!["decoding ONNX", "bytes"]),
        ("model bytes: a string".into(), new(s("vgg16.onnx"), ""), vec!["bytes must be", "a string of 10 characters"]),
        ("model bytes: null".into(), new(JsValue::NULL, ""), vec!["bytes must be", "null"]),
        (
            "model bytes: a Float32Array".into(),
            new(f32a(&[1.0; 8]), ""),
            vec!["bytes must be", "Float32Array of length 8"],
        ),
        ("options: not an object".into(), new(u8s(m), r#""caffe""#), vec!["expected an object", "a string"]),
        ("options: unknown key".into(), new(u8s(m), r#"{"foo": 1}"#), vec!["`foo`"]),
        ("options: unknown nested key".into(), new(u8s(m), r#"{"preprocess": {"meen": [0, 0, 0]}}"#), vec!["`meen`"]),
        ("options: resize a string".into(), new(u8s(m), r#"{"preprocess": {"resize": "big"}}"#), vec!["big"]),
        ("options: resize negative".into(), new(u8s(m), r#"{"preprocess": {"resize": -5}}"#), vec!["-5"]),
        (
            "options: scale NaN".into(),
            js_sys::Reflect::construct(&class, &[u8s(m), nan_scale].iter().collect()),
            vec!["options.preprocess.scale", "NaN"],
        ),
        ("options: scale zero".into(), new(u8s(m), r#"{"preprocess": {"scale": 0}}"#), vec!["scale", "got 0"]),
        (
            "options: zero std".into(),
            new(u8s(m), r#"{"preprocess": {"std": [1, 0, 1]}}"#),
            vec!["std", "[1.0, 0.0, 1.0]"],
        ),
        ("options: mean of two".into(), new(u8s(m), r#"{"preprocess": {"mean": [0, 0]}}"#), vec!["mean", "3"]),
        ("options: channel order".into(), new(u8s(m), r#"{"preprocess": {"channelOrder": "rgba"}}"#), vec!["rgba"]),
        ("options: preset".into(), new(u8s(m), r#"{"preprocess": {"preset": "keras"}}"#), vec!["keras"]),
        (
            "options: crop that cannot fit the model".into(),
            new(u8s(m), r#"{"preprocess": {"crop": [100, 100]}}"#),
            vec!["[100, 100]", "224x224"],
        ),
        (
            "options: crop larger than any resized image".into(),
            new(u8s(fixture("features_vgg16").model), r#"{"preprocess": {"resize": 64, "crop": [100, 100]}}"#),
            vec!["[100, 100]", "64"],
        ),
        ("options: pad that leaves nothing".into(), new(u8s(m), r#"{"preprocess": {"pad": 200}}"#), vec!["pad 200"]),
        (
            "options: crop with a zero side".into(),
            new(u8s(m), r#"{"preprocess": {"crop": [0, 224]}}"#),
            vec!["[0, 224]"],
        ),
        (
            "options: labels of the wrong count".into(),
            new(u8s(m), r#"{"labels": ["a", "b"]}"#),
            vec!["2 names", "1000 classes"],
        ),
        ("options: labels a string".into(), new(u8s(m), r#"{"labels": "cat"}"#), vec!["labels", "cat"]),
        ("options: activations a string".into(), new(u8s(m), r#"{"activations": "yes"}"#), vec!["yes"]),
        (
            "rgba of the wrong length".into(),
            call(&vgg, "classify", &[u8s(&[0; 1000]), n(64.0), n(64.0)]),
            vec!["1000 bytes", "64x64x4 = 16384"],
        ),
        (
            "rgba a string".into(),
            call(&vgg, "classify", &[s("pixels"), n(64.0), n(64.0)]),
            vec!["rgba must be", "a string"],
        ),
        ("rgba null".into(), call(&vgg, "classify", &[JsValue::NULL, n(64.0), n(64.0)]), vec!["rgba must be", "null"]),
        (
            "rgba a Float32Array".into(),
            call(&vgg, "classify", &[f32a(&[0.0; 16384]), n(64.0), n(64.0)]),
            vec!["rgba must be", "Float32Array of length 16384"],
        ),
        ("width 0".into(), call(&vgg, "classify", &[rgba.clone(), n(0.0), n(64.0)]), vec!["width", "got 0"]),
        ("height negative".into(), call(&vgg, "classify", &[rgba.clone(), n(64.0), n(-3.0)]), vec!["height", "-3"]),
        ("width fractional".into(), call(&vgg, "classify", &[rgba.clone(), n(64.5), n(64.0)]), vec!["width", "64.5"]),
        ("width NaN".into(), call(&vgg, "classify", &[rgba.clone(), n(f64::NAN), n(64.0)]), vec!["width", "NaN"]),
        (
            "width over 32 bits".into(),
            call(&vgg, "classify", &[rgba.clone(), n(4294967296.0), n(1.0)]),
            vec!["width", "4294967296"],
        ),
        (
            "2^31 x 2^31 pixels".into(),
            call(&vgg, "classify", &[rgba.clone(), n(2147483648.0), n(2147483648.0)]),
            vec!["2147483648x2147483648", "100000000"],
        ),
        (
            "over the pixel limit".into(),
            call(&vgg, "forward", &[rgba.clone(), n(20000.0), n(20000.0)]),
            vec!["20000x20000", "400000000 pixels"],
        ),
        ("topK 0".into(), call(&vgg, "classify", &[rgba.clone(), n(64.0), n(64.0), n(0.0)]), vec!["topK", "got 0"]),
        (
            "topK negative".into(),
            call(&vgg, "classify", &[rgba.clone(), n(64.0), n(64.0), n(-2.0)]),
            vec!["topK", "-2"],
        ),
        (
            "topK NaN".into(),
            call(&vgg, "classify", &[rgba.clone(), n(64.0), n(64.0), n(f64::NAN)]),
            vec!["topK", "NaN"],
        ),
        (
            "image bytes not an image".into(),
            call(&vgg, "classifyImage", &[u8s(b"not a png")]),
            vec!["decoding image", "9 bytes"],
        ),
        ("image bytes empty".into(), call(&vgg, "classifyImage", &[u8s(&[])]), vec!["empty"]),
        (
            "image header of 50000x50000".into(),
            call(&vgg, "classifyImage", &[u8s(&png_header(50000, 50000))]),
            vec!["declares more than the 100000000 pixels"],
        ),
        (
            "image bytes a string".into(),
            call(&vgg, "classifyImage", &[s("cat.png")]),
            vec!["bytes must be", "a string"],
        ),
        (
            "tensor of the wrong length".into(),
            call(&vgg, "forwardTensor", &[f32a(&[0.0; 5]), shape()]),
            vec!["5 values", "[1, 3, 224, 224]"],
        ),
        (
            "tensor of the wrong rank".into(),
            call(&vgg, "forwardTensor", &[f32a(&[0.0; 6]), json("[2, 3]")]),
            vec!["rank"],
        ),
        (
            "tensor with NaN".into(),
            call(&vgg, "forwardTensor", &[f32a(&[f32::NAN; 3 * 224 * 224]), shape()]),
            vec!["NaN"],
        ),
        (
            "tensor a plain array".into(),
            call(&vgg, "forwardTensor", &[json("[0, 0, 0]"), json("[1, 3]")]),
            vec!["data must be a Float32Array", "Array of length 3"],
        ),
        (
            "tensor shape not numbers".into(),
            call(&vgg, "forwardTensor", &[tensor(), s("nope")]),
            vec!["shape must be", "nope"],
        ),
        ("layer unknown".into(), call(&vgg, "receptiveField", &[s("conv9_9"), n(0.0), n(0.0)]), vec!["conv9_9"]),
        ("unit outside the layer".into(), call(&vgg, "receptiveField", &[s("pool5"), n(7.0), n(0.0)]), vec!["y 7"]),
        ("unit index NaN".into(), call(&vgg, "nestedFields", &[s("pool5"), n(f64::NAN), n(0.0)]), vec!["NaN"]),
        ("saliency without kept activations".into(), call(&vgg, "saliency", &[n(3.0)]), vec!["options.activations"]),
        ("input geometry of 0 x 10".into(), call(&vgg, "inputGeometry", &[n(0.0), n(10.0)]), vec!["width", "got 0"]),
        (
            "profile: tensor of the wrong length".into(),
            call(&vgg, "profileTensor", &[f32a(&[0.0; 5]), shape()]),
            vec!["5 values", "[1, 3, 224, 224]"],
        ),
        (
            "profile: tensor a string".into(),
            call(&vgg, "profileTensor", &[s("x"), shape()]),
            vec!["data must be a Float32Array", "a string"],
        ),
        ("useThreads(2) in the one-thread build".into(), threads(n(2.0)), vec!["one thread", "asked for 2"]),
        ("useThreads(0)".into(), threads(n(0.0)), vec!["threads must be a whole number from 1 to 256", "got 0"]),
        ("useThreads of a string".into(), threads(s("two")), vec!["threads must be", "a string"]),
    ];
    for (i, offset) in
        [1, 10, 100, 1_000, 10_000, 100_000, 300_000, 500_000, 800_000, m.len() - 1].into_iter().enumerate()
    {
        cases.push((
            format!("model truncated at {offset} bytes (cut {i})"),
            new(u8s(&m[..offset]), ""),
            vec!["loading the model", &"bytes"],
        ));
    }
    for ((name, bytes), (_, expected)) in BAD_MODELS.iter().zip(BAD_MODEL_MESSAGES) {
        cases.push((format!("model: {name}"), new(u8s(bytes), ""), vec![expected]));
    }
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (case, result, expected) in &cases {
        let thrown = match result {
            Ok(v) => {
                failures.push(format!("{case}: no error, answered {v:?}"));
                continue;
            }
            Err(e) => e,
        };
        let Some(err) = thrown.dyn_ref::<js_sys::Error>() else {
            failures.push(format!("{case}: threw {thrown:?}, not an Error"));
            continue;
        };
        let (name, msg) = (String::from(err.name()), String::from(err.message()));
        console_log!("{case:44} {name}: {msg}");
        if name != "Error" || msg.contains("unreachable") {
            failures.push(format!("{case}: {name}: {msg}"));
        }
        for e in expected.iter().filter(|e| !msg.contains(**e)) {
            failures.push(format!("{case}: the message does not contain {e:?}: {msg}"));
        }
        // the instance answers as before
        let again = good().unwrap_or_else(|e| panic!("after {case}: {e:?}"));
        assert_eq!(String::from(js_sys::JSON::stringify(&again).unwrap()), first, "after {case}");
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), cases.len(), failures.join("\n"));
    // topK larger than the class count is clamped to it
    let all = call(&vgg, "classify", &[rgba.clone(), n(64.0), n(64.0), n(5000.0)]).unwrap();
    assert_eq!(js_sys::Array::from(&all).length(), 1000);
    console_log!("{} error cases, each an Error naming the value; the instance answered after each", cases.len());
}

#[wasm_bindgen_test]
fn conv_only_model_returns_feature_maps_at_any_size() {
    let mut vgg = Vgg::new(u8s(fixture("features_vgg16").model), JsValue::UNDEFINED).unwrap();
    let out = vgg.forward(u8s(&gradient_rgba(130, 97)), 130.0, 97.0).unwrap();
    let shape: Vec<usize> = serde_wasm_bindgen::from_value(get(&out, "shape")).unwrap();
    assert_eq!(shape, vec![1, 32, 3, 4]);
    assert_eq!(tensor_data(&out).len(), 32 * 3 * 4);
    let msg = error_message(vgg.classify(u8s(&gradient_rgba(64, 64)), 64.0, 64.0, None).unwrap_err());
    assert!(msg.contains("no classifier"), "{msg}");
}

fn with_activations() -> JsValue {
    js_sys::JSON::parse(r#"{"activations": true}"#).unwrap()
}

#[wasm_bindgen_test]
fn gradients_match_finite_differences_in_the_browser() {
    let mut vgg = Vgg::new(u8s(GRAD_MODEL), with_activations()).unwrap();
    vgg.forward_tensor(f32a(&f32s(GRAD_INPUT)), serde_wasm_bindgen::to_value(&[1, 3, 20, 20]).unwrap()).unwrap();
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
    // a unit whose ReLU outputs 0 still shows where it looks
    let (c, y, x) = GRAD_ZERO_UNIT;
    let z = vgg.effective_receptive_field("relu2_1", c as f64, y as f64, x as f64).unwrap();
    let err = rel_max_err(&grad(&z), &f32s(GRAD_UNIT_ZERO));
    console_log!("inactive unit gradient vs finite differences: {err:.2e}");
    assert!(err <= GRADIENT_TOLERANCE, "{err}");
}

#[wasm_bindgen_test]
fn options_from_js_are_checked_key_by_key() {
    let model = fixture("zoo_vgg16").model;
    let parse = |s: &str| js_sys::JSON::parse(s).unwrap();
    let msg = error_message(Vgg::new(u8s(model), parse(r#"{"foo": 1}"#)).err().unwrap());
    assert!(msg.contains("invalid options") && msg.contains("`foo`"), "{msg}");
    let msg = error_message(Vgg::new(u8s(model), parse(r#"{"preprocess": {"meen": [0, 0, 0]}}"#)).err().unwrap());
    assert!(msg.contains("`meen`"), "{msg}");
    let msg = error_message(Vgg::new(u8s(model), parse(r#"{"preprocess": {"resize": "big"}}"#)).err().unwrap());
    assert!(msg.contains("big"), "{msg}");
    // undefined and null mean "not given"
    let opts = parse(r#"{"labels": null, "preprocess": {"preset": "caffe", "crop": null}}"#);
    js_sys::Reflect::set(&opts, &"activations".into(), &JsValue::UNDEFINED).unwrap();
    let vgg = Vgg::new(u8s(model), opts).unwrap();
    assert_eq!(get(&get(&vgg.info().unwrap(), "preprocess"), "channelOrder").as_string().as_deref(), Some("bgr"));
}

#[wasm_bindgen_test]
fn softmax_is_applied_once_in_the_browser() {
    let rgba = gradient_rgba(300, 200);
    // the graph ends in Softmax: classify reports its output as it is
    let mut vgg = Vgg::new(u8s(fixture("caffe2_vgg19").model), JsValue::UNDEFINED).unwrap();
    let probs = tensor_data(&vgg.forward(u8s(&rgba), 300.0, 200.0).unwrap());
    let top = js_sys::Array::from(&vgg.classify(u8s(&rgba), 300.0, 200.0, Some(1.0)).unwrap()).get(0);
    assert_eq!(get(&top, "probability").as_f64().unwrap() as f32, probs.iter().copied().fold(f32::MIN, f32::max));
    // logits: classify applies softmax once (float64 here, not the crate's)
    let mut vgg = Vgg::new(u8s(fixture("zoo_vgg16").model), JsValue::UNDEFINED).unwrap();
    let logits = tensor_data(&vgg.forward(u8s(&rgba), 300.0, 200.0).unwrap());
    let max = logits.iter().fold(f64::MIN, |m, v| m.max(*v as f64));
    let sum: f64 = logits.iter().map(|v| (*v as f64 - max).exp()).sum();
    for p in js_sys::Array::from(&vgg.classify(u8s(&rgba), 300.0, 200.0, Some(5.0)).unwrap()).iter() {
        let i = get(&p, "index").as_f64().unwrap() as usize;
        let want = (logits[i] as f64 - max).exp() / sum;
        assert!((get(&p, "probability").as_f64().unwrap() - want).abs() < 1e-6, "class {i}");
    }
}

#[wasm_bindgen_test]
fn model_view_and_geometry_describe_what_the_model_saw() {
    // the identity model's output is the tensor: the view, normalised, must be it
    let case = &PREPROCESS_CASES[0];
    let mut vgg = Vgg::new(u8s(IDENTITY3), js_sys::JSON::parse(case.options).unwrap()).unwrap();
    let img = image::load_from_memory(case.photo).unwrap().to_rgba8();
    let (w, h) = (img.width() as f64, img.height() as f64);
    let tensor = tensor_data(&vgg.forward(u8s(img.as_raw()), w, h).unwrap());
    let view = vgg.model_view().unwrap();
    let rgba = get(&view, "rgba").dyn_into::<js_sys::Uint8ClampedArray>().unwrap().to_vec();
    assert_eq!(
        (get(&view, "width").as_f64(), get(&view, "height").as_f64(), rgba.len()),
        (Some(224.0), Some(224.0), 224 * 224 * 4)
    );
    let (mean, std) = (vgg_wasm::preprocess::IMAGENET_MEAN, vgg_wasm::preprocess::IMAGENET_STD);
    for (i, px) in rgba.chunks(4).enumerate() {
        for c in 0..3 {
            let want = (px[c] as f32 / 255.0 - mean[c]) / std[c];
            assert!((tensor[c * 224 * 224 + i] - want).abs() < 1e-5, "pixel {i} channel {c}");
        }
    }
    // 451x300: shorter side to 256 gives int(256 * 451 / 300) = 384 x 256, and the centre
    // crop starts at round((384 - 224) / 2) = 80, round((256 - 224) / 2) = 16
    let g = get(&view, "geometry");
    let num = |k: &str| get(&g, k).as_f64().unwrap();
    assert_eq!((num("left"), num("top"), num("pad"), num("width"), num("height")), (80.0, 16.0, 0.0, 224.0, 224.0));
    assert!((num("scaleX") - 384.0 / 451.0).abs() < 1e-6 && (num("scaleY") - 256.0 / 300.0).abs() < 1e-6);
    // inputGeometry answers the same without running, for any size
    let again = vgg.input_geometry(w, h).unwrap();
    assert_eq!(js_sys::JSON::stringify(&again).unwrap(), js_sys::JSON::stringify(&g).unwrap());
    let tall = vgg.input_geometry(300.0, 451.0).unwrap();
    assert_eq!((get(&tall, "left").as_f64(), get(&tall, "top").as_f64()), (Some(16.0), Some(80.0)));
    let msg = error_message(vgg.input_geometry(0.0, 10.0).unwrap_err());
    assert!(msg.contains('0'), "{msg}");
}

#[wasm_bindgen_test]
fn layers_fields_and_activations_through_the_js_api() {
    let mut vgg = Vgg::new(u8s(fixture("features_vgg16").model), with_activations()).unwrap();
    vgg.forward(u8s(&gradient_rgba(224, 224)), 224.0, 224.0).unwrap();
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
    // conv5_3 unit (5, 7) reads pool4 units 2..8 x 4..10 (three 3x3 layers, one unit each
    // way); pool4 has rf 100, stride 16, padding 42, so unit u is centred on 16u - 42 + 49.5
    let nested = js_sys::Array::from(&vgg.nested_fields("conv5_3", 5.0, 7.0).unwrap());
    let first = nested.get(0);
    assert_eq!(get(&first, "label").as_string().as_deref(), Some("conv5_3"));
    let centers: Vec<f64> = serde_wasm_bindgen::from_value(get(&first, "centers")).unwrap();
    assert_eq!(centers, vec![87.5, 119.5, 87.5, 119.5]);
    let pool4 = nested.iter().find(|n| get(n, "label").as_string().as_deref() == Some("pool4")).unwrap();
    let units = get(&pool4, "units");
    let b: Vec<f64> = ["top", "bottom", "left", "right"].iter().map(|k| get(&units, k).as_f64().unwrap()).collect();
    assert_eq!(b, vec![2.0, 8.0, 4.0, 10.0]);
    let centers: Vec<f64> = serde_wasm_bindgen::from_value(get(&pool4, "centers")).unwrap();
    assert_eq!(centers, vec![39.5, 71.5, 135.5, 167.5]);
    let msg = error_message(vgg.nested_fields("conv5_3", 14.0, 0.0).unwrap_err());
    assert!(msg.contains("14 x 14"), "{msg}");
}

/// The keys of a JS object the bindings build by hand, sorted.
fn js_keys(v: &JsValue) -> std::collections::BTreeSet<String> {
    js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>()).iter().map(|k| k.as_string().unwrap()).collect()
}

#[wasm_bindgen_test]
fn answers_built_in_the_bindings_have_exactly_the_declared_fields() {
    let ts = ts_interfaces();
    let mut vgg = Vgg::new(u8s(fixture("features_vgg16").model), with_activations()).unwrap();
    let out = vgg.forward(u8s(&gradient_rgba(120, 90)), 120.0, 90.0).unwrap();
    let view = vgg.model_view().unwrap();
    let erf = vgg.effective_receptive_field("conv5_3", 0.0, 0.0, 0.0).unwrap();
    for (name, value) in [("Tensor", &out), ("View", &view), ("GradientMap", &erf)] {
        assert_eq!(ts[name], js_keys(value), "interface {name}");
    }
    // the view is the run's own: the image at the model's size, not prepared again
    assert_eq!((get(&view, "width").as_f64(), get(&view, "height").as_f64()), (Some(120.0), Some(90.0)));
    assert_eq!(js_keys(&get(&view, "geometry")), ts["Geometry"]);
}

#[wasm_bindgen_test]
fn a_profiled_run_and_the_module_facts() {
    use vgg_wasm::bindings::{is_threaded_build, memory_bytes, thread_count};
    let fx = fixture("zoo_vgg16");
    let mut vgg = Vgg::new(u8s(fx.model), JsValue::UNDEFINED).unwrap();
    let shape = serde_wasm_bindgen::to_value(fx.input_shape).unwrap();
    let times = js_sys::Array::from(&vgg.profile_tensor(f32a(&f32s(fx.input)), shape.clone()).unwrap());
    let nodes: Vec<String> = times.iter().map(|t| get(&t, "node").as_string().unwrap()).collect();
    let ms: Vec<f64> = times.iter().map(|t| get(&t, "ms").as_f64().unwrap()).collect();
    assert!(ms.iter().all(|ms| ms.is_finite() && *ms >= 0.0), "{ms:?}");
    // the layers took time: a clock that reads the same throughout would give 0
    assert!(ms.iter().sum::<f64>() > 0.0, "{ms:?}");
    // every convolution's graph node is in the profile, and named in its LayerInfo
    let layers = js_sys::Array::from(&vgg.layers().unwrap());
    let convs: Vec<String> = layers
        .iter()
        .filter(|l| get(l, "kind").as_string().as_deref() == Some("conv"))
        .map(|l| get(&l, "node").as_string().unwrap())
        .collect();
    assert_eq!(convs.len(), 13);
    for c in &convs {
        assert!(nodes.iter().any(|n| n == c || n.starts_with(&format!("{c}."))), "{c} not in {nodes:?}");
    }
    // the default build: one thread, and memoryBytes() is the wasm memory's size
    assert!(!is_threaded_build());
    assert_eq!(thread_count(), 1);
    assert_eq!(get(&vgg.info().unwrap(), "threads").as_f64(), Some(1.0));
    let memory = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>();
    let size = memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64;
    assert_eq!(memory_bytes(), size);
    let out = tensor_data(&vgg.forward_tensor(f32a(&f32s(fx.input)), shape).unwrap());
    assert!(rel_max_err(&out, &f32s(fx.output)) <= TOLERANCE);
}

#[wasm_bindgen_test]
fn set_preprocess_changes_the_spec_in_place_and_names_what_it_refuses() {
    let model = fixture("zoo_vgg16").model;
    let parse = |s: &str| js_sys::JSON::parse(s).unwrap();
    let mut vgg = Vgg::new(u8s(model), JsValue::UNDEFINED).unwrap();
    let rgba = gradient_rgba(300, 200);
    let _ = vgg.forward(u8s(&rgba), 300.0, 200.0).unwrap();
    let caffe = r#"{"preset": "caffe", "resize": 224}"#;
    vgg.set_preprocess(parse(caffe)).unwrap();
    let order = get(&get(&vgg.info().unwrap(), "preprocess"), "channelOrder");
    assert_eq!(order.as_string().as_deref(), Some("bgr"));
    // the same output as a model loaded with that preprocessing
    let mut fresh = Vgg::new(u8s(model), parse(&format!(r#"{{"preprocess": {caffe}}}"#))).unwrap();
    let got = tensor_data(&vgg.forward(u8s(&rgba), 300.0, 200.0).unwrap());
    assert_eq!(got, tensor_data(&fresh.forward(u8s(&rgba), 300.0, 200.0).unwrap()));
    // refused by name, and nothing changes
    for (bad, names) in [
        (r#"{"resize": "big"}"#, "big"),
        (r#"{"mean": [0, 0]}"#, "mean"),
        (r#"{"crop": [100, 100]}"#, "preprocess.crop [100, 100]"),
        (r#"{"layout": "nhwc"}"#, "load the model again"),
        (r#"{"meen": [0, 0, 0]}"#, "`meen`"),
    ] {
        let msg = error_message(vgg.set_preprocess(parse(bad)).unwrap_err());
        assert!(msg.contains(names), "{bad}: {msg}");
    }
    let msg = error_message(vgg.set_preprocess(JsValue::from(3)).unwrap_err());
    assert!(msg.contains("invalid options"), "{msg}");
    assert_eq!(tensor_data(&vgg.forward(u8s(&rgba), 300.0, 200.0).unwrap()), got);
}

/// Two colour classes (reddish and bluish gradients) of `n` images each, 40x30 RGBA.
fn colour_classes(n: usize) -> Vec<(&'static str, Vec<u8>)> {
    (0..2 * n)
        .map(|i| {
            let (name, tint) = if i % 2 == 0 { ("warm", [200u8, 40, 30]) } else { ("cool", [30u8, 60, 210]) };
            let mut rgba = gradient_rgba(40, 30);
            for (j, px) in rgba.chunks_mut(4).enumerate() {
                for c in 0..3 {
                    px[c] = ((px[c] as u32 + tint[c] as u32 * 3 + (i * 7 + j) as u32 % 13) / 4) as u8;
                }
            }
            (name, rgba)
        })
        .collect()
}

#[wasm_bindgen_test]
fn a_teacher_trains_deterministically_and_its_export_loads_back() {
    let base = fixture("features_vgg16").model;
    let vgg = Vgg::new(u8s(base), JsValue::UNDEFINED).unwrap();
    let parse = |s: &str| js_sys::JSON::parse(s).unwrap();
    let teach = || {
        let mut t = vgg.teacher(parse(r#"{"side": 64, "flip": true}"#)).unwrap();
        for (name, rgba) in colour_classes(5) {
            let added = t.add(name, u8s(&rgba), 40.0, 30.0).unwrap();
            let features = get(&added, "features").dyn_into::<js_sys::Float32Array>().unwrap();
            assert_eq!(features.length(), 2 * 32, "the image's descriptor and its mirror's");
        }
        let report = t.train(parse(r#"{"seed": 3}"#)).unwrap();
        (t, report)
    };
    let (mut t, report) = teach();
    assert_eq!(t.counts(), vec![5, 5]);
    assert_eq!(get(&report, "trainAccuracy").as_f64(), Some(1.0));
    let held = get(&report, "heldOut");
    assert_eq!(get(&held, "examples").as_f64(), Some(4.0), "one image (and its mirror) of five per class");
    let (mut t2, report2) = teach();
    for key in ["heldOut", "loss", "iterations"] {
        let text = |r: &JsValue| String::from(js_sys::JSON::stringify(&get(r, key)).unwrap());
        assert_eq!(text(&report2), text(&report), "{key}");
    }
    let onnx = t.export_onnx(u8s(base)).unwrap().to_vec();
    assert_eq!(onnx, t2.export_onnx(u8s(base)).unwrap().to_vec(), "the same examples export the same bytes");

    // the exported model, loaded with its sidecar, answers as the teacher does
    let sidecar = t.sidecar().unwrap();
    let mut back = Vgg::new(u8s(&onnx), sidecar).unwrap();

    for (name, rgba) in colour_classes(5) {
        let want = t.classify(u8s(&rgba), 40.0, 30.0, Some(1.0)).unwrap();
        let got = back.classify(u8s(&rgba), 40.0, 30.0, Some(1.0)).unwrap();
        let (w, g) = (js_sys::Array::from(&want).get(0), js_sys::Array::from(&got).get(0));
        assert_eq!(get(&g, "label").as_string().as_deref(), Some(name));
        assert_eq!(get(&w, "label").as_string().as_deref(), Some(name));
        let (pw, pg) = (get(&w, "probability").as_f64().unwrap(), get(&g, "probability").as_f64().unwrap());
        assert!((pw - pg).abs() < 1e-4, "teacher {pw} vs exported {pg}");
    }
    // the stored descriptors restore a teacher that trains to the same classifier
    let mut restored = vgg.teacher(parse(r#"{"side": 64, "flip": true}"#)).unwrap();
    let mut t3 = vgg.teacher(parse(r#"{"side": 64, "flip": true}"#)).unwrap();
    for (name, rgba) in colour_classes(5) {
        let added = t3.add(name, u8s(&rgba), 40.0, 30.0).unwrap();
        restored.add_features(name, get(&added, "features")).unwrap();
    }
    restored.train(JsValue::UNDEFINED).unwrap();
    t3.train(JsValue::UNDEFINED).unwrap();
    assert_eq!(restored.export_onnx(u8s(base)).unwrap().to_vec(), t3.export_onnx(u8s(base)).unwrap().to_vec());
}

#[wasm_bindgen_test]
fn a_teacher_names_bad_input() {
    let base = fixture("features_vgg16").model;
    let vgg = Vgg::new(u8s(base), JsValue::UNDEFINED).unwrap();
    let parse = |s: &str| js_sys::JSON::parse(s).unwrap();
    let mut t = vgg.teacher(parse(r#"{"side": 32}"#)).unwrap();
    let train = |t: &mut vgg_wasm::bindings::Teacher| error_message(t.train(JsValue::UNDEFINED).unwrap_err());
    assert!(train(&mut t).contains("no classes"));
    let rgba = gradient_rgba(40, 30);
    t.add("cats", u8s(&rgba), 40.0, 30.0).unwrap();
    assert!(train(&mut t).contains("only one class (\"cats\")"));
    t.add_class("dogs").unwrap();
    assert!(train(&mut t).contains("class \"dogs\" has no examples"));
    // pixels that do not make the size they claim
    let msg = error_message(t.add("dogs", u8s(&rgba), 30.0, 30.0).unwrap_err());
    assert!(msg.contains("3600") && msg.contains("4800"), "{msg}");
    let msg = error_message(t.add_features("dogs", u8s(&[1, 2])).unwrap_err());
    assert!(msg.contains("features must be a Float32Array"), "{msg}");
    let msg = error_message(t.train(parse(r#"{"method": "svm"}"#)).unwrap_err());
    assert!(msg.contains("svm"), "{msg}");
    let msg = error_message(vgg.teacher(parse(r#"{"sides": 2}"#)).err().unwrap());
    assert!(msg.contains("sides"), "{msg}");
    assert!(error_message(t.export_onnx(u8s(base)).unwrap_err()).contains("nothing trained yet"));
    // a classifier is not a base
    let zoo = Vgg::new(u8s(fixture("zoo_vgg16").model), JsValue::UNDEFINED).unwrap();
    assert!(
        error_message(zoo.teacher(JsValue::UNDEFINED).err().unwrap()).contains("teaching needs a convolutional base")
    );
    // after every refusal the teacher still works
    t.add("dogs", u8s(&gradient_rgba(30, 40)), 30.0, 40.0).unwrap();
    t.train(parse(r#"{"holdout": 0}"#)).unwrap();
    assert_eq!(t.counts(), vec![1, 1]);
}

#[wasm_bindgen_test]
fn a_multi_scale_teacher_exports_a_model_that_answers_alike() {
    let base = fixture("features_vgg16").model;
    let vgg = Vgg::new(u8s(base), JsValue::UNDEFINED).unwrap();
    let parse = |s: &str| js_sys::JSON::parse(s).unwrap();
    let mut t = vgg.teacher(parse(r#"{"side": 64, "scales": [96]}"#)).unwrap();
    assert_eq!(t.scales(), vec![96]);
    for (name, rgba) in colour_classes(3) {
        t.add(name, u8s(&rgba), 40.0, 30.0).unwrap();
    }
    t.train(JsValue::UNDEFINED).unwrap();
    let onnx = t.export_onnx(u8s(base)).unwrap().to_vec();
    // one base per size: the graph branches, so it loads without kept activations
    let mut back = Vgg::new(u8s(&onnx), t.sidecar().unwrap()).unwrap();
    for (name, rgba) in colour_classes(3) {
        let want = js_sys::Array::from(&t.classify(u8s(&rgba), 40.0, 30.0, Some(1.0)).unwrap()).get(0);
        let got = js_sys::Array::from(&back.classify(u8s(&rgba), 40.0, 30.0, Some(1.0)).unwrap()).get(0);
        assert_eq!(get(&got, "label").as_string().as_deref(), Some(name));
        let (pw, pg) = (get(&want, "probability").as_f64().unwrap(), get(&got, "probability").as_f64().unwrap());
        assert!((pw - pg).abs() < 1e-4, "teacher {pw} vs exported {pg}");
    }
    let msg = error_message(vgg.teacher(parse(r#"{"scales": [8]}"#)).err().unwrap());
    assert!(msg.contains("scales[0] must be 32 to 1024 pixels, got 8"), "{msg}");
}
