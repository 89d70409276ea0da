//! The whole path from pixels to answers, in plain Rust: preprocess, run, interpret.
//! The bindings wrap this type for JS; native tests use it directly. Here: loading and the
//! CPU runs; `types` (options and answers), `resolve` (the preprocessing read from the
//! graph), `inspect` (what a kept run offers), `gpu` (everything WebGPU).

#[cfg(feature = "webgpu")]
mod gpu;
// without WebGPU the same functions, saying there is none
#[cfg(not(feature = "webgpu"))]
#[path = "no_gpu.rs"]
mod gpu;
mod inspect;
mod resolve;
mod types;
mod visualize;

#[cfg(feature = "webgpu")]
pub use gpu::{GpuDone, GpuJob};
use resolve::{file_preprocess, head_of, plan_hw, resolve_preprocess, Resolved};
pub use types::*;
pub use visualize::{Frame, Patch, Visualizing, DEFAULT_SIZE, MAX_PATCH_IMAGES};

use crate::clock::now_ms;
use crate::inspect::{Analysis, LastRun, TransposedConvs};
pub use crate::inspect::{Gradient, Tensor, View};
use crate::labels::Labels;
use crate::model::{GraphInfo, Model, Planning};
use crate::predictions::{softmax, top_k, Prediction};
use crate::preprocess::{self, Layout, PreprocessSpec, SpecOptions};
use anyhow::{bail, ensure, Context, Result};
use image::RgbaImage;

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
    /// The model on the GPU, where it was loaded there (nothing without the `webgpu` feature).
    gpu: gpu::Slot,
    /// The convolutions' backward passes on tract, built when a gradient first needs them.
    transposed: TransposedConvs,
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
    /// (default "auto": WebGPU when a hardware adapter, a device and every op of the model
    /// are there, else the CPU with the reason in [`ModelInfo::backend`]). "webgpu" takes a
    /// software adapter too, and fails with the reason instead of falling back.
    pub async fn create(bytes: Vec<u8>, options: Options) -> Result<Pipeline> {
        let choice = options.backend.unwrap_or(BackendChoice::Auto);
        if choice == BackendChoice::Cpu {
            return Pipeline::build(bytes.into(), options, &mut Model::load);
        }
        let attached = gpu::attach(bytes, options, choice).await?;
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
            gpu: Default::default(),
            transposed: Default::default(),
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
                if self.backend.name == BackendKind::Webgpu {
                    self.backend.name = BackendKind::Cpu;
                    self.backend.reason = Some("chosen by the user".into());
                }
            }
            "webgpu" => {
                let Some(adapter) = gpu::working_adapter(self) else {
                    bail!(
                        "backend \"webgpu\" is not available for this model: {}",
                        self.backend.reason.as_deref().unwrap_or("it was loaded for the CPU")
                    )
                };
                self.backend = Backend { name: BackendKind::Webgpu, adapter: Some(adapter), reason: None };
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
        Ok(Output {
            shape,
            data,
            timings: Timings { preprocess_ms: input.ms, inference_ms, backend: BackendKind::Cpu },
        })
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
        Ok(Output { shape, data, timings: Timings { preprocess_ms: 0.0, inference_ms, backend: BackendKind::Cpu } })
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
        Ok((outputs, Timings { preprocess_ms: 0.0, inference_ms: now_ms() - t0, backend: BackendKind::Cpu }))
    }

    /// Runs each of `inputs` on the model's backend (WebGPU where it was loaded onto a GPU,
    /// else the CPU), holding `base` borrowed only between the GPU's awaits: the outputs and
    /// the time they took (the backend of the last run; a failed WebGPU run is answered by
    /// the CPU, as in `classifyAsync`).
    pub async fn run_on_backend(
        base: &std::cell::RefCell<Pipeline>,
        inputs: Vec<Tensor>,
    ) -> Result<(Vec<Tensor>, Timings)> {
        let mut timings = Timings { preprocess_ms: 0.0, inference_ms: 0.0, backend: BackendKind::Cpu };
        let mut outputs = Vec::with_capacity(inputs.len());
        for (shape, data) in inputs {
            if let Some(out) = gpu::run_unkept(base, &data, &shape).await? {
                timings.inference_ms += out.timings.inference_ms;
                timings.backend = out.timings.backend;
                outputs.push((out.shape, out.data));
                continue;
            }
            let t0 = now_ms();
            outputs.push(base.borrow_mut().run_unkept(data, &shape)?);
            timings.inference_ms += now_ms() - t0;
            timings.backend = BackendKind::Cpu;
        }
        Ok((outputs, timings))
    }

    /// What the crate read from the graph (input and output names and shapes, layers).
    pub fn graph(&self) -> &GraphInfo {
        self.model.info()
    }

    /// The model's head: class scores or feature maps.
    pub fn head(&self) -> &Head {
        &self.head
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
}
