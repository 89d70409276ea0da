//! The integer Gemm (onnxruntime's `QGemm`, and a QDQ `Gemm`) as one tract operator: an
//! int8 matrix product with its int32 bias added to the accumulator before the
//! requantisation, on tract's quantised `EinSum`, the operator its own `QLinearMatMul` and
//! `QLinearConv` become. Weights stay int8 and are packed once when the plan is built.
//! (`MatMulInteger`, the standard ONNX spelling, makes tract cast the weights to int32 and
//! sum them on every run: 2.4 of 4.3 s of VGG16 in Node.)
//!
//! `quant.rs` writes it as a node of type [`OP`] with nine inputs: `A, a_scale,
//! a_zero_point, B ([K, N], or [N, K] with `transB`), b_scale, b_zero_point, C (int32, [N] or scalar), y_scale,
//! y_zero_point`; scales and zero points are scalars, or `[N]` for the weights' per-column
//! ones.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_hir::tract_core::ops::quant::offset_u8_as_i8;

/// The operator name `quant.rs` writes and the model module registers.
pub(super) const OP: &str = "VggWasmQGemm";

/// tract-onnx's builder for [`OP`] nodes.
pub(super) fn build(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let trans_b = node.get_attr_opt::<i64>("transB")?.unwrap_or(0) != 0;
    Ok((expand(IntGemm { trans_b }), vec![]))
}

/// `trans_b`: B is [N, K] (as Gemm weights usually are), read in place: a Transpose in front
/// of it would leave tract packing and summing the weights on every run instead of once.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct IntGemm {
    trans_b: bool,
}

impl Expansion for IntGemm {
    fn name(&self) -> StaticName {
        OP.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> TractResult<()> {
        check_input_arity(inputs, 9)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&inputs[3].rank, 2)?;
        s.equals(&inputs[1].datum_type, f32::datum_type())?;
        s.equals(&inputs[4].datum_type, f32::datum_type())?;
        s.equals(&inputs[7].datum_type, f32::datum_type())?;
        s.equals(&inputs[6].datum_type, i32::datum_type())?;
        s.equals(&outputs[0].datum_type, &inputs[8].datum_type)?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        let (n, k) = if self.trans_b { (0, 1) } else { (1, 0) };
        s.equals(&outputs[0].shape[1], &inputs[3].shape[n])?;
        s.equals(&inputs[0].shape[1], &inputs[3].shape[k])?;
        Ok(())
    }

    fn wire(&self, prefix: &str, target: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        // EinSum's quantised order: A, B, bias, a0, a_scale, b0, b_scale, c0, c_scale
        let mut ordered: TVec<OutletId> = [0, 3, 6, 2, 1, 5, 4, 8, 7].iter().map(|&i| inputs[i]).collect();
        if let Some((bias, zero)) = self.zero_point_in_bias(target, inputs)? {
            if target.outlet_fact(inputs[0])?.datum_type == u8::datum_type() {
                // uint8 activations as int8 (code - 128), as tract would move them anyway
                ordered[0] = target.wire_node(format!("{prefix}.a_as_i8"), offset_u8_as_i8(), &[inputs[0]])?[0];
            }
            ordered[2] = target.add_const(format!("{prefix}.bias_with_zero_point"), bias)?;
            ordered[3] = target.add_const(format!("{prefix}.a_zero_point_in_bias"), zero)?;
        }
        let ranks = ordered.iter().map(|i| Ok(target.outlet_fact(*i)?.rank())).collect::<TractResult<Vec<_>>>()?;
        let (n_axis, k_axis) = if self.trans_b { (0, 1) } else { (1, 0) };
        let mut axes = AxesMapping::disconnected_for_ranks(&ranks, &[2])?
            .renaming((InOut::In(0), 0), 'm')?
            .linking('m', (InOut::Out(0), 0))?
            .renaming((InOut::In(1), n_axis), 'n')?
            .linking('n', (InOut::Out(0), 1))?
            .renaming((InOut::In(0), 1), 'k')?
            .linking('k', (InOut::In(1), k_axis))?;
        // the bias and the weights' per-column scale and zero point run along N
        for i in [2, 5, 6] {
            match ranks[i] {
                0 => {}
                1 => axes = axes.linking('n', (InOut::In(i), 0))?,
                r => bail!("{prefix}: input {i} has rank {r}; a scalar or one value per output column is expected"),
            }
        }
        for i in [3, 4, 7, 8] {
            ensure!(
                ranks[i] == 0,
                "{prefix}: per-row activation quantisation is not supported (input {i} has rank {})",
                ranks[i]
            );
        }
        let output = target.outlet_fact(inputs[8])?.datum_type;
        target.wire_node(prefix, EinSum { axes, operating_dt: i32::datum_type(), q_params: Some(output) }, &ordered)
    }
}

