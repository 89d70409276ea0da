//! What a unit wants to see, on this model: the visualisation's objective and gradient
//! through the network (`crate::visualize` does the optimisation), and the image patches
//! that excite a channel most.

use super::{Head, Pipeline};
use crate::clock::now_ms;
use crate::inspect::LastRun;
use crate::predictions::{softmax, top_k, Prediction};
use crate::preprocess::{ChannelOrder, Layout};
use crate::receptive_field::UnitField;
use crate::visualize::{Target, Visualization, VisualizeOptions};
use anyhow::{ensure, Context, Result};
use image::RgbaImage;
use serde::Serialize;

/// The side of a visualisation for a model that takes any size: a VGG16 conv5 unit sees
/// 196 px of it, and a step on the bundled conv base takes about 1 s on one core here.
pub const DEFAULT_SIZE: usize = 128;
/// Most images `topPatches` searches at once.
pub const MAX_PATCH_IMAGES: usize = 256;

/// A visualisation in progress on a model.
pub struct Visualizing {
    pub inner: Visualization,
    hw: [usize; 2],
    /// What is maximised, in words: "class 3 (Dress)", "conv4_2 channel 12".
    pub label: String,
    /// Milliseconds spent in steps so far.
    ms: f64,
}

/// The image after some steps, and what the model makes of it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub step: usize,
    pub steps: usize,
    pub target: String,
    /// The objective on the image as it is (not warped): the class score, or the channel's
    /// mean (the unit's value) before its ReLU where the run keeps it.
    pub value: f32,
    /// The channel's mean activation after its ReLU (as `activation` and the page show it),
    /// for a channel target: comparable with the same mean on real images.
    pub activation: Option<f32>,
    /// For a classifier, its top class on the image.
    pub top: Option<Prediction>,
    /// Milliseconds of steps so far, and per step.
    pub ms: f64,
    pub ms_per_step: f64,
    pub backend: &'static str,
    #[serde(skip)]
    pub rgba: Vec<u8>,
}

/// One of the strongest units of a channel over a set of images.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    /// Index of the image in the list given.
    pub image: usize,
    pub y: usize,
    pub x: usize,
    /// The unit's activation (after its ReLU).
    pub value: f32,
    /// Its receptive field in the input tensor's pixels (as `receptiveField` gives it).
    pub field: UnitField,
    /// The crop: the field clipped at the image, from the image as the model saw it.
    pub width: u32,
    pub height: u32,
    #[serde(skip)]
    pub rgba: Vec<u8>,
}

impl Pipeline {
    fn classes(&self) -> Option<usize> {
        match self.head {
            Head::Classifier { classes, .. } => Some(classes),
            Head::Features => None,
        }
    }

    /// Starts a visualisation: the target, size and settings checked against this model.
    pub fn visualization(&self, opts: &VisualizeOptions) -> Result<Visualizing> {
        ensure!(
            self.model.keeps_activations(),
            "visualize needs the activations: load with options.activations = true"
        );
        self.backward()?;
        let target =
            opts.target.as_ref().context("options.target is required: { class } or { layer, channel }")?.target()?;
        let hw = if self.model.is_dynamic() {
            let size = opts.size.map_or(DEFAULT_SIZE, |s| s as usize);
            ensure!((8..=1024).contains(&size), "size must be 8 to 1024 pixels, got {size}");
            [size, size]
        } else {
            let hw = self.planned.input_hw;
            if let Some(size) = opts.size {
                ensure!(
                    [size as usize; 2] == hw,
                    "size {size} does not fit this model, whose input is fixed at {} x {}",
                    hw[0],
                    hw[1]
                );
            }
            hw
        };
        let analysis = self.analysis_for(&self.spec.tensor_shape([hw[0] as u32, hw[1] as u32]));
        self.check_memory(&analysis)?;
        let settings = opts.settings(hw[0].min(hw[1]))?;
        // the target checked on the layer analysis before any run (no such layer, channel,
        // unit or class is an error now, not after the first step)
        let layers = analysis.layers()?;
        let label = match &target {
            Target::Class(c) => {
                let classes =
                    self.classes().context("a class target needs a classifier; this model outputs feature maps")?;
                ensure!(*c < classes, "class {c} is out of range: the model has {classes} classes");
                format!("class {c} ({})", self.labels.name(*c))
            }
            Target::Channel { layer, channel } | Target::Unit { layer, channel, .. } => {
                let l = &layers[analysis.index(layer)?];
                let &[c, h, w] = l.out_shape.as_slice() else {
                    anyhow::bail!("layer '{layer}' has no channels of maps (shape {:?})", l.out_shape)
                };
                ensure!(*channel < c, "channel {channel} is outside layer '{layer}', which has {c}");
                let name = if l.label.is_empty() { &l.name } else { &l.label };
                match &target {
                    Target::Unit { y, x, .. } => {
                        ensure!(
                            *y < h && *x < w,
                            "unit (y {y}, x {x}) is outside layer '{layer}', whose maps are {h} x {w}"
                        );
                        format!("{name} channel {channel}, unit ({y}, {x})")
                    }
                    _ => format!("{name} channel {channel}"),
                }
            }
        };
        let channels = self.channels();
        Ok(Visualizing { inner: Visualization::new(target, channels, hw, settings), hw, label, ms: 0.0 })
    }

