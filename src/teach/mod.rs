//! Teaching new classes on a frozen convolutional base, as the paper's Appendix B uses VGG:
//! each image becomes one descriptor (its last feature maps averaged over space, see
//! `descriptors`), and a linear classifier is trained on the descriptors (`train`). Built on
//! the pipeline's public surface: the pipeline knows nothing of teaching.
//!
//! [`Teacher`] ties the examples to a loaded base: it asks the [`Pipeline`] to run each
//! image's inputs and exports the trained head with `model::export`.

mod descriptors;
mod train;

pub use descriptors::{pooled_features, teaching_inputs};
pub use train::{Examples, HeldOut, Linear, Method, Report, TrainOptions, MAX_CLASSES};

use crate::pipeline::{Classification, Pipeline, Tensor, Timings};
use anyhow::{bail, ensure, Context, Result};
use image::RgbaImage;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Options of a teacher; every field has a default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeacherOptions {
    /// Side of the square input the base sees (resize the shorter side, centre crop);
    /// default: the base's fixed input size, else its preprocessing's resize, else 224.
    pub side: Option<u32>,
    /// Also learn from each image's mirror (horizontal flip), as the paper augments.
    #[serde(default)]
    pub flip: bool,
    /// Further sides (pixels) the base also sees the image at, its `side` x `side` input
    /// resized bilinearly; the descriptors of all sizes are averaged, as the paper pools
    /// over scales (Appendix B). At most 3; the base must take any input size.
    #[serde(default)]
    pub scales: Vec<u32>,
}

/// An image added: its class's image count and what the descriptor cost.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Added {
    pub label: String,
    pub count: usize,
    /// The descriptor(s) of this image (the mirror's follows where flips are on).
    #[serde(skip)]
    pub features: Vec<f32>,
    pub timings: Timings,
}

/// Examples taught on one convolutional base, and the classifier last trained on them.
#[derive(Debug)]
pub struct Teacher {
    examples: Examples,
    side: u32,
    flip: bool,
    /// Further sizes the base sees each image at.
    scales: Vec<u32>,
    /// Channels of the base's output: the descriptor's length.
    dim: usize,
    /// The base's feature maps' size at `side` and each scale, once an image has been through it.
    pool_hw: Option<Vec<[usize; 2]>>,
    trained: Option<(Linear, Report)>,
}

impl Teacher {
    /// A teacher on `base`, which must be a convolutional base (output [1, C, H, W]).
    pub fn new(base: &Pipeline, options: TeacherOptions) -> Result<Teacher> {
        descriptors::require_base(base)?;
        let info = base.info()?;
        let Some((dim, _)) = info.preprocess.layout.chw(&info.output_shape) else {
            bail!("the base's output has shape {:?}", info.output_shape)
        };
        let side = options.side.unwrap_or_else(|| descriptors::teaching_side(base));
        ensure!((32..=1024).contains(&side), "side must be 32 to 1024 pixels, got {side}");
        ensure!(options.scales.len() <= 3, "at most 3 scales besides the side, got {}", options.scales.len());
        for (i, &s) in options.scales.iter().enumerate() {
            ensure!((32..=1024).contains(&s), "scales[{i}] must be 32 to 1024 pixels, got {s}");
            ensure!(s != side && !options.scales[..i].contains(&s), "scales[{i}] ({s}) repeats a size already seen");
        }
        ensure!(
            options.scales.is_empty() || info.dynamic_size,
            "scales need a base that takes any input size; this one's input is fixed at {:?}",
            info.input_shape
        );
        Ok(Teacher {
            examples: Examples::default(),
            side,
            flip: options.flip,
            scales: options.scales,
            dim,
            pool_hw: None,
            trained: None,
        })
    }

    pub fn side(&self) -> u32 {
        self.side
    }

    pub fn flip(&self) -> bool {
        self.flip
    }

    pub fn scales(&self) -> &[u32] {
        &self.scales
    }

    /// The descriptor's length (the base's output channels).
    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn examples(&self) -> &Examples {
        &self.examples
    }

    pub fn add_class(&mut self, name: &str) -> Result<usize> {
        self.examples.add_class(name)
    }

