//! The pipeline's public types: options in, answers and facts out (they cross to JS as
//! plain objects through serde).

use crate::model::{Choice, Convolution};
use crate::predictions::Prediction;
use crate::preprocess::{PreprocessSpec, SpecOptions};
use serde::{Deserialize, Serialize};

/// Options a user may pass with a model (the JS options object, or a JSON sidecar).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// How pixels become the input tensor; defaults to ImageNet at the graph's input size.
    pub preprocess: Option<SpecOptions>,
    /// Class names in output order; defaults to ImageNet's for 1000 classes.
    pub labels: Option<Vec<String>>,
    /// Keep every layer's activations after each run, for `activation` and the gradients.
    /// Costs memory and some speed (the optimiser may not fuse what must stay visible).
    #[serde(default)]
    pub activations: bool,
    /// Where inference runs: WebGPU when it can ("auto", the default of `create`: a
    /// hardware adapter), only WebGPU ("webgpu": any adapter, an error where it cannot), or
    /// the CPU.
    pub backend: Option<BackendChoice>,
    /// Lets "auto" take a software adapter (SwiftShader, lavapipe) as well: slower than the
    /// CPU path for VGG, but "auto" still falls back to the CPU on an op the GPU path lacks.
    #[serde(default)]
    pub software_gpu: bool,
    /// How the CPU runs the 3×3 convolutions: "auto" (the default: Winograd where the bench
    /// measured it faster), "direct" (tract's convolution), "winograd-f2" or "winograd-f4"
    /// (that tile on every 3×3 stride-1 convolution).
    pub convolution: Option<Convolution>,
}

/// The `backend` option.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    Auto,
    Webgpu,
    Cpu,
}

/// Where a model runs; "webgpu" or "cpu" in JS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Webgpu,
    Cpu,
}

/// Which backend answers, on what, and why the other was not taken.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backend {
    pub name: BackendKind,
    /// The GPU adapter, e.g. "SwiftShader Device (Subzero) (webgpu)"; only for "webgpu".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Why the CPU answers (no WebGPU, an unsupported op, a lost device, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Backend {
    pub(super) fn cpu(reason: Option<String>) -> Backend {
        Backend { name: BackendKind::Cpu, adapter: None, reason }
    }
}

/// What the model's output is.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Head {
    /// One score per class; `softmax_in_graph` says they are probabilities already.
    #[serde(rename_all = "camelCase")]
    Classifier { classes: usize, softmax_in_graph: bool },
    /// Feature maps (a convolution-only network).
    Features,
}

/// Milliseconds spent per stage of one call.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    /// The backend that ran the model.
    pub backend: BackendKind,
}

/// A classification answer.
#[derive(Clone, Debug, Serialize)]
pub struct Classification {
    pub predictions: Vec<Prediction>,
    pub timings: Timings,
}

/// A raw model output.
#[derive(Clone, Debug)]
pub struct Output {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    pub timings: Timings,
}

/// Facts about a loaded model, for display and for choosing what to call.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub input_name: String,
    /// Declared input shape, `null` where dynamic.
    pub input_shape: Vec<Option<usize>>,
    pub output_name: String,
    /// Output shape at the current planned input size.
    pub output_shape: Vec<usize>,
    pub head: Head,
    pub preprocess: PreprocessSpec,
    pub dynamic_size: bool,
    pub nodes: usize,
    /// What the crate read from the file to fill in the preprocessing the options left
    /// open (the metadata's `preprocess`, layout, grey channel, the graph's own scaling,
    /// its fixed size), in words.
    pub detected: Vec<String>,
    /// Threads inference runs on (1 unless the threaded build set up a pool).
    pub threads: usize,
    /// The backend that runs `classifyAsync` and `forwardAsync`.
    pub backend: Backend,
    /// The algorithm each convolution runs on the CPU, in graph order.
    pub convolutions: Vec<Choice>,
    /// The kernels the CPU plan's matrix products run on, by name, each once in plan order.
    pub matmul_kernels: Vec<String>,
}
