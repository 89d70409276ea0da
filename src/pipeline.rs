//! The whole path from pixels to answers, in plain Rust: preprocess, run, interpret.
//! `bindings.rs` wraps this type for JS; native tests use it directly.

use crate::clock::now_ms;
use crate::labels::Labels;
use crate::model::{fmt_shape, GraphInfo, Model};
use crate::predictions::{softmax, top_k, Prediction};
use crate::preprocess::{self, ChannelOrder, Layout, PreprocessSpec, SpecOptions};
use crate::gradients::{self, Activation};
use crate::receptive_field::{self, LayerAnalysis, UnitField};
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
}

/// A loaded model with its preprocessing and labels.
#[derive(Debug)]
pub struct Pipeline {
    model: Model,
    spec: PreprocessSpec,
    head: Head,
    labels: Labels,
    /// Height and width of the last input tensor, which layer analysis describes.
    input_hw: [usize; 2],
    /// Every output of the last run (graph output, then observed layers), when kept.
    last: Option<Vec<(Vec<usize>, Vec<f32>)>>,
}

/// The gradient of one scalar with respect to the input tensor.
#[derive(Clone, Debug)]
pub struct Gradient {
    /// [channels, height, width] of the input tensor.
    pub shape: [usize; 3],
    pub data: Vec<f32>,
    /// One value per input pixel: max over channels of |gradient| for saliency (Simonyan et
    /// al.), sum over channels for an effective receptive field (Luo et al.).
    pub map: Vec<f32>,
    /// What was differentiated, e.g. `class 281 (tabby cat)` or `conv5_3[12, 3, 4]`.
    pub target: String,
    pub ms: f64,
}

impl Pipeline {
    /// Loads ONNX `bytes` with `options`.
    pub fn new(bytes: &[u8], options: Options) -> Result<Pipeline> {
        let mut spec_opts = options.preprocess.unwrap_or_default();
        let nhwc = spec_opts.layout == Some(Layout::Nhwc);
        let plan_hw = spec_opts.crop.map_or(DEFAULT_PLAN_HW, |[h, w]| [h as usize, w as usize]);
        let plan_hw = if plan_hw.contains(&0) { DEFAULT_PLAN_HW } else { plan_hw };
        let model = Model::load(bytes, plan_hw, nhwc, options.activations).context("loading the model")?;
        let info = model.info().clone();
        let (c_axis, h_axis, w_axis) = if nhwc { (3, 1, 2) } else { (1, 2, 3) };
        // a one-channel model wants grey pixels unless told otherwise
        if spec_opts.channel_order.is_none() && info.input_shape[c_axis] == Some(1) {
            spec_opts.channel_order = Some(ChannelOrder::Gray);
        }
        let fixed_hw = match (info.input_shape[h_axis], info.input_shape[w_axis]) {
            (Some(h), Some(w)) => Some([h as u32, w as u32]),
            _ => None,
        };
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
        let head = head_of(&model.planned_output_shape()?, &info);
        let labels = match &head {
            Head::Classifier { classes, .. } => Labels::for_classes(*classes, options.labels)?,
            Head::Features => Labels::Numbered,
        };
        let input_hw = fixed_hw.map_or(plan_hw, |[h, w]| [h as usize, w as usize]);
        Ok(Pipeline { model, spec, head, labels, input_hw, last: None })
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
        })
    }

    pub fn spec(&self) -> &PreprocessSpec {
        &self.spec
    }

    /// The pixels the model sees for a straight RGBA image, after resize, crop and pad.
    pub fn view(&self, rgba: &[u8], width: u32, height: u32) -> Result<RgbaImage> {
        let img = preprocess::rgba_image(rgba, width, height)?;
        Ok(preprocess::prepare(&img, &self.spec)?.view)
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
        self.check_memory(self.spatial(&prepared.shape))?;
        let t1 = now_ms();
        let outputs = self.model.run(prepared.tensor, &prepared.shape)?;
        let t2 = now_ms();
        self.input_hw = self.spatial(&prepared.shape);
        let (shape, data) = self.keep(outputs);
        Ok(Output { shape, data, timings: Timings { preprocess_ms: t1 - t0, inference_ms: t2 - t1 } })
    }

    /// The model's raw first output for an already prepared input tensor.
    pub fn forward_tensor(&mut self, data: &[f32], shape: &[usize]) -> Result<Output> {
        ensure!(data.iter().all(|v| v.is_finite()), "input tensor contains NaN or infinite values");
        if shape.len() == 4 {
            self.check_memory(self.spatial(shape))?;
        }
        let t0 = now_ms();
        let outputs = self.model.run(data.to_vec(), shape)?;
        let inference_ms = now_ms() - t0;
        self.input_hw = self.spatial(shape);
        let (shape, data) = self.keep(outputs);
        Ok(Output { shape, data, timings: Timings { preprocess_ms: 0.0, inference_ms } })
    }
}

