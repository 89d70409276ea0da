//! ONNX bytes to a runnable tract plan: the only module that imports tract.
//!
//! The ONNX protobuf is decoded once; what the rest of the crate needs to know about the
//! graph (input and output names and shapes, whether it already ends in Softmax) is read
//! from it into plain types, then tract builds and optimises the plan. Plans are built for
//! batch 1. A graph with dynamic height and width keeps its un-optimised form and gets a
//! plan per input size, built on first use and cached for the last size seen.

use anyhow::{ensure, Context, Result};
use std::sync::Arc;
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
}

/// A loaded model: graph facts plus a plan ready to run.
pub struct Model {
    info: GraphInfo,
    /// Kept only when the spatial input dims are dynamic, to build plans per size.
    template: Option<InferenceModel>,
    plan: Arc<TypedRunnableModel>,
    plan_shape: Vec<usize>,
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
    pub fn load(bytes: &[u8], default_hw: [usize; 2], nhwc: bool) -> Result<Model> {
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
        let model = onnx.model_for_proto_model(&proto).context("building the tract model from the ONNX graph")?;
        drop(proto);
        let shape = concrete_input_shape(&info.input_shape, default_hw, nhwc)?;
        let dynamic = info.input_shape.iter().skip(1).any(Option::is_none);
        let (template, plan) = if dynamic {
            let plan = optimise(model.clone(), &shape)?;
            (Some(model), plan)
        } else {
            (None, optimise(model, &shape)?)
        };
        Ok(Model { info, template, plan, plan_shape: shape })
    }

    pub fn info(&self) -> &GraphInfo {
        &self.info
    }

    /// Whether height and width may change between runs.
    pub fn is_dynamic(&self) -> bool {
        self.template.is_some()
    }

    /// Runs the model on one f32 tensor of `shape`; returns the first output's shape and data.
    pub fn run(&mut self, data: Vec<f32>, shape: &[usize]) -> Result<(Vec<usize>, Vec<f32>)> {
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
        let out = outputs.first().context("the model produced no output")?;
        let out = out.cast_to::<f32>().context("converting the output to f32")?;
        let view = out.to_plain_array_view::<f32>()?;
        Ok((view.shape().to_vec(), view.iter().copied().collect()))
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
    })
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
