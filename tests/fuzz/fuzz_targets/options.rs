//! Any bytes as the JSON options of a model (a sidecar), then one image through the
//! preprocessing they describe, on a model that accepts any input size.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../targets.rs"]
mod targets;

fuzz_target!(|data: &[u8]| targets::options(data));
