//! Every axis-like attribute or constant input of the graph, checked against the rank of the
//! tensor it indexes, before tract sees the graph.
//!
//! tract's shape inference indexes shapes by these values and panics on one past the rank
//! (the fuzzer found it for Transpose's `perm`, then for Squeeze's `axes`); on wasm32 a panic
//! is a trap that takes the module down, so the whole class is refused here, by name, instead
//! of one op at a time. Ranks follow from the declared input, the constants and a rank rule
//! per op; where a rank is not known (an op without a rule, a Reshape to a computed shape) the
//! values downstream of it are not checked, and tract's own checks apply.

use super::graph::attr;
use anyhow::{bail, ensure, Result};
use std::collections::HashMap;
use tract_onnx::pb;

/// Ops whose output has the rank of their first input.
const SAME_RANK: &[&str] = &[
    "Abs",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Conv",
    "ConvInteger",
    "ConvTranspose",
    "CumSum",
    "DequantizeLinear",
    "Dropout",
    "DynamicQuantizeLinear",
    "Elu",
    "Erf",
    "Exp",
    "Floor",
    "Gelu",
    "GlobalAveragePool",
    "GlobalLpPool",
    "GlobalMaxPool",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "Identity",
    "InstanceNormalization",
    "LRN",
    "LayerNormalization",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "LpNormalization",
    "LpPool",
    "MaxPool",
    "Neg",
    "Not",
    "PRelu",
    "Pad",
    "QLinearConv",
    "QuantizeLinear",
    "Reciprocal",
    "Relu",
    "Resize",
    "Round",
    "Selu",
    "Sigmoid",
    "Sign",
    "Slice",
    "Softmax",
    "Softplus",
    "Softsign",
    "Split",
    "Sqrt",
    "Tanh",
    "ThresholdedRelu",
    "Tile",
    "Transpose",
    "Upsample",
];

/// Ops whose output broadcasts their inputs: the largest rank among them.
const BROADCAST: &[&str] = &[
    "Add",
    "And",
    "BitShift",
    "Div",
    "Equal",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Max",
    "Mean",
    "Min",
    "Mod",
    "Mul",
    "Or",
    "Pow",
    "Sub",
    "Sum",
    "Where",
    "Xor",
    "QLinearAdd",
    "QLinearMul",
];

