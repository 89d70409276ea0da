//! Any bytes as an image file (PNG, JPEG, or neither), decoded and prepared for a 224x224
//! ImageNet model, as `classifyImage` does before inference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vgg_wasm::preprocess::{decode_image, prepare, PreprocessSpec};

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = decode_image(data) {
        let _ = prepare(&img, &PreprocessSpec::imagenet_224());
    }
});
