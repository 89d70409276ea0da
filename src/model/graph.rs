//! Reading the ONNX graph into the crate's own types: input and output facts, Softmax
//! detection, the chain of layers for receptive-field analysis, the layers whose
//! activations are kept, and the weights the backward pass needs.

use crate::gradients::Step;
use crate::receptive_field::{Layer, Op, Window};
use anyhow::{ensure, Context, Result};
use std::collections::HashMap;
use tract_onnx::pb;
use tract_onnx::prelude::DatumType;

/// Metadata key holding the class names as a JSON array of strings; `new Vgg` reads it
/// when the options give no labels.
pub const LABELS_KEY: &str = "labels";

/// Metadata key holding the preprocessing as a JSON object with the fields of
/// `options.preprocess`; `new Vgg` reads it when the options give no `preprocess`.
pub const PREPROCESS_KEY: &str = "preprocess";

/// What the crate needs to know about an ONNX graph, read from the protobuf.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphInfo {
    pub input_name: String,
    /// Declared input shape; `None` for a dynamic (symbolic or missing) dimension.
    pub input_shape: Vec<Option<usize>>,
    pub output_name: String,
    pub output_shape: Vec<Option<usize>>,
    /// The first output comes from a Softmax (possibly through reshapes), so it holds
    /// probabilities already.
    pub ends_in_softmax: bool,
    /// ONNX operator types in graph order (one entry per node).
    pub op_types: Vec<String>,
    /// The graph as a chain of layers from input to output, for receptive-field
    /// analysis; the reason where the graph is not a simple chain.
    pub layers: std::result::Result<Vec<Layer>, String>,
    /// Why the input looks channels-last ([N, H, W, C], as tf2onnx and keras2onnx write
    /// it): the shape, or a leading Transpose to NCHW; `None` where it does not.
    pub channels_last: Option<String>,
    /// The constant arithmetic the graph applies to its input before anything else (a
    /// Keras `Rescaling`, a `Sub`/`Div` by constants), e.g. "Mul by 0.003921569"; `None`
    /// where the graph takes its input as it is.
    pub input_arithmetic: Option<String>,
    /// Class names from the model's metadata (`labels`: a JSON array of strings, as
    /// `model::export` writes it); `None` where there is none or it is something else.
    pub labels: Option<Vec<String>>,
}

