//! Backward pass for the VGG operator set, on the activations of one forward run.
//!
//! tract has no autograd, so the gradient of one scalar (a class score, or one unit of a
//! feature map) with respect to the input image is computed here, layer by layer, from the
//! cached activations: Conv and Gemm multiply by their transposed weights, ReLU masks by
//! its output, MaxPool routes to the maximum of each window, AveragePool spreads evenly,
//! batch norm (inference) scales per channel, Flatten reshapes. Used for class saliency maps
//! (Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional Networks") and effective
//! receptive fields (Luo, Li, Urtasun & Zemel, NeurIPS 2016).

use anyhow::{bail, ensure, Result};

/// What the backward pass needs of one layer of the chain.
#[derive(Clone, Debug)]
pub enum Step {
    /// Weights `[out, in / groups, kh, kw]`, row-major.
    Conv {
        weights: Vec<f32>,
        out_channels: usize,
        groups: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
        dilation: [usize; 2],
    },
    /// Inference batch norm: y = x * scale[c] + shift[c].
    BatchNorm {
        scale: Vec<f32>,
    },
    Relu,
    MaxPool {
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
        dilation: [usize; 2],
    },
    /// `divide_by_kernel`: ONNX `count_include_pad = 1` (or no padding); else only the
    /// elements inside the image count.
    AveragePool {
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
        divide_by_kernel: bool,
    },
    Flatten,
    /// `weights[o * inputs + i]` when `out_major`, else `weights[i * outputs + o]`.
    Dense {
        weights: Vec<f32>,
        inputs: usize,
        outputs: usize,
        out_major: bool,
    },
    /// Passes gradients through unchanged (Dropout, Identity, bias Add, Softmax skipped).
    Identity,
}

/// A layer's input and output as the backward pass sees them.
pub struct Activation<'a> {
    /// [C, H, W] or [F].
    pub in_shape: &'a [usize],
    pub out_shape: &'a [usize],
    /// The layer's input values, needed by MaxPool.
    pub input: Option<&'a [f32]>,
    /// The layer's output values, needed by ReLU.
    pub output: Option<&'a [f32]>,
}

/// Backpropagates `grad` (the gradient at the output of layer `from`) down to the input of
/// layer 0. `steps[i]` and `acts[i]` describe layer i.
pub fn backward(steps: &[Step], acts: &[Activation], from: usize, grad: Vec<f32>) -> Result<Vec<f32>> {
    backward_with(steps, acts, from, grad, &mut |_, _| None)
}

/// A faster way to take a convolution's gradient, where there is one: given the layer's
/// index and the gradient at its output, the gradient at its input, or `None` to have
/// [`backward_with`] compute it here.
pub type ConvBackward<'a> = dyn FnMut(usize, &[f32]) -> Option<Result<Vec<f32>>> + 'a;

/// [`backward`], with each convolution first offered to `conv`.
pub fn backward_with(
    steps: &[Step],
    acts: &[Activation],
    from: usize,
    mut grad: Vec<f32>,
    conv: &mut ConvBackward,
) -> Result<Vec<f32>> {
    ensure!(from < steps.len() && steps.len() == acts.len(), "layer {from} is outside the chain of {}", steps.len());
    for i in (0..=from).rev() {
        let a = &acts[i];
        ensure!(
            grad.len() == a.out_shape.iter().product::<usize>(),
            "gradient of {} values does not fit layer {i}'s output {:?}",
            grad.len(),
            a.out_shape
        );
        grad = match &steps[i] {
            Step::Identity | Step::Flatten => grad,
            Step::Relu => {
                let Some(out) = a.output else { bail!("layer {i} (Relu): its output was not kept") };
                grad.iter().zip(out).map(|(g, y)| if *y > 0.0 { *g } else { 0.0 }).collect()
            }
            Step::BatchNorm { scale } => {
                let plane = grad.len() / scale.len();
                grad.chunks(plane).zip(scale).flat_map(|(ch, s)| ch.iter().map(move |g| g * s)).collect()
            }
            Step::Dense { weights, inputs, outputs, out_major } => {
                let mut dx = vec![0f32; *inputs];
                for (o, &g) in grad.iter().enumerate().take(*outputs) {
                    if g == 0.0 {
                        continue;
                    }
                    if *out_major {
                        for (d, w) in dx.iter_mut().zip(&weights[o * inputs..(o + 1) * inputs]) {
                            *d += g * w;
                        }
                    } else {
                        for (i, d) in dx.iter_mut().enumerate() {
                            *d += g * weights[i * outputs + o];
                        }
                    }
                }
                dx
            }
            Step::Conv { weights, out_channels, groups, kernel, stride, pad, dilation } => match conv(i, &grad) {
                Some(dx) => dx?,
                None => conv_backward(
                    &grad,
                    a.in_shape,
                    a.out_shape,
                    weights,
                    *out_channels,
                    *groups,
                    *kernel,
                    *stride,
                    *pad,
                    *dilation,
                )?,
            },
            Step::MaxPool { kernel, stride, pad, dilation } => {
                let Some(input) = a.input else { bail!("layer {i} (MaxPool): its input was not kept") };
                maxpool_backward(&grad, input, a.in_shape, a.out_shape, *kernel, *stride, *pad, *dilation)
            }
            Step::AveragePool { kernel, stride, pad, divide_by_kernel } => {
                avgpool_backward(&grad, a.in_shape, a.out_shape, *kernel, *stride, *pad, *divide_by_kernel)
            }
        };
    }
    Ok(grad)
}

