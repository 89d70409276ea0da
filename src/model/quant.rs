//! int8 graphs as onnxruntime's quantiser writes them, rewritten into the standard ONNX
//! integer operators tract runs on its int8 kernels, before tract builds the model.
//!
//! Two rewrites, on the decoded protobuf:
//! - **QDQ to integer operators.** A QDQ model keeps float operators between
//!   `DequantizeLinear` and `QuantizeLinear`; run as written, every convolution is a float
//!   one on dequantised weights (4× their int8 size). `Conv`, `MatMul` and `Gemm` whose
//!   inputs are dequantised int8 tensors and whose only consumer quantises the result become
//!   `QLinearConv`, `QLinearMatMul` and the integer `Gemm` below; pools, reshapes and
//!   transposes between a dequantise and a quantise with the same parameters run on the int8
//!   tensor itself (max-pooling and moving values commute with a monotone affine map, so this
//!   is exact). This is what onnxruntime's own QDQ transformer does before it runs them.
//! - **onnxruntime's `com.microsoft` int8 operators**, which its quantiser writes by default
//!   in the QOperator format: `QGemm` becomes the integer Gemm of `qgemm.rs` (tract's int8
//!   matrix product with the int32 bias added before one requantisation, as onnxruntime
//!   does it); `QLinearAdd`, `QLinearMul`, `QLinearAveragePool`,
//!   `QLinearGlobalAveragePool`, `QLinearConcat`, `QLinearSigmoid`, `QLinearLeakyRelu` and
//!   `QLinearSoftmax` become the float operator between a dequantise and a quantise
//!   (element-wise and on small tensors in a VGG: the matrix products stay integer). Any other
//!   `com.microsoft` operator is refused by name. This rewrite is `quant/contrib.rs`.
//!
//! The last node of every rewrite writes the tensor the original wrote, so kept layers and
//! graph outputs keep their names.

mod contrib;

use super::export::{int, ints};
use super::graph::attr;
use anyhow::{bail, Context, Result};
use contrib::contrib;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb;

/// onnxruntime's contrib operator domain.
const MS: &str = "com.microsoft";

/// Rewrites `graph` in place as described in the module documentation. The tensors in
/// `keep` (layers kept as outputs) are still written afterwards: where a rewrite fused away a
/// float one, it is dequantised from the int8 tensor that replaced it.
pub(super) fn standardise(graph: &mut pb::GraphProto, keep: &[String]) -> Result<()> {
    // a float graph is left untouched, without a single allocation: wasm memory never
    // shrinks, and running this rewrite on fp32 VGG16, which changes nothing in it, raised
    // the load's peak wasm memory from 1074 to 1466 MiB (fc6's 392 MiB more; measured in
    // Node), its small allocations among the file's tensors fragmenting the heap
    let quantised = |n: &pb::NodeProto| {
        n.domain == MS
            || n.op_type.contains("Quantize")
            || n.op_type.starts_with("QLinear")
            || n.op_type.ends_with("Integer")
    };
    if !graph.node.iter().any(quantised) {
        return Ok(());
    }
    fuse_qdq(graph, keep);
    let mut rewritten = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        if node.domain == MS {
            rewritten.extend(contrib(&node).with_context(|| format!("{} node '{}'", node.op_type, label(&node)))?);
        } else {
            rewritten.push(node);
        }
    }
    graph.node = rewritten;
    prune(graph, keep);
    explicit_dequantize(graph);
    Ok(())
}

/// The node's name, or its first output's where it has none.
fn label(node: &pb::NodeProto) -> &str {
    if node.name.is_empty() {
        node.output.first().map_or("", String::as_str)
    } else {
        &node.name
    }
}

fn input(node: &pb::NodeProto, i: usize) -> Option<&str> {
    node.input.get(i).map(String::as_str).filter(|s| !s.is_empty())
}

fn int_attr(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn node(op: &str, name: String, inputs: &[&str], output: String, attribute: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output],
        name,
        op_type: op.into(),
        attribute,
        ..Default::default()
    }
}

