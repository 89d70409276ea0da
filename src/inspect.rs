//! The last run, kept for inspection: its input size, the image as the model saw it, the
//! kept activations and the layer analysis at that size, computed once per run. Layer
//! look-up, unit fields, activations and gradients all read it; nothing here runs the
//! model again or prepares the image again.

use crate::clock::now_ms;
use crate::gradients::{self, Activation, Step};
use crate::model::transposed::TransposedConv;
use crate::preprocess::Geometry;
use crate::receptive_field::{self, Layer, LayerAnalysis, LayerKind, Nested, UnitField};
use crate::visualize::Target;
use anyhow::{anyhow, bail, ensure, Context, Result};
use image::RgbaImage;
use std::cell::RefCell;
use std::collections::HashMap;

/// One output of the plan: shape (batch 1 first) and row-major data.
pub type Tensor = (Vec<usize>, Vec<f32>);

/// The layer chain analysed for one input size: shapes, fields, parameters and costs.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Height and width of the input tensor the analysis describes.
    pub input_hw: [usize; 2],
    layers: std::result::Result<Vec<LayerAnalysis>, String>,
}

impl Analysis {
    /// Analyses `chain` (or keeps why there is no chain) for a `channels` x `input_hw` input.
    pub fn new(chain: &std::result::Result<Vec<Layer>, String>, channels: usize, input_hw: [usize; 2]) -> Analysis {
        let layers = match chain {
            Ok(chain) => receptive_field::analyse(chain, [channels, input_hw[0], input_hw[1]])
                .map_err(|e| format!("layer analysis: {e}")),
            Err(e) => Err(format!("no layer analysis: {e}")),
        };
        Analysis { input_hw, layers }
    }

    /// Every layer of the chain, or why the graph has no analysis.
    pub fn layers(&self) -> Result<&[LayerAnalysis]> {
        self.layers.as_deref().map_err(|e| anyhow!("{e}"))
    }

    /// Index of `layer` (its tensor name or VGG label) in the chain.
    pub fn index(&self, layer: &str) -> Result<usize> {
        let layers = self.layers()?;
        layers.iter().position(|l| l.name == layer || l.label == layer).with_context(|| {
            let known: Vec<&str> = layers.iter().filter(|l| !l.label.is_empty()).map(|l| l.label.as_str()).collect();
            format!("no layer named '{layer}' (layers: {})", known.join(", "))
        })
    }

    /// Where unit (`y`, `x`) of `layer` looks in the input.
    pub fn receptive_field(&self, layer: &str, y: usize, x: usize) -> Result<UnitField> {
        let a = &self.layers()?[self.index(layer)?];
        let [h, w] = match a.out_shape.as_slice() {
            [_, h, w] => [*h, *w],
            _ => [1, 1],
        };
        ensure!(y < h && x < w, "unit (y {y}, x {x}) is outside layer '{layer}', whose maps are {h} x {w}");
        Ok(receptive_field::unit_field(a, y, x, self.input_hw))
    }

    /// For unit (`y`, `x`) of `layer`, the units of each earlier layer it depends on.
    pub fn nested_fields(&self, chain: &[Layer], layer: &str, y: usize, x: usize) -> Result<Vec<Nested>> {
        self.receptive_field(layer, y, x)?; // validates the layer and the unit
        Ok(receptive_field::nested_fields(chain, self.layers()?, self.index(layer)?, y, x))
    }
}

/// The image as the model saw it (after resize, crop and pad) and how it maps onto the
/// original image.
#[derive(Clone, Debug)]
pub struct View {
    pub pixels: RgbaImage,
    pub geometry: Geometry,
}

/// What the backward pass needs besides the run: the model's steps, the names of the
/// plan's outputs (graph output first, then the kept layers), the input's channels, and
/// the convolutions' backward passes on tract.
pub struct Backward<'a> {
    pub steps: &'a [Step],
    pub output_names: &'a [String],
    pub channels: usize,
    pub transposed: &'a TransposedConvs,
}

/// The backward pass of each stride-1 convolution as a convolution on tract
/// ([`TransposedConv`]), built the first time a dense gradient reaches the layer (`None`
/// where it could not be: `gradients` computes that layer).
#[derive(Default)]
pub struct TransposedConvs(RefCell<HashMap<usize, Option<TransposedConv>>>);

impl std::fmt::Debug for TransposedConvs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TransposedConvs({} layers)", self.0.borrow().len())
    }
}

