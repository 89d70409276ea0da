//! The paper's image descriptor on a convolutional base (Appendix B), from the pipeline's
//! public surface: the image at the teacher's side (and further scales), the base's feature
//! maps averaged over space, then over the sizes.

use crate::clock::now_ms;
use crate::pipeline::{Head, Pipeline, Tensor, Timings};
use crate::preprocess::{self, PreprocessSpec};
use anyhow::{bail, ensure, Result};
use image::RgbaImage;

/// Refuses a model with a classifier head: teaching needs a convolutional base.
pub(super) fn require_base(base: &Pipeline) -> Result<()> {
    let graph = base.graph();
    ensure!(
        matches!(base.head(), Head::Features),
        "teaching needs a convolutional base (a model whose output is feature maps [1, C, H, W]); \
         '{}' is a classifier",
        graph.output_name
    );
    Ok(())
}

/// The descriptor of `img` on the CPU: the base's output feature maps averaged over space for
/// each of [`teaching_inputs`], then over the sizes (the paper's multi-scale pooling).
/// Returns the descriptor (one number per channel) and the maps' [height, width] at each
/// size. The runs are not kept for inspection.
pub fn pooled_features(
    base: &mut Pipeline,
    img: &RgbaImage,
    side: u32,
    scales: &[u32],
) -> Result<(Vec<f32>, Vec<[usize; 2]>, Timings)> {
    let (inputs, preprocess_ms) = teaching_inputs(base, img, side, scales)?;
    let (outputs, timings) = base.run_all_unkept(inputs)?;
    let timings = Timings { preprocess_ms, ..timings };
    let (descriptor, hws) = pool_outputs(base, &outputs)?;
    Ok((descriptor, hws, timings))
}

/// The base's inputs for one descriptor of `img`: resized so that its shorter side is `side`
/// and centre-cropped to `side` x `side` (with the model's own normalisation), then that
/// tensor resized to each of `scales` (bilinear, as ONNX `Resize` does it, so that an
/// exported multi-scale graph computes the same). Also the milliseconds this took. Refused
/// for a model with a classifier head.
pub fn teaching_inputs(base: &Pipeline, img: &RgbaImage, side: u32, scales: &[u32]) -> Result<(Vec<Tensor>, f64)> {
    require_base(base)?;
    let t0 = now_ms();
    let spec = PreprocessSpec { resize: Some(side), crop: Some([side, side]), pad: 0, ..base.spec().clone() };
    let prepared = preprocess::prepare(img, &spec)?;
    let mut inputs = Vec::with_capacity(1 + scales.len());
    for &s in scales {
        let (data, shape) = preprocess::resize_tensor(&prepared.tensor, &prepared.shape, spec.layout, [s as usize; 2])?;
        inputs.push((shape, data));
    }
    inputs.insert(0, (prepared.shape.to_vec(), prepared.tensor));
    Ok((inputs, now_ms() - t0))
}

/// The base's outputs for [`teaching_inputs`], each averaged over space, then averaged
/// together: the descriptor, and each output's [height, width].
pub(super) fn pool_outputs(base: &Pipeline, outputs: &[Tensor]) -> Result<(Vec<f32>, Vec<[usize; 2]>)> {
    let layout = base.spec().layout;
    let (mut sum, mut hws) = (Vec::new(), Vec::new());
    for (shape, data) in outputs {
        let (c, hw) = match layout.chw(shape) {
            Some(chw) if shape[0] == 1 => chw,
            _ => bail!("the base's output has shape {shape:?}, not one image's feature maps"),
        };
        ensure!(sum.is_empty() || sum.len() == c, "the base's outputs differ in channels");
        sum.resize(c, 0f32);
        let n = (hw[0] * hw[1]) as f32;
        match layout {
            preprocess::Layout::Nchw => {
                sum.iter_mut().zip(data.chunks(hw[0] * hw[1])).for_each(|(a, m)| *a += m.iter().sum::<f32>() / n)
            }
            preprocess::Layout::Nhwc => {
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

/// The base's input side for teaching: its fixed input size, else the spec's resize, else
/// 224 (VGG's training crop).
pub(super) fn teaching_side(base: &Pipeline) -> u32 {
    let fixed = base.spec().layout.chw(&base.graph().input_shape).and_then(|(_, [h, _])| h);
    fixed.map(|v| v as u32).or(base.spec().resize).unwrap_or(224)
}

/// ONNX bytes of the base `base` was loaded from (`base_bytes`, checked against the loaded
/// graph) with `head` appended: see [`crate::model::export::with_classifier`].
pub(super) fn export_classifier(
    base: &Pipeline,
    base_bytes: &[u8],
    head: &crate::model::export::Head,
) -> Result<Vec<u8>> {
    require_base(base)?;
    let nhwc = base.spec().layout == preprocess::Layout::Nhwc;
    crate::model::export::with_classifier(base_bytes, base.graph(), nhwc, head)
}
