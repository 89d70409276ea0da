//! The accuracy check on real weights (tests/bundled.rs, through
//! `model::winograd_layer_errors`): each eligible convolution computed again by Winograd from
//! the direct run's input, its product done plainly by ndarray, against tract's output.

use super::rewrite::Plan;
use super::{transform_weights, Convolution, Tile, WinogradInput, WinogradOutput};
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::cnn::Conv;

impl Plan {
    /// The convolution of `x` ([1, cin, h, w]) computed by this plan's transforms, the
    /// product done by ndarray (for checks: the plan's own product is tract's kernel's),
    /// without the folded ReLU.
    fn run(&self, x: &[f32]) -> TractResult<Vec<f32>> {
        let g = &self.geometry;
        let (planes, nt) = (g.planes(), g.n_tiles());
        // V as the product reads it, then each plane read back out of its panels
        let mut packed = vec![0f32; planes * g.plane_len()];
        WinogradInput { g: g.clone() }.run(x, &mut packed)?;
        let u = transform_weights(self.tile, self.kernel.try_as_plain_ram()?.as_slice::<f32>()?, g.cout, g.cin);
        let mut m = tract_ndarray::Array3::<f32>::zeros([planes, g.cout, nt]);
        for p in 0..planes {
            let vp = tract_ndarray::Array2::from_shape_fn([g.cin, nt], |(c, t)| packed[g.packed_at(p, c, t)]);
            let up = tract_ndarray::ArrayView2::from_shape(
                [g.cout, g.cin],
                &u[p * g.cout * g.cin..(p + 1) * g.cout * g.cin],
            )?;
            m.index_axis_mut(tract_ndarray::Axis(0), p).assign(&up.dot(&vp));
        }
        let mut y = vec![0f32; g.cout * g.out[0] * g.out[1]];
        let out = WinogradOutput { g: g.clone(), bias: self.bias.clone(), relu: false, pool: false };
        out.run(m.as_slice().context("a standard layout")?, &mut y)?;
        Ok(y)
    }
}

/// How far one convolution computed by Winograd is from tract's direct convolution.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerError {
    /// The ONNX node.
    pub node: String,
    pub algorithm: &'static str,
    /// The largest difference from the direct output, relative to its largest magnitude.
    pub max_rel_error: f32,
}

/// Runs a decluttered model on `input` with tract's direct convolutions and computes each
/// eligible convolution again with `tile` from the same input: per layer, how far the two
/// differ. Each layer starts from the direct run's activations, so errors do not add up
/// from layer to layer: this is each layer's own error.
pub fn layer_errors(model: TypedModel, input: TValue, tile: Tile) -> TractResult<Vec<LayerError>> {
    let mode = match tile {
        Tile::F2 => Convolution::F2,
        Tile::F4 => Convolution::F4,
    };
    let plan = TypedSimplePlan::new(model)?;
    let model = plan.model();
    let mut state = TypedSimpleState::new(&plan)?;
    let mut errors = vec![];
    state.run_plan_with_eval(tvec!(input), |ctx, op_state, node, inputs| {
        let x = inputs.first().cloned();
        let direct = tract_onnx::tract_hir::tract_core::plan::eval(ctx, op_state, node, inputs)?;
        let ours = match (node.op_as::<Conv>(), x) {
            (Some(conv), Some(x)) => match Plan::for_conv(model, node, conv, mode)? {
                Some(p) => Some(p.run(x.try_as_plain_ram()?.as_slice::<f32>()?)?),
                None => None,
            },
            _ => None,
        };
        if let Some(ours) = ours {
            let want = direct[0].try_as_plain_ram()?.as_slice::<f32>()?;
            ensure!(want.len() == ours.len(), "{}: {} values, Winograd gave {}", node.name, want.len(), ours.len());
            let scale = want.iter().fold(0f32, |a, b| a.max(b.abs()));
            let err = want.iter().zip(&ours).fold(0f32, |a, (w, o)| a.max((w - o).abs()));
            errors.push(LayerError { node: node.name.clone(), algorithm: tile.label(), max_rel_error: err / scale });
        }
        Ok(direct)
    })?;
    Ok(errors)
}