/// A scalar constant of `data_type` with these little-endian bytes, as a `Constant` node.
fn constant_node(name: String, data_type: pb::tensor_proto::DataType, raw_data: Vec<u8>) -> pb::NodeProto {
    let value = pb::TensorProto { data_type: data_type as i32, raw_data, ..Default::default() };
    let a = pb::AttributeProto {
        name: "value".into(),
        r#type: pb::attribute_proto::AttributeType::Tensor as i32,
        t: Some(value),
        ..Default::default()
    };
    node("Constant", name.clone(), &[], name, vec![a])
}

/// Builds the nodes of one rewrite, naming tensors and nodes after the original.
struct Expansion<'a> {
    base: &'a pb::NodeProto,
    nodes: Vec<pb::NodeProto>,
}

impl<'a> Expansion<'a> {
    fn new(base: &'a pb::NodeProto) -> Self {
        Expansion { base, nodes: Vec::new() }
    }

    fn name(&self, suffix: &str) -> String {
        format!("{}.{suffix}", label(self.base))
    }

    /// Adds a node writing a new tensor named after `suffix`; returns that name.
    fn add(&mut self, op: &str, suffix: &str, inputs: &[&str], attribute: Vec<pb::AttributeProto>) -> String {
        let out = self.name(suffix);
        self.nodes.push(node(op, out.clone(), inputs, out.clone(), attribute));
        out
    }

    /// Adds the last node, writing the original's output.
    fn finish(mut self, op: &str, inputs: &[&str], attribute: Vec<pb::AttributeProto>) -> Vec<pb::NodeProto> {
        let out = self.base.output[0].clone();
        self.nodes.push(node(op, label(self.base).to_string(), inputs, out, attribute));
        self.nodes
    }

    /// `DequantizeLinear(x, scale, zero_point)` (no zero point where it is absent).
    fn dequantize(&mut self, suffix: &str, x: &str, scale: &str, zero: Option<&str>) -> String {
        match zero {
            Some(z) => self.add("DequantizeLinear", suffix, &[x, scale, z], vec![]),
            None => self.add("DequantizeLinear", suffix, &[x, scale], vec![]),
        }
    }

    /// The original's output as `QuantizeLinear(y, scale, zero_point)`.
    fn quantize(self, y: &str, scale: &str, zero: Option<&str>) -> Vec<pb::NodeProto> {
        match zero {
            Some(z) => self.finish("QuantizeLinear", &[y, scale, z], vec![]),
            None => self.finish("QuantizeLinear", &[y, scale], vec![]),
        }
    }
}

/// `Y = alpha·a_scale·b_scale·((A - a_zp)(B - b_zp) + C)`, requantised to `y` where given
/// (onnxruntime's QGemm; also a QDQ `Gemm`), on the int8 tensors: the integer Gemm of
/// `qgemm.rs`, or `MatMulInteger` and a float scale where the output is float.
struct IntGemm<'a> {
    /// Tensor, scale, zero point.
    a: [&'a str; 3],
    b: [&'a str; 3],
    /// int32 bias at scale `alpha·a_scale·b_scale`, zero point 0.
    c: Option<&'a str>,
    /// Output scale and zero point; a float output where absent.
    y: Option<(&'a str, Option<&'a str>)>,
    alpha: f32,
    trans_a: bool,
    trans_b: bool,
}

impl IntGemm<'_> {
    fn wire(&self, mut e: Expansion) -> Result<Vec<pb::NodeProto>> {
        use pb::tensor_proto::DataType;
        if self.trans_a {
            bail!("transA = 1 is not supported");
        }
        // per-channel weights ([N, K] with transB) give per-column zero points and scales
        let transposed = |e: &mut Expansion| {
            if self.trans_b {
                e.add("Transpose", "bt", &[self.b[0]], vec![ints("perm", &[1, 0])])
            } else {
                self.b[0].to_string()
            }
        };
        let mut a_scale = self.a[1].to_string();
        if self.alpha != 1.0 {
            let alpha = e.name("alpha");
            e.nodes.push(constant_node(alpha.clone(), DataType::Float, self.alpha.to_le_bytes().to_vec()));
            a_scale = e.add("Mul", "alpha_scale", &[&a_scale, &alpha], vec![]);
        }
        Ok(match self.y {
            // quantised output: tract's int8 matrix product, bias in the accumulator
            Some((y_scale, y_zero)) => {
                let c = match self.c {
                    Some(c) => c.to_string(),
                    None => {
                        let zero = e.name("no_bias");
                        e.nodes.push(constant_node(zero.clone(), DataType::Int32, 0i32.to_le_bytes().to_vec()));
                        zero
                    }
                };
                let y_zero = match y_zero {
                    Some(z) => z.to_string(),
                    // ONNX's default zero point: uint8 0
                    None => {
                        let zero = e.name("y_zero_point");
                        e.nodes.push(constant_node(zero.clone(), DataType::Uint8, vec![0]));
                        zero
                    }
                };
                let inputs = [self.a[0], &a_scale, self.a[2], self.b[0], self.b[1], self.b[2], &c, y_scale, &y_zero];
                e.finish(super::qgemm::OP, &inputs, vec![int("transB", self.trans_b as i64)])
            }
            // float output (no y_scale): the integer product, then scaled
            None => {
                let b = transposed(&mut e);
                let mut acc = e.add("MatMulInteger", "acc", &[self.a[0], &b, self.a[2], self.b[2]], vec![]);
                if let Some(c) = self.c {
                    acc = e.add("Add", "biased", &[&acc, c], vec![]);
                }
                let acc = e.add("Cast", "f32", &[&acc], vec![int("to", DataType::Float as i64)]);
                let scale = e.add("Mul", "ab_scale", &[&a_scale, self.b[1]], vec![]);
                e.finish("Mul", &[&acc, &scale], vec![])
            }
        })
    }
}