    /// Takes up to `n` more steps of `v` (none when it is done), then reads the image and
    /// what the model makes of it.
    pub fn visualize_steps(&mut self, v: &mut Visualizing, n: usize) -> Result<Frame> {
        let t0 = now_ms();
        for _ in 0..n {
            if v.inner.done() {
                break;
            }
            let target = v.inner.target.clone();
            v.inner.step(|img| {
                let (value, grad) = self.objective(img, v.hw, &target, true)?;
                Ok((value, grad.context("no gradient")?))
            })?;
        }
        v.ms += now_ms() - t0;
        let img = v.inner.image();
        let (tensor, shape) = self.tensor_of(&img, v.hw);
        let outputs = self.model.run(tensor, &shape)?;
        let run = LastRun::new(self.analysis_for(&shape), None, outputs);
        let (value, _) = run.objective(&self.backward()?, self.classes(), &v.inner.target, false)?;
        let activation = match &v.inner.target {
            Target::Channel { layer, channel } => {
                let (s, data) = run.activation(self.model.output_names(), layer)?;
                let plane = s[2..].iter().product::<usize>();
                Some(data[channel * plane..(channel + 1) * plane].iter().sum::<f32>() / plane as f32)
            }
            _ => None,
        };
        let top = match (&self.head, run.graph_output()) {
            (Head::Classifier { softmax_in_graph, .. }, Some((_, scores))) => {
                let probs = if *softmax_in_graph { scores.clone() } else { softmax(scores) };
                let i = top_k(&probs, 1)[0];
                Some(Prediction { index: i, label: self.labels.name(i), probability: probs[i] })
            }
            _ => None,
        };
        let [c, h, w] = v.inner.dims();
        debug_assert_eq!(c, self.channels());
        let step = v.inner.step;
        Ok(Frame {
            width: w,
            height: h,
            step,
            steps: v.inner.settings.steps,
            target: v.label.clone(),
            value,
            activation,
            top,
            ms: v.ms,
            ms_per_step: if step > 0 { v.ms / step as f64 } else { 0.0 },
            backend: "cpu",
            rgba: v.inner.rgba(),
        })
    }

    /// The objective on an image in [0, 1] (the visualisation's channels x h x w), and its
    /// gradient with respect to that image.
    fn objective(
        &mut self,
        img: &[f32],
        hw: [usize; 2],
        target: &Target,
        gradient: bool,
    ) -> Result<(f32, Option<Vec<f32>>)> {
        let (tensor, shape) = self.tensor_of(img, hw);
        let outputs = self.model.run(tensor, &shape)?;
        let run = LastRun::new(self.analysis_for(&shape), None, outputs);
        let (value, grad) = run.objective(&self.backward()?, self.classes(), target, gradient)?;
        Ok((value, grad.map(|g| self.image_gradient(&g, hw))))
    }

    /// Which channel of the visualisation's image (RGB, or one grey channel) feeds each of
    /// the model's input channels, with that channel's mean and std.
    fn sources(&self) -> Vec<(usize, usize)> {
        match self.spec.channel_order {
            ChannelOrder::Rgb => vec![(0, 0), (1, 1), (2, 2)],
            ChannelOrder::Bgr => vec![(2, 2), (1, 1), (0, 0)],
            ChannelOrder::Gray => vec![(0, 0)],
        }
    }

