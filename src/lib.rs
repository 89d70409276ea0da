//! vgg-wasm: VGG networks from ONNX, run with tract, for the browser.
//!
//! Module map: `model` (the only user of tract; `model::graph` reads the ONNX graph),
//! `preprocess` (pixels to tensor), `predictions` (softmax, top-k), `labels`,
//! `receptive_field` (geometry of the layer chain), `teach` (new classes on a frozen base), `gradients` (backward pass), `inspect`
//! (the last run: view, activations, fields, gradients), `pipeline` (the whole path in
//! plain Rust), `bindings` (the JS API), `clock` (timings on wasm and native); with the
//! `webgpu` feature, `gpu` (the only user of wgpu: kernels and their plan).

pub mod bindings;
mod clock;
#[cfg(feature = "webgpu")]
pub mod gpu;
pub mod gradients;
pub mod inspect;
pub mod labels;
pub mod model;
pub mod pipeline;
pub mod predictions;
pub mod preprocess;
pub mod receptive_field;
mod rng;
pub mod teach;
pub mod visualize;

use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated: Rust panics go to `console.error` with a message
/// instead of a bare `RuntimeError: unreachable`.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}
