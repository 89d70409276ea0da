//! The JavaScript API: the only `#[wasm_bindgen]` items. Each method checks what JS hands
//! in, calls the plain Rust [`Pipeline`](crate::pipeline::Pipeline), and converts errors
//! once, into a JS `Error` whose message carries the whole cause chain. One file per concern:
//! `vgg` (loading and inference), `inspect` (layers, fields, activations, gradients),
//! `teacher` (teaching new classes), `visualize` (what a unit wants to see, and where it
//! fired most), `runtime` (threads, memory, int8 kernels), `args` (what
//! JS hands in, checked, and what goes back), `ts_types` (the TypeScript types of the
//! plain objects).

mod args;
mod inspect;
mod runtime;
mod teacher;
mod ts_types;
mod vgg;
mod visualize;

pub use runtime::*;
pub use teacher::Teacher;
pub use vgg::Vgg;
pub use visualize::Visualization;
