//! Teaching new classes on the bundled VGG16 conv base (real ImageNet weights), natively:
//! VGG features against raw pixels on Fashion-MNIST, determinism, the exported ONNX against
//! onnxruntime, and the errors. `./build.sh test` makes the base and the Python venv first.
//!
//! The README's table comes from the ignored test `fashion_mnist_table` (minutes at 224 px):
//! `cargo test --release --test teach -- --ignored --nocapture fashion_mnist_table`.

mod common;

use common::{fashion_test_images, fashion_test_labels};
use std::path::{Path, PathBuf};
use vgg_wasm::pipeline::{Options, Pipeline};
use vgg_wasm::teach::{Examples, Method, Teacher, TeacherOptions, TrainOptions};

const FASHION: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e} (./build.sh models makes it)"))
}

const BASE: &str = ".cache/models/vgg16-conv-base.onnx";

fn base() -> Pipeline {
    let options: Options = serde_json::from_slice(&read("www/models/vgg16-conv-base.json")).unwrap();
    Pipeline::new(read(BASE), options).unwrap()
}

/// A grey 28x28 Fashion-MNIST image as the RGBA a canvas holds.
fn rgba(img: &[u8]) -> image::RgbaImage {
    image::RgbaImage::from_raw(28, 28, img.iter().flat_map(|&v| [v, v, v, 255]).collect()).unwrap()
}

/// The split: in test-set order, per class, a pool of the first `pool` images (training
/// sets of k are drawn from it by seed) and the next `held` images, held out.
struct Split {
    pool: Vec<Vec<usize>>,
    held: Vec<usize>,
    labels: Vec<u8>,
    images: Vec<Vec<u8>>,
}

fn split(pool: usize, held: usize) -> Split {
    let (images, labels) = (fashion_test_images(10_000), fashion_test_labels(10_000));
    let mut per_class = vec![Vec::new(); 10];
    for (i, &l) in labels.iter().enumerate() {
        per_class[l as usize].push(i);
    }
    let held_idx = per_class.iter().flat_map(|c| c[pool..pool + held].to_vec()).collect();
    let pool_idx = per_class.iter().map(|c| c[..pool].to_vec()).collect();
    Split { pool: pool_idx, held: held_idx, labels, images }
}

/// The first `k` of each class's pool after a shuffle seeded by `seed` (seed 0: no shuffle).
fn draw(s: &Split, k: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    s.pool
        .iter()
        .flat_map(|c| {
            let mut c = c.clone();
            if seed != 0 {
                for i in (1..c.len()).rev() {
                    c.swap(i, next() % (i + 1));
                }
            }
            c.into_iter().take(k).collect::<Vec<_>>()
        })
        .collect()
}

/// Held-out accuracy of a classifier trained on `train`'s descriptors.
fn accuracy(desc: &dyn Fn(usize) -> Vec<f32>, s: &Split, train: &[usize], method: Method) -> f32 {
    let mut ex = Examples::default();
    for &i in train {
        ex.add(FASHION[s.labels[i] as usize], vec![desc(i)]).unwrap();
    }
    let (model, _) = ex.train(&TrainOptions { method, holdout: 0.0, ..Default::default() }).unwrap();
    let right =
        s.held.iter().filter(|&&i| model.predict(&desc(i), 1)[0].label == FASHION[s.labels[i] as usize]).count();
    right as f32 / s.held.len() as f32
}

/// VGG16 descriptors of every image in `idx` at `side` px, by image index.
fn describe_all(
    p: &mut Pipeline,
    s: &Split,
    idx: impl Iterator<Item = usize>,
    side: u32,
) -> (std::collections::HashMap<usize, Vec<f32>>, f64) {
    let (mut out, mut ms) = (std::collections::HashMap::new(), 0.0);
    for i in idx {
        let (d, _, t) = vgg_wasm::teach::pooled_features(p, &rgba(&s.images[i]), side, &[]).unwrap();
        ms += t.preprocess_ms + t.inference_ms;
        out.insert(i, d);
    }
    let n = out.len().max(1) as f64;
    (out, ms / n)
}