impl TransposedConvs {
    /// The gradient at the input of convolution `i` from `g` at its output, on tract; `None`
    /// where `gradients`' loops do better: another stride, dilation or grouping, or a
    /// sparse gradient (one unit's, whose rows they skip; the convolution computes every
    /// row).
    fn run(&self, steps: &[Step], acts: &[Activation], i: usize, g: &[f32]) -> Option<Result<Vec<f32>>> {
        let Step::Conv {
            weights,
            out_channels,
            groups: 1,
            kernel: [k, kw],
            stride: [1, 1],
            pad: [p, pw],
            dilation: [1, 1],
        } = &steps[i]
        else {
            return None;
        };
        if k != kw || p != pw || 2 * p >= *k || g.iter().filter(|v| **v != 0.0).count() * 8 < g.len() {
            return None;
        }
        let (&[_, h, w], &[cin, ..]) = (acts[i].out_shape, acts[i].in_shape) else { return None };
        let mut cache = self.0.borrow_mut();
        let conv =
            cache.entry(i).or_insert_with(|| TransposedConv::new(weights, *out_channels, cin, *k, *p, [h, w]).ok());
        conv.as_mut().map(|c| c.run(g.to_vec(), [h, w]))
    }
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

/// The last run of a model.
#[derive(Clone, Debug)]
pub struct LastRun {
    pub analysis: Analysis,
    /// `None` when the run was given a prepared tensor rather than an image.
    pub view: Option<View>,
    /// Every output of the plan, in the order of its output names; empty unless the model
    /// keeps its activations.
    kept: Vec<Tensor>,
}

impl LastRun {
    pub fn new(analysis: Analysis, view: Option<View>, kept: Vec<Tensor>) -> LastRun {
        LastRun { analysis, view, kept }
    }

    /// The graph output of this run, when activations were kept.
    pub fn graph_output(&self) -> Option<&Tensor> {
        self.kept.first()
    }

    fn kept(&self, names: &[String], tensor: &str) -> Option<&Tensor> {
        self.kept.get(names.iter().position(|n| n == tensor)?)
    }

    /// Activations of `layer`. A convolution or dense layer is read after the ReLU that
    /// follows it, as VGG's feature maps are usually shown.
    pub fn activation(&self, output_names: &[String], layer: &str) -> Result<&Tensor> {
        ensure!(!self.kept.is_empty(), "no activations were kept: load with options.activations = true");
        let layers = self.analysis.layers()?;
        let i = self.analysis.index(layer)?;
        let after_relu = (i + 1 < layers.len() && layers[i + 1].kind == LayerKind::Relu).then_some(i + 1);
        for j in [after_relu, Some(i)].into_iter().flatten() {
            if let Some(t) = self.kept(output_names, &layers[j].name) {
                return Ok(t);
            }
        }
        bail!(
            "layer '{layer}' is not kept (the optimiser may fuse it away); kept layers: {}",
            output_names[1..].join(", ")
        )
    }

    /// Runs the backward pass from the output of chain layer `from`, seeded with `seed`.
    fn backprop(&self, b: &Backward, from: usize, seed: Vec<f32>) -> Result<Vec<f32>> {
        ensure!(!self.kept.is_empty(), "gradients need the activations: load with options.activations = true");
        let layers = self.analysis.layers()?;
        let [h, w] = self.analysis.input_hw;
        let input_shape = [b.channels, h, w];
        let data = |name: &str| self.kept(b.output_names, name).map(|t| t.1.as_slice());
        let acts: Vec<Activation> = layers
            .iter()
            .enumerate()
            .map(|(i, l)| Activation {
                in_shape: if i == 0 { &input_shape } else { &layers[i - 1].out_shape },
                out_shape: &l.out_shape,
                input: if i == 0 { None } else { data(&layers[i - 1].name) },
                output: data(&l.name),
            })
            .collect();
        gradients::backward_with(b.steps, &acts, from, seed, &mut |i, g| b.transposed.run(b.steps, &acts, i, g))
    }

    fn gradient(&self, channels: usize, data: Vec<f32>, target: String, t0: f64, reduce_max: bool) -> Gradient {
        let [h, w] = self.analysis.input_hw;
        let plane = h * w;
        let map = (0..plane)
            .map(|p| {
                let vals = (0..channels).map(|ch| data[ch * plane + p].abs());
                if reduce_max {
                    vals.fold(0.0, f32::max)
                } else {
                    vals.sum()
                }
            })
            .collect();
        Gradient { shape: [channels, h, w], data, map, target, ms: now_ms() - t0 }
    }

