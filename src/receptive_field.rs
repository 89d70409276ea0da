//! Receptive fields, shapes, parameters and multiply-accumulates of a chain of layers.
//!
//! Pure math over (kernel, stride, padding, dilation), with the recurrences of Araujo,
//! Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill
//! 2019. Walking forward from the input, with k' = d (k - 1) + 1 the dilated kernel:
//!
//!   r_l = r_{l-1} + (k'_l - 1) S_{l-1}     receptive field size
//!   S_l = S_{l-1} s_l                      effective stride
//!   P_l = P_{l-1} + p_l S_{l-1}            effective padding (top / left)
//!
//! with r_0 = S_0 = 1, P_0 = 0. Unit y of layer l sees input rows y S_l - P_l through
//! y S_l - P_l + r_l - 1. Layers that do not move pixels (ReLU, batch norm, dropout) keep
//! all three; a fully connected layer sees its whole input.

use serde::Serialize;

/// What a layer does, as far as geometry and cost are concerned.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Op {
    /// A convolution: `groups` splits channels as ONNX Conv does.
    #[serde(rename_all = "camelCase")]
    Conv {
        out_channels: usize,
        groups: usize,
        has_bias: bool,
    },
    MaxPool,
    AveragePool,
    /// Elementwise and per-channel ops (Relu, BatchNormalization, Dropout...).
    Pointwise,
    /// A fully connected layer (Gemm, MatMul) with `out_features` outputs.
    #[serde(rename_all = "camelCase")]
    Dense {
        out_features: usize,
        has_bias: bool,
    },
    /// Flatten / Reshape to [N, features].
    Flatten,
    Softmax,
}

/// What a layer is, for display: JS reads this instead of parsing labels or op types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    Conv,
    Pool,
    /// Fully connected (Gemm, MatMul).
    Fc,
    Relu,
    /// BatchNormalization, LRN.
    Norm,
    Flatten,
    Softmax,
    /// Anything else that keeps pixels where they are (Dropout, Identity, a constant Add...).
    Other,
}

/// One layer of the chain, as read from the graph. Spatial pairs are (height, width).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    /// The tensor this layer outputs, as named in the graph.
    pub name: String,
    /// The graph node that computes it (its name, or its output's when it has none): what
    /// tract calls the operators it makes from it.
    pub node: String,
    /// VGG's own name for it: conv1_1 ... pool5, fc6 ...; the op type for the others.
    pub label: String,
    pub op_type: String,
    pub op: Op,
    /// Where its kernel sits; [1, 1] with stride 1 and no padding for other layers.
    #[serde(flatten)]
    pub window: Window,
}

/// The window of a convolution or pool, per axis [height, width].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding before (top, left) and after (bottom, right).
    pub pad_begin: [usize; 2],
    pub pad_end: [usize; 2],
    pub dilation: [usize; 2],
    /// Pools only: output size rounded up, as ONNX `ceil_mode = 1`.
    pub ceil_mode: bool,
}

impl Window {
    /// Output height and width for an input of `hw`, as ONNX defines them; why not where
    /// the window does not fit.
    pub fn output_hw(&self, hw: [usize; 2]) -> Result<[usize; 2], String> {
        let mut out = [0; 2];
        for a in 0..2 {
            let k = self.dilation[a] * (self.kernel[a].max(1) - 1) + 1;
            let padded = hw[a] + self.pad_begin[a] + self.pad_end[a];
            if padded < k || self.stride[a] == 0 {
                return Err(format!("kernel {k} does not fit the padded input {padded} on axis {a}"));
            }
            let steps = padded - k;
            out[a] = if self.ceil_mode { steps.div_ceil(self.stride[a]) } else { steps / self.stride[a] } + 1;
            // ONNX: with ceil_mode, a last window that would start in the end padding is dropped
            if self.ceil_mode && (out[a] - 1) * self.stride[a] >= hw[a] + self.pad_begin[a] {
                out[a] -= 1;
            }
        }
        Ok(out)
    }
}

impl Layer {
    pub fn kind(&self) -> LayerKind {
        match self.op {
            Op::Conv { .. } => LayerKind::Conv,
            Op::MaxPool | Op::AveragePool => LayerKind::Pool,
            Op::Dense { .. } => LayerKind::Fc,
            Op::Flatten => LayerKind::Flatten,
            Op::Softmax => LayerKind::Softmax,
            Op::Pointwise => match self.op_type.as_str() {
                "Relu" => LayerKind::Relu,
                "BatchNormalization" | "LRN" => LayerKind::Norm,
                _ => LayerKind::Other,
            },
        }
    }

