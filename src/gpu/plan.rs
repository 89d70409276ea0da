//! What the GPU runs, as plain data: the model's chain lowered to a few kernels with their
//! weights (`model::lower` builds it from the ONNX graph), and the shapes each kernel
//! produces for an input size. Activations are [C, H, W] (batch 1) or [F] row-major.

use anyhow::{bail, ensure, Result};

/// Where a window of a convolution or pool sits: per axis [height, width].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad_begin: [usize; 2],
    pub pad_end: [usize; 2],
    pub dilation: [usize; 2],
    /// ONNX `ceil_mode` (pools): the last, partial window counts.
    pub ceil_mode: bool,
}

impl Window {
    /// Output size along both axes for an input of `hw`, as ONNX defines it; an error where
    /// the window does not fit.
    pub fn output_hw(&self, hw: [usize; 2]) -> Result<[usize; 2]> {
        let mut out = [0; 2];
        for a in 0..2 {
            let span = self.dilation[a] * (self.kernel[a] - 1) + 1;
            let padded = hw[a] + self.pad_begin[a] + self.pad_end[a];
            ensure!(padded >= span, "a window of {span} pixels does not fit an input of {} (padded {padded})", hw[a]);
            let steps = padded - span;
            out[a] = if self.ceil_mode { steps.div_ceil(self.stride[a]) } else { steps / self.stride[a] } + 1;
            // ONNX: with ceil_mode, a last window that would start in the end padding is dropped
            if self.ceil_mode && (out[a] - 1) * self.stride[a] >= hw[a] + self.pad_begin[a] {
                out[a] -= 1;
            }
        }
        Ok(out)
    }
}

/// One GPU kernel with its constants.
#[derive(Clone, Debug)]
pub enum Kernel {
    /// y[c] = x[c] * scale[c] + shift[c]; `scale`/`shift` hold one value for every channel
    /// or one per channel (a Keras `Rescaling`, a batch norm that follows no convolution).
    Affine { scale: Vec<f32>, shift: Vec<f32> },
    /// Dense convolution (groups 1). `weights` [out, in, kh, kw]; batch norm folded in.
    Conv { inputs: usize, outputs: usize, window: Window, weights: Vec<f32>, bias: Vec<f32>, relu: bool },
    /// Max or average pool per channel. `count_pad`: ONNX `count_include_pad`.
    Pool { max: bool, window: Window, count_pad: bool },
    Relu,
    /// y = W x + b over the flattened input; `weights` [outputs, inputs] (out-major), its
    /// columns already in the [C, H, W] order of the activation it reads.
    Dense { inputs: usize, outputs: usize, weights: Vec<f32>, bias: Vec<f32>, relu: bool },
}

impl Kernel {
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
                let [oh, ow] = window.output_hw([h, w])?;
                vec![*outputs, oh, ow]
            }
            Kernel::Pool { window, .. } => {
                let [c, h, w] = spatial("pool")?;
                let [oh, ow] = window.output_hw([h, w])?;
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

/// The lowered model.
#[derive(Clone, Debug)]
pub struct Plan {
    pub kernels: Vec<Kernel>,
    /// The input arrives [N, H, W, C] (channels last); it is transposed to [C, H, W] on the
    /// way to the GPU.
    pub input_nhwc: bool,
    /// The graph ends in a Softmax; it is applied to the read-back output on the CPU.
    pub softmax: bool,
    /// Rank of the graph's output: 2 ([1, F]) or 4 ([1, C, H, W]).
    pub output_rank: usize,
}

impl Plan {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn window(k: usize, s: usize, p: usize, ceil: bool) -> Window {
        Window { kernel: [k; 2], stride: [s; 2], pad_begin: [p; 2], pad_end: [p; 2], dilation: [1; 2], ceil_mode: ceil }
    }

    #[test]
    fn output_sizes_follow_onnx() {
        // VGG's 3x3 pad 1 keeps the size; 2x2 stride 2 halves it (floor)
        assert_eq!(window(3, 1, 1, false).output_hw([224, 7]).unwrap(), [224, 7]);
        assert_eq!(window(2, 2, 0, false).output_hw([15, 14]).unwrap(), [7, 7]);
        // ceil_mode keeps the partial window: 15 -> 8
        assert_eq!(window(2, 2, 0, true).output_hw([15, 14]).unwrap(), [8, 7]);
        // dilation 2 widens a 3x3 kernel to 5 pixels
        let mut w = window(3, 1, 0, false);
        w.dilation = [2, 2];
        assert_eq!(w.output_hw([9, 5]).unwrap(), [5, 1]);
        assert!(w.output_hw([4, 5]).is_err());
    }
}