/// Formats a declared shape with `?` for dynamic dims.
pub fn fmt_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or("?".into(), |d| d.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

pub(super) fn graph_info(proto: &pb::ModelProto) -> Result<GraphInfo> {
    let graph = proto.graph.as_ref().context("the ONNX model has no graph")?;
    ensure!(!graph.node.is_empty(), "the ONNX graph has no nodes");
    // real inputs are graph inputs that are not initializers (older exports list weights too)
    let initializers: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> =
        graph.input.iter().filter(|i| !initializers.contains(i.name.as_str())).collect();
    ensure!(
        inputs.len() == 1,
        "expected exactly one image input, the graph has {}: {:?}",
        inputs.len(),
        inputs.iter().map(|i| &i.name).collect::<Vec<_>>()
    );
    let output = graph.output.first().context("the ONNX graph declares no output")?;
    // every declared output must come from somewhere (tract indexes by the name and would
    // panic: found by fuzzing)
    for o in &graph.output {
        let known = graph.node.iter().any(|n| n.output.contains(&o.name))
            || graph.input.iter().any(|i| i.name == o.name)
            || graph.initializer.iter().any(|t| t.name == o.name);
        ensure!(known, "the graph declares an output '{}' that no node produces", o.name);
    }
    check_windows(graph)?;
    check_permutations(graph)?;
    super::axes::check(graph)?;
    check_weights_fit(graph)?;
    let input_shape = declared_shape(inputs[0]);
    ensure!(
        input_shape.len() == 4,
        "input '{}' has shape {}, expected rank 4 (an image batch)",
        inputs[0].name,
        fmt_shape(&input_shape)
    );
    let channels_last = channels_last(graph, &inputs[0].name, &input_shape);
    Ok(GraphInfo {
        input_arithmetic: input_arithmetic(graph, &inputs[0].name),
        channels_last,
        input_name: inputs[0].name.clone(),
        input_shape,
        output_name: output.name.clone(),
        output_shape: declared_shape(output),
        ends_in_softmax: ends_in_softmax(graph, &output.name),
        op_types: graph.node.iter().map(|n| n.op_type.clone()).collect(),
        layers: layer_chain(graph, &inputs[0].name),
        labels: proto
            .metadata_props
            .iter()
            .find(|p| p.key == LABELS_KEY)
            .and_then(|p| serde_json::from_str(&p.value).ok()),
    })
}

/// `ModelProto` with only its metadata (field 14): prost skips the other fields without
/// copying them, so the graph's weights are not decoded.
#[derive(Clone, PartialEq, prost::Message)]
struct MetadataOnly {
    #[prost(message, repeated, tag = "14")]
    metadata_props: Vec<pb::StringStringEntryProto>,
}

/// The value under `key` in an ONNX file's metadata (`ModelProto.metadata_props`), read
/// without decoding the graph: the preprocessing must be known before the model is
/// planned, and decoding copies every weight. `None` where the bytes hold no such entry,
/// or do not decode (the full decode then says why).
pub fn metadata_value(bytes: &[u8], key: &str) -> Option<String> {
    let m = <MetadataOnly as prost::Message>::decode(bytes).ok()?;
    m.metadata_props.into_iter().find(|p| p.key == key).map(|p| p.value)
}

/// Everything wasm32 can address is 4 GiB, and the plan needs room besides the weights.
const MAX_WEIGHT_BYTES: u128 = 3 << 30;

/// Refuses a graph whose constants, as declared, could not fit in memory, before tract
/// allocates them (a file of a few bytes can declare a [100000, 100000] tensor).
fn check_weights_fit(graph: &pb::GraphProto) -> Result<()> {
    use pb::tensor_proto::DataType;
    let mut total: u128 = 0;
    for t in &graph.initializer {
        let size = match DataType::try_from(t.data_type) {
            Ok(DataType::Double | DataType::Int64 | DataType::Uint64 | DataType::Complex64) => 8,
            Ok(DataType::Float | DataType::Int32 | DataType::Uint32) => 4,
            Ok(DataType::Float16 | DataType::Bfloat16 | DataType::Int16 | DataType::Uint16) => 2,
            _ => 1,
        };
        let elements = t.dims.iter().try_fold(1u128, |n, &d| (d >= 0).then(|| n.saturating_mul(d as u128)));
        let elements =
            elements.with_context(|| format!("constant '{}' has a negative dimension {:?}", t.name, t.dims))?;
        total = total.saturating_add(elements.saturating_mul(size));
    }
    ensure!(
        total <= MAX_WEIGHT_BYTES,
        "the model's constants take {total} bytes, more than the {MAX_WEIGHT_BYTES} that fit in wasm32 memory beside the plan"
    );
    Ok(())
}

/// The only node that reads `name`, if exactly one does.
fn sole_consumer<'a>(graph: &'a pb::GraphProto, name: &str) -> Option<&'a pb::NodeProto> {
    let mut it = graph.node.iter().filter(|n| n.input.iter().any(|i| i == name));
    match (it.next(), it.next()) {
        (Some(n), None) => Some(n),
        _ => None,
    }
}

/// Channels-last input: C in {1, 3} last and the second dim not a channel count, or the
/// input transposed to NCHW ([0, 3, 1, 2]) by its first op.
fn channels_last(graph: &pb::GraphProto, input: &str, shape: &[Option<usize>]) -> Option<String> {
    let is_channels = |d: Option<usize>| matches!(d, Some(1 | 3));
    if is_channels(shape[3]) && !is_channels(shape[1]) {
        return Some(format!("its input shape {} has {} channels last", fmt_shape(shape), shape[3].unwrap_or(0)));
    }
    let node = sole_consumer(graph, input).filter(|n| n.op_type == "Transpose")?;
    (attr(node, "perm")?.ints == [0, 3, 1, 2])
        .then(|| "its first op transposes the input from NHWC to NCHW".to_string())
}

/// The constant Mul / Div / Sub / Add ops the input goes through first (through
/// Transposes and Casts), described; `None` when there are none.
fn input_arithmetic(graph: &pb::GraphProto, input: &str) -> Option<String> {
    let scalar = |name: &str| -> Option<String> {
        let t = graph.initializer.iter().find(|t| t.name == name)?;
        let (_, v) = float_initializer(graph, &t.name).ok()?;
        Some(if v.iter().all(|x| *x == v[0]) { format!("{}", v[0]) } else { format!("{v:?}") })
    };
    let mut steps = Vec::new();
    let mut current = input.to_string();
    while let Some(node) = sole_consumer(graph, &current) {
        match node.op_type.as_str() {
            "Transpose" | "Cast" | "Identity" => {}
            op @ ("Mul" | "Div" | "Sub" | "Add") => {
                let other = node.input.iter().find(|i| **i != current)?;
                steps.push(format!("{op} by {}", scalar(other)?));
            }
            _ => break,
        }
        current = node.output.first()?.clone();
    }
    (!steps.is_empty()).then(|| steps.join(", then "))
}