impl Pipeline {
    /// Keeps a run's outputs when activations are observed; returns the graph output.
    fn keep(&mut self, mut outputs: Vec<(Vec<usize>, Vec<f32>)>) -> (Vec<usize>, Vec<f32>) {
        if outputs.len() > 1 || self.model.steps().is_ok() {
            let main = outputs[0].clone();
            self.last = Some(outputs);
            main
        } else {
            outputs.swap_remove(0)
        }
    }

    /// The last run's output of tensor `name`, if it was kept.
    fn kept(&self, name: &str) -> Option<&(Vec<usize>, Vec<f32>)> {
        let i = self.model.output_names().iter().position(|n| n == name)?;
        self.last.as_ref()?.get(i)
    }

    /// Index of `layer` (tensor name or VGG label) in the chain.
    fn layer_index(&self, layers: &[LayerAnalysis], layer: &str) -> Result<usize> {
        layers.iter().position(|l| l.name == layer || l.label == layer).with_context(|| {
            let known: Vec<&str> = layers.iter().filter(|l| !l.label.is_empty()).map(|l| l.label.as_str()).collect();
            format!("no layer named '{layer}' (layers: {})", known.join(", "))
        })
    }

    /// Names of the layers whose activations are kept after each run.
    pub fn observed(&self) -> &[String] {
        &self.model.output_names()[1..]
    }

    /// Activations of `layer` from the last run: shape (batch 1 first) and data. A
    /// convolution or dense layer is read after the ReLU that follows it, as VGG's feature
    /// maps are usually shown.
    pub fn activation(&self, layer: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        ensure!(self.last.is_some(), "no activations yet: load with options.activations = true, then run the model");
        let layers = self.layers()?;
        let i = self.layer_index(&layers, layer)?;
        let candidates = [Some(i), (i + 1 < layers.len() && layers[i + 1].op_type == "Relu").then_some(i + 1)];
        for j in candidates.into_iter().flatten().rev() {
            if let Some((shape, data)) = self.kept(&layers[j].name) {
                return Ok((shape.clone(), data.clone()));
            }
        }
        bail!(
            "layer '{layer}' is not kept (the optimiser may fuse it away); kept layers: {}",
            self.observed().join(", ")
        )
    }

    /// The backward steps, once the model has run with its activations kept.
    fn ready_for_gradients(&self) -> Result<&[gradients::Step]> {
        let steps = self.model.steps().map_err(|e| anyhow::anyhow!("gradients are not available: {e}"))?;
        ensure!(self.last.is_some(), "run the model first (classify or forward)");
        Ok(steps)
    }

    /// Runs the backward pass from the output of chain layer `from`, seeded with `seed`.
    fn backprop(&self, layers: &[LayerAnalysis], from: usize, seed: Vec<f32>) -> Result<Vec<f32>> {
        let steps = self.ready_for_gradients()?;
        let [h, w] = self.input_hw;
        let input_shape = [self.spec.channel_order.channels(), h, w];
        let acts: Vec<Activation> = layers
            .iter()
            .enumerate()
            .map(|(i, l)| Activation {
                in_shape: if i == 0 { &input_shape } else { &layers[i - 1].out_shape },
                out_shape: &l.out_shape,
                input: if i == 0 { None } else { self.kept(&layers[i - 1].name).map(|k| k.1.as_slice()) },
                output: self.kept(&l.name).map(|k| k.1.as_slice()),
            })
            .collect();
        gradients::backward(steps, &acts, from, seed)
    }

    fn gradient(&self, data: Vec<f32>, target: String, t0: f64, reduce_max: bool) -> Gradient {
        let [h, w] = self.input_hw;
        let c = self.spec.channel_order.channels();
        let plane = h * w;
        let map = (0..plane)
            .map(|p| {
                let vals = (0..c).map(|ch| data[ch * plane + p].abs());
                if reduce_max { vals.fold(0.0, f32::max) } else { vals.sum() }
            })
            .collect();
        Gradient { shape: [c, h, w], data, map, target, ms: now_ms() - t0 }
    }

    /// Class saliency (Simonyan, Vedaldi & Zisserman 2014): the gradient of the unnormalised
    /// score of `class` (default: the last run's top class) with respect to the input.
    pub fn saliency(&self, class: Option<usize>) -> Result<Gradient> {
        let t0 = now_ms();
        let Head::Classifier { classes, .. } = self.head else { bail!("saliency needs a classifier; this model outputs feature maps") };
        self.ready_for_gradients()?;
        let layers = self.layers()?;
        let from = layers
            .iter()
            .rposition(|l| matches!(l.op_type.as_str(), "Gemm" | "MatMul"))
            .filter(|&i| layers[i].out_shape == vec![classes])
            .context("no fully connected layer gives the class scores")?;
        let class = match class {
            Some(c) => {
                ensure!(c < classes, "class index {c} is out of range: the model has {classes} classes");
                c
            }
            None => {
                let out = &self.last.as_ref().context("run the model first (classify or forward)")?[0].1;
                top_k(out, 1)[0]
            }
        };
        let mut seed = vec![0f32; classes];
        seed[class] = 1.0;
        let data = self.backprop(&layers, from, seed)?;
        Ok(self.gradient(data, format!("class {class} ({})", self.labels.name(class)), t0, true))
    }

