//! Any bytes as an image file (PNG, JPEG, or neither), decoded and prepared for a 224x224
//! ImageNet model, as `classifyImage` does before inference.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../targets.rs"]
mod targets;

fuzz_target!(|data: &[u8]| targets::decode_image(data));