pub(super) fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

pub(super) fn attr_pair(node: &pb::NodeProto, name: &str, default: usize) -> [usize; 2] {
    match attr(node, name).map(|a| a.ints.as_slice()) {
        Some([a, b, ..]) => [*a as usize, *b as usize],
        _ => [default; 2],
    }
}

/// Follows the graph from `input` to its end, one consumer at a time, reading each node's
/// geometry. VGG exports are chains; a graph that branches is reported, not guessed at.
fn layer_chain(graph: &pb::GraphProto, input: &str) -> std::result::Result<Vec<Layer>, String> {
    let mut dims: HashMap<&str, &[i64]> =
        graph.initializer.iter().map(|t| (t.name.as_str(), t.dims.as_slice())).collect();
    // a QDQ model's weights: int8 constants, dequantised
    for n in graph.node.iter().filter(|n| n.op_type == "DequantizeLinear") {
        if let (Some(d), Some(out)) = (n.input.first().and_then(|i| dims.get(i.as_str()).copied()), n.output.first()) {
            dims.insert(out.as_str(), d);
        }
    }
    let is_const = |name: &str| dims.contains_key(name) || name.is_empty();
    let mut layers = Vec::new();
    let mut current = input.to_string();
    let (mut block, mut conv_in_block, mut dense) = (1, 0, 0);
    for _ in 0..=graph.node.len() {
        let consumers: Vec<&pb::NodeProto> = graph.node.iter().filter(|n| n.input.contains(&current)).collect();
        let node = match consumers.as_slice() {
            [] => return Ok(layers),
            [one] => *one,
            many => {
                return Err(format!(
                    "the graph branches after '{current}' (into {}); analysis needs a chain",
                    many.iter().map(|n| n.op_type.as_str()).collect::<Vec<_>>().join(", ")
                ))
            }
        };
        let out = node.output.first().cloned().unwrap_or_default();
        let weight_dims = |idx: usize| node.input.get(idx).and_then(|w| dims.get(w.as_str()).copied());
        let has_input = |idx: usize| node.input.get(idx).is_some_and(|n| !n.is_empty());
        let op = match node.op_type.as_str() {
            "Conv" | "QLinearConv" | "ConvInteger" => {
                let (w, b) = match node.op_type.as_str() {
                    "QLinearConv" => (3, 8),
                    // no bias input: dynamic quantisation adds it after rescaling
                    "ConvInteger" => (1, usize::MAX),
                    _ => (1, 2),
                };
                let wd = weight_dims(w).ok_or_else(|| format!("{out}: convolution weights are not constant"))?;
                let groups = attr(node, "group").map_or(1, |a| a.i.max(1) as usize);
                Op::Conv { out_channels: wd[0] as usize, groups, has_bias: has_input(b) }
            }
            "MaxPool" => Op::MaxPool,
            "AveragePool" | "QLinearAveragePool" => Op::AveragePool,
            "Flatten" | "Reshape" => Op::Flatten,
            "Gemm" => {
                let wd = weight_dims(1).ok_or_else(|| format!("{out}: Gemm weights are not constant"))?;
                let trans_b = attr(node, "transB").is_some_and(|a| a.i != 0);
                Op::Dense { out_features: wd[if trans_b { 0 } else { 1 }] as usize, has_bias: has_input(2) }
            }
            // onnxruntime's int8 Gemm (com.microsoft): (A, scale, zero point, B, ..., C, ...)
            "QGemm" => {
                let wd = weight_dims(3).ok_or_else(|| format!("{out}: QGemm weights are not constant"))?;
                let trans_b = attr(node, "transB").is_some_and(|a| a.i != 0);
                Op::Dense { out_features: wd[if trans_b { 0 } else { 1 }] as usize, has_bias: has_input(6) }
            }
            "MatMul" | "QLinearMatMul" | "MatMulInteger" => {
                let w = if node.op_type == "QLinearMatMul" { 3 } else { 1 };
                let wd = weight_dims(w).ok_or_else(|| format!("{out}: MatMul weights are not constant"))?;
                Op::Dense { out_features: wd[1] as usize, has_bias: false }
            }
            "Softmax" | "QLinearSoftmax" => Op::Softmax,
            "Relu"
            | "BatchNormalization"
            | "Dropout"
            | "Identity"
            | "LRN"
            | "QuantizeLinear"
            | "DequantizeLinear"
            | "DynamicQuantizeLinear"
            | "Add"
            | "Mul"
            | "Sub"
            | "Div"
            | "Cast"
            | "QLinearAdd"
            | "QLinearMul"
            | "QLinearSigmoid"
            | "QLinearLeakyRelu" => Op::Pointwise,
            // channels-last exports transpose to NCHW first and back before flattening;
            // the analysis is in NCHW terms throughout, so both are no-ops to it
            "Transpose" => Op::Pointwise,
            other => return Err(format!("{out}: {other} is not part of the VGG operator set")),
        };
        if matches!(op, Op::Pointwise) && node.input.iter().filter(|i| !is_const(i)).count() > 1 {
            return Err(format!("{out}: {} joins two branches; analysis needs a chain", node.op_type));
        }
        // a bias Add straight after MatMul belongs to the dense layer, also when an int8
        // MatMul's DequantizeLinear stands between them (onnxruntime's quantiser writes that);
        // the dense layer then moves after the DequantizeLinear, ending where its bias does
        if node.op_type == "Add" || node.op_type == "QLinearAdd" {
            let dense =
                layers.iter().rposition(|l| !matches!(l.op_type.as_str(), "QuantizeLinear" | "DequantizeLinear"));
            if let Some(j) = dense.filter(|&j| matches!(layers[j].op, Op::Dense { has_bias: false, .. })) {
                if let Op::Dense { has_bias, .. } = &mut layers[j].op {
                    *has_bias = true;
                }
                layers[j].name = out.clone();
                layers[j..].rotate_left(1);
                current = out;
                continue;
            }
        }
        let label = match op {
            Op::Conv { .. } => {
                conv_in_block += 1;
                format!("conv{block}_{conv_in_block}")
            }
            // a pool closes a block of convolutions; one after it (torchvision's adaptive
            // average pool) does not
            Op::MaxPool | Op::AveragePool if conv_in_block > 0 => {
                let l = format!("pool{block}");
                block += 1;
                conv_in_block = 0;
                l
            }
            Op::MaxPool | Op::AveragePool => node.op_type.to_lowercase(),
            Op::Dense { .. } => {
                dense += 1;
                // VGG numbers its fully connected layers after the 5 blocks: fc6, fc7, fc8
                format!("fc{}", block - 1 + dense)
            }
            _ => node.op_type.to_lowercase(),
        };
        let pads: Vec<usize> =
            attr(node, "pads").map(|a| a.ints.iter().map(|&p| p as usize).collect()).unwrap_or_default();
        let kernel = match (&op, weight_dims(if node.op_type == "QLinearConv" { 3 } else { 1 })) {
            (Op::Conv { .. }, Some(wd)) if wd.len() == 4 => [wd[2] as usize, wd[3] as usize],
            _ => attr_pair(node, "kernel_shape", 1),
        };
        if let Some(a) = attr(node, "auto_pad") {
            let mode = String::from_utf8_lossy(&a.s);
            if mode != "NOTSET" && mode != "VALID" {
                return Err(format!("{out}: auto_pad {mode} is not supported by the analysis"));
            }
        }
        layers.push(Layer {
            name: out.clone(),
            node: if node.name.is_empty() { out.clone() } else { node.name.clone() },
            label,
            op_type: node.op_type.clone(),
            op,
            window: Window {
                kernel,
                stride: attr_pair(node, "strides", 1),
                pad_begin: [pads.first().copied().unwrap_or(0), pads.get(1).copied().unwrap_or(0)],
                pad_end: [pads.get(2).copied().unwrap_or(0), pads.get(3).copied().unwrap_or(0)],
                dilation: attr_pair(node, "dilations", 1),
                ceil_mode: attr(node, "ceil_mode").is_some_and(|a| a.i != 0),
            },
        });
        current = out;
    }
    Err("the graph has a cycle".into())
}

