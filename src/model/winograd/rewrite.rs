//! Which convolutions of a decluttered model qualify for Winograd ([`Plan::for_conv`]), with
//! the ReLU and 2×2 max pooling that follow them, and how the three Winograd nodes replace
//! them ([`Plan::apply`]).

use super::{Convolution, Geometry, Tile, WinogradInput, WinogradOutput, WinogradProduct};
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_hir::tract_core::ops::cnn::{Conv, KernelFormat, MaxPool, PaddingSpec};

/// One convolution's Winograd form, before it is wired.
pub(super) struct Plan {
    pub(super) tile: Tile,
    pub(super) geometry: Geometry,
    /// The 3×3 weights, [cout, cin, 3, 3].
    pub(super) kernel: Arc<Tensor>,
    pub(super) bias: Vec<f32>,
    /// The ReLU node that follows and is folded into the output transform.
    pub(super) relu: Option<usize>,
    /// The 2×2, stride-2 max pooling after that ReLU, folded in too.
    pub(super) pool: Option<usize>,
}

impl Plan {
    pub(super) fn for_conv(
        model: &TypedModel,
        node: &TypedNode,
        conv: &Conv,
        mode: Convolution,
    ) -> TractResult<Option<Plan>> {
        let spec = &conv.pool_spec;
        let ones = |v: &Option<TVec<usize>>| v.as_ref().is_none_or(|v| v.iter().all(|&x| x == 1));
        if conv.q_params.is_some()
            || conv.group != 1
            || conv.kernel_fmt != KernelFormat::OIHW
            || spec.kernel_shape.as_slice() != [3, 3]
            || !ones(&spec.strides)
            || !ones(&spec.dilations)
            || spec.data_format.c_is_last()
            || !spec.data_format.has_n()
            || node.inputs.len() != 3
        {
            return Ok(None);
        }
        let input = model.outlet_fact(node.inputs[0])?;
        let (Some(kernel), Some(bias)) =
            (&model.outlet_fact(node.inputs[1])?.konst, &model.outlet_fact(node.inputs[2])?.konst)
        else {
            return Ok(None);
        };
        let Some(shape) = input.shape.as_concrete() else { return Ok(None) };
        if input.datum_type != f32::datum_type()
            || kernel.datum_type() != f32::datum_type()
            || bias.datum_type() != f32::datum_type()
            || shape.len() != 4
            || shape[0] != 1
        {
            return Ok(None);
        }
        let (cin, h, w) = (shape[1], shape[2], shape[3]);
        let cout = spec.output_channels;
        if kernel.shape() != [cout, cin, 3, 3] || !(bias.len() == cout || bias.len() == 1) {
            return Ok(None);
        }
        let padding = spec.computed_padding(&[h, w]);
        let (ho, wo) = (padding[0].convoluted, padding[1].convoluted);
        // the output the replacement must match exactly, or the convolution stays tract's
        let out = &node.outputs[0].fact;
        if ho == 0
            || wo == 0
            || out.datum_type != f32::datum_type()
            || out.shape.as_concrete() != Some(&[1, cout, ho, wo][..])
        {
            return Ok(None);
        }
        let tile = match mode {
            Convolution::Direct => return Ok(None),
            Convolution::Auto => match Tile::auto(cin, ho, wo) {
                Some(t) => t,
                None => return Ok(None),
            },
            Convolution::F2 => Tile::F2,
            Convolution::F4 => Tile::F4,
        };
        let Some(geometry) =
            Geometry::new(tile, cin, cout, [h, w], [padding[0].pad_before, padding[1].pad_before], [ho, wo])
        else {
            return Ok(None);
        };
        let kernel = kernel.clone();
        let bias = if bias.len() == cout {
            bias.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()
        } else {
            vec![bias.try_as_plain_ram()?.as_slice::<f32>()?[0]; cout]
        };
        let relu = following_relu(model, node)?;
        let pool = match relu {
            Some(relu) => following_pool(model, &model.nodes[relu])?,
            None => None,
        }
        .filter(|_| ho >= 2 && wo >= 2);
        Ok(Some(Plan { tile, geometry, kernel, bias, relu, pool }))
    }

    pub(super) fn apply(self, model: &mut TypedModel, id: usize) -> TractResult<()> {
        let node = &model.nodes[id];
        let name = node.name.clone();
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, node.inputs[0])?;
        let v = patch.wire_node(format!("{name}.winograd_input"), WinogradInput { g: self.geometry.clone() }, &[x])?;
        let product = WinogradProduct::new(self.geometry.clone(), self.kernel.clone())?;
        let m = patch.wire_node(format!("{name}.winograd_product"), product, &v)?;
        let out =
            WinogradOutput { g: self.geometry, bias: self.bias, relu: self.relu.is_some(), pool: self.pool.is_some() };
        let y = patch.wire_node(format!("{name}.winograd_output"), out, &m)?;
        let replaced = OutletId::new(self.pool.or(self.relu).unwrap_or(id), 0);
        patch.shunt_outside(model, replaced, y[0])?;
        for node in [Some(id), self.relu, self.pool].into_iter().flatten() {
            patch.obliterate(node)?;
        }
        patch.apply(model)
    }
}

/// The ReLU (tract's `Max` with a constant 0) that alone reads `node`'s output, where the
/// output is not also one of the model's (a kept activation must stay as it was).
fn following_relu(model: &TypedModel, node: &TypedNode) -> TractResult<Option<usize>> {
    let out = OutletId::new(node.id, 0);
    let succ = &node.outputs[0].successors;
    if succ.len() != 1 || model.outputs.contains(&out) {
        return Ok(None);
    }
    let next = &model.nodes[succ[0].node];
    let Some(bin) = next.op_as::<TypedBinOp>() else { return Ok(None) };
    if bin.0.name() != "Max" || next.inputs.len() != 2 {
        return Ok(None);
    }
    let other = next.inputs[1 - succ[0].slot];
    let Some(zero) = &model.outlet_fact(other)?.konst else { return Ok(None) };
    let fact = model.outlet_fact(OutletId::new(next.id, 0))?;
    let same = fact.shape == node.outputs[0].fact.shape && fact.datum_type == f32::datum_type();
    Ok((same
        && zero.len() == 1
        && zero.datum_type() == f32::datum_type()
        && zero.try_as_plain_ram()?.as_slice::<f32>()?[0] == 0.0)
        .then_some(next.id))
}

/// The max pooling (2×2, stride 2, no padding) that alone reads `node`'s output, where the
/// output is not also one of the model's.
fn following_pool(model: &TypedModel, node: &TypedNode) -> TractResult<Option<usize>> {
    let succ = &node.outputs[0].successors;
    if succ.len() != 1 || model.outputs.contains(&OutletId::new(node.id, 0)) {
        return Ok(None);
    }
    let next = &model.nodes[succ[0].node];
    let Some(pool) = next.op_as::<MaxPool>() else { return Ok(None) };
    let spec = &pool.pool_spec;
    let no_padding = match &spec.padding {
        PaddingSpec::Valid => true,
        PaddingSpec::Explicit(before, after) => before.iter().chain(after).all(|&p| p == 0),
        _ => false,
    };
    let ones = spec.dilations.as_ref().is_none_or(|d| d.iter().all(|&x| x == 1));
    let ok = pool.with_index_outputs.is_none()
        && spec.kernel_shape.as_slice() == [2, 2]
        && spec.strides.as_ref().is_some_and(|s| s.as_slice() == [2, 2])
        && no_padding
        && ones
        && !spec.data_format.c_is_last()
        && spec.data_format.has_n();
    Ok(ok.then_some(next.id))
}