fn pixels(s: &Split, i: usize) -> Vec<f32> {
    s.images[i].iter().map(|&v| v as f32 / 255.0).collect()
}

/// The baseline: the nearest class mean on raw pixels (0-1), by Euclidean distance, with no
/// standardisation (which would blow up the near-constant border pixels).
fn pixel_nearest_mean(s: &Split, train: &[usize]) -> f32 {
    let mut means = vec![vec![0f32; 28 * 28]; 10];
    let mut n = [0f32; 10];
    for &i in train {
        let c = s.labels[i] as usize;
        n[c] += 1.0;
        means[c].iter_mut().zip(pixels(s, i)).for_each(|(m, v)| *m += v);
    }
    means.iter_mut().zip(n).for_each(|(m, n)| m.iter_mut().for_each(|v| *v /= n));
    let right = s.held.iter().filter(|&&i| {
        let x = pixels(s, i);
        let d: Vec<f32> = means.iter().map(|m| m.iter().zip(&x).map(|(a, b)| (a - b) * (a - b)).sum()).collect();
        (0..10).fold(0, |best, c| if d[c] < d[best] { c } else { best }) == s.labels[i] as usize
    });
    right.count() as f32 / s.held.len() as f32
}

#[test]
fn vgg16_features_beat_raw_pixels_on_fashion_mnist() {
    // k = 20 per class, 10 held out per class, at 112 px: ImageNet features help on these
    // small grey images only near the base's own input size and with some examples (at 64
    // px and k = 5 raw pixels do as well: ../README.md's table)
    let s = split(20, 10);
    let mut p = base();
    let train = draw(&s, 20, 0);
    let (desc, _) = describe_all(&mut p, &s, train.iter().copied().chain(s.held.iter().copied()), 112);
    let vgg = |i: usize| desc[&i].clone();
    let (a, b, c) = (
        accuracy(&vgg, &s, &train, Method::Softmax),
        accuracy(&vgg, &s, &train, Method::NearestMean),
        pixel_nearest_mean(&s, &train),
    );
    println!("k=20, 100 held out, 112 px: VGG16 softmax {a:.3}, VGG16 nearest mean {b:.3}, pixels nearest mean {c:.3}");
    // floors a few images under what was measured here (softmax 0.76, nearest mean 0.76,
    // pixels 0.73): the descriptors differ in their last bits between CPUs, an answer or two
    // may flip, a broken classifier falls far below
    assert!(a >= 0.72, "VGG16 features + softmax: held-out accuracy {a} < 0.72");
    assert!(b >= 0.72, "VGG16 features + nearest mean: held-out accuracy {b} < 0.72");
    assert!(a > c, "VGG16 features + softmax ({a}) must beat nearest mean on raw pixels ({c})");
    assert!(b >= c, "VGG16 features + nearest mean ({b}) must not fall below it on raw pixels ({c})");
}