    /// A layer that does not move pixels.
    pub fn pointwise(name: &str, op_type: &str) -> Layer {
        Layer::spatial(name, op_type, Op::Pointwise, 1, 1, 0)
    }

    /// A square-kernel layer with symmetric padding.
    pub fn spatial(name: &str, op_type: &str, op: Op, kernel: usize, stride: usize, pad: usize) -> Layer {
        Layer {
            name: name.into(),
            node: name.into(),
            label: name.into(),
            op_type: op_type.into(),
            op,
            window: Window {
                kernel: [kernel; 2],
                stride: [stride; 2],
                pad_begin: [pad; 2],
                pad_end: [pad; 2],
                dilation: [1; 2],
                ceil_mode: false,
            },
        }
    }
}

/// The analysis of one layer's output.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerAnalysis {
    pub name: String,
    /// The graph node that computes it (names the layer in a profile).
    pub node: String,
    pub label: String,
    pub op_type: String,
    pub kind: LayerKind,
    /// Kernel [height, width] of a convolution or pool, [1, 1] otherwise.
    pub kernel: [usize; 2],
    /// Receptive field size in input pixels, (height, width).
    pub rf: [usize; 2],
    /// Effective stride: input pixels between neighbouring units.
    pub stride: [usize; 2],
    /// Effective padding: how far the first unit's field starts before the image.
    pub padding: [usize; 2],
    /// Output shape [channels, height, width], or [features] after flattening.
    pub out_shape: Vec<usize>,
    pub params: u64,
    pub macs: u64,
}

/// A unit's field in input pixels: rows `top ..= bottom`, columns `left ..= right`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Box2 {
    pub top: i64,
    pub left: i64,
    pub bottom: i64,
    pub right: i64,
}

/// Where a unit looks: its field unclipped (may extend into padding), clipped to the
/// image (`None` if entirely outside), and its centre.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitField {
    pub unclipped: Box2,
    pub clipped: Option<Box2>,
    pub center: [f64; 2],
}

/// Analyses `layers` for an input of `channels` x `height` x `width`.
pub fn analyse(layers: &[Layer], [channels, height, width]: [usize; 3]) -> Result<Vec<LayerAnalysis>, String> {
    let (mut r, mut s, mut p) = ([1usize; 2], [1usize; 2], [0usize; 2]);
    let mut shape = vec![channels, height, width];
    let mut out = Vec::with_capacity(layers.len());
    for l in layers {
        let (mut params, mut macs) = (0u64, 0u64);
        match &l.op {
            Op::Conv { .. } | Op::MaxPool | Op::AveragePool => {
                if shape.len() != 3 {
                    return Err(format!("{} ({}) needs a [C, H, W] input, got {shape:?}", l.name, l.op_type));
                }
                let w = &l.window;
                let hw = w.output_hw([shape[1], shape[2]]).map_err(|e| format!("{} ({}): {e}", l.name, l.op_type))?;
                for a in 0..2 {
                    let k = w.dilation[a] * (w.kernel[a] - 1) + 1;
                    r[a] += (k - 1) * s[a];
                    p[a] += w.pad_begin[a] * s[a];
                    s[a] *= w.stride[a];
                }
                let c_in = shape[0];
                let c_out = match l.op {
                    Op::Conv { out_channels, groups, has_bias } => {
                        let per_out = (c_in / groups.max(1) * l.window.kernel[0] * l.window.kernel[1]) as u64;
                        params = per_out * out_channels as u64 + if has_bias { out_channels as u64 } else { 0 };
                        macs = per_out * (out_channels * hw[0] * hw[1]) as u64;
                        out_channels
                    }
                    _ => c_in,
                };
                shape = vec![c_out, hw[0], hw[1]];
            }
            Op::Flatten => {
                // a unit of a flattened vector sees everything its input saw
                r = full_field(r, s, &shape);
                shape = vec![shape.iter().product()];
            }
            Op::Dense { out_features, has_bias } => {
                let fan_in: usize = shape.iter().product();
                r = full_field(r, s, &shape);
                params = (fan_in * out_features + if *has_bias { *out_features } else { 0 }) as u64;
                macs = (fan_in * out_features) as u64;
                shape = vec![*out_features];
            }
            Op::Pointwise | Op::Softmax => {
                if l.op_type == "BatchNormalization" {
                    params = 4 * shape[0] as u64; // scale, bias, running mean and variance
                }
            }
        }
        out.push(LayerAnalysis {
            name: l.name.clone(),
            node: l.node.clone(),
            label: l.label.clone(),
            op_type: l.op_type.clone(),
            kind: l.kind(),
            kernel: l.window.kernel,
            rf: r,
            stride: s,
            padding: p,
            out_shape: shape.clone(),
            params,
            macs,
        });
    }
    Ok(out)
}