/// Convolutions and pools whose `pads`, `strides` or `dilations` do not match their
/// `kernel_shape` (pads: two per spatial axis; the others: one) are refused here: tract
/// indexes them by axis and would panic (found by fuzzing).
fn check_windows(graph: &pb::GraphProto) -> Result<()> {
    const WINDOWED: [&str; 6] = ["Conv", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "LpPool"];
    for node in graph.node.iter().filter(|n| WINDOWED.contains(&n.op_type.as_str())) {
        let Some(axes) = attr(node, "kernel_shape").map(|a| a.ints.len()) else { continue };
        for (name, per_axis) in [("pads", 2), ("strides", 1), ("dilations", 1)] {
            if let Some(a) = attr(node, name) {
                ensure!(
                    a.ints.len() == per_axis * axes,
                    "{} '{}': {name} has {} values, its {axes}-D kernel needs {}",
                    node.op_type,
                    node.name,
                    a.ints.len(),
                    per_axis * axes
                );
            }
        }
    }
    Ok(())
}

/// A Transpose's `perm` must list each axis exactly once: tract indexes the input's shape
/// by its values and panicked on an axis past the rank (found by fuzzing).
fn check_permutations(graph: &pb::GraphProto) -> Result<()> {
    for node in graph.node.iter().filter(|n| n.op_type == "Transpose") {
        let Some(perm) = attr(node, "perm").map(|a| &a.ints) else { continue };
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        ensure!(
            sorted.into_iter().eq(0..perm.len() as i64),
            "Transpose '{}': perm {perm:?} is not a permutation of the axes 0..{}",
            node.name,
            perm.len()
        );
    }
    Ok(())
}

