//! Constant work tract's optimiser leaves to run time, folded at load.
//!
//! tract folds an operation on constants only while each step's result stays within a memory
//! budget (4 MiB, `CONST_FOLD_MEM_BUDGET`). A quantised convolution with a non-zero input zero
//! point sums its int8 weights over k (`Cast` to int32, then `Reduce<Sum>`): for int8 VGG16's
//! conv4 and conv5 layers the int32 copy is 4.7 to 9.4 MB, so the chain was left in the plan
//! and ran on every image, for a result of 512 numbers. Here a chain of operations on
//! constants is folded whatever its intermediate sizes whenever its result is no larger than
//! its constant inputs: running it once at load never costs more memory than the plan keeps.

use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::konst::Const;
use tract_onnx::tract_hir::tract_core::ops::source::TypedSource;

/// Folds every such chain of an optimised model into constants; returns how many.
pub fn constant_chains(model: &mut TypedModel) -> TractResult<usize> {
    let mut folded = 0;
    // nodes already weighed: a chain that ends larger than its inputs keeps tract's choice
    let mut kept = std::collections::HashSet::new();
    while let Some(patch) = next_fold(model, &mut kept)? {
        patch.apply(model)?;
        folded += 1;
    }
    if folded > 0 {
        // drop what no output reads any more (the chains, and weights only they read)
        model.compact()?;
    }
    Ok(folded)
}

/// Largest intermediate result a fold may hold at load (int8 VGG16's largest is 9.4 MB):
/// wasm memory never shrinks, so a fold is decided on the facts before anything is computed.
const STEP_BYTES: usize = 64 << 20;

/// The patch that folds the first foldable chain, if any.
fn next_fold(model: &TypedModel, kept: &mut std::collections::HashSet<usize>) -> TractResult<Option<TypedModelPatch>> {
    let bytes = |node: &TypedNode| -> Option<usize> {
        node.outputs
            .iter()
            .map(|o| if o.fact.exotic_fact.is_none() { o.fact.mem_size().to_usize().ok() } else { None })
            .sum()
    };
    for node in model.nodes() {
        if node.inputs.is_empty() || node.op_is::<Const>() || node.op_is::<TypedSource>() || kept.contains(&node.id) {
            continue;
        }
        let facts = model.node_input_facts(node.id)?;
        let Some(inputs) = facts.iter().map(|f| f.konst.clone()).collect::<Option<TVec<_>>>() else { continue };
        kept.insert(node.id);
        let limit: usize = inputs.iter().map(|t| t.len() * t.datum_type().size_of()).sum();
        // the chain, on the facts: along single readers with one input until the result is
        // no larger than the inputs
        let mut chain = vec![node];
        loop {
            let end = chain[chain.len() - 1];
            match bytes(end) {
                Some(b) if b <= limit => break,
                Some(b) if b <= STEP_BYTES => {}
                _ => {
                    chain.clear();
                    break;
                }
            }
            match model.single_succ(end.id)? {
                Some(next) if next.inputs.len() == 1 => chain.push(next),
                _ => {
                    chain.clear();
                    break;
                }
            }
        }
        if chain.is_empty() {
            continue;
        }
        let mut values: Option<TVec<TValue>> = Some(inputs.into_iter().map(|t| t.into_tvalue()).collect());
        for step in &chain {
            values = values.and_then(|v| step.op.eval_out_of_plan(v).ok().flatten());
        }
        let end = chain[chain.len() - 1];
        // (an op that cannot run out of a plan, or answers other than its facts: left alone)
        let Some(values) = values else { continue };
        let shapes_agree = values.len() == end.outputs.len()
            && values.iter().zip(&end.outputs).all(|(v, o)| o.fact.shape.as_concrete() == Some(v.shape()));
        if !shapes_agree {
            continue;
        }
        let mut patch = TypedModelPatch::default();
        for (slot, value) in values.into_iter().enumerate() {
            let wire = patch.add_const(format!("{}.folded.{slot}", end.name), value.into_arc_tensor())?;
            patch.shunt_outside(model, OutletId::new(end.id, slot), wire)?;
        }
        return Ok(Some(patch));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_hir::tract_core::ops::cast::cast;
    use tract_onnx::tract_hir::tract_core::ops::nn::{Reduce, Reducer};

    /// A weight of 2^22 int8 values (4 MiB), cast to int32 (16 MiB) and summed, as tract's
    /// quantised convolution wires a non-zero input zero point; the weight also read by
    /// another operation, as the convolution's product reads it.
    fn model() -> TypedModel {
        let mut m = TypedModel::default();
        let x = m.add_source("x", i32::fact([1, 1])).unwrap();
        let w: Vec<i8> = (0..1 << 22).map(|i| (i % 251) as i8).collect();
        let w = tract_ndarray::Array2::from_shape_vec((4, 1 << 20), w).unwrap().into_tensor();
        let w = m.add_const("w", w).unwrap();
        let wide = m.wire_node("cast", cast(DatumType::I32), &[w]).unwrap();
        let sum = m.wire_node("sum", Reduce::new(tvec![1], Reducer::Sum), &wide).unwrap();
        let y = m.wire_node("add", tract_onnx::tract_hir::tract_core::ops::math::add(), &[x, sum[0]]).unwrap();
        // another reader of the weight
        let other = m.wire_node("other", cast(DatumType::I32), &[w]).unwrap();
        m.select_output_outlets(&[y[0], other[0]]).unwrap();
        m
    }

    #[test]
    fn a_constant_chain_too_wide_for_tracts_budget_is_folded_at_load() {
        let optimised = model().into_optimized().unwrap();
        let ops = |m: &TypedModel| m.nodes().iter().filter(|n| n.op_is::<Reduce>()).count();
        // tract leaves it to run time (if it stops doing so, this pass has no work: revisit)
        assert_eq!(ops(&optimised), 1, "tract folded the chain itself");
        let x = tensor2(&[[7i32]]);
        let before = optimised.clone().into_runnable().unwrap().run(tvec![x.clone().into_tvalue()]).unwrap();
        let mut folded = optimised;
        assert!(constant_chains(&mut folded).unwrap() >= 1);
        assert_eq!(ops(&folded), 0);
        let after = folded.into_runnable().unwrap().run(tvec![x.into_tvalue()]).unwrap();
        assert_eq!(before[0], after[0]);
        assert_eq!(before[1], after[1]);
    }
}