    /// The model's input tensor for an image in [0, 1] (channels x h x w), normalised as
    /// `preprocess` does pixels (a grey image is the luma itself).
    fn tensor_of(&self, img: &[f32], [h, w]: [usize; 2]) -> (Vec<f32>, Vec<usize>) {
        let plane = h * w;
        let sources = self.sources();
        let c = sources.len();
        let s = &self.spec;
        let mut out = vec![0f32; plane * c];
        for (oc, &(src, stat)) in sources.iter().enumerate() {
            for p in 0..plane {
                let v = (img[src * plane + p] * 255.0 * s.scale - s.mean[stat]) / s.std[stat];
                let i = match s.layout {
                    Layout::Nchw => oc * plane + p,
                    Layout::Nhwc => p * c + oc,
                };
                out[i] = v;
            }
        }
        (out, s.tensor_shape([h as u32, w as u32]).to_vec())
    }

    /// The adjoint of [`Pipeline::tensor_of`]: from the gradient with respect to the input
    /// ([channels, h, w], as the backward pass gives it) to the image's.
    fn image_gradient(&self, g: &[f32], [h, w]: [usize; 2]) -> Vec<f32> {
        let plane = h * w;
        let sources = self.sources();
        let s = &self.spec;
        let mut out = vec![0f32; plane * sources.len()];
        for (oc, &(src, stat)) in sources.iter().enumerate() {
            let k = 255.0 * s.scale / s.std[stat];
            for p in 0..plane {
                out[src * plane + p] += g[oc * plane + p] * k;
            }
        }
        out
    }

    /// The `k` strongest units of `channel` of `layer` (after its ReLU) over `images`, each
    /// with its receptive field and the crop of it from the image as the model saw it.
    /// Ties go to the earlier image, then the upper, then the left unit.
    pub fn top_patches(&mut self, images: &[RgbaImage], layer: &str, channel: usize, k: usize) -> Result<Vec<Patch>> {
        ensure!(
            self.model.keeps_activations(),
            "topPatches needs the activations: load with options.activations = true"
        );
        ensure!(!images.is_empty(), "topPatches needs at least one image");
        ensure!(
            images.len() <= MAX_PATCH_IMAGES,
            "topPatches takes at most {MAX_PATCH_IMAGES} images, got {}",
            images.len()
        );
        ensure!((1..=256).contains(&k), "k must be 1 to 256, got {k}");
        let mut best: Vec<(f32, usize, usize, usize)> = Vec::new();
        let mut runs = Vec::with_capacity(images.len());
        for (i, img) in images.iter().enumerate() {
            let input = self.prepare_image(img).with_context(|| format!("image {i}"))?;
            let outputs = self.model.run(input.tensor, &input.shape).with_context(|| format!("image {i}"))?;
            let run = LastRun::new(input.analysis, Some(input.view), outputs);
            let (shape, data) = run.activation(self.model.output_names(), layer)?;
            let &[_, c, h, w] = shape.as_slice() else {
                anyhow::bail!("layer '{layer}' has no channels of maps (shape {shape:?})")
            };
            ensure!(channel < c, "channel {channel} is outside layer '{layer}', which has {c}");
            let plane = &data[channel * h * w..(channel + 1) * h * w];
            best.extend(plane.iter().enumerate().map(|(p, &v)| (v, i, p / w, p % w)));
            // keep the k best so far: candidates are compared by value, then position
            best.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2, a.3).cmp(&(b.1, b.2, b.3))));
            best.truncate(k);
            runs.push(run);
        }
        best.into_iter()
            .map(|(value, i, y, x)| {
                let run = &runs[i];
                let field = run.analysis.receptive_field(layer, y, x)?;
                let view = &run.view.as_ref().context("no view")?.pixels;
                let (width, height, rgba) = match field.clipped {
                    Some(b) => {
                        let (w, h) = ((b.right - b.left + 1) as u32, (b.bottom - b.top + 1) as u32);
                        let crop = image::imageops::crop_imm(view, b.left as u32, b.top as u32, w, h).to_image();
                        (w, h, crop.into_raw())
                    }
                    None => (0, 0, Vec::new()),
                };
                Ok(Patch { image: i, y, x, value, field, width, height, rgba })
            })
            .collect()
    }
}
