//! The whole path from pixels to answers, in plain Rust: preprocess, run, interpret.
//! `bindings.rs` wraps this type for JS; native tests use it directly.

use crate::clock::now_ms;
use crate::inspect::{Analysis, Backward, LastRun};
pub use crate::inspect::{Gradient, Tensor, View};
use crate::labels::Labels;
use crate::model::{fmt_shape, Choice, Convolution, GraphInfo, Model, Planning};
use crate::predictions::{softmax, top_k, Prediction};
use crate::preprocess::{self, ChannelOrder, Layout, PreprocessSpec, SpecOptions};
use crate::receptive_field::{self, ConvStack, LayerAnalysis, Nested, UnitField};
use anyhow::{bail, ensure, Context, Result};
use image::RgbaImage;
use serde::{Deserialize, Serialize};

/// Working memory an input may need: wasm32 has 4 GiB in all, the weights included, and
/// running out aborts the module instead of failing one call.
const WORKING_MEMORY_BYTES: u64 = 2 << 30;

/// Spatial size a dynamic-size model is first planned for, before any image arrives.
const DEFAULT_PLAN_HW: [usize; 2] = [224, 224];

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
    /// Where inference runs: WebGPU when it can ("auto", the default of `create`), only
    /// WebGPU ("webgpu": an error where it cannot), or the CPU.
    pub backend: Option<BackendChoice>,
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

/// Which backend answers, on what, and why the other was not taken.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backend {
    /// "webgpu" or "cpu".
    pub name: &'static str,
    /// The GPU adapter, e.g. "SwiftShader Device (Subzero) (webgpu)"; only for "webgpu".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Why the CPU answers (no WebGPU, an unsupported op, a lost device, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Backend {
    fn cpu(reason: Option<String>) -> Backend {
        Backend { name: "cpu", adapter: None, reason }
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
    /// The backend that ran the model: "cpu" or "webgpu".
    pub backend: &'static str,
}

/// A classification answer.
#[derive(Clone, Debug, Serialize)]
pub struct Classification {
    pub predictions: Vec<Prediction>,
    pub timings: Timings,
}

/// How `Pipeline::build` loads the model: `Model::load` or `Model::load_lowered`.
type Loader<'l> = dyn FnMut(std::borrow::Cow<'_, [u8]>, Planning) -> Result<Model> + 'l;

/// An image made the model's input (see `Pipeline::prepare_image`).
struct Input {
    tensor: Vec<f32>,
    shape: Vec<usize>,
    view: View,
    analysis: Analysis,
    /// Milliseconds the preparation took.
    ms: f64,
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

/// A loaded model with its preprocessing and labels.
#[derive(Debug)]
pub struct Pipeline {
    model: Model,
    spec: PreprocessSpec,
    head: Head,
    labels: Labels,
    /// The layer analysis at the size the model was planned for, until a run replaces it.
    planned: Analysis,
    /// What was read from the graph to choose the preprocessing, in words.
    detected: Vec<String>,
    /// The last run, for views, activations and gradients.
    last: Option<LastRun>,
    /// The input of the last run when the GPU answered and the CPU has not yet computed
    /// the activations that views and gradients read.
    cpu_pending: Option<(Vec<f32>, Vec<usize>)>,
    backend: Backend,
    #[cfg(feature = "webgpu")]
    gpu: Option<GpuEngine>,
}

/// The uploaded GPU model, shared with the runs in flight.
#[cfg(feature = "webgpu")]
#[derive(Clone)]
struct GpuEngine(std::rc::Rc<crate::gpu::Engine>);

#[cfg(feature = "webgpu")]
impl std::fmt::Debug for GpuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuEngine({})", self.0.adapter())
    }
}

/// An image prepared for the GPU: its tensor, and what the run is kept with.
#[cfg(feature = "webgpu")]
pub struct GpuJob {
    engine: GpuEngine,
    tensor: Vec<f32>,
    shape: Vec<usize>,
    view: Option<View>,
    analysis: Analysis,
    preprocess_ms: f64,
}

/// A GPU run that finished, or failed: [`Pipeline::finish_gpu`] keeps it (and runs the
/// CPU instead where it failed).
#[cfg(feature = "webgpu")]
pub struct GpuDone {
    job: GpuJob,
    result: Result<Tensor>,
    inference_ms: f64,
}

#[cfg(feature = "webgpu")]
impl GpuJob {
    /// Runs the model on the GPU. Holds no borrow of the pipeline, so that JS may call
    /// other methods while it runs.
    pub async fn run(self) -> GpuDone {
        let t0 = now_ms();
        let result = self.engine.0.run(&self.tensor, &self.shape).await;
        GpuDone { inference_ms: now_ms() - t0, job: self, result }
    }
}

/// A preprocessing spec resolved against a graph, with what was read from it and the layer
/// analysis at the input size it gives.
struct Resolved {
    spec: PreprocessSpec,
    detected: Vec<String>,
    planned: Analysis,
}

/// The input height and width a graph with dynamic spatial dims is planned for: the crop
/// the options give, else [`DEFAULT_PLAN_HW`].
fn plan_hw(opts: &SpecOptions) -> [usize; 2] {
    opts.crop.filter(|c| !c.contains(&0)).map_or(DEFAULT_PLAN_HW, |[h, w]| [h as usize, w as usize])
}

