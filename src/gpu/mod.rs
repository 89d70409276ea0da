//! WebGPU inference (feature `webgpu`): the only module that touches wgpu. A [`Gpu`] is an
//! adapter's device; an [`Engine`] is a lowered model ([`plan::Plan`]) uploaded to it, with
//! one compute pipeline per kernel kind (WGSL beside this file). Weights are uploaded once;
//! activations stay on the GPU from layer to layer, in buffers kept for the last input size;
//! only the output is read back. In the browser this is WebGPU; natively it is Vulkan, for the
//! tests on Mesa's software rasteriser (lavapipe).
//!
//! One file per concern: `device.rs` acquires the adapter and its device ([`Gpu`]) and
//! wraps its buffers and error scopes; `engine.rs` uploads a plan's weights, builds the
//! pipelines and runs the model ([`Engine`]); `buffers.rs` sets up the activation buffers,
//! bindings and dispatches for one input size; `plan.rs` is what the GPU runs, as plain data.

mod buffers;
mod device;
mod engine;
pub mod plan;

pub use device::{Gpu, Scope};
pub use engine::Engine;
