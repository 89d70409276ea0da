//! The whole path from pixels to answers, in plain Rust: preprocess, run, interpret.
//! `bindings.rs` wraps this type for JS; native tests use it directly.

use crate::clock::now_ms;
use crate::inspect::{Analysis, Backward, LastRun};
pub use crate::inspect::{Gradient, Tensor, View};
use crate::labels::Labels;
use crate::model::{fmt_shape, GraphInfo, Model};
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    pub preprocess_ms: f64,
    pub inference_ms: f64,
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
    /// What the crate read from the graph to fill in the preprocessing the options left
    /// open (layout, grey channel, the graph's own scaling, its fixed size), in words.
    pub detected: Vec<String>,
    /// Threads inference runs on (1 unless the threaded build set up a pool).
    pub threads: usize,
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
}

impl Pipeline {
    /// Loads ONNX `bytes` with `options`.
    /// Owned bytes (a `Vec`) are freed once decoded, which lowers the load's peak memory.
    pub fn new<'a>(bytes: impl Into<std::borrow::Cow<'a, [u8]>>, options: Options) -> Result<Pipeline> {
        let mut spec_opts = options.preprocess.unwrap_or_default();
        let plan_hw = spec_opts.crop.map_or(DEFAULT_PLAN_HW, |[h, w]| [h as usize, w as usize]);
        let plan_hw = if plan_hw.contains(&0) { DEFAULT_PLAN_HW } else { plan_hw };
        let nhwc = spec_opts.layout.map(|l| l == Layout::Nhwc);
        let model = Model::load(bytes.into(), plan_hw, nhwc, options.activations).context("loading the model")?;
        let info = model.info().clone();
        // what the graph says about its input, where the options leave it open
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
        let untouched = spec_opts.preset.is_none() && spec_opts.scale.is_none() && spec_opts.mean.is_none() && spec_opts.std.is_none();
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
        let head = head_of(&model.planned_output_shape()?, &info)?;
        let labels = match &head {
            Head::Classifier { classes, .. } => Labels::for_classes(*classes, options.labels)?,
            Head::Features => Labels::Numbered,
        };
        let input_hw = fixed_hw.map_or(plan_hw, |[h, w]| [h as usize, w as usize]);
        let planned = Analysis::new(&info.layers, spec.channel_order.channels(), input_hw);
        Ok(Pipeline { model, spec, head, labels, planned, detected, last: None })
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
        })
    }

    pub fn spec(&self) -> &PreprocessSpec {
        &self.spec
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
        ensure!(k >= 1, "topK must be at least 1, got {k}");
        let Head::Classifier { softmax_in_graph, .. } = self.head else {
            bail!(
                "this model has no classifier: its output '{}' is a feature map of shape {:?}; \
                 use forward() to get it",
                self.model.info().output_name,
                self.model.planned_output_shape().unwrap_or_default()
            );
        };
        let out = self.forward_image(img)?;
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
        let t0 = now_ms();
        let prepared = preprocess::prepare(img, &self.spec)?;
        let geometry = self.spec.geometry(img.width(), img.height())?;
        let analysis = self.analysis_for(&prepared.shape);
        self.check_memory(&analysis)?;
        let t1 = now_ms();
        let outputs = self.model.run(prepared.tensor, &prepared.shape)?;
        let t2 = now_ms();
        let view = View { pixels: prepared.view, geometry };
        let (shape, data) = self.remember(analysis, Some(view), outputs);
        Ok(Output { shape, data, timings: Timings { preprocess_ms: t1 - t0, inference_ms: t2 - t1 } })
    }

    /// The model's raw first output for an already prepared input tensor.
    pub fn forward_tensor(&mut self, data: &[f32], shape: &[usize]) -> Result<Output> {
        let analysis = self.check_tensor(data, shape)?;
        let t0 = now_ms();
        let outputs = self.model.run(data.to_vec(), shape)?;
        let inference_ms = now_ms() - t0;
        let analysis = analysis.context("the input tensor must have rank 4")?;
        let (shape, data) = self.remember(analysis, None, outputs);
        Ok(Output { shape, data, timings: Timings { preprocess_ms: 0.0, inference_ms } })
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
        main
    }

    fn last_run(&self) -> Result<&LastRun> {
        self.last.as_ref().context("run the model first (classify or forward)")
    }

    /// The image as the model saw it in the last run (after resize, crop and pad), with
    /// where its pixels come from.
    pub fn last_view(&self) -> Result<&View> {
        self.last_run()?.view.as_ref().context("the last run was given a prepared tensor, not an image")
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
