//! What a kept run offers after the answer: the view the model saw, activations, gradients,
//! receptive fields, and the memory check that guards a run's size.

use super::{Gradient, Head, Pipeline, Tensor, View};
use crate::inspect::{Analysis, Backward, LastRun};
use crate::predictions::top_k;
use crate::receptive_field;
use crate::receptive_field::{ConvStack, LayerAnalysis, Nested, UnitField};
use anyhow::{bail, ensure, Context, Result};

/// Working memory an input may need: wasm32 has 4 GiB in all, the weights included, and
/// running out aborts the module instead of failing one call.
const WORKING_MEMORY_BYTES: u64 = 2 << 30;

impl Pipeline {
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

    pub(super) fn last_run(&self) -> Result<&LastRun> {
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
    pub(super) fn analysis(&self) -> &Analysis {
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

    pub(super) fn backward(&self) -> Result<Backward<'_>> {
        let steps = self.model.steps().map_err(|e| anyhow::anyhow!("gradients are not available: {e}"))?;
        Ok(Backward {
            steps,
            output_names: self.model.output_names(),
            channels: self.channels(),
            transposed: &self.transposed,
        })
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

    pub(super) fn channels(&self) -> usize {
        self.spec.channel_order.channels()
    }

    /// The layer analysis for an input tensor of rank-4 `shape`, computed once per run: the
    /// memory check and the inspection of the run both read it.
    pub(super) fn analysis_for(&self, shape: &[usize]) -> Analysis {
        let hw = self.spec.layout.chw(shape).map_or([0, 0], |(_, hw)| hw);
        Analysis::new(&self.model.info().layers, self.channels(), hw)
    }

    /// Refuses an input size whose working memory would not fit (dynamic-size models only:
    /// a fixed-size graph costs what it costs). The estimate: the largest convolution's
    /// unfolded input (k x k copies) and output, plus every kept activation.
    pub(super) fn check_memory(&self, analysis: &Analysis) -> Result<()> {
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
