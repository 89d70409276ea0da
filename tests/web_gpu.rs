//! Browser tests of the WebGPU path (`wasm-pack test --headless --chrome --features webgpu`,
//! on Chromium's software adapter, SwiftShader, enabled by tests/webdriver-webgpu.json): every fixture
//! through `Vgg.create` against the CPU path of the same instance, and the reasons `auto`
//! gives when it takes the CPU.
#![cfg(all(target_arch = "wasm32", feature = "webgpu"))]

mod common;

use common::*;
use vgg_wasm::bindings::Vgg;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The GPU's tolerance against the CPU: relative to the output's largest magnitude.
const GPU_TOLERANCE: f32 = 1e-4;

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &key.into()).expect("property exists")
}

fn text(v: &JsValue, key: &str) -> String {
    get(v, key).as_string().unwrap_or_default()
}

fn error_message(e: impl Into<JsValue>) -> String {
    let v: JsValue = e.into();
    String::from(v.dyn_ref::<js_sys::Error>().expect("a JS Error").message())
}

fn options(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

async fn create(model: &[u8], opts: &str) -> Result<Vgg, String> {
    Vgg::create(js_sys::Uint8Array::from(model).into(), options(opts)).await.map_err(error_message)
}

fn data(out: &JsValue) -> Vec<f32> {
    get(out, "data").dyn_into::<js_sys::Float32Array>().unwrap().to_vec()
}

#[wasm_bindgen_test]
async fn every_fixture_runs_on_webgpu_as_on_the_cpu_or_says_why_not() {
    for fx in FIXTURES {
        // "webgpu": the test browser's adapter (SwiftShader) is a software one, which "auto" leaves
        let created = create(fx.model, r#"{"backend": "webgpu"}"#).await;
        if fx.name.contains("int8") {
            let Err(reason) = created else { panic!("{}: an int8 model is refused for the GPU", fx.name) };
            assert!(reason.contains("unsupported op `") && reason.contains("QuantizeLinear`"), "{}: {reason}", fx.name);
            continue;
        }
        let vgg = created.unwrap_or_else(|e| panic!("{}: {e}", fx.name));
        let backend = vgg.backend().unwrap();
        assert_eq!(text(&backend, "name"), "webgpu", "{}: {}", fx.name, text(&backend, "reason"));
        assert!(!text(&backend, "adapter").is_empty());
        let input: JsValue = js_sys::Float32Array::from(f32s(fx.input).as_slice()).into();
        let shape = serde_wasm_bindgen::to_value(fx.input_shape).unwrap();
        let gpu = JsFuture::from(vgg.forward_tensor_async(input.clone(), shape.clone())).await.unwrap();
        assert_eq!(text(&get(&gpu, "timings"), "backend"), "webgpu", "{}", fx.name);
        let mut cpu_vgg = vgg;
        let cpu = cpu_vgg.forward_tensor(input, shape).map_err(error_message).unwrap();
        let err = rel_max_err(&data(&gpu), &data(&cpu));
        console_log!("{:24} WebGPU vs CPU relative max error {err:.2e}", fx.name);
        assert!(err <= GPU_TOLERANCE, "{}: relative error {err} > {GPU_TOLERANCE}", fx.name);
    }
}

#[wasm_bindgen_test]
async fn classify_async_answers_as_classify_and_says_which_backend_ran() {
    let fx = fixture("keras_vgg16_nhwc_gray");
    let mut vgg = create(fx.model, r#"{"backend": "webgpu"}"#).await.unwrap();
    let (w, h) = (40u32, 28u32);
    let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 37 % 251) as u8).collect();
    let pixels: JsValue = js_sys::Uint8Array::from(rgba.as_slice()).into();
    let gpu = JsFuture::from(vgg.classify_async(pixels.clone(), w as f64, h as f64, Some(3.0))).await.unwrap();
    let cpu = vgg.classify(pixels.clone(), w as f64, h as f64, Some(3.0)).map_err(error_message).unwrap();
    assert_eq!(text(&get(&gpu, "timings"), "backend"), "webgpu");
    assert_eq!(text(&get(&cpu, "timings"), "backend"), "cpu");
    for i in 0..3 {
        let (g, c) = (get(&gpu, &i.to_string()), get(&cpu, &i.to_string()));
        assert_eq!(get(&g, "index").as_f64(), get(&c, "index").as_f64());
        let (pg, pc) = (get(&g, "probability").as_f64().unwrap(), get(&c, "probability").as_f64().unwrap());
        assert!((pg - pc).abs() <= 1e-5, "{pg} vs {pc}");
    }
    // switching to the CPU and back; a bad name is an Error naming it
    vgg.use_backend("cpu").unwrap();
    let cpu_again = JsFuture::from(vgg.classify_async(pixels, w as f64, h as f64, Some(3.0))).await.unwrap();
    assert_eq!(text(&get(&cpu_again, "timings"), "backend"), "cpu");
    vgg.use_backend("webgpu").unwrap();
    assert!(error_message(vgg.use_backend("cuda").unwrap_err()).contains("\"cuda\""));
    // a bad argument rejects the promise with an Error, not a panic
    let bad = JsFuture::from(vgg.classify_async(JsValue::from(3), w as f64, h as f64, None)).await.unwrap_err();
    assert!(error_message(bad).contains("rgba"));
}

#[wasm_bindgen_test]
async fn auto_without_navigator_gpu_takes_the_cpu_and_says_why() {
    let navigator = get(&js_sys::global(), "navigator");
    let hide = js_sys::Function::new_with_args(
        "n",
        "Object.defineProperty(n, 'gpu', { value: undefined, configurable: true })",
    );
    let restore = js_sys::Function::new_with_args("n", "delete n.gpu");
    hide.call1(&JsValue::NULL, &navigator).unwrap();
    let vgg = create(fixture("zoo_vgg16").model, "{}").await;
    let strict = create(fixture("zoo_vgg16").model, r#"{"backend": "webgpu"}"#).await;
    restore.call1(&JsValue::NULL, &navigator).unwrap();
    let backend = vgg.unwrap().backend().unwrap();
    assert_eq!(text(&backend, "name"), "cpu");
    assert!(text(&backend, "reason").contains("navigator.gpu"), "{}", text(&backend, "reason"));
    let e = strict.err().expect("backend webgpu without navigator.gpu fails");
    assert!(e.contains("navigator.gpu"), "{e}");
}

#[wasm_bindgen_test]
async fn an_int8_model_falls_back_naming_the_op_or_is_refused_for_the_gpu() {
    // (softwareGpu: "auto" takes SwiftShader, so that it reaches the op check)
    let vgg = create(fixture("zoo_vgg16_int8").model, r#"{"backend": "auto", "softwareGpu": true}"#).await.unwrap();
    let backend = vgg.backend().unwrap();
    assert_eq!(text(&backend, "name"), "cpu");
    assert!(text(&backend, "reason").contains("QuantizeLinear"), "{}", text(&backend, "reason"));
    let e = create(fixture("zoo_vgg16_int8").model, r#"{"backend": "webgpu"}"#).await.err().unwrap();
    assert!(e.contains("QuantizeLinear"), "{e}");
}

#[wasm_bindgen_test]
async fn auto_leaves_a_software_adapter_for_the_cpu_and_says_why() {
    // the test browser's only adapter is SwiftShader: "auto" runs on the CPU, naming it
    let vgg = create(fixture("zoo_vgg16").model, r#"{"backend": "auto"}"#).await.unwrap();
    let backend = vgg.backend().unwrap();
    assert_eq!(text(&backend, "name"), "cpu");
    let reason = text(&backend, "reason");
    assert!(
        reason.starts_with("the only WebGPU adapter is a software one, ")
            && reason.ends_with(": the CPU is faster here"),
        "{reason}"
    );
    assert!(reason.to_lowercase().contains("swiftshader"), "{reason}");
}

#[wasm_bindgen_test]
async fn a_teacher_on_a_webgpu_base_describes_images_as_the_cpu_does() {
    let base = create(fixture("features_vgg16").model, r#"{"backend": "webgpu"}"#).await.unwrap();
    let mut teacher = base.teacher(options(r#"{"side": 48, "flip": true, "scales": [64]}"#)).unwrap();
    let warm = gradient_rgba(40, 30);
    // the same gradient inverted: another image, another descriptor
    let cool: Vec<u8> = warm.chunks(4).flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 255]).collect();
    let pixels = |rgba: &[u8]| -> JsValue { js_sys::Uint8Array::from(rgba).into() };
    let gpu = JsFuture::from(teacher.add_async("warm".into(), pixels(&warm), 40.0, 30.0)).await.unwrap();
    assert_eq!(text(&get(&gpu, "timings"), "backend"), "webgpu");
    // the synchronous `add` runs on the CPU: the same image again, to compare descriptors
    let cpu = teacher.add("warm", pixels(&warm), 40.0, 30.0).unwrap();
    assert_eq!(text(&get(&cpu, "timings"), "backend"), "cpu");
    let (g, c) = (
        get(&gpu, "features").dyn_into::<js_sys::Float32Array>().unwrap().to_vec(),
        get(&cpu, "features").dyn_into::<js_sys::Float32Array>().unwrap().to_vec(),
    );
    let err = rel_max_err(&g, &c);
    assert!(err <= GPU_TOLERANCE, "descriptor on WebGPU vs CPU: relative error {err}");
    JsFuture::from(teacher.add_async("cool".into(), pixels(&cool), 40.0, 30.0)).await.unwrap();
    teacher.train(JsValue::UNDEFINED).unwrap();
    // each taught image answers with its own class, computed on the GPU
    for (rgba, label) in [(&warm, "warm"), (&cool, "cool")] {
        let answer = JsFuture::from(teacher.classify_async(pixels(rgba), 40.0, 30.0, Some(2.0))).await.unwrap();
        assert_eq!(text(&get(&answer, "timings"), "backend"), "webgpu");
        // (a Classification is the predictions array itself, with `timings` on it)
        let top = js_sys::Array::from(&answer).get(0);
        assert_eq!(text(&top, "label"), label);
    }
    // a bad image is a rejected promise naming it
    let bad = JsFuture::from(teacher.add_async("warm".into(), pixels(&warm), 30.0, 30.0)).await.unwrap_err();
    assert!(error_message(bad).contains("4800"));
}