    /// A visualisation's objective on this run ([`Target`]): its value and, when asked, its
    /// gradient with respect to the input tensor. A class's value is its unnormalised
    /// score; a channel's the mean of its map and a unit's its value, before the ReLU where
    /// the run kept it (else after; the gradient is always taken before it, so that it flows
    /// also where the unit is off).
    pub fn objective(
        &self,
        b: &Backward,
        classes: Option<usize>,
        target: &Target,
        gradient: bool,
    ) -> Result<(f32, Option<Vec<f32>>)> {
        ensure!(!self.kept.is_empty(), "visualize needs the activations: load with options.activations = true");
        let layers = self.analysis.layers()?;
        let (from, seed) = match target {
            Target::Class(class) => {
                let classes = classes.context("a class target needs a classifier; this model outputs feature maps")?;
                ensure!(*class < classes, "class {class} is out of range: the model has {classes} classes");
                class_seed(layers, classes, *class)?
            }
            Target::Channel { layer, channel } | Target::Unit { layer, channel, .. } => {
                let mut from = self.analysis.index(layer)?;
                if layers[from].kind == LayerKind::Relu && from > 0 {
                    from -= 1;
                }
                let shape = &layers[from].out_shape;
                let &[c, h, w] = shape.as_slice() else {
                    bail!("layer '{layer}' has no channels of maps (shape {shape:?}): target a class or a convolution")
                };
                ensure!(*channel < c, "channel {channel} is outside layer '{layer}', which has {c}");
                let mut seed = vec![0f32; c * h * w];
                let plane = &mut seed[channel * h * w..(channel + 1) * h * w];
                if let Target::Unit { y, x, .. } = target {
                    ensure!(
                        *y < h && *x < w,
                        "unit (y {y}, x {x}) is outside layer '{layer}', whose maps are {h} x {w}"
                    );
                    plane[y * w + x] = 1.0;
                } else {
                    plane.fill(1.0 / (h * w) as f32);
                }
                (from, seed)
            }
        };
        let after = (from + 1 < layers.len() && layers[from + 1].kind == LayerKind::Relu).then_some(from + 1);
        let out = [Some(from), after]
            .into_iter()
            .flatten()
            .find_map(|i| self.kept(b.output_names, &layers[i].name))
            .with_context(|| format!("the output of layer {} was not kept", layers[from].name))?;
        ensure!(
            out.1.len() == seed.len(),
            "layer {} kept {} values for {}",
            layers[from].name,
            out.1.len(),
            seed.len()
        );
        let value = out.1.iter().zip(&seed).map(|(v, s)| v * s).sum();
        let grad = if gradient { Some(self.backprop(b, from, seed)?) } else { None };
        Ok((value, grad))
    }

    /// Class saliency (Simonyan, Vedaldi & Zisserman 2014): the gradient of the unnormalised
    /// score of `class` with respect to the input; `name` gives the class its label.
    pub fn saliency(&self, b: &Backward, classes: usize, class: usize, name: &str) -> Result<Gradient> {
        let t0 = now_ms();
        ensure!(class < classes, "class index {class} is out of range: the model has {classes} classes");
        let (from, seed) = class_seed(self.analysis.layers()?, classes, class)?;
        let data = self.backprop(b, from, seed)?;
        Ok(self.gradient(b.channels, data, format!("class {class} ({name})"), t0, true))
    }

    /// Effective receptive field (Luo et al. 2016) of unit (`channel`, `y`, `x`) of `layer`:
    /// the gradient of its pre-activation with respect to the input, so a unit that is zero
    /// on this image still shows where it looks.
    pub fn unit_gradient(&self, b: &Backward, layer: &str, channel: usize, y: usize, x: usize) -> Result<Gradient> {
        let t0 = now_ms();
        let layers = self.analysis.layers()?;
        let mut from = self.analysis.index(layer)?;
        if layers[from].kind == LayerKind::Relu && from > 0 {
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
        let data = self.backprop(b, from, seed)?;
        Ok(self.gradient(b.channels, data, format!("{}[{channel}, {y}, {x}]", layers[from].label), t0, false))
    }
}

/// Where a class's score is read (the last fully connected layer with one output per class)
/// and the backward pass's seed there: 1 at the class, 0 elsewhere.
fn class_seed(layers: &[LayerAnalysis], classes: usize, class: usize) -> Result<(usize, Vec<f32>)> {
    let from = layers
        .iter()
        .rposition(|l| l.kind == LayerKind::Fc)
        .filter(|&i| layers[i].out_shape == vec![classes])
        .context("no fully connected layer gives the class scores")?;
    let mut seed = vec![0f32; classes];
    seed[class] = 1.0;
    Ok((from, seed))
}