/// Checks every axis the graph names against the rank it indexes; see the module's doc.
pub(super) fn check(graph: &pb::GraphProto) -> Result<()> {
    let mut ranks: HashMap<&str, usize> = HashMap::new();
    let mut ints: HashMap<&str, Vec<i64>> = HashMap::new();
    for t in &graph.initializer {
        ranks.insert(&t.name, t.dims.len());
        if let Some(v) = int_values(t) {
            ints.insert(&t.name, v);
        }
    }
    for i in &graph.input {
        if let Some(r) = declared_rank(i) {
            ranks.entry(&i.name).or_insert(r);
        }
    }
    for node in &graph.node {
        if node.op_type == "Constant" {
            let (rank, values) = constant(node);
            if let Some(o) = node.output.first() {
                if let Some(v) = values {
                    ints.insert(o, v);
                }
                if let Some(r) = rank {
                    ranks.insert(o, r);
                }
            }
            continue;
        }
        // (an unnamed node by what it writes)
        let what = || match (node.name.as_str(), node.output.first()) {
            ("", Some(o)) => format!("{} (output '{o}')", node.op_type),
            (name, _) => format!("{} '{name}'", node.op_type),
        };
        let rank_of =
            |i: usize| node.input.get(i).filter(|n| !n.is_empty()).and_then(|n| ranks.get(n.as_str()).copied());
        let ints_of = |i: usize| node.input.get(i).filter(|n| !n.is_empty()).and_then(|n| ints.get(n.as_str()));
        let list = |name: &str, input: usize| -> Option<Vec<i64>> {
            attr(node, name).map(|a| a.ints.clone()).or_else(|| ints_of(input).cloned())
        };
        let r = rank_of(0);
        let out: Option<usize> = match node.op_type.as_str() {
            "Squeeze" => {
                let axes = list("axes", 1);
                if let (Some(r), Some(axes)) = (r, &axes) {
                    axes_within(&what(), "axes", axes, r)?;
                }
                // (without axes every dimension of size 1 goes: the rank depends on the shape)
                r.zip(axes).and_then(|(r, a)| r.checked_sub(a.len()))
            }
            "Unsqueeze" => {
                let axes = list("axes", 1);
                match (r, axes) {
                    (Some(r), Some(axes)) => {
                        axes_within(&what(), "axes", &axes, r + axes.len())?;
                        Some(r + axes.len())
                    }
                    _ => None,
                }
            }
            "Flatten" => {
                if let Some(r) = r {
                    // (Flatten alone may name the axis one past the last: all in the first)
                    let (axis, r) = (int_attr(node, "axis").unwrap_or(1), r as i64);
                    ensure!(
                        (-r..=r).contains(&axis),
                        "{}: axis {axis} is outside the axes {}..{r} that Flatten allows on a rank-{r} tensor",
                        what(),
                        -r
                    );
                }
                Some(2)
            }
            "Concat" => {
                let known: Vec<usize> = (0..node.input.len()).filter_map(rank_of).collect();
                if let Some(&first) = known.first() {
                    ensure!(
                        known.iter().all(|&k| k == first),
                        "{}: its inputs have ranks {known:?}, Concat needs one rank",
                        what()
                    );
                    axis_within(&what(), "axis", int_attr(node, "axis").unwrap_or(0), first)?;
                }
                known.first().copied()
            }
            "Gather" | "GatherElements" => {
                if let Some(r) = r {
                    axis_within(&what(), "axis", int_attr(node, "axis").unwrap_or(0), r)?;
                }
                if node.op_type == "Gather" {
                    r.zip(rank_of(1)).and_then(|(r, i)| (r + i).checked_sub(1))
                } else {
                    rank_of(1)
                }
            }
            "ArgMax" | "ArgMin" => {
                if let Some(r) = r {
                    axis_within(&what(), "axis", int_attr(node, "axis").unwrap_or(0), r)?;
                }
                let keep = int_attr(node, "keepdims").unwrap_or(1) != 0;
                r.and_then(|r| if keep { Some(r) } else { r.checked_sub(1) })
            }
            op if op.starts_with("Reduce") => {
                let axes = list("axes", 1);
                if let (Some(r), Some(axes)) = (r, &axes) {
                    axes_within(&what(), "axes", axes, r)?;
                }
                let keep = int_attr(node, "keepdims").unwrap_or(1) != 0;
                match (r, axes) {
                    (Some(r), _) if keep => Some(r),
                    (Some(r), Some(a)) if !a.is_empty() => r.checked_sub(a.len()),
                    _ => None,
                }
            }
            "Gemm" => Some(2),
            "MatMul" | "MatMulInteger" | "QLinearMatMul" => {
                let b = if node.op_type == "QLinearMatMul" { 3 } else { 1 };
                match (r, rank_of(b)) {
                    (Some(a), Some(b)) if a >= 2 && b >= 2 => Some(a.max(b)),
                    _ => None,
                }
            }
            "Reshape" => ints_of(1).map(|s| s.len()),
            "Shape" => Some(1),
            "Size" => Some(0),
            op if BROADCAST.contains(&op) => {
                let known: Vec<usize> = (0..node.input.len()).filter_map(rank_of).collect();
                (known.len() == node.input.iter().filter(|n| !n.is_empty()).count())
                    .then(|| known.into_iter().max())
                    .flatten()
            }
            op if SAME_RANK.contains(&op) => r,
            _ => None,
        };
        // the axes of the ops that keep their input's rank
        if let Some(r) = r {
            match node.op_type.as_str() {
                "Softmax" | "LogSoftmax" | "Hardmax" | "LpNormalization" | "Split" | "LayerNormalization" => {
                    let default =
                        if node.op_type == "LpNormalization" || node.op_type == "LayerNormalization" { -1 } else { 0 };
                    axis_within(&what(), "axis", int_attr(node, "axis").unwrap_or(default), r)?;
                }
                // (not QuantizeLinear's and DequantizeLinear's axis: onnxruntime's quantiser
                // leaves it at its default 1 on the rank-1 biases, and every runtime reads
                // the scale's length instead)
                "Transpose" => {
                    if let Some(perm) = attr(node, "perm") {
                        ensure!(
                            perm.ints.len() == r,
                            "{}: perm {:?} has {} axes, its input has rank {r}",
                            what(),
                            perm.ints,
                            perm.ints.len()
                        );
                    }
                }
                "Slice" => {
                    if let Some(axes) = ints_of(3) {
                        axes_within(&what(), "axes", axes, r)?;
                    }
                    let lens: Vec<usize> = [1, 2, 3, 4].iter().filter_map(|&i| ints_of(i)).map(|v| v.len()).collect();
                    ensure!(
                        lens.iter().all(|&n| n == lens[0]),
                        "{}: starts, ends, axes and steps have {lens:?} values, they must have as many each",
                        what()
                    );
                    if ints_of(3).is_none() {
                        ensure!(
                            lens.first().is_none_or(|&n| n <= r),
                            "{}: {} starts for a rank-{r} input",
                            what(),
                            lens[0]
                        );
                    }
                }
                _ => {}
            }
        }
        if let Some(out) = out {
            // (Dropout's mask, MaxPool's indices and Split's parts have the data's rank;
            // other second outputs, like DynamicQuantizeLinear's scale, are scalars)
            let all = matches!(node.op_type.as_str(), "Split" | "Dropout" | "MaxPool");
            let outputs = if all { &node.output[..] } else { &node.output[..node.output.len().min(1)] };
            for o in outputs.iter().filter(|o| !o.is_empty()) {
                ranks.insert(o, out);
            }
        }
    }
    Ok(())
}