/// The preprocessing a model file carries in its metadata (`preprocess`, as a taught
/// model's export writes it), with the sentence `detected` gives; the defaults where it
/// carries none. A value that is not a preprocessing spec is passed over, and said so:
/// another tool's key of the same name must not make a good model fail to load.
fn file_preprocess(bytes: &[u8]) -> (SpecOptions, Option<String>) {
    use crate::model::export::PREPROCESS_KEY;
    let Some(json) = crate::model::metadata_value(bytes, PREPROCESS_KEY) else {
        return (SpecOptions::default(), None);
    };
    let mut de = serde_json::Deserializer::from_str(&json);
    match serde_path_to_error::deserialize::<_, SpecOptions>(&mut de) {
        Ok(p) => (p, Some(format!("preprocess {json}: the model's metadata ({PREPROCESS_KEY:?})"))),
        Err(e) => (
            SpecOptions::default(),
            Some(format!("the model's metadata {PREPROCESS_KEY:?} is not a preprocessing spec ({e}): passed over")),
        ),
    }
}

/// Fills in what `spec_opts` leaves open from what the graph says about its input (layout,
/// one grey channel, its own scaling, its fixed size), and checks the result fits it.
fn resolve_preprocess(mut spec_opts: SpecOptions, info: &GraphInfo) -> Result<Resolved> {
    let plan_hw = plan_hw(&spec_opts);
    let mut detected = Vec::new();
    if spec_opts.layout.is_none() {
        if let Some(why) = &info.channels_last {
            spec_opts.layout = Some(Layout::Nhwc);
            detected.push(format!("layout nhwc: {why}"));
        }
    }
    let nhwc = spec_opts.layout == Some(Layout::Nhwc);
    let (c_axis, h_axis, w_axis) = if nhwc { (3, 1, 2) } else { (1, 2, 3) };
    // a one-channel model wants grey pixels unless told otherwise
    if spec_opts.channel_order.is_none() && info.input_shape[c_axis] == Some(1) {
        spec_opts.channel_order = Some(ChannelOrder::Gray);
        detected.push(format!("channelOrder gray: the input has 1 channel on axis {c_axis}"));
    }
    // a graph that scales or normalises its own input gets pixels as they are (0-255):
    // normalising here as well would do it twice
    let untouched =
        spec_opts.preset.is_none() && spec_opts.scale.is_none() && spec_opts.mean.is_none() && spec_opts.std.is_none();
    if let (Some(ops), true) = (&info.input_arithmetic, untouched) {
        (spec_opts.scale, spec_opts.mean, spec_opts.std) = (Some(1.0), Some([0.0; 3]), Some([1.0; 3]));
        detected.push(format!("scale 1, mean 0, std 1 (pixels 0-255): the graph applies {ops} to its input itself"));
    }
    let fixed_hw = match (info.input_shape[h_axis], info.input_shape[w_axis]) {
        (Some(h), Some(w)) => Some([h as u32, w as u32]),
        _ => None,
    };
    if let (Some([h, w]), None) = (fixed_hw, spec_opts.crop) {
        detected.push(format!("crop [{h}, {w}] less padding: the graph's fixed input size"));
    }
    let spec = PreprocessSpec::resolve(&spec_opts, fixed_hw).context("options.preprocess")?;
    if let Some(c) = info.input_shape[c_axis] {
        ensure!(
            c == spec.channel_order.channels(),
            "the model's input '{}' {} has {c} channels on axis {c_axis}, but preprocess gives {} \
             ({:?} order, {:?} layout)",
            info.input_name,
            fmt_shape(&info.input_shape),
            spec.channel_order.channels(),
            spec.channel_order,
            spec.layout
        );
    }
    if let (Some([h, w]), Some([ch, cw])) = (fixed_hw, spec.crop) {
        let (ph, pw) = (ch as u64 + 2 * spec.pad as u64, cw as u64 + 2 * spec.pad as u64);
        ensure!(
            [ph, pw] == [h as u64, w as u64],
            "preprocess.crop [{ch}, {cw}] with pad {} gives {ph}x{pw} pixels, but the model's input '{}' {} is {h}x{w}",
            spec.pad,
            info.input_name,
            fmt_shape(&info.input_shape)
        );
    }
    let input_hw = fixed_hw.map_or(plan_hw, |[h, w]| [h as usize, w as usize]);
    let planned = Analysis::new(&info.layers, spec.channel_order.channels(), input_hw);
    Ok(Resolved { spec, detected, planned })
}

