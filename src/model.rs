//! ONNX bytes to a runnable tract plan: the only module that imports tract.
//!
//! The ONNX protobuf is decoded once; what the rest of the crate needs to know about the
//! graph (input and output names and shapes, whether it already ends in Softmax) is read
//! from it into plain types, then tract builds and optimises the plan. Plans are built for
//! batch 1. A graph with dynamic height and width keeps its un-optimised form and gets a
//! plan per input size, built on first use and cached for the last size seen.

use anyhow::{ensure, Context, Result};
use std::sync::Arc;
use crate::gradients::Step;
use crate::receptive_field::{Layer, Op};
use std::collections::HashMap;
use tract_onnx::pb;
use tract_onnx::prelude::*;

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
}

/// A loaded model: graph facts plus a plan ready to run.
pub struct Model {
    info: GraphInfo,
    /// Kept only when the spatial input dims are dynamic, to build plans per size.
    template: Option<InferenceModel>,
    plan: Arc<TypedRunnableModel>,
    plan_shape: Vec<usize>,
    /// Tensor names of the plan's outputs: the graph output, then observed layers.
    outputs: Vec<String>,
    steps: std::result::Result<Vec<Step>, String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("info", &self.info).field("plan_shape", &self.plan_shape).finish()
    }
}

impl Model {
    /// Parses and optimises an ONNX model. `default_hw` is the spatial size to plan for
    /// first when the graph leaves height and width dynamic; `nhwc` says the input is
    /// laid out [N, H, W, C].
    pub fn load(bytes: &[u8], default_hw: [usize; 2], nhwc: bool, observe: bool) -> Result<Model> {
        ensure!(!bytes.is_empty(), "model bytes are empty (0 bytes)");
        // decode the protobuf
        // Shape hints in value_info and outputs name the batch symbolically ("N"); we plan
        // for batch 1, and tract would refuse to unify the two, so let it infer shapes.
        let onnx = tract_onnx::onnx().with_ignore_value_info(true).with_ignore_output_shapes(true);
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .with_context(|| format!("decoding ONNX protobuf ({} bytes); is this an .onnx file?", bytes.len()))?;
        let info = graph_info(&proto)?;
        // build the tract model from it
        let mut model = onnx.model_for_proto_model(&proto).context("building the tract model from the ONNX graph")?;
        let mut outputs = vec![info.output_name.clone()];
        let mut steps = Err("activations were not asked for (options.activations)".to_string());
        if observe {
            // keep every layer a backward pass needs as an extra output, chosen before the
            // optimiser runs so that it cannot fuse them away
            let chain = info.layers.as_ref().map_err(|e| anyhow::anyhow!("activations need a chain of layers: {e}"))?;
            outputs.extend(observed_layers(chain).into_iter().filter(|n| *n != info.output_name));
            let outlets = outputs
                .iter()
                .map(|n| model.find_outlet_label(n).with_context(|| format!("no tensor '{n}' in the tract model")))
                .collect::<Result<Vec<_>>>()?;
            model.select_output_outlets(&outlets)?;
            let graph = proto.graph.as_ref().context("the ONNX model has no graph")?;
            steps = backward_steps(graph, chain);
        }
        drop(proto);
        let shape = concrete_input_shape(&info.input_shape, default_hw, nhwc)?;
        let dynamic = info.input_shape.iter().skip(1).any(Option::is_none);
        let (template, plan) = if dynamic {
            let plan = optimise(model.clone(), &shape)?;
            (Some(model), plan)
        } else {
            (None, optimise(model, &shape)?)
        };
        Ok(Model { info, template, plan, plan_shape: shape, outputs, steps })
    }

    /// Names of the outputs `run` returns, the graph's own output first.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// The backward pass's view of each chain layer, or why there is none.
    pub fn steps(&self) -> std::result::Result<&[Step], &str> {
        self.steps.as_deref().map_err(String::as_str)
    }

    pub fn info(&self) -> &GraphInfo {
        &self.info
    }

    /// Whether height and width may change between runs.
    pub fn is_dynamic(&self) -> bool {
        self.template.is_some()
    }