/// Where each tensor comes from and who reads it.
struct Uses {
    producer: HashMap<String, usize>,
    consumers: HashMap<String, Vec<usize>>,
    outputs: HashSet<String>,
}

impl Uses {
    fn of(graph: &pb::GraphProto) -> Uses {
        let mut producer = HashMap::new();
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            for o in &n.output {
                producer.insert(o.clone(), i);
            }
            for x in n.input.iter().filter(|x| !x.is_empty()) {
                consumers.entry(x.clone()).or_default().push(i);
            }
        }
        Uses { producer, consumers, outputs: graph.output.iter().map(|o| o.name.clone()).collect() }
    }

    /// The `DequantizeLinear` node writing `tensor`, if that is what writes it.
    fn dequantized<'g>(&self, graph: &'g pb::GraphProto, tensor: &str) -> Option<&'g pb::NodeProto> {
        let n = &graph.node[*self.producer.get(tensor)?];
        (n.op_type == "DequantizeLinear" && n.domain.is_empty() && n.input.len() == 3).then_some(n)
    }

    /// The `QuantizeLinear` node that is the only reader of `tensor`, if any.
    fn quantized_only<'g>(&self, graph: &'g pb::GraphProto, tensor: &str) -> Option<&'g pb::NodeProto> {
        if self.outputs.contains(tensor) {
            return None;
        }
        match self.consumers.get(tensor).map(Vec::as_slice) {
            Some([one]) => {
                let n = &graph.node[*one];
                (n.op_type == "QuantizeLinear" && n.domain.is_empty() && n.input.len() == 3).then_some(n)
            }
            _ => None,
        }
    }
}

/// Whether two (scale, zero point) pairs are the same: the same tensors, or constants of
/// equal bytes.
fn same_params(graph: &pb::GraphProto, dq: &pb::NodeProto, q: &pb::NodeProto) -> bool {
    let same = |a: &str, b: &str| {
        a == b || {
            let find = |n: &str| graph.initializer.iter().find(|t| t.name == n);
            match (find(a), find(b)) {
                (Some(x), Some(y)) => {
                    let mut x = x.clone();
                    let mut y = y.clone();
                    x.name.clear();
                    y.name.clear();
                    x == y
                }
                _ => false,
            }
        }
    };
    same(&dq.input[1], &q.input[1]) && same(&dq.input[2], &q.input[2])
}

fn is_initializer(graph: &pb::GraphProto, name: &str) -> bool {
    graph.initializer.iter().any(|t| t.name == name)
}

fn initializer_type(graph: &pb::GraphProto, name: &str) -> Option<i32> {
    graph.initializer.iter().find(|t| t.name == name).map(|t| t.data_type)
}