    pub fn remove_class(&mut self, name: &str) -> Result<()> {
        self.examples.remove_class(name)
    }

    /// The base's inputs for `img`'s descriptor (see [`teaching_inputs`]), and for
    /// its mirror's with `mirror`: all of them in one list, `img`'s first; the preparation's ms.
    fn inputs(&self, base: &Pipeline, img: &RgbaImage, mirror: bool) -> Result<(Vec<Tensor>, f64)> {
        let (mut inputs, mut ms) = descriptors::teaching_inputs(base, img, self.side, &self.scales)?;
        if mirror {
            let (m, mms) =
                descriptors::teaching_inputs(base, &image::imageops::flip_horizontal(img), self.side, &self.scales)?;
            inputs.extend(m);
            ms += mms;
        }
        Ok((inputs, ms))
    }

    /// The descriptors (`img`'s, then its mirror's) from the base's outputs for `inputs`.
    fn descriptors(&mut self, base: &Pipeline, outputs: &[Tensor]) -> Result<Vec<Vec<f32>>> {
        let per_image = 1 + self.scales.len();
        ensure!(
            !outputs.is_empty() && outputs.len().is_multiple_of(per_image),
            "{} outputs for {per_image} sizes",
            outputs.len()
        );
        let mut out = Vec::new();
        for chunk in outputs.chunks(per_image) {
            let (d, hw) = descriptors::pool_outputs(base, chunk)?;
            ensure!(d.len() == self.dim, "the base gave {} numbers, expected {}", d.len(), self.dim);
            self.pool_hw = Some(hw);
            out.push(d);
        }
        Ok(out)
    }

    /// Adds `img` as an example of class `label` (declared if new), on the CPU.
    pub fn add(&mut self, base: &mut Pipeline, label: &str, img: &RgbaImage) -> Result<Added> {
        let label = checked_label(label)?;
        let (inputs, preprocess_ms) = self.inputs(base, img, self.flip)?;
        let (outputs, timings) = base.run_all_unkept(inputs)?;
        self.add_outputs(base, label, &outputs, Timings { preprocess_ms, ..timings })
    }

    fn add_outputs(&mut self, base: &Pipeline, label: String, outputs: &[Tensor], timings: Timings) -> Result<Added> {
        let descriptors = self.descriptors(base, outputs)?;
        let features = descriptors.concat();
        let count = self.examples.add(&label, descriptors)?;
        Ok(Added { label, count, features, timings })
    }

    /// [`Teacher::add`] on the base's backend (WebGPU where it was loaded onto a GPU);
    /// `teacher` and `base` are borrowed only between the GPU's awaits.
    pub async fn add_on_backend(
        teacher: &RefCell<Teacher>,
        base: &RefCell<Pipeline>,
        label: &str,
        img: &RgbaImage,
    ) -> Result<Added> {
        let label = checked_label(label)?;
        let (inputs, preprocess_ms) = {
            let t = teacher.borrow();
            t.inputs(&base.borrow(), img, t.flip)?
        };
        let (outputs, timings) = Pipeline::run_on_backend(base, inputs).await?;
        let timings = Timings { preprocess_ms, ..timings };
        teacher.borrow_mut().add_outputs(&base.borrow(), label, &outputs, timings)
    }

    /// [`Teacher::classify`] on the base's backend, borrowing as `add_on_backend` does.
    pub async fn classify_on_backend(
        teacher: &RefCell<Teacher>,
        base: &RefCell<Pipeline>,
        img: &RgbaImage,
        k: usize,
    ) -> Result<Classification> {
        ensure!(k >= 1, "topK must be at least 1, got {k}");
        let (inputs, preprocess_ms) = {
            let t = teacher.borrow();
            t.trained()?;
            t.inputs(&base.borrow(), img, false)?
        };
        let (outputs, timings) = Pipeline::run_on_backend(base, inputs).await?;
        teacher.borrow_mut().answer(&base.borrow(), &outputs, k, Timings { preprocess_ms, ..timings })
    }