    /// Effective receptive field (Luo et al. 2016) of unit (`channel`, `y`, `x`) of `layer`:
    /// the gradient of its pre-activation with respect to the input, so a unit that is zero
    /// on this image still shows where it looks.
    pub fn unit_gradient(&self, layer: &str, channel: usize, y: usize, x: usize) -> Result<Gradient> {
        let t0 = now_ms();
        let layers = self.layers()?;
        let mut from = self.layer_index(&layers, layer)?;
        if layers[from].op_type == "Relu" && from > 0 {
            from -= 1;
        }
        let shape = &layers[from].out_shape;
        let (c, h, w) = match shape.as_slice() {
            [c, h, w] => (*c, *h, *w),
            [f] => (*f, 1, 1),
            _ => bail!("layer '{layer}' has an unexpected shape {shape:?}"),
        };
        ensure!(
            channel < c && y < h && x < w,
            "unit (channel {channel}, y {y}, x {x}) is outside layer '{layer}' of shape [{c}, {h}, {w}]"
        );
        let mut seed = vec![0f32; c * h * w];
        seed[(channel * h + y) * w + x] = 1.0;
        let data = self.backprop(&layers, from, seed)?;
        Ok(self.gradient(data, format!("{}[{channel}, {y}, {x}]", layers[from].label), t0, false))
    }

    fn spatial(&self, shape: &[usize]) -> [usize; 2] {
        match self.spec.layout {
            Layout::Nchw => [shape[2], shape[3]],
            Layout::Nhwc => [shape[1], shape[2]],
        }
    }

    /// Refuses an input size whose working memory would not fit (dynamic-size models only:
    /// a fixed-size graph costs what it costs). The estimate: the largest convolution's
    /// unfolded input (k x k copies) and output, plus every kept activation.
    fn check_memory(&self, [h, w]: [usize; 2]) -> Result<()> {
        let Ok(chain) = self.model.info().layers.as_ref() else { return Ok(()) };
        if !self.model.is_dynamic() {
            return Ok(());
        }
        let c = self.spec.channel_order.channels();
        let Ok(layers) = receptive_field::analyse(chain, [c, h, w]) else { return Ok(()) };
        let elems = |s: &[usize]| s.iter().product::<usize>() as u64;
        let mut input = (c * h * w) as u64;
        let (mut peak, mut kept) = (0u64, 0u64);
        for l in &layers {
            let out = elems(&l.out_shape);
            peak = peak.max(input * (l.kernel[0] * l.kernel[1]) as u64 + out);
            kept += out;
            input = out;
        }
        let kept = if self.last.is_some() || self.model.steps().is_ok() { kept } else { 0 };
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
        self.input_hw
    }

    /// Receptive field, shape, parameters and MACs of every layer, for the last input size.
    pub fn layers(&self) -> Result<Vec<LayerAnalysis>> {
        let chain = self.model.info().layers.as_ref().map_err(|e| anyhow::anyhow!("no layer analysis: {e}"))?;
        let [h, w] = self.input_hw;
        receptive_field::analyse(chain, [self.spec.channel_order.channels(), h, w])
            .map_err(|e| anyhow::anyhow!("layer analysis: {e}"))
    }

    /// Where unit (`y`, `x`) of `layer` (its tensor name or VGG label) looks in the input.
    pub fn receptive_field(&self, layer: &str, y: usize, x: usize) -> Result<UnitField> {
        let layers = self.layers()?;
        let a = layers
            .iter()
            .find(|l| l.name == layer || l.label == layer)
            .with_context(|| format!("no layer named '{layer}'"))?;
        let [h, w] = match a.out_shape.as_slice() {
            [_, h, w] => [*h, *w],
            _ => [1, 1],
        };
        ensure!(
            y < h && x < w,
            "unit (y {y}, x {x}) is outside layer '{layer}', whose maps are {h} x {w}"
        );
        Ok(receptive_field::unit_field(a, y, x, self.input_hw))
    }

    /// For unit (`y`, `x`) of `layer`, the units of each earlier layer it depends on.
    pub fn nested_fields(&self, layer: &str, y: usize, x: usize) -> Result<Vec<receptive_field::Nested>> {
        self.receptive_field(layer, y, x)?; // validates the layer and the unit
        let layers = self.layers()?;
        let i = self.layer_index(&layers, layer)?;
        let chain = self.model.info().layers.as_ref().map_err(|e| anyhow::anyhow!("no layer analysis: {e}"))?;
        Ok(receptive_field::nested_fields(chain, &layers, i, y, x))
    }
}

/// A [1, K] or [1, K, 1, 1] output is a classifier over K classes; anything else is
/// feature maps.
fn head_of(out_shape: &[usize], info: &GraphInfo) -> Head {
    let classes = match out_shape {
        [1, k] | [1, k, 1, 1] => Some(*k),
        _ => None,
    };
    match classes {
        Some(classes) if classes > 1 => Head::Classifier { classes, softmax_in_graph: info.ends_in_softmax },
        _ => Head::Features,
    }
}