#[test]
#[ignore = "minutes: checks the README's table (run in release)"]
fn fashion_mnist_table() {
    let side = std::env::var("SIDE").ok().and_then(|v| v.parse().ok()).unwrap_or(224);
    let s = split(40, 50);
    let mut p = base();
    let all: Vec<usize> = s.pool.iter().flatten().copied().chain(s.held.iter().copied()).collect();
    let (desc, ms) = describe_all(&mut p, &s, all.into_iter(), side);
    println!("{side} px: {ms:.0} ms per descriptor (native, {} thread(s))", vgg_wasm::model::threads());
    let vgg = |i: usize| desc[&i].clone();
    // the README's table, which this test printed: at 224 px each row must come out the same
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let quoted: Vec<String> = readme
        .lines()
        .filter(|l| l.starts_with("| 5 |") || l.starts_with("| 10 |") || l.starts_with("| 20 |"))
        .map(String::from)
        .collect();
    assert_eq!(quoted.len(), 9, "the README's few-shot table has 9 rows");
    println!("| k | seed | VGG16 + softmax | VGG16 + nearest mean | pixels + nearest mean |");
    let mut rows = Vec::new();
    for k in [5, 10, 20] {
        for seed in [1, 2, 3] {
            let train = draw(&s, k, seed);
            let r = [
                accuracy(&vgg, &s, &train, Method::Softmax),
                accuracy(&vgg, &s, &train, Method::NearestMean),
                pixel_nearest_mean(&s, &train),
            ];
            let row = format!("| {k} | {seed} | {:.1}% | {:.1}% | {:.1}% |", r[0] * 100.0, r[1] * 100.0, r[2] * 100.0);
            println!("{row}");
            // what the README says of it: ImageNet features beat raw pixels at every k here
            assert!(r[0] > r[2] && r[1] > r[2], "k = {k}, seed {seed}: VGG16 features do not beat pixels: {row}");
            rows.push(row);
        }
    }
    if side == 224 {
        assert_eq!(rows, quoted, "the README's few-shot table differs from what this test measures");
    }
}

/// Three images of each of two classes: sneakers and trousers from Fashion-MNIST.
fn two_classes() -> Vec<(&'static str, image::RgbaImage)> {
    let s = split(3, 0);
    [7usize, 1]
        .iter()
        .flat_map(|&c| s.pool[c].iter().map(move |&i| (FASHION[c], i)).collect::<Vec<_>>())
        .map(|(name, i)| (name, rgba(&s.images[i])))
        .collect()
}