impl Pipeline {
    /// Loads ONNX `bytes` with `options`.
    /// Owned bytes (a `Vec`) are freed once decoded, which lowers the load's peak memory.
    /// This constructor is synchronous, so the model runs on the CPU: [`Pipeline::create`]
    /// can use the GPU.
    pub fn new<'a>(bytes: impl Into<std::borrow::Cow<'a, [u8]>>, options: Options) -> Result<Pipeline> {
        let reason = match options.backend {
            None | Some(BackendChoice::Cpu) => None,
            Some(BackendChoice::Auto) => {
                Some("the model was loaded synchronously (new Vgg); WebGPU needs Vgg.create".to_string())
            }
            Some(BackendChoice::Webgpu) => {
                bail!("options.backend \"webgpu\" needs the asynchronous Vgg.create(bytes, options), not new Vgg")
            }
        };
        let mut p = Pipeline::build(bytes.into(), options, &mut Model::load)?;
        p.backend = Backend::cpu(reason);
        Ok(p)
    }

    /// Loads ONNX `bytes` with `options`, on the backend `options.backend` asks for
    /// (default "auto": WebGPU when an adapter, a device and every op of the model are
    /// there, else the CPU with the reason in [`ModelInfo::backend`]). "webgpu" fails with
    /// the reason instead of falling back.
    pub async fn create(bytes: Vec<u8>, options: Options) -> Result<Pipeline> {
        let choice = options.backend.unwrap_or(BackendChoice::Auto);
        if choice == BackendChoice::Cpu {
            return Pipeline::build(bytes.into(), options, &mut Model::load);
        }
        #[cfg(not(feature = "webgpu"))]
        let attached: std::result::Result<(Pipeline, Backend), (Pipeline, String)> = {
            let p = Pipeline::build(bytes.into(), options, &mut Model::load)?;
            Err((p, "this build of vgg-wasm has no WebGPU (compiled without the `webgpu` feature)".into()))
        };
        #[cfg(feature = "webgpu")]
        let attached = {
            let gpu = match crate::gpu::Gpu::acquire().await {
                Ok(gpu) => gpu,
                // fail before the (long) load where the answer is already known
                Err(e) if choice == BackendChoice::Webgpu => bail!("options.backend \"webgpu\": {e}"),
                Err(e) => {
                    let mut p = Pipeline::build(bytes.into(), options, &mut Model::load)?;
                    p.backend_fallback(choice, e)?;
                    return Ok(p);
                }
            };
            let adapter = gpu.adapter.clone();
            // the weights go to the GPU while the model loads, before tract copies them (see
            // Model::load_lowered); what the GPU refused is known when the scope closes
            let scope = gpu.scope();
            let mut gpu = Some(gpu);
            let mut engine: std::result::Result<crate::gpu::Engine, String> = Err("the model was not lowered".into());
            let mut sink = |plan: std::result::Result<crate::gpu::plan::Plan, String>| {
                engine = match (plan, gpu.take()) {
                    (Ok(plan), Some(gpu)) => crate::gpu::Engine::upload(gpu, plan, None).map_err(|e| format!("{e:#}")),
                    (Err(e), _) => Err(format!("the GPU cannot run this model: {e}")),
                    (Ok(_), None) => Err("the model was lowered twice".into()),
                };
            };
            let mut load = |b: std::borrow::Cow<'_, [u8]>, planning| Model::load_lowered(b, planning, &mut sink);
            let built = Pipeline::build(bytes.into(), options, &mut load);
            let closed = scope.close("uploading the model to the GPU").await.map_err(|e| format!("{e:#}"));
            let p = built?;
            match closed.and(engine) {
                Ok(engine) => {
                    let mut p = p;
                    p.gpu = Some(GpuEngine(std::rc::Rc::new(engine)));
                    Ok((p, Backend { name: "webgpu", adapter: Some(adapter), reason: None }))
                }
                Err(reason) => Err((p, reason)),
            }
        };
        match attached {
            Ok((mut p, backend)) => {
                p.backend = backend;
                Ok(p)
            }
            Err((mut p, reason)) => {
                p.backend_fallback(choice, reason)?;
                Ok(p)
            }
        }
    }

    /// The CPU as the backend, with the reason; an error instead where WebGPU was required.
    fn backend_fallback(&mut self, choice: BackendChoice, reason: String) -> Result<()> {
        ensure!(choice == BackendChoice::Auto, "options.backend \"webgpu\": {reason}");
        self.backend = Backend::cpu(Some(reason));
        Ok(())
    }

    /// Loads the model with `load` (`Model::load`, or a variant that also lowers it for
    /// the GPU) and resolves the preprocessing against its graph.
    fn build(bytes: std::borrow::Cow<'_, [u8]>, options: Options, load: &mut Loader) -> Result<Pipeline> {
        let (spec_opts, from_file) = match options.preprocess {
            Some(p) => (p, None),
            None => file_preprocess(&bytes),
        };
        let plan_hw = plan_hw(&spec_opts);
        let nhwc = spec_opts.layout.map(|l| l == Layout::Nhwc);
        let planning = Planning {
            default_hw: plan_hw,
            nhwc,
            keep_activations: options.activations,
            convolution: options.convolution.unwrap_or_default(),
        };
        let model = load(bytes, planning).context("loading the model")?;
        let info = model.info().clone();
        let Resolved { spec, mut detected, planned } = match resolve_preprocess(spec_opts, &info) {
            Err(e) if from_file.is_some() => return Err(e.context("the preprocessing in the model's metadata")),
            r => r?,
        };
        detected.splice(0..0, from_file);
        let head = head_of(&model.planned_output_shape()?, &info)?;
        let labels = match &head {
            Head::Classifier { classes, .. } => {
                // the file's own names (a taught model's) when the options give none
                let own = info.labels.clone().filter(|l| l.len() == *classes);
                Labels::for_classes(*classes, options.labels.or(own))?
            }
            Head::Features => Labels::Numbered,
        };
        Ok(Pipeline {
            model,
            spec,
            head,
            labels,
            planned,
            detected,
            last: None,
            cpu_pending: None,
            backend: Backend::cpu(None),
            #[cfg(feature = "webgpu")]
            gpu: None,
        })
    }

    pub fn info(&self) -> Result<ModelInfo> {
        let g: &GraphInfo = self.model.info();
        Ok(ModelInfo {
            input_name: g.input_name.clone(),
            input_shape: g.input_shape.clone(),
            output_name: g.output_name.clone(),
            output_shape: self.model.planned_output_shape()?,
            head: self.head.clone(),
            preprocess: self.spec.clone(),
            dynamic_size: self.model.is_dynamic(),
            nodes: g.op_types.len(),
            detected: self.detected.clone(),
            threads: crate::model::threads(),
            backend: self.backend.clone(),
            convolutions: self.model.convolutions().to_vec(),
            matmul_kernels: self.model.matmul_kernels(),
        })
    }

    /// Chooses between the backends this model has: "webgpu" (only where it was created
    /// with a working GPU) or "cpu".
    pub fn use_backend(&mut self, name: &str) -> Result<()> {
        match name {
            "cpu" => {
                if self.backend.name == "webgpu" {
                    self.backend.name = "cpu";
                    self.backend.reason = Some("chosen by the user".into());
                }
            }
            "webgpu" => {
                #[cfg(feature = "webgpu")]
                let adapter = self.gpu.as_ref().filter(|g| g.0.broken().is_none()).map(|g| g.0.adapter().to_string());
                #[cfg(not(feature = "webgpu"))]
                let adapter: Option<String> = None;
                let Some(adapter) = adapter else {
                    bail!(
                        "backend \"webgpu\" is not available for this model: {}",
                        self.backend.reason.as_deref().unwrap_or("it was loaded for the CPU")
                    )
                };
                self.backend = Backend { name: "webgpu", adapter: Some(adapter), reason: None };
            }
            other => bail!("backend must be \"webgpu\" or \"cpu\", got {other:?}"),
        }
        Ok(())
    }

    pub fn spec(&self) -> &PreprocessSpec {
        &self.spec
    }

    /// Replaces the preprocessing without loading the model again: `opts` is resolved
    /// against the graph as at load time (what it leaves open is read from the graph again).
    /// The layout stays the one the model was planned for: a different one needs a new
    /// load, and is refused. The last run's views and activations are dropped (they were
    /// made with the old preprocessing). On error nothing changes.
    pub fn set_preprocess(&mut self, mut opts: SpecOptions) -> Result<()> {
        let layout = self.spec.layout;
        match opts.layout {
            Some(l) if l != layout => bail!(
                "preprocess.layout {l:?} differs from the {layout:?} the model was loaded with: \
                 load the model again with that layout"
            ),
            _ => opts.layout = Some(layout),
        }
        let Resolved { spec, detected, planned } = resolve_preprocess(opts, self.model.info())?;
        self.planned = planned;
        self.spec = spec;
        self.detected = detected;
        self.last = None;
        self.cpu_pending = None;
        Ok(())
    }

    /// Top-`k` classes for a straight RGBA image.
    pub fn classify(&mut self, rgba: &[u8], width: u32, height: u32, k: usize) -> Result<Classification> {
        let img = preprocess::rgba_image(rgba, width, height)?;
        self.classify_image(&img, k)
    }

    /// Top-`k` classes for PNG or JPEG bytes.
    pub fn classify_encoded(&mut self, bytes: &[u8], k: usize) -> Result<Classification> {
        let img = preprocess::decode_image(bytes)?;
        self.classify_image(&img, k)
    }

    fn classify_image(&mut self, img: &RgbaImage, k: usize) -> Result<Classification> {
        self.check_classifier(k)?;
        let out = self.forward_image(img)?;
        self.answer(out, k)
    }

    /// Refuses a `k` of 0 and a model without a classifier head (also before a GPU job
    /// for a classification is prepared).
    pub fn check_classifier(&self, k: usize) -> Result<()> {
        ensure!(k >= 1, "topK must be at least 1, got {k}");
        ensure!(
            matches!(self.head, Head::Classifier { .. }),
            "this model has no classifier: its output '{}' is a feature map of shape {:?}; use forward() to get it",
            self.model.info().output_name,
            self.model.planned_output_shape().unwrap_or_default()
        );
        Ok(())
    }

    /// The top `k` classes of a classifier's output.
    fn answer(&self, out: Output, k: usize) -> Result<Classification> {
        let Head::Classifier { softmax_in_graph, .. } = self.head else { bail!("this model has no classifier") };
        // never apply softmax twice
        let probs = if softmax_in_graph { out.data } else { softmax(&out.data) };
        let predictions = top_k(&probs, k)
            .into_iter()
            .map(|i| Prediction { index: i, label: self.labels.name(i), probability: probs[i] })
            .collect();
        Ok(Classification { predictions, timings: out.timings })
    }

    /// The model's raw first output for a straight RGBA image.
    pub fn forward(&mut self, rgba: &[u8], width: u32, height: u32) -> Result<Output> {
        let img = preprocess::rgba_image(rgba, width, height)?;
        self.forward_image(&img)
    }

    fn forward_image(&mut self, img: &RgbaImage) -> Result<Output> {
        let input = self.prepare_image(img)?;
        let t0 = now_ms();
        let outputs = self.model.run(input.tensor, &input.shape)?;
        let inference_ms = now_ms() - t0;
        let (shape, data) = self.remember(input.analysis, Some(input.view), outputs);
        Ok(Output { shape, data, timings: Timings { preprocess_ms: input.ms, inference_ms, backend: "cpu" } })
    }

    /// Makes `img` the model's input, with the view kept for inspection and the layer
    /// analysis at its size (whose working memory is checked here), on either backend.
    fn prepare_image(&self, img: &RgbaImage) -> Result<Input> {
        let t0 = now_ms();
        let prepared = preprocess::prepare(img, &self.spec)?;
        let geometry = self.spec.geometry(img.width(), img.height())?;
        let analysis = self.analysis_for(&prepared.shape);
        self.check_memory(&analysis)?;
        let view = View { pixels: prepared.view, geometry };
        Ok(Input { tensor: prepared.tensor, shape: prepared.shape.to_vec(), view, analysis, ms: now_ms() - t0 })
    }

    /// The model's raw first output for an already prepared input tensor.
    pub fn forward_tensor(&mut self, data: &[f32], shape: &[usize]) -> Result<Output> {
        let analysis = self.check_tensor(data, shape)?;
        let t0 = now_ms();
        let outputs = self.model.run(data.to_vec(), shape)?;
        let inference_ms = now_ms() - t0;
        let analysis = analysis.context("the input tensor must have rank 4")?;
        let (shape, data) = self.remember(analysis, None, outputs);
        Ok(Output { shape, data, timings: Timings { preprocess_ms: 0.0, inference_ms, backend: "cpu" } })
    }

    /// The paper's image descriptor on a convolutional base (Appendix B), on the CPU: the
    /// output feature maps averaged over space for each of [`Pipeline::teaching_inputs`],
    /// then over the sizes (the paper's multi-scale pooling). Returns the descriptor (one
    /// number per channel) and the maps' [height, width] at each size. The runs are not kept
    /// for inspection.
    pub fn pooled_features(
        &mut self,
        img: &RgbaImage,
        side: u32,
        scales: &[u32],
    ) -> Result<(Vec<f32>, Vec<[usize; 2]>, Timings)> {
        let (inputs, preprocess_ms) = self.teaching_inputs(img, side, scales)?;
        let (outputs, timings) = self.run_all_unkept(inputs)?;
        let timings = Timings { preprocess_ms, ..timings };
        let (descriptor, hws) = self.pool_outputs(&outputs)?;
        Ok((descriptor, hws, timings))
    }

    /// The base's inputs for one descriptor of `img`: resized so that its shorter side is
    /// `side` and centre-cropped to `side` x `side` (with the model's own normalisation),
    /// then that tensor resized to each of `scales` (bilinear, as ONNX `Resize` does it, so
    /// that an exported multi-scale graph computes the same). Also the milliseconds this took.
    /// Refused for a model with a classifier head.
    pub fn teaching_inputs(&self, img: &RgbaImage, side: u32, scales: &[u32]) -> Result<(Vec<Tensor>, f64)> {
        ensure!(
            matches!(self.head, Head::Features),
            "teaching needs a convolutional base (a model whose output is feature maps [1, C, H, W]); \
             '{}' is a classifier",
            self.model.info().output_name
        );
        let t0 = now_ms();
        let spec = PreprocessSpec { resize: Some(side), crop: Some([side, side]), pad: 0, ..self.spec.clone() };
        let prepared = preprocess::prepare(img, &spec)?;
        let mut inputs = Vec::with_capacity(1 + scales.len());
        for &s in scales {
            let (data, shape) =
                preprocess::resize_tensor(&prepared.tensor, &prepared.shape, spec.layout, [s as usize; 2])?;
            inputs.push((shape, data));
        }
        inputs.insert(0, (prepared.shape.to_vec(), prepared.tensor));
        Ok((inputs, now_ms() - t0))
    }

    /// The base's outputs for [`Pipeline::teaching_inputs`], each averaged over space, then
    /// averaged together: the descriptor, and each output's [height, width].
    pub fn pool_outputs(&self, outputs: &[Tensor]) -> Result<(Vec<f32>, Vec<[usize; 2]>)> {
        let layout = self.spec.layout;
        let (mut sum, mut hws) = (Vec::new(), Vec::new());
        for (shape, data) in outputs {
            let (c, hw) = match (layout, shape.as_slice()) {
                (Layout::Nchw, [1, c, h, w]) => (*c, [*h, *w]),
                (Layout::Nhwc, [1, h, w, c]) => (*c, [*h, *w]),
                (_, other) => bail!("the base's output has shape {other:?}, not one image's feature maps"),
            };
            ensure!(sum.is_empty() || sum.len() == c, "the base's outputs differ in channels");
            sum.resize(c, 0f32);
            let n = (hw[0] * hw[1]) as f32;
            match layout {
                Layout::Nchw => {
                    sum.iter_mut().zip(data.chunks(hw[0] * hw[1])).for_each(|(a, m)| *a += m.iter().sum::<f32>() / n)
                }
                Layout::Nhwc => {
                    let mut d = vec![0f32; c];
                    data.chunks(c).for_each(|px| d.iter_mut().zip(px).for_each(|(a, v)| *a += v));
                    sum.iter_mut().zip(d).for_each(|(a, v)| *a += v / n);
                }
            }
            hws.push(hw);
        }
        ensure!(!hws.is_empty(), "no output to pool");
        let k = hws.len() as f32;
        Ok((sum.into_iter().map(|v| v / k).collect(), hws))
    }

    /// Runs an input tensor on the CPU without keeping the run for inspection: the model's
    /// first output.
    pub fn run_unkept(&mut self, data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        self.check_tensor(&data, shape)?;
        let mut outputs = self.model.run(data, shape).with_context(|| format!("input of shape {shape:?}"))?;
        Ok(outputs.swap_remove(0))
    }

    /// [`Pipeline::run_unkept`] on each of `inputs`: their outputs and the time they took.
    pub fn run_all_unkept(&mut self, inputs: Vec<Tensor>) -> Result<(Vec<Tensor>, Timings)> {
        let t0 = now_ms();
        let outputs =
            inputs.into_iter().map(|(shape, data)| self.run_unkept(data, &shape)).collect::<Result<Vec<_>>>()?;
        Ok((outputs, Timings { preprocess_ms: 0.0, inference_ms: now_ms() - t0, backend: "cpu" }))
    }

    /// Runs each of `inputs` on the model's backend (WebGPU where it was loaded onto a GPU,
    /// else the CPU), holding `base` borrowed only between the GPU's awaits: the outputs and
    /// the time they took (the backend of the last run; a failed WebGPU run is answered by
    /// the CPU, as in `classifyAsync`).
    pub async fn run_on_backend(
        base: &std::cell::RefCell<Pipeline>,
        inputs: Vec<Tensor>,
    ) -> Result<(Vec<Tensor>, Timings)> {
        let mut timings = Timings { preprocess_ms: 0.0, inference_ms: 0.0, backend: "cpu" };
        let mut outputs = Vec::with_capacity(inputs.len());
        for (shape, data) in inputs {
            #[cfg(feature = "webgpu")]
            {
                let job = base.borrow_mut().gpu_tensor_job(&data, &shape)?;
                if let Some(job) = job {
                    let done = job.run().await;
                    let out = base.borrow_mut().finish_gpu(done)?;
                    timings.inference_ms += out.timings.inference_ms;
                    timings.backend = out.timings.backend;
                    outputs.push((out.shape, out.data));
                    continue;
                }
            }
            let t0 = now_ms();
            outputs.push(base.borrow_mut().run_unkept(data, &shape)?);
            timings.inference_ms += now_ms() - t0;
            timings.backend = "cpu";
        }
        Ok((outputs, timings))
    }

    /// The base's input side for teaching: its fixed input size, else the spec's resize,
    /// else 224 (VGG's training crop).
    pub fn teaching_side(&self) -> u32 {
        let s = &self.model.info().input_shape;
        let fixed = match self.spec.layout {
            Layout::Nchw => s.get(2).copied().flatten(),
            Layout::Nhwc => s.get(1).copied().flatten(),
        };
        fixed.map(|v| v as u32).or(self.spec.resize).unwrap_or(224)
    }

    /// ONNX bytes of the base this pipeline was loaded from (`base`, checked against the
    /// loaded graph) with `head` appended: see [`crate::model::export::with_classifier`].
    pub fn export_classifier(&self, base: &[u8], head: &crate::model::export::Head) -> Result<Vec<u8>> {
        ensure!(matches!(self.head, Head::Features), "only a convolutional base can take a new classifier");
        crate::model::export::with_classifier(base, self.model.info(), self.spec.layout == Layout::Nhwc, head)
    }

    /// Runs an already-preprocessed tensor once, timing every operator of the plan (for
    /// benchmarks: the run is not kept for inspection).
    pub fn profile_tensor(&mut self, data: &[f32], shape: &[usize]) -> Result<Vec<crate::model::NodeTime>> {
        self.check_tensor(data, shape)?;
        self.model.profile(data.to_vec(), shape)
    }

    /// Refuses NaN and infinities, and a size whose run would not fit in memory; returns
    /// the layer analysis for a rank-4 tensor (another rank is refused by the model's own
    /// shape check).
    fn check_tensor(&self, data: &[f32], shape: &[usize]) -> Result<Option<Analysis>> {
        ensure!(data.iter().all(|v| v.is_finite()), "input tensor contains NaN or infinite values");
        let analysis = (shape.len() == 4).then(|| self.analysis_for(shape));
        if let Some(a) = &analysis {
            self.check_memory(a)?;
        }
        Ok(analysis)
    }

    /// Keeps the run for inspection (all its outputs only when activations are kept);
    /// returns the graph output.
    fn remember(&mut self, analysis: Analysis, view: Option<View>, mut outputs: Vec<Tensor>) -> Tensor {
        let (main, kept) = if self.model.keeps_activations() {
            (outputs[0].clone(), outputs)
        } else {
            (outputs.swap_remove(0), Vec::new())
        };
        self.last = Some(LastRun::new(analysis, view, kept));
        self.cpu_pending = None;
        main
    }

    /// After a GPU run, computes on the CPU the activations that [`Pipeline::activation`]
    /// and the gradients read (the GPU reads back only the output); nothing otherwise.
    pub fn complete_on_cpu(&mut self) -> Result<()> {
        if let Some((tensor, shape)) = self.cpu_pending.take() {
            let outputs = self.model.run(tensor, &shape).context("computing the activations on the CPU")?;
            let last = self.last.take().context("run the model first (classify or forward)")?;
            self.remember(last.analysis, last.view, outputs);
        }
        Ok(())
    }

    fn last_run(&self) -> Result<&LastRun> {
        ensure!(self.cpu_pending.is_none(), "the last run was on the GPU: complete_on_cpu() computes its activations");
        self.last.as_ref().context("run the model first (classify or forward)")
    }

    /// The image as the model saw it in the last run (after resize, crop and pad), with
    /// where its pixels come from.
    pub fn last_view(&self) -> Result<&View> {
        let last = self.last.as_ref().context("run the model first (classify or forward)")?;
        last.view.as_ref().context("the last run was given a prepared tensor, not an image")
    }

    /// The layer analysis of the last run, or of the planned size before any run.
    fn analysis(&self) -> &Analysis {
        self.last.as_ref().map_or(&self.planned, |r| &r.analysis)
    }

    /// Names of the layers whose activations are kept after each run.
    pub fn kept_layers(&self) -> &[String] {
        if self.model.keeps_activations() {
            &self.model.output_names()[1..]
        } else {
            &[]
        }
    }

    /// Activations of `layer` from the last run: shape (batch 1 first) and data. A
    /// convolution or dense layer is read after the ReLU that follows it.
    /// After a GPU run, call [`Pipeline::complete_on_cpu`] first.
    pub fn activation(&self, layer: &str) -> Result<&Tensor> {
        self.last_run()?.activation(self.model.output_names(), layer)
    }

    fn backward(&self) -> Result<Backward<'_>> {
        let steps = self.model.steps().map_err(|e| anyhow::anyhow!("gradients are not available: {e}"))?;
        Ok(Backward { steps, output_names: self.model.output_names(), channels: self.channels() })
    }

    /// Class saliency (Simonyan, Vedaldi & Zisserman 2014) of `class` (default: the last
    /// run's top class): the gradient of its unnormalised score with respect to the input.
    pub fn saliency(&self, class: Option<usize>) -> Result<Gradient> {
        let Head::Classifier { classes, .. } = self.head else {
            bail!("saliency needs a classifier; this model outputs feature maps")
        };
        let b = self.backward()?;
        let run = self.last_run()?;
        let class = match class {
            Some(c) => c,
            None => top_k(&run.graph_output().context("run the model first (classify or forward)")?.1, 1)[0],
        };
        run.saliency(&b, classes, class, &self.labels.name(class))
    }

    /// Effective receptive field (Luo et al. 2016) of unit (`channel`, `y`, `x`) of `layer`
    /// on the last image.
    pub fn unit_gradient(&self, layer: &str, channel: usize, y: usize, x: usize) -> Result<Gradient> {
        let b = self.backward()?;
        self.last_run()?.unit_gradient(&b, layer, channel, y, x)
    }

    fn channels(&self) -> usize {
        self.spec.channel_order.channels()
    }

    /// The layer analysis for an input tensor of rank-4 `shape`, computed once per run: the
    /// memory check and the inspection of the run both read it.
    fn analysis_for(&self, shape: &[usize]) -> Analysis {
        let hw = match self.spec.layout {
            Layout::Nchw => [shape[2], shape[3]],
            Layout::Nhwc => [shape[1], shape[2]],
        };
        Analysis::new(&self.model.info().layers, self.channels(), hw)
    }

    /// Refuses an input size whose working memory would not fit (dynamic-size models only:
    /// a fixed-size graph costs what it costs). The estimate: the largest convolution's
    /// unfolded input (k x k copies) and output, plus every kept activation.
    fn check_memory(&self, analysis: &Analysis) -> Result<()> {
        let Ok(layers) = analysis.layers() else { return Ok(()) };
        if !self.model.is_dynamic() {
            return Ok(());
        }
        let c = self.channels();
        let [h, w] = analysis.input_hw;
        let elems = |s: &[usize]| s.iter().product::<usize>() as u64;
        let mut input = (c * h * w) as u64;
        let (mut peak, mut kept) = (0u64, 0u64);
        for l in layers {
            let out = elems(&l.out_shape);
            peak = peak.max(input * (l.kernel[0] * l.kernel[1]) as u64 + out);
            kept += out;
            input = out;
        }
        let kept = if self.model.keeps_activations() { kept } else { 0 };
        let need = (peak + kept) * 4;
        ensure!(
            need <= WORKING_MEMORY_BYTES,
            "an input of {w}x{h} pixels would need about {:.1} GiB of working memory with this model \
             (at most {} GiB fit in wasm): set preprocess.resize to a smaller size",
            need as f64 / (1u64 << 30) as f64,
            WORKING_MEMORY_BYTES >> 30
        );
        Ok(())
    }

    /// Height and width of the input the layer analysis describes: the last one run, or
    /// the size the model was planned for.
    pub fn input_hw(&self) -> [usize; 2] {
        self.analysis().input_hw
    }

    /// Receptive field, shape, parameters and MACs of every layer, for the last input size.
    pub fn layers(&self) -> Result<&[LayerAnalysis]> {
        self.analysis().layers()
    }

    /// The paper's argument for stacks of 3x3 convolutions, read off this model's layers.
    pub fn conv_stack(&self) -> Result<ConvStack> {
        Ok(receptive_field::conv_stack(self.layers()?))
    }

    /// Where unit (`y`, `x`) of `layer` (its tensor name or VGG label) looks in the input.
    pub fn receptive_field(&self, layer: &str, y: usize, x: usize) -> Result<UnitField> {
        self.analysis().receptive_field(layer, y, x)
    }

    /// For unit (`y`, `x`) of `layer`, the units of each earlier layer it depends on.
    pub fn nested_fields(&self, layer: &str, y: usize, x: usize) -> Result<Vec<Nested>> {
        let chain = self.model.info().layers.as_ref().map_err(|e| anyhow::anyhow!("no layer analysis: {e}"))?;
        self.analysis().nested_fields(chain, layer, y, x)
    }
}