fn declared_shape(v: &pb::ValueInfoProto) -> Vec<Option<usize>> {
    use pb::tensor_shape_proto::dimension::Value;
    let Some(pb::type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return vec![];
    };
    let Some(shape) = &t.shape else { return vec![] };
    shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(Value::DimValue(n)) if n > 0 => Some(n as usize),
            _ => None,
        })
        .collect()
}

/// Walks back from `name` through shape-only ops and reports whether a Softmax produced it.
fn ends_in_softmax(graph: &pb::GraphProto, name: &str) -> bool {
    let mut name = name.to_string();
    for _ in 0..graph.node.len() {
        let Some(node) = graph.node.iter().find(|n| n.output.contains(&name)) else {
            return false;
        };
        match node.op_type.as_str() {
            "Softmax" => return true,
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout" => match node.input.first() {
                Some(i) => name = i.clone(),
                None => return false,
            },
            _ => return false,
        }
    }
    false
}

/// The layers whose activations are kept: what a backward pass reads, ReLU outputs (their
/// masks) and the inputs and outputs of pools. In a VGG these are also the activations
/// people look at.
pub(super) fn kept_layers(chain: &[Layer]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, l) in chain.iter().enumerate() {
        let pool = matches!(l.op, Op::MaxPool | Op::AveragePool);
        if pool && i > 0 && !names.contains(&chain[i - 1].name) {
            names.push(chain[i - 1].name.clone());
        }
        if (pool || l.op_type == "Relu") && !names.contains(&l.name) {
            names.push(l.name.clone());
        }
    }
    names
}

pub(super) fn float_initializer(graph: &pb::GraphProto, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let t = graph.initializer.iter().find(|t| t.name == name).with_context(|| format!("no constant '{name}'"))?;
    let t = tract_onnx::tensor::load_tensor(&tract_onnx::data_resolver::FopenDataResolver, t, None)
        .with_context(|| format!("reading constant '{name}'"))?;
    // one allocation for the values: fc6 alone is 411 MB
    let t = if t.datum_type() == DatumType::F32 { t } else { t.cast_to::<f32>()?.into_owned() };
    let a = t.into_plain_array::<f32>()?;
    let shape = a.shape().to_vec();
    let a = if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() };
    let len = a.len();
    match a.into_raw_vec_and_offset() {
        (v, Some(0)) if v.len() == len => Ok((shape, v)),
        (v, offset) => {
            let start = offset.unwrap_or(0);
            Ok((shape, v[start..start + len].to_vec()))
        }
    }
}