    /// The top `k` taught classes from the base's outputs for one image's inputs.
    fn answer(&mut self, base: &Pipeline, outputs: &[Tensor], k: usize, timings: Timings) -> Result<Classification> {
        let d = self.descriptors(base, outputs)?;
        Ok(Classification { predictions: self.trained()?.predict(&d[0], k), timings })
    }

    /// Adds one image's descriptors computed before (`features`: one or more descriptors of
    /// the base's length, as `Added::features` holds them), e.g. restored from storage.
    pub fn add_features(&mut self, label: &str, features: &[f32]) -> Result<usize> {
        ensure!(
            !features.is_empty() && features.len().is_multiple_of(self.dim),
            "features has {} numbers: expected a multiple of the base's {} channels",
            features.len(),
            self.dim
        );
        self.examples.add(label, features.chunks(self.dim).map(<[f32]>::to_vec).collect())
    }

    /// Trains on every example (see [`Examples::train`]); the classifier replaces the last.
    pub fn train(&mut self, options: &TrainOptions) -> Result<Report> {
        let (linear, report) = self.examples.train(options)?;
        self.trained = Some((linear, report.clone()));
        Ok(report)
    }

    fn trained(&self) -> Result<&Linear> {
        self.trained.as_ref().map(|(l, _)| l).context("nothing trained yet: call train() first")
    }

    /// The `k` most probable taught classes for `img`.
    pub fn classify(&mut self, base: &mut Pipeline, img: &RgbaImage, k: usize) -> Result<Classification> {
        ensure!(k >= 1, "topK must be at least 1, got {k}");
        self.trained()?;
        let (inputs, preprocess_ms) = self.inputs(base, img, false)?;
        let (outputs, timings) = base.run_all_unkept(inputs)?;
        self.answer(base, &outputs, k, Timings { preprocess_ms, ..timings })
    }

    /// The trained classifier as a complete ONNX model: `base_bytes` (the file the base was
    /// loaded from; the loaded plan keeps no copy of it) with the head appended.
    pub fn export(&mut self, base: &mut Pipeline, base_bytes: &[u8]) -> Result<Vec<u8>> {
        self.trained()?;
        let pool_hw = match &self.pool_hw {
            Some(hw) => hw.clone(),
            // restored from stored descriptors: the maps' sizes come from one blank run
            None => {
                let blank = RgbaImage::new(self.side, self.side);
                let hw = pooled_features(base, &blank, self.side, &self.scales)?.1;
                self.pool_hw = Some(hw.clone());
                hw
            }
        };
        let (linear, report) = self.trained.as_ref().context("nothing trained yet: call train() first")?;
        let doc = format!(
            "VGG features (the base's output averaged over space) and a {} classifier taught in vgg-wasm on {} \
             examples: {}",
            match linear.method {
                Method::Softmax => "softmax regression",
                Method::NearestMean => "nearest-class-mean",
            },
            report.examples,
            linear.classes.join(", ")
        );
        let head = crate::model::export::Head {
            classes: linear.classes.clone(),
            weights: linear.weights.clone(),
            bias: linear.bias.clone(),
            sides: std::iter::once(self.side).chain(self.scales.iter().copied()).collect(),
            pool_hw,
            doc,
            preprocess: self.sidecar(base)?["preprocess"].take(),
        };
        descriptors::export_classifier(base, base_bytes, &head)
    }

    /// The JSON sidecar of the exported model: the base's preprocessing at this teacher's
    /// side and the class names (which the `.onnx` also holds).
    pub fn sidecar(&self, base: &Pipeline) -> Result<serde_json::Value> {
        let linear = self.trained()?;
        let spec = base.spec();
        let mut pre = serde_json::to_value(spec)?;
        let m = pre.as_object_mut().context("the spec is not an object")?;
        m.insert("resize".into(), self.side.into());
        m.insert("crop".into(), serde_json::json!([self.side, self.side]));
        m.insert("pad".into(), 0.into());
        Ok(serde_json::json!({ "preprocess": pre, "labels": linear.classes }))
    }
}

/// A class name as given, trimmed; checked before the (long) runs of the base.
fn checked_label(label: &str) -> Result<String> {
    let label = label.trim();
    ensure!(!label.is_empty(), "a class name must not be empty");
    Ok(label.to_string())
}
