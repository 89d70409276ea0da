//! ONNX bytes to a runnable tract plan. This module (with `graph`, its reading of the
//! ONNX protobuf) is the only one that imports tract.
//!
//! The ONNX protobuf is decoded once; `graph` reads what the rest of the crate needs to
//! know about it into plain types, then tract builds and optimises the plan. Plans are
//! built for batch 1. A graph with dynamic height and width keeps its un-optimised form and
//! gets a plan per input size, built on first use and cached for the last size seen.

mod axes;
pub mod export;
mod fold;
mod graph;
mod im2col;
mod kernels;
// int8 kernels on relaxed SIMD's or SIMD128's dot product, offered to tract's kernel selection
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod int8_mmm;
#[cfg(feature = "webgpu")]
mod lower;
mod qgemm;
mod quant;
pub mod transposed;
pub mod winograd;

pub use graph::{fmt_shape, metadata_value, GraphInfo, LABELS_KEY, PREPROCESS_KEY};
pub use kernels::{force_int8_kernel, forced_int8_kernel, int8_kernel_names, int8_kernels, int8_patches_in_k4_panels};
pub use winograd::{Choice, Convolution};

use crate::gradients::Step;
use anyhow::{ensure, Context, Result};
use std::sync::Arc;
use tract_onnx::prelude::*;

/// A loaded model: graph facts plus a plan ready to run.
pub struct Model {
    info: GraphInfo,
    /// Kept only when the spatial input dims are dynamic, to build plans per size.
    template: Option<InferenceModel>,
    plan: Arc<TypedRunnableModel>,
    plan_shape: Vec<usize>,
    /// Tensor names of the plan's outputs: the graph output, then the kept layers.
    outputs: Vec<String>,
    /// The backward pass's view of each chain layer; `None` unless activations are kept.
    steps: Option<std::result::Result<Vec<Step>, String>>,
    /// Which algorithm runs the convolutions; kept to plan other sizes the same way.
    convolution: Convolution,
    /// The algorithm of each convolution in the current plan.
    choices: Vec<Choice>,
}

/// How a model is planned: what the load options say about its input and its convolutions.
#[derive(Clone, Copy, Debug)]
pub struct Planning {
    /// The spatial size to plan for first when the graph leaves height and width dynamic.
    pub default_hw: [usize; 2],
    /// Whether the input is laid out [N, H, W, C] (`None`: as the graph suggests,
    /// `GraphInfo::channels_last`).
    pub nhwc: Option<bool>,
    /// Make every layer a backward pass reads an extra output of the plan.
    pub keep_activations: bool,
    /// Winograd or tract's direct convolution for the 3×3 layers.
    pub convolution: Convolution,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("info", &self.info).field("plan_shape", &self.plan_shape).finish()
    }
}

impl Model {
    /// Parses and optimises an ONNX model, planned as `planning` says.
    ///
    /// Owned bytes are freed as soon as they are decoded: wasm memory never shrinks, so
    /// the load's peak (the file, its decoded protobuf, tract's tensors and their packed
    /// form) is what the tab keeps.
    pub fn load(bytes: std::borrow::Cow<'_, [u8]>, planning: Planning) -> Result<Model> {
        Model::load_with(bytes, planning, &mut |_, _| {})
    }

    /// [`Model::load`], also lowering the graph for the GPU path and handing the plan (or
    /// why there is none) to `sink` before tract builds its own model: a sink that uploads
    /// the weights and drops the plan frees that memory for tract's copy of them, so the
    /// load's peak holds the weights twice, not three times.
    #[cfg(feature = "webgpu")]
    pub fn load_lowered(
        bytes: std::borrow::Cow<'_, [u8]>,
        planning: Planning,
        sink: &mut dyn FnMut(std::result::Result<crate::gpu::plan::Plan, String>),
    ) -> Result<Model> {
        Model::load_with(bytes, planning, &mut |graph, info| {
            let channels = info.input_shape[if info.channels_last.is_some() { 3 } else { 1 }];
            sink(lower::lower(graph, &info.input_name, channels).map_err(|e| format!("{e:#}")))
        })
    }