#[cfg(feature = "webgpu")]
impl Pipeline {
    /// Prepares a straight RGBA image for a GPU run; `None` when the CPU is the backend
    /// (the caller then runs [`Pipeline::forward`]). A device lost since the last call
    /// makes the CPU the backend here, with the reason.
    pub fn gpu_job(&mut self, rgba: &[u8], width: u32, height: u32) -> Result<Option<GpuJob>> {
        let Some(engine) = self.usable_gpu() else { return Ok(None) };
        let input = self.prepare_image(&preprocess::rgba_image(rgba, width, height)?)?;
        let Input { tensor, shape, view, analysis, ms } = input;
        Ok(Some(GpuJob { engine, tensor, shape, view: Some(view), analysis, preprocess_ms: ms }))
    }

    /// A GPU run of an already prepared input tensor; `None` when the CPU is the backend.
    pub fn gpu_tensor_job(&mut self, data: &[f32], shape: &[usize]) -> Result<Option<GpuJob>> {
        let Some(engine) = self.usable_gpu() else { return Ok(None) };
        let analysis = self.check_tensor(data, shape)?.context("the input tensor must have rank 4")?;
        Ok(Some(GpuJob {
            engine,
            tensor: data.to_vec(),
            shape: shape.to_vec(),
            view: None,
            analysis,
            preprocess_ms: 0.0,
        }))
    }

