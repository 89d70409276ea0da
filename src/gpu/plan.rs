//! What the GPU runs, as plain data: the model's chain lowered to a few kernels with their
//! weights (`model::lower` builds it from the ONNX graph), and the shapes each kernel
//! produces for an input size. Activations are [C, H, W] (batch 1) or [F] row-major.

use anyhow::{anyhow, bail, ensure, Result};

pub use crate::receptive_field::Window;
use std::borrow::Cow;

/// A dense layer's weights: f32 values, or the little-endian f32 bytes of the ONNX file
/// itself, which the GPU reads in place (fc6's 411 MB then never gets a second copy in wasm
/// memory).
#[derive(Clone, Debug)]
pub enum Weights<'a> {
    Values(Vec<f32>),
    Bytes(&'a [u8]),
}

impl Weights<'_> {
    /// How many f32 values.
    pub fn len(&self) -> usize {
        match self {
            Weights::Values(v) => v.len(),
            Weights::Bytes(b) => b.len() / 4,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values `start..end`, borrowed where they are values already.
    pub fn values(&self, start: usize, end: usize) -> Cow<'_, [f32]> {
        match self {
            Weights::Values(v) => Cow::Borrowed(&v[start..end]),
            Weights::Bytes(b) => Cow::Owned(
                b[start * 4..end * 4].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            ),
        }
    }

    /// The file's bytes of values `start..end`, where the weights are those bytes.
    pub fn file_bytes(&self, start: usize, end: usize) -> Option<&[u8]> {
        match self {
            Weights::Bytes(b) => Some(&b[start * 4..end * 4]),
            Weights::Values(_) => None,
        }
    }
}

/// One GPU kernel with its constants.
#[derive(Clone, Debug)]
pub enum Kernel<'a> {
    /// y[c] = x[c] * scale[c] + shift[c]; `scale`/`shift` hold one value for every channel
    /// or one per channel (a Keras `Rescaling`, a batch norm that follows no convolution).
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    /// Dense convolution (groups 1). `weights` [out, in, kh, kw]; batch norm folded in.
    Conv {
        inputs: usize,
        outputs: usize,
        window: Window,
        weights: Vec<f32>,
        bias: Vec<f32>,
        relu: bool,
    },
    /// Max or average pool per channel. `count_pad`: ONNX `count_include_pad`.
    Pool {
        max: bool,
        window: Window,
        count_pad: bool,
    },
    Relu,
    /// y = W x + b over the flattened input; `weights` [outputs, inputs] (out-major), its
    /// columns already in the [C, H, W] order of the activation it reads.
    Dense {
        inputs: usize,
        outputs: usize,
        weights: Weights<'a>,
        bias: Vec<f32>,
        relu: bool,
    },
}

impl Kernel<'_> {
    /// This kernel without its convolution or dense weights (once they are on the GPU).
    pub fn without_weights(&self) -> Kernel<'static> {
        match self {
            Kernel::Affine { scale, shift } => Kernel::Affine { scale: scale.clone(), shift: shift.clone() },
            Kernel::Conv { inputs, outputs, window, relu, .. } => Kernel::Conv {
                inputs: *inputs,
                outputs: *outputs,
                window: *window,
                weights: Vec::new(),
                bias: Vec::new(),
                relu: *relu,
            },
            Kernel::Pool { max, window, count_pad } => {
                Kernel::Pool { max: *max, window: *window, count_pad: *count_pad }
            }
            Kernel::Relu => Kernel::Relu,
            Kernel::Dense { inputs, outputs, relu, .. } => Kernel::Dense {
                inputs: *inputs,
                outputs: *outputs,
                weights: Weights::Values(Vec::new()),
                bias: Vec::new(),
                relu: *relu,
            },
        }
    }

    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Kernel::Affine { .. } => "affine",
            Kernel::Conv { .. } => "conv",
            Kernel::Pool { max: true, .. } => "max-pool",
            Kernel::Pool { max: false, .. } => "average-pool",
            Kernel::Relu => "relu",
            Kernel::Dense { .. } => "dense",
        }
    }

    /// The shape this kernel makes of `input` ([C, H, W] or [F]).
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let spatial = |what: &str| -> Result<[usize; 3]> {
            match input {
                [c, h, w] => Ok([*c, *h, *w]),
                other => bail!("a {what} needs [C, H, W] feature maps, got {other:?}"),
            }
        };
        Ok(match self {
            Kernel::Affine { scale, .. } => {
                let c = input.first().copied().unwrap_or(0);
                ensure!(scale.len() == 1 || scale.len() == c, "{} scales for {c} channels", scale.len());
                input.to_vec()
            }
            Kernel::Relu => input.to_vec(),
            Kernel::Conv { inputs, outputs, window, .. } => {
                let [c, h, w] = spatial("convolution")?;
                ensure!(c == *inputs, "the convolution takes {inputs} channels, got {c}");
                let [oh, ow] = window.output_hw([h, w]).map_err(|e| anyhow!("{e}"))?;
                vec![*outputs, oh, ow]
            }
            Kernel::Pool { window, .. } => {
                let [c, h, w] = spatial("pool")?;
                let [oh, ow] = window.output_hw([h, w]).map_err(|e| anyhow!("{e}"))?;
                vec![c, oh, ow]
            }
            Kernel::Dense { inputs, outputs, .. } => {
                let n: usize = input.iter().product();
                ensure!(n == *inputs, "the dense layer takes {inputs} features, got {n} ({input:?})");
                vec![*outputs]
            }
        })
    }
}

/// The lowered model; its weights may borrow from the ONNX file (see [`Weights`]).
#[derive(Clone, Debug)]
pub struct Plan<'a> {
    pub kernels: Vec<Kernel<'a>>,
    /// The input arrives [N, H, W, C] (channels last); it is transposed to [C, H, W] on the
    /// way to the GPU.
    pub input_nhwc: bool,
    /// The graph ends in a Softmax; it is applied to the read-back output on the CPU.
    pub softmax: bool,
    /// Rank of the graph's output: 2 ([1, F]) or 4 ([1, C, H, W]).
    pub output_rank: usize,
}

impl Plan<'_> {
    /// The [C, H, W] or [F] shape after every kernel, for an input of `chw`.
    pub fn shapes(&self, chw: [usize; 3]) -> Result<Vec<Vec<usize>>> {
        let mut shape = chw.to_vec();
        let mut shapes = Vec::with_capacity(self.kernels.len());
        for (i, k) in self.kernels.iter().enumerate() {
            shape = k.output_shape(&shape).map_err(|e| e.context(format!("GPU kernel {i} ({})", k.name())))?;
            ensure!(!shape.contains(&0), "GPU kernel {i} ({}) has an empty output {shape:?}", k.name());
            shapes.push(shape.clone());
        }
        Ok(shapes)
    }

    /// The graph's output shape (batch 1 first) for a kernel output of `shape`.
    pub fn output_shape(&self, shape: &[usize]) -> Vec<usize> {
        let mut out = vec![1];
        match (self.output_rank, shape) {
            (2, s) => out.push(s.iter().product()),
            (_, [f]) => out.extend([*f, 1, 1]),
            (_, s) => out.extend_from_slice(s),
        }
        out
    }
}
