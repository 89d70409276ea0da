//! Native tests of the whole pipeline against onnxruntime, and of its error handling.

mod common;

use common::*;
use vgg_wasm::pipeline::{Head, Options, Pipeline};
use vgg_wasm::receptive_field::LayerKind;

#[test]
fn every_fixture_matches_onnxruntime() {
    for fx in FIXTURES {
        let mut p = Pipeline::new(fx.model, Options::default()).unwrap_or_else(|e| panic!("{}: {e:#}", fx.name));
        let out = p.forward_tensor(&f32s(fx.input), fx.input_shape).unwrap_or_else(|e| panic!("{}: {e:#}", fx.name));
        assert_eq!(out.shape, fx.output_shape, "{}", fx.name);
        let err = rel_max_err(&out.data, &f32s(fx.output));
        println!("{:24} relative max error {err:.2e}", fx.name);
        assert!(err <= fx.tolerance, "{}: relative error {err} > {}", fx.name, fx.tolerance);
    }
}

#[test]
fn winograd_transforms_match_a_direct_convolution() {
    for line in check_winograd_transforms() {
        println!("{line}");
    }
}

#[test]
fn every_fixture_matches_onnxruntime_with_each_convolution_algorithm() {
    // "auto" is every other test's default; here every 3x3 convolution the rewrite can take
    // runs each tile, whatever its channels (the fixtures' first layers: 1 and 3) or size
    for mode in ["direct", "winograd-f2", "winograd-f4"] {
        for fx in FIXTURES {
            let options: Options = serde_json::from_value(serde_json::json!({ "convolution": mode })).unwrap();
            let mut p = Pipeline::new(fx.model, options).unwrap_or_else(|e| panic!("{} {mode}: {e:#}", fx.name));
            let out = p
                .forward_tensor(&f32s(fx.input), fx.input_shape)
                .unwrap_or_else(|e| panic!("{} {mode}: {e:#}", fx.name));
            let err = rel_max_err(&out.data, &f32s(fx.output));
            let algorithms = p.info().unwrap().convolutions;
            let winograd = algorithms.iter().filter(|c| c.algorithm.starts_with("winograd")).count();
            println!(
                "{:32} {mode:12} {winograd:2} of {:2} convolutions Winograd, relative max error {err:.2e}",
                fx.name,
                algorithms.len()
            );
            assert!(err <= fx.tolerance, "{} {mode}: relative error {err} > {}", fx.name, fx.tolerance);
            // int8 convolutions stay integer; every float fixture has 3x3 ones
            let float = !fx.name.contains("int8");
            assert_eq!(winograd > 0, mode != "direct" && float, "{} {mode}: {algorithms:?}", fx.name);
        }
    }
}

#[test]
fn int8_models_keep_their_layers_and_answer_alike() {
    // the int8 rewrite fuses away float tensors a kept layer may name; they are
    // dequantised from the int8 tensor that replaced them
    // (the dynamic and contrib-operator fixtures branch: no chain to keep)
    for fx in
        FIXTURES.iter().filter(|f| f.name.contains("_int8") && !f.name.contains("dynamic") && !f.name.contains("_ops"))
    {
        let options = Options { activations: true, ..Options::default() };
        let mut p = Pipeline::new(fx.model, options).unwrap_or_else(|e| panic!("{}: {e:#}", fx.name));
        let out = p.forward_tensor(&f32s(fx.input), fx.input_shape).unwrap_or_else(|e| panic!("{}: {e:#}", fx.name));
        let err = rel_max_err(&out.data, &f32s(fx.output));
        assert!(err <= fx.tolerance, "{}: relative error {err} with layers kept", fx.name);
        let kept = p.kept_layers();
        assert!(kept.len() >= 10, "{}: {kept:?}", fx.name);
        println!("{:32} {} layers kept, relative error {err:.2e}", fx.name, kept.len());
    }
}