    /// The top `k` classes of a finished GPU run (see [`Pipeline::finish_gpu`]).
    pub fn finish_gpu_classify(&mut self, done: GpuDone, k: usize) -> Result<Classification> {
        let out = self.finish_gpu(done)?;
        self.answer(out, k)
    }

    /// Keeps a finished GPU run for inspection. Where it failed, the same input runs on the
    /// CPU now; a lost device also makes the CPU the backend from now on, with the reason.
    pub fn finish_gpu(&mut self, done: GpuDone) -> Result<Output> {
        let GpuDone { job, result, inference_ms } = done;
        match result {
            Ok((shape, data)) => {
                let keeps = self.model.keeps_activations();
                self.last = Some(LastRun::new(job.analysis, job.view, Vec::new()));
                self.cpu_pending = keeps.then_some((job.tensor, job.shape));
                let timings = Timings { preprocess_ms: job.preprocess_ms, inference_ms, backend: "webgpu" };
                Ok(Output { shape, data, timings })
            }
            Err(e) => {
                let reason = format!("the last WebGPU run failed, so the CPU answered: {e:#}");
                if job.engine.0.broken().is_some() {
                    self.gpu = None;
                    self.backend = Backend::cpu(Some(reason));
                } else {
                    self.backend.reason = Some(reason);
                }
                let t0 = now_ms();
                let outputs = self.model.run(job.tensor, &job.shape)?;
                let inference_ms = now_ms() - t0;
                let (shape, data) = self.remember(job.analysis, job.view, outputs);
                let timings = Timings { preprocess_ms: job.preprocess_ms, inference_ms, backend: "cpu" };
                Ok(Output { shape, data, timings })
            }
        }
    }