    /// The load, with `before_tract` called on the decoded graph before tract builds from it.
    fn load_with(
        bytes: std::borrow::Cow<'_, [u8]>,
        planning: Planning,
        before_tract: &mut dyn FnMut(&tract_onnx::pb::GraphProto, &GraphInfo),
    ) -> Result<Model> {
        ensure!(!bytes.is_empty(), "model bytes are empty (0 bytes)");
        let Planning { default_hw, nhwc, keep_activations, convolution } = planning;
        // decode the protobuf
        // Shape hints in value_info and outputs name the batch symbolically ("N"); we plan
        // for batch 1, and tract would refuse to unify the two, so let it infer shapes.
        let mut onnx = tract_onnx::onnx().with_ignore_value_info(true).with_ignore_output_shapes(true);
        // the integer Gemm `quant` writes for onnxruntime's QGemm and QDQ Gemm
        onnx.op_register.insert(qgemm::OP, qgemm::build);
        // Decoded with prost directly: tract's `proto_model_for_read` copies the whole file
        // first. Owned bytes become a `Bytes` (no copy), from which prost slices each tensor
        // and copies it once; from a borrowed slice it copies each tensor twice over.
        let len = bytes.len();
        let decoded = match bytes {
            std::borrow::Cow::Owned(v) => <tract_onnx::pb::ModelProto as prost::Message>::decode(bytes::Bytes::from(v)),
            std::borrow::Cow::Borrowed(s) => <tract_onnx::pb::ModelProto as prost::Message>::decode(s),
        };
        let mut proto = decoded
            .map_err(anyhow::Error::from)
            .with_context(|| format!("decoding ONNX protobuf ({len} bytes); is this an .onnx file?"))?;
        let info = graph::graph_info(&proto)?;
        let graph = proto.graph.as_ref().context("the ONNX model has no graph")?;
        before_tract(graph, &info);
        let mut outputs = vec![info.output_name.clone()];
        let mut steps = None;
        if keep_activations {
            // keep every layer a backward pass needs as an extra output, chosen before the
            // optimiser runs so that it cannot fuse them away
            let chain = info.layers.as_ref().map_err(|e| anyhow::anyhow!("activations need a chain of layers: {e}"))?;
            outputs.extend(graph::kept_layers(chain).into_iter().filter(|n| *n != info.output_name));
            steps = Some(graph::backward_steps(graph, chain));
        }
        // int8 graphs as onnxruntime's quantiser writes them, in the integer operators
        // tract runs on its int8 kernels; the kept tensors stay
        quant::standardise(proto.graph.as_mut().context("the ONNX model has no graph")?, &outputs)
            .context("reading the model's int8 operators")?;
        // build the tract model from it
        let mut model = onnx.model_for_proto_model(&proto).context("building the tract model from the ONNX graph")?;
        if keep_activations {
            let outlets = outputs
                .iter()
                .map(|n| model.find_outlet_label(n).with_context(|| format!("no tensor '{n}' in the tract model")))
                .collect::<Result<Vec<_>>>()?;
            model.select_output_outlets(&outlets)?;
        }
        drop(proto);
        let nhwc = nhwc.unwrap_or(info.channels_last.is_some());
        let shape = concrete_input_shape(&info.input_shape, default_hw, nhwc)?;
        let dynamic = info.input_shape.iter().skip(1).any(Option::is_none);
        let (template, (plan, choices)) = if dynamic {
            let plan = optimise(model.clone(), &shape, convolution)?;
            (Some(model), plan)
        } else {
            (None, optimise(model, &shape, convolution)?)
        };
        Ok(Model { info, template, plan, plan_shape: shape, outputs, steps, convolution, choices })
    }

    /// Names of the outputs `run` returns, the graph's own output first, then the kept
    /// layers.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// Whether the plan keeps the activations of the layers a backward pass reads.
    pub fn keeps_activations(&self) -> bool {
        self.steps.is_some()
    }

    /// The backward pass's view of each chain layer, or why there is none.
    pub fn steps(&self) -> std::result::Result<&[Step], &str> {
        match &self.steps {
            None => Err("activations were not kept (load with options.activations = true)"),
            Some(s) => s.as_deref().map_err(String::as_str),
        }
    }

    pub fn info(&self) -> &GraphInfo {
        &self.info
    }

    /// The algorithm each convolution of the current plan runs, in graph order.
    pub fn convolutions(&self) -> &[Choice] {
        &self.choices
    }

    /// The kernels the current plan's matrix products run on, by name, each once.
    pub fn matmul_kernels(&self) -> Vec<String> {
        kernels::matmul_kernels(self.plan.model())
    }

    /// Whether height and width may change between runs.
    pub fn is_dynamic(&self) -> bool {
        self.template.is_some()
    }

    /// Checks one f32 tensor of `shape` against the model's input, plans for its size if
    /// the graph allows it and differs from the last, and makes it tract's input.
    fn prepare(&mut self, data: Vec<f32>, shape: &[usize]) -> Result<TValue> {
        let volume: usize = shape.iter().product();
        ensure!(data.len() == volume, "input tensor has {} values, but shape {shape:?} needs {volume}", data.len());
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
            (self.plan, self.choices) = optimise(template.clone(), shape, self.convolution)?;
            self.plan_shape = shape.to_vec();
        }
        let input = tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), data).context("shaping the input tensor")?;
        Ok(Tensor::from(input).into_tvalue())
    }

    /// Runs the model on one f32 tensor of `shape`; returns each output's shape and data,
    /// in the order of [`Model::output_names`].
    pub fn run(&mut self, data: Vec<f32>, shape: &[usize]) -> Result<Vec<(Vec<usize>, Vec<f32>)>> {
        let input = self.prepare(data, shape)?;
        let outputs =
            self.plan.run(tvec!(input)).with_context(|| format!("running the model on input shape {shape:?}"))?;
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

/// Each 3×3 convolution of the f32 ONNX model `bytes` computed by Winograd with `tile`
/// against tract's direct convolution of the same input, one layer at a time, on `input`
/// ([`winograd::layer_errors`]): the accuracy check on real weights.
pub fn winograd_layer_errors(
    bytes: &[u8],
    input: Vec<f32>,
    shape: &[usize],
    tile: winograd::Tile,
) -> Result<Vec<winograd::LayerError>> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .context("reading the ONNX model")?
        .with_input_fact(0, f32::fact(shape).into())?
        .into_typed()?
        .into_decluttered()?;
    let input = tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), input).context("shaping the input")?;
    winograd::layer_errors(model, Tensor::from(input).into_tvalue(), tile)
}