#[test]
fn heads_are_detected_and_softmax_is_never_applied_twice() {
    let head = |n: &str| Pipeline::new(fixture(n).model, Options::default()).unwrap().info().unwrap().head;
    assert_eq!(head("caffe2_vgg19"), Head::Classifier { classes: 1000, softmax_in_graph: true });
    assert_eq!(head("zoo_vgg16"), Head::Classifier { classes: 1000, softmax_in_graph: false });
    assert_eq!(head("torchvision_vgg16"), Head::Classifier { classes: 1000, softmax_in_graph: false });
    assert_eq!(head("zoo_vgg16_int8"), Head::Classifier { classes: 1000, softmax_in_graph: false });
    assert_eq!(head("features_vgg16"), Head::Features);

    // a graph ending in Softmax: classify reports its output as is
    let fx = fixture("caffe2_vgg19");
    let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
    let rgba = gradient_rgba(300, 200);
    let probs = p.forward(&rgba, 300, 200).unwrap().data;
    let c = p.classify(&rgba, 300, 200, 3).unwrap();
    let best = probs.iter().copied().fold(f32::MIN, f32::max);
    assert_eq!(c.predictions[0].probability, best);
    // logits: classify applies softmax once
    let fx = fixture("zoo_vgg16");
    let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
    let logits = p.forward(&rgba, 300, 200).unwrap().data;
    let c = p.classify(&rgba, 300, 200, 5).unwrap();
    // softmax in float64, here, not the crate's
    let top = logits.iter().fold(f64::MIN, |m, v| m.max(*v as f64));
    let sum: f64 = logits.iter().map(|v| (*v as f64 - top).exp()).sum();
    let soft = |i: usize| (logits[i] as f64 - top).exp() / sum;
    assert_eq!(c.predictions.len(), 5);
    for p in &c.predictions {
        assert!((p.probability as f64 - soft(p.index)).abs() < 1e-6, "{} vs {}", p.probability, soft(p.index));
    }
    assert!(c.predictions.windows(2).all(|w| w[0].probability >= w[1].probability));
    assert_eq!(c.predictions[0].label, vgg_wasm::labels::Labels::ImageNet.name(c.predictions[0].index));
}

