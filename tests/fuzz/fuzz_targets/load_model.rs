//! Any bytes as a model: loading must answer Ok or an error, never panic or abort.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vgg_wasm::pipeline::{Options, Pipeline};

fuzz_target!(|data: &[u8]| {
    let _ = Pipeline::new(data, Options::default());
});