/// Time spent in one operator of the optimised plan during a profiled run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeTime {
    /// The plan node's name: the ONNX node it came from, with a suffix where tract split
    /// one ONNX operator into several (a convolution into its patch gathering and matmul).
    pub node: String,
    /// tract's operator, e.g. `OptMatMul`, `MaxPool`.
    pub op: String,
    pub ms: f64,
}

impl Model {
    /// Runs the model once like [`Model::run`], timing every operator of the plan; for
    /// benchmarks (the timer calls cost a little on each of the plan's nodes).
    pub fn profile(&mut self, data: Vec<f32>, shape: &[usize]) -> Result<Vec<NodeTime>> {
        let input = self.prepare(data, shape)?;
        let plan = self.plan.clone();
        let mut state = plan.spawn().context("preparing a profiled run")?;
        let mut times = Vec::new();
        state
            .run_plan_with_eval(tvec!(input), |ctx, op_state, node, inputs| {
                let t0 = crate::clock::now_ms();
                let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                let ms = crate::clock::now_ms() - t0;
                times.push(NodeTime { node: node.name.clone(), op: node.op().name().to_string(), ms });
                out
            })
            .with_context(|| format!("running the model on input shape {shape:?}"))?;
        Ok(times)
    }
}

fn optimise(
    model: InferenceModel,
    shape: &[usize],
    convolution: Convolution,
) -> Result<(Arc<TypedRunnableModel>, Vec<Choice>)> {
    // fix the input to one concrete f32 tensor, then type, optimise and plan
    let model = model
        .with_input_fact(0, f32::fact(shape).into())
        .with_context(|| format!("setting the input shape to {shape:?}"))?;
    let mut typed = model
        .into_typed()
        .and_then(|m| m.into_decluttered())
        .with_context(|| format!("typing the model for input {shape:?}"))?;
    // 3x3 convolutions to Winograd's form, between declutter (which leaves one Conv per
    // convolution, its ReLU a Max beside it) and codegen (which makes the products' matmuls)
    let choices = winograd::rewrite(&mut typed, convolution).context("rewriting convolutions for Winograd")?;
    // codegen only: the rewrite leaves nothing for a second declutter to do
    typed.optimize().with_context(|| format!("optimising the model for input {shape:?}"))?;
    winograd::pack_weights(&mut typed).context("packing the Winograd weights")?;
    // constant work tract leaves to each run (int8 convolutions' weight sums)
    fold::constant_chains(&mut typed).context("folding constants")?;
    // int8 convolutions: patches packed a block at a time instead of a byte at a time
    im2col::rewrite(&mut typed).context("packing int8 convolutions' patches")?;
    Ok((typed.into_runnable().context("planning the model")?, choices))
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

impl Model {
    /// Output shape of the current plan (batch 1, at the planned input size).
    pub fn planned_output_shape(&self) -> Result<Vec<usize>> {
        let fact = self.plan.model().output_fact(0).context("reading the model's output fact")?;
        let shape = fact.shape.as_concrete().context("the output shape is not concrete after planning")?;
        Ok(shape.to_vec())
    }
}

/// Threads tract's matrix products run on: 1 unless [`use_threads`] set up more.
static THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// How many threads inference uses now (1 in a build without the `threads` feature).
pub fn threads() -> usize {
    THREADS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether this build can run inference on more than one thread.
pub const THREADED_BUILD: bool = cfg!(feature = "threads");

/// Runs tract's matrix products (VGG's im2col convolutions and its dense layers) on
/// rayon's global pool of `n` threads, or on the calling thread alone when `n` is 1. In the
/// browser the pool must exist first (wasm-bindgen-rayon's `initThreadPool(n)`); natively,
/// rayon makes its own.
pub fn use_threads(n: usize) -> Result<()> {
    ensure!(n >= 1, "threads must be at least 1, got {n}");
    #[cfg(feature = "threads")]
    {
        use tract_onnx::prelude::tract_linalg::multithread::{set_default_executor, Executor};
        set_default_executor(if n > 1 { Executor::RayonGlobal } else { Executor::SingleThread });
    }
    #[cfg(not(feature = "threads"))]
    ensure!(n == 1, "threads: this build of vgg-wasm runs on one thread (asked for {n}); the threaded build needs a cross-origin isolated page");
    THREADS.store(n, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}