/// After a layer that mixes all positions, one unit sees the union of the fields of every
/// position of its input.
fn full_field(r: [usize; 2], s: [usize; 2], shape: &[usize]) -> [usize; 2] {
    if shape.len() == 3 {
        [r[0] + (shape[1] - 1) * s[0], r[1] + (shape[2] - 1) * s[1]]
    } else {
        r
    }
}

/// The field of unit (`y`, `x`) of a layer, in an input of `height` x `width`.
pub fn unit_field(a: &LayerAnalysis, y: usize, x: usize, [height, width]: [usize; 2]) -> UnitField {
    let top = (y * a.stride[0]) as i64 - a.padding[0] as i64;
    let left = (x * a.stride[1]) as i64 - a.padding[1] as i64;
    let unclipped = Box2 { top, left, bottom: top + a.rf[0] as i64 - 1, right: left + a.rf[1] as i64 - 1 };
    let clipped = Box2 {
        top: unclipped.top.max(0),
        left: unclipped.left.max(0),
        bottom: unclipped.bottom.min(height as i64 - 1),
        right: unclipped.right.min(width as i64 - 1),
    };
    let inside = clipped.top <= clipped.bottom && clipped.left <= clipped.right;
    UnitField {
        unclipped,
        clipped: inside.then_some(clipped),
        center: [top as f64 + (a.rf[0] as f64 - 1.0) / 2.0, left as f64 + (a.rf[1] as f64 - 1.0) / 2.0],
    }
}

/// The part of one earlier layer that a unit depends on.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Nested {
    pub name: String,
    pub label: String,
    /// Units of that layer the unit depends on, clipped to the layer: rows `top ..= bottom`,
    /// columns `left ..= right`.
    pub units: Box2,
    /// The same units' centres in input pixels (first centre to last centre): nested boxes
    /// that widen, layer by layer, towards the unit's whole receptive field.
    pub centers: [f64; 4],
}

/// For unit (`y`, `x`) of layer `target`, the units of every earlier spatial layer it
/// depends on, from `target` down to the first layer.
pub fn nested_fields(layers: &[Layer], analysis: &[LayerAnalysis], target: usize, y: usize, x: usize) -> Vec<Nested> {
    let mut range = [y as i64, y as i64, x as i64, x as i64]; // top, bottom, left, right in layer i's output
    let mut out = Vec::new();
    for i in (0..=target).rev() {
        let a = &analysis[i];
        if let [_, h, w] = a.out_shape[..] {
            let clip = |v: i64, n: usize| v.clamp(0, n as i64 - 1);
            let units = Box2 {
                top: clip(range[0], h),
                bottom: clip(range[1], h),
                left: clip(range[2], w),
                right: clip(range[3], w),
            };
            let centre = |u: i64, axis: usize| {
                u as f64 * a.stride[axis] as f64 - a.padding[axis] as f64 + (a.rf[axis] as f64 - 1.0) / 2.0
            };
            out.push(Nested {
                name: a.name.clone(),
                label: a.label.clone(),
                units,
                centers: [centre(units.top, 0), centre(units.left, 1), centre(units.bottom, 0), centre(units.right, 1)],
            });
        } else {
            return out; // a flattened layer: every earlier unit feeds it
        }
        // from layer i's output back to its input
        let l = &layers[i];
        if matches!(l.op, Op::Conv { .. } | Op::MaxPool | Op::AveragePool) {
            for (axis, (lo, hi)) in [(0, (0, 1)), (1, (2, 3))] {
                let w = &l.window;
                let k = (w.dilation[axis] * (w.kernel[axis] - 1)) as i64;
                let (s, p) = (w.stride[axis] as i64, w.pad_begin[axis] as i64);
                range[lo] = range[lo] * s - p;
                range[hi] = range[hi] * s - p + k;
            }
        }
    }
    out
}

