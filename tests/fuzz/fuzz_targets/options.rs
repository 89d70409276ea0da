//! Any bytes as the JSON options of a model (a sidecar), then one image through the
//! preprocessing they describe, on a model that accepts any input size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vgg_wasm::pipeline::{Options, Pipeline};

/// A 1x1 identity convolution over 3 channels at any size (tests/fixtures/gen).
const IDENTITY3: &[u8] = include_bytes!("../../fixtures/gen/identity3.onnx");
const IDENTITY1: &[u8] = include_bytes!("../../fixtures/gen/identity1.onnx");

/// Above this many resized pixels an input is not run through the resize (see below).
const MAX_FUZZED_PIXELS: u64 = 8_000_000;

fuzz_target!(|data: &[u8]| {
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
});
