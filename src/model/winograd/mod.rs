//! Winograd convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
//! CVPR 2016) for the 3×3, stride-1 convolutions that hold nearly all of VGG's work.
//!
//! F(m×m, 3×3) computes an m×m block of output from an (m+2)×(m+2) tile of input with
//! (m+2)² multiplications per input/output channel pair instead of 9m²: 2.25× fewer for
//! F(2×2), 4× fewer for F(4×4). Over all channels that is one matrix product per tile
//! position ("plane"): for each of the (m+2)² planes, M = U·V with U the transformed
//! weights [cout × cin] and V the transformed input [cin × tiles].
//!
//! [`rewrite`] replaces each eligible tract `Conv` of a decluttered model with three nodes:
//! [`WinogradInput`] (input tiles → V, written straight into the packed layout of tract's
//! matrix kernel), [`WinogradProduct`] (the planes' products U·V on tract's kernel, U packed
//! once at load by [`pack_weights`], after tract's optimisation, which frees the 3×3 weights)
//! and [`WinogradOutput`] (M → the output, adding the bias and applying the ReLU and 2×2 max
//! pooling that followed the convolution, where nothing else reads their inputs).
//!
//! The products are split over threads a plane at a time, each plane's product on one
//! thread: tract's own batched product (an `EinSum`, tried first) splits each plane's
//! small product over the threads instead, one dispatch per plane, and gained little from
//! a second thread (README, "Winograd").
//!
//! The transforms vectorise across four adjacent tiles of a tile row (`F4`: wasm's f32x4
//! where SIMD128 is on, four floats elsewhere, written the same way), and split over
//! tract's threads (the input transform by rows of tiles, the output by channels).
//!
//! One file per job: this one holds the load options and [`rewrite`]; `rewrite.rs` which
//! convolutions qualify and how their nodes are wired; `geometry.rs` the tile choice and the
//! shapes and packed layout of one convolution; `transforms.rs` the weight, input and output
//! transforms with their SIMD lanes; `threads.rs` how the work is split over tract's threads;
//! `input.rs`, `product.rs` and `output.rs` the three tract ops; `layer_errors.rs` the
//! per-layer accuracy check the tests run on real weights.

mod geometry;
mod input;
mod layer_errors;
mod output;
mod product;
mod rewrite;
mod threads;
mod transforms;

pub use geometry::{Geometry, Tile};
pub use input::WinogradInput;
pub use layer_errors::{layer_errors, LayerError};
pub use output::WinogradOutput;
pub use product::{pack_weights, WinogradProduct};
pub use transforms::transform_weights;

use rewrite::Plan;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::cnn::Conv;

/// Which algorithm the eligible convolutions run: the `convolution` load option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
pub enum Convolution {
    /// Winograd where the bench measured it faster, per layer ([`Tile::auto`]).
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// tract's own convolution everywhere.
    #[serde(rename = "direct")]
    Direct,
    /// F(2×2, 3×3) on every eligible convolution, whatever its size.
    #[serde(rename = "winograd-f2")]
    F2,
    /// F(4×4, 3×3) on every eligible convolution, whatever its size.
    #[serde(rename = "winograd-f4")]
    F4,
}

/// Which algorithm one convolution of the plan runs, for reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Choice {
    /// The ONNX node.
    pub node: String,
    /// "winograd F(4x4,3x3)", "winograd F(2x2,3x3)" or "direct".
    pub algorithm: &'static str,
}

/// Replaces the eligible convolutions of a decluttered model as `mode` says; returns the
/// algorithm of every convolution (Winograd or not), in graph order.
pub fn rewrite(model: &mut TypedModel, mode: Convolution) -> TractResult<Vec<Choice>> {
    let mut choices = vec![];
    for id in model.eval_order()? {
        let node = &model.nodes[id];
        let Some(conv) = node.op_as::<Conv>() else { continue };
        let name = node.name.clone();
        let plan = if mode == Convolution::Direct { None } else { Plan::for_conv(model, node, conv, mode)? };
        let Some(plan) = plan else {
            choices.push(Choice { node: name, algorithm: "direct" });
            continue;
        };
        choices.push(Choice { node: name, algorithm: plan.tile.label() });
        plan.apply(model, id)?;
    }
    model.compact()?;
    Ok(choices)
}