    /// Runs the model on one f32 tensor of `shape`; returns each output's shape and data,
    /// in the order of [`Model::output_names`].
    pub fn run(&mut self, data: Vec<f32>, shape: &[usize]) -> Result<Vec<(Vec<usize>, Vec<f32>)>> {
        let volume: usize = shape.iter().product();
        ensure!(
            data.len() == volume,
            "input tensor has {} values, but shape {shape:?} needs {volume}",
            data.len()
        );
        ensure!(
            shape.len() == self.info.input_shape.len(),
            "input shape {shape:?} has rank {}, the model's input '{}' has rank {} ({})",
            shape.len(),
            self.info.input_name,
            self.info.input_shape.len(),
            fmt_shape(&self.info.input_shape)
        );
        for (i, (&got, want)) in shape.iter().zip(&self.info.input_shape).enumerate() {
            if let Some(want) = want {
                ensure!(
                    got == *want || (i == 0 && got == 1),
                    "input shape {shape:?} does not fit the model's input '{}' {} (axis {i})",
                    self.info.input_name,
                    fmt_shape(&self.info.input_shape)
                );
            }
        }
        ensure!(shape[0] == 1, "batch size must be 1, got input shape {shape:?}");
        if shape != self.plan_shape.as_slice() {
            let template = self.template.as_ref().with_context(|| {
                format!("input shape {shape:?} differs from the model's fixed {:?}", self.plan_shape)
            })?;
            self.plan = optimise(template.clone(), shape)?;
            self.plan_shape = shape.to_vec();
        }
        let input = tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), data)
            .context("shaping the input tensor")?;
        let outputs = self
            .plan
            .run(tvec!(Tensor::from(input).into_tvalue()))
            .with_context(|| format!("running the model on input shape {shape:?}"))?;
        ensure!(!outputs.is_empty(), "the model produced no output");
        outputs
            .iter()
            .map(|out| {
                let out = out.cast_to::<f32>().context("converting an output to f32")?;
                let view = out.to_plain_array_view::<f32>()?;
                Ok((view.shape().to_vec(), view.iter().copied().collect()))
            })
            .collect()
    }
}

fn optimise(model: InferenceModel, shape: &[usize]) -> Result<Arc<TypedRunnableModel>> {
    // fix the input to one concrete f32 tensor, then type, optimise and plan
    let model = model
        .with_input_fact(0, f32::fact(shape).into())
        .with_context(|| format!("setting the input shape to {shape:?}"))?;
    let typed = model.into_optimized().with_context(|| format!("optimising the model for input {shape:?}"))?;
    typed.into_runnable().context("planning the model")
}

/// The concrete shape the first plan is built for: batch 1, declared dims where fixed,
/// `default_hw` for dynamic spatial dims, 3 channels if even those are dynamic.
fn concrete_input_shape(declared: &[Option<usize>], default_hw: [usize; 2], nhwc: bool) -> Result<Vec<usize>> {
    ensure!(
        declared.len() == 4,
        "expected an image input of rank 4 ([N, C, H, W] or [N, H, W, C]), the graph declares {}",
        fmt_shape(declared)
    );
    let (c_axis, h_axis, w_axis) = if nhwc { (3, 1, 2) } else { (1, 2, 3) };
    let mut shape = vec![1; 4];
    shape[c_axis] = declared[c_axis].unwrap_or(3);
    shape[h_axis] = declared[h_axis].unwrap_or(default_hw[0]);
    shape[w_axis] = declared[w_axis].unwrap_or(default_hw[1]);
    Ok(shape)
}