/// The QDQ rewrite: each float operator between dequantised inputs and a quantised output
/// that has an integer form is replaced by it; the dequantise and quantise nodes left
/// without readers go in `prune`.
fn fuse_qdq(graph: &mut pb::GraphProto, keep: &[String]) {
    use pb::tensor_proto::DataType;
    let uses = Uses::of(graph);
    let mut replaced: HashMap<usize, Vec<pb::NodeProto>> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        if !n.domain.is_empty() || n.output.is_empty() {
            continue;
        }
        let Some(q) = uses.quantized_only(graph, &n.output[0]) else { continue };
        let Some(dx) = input(n, 0).and_then(|x| uses.dequantized(graph, x)) else { continue };
        // a dequantised constant weight, int8 or uint8
        let weight = |k: usize| {
            input(n, k).and_then(|w| uses.dequantized(graph, w)).filter(|d| {
                is_initializer(graph, &d.input[0])
                    && matches!(initializer_type(graph, &d.input[0]), Some(t) if t == DataType::Int8 as i32 || t == DataType::Uint8 as i32)
            })
        };
        // an int32 bias quantised with zero point 0 at the product of the input scales, as
        // the quantiser writes it
        let bias = |k: usize| -> Option<Option<&str>> {
            match input(n, k) {
                None => Some(None),
                Some(b) => uses
                    .dequantized(graph, b)
                    .filter(|d| initializer_type(graph, &d.input[0]) == Some(DataType::Int32 as i32))
                    .map(|d| Some(d.input[0].as_str())),
            }
        };
        let q_out = q.output[0].clone();
        let name = label(n).to_string();
        let x = [dx.input[0].as_str(), dx.input[1].as_str(), dx.input[2].as_str()];
        let y = [q.input[1].as_str(), q.input[2].as_str()];
        let nodes = match n.op_type.as_str() {
            "Conv" => {
                let (Some(w), Some(b)) = (weight(1), bias(2)) else { continue };
                let mut inputs = vec![x[0], x[1], x[2], &w.input[0], &w.input[1], &w.input[2], y[0], y[1]];
                inputs.extend(b);
                vec![node("QLinearConv", name, &inputs, q_out, n.attribute.clone())]
            }
            "MatMul" => {
                let Some(w) = weight(1) else { continue };
                vec![node(
                    "QLinearMatMul",
                    name,
                    &[x[0], x[1], x[2], &w.input[0], &w.input[1], &w.input[2], y[0], y[1]],
                    q_out,
                    vec![],
                )]
            }
            "Gemm" => {
                let (Some(w), Some(b)) = (weight(1), bias(2)) else { continue };
                if int_attr(n, "transA", 0) != 0 || attr(n, "beta").is_some_and(|a| a.f != 1.0) {
                    continue;
                }
                let mut fused = n.clone();
                fused.output = vec![q_out];
                let gemm = IntGemm {
                    a: x,
                    b: [&w.input[0], &w.input[1], &w.input[2]],
                    c: b,
                    y: Some((y[0], Some(y[1]))),
                    alpha: attr(n, "alpha").map_or(1.0, |a| a.f),
                    trans_a: false,
                    trans_b: int_attr(n, "transB", 0) != 0,
                };
                match gemm.wire(Expansion::new(&fused)) {
                    Ok(nodes) => nodes,
                    Err(_) => continue,
                }
            }
            // value-moving operators and max-pooling commute with a monotone affine map: on
            // the int8 tensor itself when dequantise and quantise agree
            "MaxPool" | "Flatten" | "Reshape" | "Transpose" | "Dropout" | "Identity" | "Squeeze" | "Unsqueeze" => {
                if !same_params(graph, dx, q) || n.output.iter().filter(|o| !o.is_empty()).count() > 1 {
                    continue;
                }
                let op = if n.op_type == "Dropout" { "Identity" } else { n.op_type.as_str() };
                let mut inputs: Vec<&str> = vec![x[0]];
                if op != "Identity" {
                    inputs.extend(n.input.iter().skip(1).map(String::as_str));
                }
                let attrs = if op == "Identity" { vec![] } else { n.attribute.clone() };
                vec![node(op, name, &inputs, q_out, attrs)]
            }
            _ => continue,
        };
        let mut nodes = nodes;
        if keep.contains(&n.output[0]) {
            // a kept float tensor: what the int8 one holds, dequantised
            nodes.push(node(
                "DequantizeLinear",
                format!("{}.kept", n.output[0]),
                &[&q.output[0], y[0], y[1]],
                n.output[0].clone(),
                vec![],
            ));
        }
        replaced.insert(i, nodes);
        replaced.insert(uses.producer[&q.output[0]], vec![]);
    }
    replace_nodes(graph, replaced);
}