/// Weights of a stack of `n` 3x3 convolutions with `c` channels in and out, and of the one
/// convolution with the same receptive field (the paper's 27C² vs 49C² for n = 3); biases
/// excluded, as in the paper.
pub fn stack_vs_single(n: usize, c: u64) -> (u64, u64, usize) {
    let rf = 2 * n + 1;
    (n as u64 * 9 * c * c, (rf * rf) as u64 * c * c, rf)
}

/// The paper's case for 3x3 convolutions (Simonyan & Zisserman 2015, Section 2.3), read off
/// a model's layers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvStack {
    /// How many convolutions the model has, and whether every one is 3x3.
    pub convs: usize,
    pub all_3x3: bool,
    /// The longest run of convolutions between two pools, when it has at least two.
    pub stack: Option<Stack>,
}

/// A run of stacked convolutions and what one convolution with the same field would cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stack {
    /// Labels of the run's convolutions, in order.
    pub labels: Vec<String>,
    /// Receptive field of the first one, two and three of them, in units of the run's input.
    pub fields: Vec<usize>,
    /// Channels C of the run's output.
    pub channels: usize,
    /// n = min(3, run length): n stacked 3x3 layers have `stack_weights` = n·9·C² weights;
    /// one `field` x `field` layer with the same receptive field has `single_weights`.
    pub layers: usize,
    pub stack_weights: u64,
    pub single_weights: u64,
    pub field: usize,
}