#[test]
fn channels_last_grey_and_self_scaling_inputs_are_read_from_the_graph() {
    use vgg_wasm::preprocess::{ChannelOrder, Layout};
    // a Keras export: [N, 224, 224, 3], Rescaling(1/255) inside, Softmax inside
    let fx = fixture("keras_vgg16_nhwc");
    let mut auto = Pipeline::new(fx.model, Options::default()).unwrap();
    let info = auto.info().unwrap();
    let s = &info.preprocess;
    assert_eq!(
        (s.layout, s.channel_order, s.scale, s.mean, s.std),
        (Layout::Nhwc, ChannelOrder::Rgb, 1.0, [0.0; 3], [1.0; 3])
    );
    assert_eq!((s.resize, s.crop), (Some(256), Some([224, 224])));
    assert_eq!(info.head, Head::Classifier { classes: 1000, softmax_in_graph: true });
    println!("{}: {:?}", fx.name, info.detected);
    assert!(
        info.detected[0].starts_with("layout nhwc") && info.detected[0].contains("[?, 224, 224, 3]"),
        "{:?}",
        info.detected
    );
    assert!(info.detected.iter().any(|d| d.contains("Mul by 0.003921")), "{:?}", info.detected);
    // the same answer as with everything spelled out, to the last bit
    let explicit: Options =
        serde_json::from_str(r#"{"preprocess": {"layout": "nhwc", "scale": 1, "mean": [0, 0, 0], "std": [1, 1, 1]}}"#)
            .unwrap();
    let mut spelled = Pipeline::new(fx.model, explicit).unwrap();
    assert!(spelled.info().unwrap().detected.iter().all(|d| !d.contains("nhwc") && !d.contains("Mul")));
    let rgba = gradient_rgba(300, 200);
    assert_eq!(auto.forward(&rgba, 300, 200).unwrap().data, spelled.forward(&rgba, 300, 200).unwrap().data);
    // options still win: NCHW asked for is refused with the shape in the message
    let nchw: Options = serde_json::from_str(r#"{"preprocess": {"layout": "nchw"}}"#).unwrap();
    let e = format!("{:#}", Pipeline::new(fx.model, nchw).unwrap_err());
    assert!(e.contains("224 channels") || e.contains("channels on axis 1"), "{e}");

    // grey, channels last, no scaling in the graph: grey ImageNet-normalised pixels
    let fx = fixture("keras_vgg16_nhwc_gray");
    let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
    let info = p.info().unwrap();
    assert_eq!((info.preprocess.layout, info.preprocess.channel_order), (Layout::Nhwc, ChannelOrder::Gray));
    assert_eq!(info.preprocess.scale, 1.0 / 255.0);
    assert_eq!(info.preprocess.crop, Some([32, 32]));
    assert!(info.detected.iter().any(|d| d.starts_with("channelOrder gray")), "{:?}", info.detected);
    assert_eq!(p.classify(&gradient_rgba(50, 40), 50, 40, 3).unwrap().predictions.len(), 3);
    // an NCHW model detects nothing about layout or scaling
    let p = Pipeline::new(fixture("zoo_vgg16").model, Options::default()).unwrap();
    assert_eq!(
        p.info().unwrap().detected,
        vec!["crop [224, 224] less padding: the graph's fixed input size".to_string()]
    );
}

#[test]
fn models_that_cannot_run_are_refused_by_name() {
    assert_eq!(BAD_MODELS.len(), BAD_MODEL_MESSAGES.len());
    for ((name, bytes), (n, expected)) in BAD_MODELS.iter().zip(BAD_MODEL_MESSAGES) {
        assert_eq!(name, n);
        let e = format!("{:#}", Pipeline::new(*bytes, Options::default()).unwrap_err());
        println!("{name:14} {e}");
        assert!(e.contains(expected), "{name}: {e}");
    }
}

#[test]
fn crops_that_cannot_fit_are_refused_at_load() {
    let m = fixture("zoo_vgg16").model;
    let opts = |j: &str| -> Options { serde_json::from_str(j).unwrap() };
    let e = format!("{:#}", Pipeline::new(m, opts(r#"{"preprocess": {"crop": [100, 100]}}"#)).unwrap_err());
    assert!(e.contains("[100, 100]") && e.contains("100x100") && e.contains("224x224"), "{e}");
    let m = fixture("features_vgg16").model;
    let e =
        format!("{:#}", Pipeline::new(m, opts(r#"{"preprocess": {"resize": 256, "crop": [300, 400]}}"#)).unwrap_err());
    assert!(e.contains("[300, 400]") && e.contains("256"), "{e}");
    // a crop wider than the shorter side fits a landscape image
    assert!(Pipeline::new(m, opts(r#"{"preprocess": {"resize": 256, "crop": [256, 300]}}"#)).is_ok());
    // a resize or pad asking for more pixels than the limit is refused before allocating
    let rgba = gradient_rgba(40, 30);
    let mut p = Pipeline::new(IDENTITY3, opts(r#"{"preprocess": {"resize": 100000}}"#)).unwrap();
    let e = format!("{:#}", p.forward(&rgba, 40, 30).unwrap_err());
    assert!(e.contains("resized image would be 133333x100000") && e.contains("100000000"), "{e}");
    let mut p = Pipeline::new(IDENTITY3, opts(r#"{"preprocess": {"pad": 4294967295}}"#)).unwrap();
    let e = format!("{:#}", p.forward(&rgba, 40, 30).unwrap_err());
    assert!(e.contains("pad 4294967295"), "{e}");
    let mut p = Pipeline::new(IDENTITY3, opts(r#"{"preprocess": {"pad": 6000}}"#)).unwrap();
    let e = format!("{:#}", p.forward(&rgba, 40, 30).unwrap_err());
    assert!(e.contains("padded image would be 12040x12030"), "{e}");
}

#[test]
fn conv_only_model_runs_at_any_size_and_refuses_to_classify() {
    let fx = fixture("features_vgg16");
    let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
    assert!(p.info().unwrap().dynamic_size);
    // no resize or crop for a dynamic model: a 100x70 image gives pool5 of 3x2
    let out = p.forward(&gradient_rgba(100, 70), 100, 70).unwrap();
    assert_eq!(out.shape, vec![1, 32, 2, 3]);
    let e = p.classify(&gradient_rgba(100, 70), 100, 70, 5).unwrap_err().to_string();
    assert!(e.contains("no classifier") && e.contains("forward"), "{e}");
}

#[test]
fn an_input_too_large_for_wasm_memory_is_refused_not_run() {
    let fx = fixture("features_vgg16");
    let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
    // 8000 x 6000 pixels: conv1_2 alone would unfold 9 x 4 x 48 M values
    let (w, h) = (8000u32, 6000u32);
    let e = format!("{:#}", p.forward(&vec![0u8; (w * h * 4) as usize], w, h).unwrap_err());
    assert!(e.contains("8000x6000") && e.contains("preprocess.resize"), "{e}");
    // the same model still runs a reasonable size
    assert_eq!(p.forward(&gradient_rgba(64, 64), 64, 64).unwrap().shape, vec![1, 32, 2, 2]);
}

#[test]
fn bad_models_fail_with_messages() {
    let msg = |bytes: &[u8]| format!("{:#}", Pipeline::new(bytes, Options::default()).unwrap_err());
    let e = msg(&[]);
    assert!(e.contains("empty"), "{e}");
    let e = msg(b"this is not a model at all, just some text");
    assert!(e.contains("loading the model"), "{e}");
    let m = fixture("zoo_vgg16").model;
    let e = msg(&m[..m.len() / 2]);
    assert!(e.contains("loading the model"), "{e}");
}

#[test]
fn bad_inputs_fail_with_messages_and_the_pipeline_keeps_working() {
    let fx = fixture("zoo_vgg16");
    let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
    let good = gradient_rgba(64, 48);
    let before = p.classify(&good, 64, 48, 5).unwrap().predictions;
    let e = p.classify(&good[..100], 64, 48, 5).unwrap_err().to_string();
    assert!(e.contains("100 bytes") && e.contains("64x48"), "{e}");
    let e = p.classify(&[], 0, 48, 5).unwrap_err().to_string();
    assert!(e.contains("0x48"), "{e}");
    let e = p.classify(&good, 64, 48, 0).unwrap_err().to_string();
    assert!(e.contains("topK"), "{e}");
    let e = format!("{:#}", p.forward_tensor(&[0.0; 12], &[1, 3, 2, 2]).unwrap_err());
    assert!(e.contains("[1, 3, 2, 2]") && e.contains("[?, 3, 224, 224]"), "{e}");
    let e = format!("{:#}", p.classify_encoded(b"\x89PNG garbage", 5).unwrap_err());
    assert!(e.contains("decoding image"), "{e}");
    assert_eq!(p.classify(&good, 64, 48, 5).unwrap().predictions, before);
}

#[test]
fn options_are_validated_by_name() {
    let m = fixture("zoo_vgg16").model;
    let opts: Options = serde_json::from_str(r#"{"labels": ["a", "b"]}"#).unwrap();
    let e = format!("{:#}", Pipeline::new(m, opts).unwrap_err());
    assert!(e.contains("2 names") && e.contains("1000 classes"), "{e}");
    let e = serde_json::from_str::<Options>(r#"{"preprocess": {"meen": [0, 0, 0]}}"#).unwrap_err().to_string();
    assert!(e.contains("meen"), "{e}");
    let e = serde_json::from_str::<Options>(r#"{"convolution": "fast"}"#).unwrap_err().to_string();
    assert!(e.contains("fast") && e.contains("winograd-f4") && e.contains("direct"), "{e}");
    let opts: Options = serde_json::from_str(r#"{"preprocess": {"channelOrder": "gray"}}"#).unwrap();
    let e = format!("{:#}", Pipeline::new(m, opts).unwrap_err());
    assert!(e.contains("3 channels") && e.contains("gives 1"), "{e}");
    let opts: Options = serde_json::from_str(r#"{"preprocess": {"preset": "caffe", "resize": 300}}"#).unwrap();
    let p = Pipeline::new(m, opts).unwrap();
    assert_eq!(p.spec().resize, Some(300));
    assert_eq!(p.spec().crop, Some([224, 224]));
}

#[test]
fn preprocessing_matches_torchvision_on_pil() {
    // photos shrunk and enlarged, landscape and portrait; ImageNet, Caffe, grayscale + pad
    for case in PREPROCESS_CASES {
        let model = if case.shape[0] == 1 { IDENTITY1 } else { IDENTITY3 };
        let opts: Options = serde_json::from_str(case.options).unwrap();
        let mut p = Pipeline::new(model, opts).unwrap();
        let img = image::load_from_memory(case.photo).unwrap().to_rgba8();
        let out = p.forward(img.as_raw(), img.width(), img.height()).unwrap_or_else(|e| panic!("{}: {e:#}", case.name));
        assert_eq!(out.shape[1..], case.shape, "{}", case.name);
        match compare_preprocessing(case, &out.data) {
            Ok(line) => println!("{line}"),
            Err(e) => panic!("{e}"),
        }
    }
    // a channels-last model asked for with `layout: "nhwc"` sees the same pixels
    let case = &PREPROCESS_CASES[0];
    let mut opts: serde_json::Value = serde_json::from_str(case.options).unwrap();
    opts["preprocess"]["layout"] = "nhwc".into();
    let mut p = Pipeline::new(IDENTITY3_NHWC, serde_json::from_value(opts).unwrap()).unwrap();
    let img = image::load_from_memory(case.photo).unwrap().to_rgba8();
    let out = p.forward(img.as_raw(), img.width(), img.height()).unwrap();
    println!("nhwc: {}", compare_preprocessing(case, &out.data).unwrap());
}

#[test]
fn layer_analysis_is_read_from_every_graph() {
    for fx in FIXTURES {
        let p = Pipeline::new(fx.model, Options::default()).unwrap();
        if fx.name.contains("dynamic") || fx.name.starts_with("vgg16_int8_ops") {
            // dynamic quantisation scales each layer by a product computed at run time, a
            // second branch into it; the contrib-operator fixture branches into a Concat
            let e = format!("{:#}", p.layers().unwrap_err());
            assert!(e.contains("branch"), "{}: {e}", fx.name);
            continue;
        }
        let layers = p.layers().unwrap_or_else(|e| panic!("{}: {e:#}", fx.name));
        let pool5 = layers.iter().find(|l| l.label == "pool5").unwrap_or_else(|| panic!("{}: no pool5", fx.name));
        let expected = if fx.name.contains("vgg19") { (268, 118) } else { (212, 90) };
        assert_eq!((pool5.rf[0], pool5.stride[0], pool5.padding[0]), (expected.0, 32, expected.1), "{}", fx.name);
        let last = layers.last().unwrap();
        let total: u64 = layers.iter().map(|l| l.params).sum();
        if let Some((twin, _)) = fx.name.split_once("_int8") {
            // int8 weights are not float initializers: the fp32 twin counts them
            assert_eq!(total, fixture(twin).params, "{}: parameters of its fp32 twin", fx.name);
            let dense: Vec<&str> =
                layers.iter().filter(|l| l.kind == LayerKind::Fc).map(|l| l.label.as_str()).collect();
            assert_eq!(dense, ["fc6", "fc7", "fc8"], "{}", fx.name);
        } else {
            assert_eq!(total, fx.params, "{}: parameters", fx.name);
        }
        println!(
            "{:24} {} layers, last {} {:?}, {total} parameters",
            fx.name,
            layers.len(),
            last.label,
            last.out_shape
        );
        if fx.name.starts_with("features") {
            assert_eq!(last.out_shape[0], fx.output_shape[1]);
        } else {
            assert_eq!(last.out_shape.last(), fx.output_shape.last(), "{}", fx.name);
        }
    }
}

#[test]
fn unit_fields_follow_the_last_input_size() {
    let fx = fixture("features_vgg16");
    let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
    p.forward(&gradient_rgba(100, 70), 100, 70).unwrap();
    assert_eq!(p.input_hw(), [70, 100]);
    let f = p.receptive_field("conv5_3", 0, 5).unwrap();
    // conv5_3: r 196, stride 16, padding 90; column 5 starts at 5 * 16 - 90 = -10
    assert_eq!((f.unclipped.top, f.unclipped.left, f.unclipped.right), (-90, -10, 185));
    let c = f.clipped.unwrap();
    assert_eq!((c.top, c.left, c.bottom, c.right), (0, 0, 69, 99));
    let e = format!("{:#}", p.receptive_field("conv5_3", 9, 0).unwrap_err());
    assert!(e.contains("y 9") && e.contains("4 x 6"), "{e}");
    let e = format!("{:#}", p.receptive_field("conv9_9", 0, 0).unwrap_err());
    assert!(e.contains("conv9_9"), "{e}");
}

#[test]
fn kept_activations_equal_onnxruntimes_intermediate_outputs() {
    // the layers kept as extra outputs must survive tract's optimiser unchanged
    let fx = fixture("zoo_vgg16");
    let opts = Options { activations: true, ..Default::default() };
    let mut p = Pipeline::new(fx.model, opts).unwrap();
    let out = p.forward_tensor(&f32s(fx.input), fx.input_shape).unwrap();
    assert!(rel_max_err(&out.data, &f32s(fx.output)) <= TOLERANCE, "the graph output is unchanged");
    for (name, reference) in ZOO_VGG16_ACTIVATIONS {
        let (_, data) = p.activation(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let err = rel_max_err(data, &f32s(reference));
        println!("{name:24} relative max error {err:.2e}");
        assert!(err <= TOLERANCE, "{name}: {err}");
    }
    // VGG labels name the same tensors: conv3_3 is read after its ReLU (vgg0_relu6_fwd)
    assert_eq!(p.activation("conv3_3").unwrap().1, p.activation("vgg0_relu6_fwd").unwrap().1);
}

/// Top-level keys of a serialised Rust value, as JS sees them.
fn keys<T: serde::Serialize>(v: &T) -> std::collections::BTreeSet<String> {
    match serde_json::to_value(v).unwrap() {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn the_typescript_interfaces_name_exactly_the_fields_rust_serialises() {
    let ts = ts_interfaces();
    let fx = fixture("zoo_vgg16");
    let mut p = Pipeline::new(fx.model, Options { activations: true, ..Default::default() }).unwrap();
    let c = p.classify(&gradient_rgba(300, 200), 300, 200, 3).unwrap();
    let field = p.receptive_field("conv5_3", 0, 0).unwrap();
    let stack = p.conv_stack().unwrap();
    let checks = [
        ("Prediction", keys(&c.predictions[0])),
        ("Timings", keys(&c.timings)),
        ("ModelInfo", keys(&p.info().unwrap())),
        ("LayerInfo", keys(&p.layers().unwrap()[0])),
        ("UnitField", keys(&field)),
        ("Box", keys(&field.unclipped)),
        ("NestedField", keys(&p.nested_fields("conv5_3", 0, 0).unwrap()[0])),
        ("Geometry", keys(&p.last_view().unwrap().geometry)),
        ("ConvStack", keys(&stack)),
        ("Stack", keys(stack.stack.as_ref().unwrap())),
    ];
    for (name, rust) in checks {
        let declared = ts.get(name).unwrap_or_else(|| panic!("no interface {name} in the TypeScript section"));
        assert_eq!(declared, &rust, "interface {name}: declared fields vs Rust's");
    }
}

#[path = "fuzz/targets.rs"]
mod fuzz_targets;

/// The fuzz targets (tests/fuzz/targets.rs, the code `./build.sh fuzz` runs) over their
/// corpus, natively and deterministically: the seeds `./build.sh fuzz` starts from and every
/// input kept in tests/fixtures/regressions. None may panic.
#[test]
fn fuzz_targets_answer_their_corpus_without_panicking() {
    let root = env!("CARGO_MANIFEST_DIR");
    let files = |dir: &str, keep: &dyn Fn(&str) -> bool| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(format!("{root}/{dir}"))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| keep(&p.file_name().unwrap().to_string_lossy()))
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        v.sort();
        v
    };
    let gen = "tests/fixtures/gen";
    let mut corpus: Vec<(&str, String, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, found: Vec<(String, Vec<u8>)>| {
        corpus.extend(found.into_iter().map(|(name, bytes)| (target, name, bytes)));
    };
    // the seeds, as build.sh's fuzz() copies them
    add(
        "load_model",
        files(gen, &|n| {
            (n.starts_with("bad_") || n.starts_with("identity") || n == "grad_vgg.onnx") && n.ends_with(".onnx")
        }),
    );
    add("decode_image", files("www/samples", &|n| n.starts_with("fashion-") && n.ends_with(".png")));
    add("decode_image", files(gen, &|n| n == "seed_small.jpg"));
    add("options", files("www/models", &|n| ["fashion-vgg.json", "vgg16-conv-base.json", "depth-A.json"].contains(&n)));
    add(
        "options",
        PREPROCESS_CASES.iter().map(|c| (format!("options of {}", c.name), c.options.as_bytes().to_vec())).collect(),
    );
    // the structure-aware target's seeds: one graph per op it draws from (byte 2 picks the op)
    add("load_graph", (0..13u8).map(|op| (format!("graph with op {op}"), vec![1, 0, op, 3, 200, 7, 1, 9])).collect());
    // every finding kept, named <target>-<what>.<ext>
    for target in fuzz_targets::TARGETS {
        let prefix = format!("{target}-");
        add(target, files("tests/fixtures/regressions", &|n| n.starts_with(&prefix)));
    }
    for target in fuzz_targets::TARGETS {
        let seeds = corpus.iter().filter(|(t, name, _)| t == target && !name.contains("/regressions/")).count();
        assert!(seeds > 0, "{target}: no seeds found");
    }
    let mut panicked = Vec::new();
    for (target, name, bytes) in &corpus {
        if std::panic::catch_unwind(|| fuzz_targets::run(target, bytes)).is_err() {
            panicked.push(format!("{target} on {name}"));
        }
    }
    println!("{} inputs replayed through {:?}", corpus.len(), fuzz_targets::TARGETS);
    assert!(panicked.is_empty(), "panicked: {panicked:#?}");
}

/// The structure-aware generator (tests/fuzz/targets.rs: small graphs of the ops that name
/// axes, with random axes, perms and slice bounds) run from a fixed seed: every graph loads
/// or is refused, none panics. It found the Squeeze crash (past-the-rank axes) within its
/// first hundred graphs before the loader checked axes (src/model/axes.rs).
#[test]
fn generated_graphs_with_random_axes_load_or_are_refused_without_panicking() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut byte = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    };
    let (mut loaded, mut refused, mut panicked) = (0, 0, Vec::new());
    for i in 0..600 {
        let data: Vec<u8> = (0..24).map(|_| byte()).collect();
        let model = fuzz_targets::graph_from_bytes(&data);
        match std::panic::catch_unwind(|| Pipeline::new(&model, Options::default()).map(|_| ())) {
            Ok(Ok(())) => loaded += 1,
            Ok(Err(_)) => refused += 1,
            Err(_) => panicked.push(format!("graph {i} from bytes {data:?}")),
        }
    }
    println!("generated graphs: {loaded} loaded, {refused} refused, {} panicked", panicked.len());
    assert!(panicked.is_empty(), "panicked: {panicked:#?}");
    // both kinds occur, or the generator explores nothing
    assert!(loaded > 50 && refused > 50, "{loaded} loaded, {refused} refused");
}

/// Inputs on which fuzzing (tests/fuzz, `./build.sh fuzz`) once crashed the crate, kept in
/// tests/fixtures/regressions as `<target>-<what>.<ext>`: each must now be an error.
#[test]
fn fuzzing_findings_are_errors_not_crashes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/regressions");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&f).unwrap();
        let e = match name.split('-').next().unwrap() {
            "load_model" => format!("{:#}", Pipeline::new(&bytes, Options::default()).unwrap_err()),
            "decode_image" => {
                let img = vgg_wasm::preprocess::decode_image(&bytes);
                let spec = vgg_wasm::preprocess::PreprocessSpec::imagenet_224();
                format!("{:#}", img.and_then(|i| vgg_wasm::preprocess::prepare(&i, &spec)).unwrap_err())
            }
            "options" => {
                let opts: Options = serde_json::from_slice(&bytes).unwrap();
                let mut p = Pipeline::new(IDENTITY3, opts).unwrap();
                format!("{:#}", p.forward(&gradient_rgba(37, 23), 37, 23).unwrap_err())
            }
            other => panic!("{name}: no fuzz target {other}"),
        };
        println!("{name}: {e}");
        // the error names what it refused, as the file's name does ("load_model-squeeze-…")
        let what = name.split('-').nth(1).unwrap();
        assert!(e.to_lowercase().contains(what), "{name}: the error does not name the {what}: {e}");
    }
}

#[test]
fn a_profiled_run_times_every_layer_and_leaves_the_model_as_it_was() {
    let fx = fixture("zoo_vgg16");
    let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
    let input = f32s(fx.input);
    let times = p.profile_tensor(&input, fx.input_shape).unwrap();
    for t in &times {
        assert!(t.ms.is_finite() && t.ms >= 0.0, "{t:?}");
    }
    // the layers took time: a clock that reads the same throughout would give 0
    assert!(times.iter().map(|t| t.ms).sum::<f64>() > 0.0, "{times:?}");
    // every convolution and dense layer of the graph is timed under its ONNX name
    for layer in p.layers().unwrap().iter().filter(|l| matches!(l.kind, LayerKind::Conv | LayerKind::Fc)) {
        assert!(
            times.iter().any(|t| t.node == layer.node || t.node.starts_with(&format!("{}.", layer.node))),
            "{} is not in the profile: {:?}",
            layer.node,
            times.iter().map(|t| &t.node).collect::<Vec<_>>()
        );
    }
    let out = p.forward_tensor(&input, fx.input_shape).unwrap();
    assert!(rel_max_err(&out.data, &f32s(fx.output)) <= TOLERANCE);
    assert!(p.profile_tensor(&input[1..], fx.input_shape).is_err());
}

/// Every int8 convolution of the zoo layouts (2D, stride 1, padding 1) and of the odd one
/// packs its patches with the crate's im2col wherever tract's int8 kernel reads them in the
/// layout it writes, and with tract's elsewhere. Which one this CPU gets is asked of tract's
/// own kernel choice. The crate's im2col runs on every machine all the same: in the relaxed
/// builds, whose int8 answers tests/e2e/threads.test.mjs compares with the SIMD128 build's
/// on every int8 fixture, and byte for byte against tract's in src/model/im2col.rs.
#[test]
fn int8_convolutions_pack_their_patches_with_the_crates_im2col_where_the_kernel_reads_its_layout() {
    let k4 = vgg_wasm::model::int8_patches_in_k4_panels();
    println!(
        "this CPU's int8 kernel {}",
        if k4 {
            "reads K4 panels: the crate's im2col runs"
        } else {
            "packs its own way: tract's im2col runs here (the crate's runs in the relaxed wasm builds)"
        }
    );
    let want = if k4 { (13, 0) } else { (0, 13) };
    for name in ["zoo_vgg16_int8_qdq", "zoo_vgg16_int8_qop", "zoo_vgg16_odd_int8_qdq"] {
        let fx = fixture(name);
        let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
        let times = p.profile_tensor(&f32s(fx.input), fx.input_shape).unwrap();
        let ops = |op: &str| times.iter().filter(|t| t.op == op).count();
        assert_eq!((ops("Im2colI8"), ops("Im2col")), want, "{name}");
    }
}

/// Every int8 kernel this machine can run (`int8_kernel_names`: tract's for this CPU),
/// forced in turn, gives every int8 fixture tract's default answer bit for bit: the integer
/// products are exact in any kernel, and each kernel runs the same epilogue (zero points,
/// requantisation) from tract's fused micro-ops. The plan is checked to run the forced kernel
/// and no other int8 one. tract's portable kernels run only where nothing else can: the
/// suite's second native pass (build.sh, `TRACT_CPU_ISA`) takes the CPU's features away.
#[test]
fn every_int8_kernel_this_cpu_runs_gives_the_same_answers() {
    use vgg_wasm::model::{force_int8_kernel, int8_kernel_names};
    let names = int8_kernel_names();
    println!("int8 kernels this CPU runs: {names:?}");
    if names.is_empty() {
        // (as under build.sh's TRACT_CPU_ISA pass without AVX: tract's portable kernel runs,
        // and every_fixture_matches_onnxruntime holds it to the references)
        println!("no int8 kernel of tract's for this CPU's features: nothing to force here");
    }
    #[cfg(target_arch = "x86_64")]
    if std::env::var_os("TRACT_CPU_ISA").is_none() && std::arch::is_x86_feature_detected!("avx2") {
        assert!(!names.is_empty(), "an AVX2 CPU has tract's AVX2 int8 kernel");
    }
    let e = force_int8_kernel(Some("no_such_kernel")).unwrap_err().to_string();
    assert!(e.contains("\"no_such_kernel\"") && names.iter().all(|n| e.contains(n)), "{e}");
    let int8 = FIXTURES.iter().filter(|f| f.name.contains("int8"));
    for fx in int8 {
        let input = f32s(fx.input);
        let run = |forced: Option<&str>| {
            force_int8_kernel(forced).unwrap();
            let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
            force_int8_kernel(None).unwrap();
            let kernels = p.info().unwrap().matmul_kernels;
            (p.forward_tensor(&input, fx.input_shape).unwrap().data, kernels)
        };
        let (auto, auto_kernels) = run(None);
        println!("{:32} tract's choice: {auto_kernels:?}", fx.name);
        for name in &names {
            let (out, kernels) = run(Some(name));
            // (tract's portable ones included: "generic_i32_*")
            let int8_kernels: Vec<_> =
                kernels.iter().filter(|k| names.contains(&k.as_str()) || k.contains("_i32_")).collect();
            assert_eq!(int8_kernels, [name], "{}: forced {name}, the plan runs {kernels:?}", fx.name);
            let differ = out.iter().zip(&auto).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            println!("{:32} {name:28} {differ} of {} outputs differ from {auto_kernels:?}", fx.name, out.len());
            assert_eq!(differ, 0, "{}: kernel {name} differs from tract's choice {auto_kernels:?}", fx.name);
        }
    }
}

/// Thread counts are checked; the threaded build's executor (natively, rayon's own pool)
/// gives the answers of one thread. One test: the thread count is global.
#[test]
fn threads_are_checked_and_give_the_answers_of_one_thread() {
    use vgg_wasm::model::{threads, use_threads, THREADED_BUILD};
    assert_eq!(threads(), 1);
    assert!(use_threads(0).is_err());
    if !THREADED_BUILD {
        // the default build runs on one thread and says so when asked for more
        let e = use_threads(2).unwrap_err().to_string();
        assert!(e.contains("one thread"), "{e}");
        assert_eq!(threads(), 1);
        return;
    }
    // (the int8 one: its patches packed on the threads too, src/model/im2col.rs)
    for name in ["zoo_vgg16", "keras_vgg16_nhwc", "torchvision_vgg16", "zoo_vgg16_odd_int8_qdq"] {
        let fx = fixture(name);
        let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
        let input = f32s(fx.input);
        use_threads(1).unwrap();
        let one = p.forward_tensor(&input, fx.input_shape).unwrap().data;
        use_threads(2).unwrap();
        assert_eq!(p.info().unwrap().threads, 2);
        let two = p.forward_tensor(&input, fx.input_shape).unwrap().data;
        use_threads(1).unwrap();
        let err = rel_max_err(&two, &one);
        println!("{name:24} 2 threads vs 1: relative max difference {err:.2e}");
        // int8: integer sums, the same on any number of threads
        let bound = if name.contains("int8") { 0.0 } else { 1e-5 };
        assert!(err <= bound, "{name}: 2 threads differ from 1 by {err}");
        assert!(rel_max_err(&two, &f32s(fx.output)) <= fx.tolerance, "{name}");
    }
}

#[test]
fn preprocessing_changed_after_load_equals_a_model_loaded_with_it() {
    use vgg_wasm::preprocess::SpecOptions;
    let fx = fixture("keras_vgg16_nhwc");
    // guessed at load: the graph's own scaling, resize 256 and crop 224
    let mut p = Pipeline::new(fx.model, Options::default()).unwrap();
    let rgba = gradient_rgba(300, 200);
    let _ = p.forward(&rgba, 300, 200).unwrap();
    let want: Options =
        serde_json::from_str(r#"{"preprocess": {"resize": 224, "scale": 0.5, "mean": [1, 2, 3], "std": [2, 2, 2]}}"#)
            .unwrap();
    let mut fresh = Pipeline::new(fx.model, want.clone()).unwrap();
    p.set_preprocess(want.preprocess.clone().unwrap()).unwrap();
    assert_eq!(p.info().unwrap().preprocess, fresh.info().unwrap().preprocess);
    assert!(p.last_view().is_err(), "the old run's view was made with the old preprocessing");
    assert_eq!(p.forward(&rgba, 300, 200).unwrap().data, fresh.forward(&rgba, 300, 200).unwrap().data);
    // a bad spec is refused by name and changes nothing
    let before = p.info().unwrap().preprocess;
    let bad: SpecOptions = serde_json::from_str(r#"{"crop": [100, 100]}"#).unwrap();
    let e = format!("{:#}", p.set_preprocess(bad).unwrap_err());
    assert!(e.contains("preprocess.crop [100, 100]") && e.contains("224x224"), "{e}");
    let nchw: SpecOptions = serde_json::from_str(r#"{"layout": "nchw"}"#).unwrap();
    let e = format!("{:#}", p.set_preprocess(nchw).unwrap_err());
    assert!(e.contains("preprocess.layout Nchw") && e.contains("load the model again"), "{e}");
    assert_eq!(p.info().unwrap().preprocess, before);
    assert_eq!(p.forward(&rgba, 300, 200).unwrap().data, fresh.forward(&rgba, 300, 200).unwrap().data);
}