    /// The GPU engine if it can still run; a broken device is dropped here for the CPU.
    fn usable_gpu(&mut self) -> Option<GpuEngine> {
        if self.backend.name != "webgpu" {
            return None;
        }
        let engine = self.gpu.clone()?;
        if let Some(why) = engine.0.broken() {
            self.gpu = None;
            self.backend = Backend::cpu(Some(format!("WebGPU stopped working, so the CPU answers: {why}")));
            return None;
        }
        Some(engine)
    }

    /// Destroys the GPU device, as a lost GPU would be (for tests of the fallback).
    pub fn lose_gpu_for_test(&self) {
        if let Some(g) = &self.gpu {
            g.0.destroy_device();
        }
    }
}

/// A [1, K] or [1, K, 1, 1] output is a classifier over K classes; anything else is
/// feature maps.
/// Class scores ([1, k] or [1, k, 1, 1], k > 1) or feature maps ([1, C, H, W]); any other
/// output is not something this library can present.
fn head_of(out_shape: &[usize], info: &GraphInfo) -> Result<Head> {
    match out_shape {
        [1, k] | [1, k, 1, 1] if *k > 1 => Ok(Head::Classifier { classes: *k, softmax_in_graph: info.ends_in_softmax }),
        [1, _, _, _] => Ok(Head::Features),
        other => bail!(
            "the model's output '{}' has shape {other:?}: neither class scores [1, classes] nor feature maps [1, C, H, W]",
            info.output_name
        ),
    }
}