/// Finds the longest run of convolutions between pools and states the paper's comparison.
pub fn conv_stack(layers: &[LayerAnalysis]) -> ConvStack {
    let convs: Vec<&LayerAnalysis> = layers.iter().filter(|l| l.kind == LayerKind::Conv).collect();
    let (mut best, mut run) = (0..0, 0..0);
    for (i, l) in layers.iter().enumerate() {
        match l.kind {
            LayerKind::Conv if run.is_empty() => run = i..i + 1,
            LayerKind::Conv => run.end = i + 1,
            LayerKind::Pool => run = 0..0,
            _ => {}
        }
        let count = |r: &std::ops::Range<usize>| layers[r.clone()].iter().filter(|l| l.kind == LayerKind::Conv).count();
        if count(&run) > count(&best) {
            best = run.clone();
        }
    }
    let run: Vec<&LayerAnalysis> = layers[best.clone()].iter().filter(|l| l.kind == LayerKind::Conv).collect();
    let stack = (run.len() >= 2).then(|| {
        // fields in units of the run's input: the layer before it sets the scale
        let (base, step) = best.start.checked_sub(1).map_or((1, 1), |i| (layers[i].rf[0], layers[i].stride[0]));
        let n = run.len().min(3);
        let channels = run[run.len() - 1].out_shape[0];
        let (stack_weights, single_weights, field) = stack_vs_single(n, channels as u64);
        Stack {
            labels: run.iter().map(|l| l.label.clone()).collect(),
            fields: run[..n].iter().map(|l| (l.rf[0] - base) / step + 1).collect(),
            channels,
            layers: n,
            stack_weights,
            single_weights,
            field,
        }
    });
    ConvStack { convs: convs.len(), all_3x3: convs.iter().all(|l| l.kernel == [3, 3]), stack }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VGG feature extractor plus the torchvision classifier, as `analyse` sees it.
    pub fn vgg(cfg: &[usize], classifier: bool) -> Vec<Layer> {
        let mut layers = Vec::new();
        let (mut block, mut i) = (1, 1);
        for &c in cfg {
            if c == 0 {
                layers.push(Layer::spatial(&format!("pool{block}"), "MaxPool", Op::MaxPool, 2, 2, 0));
                block += 1;
                i = 1;
            } else {
                let conv = Op::Conv { out_channels: c, groups: 1, has_bias: true };
                layers.push(Layer::spatial(&format!("conv{block}_{i}"), "Conv", conv, 3, 1, 1));
                layers.push(Layer::pointwise(&format!("relu{block}_{i}"), "Relu"));
                i += 1;
            }
        }
        if classifier {
            layers.push(Layer::spatial("avgpool", "AveragePool", Op::AveragePool, 1, 1, 0));
            layers.push(Layer::pointwise("flatten", "Flatten"));
            layers.last_mut().unwrap().op = Op::Flatten;
            for (n, f) in [("fc6", 4096), ("fc7", 4096), ("fc8", 1000)] {
                layers.push(Layer::pointwise(n, "Gemm"));
                layers.last_mut().unwrap().op = Op::Dense { out_features: f, has_bias: true };
            }
        }
        layers
    }

    const M: usize = 0;
    const VGG11: &[usize] = &[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M];
    const VGG13: &[usize] = &[64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M];
    const VGG16: &[usize] = &[64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M];
    const VGG19: &[usize] =
        &[64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M];

    fn layer<'a>(a: &'a [LayerAnalysis], name: &str) -> &'a LayerAnalysis {
        a.iter().find(|l| l.name == name).unwrap()
    }

    #[test]
    fn vgg16_receptive_fields_match_hand_computation() {
        let a = analyse(&vgg(VGG16, false), [3, 224, 224]).unwrap();
        for (name, rf) in
            [("conv1_1", 3), ("conv1_2", 5), ("pool1", 6), ("conv3_3", 40), ("conv4_3", 92), ("conv5_3", 196)]
        {
            assert_eq!(layer(&a, name).rf, [rf, rf], "{name}");
        }
        let pool5 = layer(&a, "pool5");
        assert_eq!((pool5.rf, pool5.stride, pool5.padding), ([212, 212], [32, 32], [90, 90]));
        assert_eq!(pool5.out_shape, vec![512, 7, 7]);
    }

    #[test]
    fn pool5_of_each_depth() {
        for (cfg, rf, pad) in [(VGG11, 150, 59), (VGG13, 156, 62), (VGG16, 212, 90), (VGG19, 268, 118)] {
            let a = analyse(&vgg(cfg, false), [3, 224, 224]).unwrap();
            let p = layer(&a, "pool5");
            assert_eq!((p.rf[0], p.stride[0], p.padding[0]), (rf, 32, pad));
        }
    }

    #[test]
    fn torchvision_parameter_totals() {
        for (cfg, total) in [(VGG11, 132_863_336u64), (VGG13, 133_047_848), (VGG16, 138_357_544), (VGG19, 143_667_240)]
        {
            let a = analyse(&vgg(cfg, true), [3, 224, 224]).unwrap();
            assert_eq!(a.iter().map(|l| l.params).sum::<u64>(), total);
        }
    }

    #[test]
    fn vgg16_macs_are_the_known_15_5_gmacs() {
        // conv layers of VGG16 at 224x224: 15.35 G multiply-accumulates, fc layers 0.12 G
        let a = analyse(&vgg(VGG16, true), [3, 224, 224]).unwrap();
        let conv: u64 = a.iter().filter(|l| l.op_type == "Conv").map(|l| l.macs).sum();
        let conv1_1 = layer(&a, "conv1_1").macs;
        assert_eq!(conv1_1, 224 * 224 * 64 * 3 * 9);
        assert_eq!(conv, 15_346_630_656);
        assert_eq!(a.iter().map(|l| l.macs).sum::<u64>() - conv, 25088 * 4096 + 4096 * 4096 + 4096 * 1000);
    }

    #[test]
    fn unit_boxes_start_in_the_padding() {
        let a = analyse(&vgg(VGG16, false), [3, 224, 224]).unwrap();
        let f = unit_field(layer(&a, "pool5"), 0, 0, [224, 224]);
        assert_eq!(f.unclipped, Box2 { top: -90, left: -90, bottom: 121, right: 121 });
        assert_eq!(f.clipped, Some(Box2 { top: 0, left: 0, bottom: 121, right: 121 }));
        assert_eq!(f.center, [15.5, 15.5]);
        let f = unit_field(layer(&a, "conv1_1"), 10, 20, [224, 224]);
        assert_eq!(f.unclipped, Box2 { top: 9, left: 19, bottom: 11, right: 21 });
        assert_eq!(f.center, [10.0, 20.0]);
    }

    #[test]
    fn nested_fields_widen_towards_the_input() {
        let layers = vgg(VGG16, false);
        let a = analyse(&layers, [3, 224, 224]).unwrap();
        let target = a.iter().position(|l| l.name == "conv2_1").unwrap();
        let n = nested_fields(&layers, &a, target, 10, 20);
        assert_eq!(n[0].label, "conv2_1");
        assert_eq!((n[0].units.top, n[0].units.left), (10, 20));
        // pool1's units 9..=11 (conv2_1's 3x3 window), conv1_2's 18..=23 (pool1's 2x2 windows)
        let pool1 = n.iter().find(|x| x.label == "pool1").unwrap();
        assert_eq!((pool1.units.top, pool1.units.bottom), (9, 11));
        let conv1_2 = n.iter().find(|x| x.label == "conv1_2").unwrap();
        assert_eq!((conv1_2.units.top, conv1_2.units.bottom), (18, 23));
        // at conv1_1 the centres span the field of conv2_1 minus conv1_1's own 3 pixels
        let conv1_1 = n.last().unwrap();
        assert_eq!(conv1_1.label, "conv1_1");
        let f = unit_field(&a[target], 10, 20, [224, 224]);
        assert_eq!(conv1_1.centers[2] - conv1_1.centers[0], (f.unclipped.bottom - f.unclipped.top - 2) as f64);
    }

    #[test]
    fn output_sizes_follow_onnx() {
        let window = |k: usize, s: usize, p: usize, ceil_mode: bool| Window {
            kernel: [k; 2],
            stride: [s; 2],
            pad_begin: [p; 2],
            pad_end: [p; 2],
            dilation: [1; 2],
            ceil_mode,
        };
        // VGG's 3x3 pad 1 keeps the size; 2x2 stride 2 halves it (floor)
        assert_eq!(window(3, 1, 1, false).output_hw([224, 7]), Ok([224, 7]));
        assert_eq!(window(2, 2, 0, false).output_hw([15, 14]), Ok([7, 7]));
        // ceil_mode keeps the partial window: 15 -> 8
        assert_eq!(window(2, 2, 0, true).output_hw([15, 14]), Ok([8, 7]));
        // but not one that would start in the end padding: 2x2 stride 2 pad 1 over 5 -> 3, not 4
        assert_eq!(window(2, 2, 1, true).output_hw([5, 6]), Ok([3, 4]));
        // dilation 2 widens a 3x3 kernel to 5 pixels
        let mut w = window(3, 1, 0, false);
        w.dilation = [2, 2];
        assert_eq!(w.output_hw([9, 5]), Ok([5, 1]));
        assert!(w.output_hw([4, 5]).is_err());
    }

    #[test]
    fn dilation_and_ceil_mode() {
        let mut conv = Layer::spatial("c", "Conv", Op::Conv { out_channels: 1, groups: 1, has_bias: false }, 3, 1, 2);
        conv.window.dilation = [2, 2];
        let mut pool = Layer::spatial("p", "MaxPool", Op::MaxPool, 2, 2, 0);
        pool.window.ceil_mode = true;
        let a = analyse(&[conv, pool], [1, 7, 7]).unwrap();
        assert_eq!((a[0].rf, a[0].out_shape.clone()), ([5, 5], vec![1, 7, 7]));
        assert_eq!((a[1].rf, a[1].out_shape.clone()), ([6, 6], vec![1, 4, 4]));
    }

    #[test]
    fn the_papers_weight_argument() {
        // three stacked 3x3 see 7x7 with 27C² weights; one 7x7 needs 49C²
        assert_eq!(stack_vs_single(3, 1), (27, 49, 7));
        assert_eq!(stack_vs_single(2, 1), (18, 25, 5));
    }

    #[test]
    fn the_papers_argument_on_vgg16() {
        let a = analyse(&vgg(VGG16, true), [3, 224, 224]).unwrap();
        let c = conv_stack(&a);
        assert_eq!((c.convs, c.all_3x3), (13, true));
        let s = c.stack.unwrap();
        // the first block of three: conv3_1..conv3_3 on 128 -> 256 channels
        assert_eq!(s.labels, ["conv3_1", "conv3_2", "conv3_3"]);
        assert_eq!((s.fields.as_slice(), s.channels, s.layers), (&[3, 5, 7][..], 256, 3));
        assert_eq!((s.stack_weights, s.single_weights, s.field), (1_769_472, 3_211_264, 7));
        // VGG-A's blocks have at most two convolutions: two 3x3 see 5x5 with 18C² weights
        let s = conv_stack(&analyse(&vgg(VGG11, false), [3, 224, 224]).unwrap()).stack.unwrap();
        assert_eq!((s.labels.len(), s.fields.as_slice(), s.single_weights), (2, &[3, 5][..], 25 * 256 * 256));
        // a 5x5 convolution breaks "all 3x3"; a single convolution makes no stack
        let mut five =
            vec![Layer::spatial("c", "Conv", Op::Conv { out_channels: 8, groups: 1, has_bias: true }, 5, 1, 2)];
        five[0].label = "conv1_1".into();
        let c = conv_stack(&analyse(&five, [3, 32, 32]).unwrap());
        assert_eq!((c.convs, c.all_3x3, c.stack), (1, false, None));
    }
}