impl IntGemm {
    /// With constant activation zero point `a0`, weights, weight zero points and bias: the
    /// bias `c - a0·Σ_k (B[k, n] - b0[n])` and an activation zero point of 0, which give the
    /// same integers (Σ_k (A - a0)(B - b0) + c). tract's quantised product otherwise computes
    /// those weight sums on every run (a cast of the weights to int32 and a sum over them, and
    /// their packing: 0.4 s of fc6 in Node); this does it once. uint8 activations are taken
    /// as int8 first (code - 128, `a0` - 128), as tract's kernels are int8.
    fn zero_point_in_bias(&self, target: &TypedModel, inputs: &[OutletId]) -> TractResult<Option<(Tensor, Tensor)>> {
        let fact = |i: usize| target.outlet_fact(inputs[i]);
        let shift = match fact(0)?.datum_type {
            t if t == i8::datum_type() => 0,
            t if t == u8::datum_type() => 128,
            _ => return Ok(None),
        };
        let (Some(a0), Some(b), Some(b0), Some(c)) =
            (fact(2)?.konst.clone(), fact(3)?.konst.clone(), fact(5)?.konst.clone(), fact(6)?.konst.clone())
        else {
            return Ok(None);
        };
        let a0 = a0.cast_to_scalar::<i32>()? as i64 - shift;
        if a0 == 0 {
            return Ok(None);
        }
        // summed in their own type: a cast of fc6's weights to int32 would add 411 MB to the
        // load's peak
        let sums = match b.datum_type() {
            t if t == i8::datum_type() => column_sums::<i8>(&b, self.trans_b)?,
            t if t == u8::datum_type() => column_sums::<u8>(&b, self.trans_b)?,
            _ => return Ok(None),
        };
        let (n, k) = (sums.len(), b.shape()[if self.trans_b { 1 } else { 0 }] as i64);
        let per_column = |t: &Tensor| -> TractResult<Vec<i64>> {
            let t = t.cast_to::<i32>()?;
            let v: Vec<i64> = t.to_plain_array_view::<i32>()?.iter().map(|&x| x as i64).collect();
            match v.len() {
                1 => Ok(vec![v[0]; n]),
                l if l == n => Ok(v),
                l => bail!("{l} values where one or {n} (one per output column) are expected"),
            }
        };
        let (b0, c) = (per_column(&b0)?, per_column(&c)?);
        let mut bias = Vec::with_capacity(n);
        for col in 0..n {
            let v = c[col] - a0 * (sums[col] - k * b0[col]);
            ensure!(i32::try_from(v).is_ok(), "the bias with the zero point folded in overflows int32 (column {col})");
            bias.push(v as i32);
        }
        Ok(Some((tensor1(&bias), tensor0(0i8))))
    }
}

/// Σ_k B[k, n] for each column n of B ([K, N], or [N, K] with `trans_b`), in one pass.
fn column_sums<T: Datum + Copy + Into<i64>>(b: &Tensor, trans_b: bool) -> TractResult<Vec<i64>> {
    let b = b.to_plain_array_view::<T>()?;
    ensure!(b.ndim() == 2, "weights of rank {}, 2 expected", b.ndim());
    if trans_b {
        return Ok(b.outer_iter().map(|row| row.iter().map(|&x| x.into()).sum()).collect());
    }
    let mut sums = vec![0i64; b.shape()[1]];
    for row in b.outer_iter() {
        sums.iter_mut().zip(row.iter()).for_each(|(s, &x)| *s += x.into());
    }
    Ok(sums)
}