/// Element-wise operators: a `DequantizeLinear` whose only reader is one of these, with
/// its other inputs constant, is safe to leave to tract (see [`explicit_dequantize`]).
const ELEMENT_WISE: &[&str] = &[
    "Relu",
    "Sigmoid",
    "LeakyRelu",
    "Clip",
    "Tanh",
    "HardSigmoid",
    "Exp",
    "Neg",
    "Abs",
    "Sqrt",
    "Identity",
    "Dropout",
    "QuantizeLinear",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Max",
    "Min",
];

/// Spells out `DequantizeLinear` as `(Cast(x) - zero_point) · scale` where tract would
/// misread it. tract folds a dequantise, the single-reader chain after it and the quantise
/// that ends it into a 256-entry lookup table, evaluating the chain on a rank-1 tensor of
/// the 256 codes: right for element-wise operators, wrong for a Softmax (it normalises over
/// the 256 codes: every probability comes out 1.0), a pool or a Concat. The spelled-out form
/// is the same arithmetic (ONNX: `(x - zero_point) · scale`) without the pattern.
fn explicit_dequantize(graph: &mut pb::GraphProto) {
    let uses = Uses::of(graph);
    let constant = |t: &str| {
        is_initializer(graph, t)
            || uses.producer.get(t).is_some_and(|&p| {
                let n = &graph.node[p];
                n.op_type == "Constant"
                    || (n.op_type == "DequantizeLinear"
                        && n.input.iter().all(|i| i.is_empty() || is_initializer(graph, i)))
            })
    };
    let mut spelled: HashMap<usize, Vec<pb::NodeProto>> = HashMap::new();
    for (i, dq) in graph.node.iter().enumerate() {
        if dq.op_type != "DequantizeLinear" || !dq.domain.is_empty() || dq.input.is_empty() || constant(&dq.input[0]) {
            continue;
        }
        let out = &dq.output[0];
        if uses.outputs.contains(out) {
            continue;
        }
        let safe = match uses.consumers.get(out).map(Vec::as_slice) {
            // several readers: tract's fold needs a single one
            None | Some([_, _, ..]) => true,
            Some([one]) => {
                let n = &graph.node[*one];
                ELEMENT_WISE.contains(&n.op_type.as_str())
                    && n.input.iter().all(|x| x == out || x.is_empty() || constant(x))
            }
            Some([]) => true,
        };
        // per-axis parameters (weights) are constants, handled above; a per-axis activation
        // would need the scale reshaped: left as it is
        if safe || attr(dq, "axis").is_some() {
            continue;
        }
        let mut e = Expansion::new(dq);
        let x = e.add("Cast", "f32", &[&dq.input[0]], vec![int("to", pb::tensor_proto::DataType::Float as i64)]);
        let x = match input(dq, 2) {
            Some(z) => {
                let z = e.add("Cast", "zero_f32", &[z], vec![int("to", pb::tensor_proto::DataType::Float as i64)]);
                e.add("Sub", "centred", &[&x, &z], vec![])
            }
            None => x,
        };
        spelled.insert(i, e.finish("Mul", &[&x, &dq.input[1]], vec![]));
    }
    replace_nodes(graph, spelled);
}

/// Puts each node at an index of `replaced` in place of the nodes listed for it (none:
/// removed), keeping the graph's order.
fn replace_nodes(graph: &mut pb::GraphProto, mut replaced: HashMap<usize, Vec<pb::NodeProto>>) {
    if replaced.is_empty() {
        return;
    }
    let old = std::mem::take(&mut graph.node);
    for (i, n) in old.into_iter().enumerate() {
        match replaced.remove(&i) {
            Some(nodes) => graph.node.extend(nodes),
            None => graph.node.push(n),
        }
    }
}

