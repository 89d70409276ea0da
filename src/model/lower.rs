//! The ONNX graph lowered to the GPU's kernels (`gpu::plan`): the chain of VGG operators
//! from the input to the output, batch norm folded into its convolution, ReLU fused into the
//! convolution or dense layer before it, bias `Add`s into their MatMul, channels-last
//! transposes turned into a host-side transpose of the input and a reordering of the first
//! dense layer's columns. Anything else is refused with the op's name: the caller then runs
//! the model on the CPU and says why.

use super::graph::{attr, attr_pair, float_initializer};
use crate::gpu::plan::{Kernel, Plan, Weights, Window};
use anyhow::{bail, ensure, Context, Result};
use tract_onnx::pb;

/// What the walk knows about the tensor it is at.
#[derive(Clone, Copy, PartialEq)]
enum At {
    /// The graph input, still channels-last if a Transpose to NCHW is to come.
    Input,
    /// [C, H, W] feature maps (C unknown before the first convolution).
    Maps,
    /// [C, H, W] transposed to [H, W, C] (Keras before Flatten).
    MapsHwc,
    /// A flat feature vector.
    Flat,
}

/// Lowers the chain that starts at `input`; the error names the first node the GPU
/// cannot run.
pub(super) fn lower<'g>(graph: &'g pb::GraphProto, input: &str, input_channels: Option<usize>) -> Result<Plan<'g>> {
    let mut plan = Plan { kernels: Vec::new(), input_nhwc: false, softmax: false, output_rank: 4 };
    let mut at = At::Input;
    let mut channels = input_channels;
    // the last kernel can take a following batch norm, ReLU or bias: nothing came between
    let mut fusable = false;
    let mut current = input.to_string();
    for _ in 0..=graph.node.len() {
        let consumers: Vec<&pb::NodeProto> = graph.node.iter().filter(|n| n.input.contains(&current)).collect();
        let node = match consumers.as_slice() {
            [] => {
                plan.output_rank = if at == At::Flat { 2 } else { 4 };
                return Ok(plan);
            }
            [one] => *one,
            _ => bail!("the graph branches after '{current}'; the GPU path runs chains"),
        };
        let what =
            || format!("{} node '{}'", node.op_type, if node.name.is_empty() { &node.output[0] } else { &node.name });
        ensure!(!plan.softmax, "{}: comes after the Softmax; the GPU path needs the Softmax last", what());
        let int_attr = |n: &str, d: i64| attr(node, n).map_or(d, |a| a.i);
        let consts: Vec<&String> = node.input.iter().filter(|i| **i != current && !i.is_empty()).collect();
        let weight = |i: usize| -> Result<(Vec<usize>, Vec<f32>)> {
            let name = node.input.get(i).with_context(|| format!("{}: no input {i}", what()))?;
            constant(graph, name).with_context(|| format!("{}: its input '{name}' must be a constant", what()))
        };
        match node.op_type.as_str() {
            "Conv" => {
                ensure!(
                    int_attr("group", 1) == 1,
                    "{}: grouped convolution (group {}) is not supported",
                    what(),
                    int_attr("group", 1)
                );
                if let Some(a) = attr(node, "auto_pad") {
                    let mode = String::from_utf8_lossy(&a.s);
                    ensure!(mode == "NOTSET" || mode == "VALID", "{}: auto_pad {mode} is not supported", what());
                }
                let (dims, weights) = weight(1)?;
                ensure!(dims.len() == 4, "{}: weights of shape {dims:?}, expected 4-D", what());
                let (outputs, inputs) = (dims[0], dims[1]);
                if let Some(c) = channels {
                    ensure!(c == inputs, "{}: takes {inputs} channels, its input has {c}", what());
                }
                let bias =
                    if node.input.get(2).is_some_and(|b| !b.is_empty()) { weight(2)?.1 } else { vec![0.0; outputs] };
                ensure!(bias.len() == outputs, "{}: {} biases for {outputs} outputs", what(), bias.len());
                let pads = attr(node, "pads").map(|a| a.ints.clone()).unwrap_or_default();
                let pad = |i: usize| pads.get(i).map_or(0, |&p| p.max(0) as usize);
                let window = Window {
                    kernel: [dims[2], dims[3]],
                    stride: attr_pair(node, "strides", 1),
                    pad_begin: [pad(0), pad(1)],
                    pad_end: [pad(2), pad(3)],
                    dilation: attr_pair(node, "dilations", 1),
                    ceil_mode: false,
                };
                plan.kernels.push(Kernel::Conv { inputs, outputs, window, weights, bias, relu: false });
                (at, channels, fusable) = (At::Maps, Some(outputs), true);
            }
            "BatchNormalization" => {
                let eps = attr(node, "epsilon").map_or(1e-5, |a| a.f);
                let (gamma, beta, mean, var) = (weight(1)?.1, weight(2)?.1, weight(3)?.1, weight(4)?.1);
                let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect();
                let shift: Vec<f32> = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
                match plan.kernels.last_mut() {
                    Some(Kernel::Conv { outputs, weights, bias, relu: false, .. })
                        if fusable && *outputs == scale.len() =>
                    {
                        let per = weights.len() / *outputs;
                        for (o, s) in scale.iter().enumerate() {
                            weights[o * per..(o + 1) * per].iter_mut().for_each(|w| *w *= s);
                            bias[o] = bias[o] * s + shift[o];
                        }
                    }
                    _ => {
                        plan.kernels.push(Kernel::Affine { scale, shift });
                        fusable = false;
                    }
                }
            }
            "Relu" => match plan.kernels.last_mut() {
                Some(Kernel::Conv { relu, .. } | Kernel::Dense { relu, .. }) if fusable && !*relu => {
                    *relu = true;
                    fusable = false;
                }
                _ => {
                    plan.kernels.push(Kernel::Relu);
                    fusable = false;
                }
            },
            op @ ("MaxPool" | "AveragePool") => {
                if let Some(a) = attr(node, "auto_pad") {
                    let mode = String::from_utf8_lossy(&a.s);
                    ensure!(mode == "NOTSET" || mode == "VALID", "{}: auto_pad {mode} is not supported", what());
                }
                let pads = attr(node, "pads").map(|a| a.ints.clone()).unwrap_or_default();
                let pad = |i: usize| pads.get(i).map_or(0, |&p| p.max(0) as usize);
                let window = Window {
                    kernel: attr_pair(node, "kernel_shape", 1),
                    stride: attr_pair(node, "strides", 1),
                    pad_begin: [pad(0), pad(1)],
                    pad_end: [pad(2), pad(3)],
                    dilation: attr_pair(node, "dilations", 1),
                    ceil_mode: int_attr("ceil_mode", 0) != 0,
                };
                ensure!(
                    window.kernel.iter().chain(&window.stride).chain(&window.dilation).all(|&v| v > 0),
                    "{}: zero in its window",
                    what()
                );
                plan.kernels.push(Kernel::Pool {
                    max: op == "MaxPool",
                    window,
                    count_pad: int_attr("count_include_pad", 0) != 0,
                });
                (at, fusable) = (At::Maps, false);
            }
            "Transpose" => {
                let perm = attr(node, "perm").map(|a| a.ints.clone()).unwrap_or_default();
                match (at, perm.as_slice()) {
                    (At::Input, [0, 3, 1, 2]) => {
                        plan.input_nhwc = true;
                        at = At::Maps;
                    }
                    (At::Maps, [0, 2, 3, 1]) => at = At::MapsHwc,
                    _ => bail!("{}: transpose {perm:?} is not supported here", what()),
                }
                fusable = false;
            }
            "Flatten" | "Reshape" => {
                if node.op_type == "Flatten" {
                    ensure!(
                        int_attr("axis", 1) == 1,
                        "{}: flattening from axis {} is not supported",
                        what(),
                        int_attr("axis", 1)
                    );
                } else {
                    let target = node.input.get(1).and_then(|n| graph.initializer.iter().find(|t| t.name == *n));
                    let target =
                        target
                            .map(|t| if t.int64_data.is_empty() { raw_i64(&t.raw_data) } else { t.int64_data.clone() });
                    let flat =
                        matches!(target.as_deref(), Some([0 | 1, -1]) | Some([-1]) | Some([1, _]) | Some([0, _]));
                    ensure!(flat, "{}: only a reshape to [1, -1] (a flatten) is supported", what());
                }
                // after a channels-last transpose the walk stays in MapsHwc: the dense layer
                // that reads the flattened vector reorders its columns instead (see Gemm)
                if at != At::MapsHwc {
                    at = At::Flat;
                }
                fusable = false;
            }
            op @ ("Gemm" | "MatMul") => {
                let trans_b = op == "Gemm" && int_attr("transB", 0) != 0;
                ensure!(op == "MatMul" || int_attr("transA", 0) == 0, "{}: Gemm with transA is not supported", what());
                let alpha = if op == "Gemm" { attr(node, "alpha").map_or(1.0, |a| a.f) } else { 1.0 };
                // out-major weights ([out, in], as Gemm with transB stores them) go to the GPU
                // straight from the file's bytes; any other layout is rearranged here
                let as_stored = trans_b && alpha == 1.0 && at != At::MapsHwc;
                let raw = node.input.get(1).and_then(|w| as_stored.then(|| raw_f32(graph, w)).flatten());
                let (dims, weights) = match raw {
                    Some((dims, bytes)) => (dims, Weights::Bytes(bytes)),
                    None => {
                        let (dims, w) = weight(1)?;
                        ensure!(dims.len() == 2, "{}: weights of shape {dims:?}, expected 2-D", what());
                        let (inputs, outputs) = if trans_b { (dims[1], dims[0]) } else { (dims[0], dims[1]) };
                        // out-major: row o holds output o's weights, contiguous for the GPU's dot products
                        let mut w = if trans_b { w } else { transpose(&w, inputs, outputs) };
                        if alpha != 1.0 {
                            w.iter_mut().for_each(|v| *v *= alpha);
                        }
                        if at == At::MapsHwc {
                            let c = channels.context("a channels-last flatten before any convolution")?;
                            ensure!(inputs % c == 0, "{}: {inputs} inputs do not split into {c} channels", what());
                            w = hwc_columns_to_chw(&w, outputs, inputs, c);
                        }
                        (dims, Weights::Values(w))
                    }
                };
                ensure!(dims.len() == 2, "{}: weights of shape {dims:?}, expected 2-D", what());
                let (inputs, outputs) = if trans_b { (dims[1], dims[0]) } else { (dims[0], dims[1]) };
                let mut bias = vec![0.0; outputs];
                if op == "Gemm" && node.input.get(2).is_some_and(|b| !b.is_empty()) {
                    let beta = attr(node, "beta").map_or(1.0, |a| a.f);
                    let c = weight(2)?.1;
                    ensure!(
                        c.len() == outputs || c.len() == 1,
                        "{}: bias of {} values for {outputs} outputs",
                        what(),
                        c.len()
                    );
                    bias.iter_mut().enumerate().for_each(|(o, b)| *b = beta * c[if c.len() == 1 { 0 } else { o }]);
                }
                plan.kernels.push(Kernel::Dense { inputs, outputs, weights, bias, relu: false });
                (at, channels, fusable) = (At::Flat, Some(outputs), true);
            }
            op @ ("Add" | "Sub" | "Mul" | "Div") => {
                // the other operand must be a constant: otherwise this joins two branches
                let joins = || format!("{}: joins two tensors; the GPU path runs chains", what());
                ensure!(consts.len() == 1, joins());
                let (cdims, c) = constant(graph, consts[0]).with_context(joins)?;
                let first = node.input.first().is_some_and(|i| *i != current);
                ensure!(
                    !first || matches!(op, "Add" | "Mul"),
                    "{}: a constant {op} by the tensor is not supported",
                    what()
                );
                // a bias after MatMul
                if let (Some(Kernel::Dense { outputs, bias, relu: false, .. }), "Add" | "Sub") =
                    (plan.kernels.last_mut(), op)
                {
                    if fusable && (c.len() == *outputs || c.len() == 1) {
                        let sign = if op == "Sub" { -1.0 } else { 1.0 };
                        bias.iter_mut().enumerate().for_each(|(o, b)| *b += sign * c[if c.len() == 1 { 0 } else { o }]);
                        current = node.output[0].clone();
                        continue;
                    }
                }
                // per channel: [C], [1, C], [C, 1, 1] or [1, C, 1, 1] (the last axis before the
                // input's transpose to NCHW)
                let per_channel = c.len() > 1;
                if per_channel {
                    let nontrivial: Vec<usize> = cdims.iter().copied().filter(|&d| d != 1).collect();
                    ensure!(
                        nontrivial.len() == 1,
                        "{}: a constant of shape {cdims:?} is neither scalar nor per channel",
                        what()
                    );
                    let channel_axis_ok = match at {
                        At::Input => {
                            cdims.last() == Some(&c.len()) || cdims.len() >= 3 && cdims[cdims.len() - 3] == c.len()
                        }
                        At::Flat => cdims.last() == Some(&c.len()),
                        _ => cdims.len() >= 3 && cdims[cdims.len() - 3] == c.len(),
                    };
                    ensure!(
                        channel_axis_ok,
                        "{}: a constant of shape {cdims:?} does not run along the channels",
                        what()
                    );
                }
                let (scale, shift) = match op {
                    "Add" => (vec![1.0], c),
                    "Sub" => (vec![1.0], c.iter().map(|v| -v).collect()),
                    "Mul" => (c, vec![0.0]),
                    _ => (c.iter().map(|v| 1.0 / v).collect(), vec![0.0]),
                };
                let n = scale.len().max(shift.len());
                let spread = |v: Vec<f32>| if v.len() == n { v } else { vec![v[0]; n] };
                plan.kernels.push(Kernel::Affine { scale: spread(scale), shift: spread(shift) });
                fusable = false;
            }
            "Dropout" | "Identity" => {}
            "Cast" => ensure!(int_attr("to", 1) == 1, "{}: a cast to a type other than float", what()),
            "Softmax" => {
                ensure!(at == At::Flat, "{}: a Softmax over feature maps is not supported", what());
                plan.softmax = true;
            }
            other => bail!("unsupported op `{other}` ({})", what()),
        }
        current = node.output.first().cloned().with_context(|| format!("{}: no output", what()))?;
    }
    bail!("the graph has a cycle")
}