fn dims3(shape: &[usize]) -> Result<[usize; 3]> {
    match shape {
        [c, h, w] => Ok([*c, *h, *w]),
        _ => bail!("expected a [C, H, W] shape, got {shape:?}"),
    }
}

/// Output positions `o` whose tap `o * stride + off - pad` lands inside `0..len`.
fn valid_range(out_len: usize, len: usize, stride: usize, off: usize, pad: usize) -> std::ops::Range<usize> {
    let lo = if pad > off { (pad - off).div_ceil(stride) } else { 0 };
    let hi = if len + pad > off { ((len + pad - off - 1) / stride + 1).min(out_len) } else { 0 };
    lo..hi.max(lo)
}

#[allow(clippy::too_many_arguments)]
fn conv_backward(
    dy: &[f32],
    in_shape: &[usize],
    out_shape: &[usize],
    w: &[f32],
    out_channels: usize,
    groups: usize,
    [kh, kw]: [usize; 2],
    [sh, sw]: [usize; 2],
    [ph, pw]: [usize; 2],
    [dh, dw]: [usize; 2],
) -> Result<Vec<f32>> {
    let [ci_n, h, wd] = dims3(in_shape)?;
    let [co_n, oh, ow] = dims3(out_shape)?;
    ensure!(co_n == out_channels && groups > 0 && ci_n % groups == 0, "conv shapes do not match its weights");
    let (ci_g, co_g) = (ci_n / groups, co_n / groups);
    ensure!(
        w.len() == co_n * ci_g * kh * kw,
        "conv weights have {} values, expected {}",
        w.len(),
        co_n * ci_g * kh * kw
    );
    let mut dx = vec![0f32; ci_n * h * wd];
    for co in 0..co_n {
        let plane = &dy[co * oh * ow..(co + 1) * oh * ow];
        // rows of this output channel that carry any gradient: often few, for one unit
        let Some(first) = plane.chunks(ow).position(|r| r.iter().any(|v| *v != 0.0)) else { continue };
        let last = plane.chunks(ow).rposition(|r| r.iter().any(|v| *v != 0.0)).unwrap_or(first);
        let g = co / co_g;
        for cig in 0..ci_g {
            let ci = g * ci_g + cig;
            let dxc = &mut dx[ci * h * wd..(ci + 1) * h * wd];
            for ky in 0..kh {
                let rows = valid_range(oh, h, sh, ky * dh, ph);
                for kx in 0..kw {
                    let wv = w[((co * ci_g + cig) * kh + ky) * kw + kx];
                    if wv == 0.0 {
                        continue;
                    }
                    let cols = valid_range(ow, wd, sw, kx * dw, pw);
                    if cols.is_empty() {
                        continue;
                    }
                    for oy in rows.start.max(first)..rows.end.min(last + 1) {
                        let iy = oy * sh + ky * dh - ph;
                        let src = &plane[oy * ow..(oy + 1) * ow];
                        let dst = &mut dxc[iy * wd..(iy + 1) * wd];
                        let ix0 = cols.start * sw + kx * dw - pw;
                        if sw == 1 {
                            // contiguous: an axpy the compiler vectorises
                            let n = cols.len();
                            for (d, s) in dst[ix0..ix0 + n].iter_mut().zip(&src[cols.start..cols.end]) {
                                *d += wv * s;
                            }
                        } else {
                            for (j, ox) in cols.clone().enumerate() {
                                dst[ix0 + j * sw] += wv * src[ox];
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(dx)
}

/// Calls `f(output index, input indices of its window)` for every output of a pool; taps
/// that fall in the padding are left out.
#[allow(clippy::too_many_arguments)]
fn for_each_window(
    in_shape: &[usize],
    out_shape: &[usize],
    [kh, kw]: [usize; 2],
    [sh, sw]: [usize; 2],
    [ph, pw]: [usize; 2],
    [dh, dw]: [usize; 2],
    mut f: impl FnMut(usize, &[usize]),
) {
    let (c_n, h, w) = (in_shape[0], in_shape[1], in_shape[2]);
    let (oh, ow) = (out_shape[1], out_shape[2]);
    let mut taps = Vec::with_capacity(kh * kw);
    for c in 0..c_n {
        for oy in 0..oh {
            for ox in 0..ow {
                taps.clear();
                for ky in 0..kh {
                    let iy = (oy * sh + ky * dh) as isize - ph as isize;
                    for kx in 0..kw {
                        let ix = (ox * sw + kx * dw) as isize - pw as isize;
                        if iy >= 0 && iy < h as isize && ix >= 0 && ix < w as isize {
                            taps.push((c * h + iy as usize) * w + ix as usize);
                        }
                    }
                }
                f((c * oh + oy) * ow + ox, &taps);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn maxpool_backward(
    dy: &[f32],
    x: &[f32],
    in_shape: &[usize],
    out_shape: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
) -> Vec<f32> {
    let mut dx = vec![0f32; in_shape.iter().product()];
    for_each_window(in_shape, out_shape, kernel, stride, pad, dilation, |o, taps| {
        // the first maximum of the window takes the whole gradient
        let best = taps.iter().copied().reduce(|b, t| if x[t] > x[b] { t } else { b });
        if let (Some(b), g) = (best, dy[o]) {
            dx[b] += g;
        }
    });
    dx
}

fn avgpool_backward(
    dy: &[f32],
    in_shape: &[usize],
    out_shape: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    divide_by_kernel: bool,
) -> Vec<f32> {
    let mut dx = vec![0f32; in_shape.iter().product()];
    for_each_window(in_shape, out_shape, kernel, stride, pad, [1, 1], |o, taps| {
        let n = if divide_by_kernel { kernel[0] * kernel[1] } else { taps.len().max(1) };
        for &t in taps {
            dx[t] += dy[o] / n as f32;
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act<'a>(i: &'a [usize], o: &'a [usize], input: Option<&'a [f32]>, output: Option<&'a [f32]>) -> Activation<'a> {
        Activation { in_shape: i, out_shape: o, input, output }
    }

    #[test]
    fn conv_backward_is_the_transposed_convolution() {
        // 1 channel 3x3 input, 2x2 kernel, stride 1, no padding: out 2x2
        let w = vec![1.0, 2.0, 3.0, 4.0];
        let step = Step::Conv {
            weights: w,
            out_channels: 1,
            groups: 1,
            kernel: [2, 2],
            stride: [1, 1],
            pad: [0, 0],
            dilation: [1, 1],
        };
        let dy = vec![1.0, 0.0, 0.0, 0.0]; // d out[0,0]
        let dx = backward(std::slice::from_ref(&step), &[act(&[1, 3, 3], &[1, 2, 2], None, None)], 0, dy).unwrap();
        assert_eq!(dx, vec![1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
        let dx = backward(&[step], &[act(&[1, 3, 3], &[1, 2, 2], None, None)], 0, vec![0.0, 0.0, 0.0, 1.0]).unwrap();
        assert_eq!(dx, vec![0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
    }

    #[test]
    fn padding_and_stride_drop_taps_outside_the_image() {
        // 3x3 kernel of ones, pad 1, stride 2, on 3x3: out 2x2; out[0,0] sees rows/cols -1..1
        let step = Step::Conv {
            weights: vec![1.0; 9],
            out_channels: 1,
            groups: 1,
            kernel: [3, 3],
            stride: [2, 2],
            pad: [1, 1],
            dilation: [1, 1],
        };
        let dx = backward(&[step], &[act(&[1, 3, 3], &[1, 2, 2], None, None)], 0, vec![1.0, 0.0, 0.0, 0.0]).unwrap();
        assert_eq!(dx, vec![1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn maxpool_routes_to_the_maximum_and_relu_masks() {
        let x = vec![1.0, 5.0, 2.0, 3.0];
        let steps = [Step::MaxPool { kernel: [2, 2], stride: [2, 2], pad: [0, 0], dilation: [1, 1] }];
        let dx = backward(&steps, &[act(&[1, 2, 2], &[1, 1, 1], Some(&x), None)], 0, vec![2.0]).unwrap();
        assert_eq!(dx, vec![0.0, 2.0, 0.0, 0.0]);
        let y = vec![0.0, 3.0];
        let dx = backward(&[Step::Relu], &[act(&[2], &[2], None, Some(&y))], 0, vec![1.0, 1.0]).unwrap();
        assert_eq!(dx, vec![0.0, 1.0]);
    }

    #[test]
    fn dense_uses_the_transposed_weights_in_either_layout() {
        // y = W x, W = [[1, 2, 3], [4, 5, 6]]
        let out_major =
            Step::Dense { weights: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], inputs: 3, outputs: 2, out_major: true };
        let in_major =
            Step::Dense { weights: vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0], inputs: 3, outputs: 2, out_major: false };
        for s in [out_major, in_major] {
            let dx = backward(&[s], &[act(&[3], &[2], None, None)], 0, vec![0.0, 1.0]).unwrap();
            assert_eq!(dx, vec![4.0, 5.0, 6.0]);
        }
    }

    #[test]
    fn average_pool_spreads_evenly() {
        let steps = [Step::AveragePool { kernel: [2, 2], stride: [2, 2], pad: [0, 0], divide_by_kernel: true }];
        let dx = backward(&steps, &[act(&[1, 2, 2], &[1, 1, 1], None, None)], 0, vec![4.0]).unwrap();
        assert_eq!(dx, vec![1.0; 4]);
    }

    #[test]
    fn missing_activations_are_reported() {
        let e = backward(&[Step::Relu], &[act(&[2], &[2], None, None)], 0, vec![1.0, 1.0]).unwrap_err();
        assert!(e.to_string().contains("Relu"));
    }
}