#[test]
fn the_same_examples_train_the_same_weights_and_export_answers_alike() {
    let mut p = base();
    let mut t = Teacher::new(&p, TeacherOptions { side: Some(64), flip: true, scales: vec![] }).unwrap();
    for (name, img) in two_classes() {
        t.add(&mut p, name, &img).unwrap();
    }
    assert_eq!(t.examples().counts(), vec![3, 3]);
    let report = t.train(&TrainOptions::default()).unwrap();
    assert_eq!(report.examples, 12, "three images and their mirrors per class");
    assert!(report.held_out.is_none(), "fewer than 5 images per class: nothing held out");
    // determinism: a second teacher fed the same images trains to the same bytes
    let mut t2 = Teacher::new(&p, TeacherOptions { side: Some(64), flip: true, scales: vec![] }).unwrap();
    for (name, img) in two_classes() {
        t2.add(&mut p, name, &img).unwrap();
    }
    t2.train(&TrainOptions::default()).unwrap();
    let onnx = t.export(&mut p, &read(BASE)).unwrap();
    assert_eq!(onnx, t2.export(&mut p, &read(BASE)).unwrap(), "the same examples export the same file");

    // the exported file loads with its sidecar, names its classes, and answers as the teacher
    let sidecar: Options = serde_json::from_value(t.sidecar(&p).unwrap()).unwrap();
    let mut back = Pipeline::new(onnx.clone(), sidecar).unwrap();
    for (name, img) in two_classes() {
        let want = t.classify(&mut p, &img, 2).unwrap().predictions;
        let got = back.classify(img.as_raw(), 28, 28, 2).unwrap().predictions;
        assert_eq!(got[0].label, name);
        assert_eq!(want[0].label, name);
        assert!((got[0].probability - want[0].probability).abs() < 1e-4, "{got:?} vs {want:?}");
    }
    // without the sidecar the class names and the preprocessing come from the file's
    // metadata: the same answers, to the bit, and `detected` says where they came from
    let mut bare = Pipeline::new(onnx.clone(), Options::default()).unwrap();
    let info = bare.info().unwrap();
    assert!(matches!(info.head, vgg_wasm::pipeline::Head::Classifier { classes: 2, softmax_in_graph: true }));
    assert!(info.detected[0].contains("the model's metadata (\"preprocess\")"), "{:?}", info.detected);
    for (_, img) in two_classes() {
        let got = bare.classify(img.as_raw(), 28, 28, 2).unwrap().predictions;
        let want = back.classify(img.as_raw(), 28, 28, 2).unwrap().predictions;
        assert_eq!(got, want);
    }
    // another tool's "preprocess" that is not a spec is passed over, and said so
    let mut proto = <tract_onnx::pb::ModelProto as prost::Message>::decode(onnx.as_slice()).unwrap();
    proto.metadata_props.iter_mut().find(|m| m.key == "preprocess").unwrap().value = r#"{"mean": "grey"}"#.into();
    let other = Pipeline::new(prost::Message::encode_to_vec(&proto), Options::default()).unwrap();
    let said = &other.info().unwrap().detected[0];
    assert!(said.contains("is not a preprocessing spec") && said.contains("mean"), "{said}");
    // options still win over the file
    let caffe: Options =
        serde_json::from_str(r#"{"preprocess": {"preset": "caffe", "resize": 64, "crop": [64, 64]}}"#).unwrap();
    let told = Pipeline::new(onnx.clone(), caffe).unwrap();
    assert!(told.info().unwrap().detected.iter().all(|d| !d.contains("metadata")));

    // onnxruntime on the same input tensor agrees within 1e-4
    agrees_with_onnxruntime(&mut back, &onnx, "taught");
}

/// Runs `onnx` on the first example's input tensor with onnxruntime (the venv's Python) and
/// checks its output against the crate's `back` (the same file loaded) within 1e-4.
fn agrees_with_onnxruntime(back: &mut Pipeline, onnx: &[u8], name: &str) {
    let dir = path("target/teach");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = back.spec().clone();
    let prepared = vgg_wasm::preprocess::prepare(&two_classes()[0].1, &spec).unwrap();
    let ours = back.forward_tensor(&prepared.tensor, &prepared.shape).unwrap();
    let (model, input) = (dir.join(format!("{name}.onnx")), dir.join(format!("{name}.input.bin")));
    std::fs::write(&model, onnx).unwrap();
    std::fs::write(&input, prepared.tensor.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()).unwrap();
    let python = path(".venv/bin/python");
    let script = "import sys, numpy as np, onnxruntime as ort\n\
        s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n\
        i = s.get_inputs()[0]\n\
        x = np.fromfile(sys.argv[2], dtype='<f4').reshape(i.shape)\n\
        sys.stdout.write(' '.join(repr(float(v)) for v in s.run(None, {i.name: x})[0].ravel()))";
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&model)
        .arg(&input)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (./build.sh test makes the venv with onnxruntime)", python.display()));
    assert!(out.status.success(), "onnxruntime: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<f32> = String::from_utf8(out.stdout).unwrap().split(' ').map(|v| v.parse().unwrap()).collect();
    assert_eq!(theirs.len(), ours.data.len());
    for (a, b) in ours.data.iter().zip(&theirs) {
        assert!((a - b).abs() <= 1e-4, "{name}: crate {:?} vs onnxruntime {theirs:?}", ours.data);
    }
    println!("{name}: crate {:?}, onnxruntime {theirs:?}", ours.data);
}

#[test]
fn several_scales_are_averaged_and_exported_with_resize() {
    let mut p = base();
    let options = || TeacherOptions { side: Some(64), flip: false, scales: vec![96, 48] };
    let mut t = Teacher::new(&p, options()).unwrap();
    for (name, img) in two_classes() {
        t.add(&mut p, name, &img).unwrap();
    }
    // the descriptor is the mean of the three sizes' descriptors
    let img = &two_classes()[0].1;
    let (d, hws, _) = vgg_wasm::teach::pooled_features(&mut p, img, 64, &[96, 48]).unwrap();
    assert_eq!(hws, vec![[2, 2], [3, 3], [1, 1]]);
    let mut one = |s: u32| {
        let spec =
            vgg_wasm::preprocess::PreprocessSpec { resize: Some(64), crop: Some([64, 64]), pad: 0, ..p.spec().clone() };
        let x = vgg_wasm::preprocess::prepare(img, &spec).unwrap();
        let (x, shape) =
            vgg_wasm::preprocess::resize_tensor(&x.tensor, &x.shape, spec.layout, [s as usize; 2]).unwrap();
        let out = p.forward_tensor(&x, &shape).unwrap();
        let n = out.shape[2] * out.shape[3];
        out.data.chunks(n).map(|m| m.iter().sum::<f32>() / n as f32).collect::<Vec<f32>>()
    };
    let (a, b, c) = (one(64), one(96), one(48));
    for i in 0..d.len() {
        let want = (a[i] + b[i] + c[i]) / 3.0;
        assert!((d[i] - want).abs() <= 1e-4 * want.abs().max(1.0), "channel {i}: {} vs {want}", d[i]);
    }
    t.train(&TrainOptions::default()).unwrap();
    let onnx = t.export(&mut p, &read(BASE)).unwrap();
    let sidecar: Options = serde_json::from_value(t.sidecar(&p).unwrap()).unwrap();
    // the graph branches (one base per size), so it loads without kept activations
    let mut back = Pipeline::new(onnx.clone(), sidecar).unwrap();
    for (name, img) in two_classes() {
        let want = t.classify(&mut p, &img, 1).unwrap().predictions;
        let got = back.classify(img.as_raw(), 28, 28, 1).unwrap().predictions;
        assert_eq!((got[0].label.as_str(), want[0].label.as_str()), (name, name));
        assert!((got[0].probability - want[0].probability).abs() < 1e-4, "{got:?} vs {want:?}");
    }
    agrees_with_onnxruntime(&mut back, &onnx, "taught-3-scales");
    let e = Teacher::new(&p, TeacherOptions { side: Some(64), flip: false, scales: vec![96, 96] }).unwrap_err();
    assert!(format!("{e:#}").contains("scales[1] (96) repeats"), "{e:#}");
}

#[test]
fn bad_input_is_refused_by_name() {
    let mut p = base();
    let mut t = Teacher::new(&p, TeacherOptions { side: Some(32), flip: false, scales: vec![] }).unwrap();
    let msg = |e: anyhow::Error| format!("{e:#}");
    assert!(msg(t.train(&TrainOptions::default()).unwrap_err()).contains("no classes"));
    let img = &two_classes()[0].1;
    t.add(&mut p, "boots", img).unwrap();
    assert!(msg(t.train(&TrainOptions::default()).unwrap_err()).contains("only one class (\"boots\")"));
    t.add_class("sandals").unwrap();
    assert!(msg(t.train(&TrainOptions::default()).unwrap_err()).contains("class \"sandals\" has no examples"));
    assert!(msg(t.add(&mut p, " ", img).unwrap_err()).contains("class name must not be empty"));
    assert!(msg(t.add_features("sandals", &[1.0; 5]).unwrap_err())
        .contains("features has 5 numbers: expected a multiple of the base's 512"));
    assert!(msg(t.classify(&mut p, img, 1).unwrap_err()).contains("nothing trained yet"));
    assert!(msg(t.export(&mut p, &read(BASE)).unwrap_err()).contains("nothing trained yet"));
    t.add(&mut p, "sandals", img).unwrap();
    t.train(&TrainOptions::default()).unwrap();
    // another model's bytes are not this base
    let other = read("www/models/fashion-vgg.onnx");
    assert!(msg(t.export(&mut p, &other).unwrap_err()).contains("these bytes are not the loaded base"));
    // a classifier is no base
    let fashion = Pipeline::new(other, serde_json::from_slice(&read("www/models/fashion-vgg.json")).unwrap()).unwrap();
    assert!(msg(Teacher::new(&fashion, TeacherOptions::default()).unwrap_err())
        .contains("teaching needs a convolutional base"));
    assert!(msg(Teacher::new(&p, TeacherOptions { side: Some(8), flip: false, scales: vec![] }).unwrap_err())
        .contains("side must be 32 to 1024"));
}