/// An initializer's dims and its f32 values as the file stores them (little-endian
/// `raw_data`), where it is stored so; `None` otherwise (other types, typed fields, external
/// data).
fn raw_f32<'g>(graph: &'g pb::GraphProto, name: &str) -> Option<(Vec<usize>, &'g [u8])> {
    let t = graph.initializer.iter().find(|t| t.name == name)?;
    let dims: Vec<usize> = t.dims.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    let float = t.data_type == pb::tensor_proto::DataType::Float as i32 && t.data_location != Some(1);
    (float && t.raw_data.len() == 4 * dims.iter().product::<usize>()).then_some((dims, t.raw_data.as_ref()))
}

/// A float constant: an initializer, a `Constant` node's value, or either through
/// `Identity` nodes (PyTorch's exporter shares equal tensors that way).
fn constant(graph: &pb::GraphProto, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let mut name = name.to_string();
    for _ in 0..=graph.node.len() {
        if graph.initializer.iter().any(|t| t.name == name) {
            return float_initializer(graph, &name);
        }
        let producer = graph
            .node
            .iter()
            .find(|n| n.output.first() == Some(&name))
            .with_context(|| format!("no constant '{name}'"))?;
        match producer.op_type.as_str() {
            "Identity" => name = producer.input.first().cloned().unwrap_or_default(),
            "Constant" => {
                let t = attr(producer, "value")
                    .and_then(|a| a.t.as_ref())
                    .with_context(|| format!("Constant '{name}' has no tensor value"))?;
                let t = tract_onnx::tensor::load_tensor(&tract_onnx::data_resolver::FopenDataResolver, t, None)?;
                let t = t.cast_to::<f32>()?;
                let view = t.to_plain_array_view::<f32>()?;
                return Ok((view.shape().to_vec(), view.iter().copied().collect()));
            }
            other => bail!("'{name}' is computed by a {other} node, not a constant"),
        }
    }
    bail!("'{name}': a cycle of Identity nodes")
}

fn raw_i64(raw: &[u8]) -> Vec<i64> {
    raw.chunks_exact(8).map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])).collect()
}

/// [rows, cols] row-major to [cols, rows].
fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

/// Reorders each row's columns from a channels-last flatten ((h·W + w)·C + c) to the GPU's
/// channels-first one (c·H·W + h·W + w); only H·W matters, not H and W apart.
fn hwc_columns_to_chw(w: &[f32], rows: usize, cols: usize, c: usize) -> Vec<f32> {
    let hw = cols / c;
    let mut out = vec![0.0; w.len()];
    for r in 0..rows {
        let (src, dst) = (&w[r * cols..(r + 1) * cols], &mut out[r * cols..(r + 1) * cols]);
        for p in 0..hw {
            for ch in 0..c {
                dst[ch * hw + p] = src[p * c + ch];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_last_columns_move_to_channels_first() {
        // one row, 2 channels x 3 positions: HWC order p0c0 p0c1 p1c0 p1c1 p2c0 p2c1
        let w = [0.0, 10.0, 1.0, 11.0, 2.0, 12.0];
        assert_eq!(hwc_columns_to_chw(&w, 1, 6, 2), [0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
        assert_eq!(transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
