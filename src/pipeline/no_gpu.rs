//! Without the `webgpu` feature: the CPU is the only backend, and `gpu.rs`'s functions say so.

use super::{Backend, BackendChoice, Options, Output, Pipeline};
use crate::model::Model;
use anyhow::Result;

/// Nothing: there is no GPU model.
pub(super) type Slot = ();

/// The pipeline on the CPU, with the reason.
pub(super) async fn attach(
    bytes: Vec<u8>,
    options: Options,
    _: BackendChoice,
) -> Result<std::result::Result<(Pipeline, Backend), (Pipeline, String)>> {
    let p = Pipeline::build(bytes.into(), options, &mut Model::load)?;
    Ok(Err((p, "this build of vgg-wasm has no WebGPU (compiled without the `webgpu` feature)".into())))
}

pub(super) fn working_adapter(p: &Pipeline) -> Option<String> {
    let () = p.gpu;
    None
}

pub(super) async fn run_unkept(_: &std::cell::RefCell<Pipeline>, _: &[f32], _: &[usize]) -> Result<Option<Output>> {
    Ok(None)
}