/// One axis in `-rank..rank`.
fn axis_within(what: &str, name: &str, axis: i64, rank: usize) -> Result<()> {
    let r = rank as i64;
    if !(-r..r).contains(&axis) {
        bail!("{what}: {name} {axis} is outside the axes {}..{} of its rank-{rank} tensor", -r, r - 1);
    }
    Ok(())
}

/// Each axis in `-rank..rank`, none named twice (counting negative ones from the end).
fn axes_within(what: &str, name: &str, axes: &[i64], rank: usize) -> Result<()> {
    let mut seen = Vec::with_capacity(axes.len());
    for &a in axes {
        axis_within(what, name, a, rank)?;
        let a = if a < 0 { a + rank as i64 } else { a };
        ensure!(!seen.contains(&a), "{what}: {name} {axes:?} names axis {a} twice");
        seen.push(a);
    }
    Ok(())
}

fn int_attr(node: &pb::NodeProto, name: &str) -> Option<i64> {
    attr(node, name).map(|a| a.i)
}

fn declared_rank(v: &pb::ValueInfoProto) -> Option<usize> {
    let Some(pb::type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return None;
    };
    t.shape.as_ref().map(|s| s.dim.len())
}

/// A Constant node's rank and, for integers, its values.
fn constant(node: &pb::NodeProto) -> (Option<usize>, Option<Vec<i64>>) {
    if let Some(t) = attr(node, "value").and_then(|a| a.t.as_ref()) {
        return (Some(t.dims.len()), int_values(t));
    }
    if let Some(a) = attr(node, "value_ints") {
        return (Some(1), Some(a.ints.clone()));
    }
    if let Some(a) = attr(node, "value_int") {
        return (Some(0), Some(vec![a.i]));
    }
    (attr(node, "value_float").map(|_| 0).or_else(|| attr(node, "value_floats").map(|_| 1)), None)
}

