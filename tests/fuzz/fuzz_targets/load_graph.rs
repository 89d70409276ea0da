//! Any bytes as the choices of a small ONNX graph of ops that name axes (a structure-aware
//! generator, tests/fuzz/targets.rs): loading it must answer Ok or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../targets.rs"]
mod targets;

fuzz_target!(|data: &[u8]| targets::run("load_graph", data));
