//! The fuzz targets' bodies, shared by cargo-fuzz (`fuzz_targets/*.rs`, `./build.sh fuzz`)
//! and the native replay of their corpus in `./build.sh test` (tests/native.rs), so that
//! both run exactly the same code on an input. Each must answer (Ok or an error) and never
//! panic or abort, whatever the bytes.
#![allow(dead_code)]

use vgg_wasm::pipeline::{Options, Pipeline};
use vgg_wasm::preprocess::{decode_image as decode, prepare, PreprocessSpec};

/// Names of the targets, as cargo-fuzz and tests/fixtures/regressions name them.
pub const TARGETS: &[&str] = &["load_model", "decode_image", "options"];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "load_model" => load_model(data),
        "decode_image" => decode_image(data),
        "options" => options(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// Any bytes as a model: loading must answer Ok or an error.
pub fn load_model(data: &[u8]) {
    let _ = Pipeline::new(data, Options::default());
}

/// Any bytes as an image file (PNG, JPEG, or neither), decoded and prepared for a 224x224
/// ImageNet model, as `classifyImage` does before inference.
pub fn decode_image(data: &[u8]) {
    if let Ok(img) = decode(data) {
        let _ = prepare(&img, &PreprocessSpec::imagenet_224());
    }
}

/// A 1x1 identity convolution over 3 channels at any size (tests/fixtures/gen).
const IDENTITY3: &[u8] = include_bytes!("../fixtures/gen/identity3.onnx");
const IDENTITY1: &[u8] = include_bytes!("../fixtures/gen/identity1.onnx");

/// Above this many resized pixels an input is not run through the resize (see below).
const MAX_FUZZED_PIXELS: u64 = 8_000_000;

/// Any bytes as the JSON options of a model (a sidecar), then one image through the
/// preprocessing they describe, on a model that accepts any input size.
pub fn options(data: &[u8]) {
    let Ok(options) = serde_json::from_slice::<Options>(data) else { return };
    let grey = options.preprocess.as_ref().and_then(|p| p.channel_order).map(|c| c.channels()) == Some(1);
    let Ok(mut p) = Pipeline::new(if grey { IDENTITY1 } else { IDENTITY3 }, options) else { return };
    // Resizes to tens of megapixels are legal (up to 100 MP) but take longer than the fuzzer's
    // 20 s timeout under its instrumentation: a slow input, not a hang. Their size checks
    // run; the resize itself is left to tests/native.rs.
    let [w, h] = p.spec().resized_wh(37, 23);
    if w as u64 * h as u64 > MAX_FUZZED_PIXELS {
        return;
    }
    // a 37x23 gradient: odd sizes, so crops and resizes round
    let rgba: Vec<u8> = (0..37 * 23).flat_map(|i| [(i % 37 * 7) as u8, (i / 37 * 11) as u8, (i % 256) as u8, 255]).collect();
    let _ = p.forward(&rgba, 37, 23);
}
