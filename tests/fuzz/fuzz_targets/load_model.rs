//! Any bytes as a model: loading must answer Ok or an error, never panic or abort.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../targets.rs"]
mod targets;

fuzz_target!(|data: &[u8]| targets::load_model(data));