/// The values of an int64 or int32 constant (as axes, shapes and indices are stored); `None`
/// for other types, and for a declared length that the data does not match.
fn int_values(t: &pb::TensorProto) -> Option<Vec<i64>> {
    use pb::tensor_proto::DataType;
    let len = t.dims.iter().try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d)))?;
    // (axes lists are short; a long constant is a weight, not an axis list)
    if len > 64 {
        return None;
    }
    let v: Vec<i64> = match DataType::try_from(t.data_type).ok()? {
        DataType::Int64 if !t.raw_data.is_empty() => {
            t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(std::array::from_fn(|i| c[i]))).collect()
        }
        DataType::Int64 => t.int64_data.clone(),
        DataType::Int32 if !t.raw_data.is_empty() => {
            t.raw_data.chunks_exact(4).map(|c| i32::from_le_bytes(std::array::from_fn(|i| c[i])) as i64).collect()
        }
        DataType::Int32 => t.int32_data.iter().map(|&x| x as i64).collect(),
        _ => return None,
    };
    (v.len() == len).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
        use pb::tensor_shape_proto::{dimension::Value, Dimension};
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: 1,
                    shape: Some(pb::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension { value: Some(Value::DimValue(d)), ..Default::default() })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn ints_tensor(name: &str, v: &[i64]) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: vec![v.len() as i64],
            data_type: 7,
            int64_data: v.to_vec(),
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.into(),
            name: format!("{op}_{output}"),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: attrs,
            ..Default::default()
        }
    }

    fn int(name: &str, i: i64) -> pb::AttributeProto {
        pb::AttributeProto { name: name.into(), i, r#type: 2, ..Default::default() }
    }

    fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
        pb::AttributeProto { name: name.into(), ints: v.to_vec(), r#type: 7, ..Default::default() }
    }

    /// A rank-4 input "x" through `nodes`, with `consts` as initializers.
    fn graph(nodes: Vec<pb::NodeProto>, consts: Vec<pb::TensorProto>) -> pb::GraphProto {
        pb::GraphProto {
            node: nodes,
            initializer: consts,
            input: vec![value("x", &[1, 3, 8, 8])],
            ..Default::default()
        }
    }

    fn refused(g: &pb::GraphProto) -> String {
        format!("{:#}", check(g).expect_err("refused"))
    }

    #[test]
    fn axes_past_the_rank_are_refused_by_op_name_and_value() {
        // Squeeze with axes as an input (opset 13), after a rank-keeping op
        let g = graph(
            vec![node("Relu", &["x"], "r", vec![]), node("Squeeze", &["r", "axes"], "s", vec![])],
            vec![ints_tensor("axes", &[4])],
        );
        assert_eq!(refused(&g), "Squeeze 'Squeeze_s': axes 4 is outside the axes -4..3 of its rank-4 tensor");
        // and as an attribute; -4 is the first axis, -5 none
        let ok = graph(vec![node("Squeeze", &["x"], "s", vec![ints("axes", &[-4])])], vec![]);
        check(&ok).unwrap();
        let g = graph(vec![node("Squeeze", &["x"], "s", vec![ints("axes", &[-5])])], vec![]);
        assert!(refused(&g).contains("axes -5 is outside"));
        // an axis named twice
        let g = graph(vec![node("Squeeze", &["x"], "s", vec![ints("axes", &[0, -4])])], vec![]);
        assert!(refused(&g).contains("names axis 0 twice"), "{}", refused(&g));
        // Unsqueeze counts the output's axes: rank 4 + 1 allows 4, not 5
        check(&graph(vec![node("Unsqueeze", &["x"], "u", vec![ints("axes", &[4])])], vec![])).unwrap();
        assert!(
            refused(&graph(vec![node("Unsqueeze", &["x"], "u", vec![ints("axes", &[5])])], vec![])).contains("axes 5")
        );
    }

    #[test]
    fn each_axis_op_is_checked_with_the_rank_that_reaches_it() {
        let cases: Vec<(pb::NodeProto, &str)> = vec![
            (node("Concat", &["x", "x"], "c", vec![int("axis", 4)]), "axis 4"),
            (node("Flatten", &["x"], "f", vec![int("axis", 5)]), "axis 5"),
            (node("Softmax", &["x"], "s", vec![int("axis", -5)]), "axis -5"),
            (node("Gather", &["x", "i"], "g", vec![int("axis", 4)]), "axis 4"),
            (node("ReduceMean", &["x"], "m", vec![ints("axes", &[1, 9])]), "axes 9"),
            (node("ArgMax", &["x"], "a", vec![int("axis", 4)]), "axis 4"),
            (node("Split", &["x"], "p", vec![int("axis", 7)]), "axis 7"),
            (node("Slice", &["x", "st", "en", "ax"], "l", vec![]), "axes 6"),
            (
                node("Transpose", &["x"], "t", vec![ints("perm", &[1, 0])]),
                "perm [1, 0] has 2 axes, its input has rank 4",
            ),
        ];
        for (n, want) in cases {
            let op = n.op_type.clone();
            let consts =
                vec![ints_tensor("i", &[0]), ints_tensor("st", &[0]), ints_tensor("en", &[1]), ints_tensor("ax", &[6])];
            let msg = refused(&graph(vec![n], consts));
            assert!(msg.starts_with(&op) && msg.contains(want), "{op}: {msg}");
        }
        // Flatten may name the axis one past the last (everything in the first dimension)
        check(&graph(vec![node("Flatten", &["x"], "f", vec![int("axis", 4)])], vec![])).unwrap();
    }

    #[test]
    fn ranks_follow_the_ops_that_change_them() {
        // Flatten makes rank 2: Softmax over axis 2 is then past it
        let g = graph(
            vec![node("Flatten", &["x"], "f", vec![]), node("Softmax", &["f"], "s", vec![int("axis", 2)])],
            vec![],
        );
        assert!(refused(&g).contains("of its rank-2 tensor"), "{}", refused(&g));
        // a Reshape to a constant shape takes that shape's length
        let g = graph(
            vec![node("Reshape", &["x", "shape"], "r", vec![]), node("Squeeze", &["r"], "s", vec![ints("axes", &[3])])],
            vec![ints_tensor("shape", &[1, -1, 8])],
        );
        assert!(refused(&g).contains("rank-3"), "{}", refused(&g));
        // Constant nodes carry axes too
        let c = node(
            "Constant",
            &[],
            "k",
            vec![pb::AttributeProto {
                name: "value".into(),
                t: Some(ints_tensor("", &[8])),
                r#type: 4,
                ..Default::default()
            }],
        );
        let g = graph(vec![c, node("Unsqueeze", &["x", "k"], "u", vec![])], vec![]);
        assert!(refused(&g).contains("axes 8"), "{}", refused(&g));
        // an op without a rule ends the checking downstream of it (tract's own checks apply)
        let g = graph(
            vec![node("SomeCustomOp", &["x"], "c", vec![]), node("Softmax", &["c"], "s", vec![int("axis", 9)])],
            vec![],
        );
        check(&g).unwrap();
    }
}