/// Drops nodes whose outputs nobody reads (the dequantise nodes a rewrite bypassed), then
/// the constants nobody reads.
fn prune(graph: &mut pb::GraphProto, keep: &[String]) {
    loop {
        let read: HashSet<&str> = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter().map(String::as_str))
            .chain(graph.output.iter().map(|o| o.name.as_str()))
            .chain(keep.iter().map(String::as_str))
            .collect();
        let dead: Vec<usize> = graph
            .node
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.output.iter().any(|o| read.contains(o.as_str())))
            .map(|(i, _)| i)
            .collect();
        if dead.is_empty() {
            break;
        }
        for i in dead.into_iter().rev() {
            graph.node.remove(i);
        }
    }
    let read: HashSet<String> = graph.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
    if graph.initializer.iter().any(|t| !read.contains(&t.name)) {
        graph.initializer.retain(|t| read.contains(&t.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(op: &str, domain: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
        pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            name: output.into(),
            op_type: op.into(),
            domain: domain.into(),
            ..Default::default()
        }
    }

    fn graph(nodes: Vec<pb::NodeProto>, output: &str) -> pb::GraphProto {
        pb::GraphProto {
            node: nodes,
            output: vec![pb::ValueInfoProto { name: output.into(), ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn an_unknown_contrib_op_is_refused_by_name() {
        let mut g = graph(vec![n("QLinearWhatever", MS, &["x"], "y")], "y");
        let e = format!("{:#}", standardise(&mut g, &[]).unwrap_err());
        assert!(e.contains("QLinearWhatever") && e.contains("com.microsoft"), "{e}");
    }

    #[test]
    fn qlinear_add_keeps_its_output_name_and_dequantises_explicitly() {
        let mut g = graph(vec![n("QLinearAdd", MS, &["a", "as", "az", "b", "bs", "bz", "cs", "cz"], "c")], "c");
        standardise(&mut g, &[]).unwrap();
        let last = g.node.last().unwrap();
        assert_eq!((last.op_type.as_str(), last.output[0].as_str()), ("QuantizeLinear", "c"));
        assert_eq!(last.input, ["c.float", "cs", "cz"]);
        // both operands are computed: tract's lookup-table fold must not see a DequantizeLinear
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert!(!ops.contains(&"DequantizeLinear"), "{ops:?}");
        assert_eq!(ops.iter().filter(|o| **o == "Sub").count(), 2, "{ops:?}");
    }

    #[test]
    fn a_missing_required_input_is_named() {
        let mut g = graph(vec![n("QGemm", MS, &["a", "as"], "y")], "y");
        let e = format!("{:#}", standardise(&mut g, &[]).unwrap_err());
        assert!(e.contains("QGemm") && e.contains("a_zero_point"), "{e}");
    }

    #[test]
    fn dequantise_maxpool_quantise_runs_on_the_int8_tensor() {
        let mut g = graph(
            vec![
                n("DequantizeLinear", "", &["xq", "s", "z"], "x"),
                n("MaxPool", "", &["x"], "p"),
                n("QuantizeLinear", "", &["p", "s", "z"], "pq"),
                n("Relu", "", &["pq"], "out"),
            ],
            "out",
        );
        standardise(&mut g, &[]).unwrap();
        let ops: Vec<(&str, &[String])> = g.node.iter().map(|n| (n.op_type.as_str(), n.input.as_slice())).collect();
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!(ops[0].0, "MaxPool");
        assert_eq!(g.node[0].input, ["xq"]);
        assert_eq!(g.node[0].output, ["pq"]);
    }

    #[test]
    fn different_parameters_leave_the_float_operator() {
        let mut g = graph(
            vec![
                n("DequantizeLinear", "", &["xq", "s", "z"], "x"),
                n("MaxPool", "", &["x"], "p"),
                n("QuantizeLinear", "", &["p", "s2", "z"], "pq"),
            ],
            "pq",
        );
        standardise(&mut g, &[]).unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        // the float max-pool stays, its input dequantised as (Cast(x) - z) * s
        assert_eq!(ops, ["Cast", "Cast", "Sub", "Mul", "MaxPool", "QuantizeLinear"]);
        assert_eq!(g.node[3].output[0], "x");
    }
}