/// Formats a declared shape with `?` for dynamic dims.
pub fn fmt_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or("?".into(), |d| d.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

fn graph_info(proto: &pb::ModelProto) -> Result<GraphInfo> {
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
    let input_shape = declared_shape(inputs[0]);
    ensure!(
        input_shape.len() == 4,
        "input '{}' has shape {}, expected rank 4 (an image batch)",
        inputs[0].name,
        fmt_shape(&input_shape)
    );
    Ok(GraphInfo {
        input_name: inputs[0].name.clone(),
        input_shape,
        output_name: output.name.clone(),
        output_shape: declared_shape(output),
        ends_in_softmax: ends_in_softmax(graph, &output.name),
        op_types: graph.node.iter().map(|n| n.op_type.clone()).collect(),
        layers: layer_chain(graph, &inputs[0].name),
    })
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_pair(node: &pb::NodeProto, name: &str, default: usize) -> [usize; 2] {
    match attr(node, name).map(|a| a.ints.as_slice()) {
        Some([a, b, ..]) => [*a as usize, *b as usize],
        _ => [default; 2],
    }
}

/// Follows the graph from `input` to its end, one consumer at a time, reading each node's
/// geometry. VGG exports are chains; a graph that branches is reported, not guessed at.
fn layer_chain(graph: &pb::GraphProto, input: &str) -> std::result::Result<Vec<Layer>, String> {
    let dims: HashMap<&str, &[i64]> = graph.initializer.iter().map(|t| (t.name.as_str(), t.dims.as_slice())).collect();
    let is_const = |name: &str| dims.contains_key(name) || name.is_empty();
    let mut layers = Vec::new();
    let mut current = input.to_string();
    let (mut block, mut conv_in_block, mut dense) = (1, 0, 0);
    for _ in 0..=graph.node.len() {
        let consumers: Vec<&pb::NodeProto> =
            graph.node.iter().filter(|n| n.input.iter().any(|i| *i == current)).collect();
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
            "Conv" | "QLinearConv" => {
                let (w, b) = if node.op_type == "Conv" { (1, 2) } else { (3, 8) };
                let wd = weight_dims(w).ok_or_else(|| format!("{out}: convolution weights are not constant"))?;
                let groups = attr(node, "group").map_or(1, |a| a.i.max(1) as usize);
                Op::Conv { out_channels: wd[0] as usize, groups, has_bias: has_input(b) }
            }
            "MaxPool" => Op::MaxPool,
            "AveragePool" => Op::AveragePool,
            "Flatten" | "Reshape" => Op::Flatten,
            "Gemm" => {
                let wd = weight_dims(1).ok_or_else(|| format!("{out}: Gemm weights are not constant"))?;
                let trans_b = attr(node, "transB").is_some_and(|a| a.i != 0);
                Op::Dense { out_features: wd[if trans_b { 0 } else { 1 }] as usize, has_bias: has_input(2) }
            }
            "MatMul" | "QLinearMatMul" => {
                let w = if node.op_type == "MatMul" { 1 } else { 3 };
                let wd = weight_dims(w).ok_or_else(|| format!("{out}: MatMul weights are not constant"))?;
                Op::Dense { out_features: wd[1] as usize, has_bias: false }
            }
            "Softmax" => Op::Softmax,
            "Relu" | "BatchNormalization" | "Dropout" | "Identity" | "LRN" | "QuantizeLinear" | "DequantizeLinear"
            | "Add" | "Mul" | "Sub" | "Div" => Op::Pointwise,
            other => return Err(format!("{out}: {other} is not part of the VGG operator set")),
        };
        if matches!(op, Op::Pointwise) && node.input.iter().filter(|i| !is_const(i)).count() > 1 {
            return Err(format!("{out}: {} joins two branches; analysis needs a chain", node.op_type));
        }
        // a bias Add straight after MatMul belongs to the dense layer
        if node.op_type == "Add" {
            if let Some(Layer { op: Op::Dense { has_bias: has_bias @ false, .. }, name, .. }) = layers.last_mut() {
                *has_bias = true;
                *name = out.clone();
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
        let pads: Vec<usize> = attr(node, "pads").map(|a| a.ints.iter().map(|&p| p as usize).collect()).unwrap_or_default();
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
            label,
            op_type: node.op_type.clone(),
            op,
            kernel,
            stride: attr_pair(node, "strides", 1),
            pad_begin: [pads.first().copied().unwrap_or(0), pads.get(1).copied().unwrap_or(0)],
            pad_end: [pads.get(2).copied().unwrap_or(0), pads.get(3).copied().unwrap_or(0)],
            dilation: attr_pair(node, "dilations", 1),
            ceil_mode: attr(node, "ceil_mode").is_some_and(|a| a.i != 0),
        });
        current = out;
    }
    Err("the graph has a cycle".into())
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
        let Some(node) = graph.node.iter().find(|n| n.output.iter().any(|o| *o == name)) else {
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

impl Model {
    /// Output shape of the current plan (batch 1, at the planned input size).
    pub fn planned_output_shape(&self) -> Result<Vec<usize>> {
        let fact = self.plan.model().output_fact(0).context("reading the model's output fact")?;
        let shape = fact.shape.as_concrete().context("the output shape is not concrete after planning")?;
        Ok(shape.to_vec())
    }
}

/// The layers whose outputs a backward pass reads: ReLU outputs (their masks) and the
/// inputs and outputs of pools. In a VGG these are also the activations people look at.
fn observed_layers(chain: &[Layer]) -> Vec<String> {
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

fn float_initializer(graph: &pb::GraphProto, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let t = graph.initializer.iter().find(|t| t.name == name).with_context(|| format!("no constant '{name}'"))?;
    let t = tract_onnx::tensor::load_tensor(&tract_onnx::data_resolver::FopenDataResolver, t, None)
        .with_context(|| format!("reading constant '{name}'"))?;
    let t = t.cast_to::<f32>()?;
    let view = t.to_plain_array_view::<f32>()?;
    Ok((view.shape().to_vec(), view.iter().copied().collect()))
}

/// Reads what the backward pass needs of each chain layer (weights, pooling geometry).
fn backward_steps(graph: &pb::GraphProto, chain: &[Layer]) -> std::result::Result<Vec<Step>, String> {
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
                    let Op::Conv { out_channels, groups, .. } = l.op else { return Err(format!("{}: not a convolution", l.name)) };
                    Step::Conv {
                        weights: w(1)?.1,
                        out_channels,
                        groups,
                        kernel: l.kernel,
                        stride: l.stride,
                        pad: l.pad_begin,
                        dilation: l.dilation,
                    }
                }
                "BatchNormalization" => {
                    let eps = attr(node, "epsilon").map_or(1e-5, |a| a.f);
                    let (gamma, var) = (w(1)?.1, w(4)?.1);
                    Step::BatchNorm { scale: gamma.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect() }
                }
                "Relu" => Step::Relu,
                "MaxPool" => Step::MaxPool { kernel: l.kernel, stride: l.stride, pad: l.pad_begin, dilation: l.dilation },
                "AveragePool" => Step::AveragePool {
                    kernel: l.kernel,
                    stride: l.stride,
                    pad: l.pad_begin,
                    divide_by_kernel: int_attr("count_include_pad", 0) != 0 || l.pad_begin == [0, 0] && l.pad_end == [0, 0],
                },
                "Flatten" | "Reshape" => Step::Flatten,
                "Gemm" | "MatMul" => {
                    let Op::Dense { out_features, .. } = l.op else { return Err(format!("{}: not a dense layer", l.name)) };
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