/// Reads what the backward pass needs of each chain layer (weights, pooling geometry).
pub(super) fn backward_steps(graph: &pb::GraphProto, chain: &[Layer]) -> std::result::Result<Vec<Step>, String> {
    let producer = |name: &str| graph.node.iter().find(|n| n.output.first().is_some_and(|o| o == name));
    chain
        .iter()
        .map(|l| {
            let mut node = producer(&l.name).ok_or_else(|| format!("no node produces '{}'", l.name))?;
            // a dense layer's bias Add was merged into it: its weights are on the MatMul
            if node.op_type == "Add" && matches!(l.op, Op::Dense { .. }) {
                let mm = node.input.first().ok_or("bias Add without input")?;
                node = producer(mm).ok_or_else(|| format!("no node produces '{mm}'"))?;
            }
            let w = |i: usize| {
                let name = node.input.get(i).ok_or_else(|| format!("{}: missing input {i}", l.name))?;
                float_initializer(graph, name).map_err(|e| format!("{}: {e:#}", l.name))
            };
            let int_attr = |n: &str, d: i64| attr(node, n).map_or(d, |a| a.i);
            Ok(match node.op_type.as_str() {
                "Conv" => {
                    let Op::Conv { out_channels, groups, .. } = l.op else {
                        return Err(format!("{}: not a convolution", l.name));
                    };
                    Step::Conv {
                        weights: w(1)?.1,
                        out_channels,
                        groups,
                        kernel: l.window.kernel,
                        stride: l.window.stride,
                        pad: l.window.pad_begin,
                        dilation: l.window.dilation,
                    }
                }
                "BatchNormalization" => {
                    let eps = attr(node, "epsilon").map_or(1e-5, |a| a.f);
                    let (gamma, var) = (w(1)?.1, w(4)?.1);
                    Step::BatchNorm { scale: gamma.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect() }
                }
                "Relu" => Step::Relu,
                "MaxPool" => {
                    let w = &l.window;
                    Step::MaxPool { kernel: w.kernel, stride: w.stride, pad: w.pad_begin, dilation: w.dilation }
                }
                "AveragePool" => Step::AveragePool {
                    kernel: l.window.kernel,
                    stride: l.window.stride,
                    pad: l.window.pad_begin,
                    divide_by_kernel: int_attr("count_include_pad", 0) != 0
                        || l.window.pad_begin == [0, 0] && l.window.pad_end == [0, 0],
                },
                "Flatten" | "Reshape" => Step::Flatten,
                "Gemm" | "MatMul" => {
                    let Op::Dense { out_features, .. } = l.op else {
                        return Err(format!("{}: not a dense layer", l.name));
                    };
                    let (dims, mut weights) = w(1)?;
                    if node.op_type == "Gemm" {
                        if int_attr("transA", 0) != 0 {
                            return Err(format!("{}: Gemm with transA is not supported", l.name));
                        }
                        let alpha = attr(node, "alpha").map_or(1.0, |a| a.f);
                        weights.iter_mut().for_each(|v| *v *= alpha);
                    }
                    let out_major = node.op_type == "Gemm" && int_attr("transB", 0) != 0;
                    let inputs = if out_major { dims[1] } else { dims[0] };
                    Step::Dense { weights, inputs, outputs: out_features, out_major }
                }
                "Dropout" | "Identity" | "Softmax" => Step::Identity,
                "Add" | "Sub" => Step::Identity, // a constant shift
                other => return Err(format!("{}: no gradient for {other}", l.name)),
            })
        })
        .collect()
}

#[cfg(test)]
mod metadata_tests {
    use super::*;
    use prost::Message;

    #[test]
    fn metadata_is_read_from_the_bytes_without_the_graph() {
        let entry = |k: &str, v: &str| pb::StringStringEntryProto { key: k.into(), value: v.into() };
        let proto = pb::ModelProto {
            ir_version: 8,
            graph: Some(pb::GraphProto { name: "g".repeat(300), ..Default::default() }),
            metadata_props: vec![entry("labels", "[\"a\"]"), entry("preprocess", "{\"resize\": 112}")],
            ..Default::default()
        };
        let bytes = proto.encode_to_vec();
        assert_eq!(metadata_value(&bytes, "preprocess").as_deref(), Some("{\"resize\": 112}"));
        assert_eq!(metadata_value(&bytes, "labels").as_deref(), Some("[\"a\"]"));
        assert_eq!(metadata_value(&bytes, "other"), None);
        // cut anywhere, or not a protobuf: no value, no panic
        for n in 0..bytes.len() {
            let _ = metadata_value(&bytes[..n], "preprocess");
        }
        assert_eq!(metadata_value(b"\xff\xff\xff", "preprocess"), None);
    }
}
