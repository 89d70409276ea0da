//! The backward pass of a convolution, run by tract: for stride 1, no dilation and one
//! group, the gradient with respect to a convolution's input is itself a convolution of
//! the output's gradient, with the kernel flipped in both axes, its input and output
//! channels swapped, and padded by `k - 1 - pad` (Dumoulin & Visin 2016, "A guide to
//! convolution arithmetic", relationship 8). As a one-node ONNX graph it runs on the same
//! kernels (Winograd, tract's packed matrix products) as the forward pass: several times
//! faster than `gradients`' loops for a dense gradient such as a channel's mean.

use super::export::{f32_tensor, int, ints, node};
use super::{Convolution, Model, Planning};
use anyhow::{ensure, Context, Result};
use prost::Message;
use tract_onnx::pb;

/// `dx = conv(dy, flipped weights)` for one layer, planned per input size.
pub struct TransposedConv {
    model: Model,
    cout: usize,
    cin: usize,
    /// Added to the height and width of `dy` by the transposed convolution (k - 1 - 2 pad).
    grow: usize,
    k: usize,
    pad: usize,
}

impl TransposedConv {
    /// For the forward convolution of `weights` [cout, cin, k, k] (stride 1, undilated, one
    /// group) padded by `pad` on every side, planned first for a `dy` of `hw`.
    pub fn new(weights: &[f32], cout: usize, cin: usize, k: usize, pad: usize, hw: [usize; 2]) -> Result<Self> {
        ensure!(
            weights.len() == cout * cin * k * k && 2 * pad < k,
            "not a [{cout}, {cin}, {k}, {k}] kernel padded by at most half of it ({pad})"
        );
        let mut flipped = vec![0f32; weights.len()];
        for co in 0..cout {
            for ci in 0..cin {
                for ky in 0..k {
                    for kx in 0..k {
                        flipped[((ci * cout + co) * k + ky) * k + kx] =
                            weights[((co * cin + ci) * k + (k - 1 - ky)) * k + (k - 1 - kx)];
                    }
                }
            }
        }
        let p = (k - 1 - pad) as i64;
        let (k64, cout64, cin64) = (k as i64, cout as i64, cin as i64);
        let dynamic = |name: &str| {
            use pb::tensor_shape_proto::{dimension::Value, Dimension};
            Dimension { value: Some(Value::DimParam(name.into())), ..Default::default() }
        };
        let fixed = |d: i64| {
            use pb::tensor_shape_proto::{dimension::Value, Dimension};
            Dimension { value: Some(Value::DimValue(d)), ..Default::default() }
        };
        let value = |name: &str, c: i64| pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: pb::tensor_proto::DataType::Float as i32,
                    shape: Some(pb::TensorShapeProto { dim: vec![fixed(1), fixed(c), dynamic("h"), dynamic("w")] }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let graph = pb::GraphProto {
            name: "transposed".into(),
            node: vec![node(
                "Conv",
                &["dy", "w"],
                "dx",
                vec![ints("kernel_shape", &[k64, k64]), ints("pads", &[p, p, p, p]), int("group", 1)],
            )],
            initializer: vec![f32_tensor("w", &[cin64, cout64, k64, k64], &flipped)],
            input: vec![value("dy", cout64)],
            output: vec![value("dx", cin64)],
            ..Default::default()
        };
        let proto = pb::ModelProto {
            ir_version: 7,
            opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
            graph: Some(graph),
            ..Default::default()
        };
        let planning =
            Planning { default_hw: hw, nhwc: Some(false), keep_activations: false, convolution: Convolution::Auto };
        let model = Model::load(std::borrow::Cow::Owned(proto.encode_to_vec()), planning)
            .context("planning a convolution's backward pass")?;
        Ok(TransposedConv { model, cout, cin, grow: k - 1 - 2 * pad, k, pad })
    }

    /// The gradient with respect to the input of the forward convolution, from `dy`, the
    /// gradient with respect to its output ([cout, h, w]).
    ///
    /// Outside the rows and columns that `dy`'s nonzero values reach, the result is exactly
    /// zero, as the loops give it: Winograd's transforms mix each tile's values, so they
    /// would leave rounding noise (1e-9) beyond a unit's receptive field, which is where
    /// the gradient of one unit must be exactly zero.
    pub fn run(&mut self, dy: Vec<f32>, [h, w]: [usize; 2]) -> Result<Vec<f32>> {
        ensure!(dy.len() == self.cout * h * w, "a gradient of {} values for [{}, {h}, {w}]", dy.len(), self.cout);
        let (mut y0, mut y1, mut x0, mut x1) = (usize::MAX, 0, usize::MAX, 0);
        for (i, _) in dy.iter().enumerate().filter(|(_, v)| **v != 0.0) {
            let (y, x) = (i / w % h, i % w);
            (y0, y1, x0, x1) = (y0.min(y), y1.max(y), x0.min(x), x1.max(x));
        }
        let mut out = self.model.run(dy, &[1, self.cout, h, w])?;
        let (shape, mut data) = out.swap_remove(0);
        let (oh, ow) = (h + self.grow, w + self.grow);
        ensure!(
            shape == [1, self.cin, oh, ow],
            "the transposed convolution gave {shape:?} for [1, {}, {h}, {w}]",
            self.cout
        );
        // dy's row y reaches the input rows y - pad ..= y - pad + k - 1 (columns alike)
        let reach = |lo: usize, hi: usize, n: usize| {
            (lo.saturating_sub(self.pad), (hi + self.k - 1).saturating_sub(self.pad).min(n - 1))
        };
        if y0 == usize::MAX {
            data.fill(0.0);
        } else {
            let ((ry0, ry1), (rx0, rx1)) = (reach(y0, y1, oh), reach(x0, x1, ow));
            for (i, v) in data.iter_mut().enumerate() {
                let (y, x) = (i / ow % oh, i % ow);
                if y < ry0 || y > ry1 || x < rx0 || x > rx1 {
                    *v = 0.0;
                }
            }
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradients::{backward, Activation, Step};

    /// `gradients`' own loops for the same backward pass (stride 1, undilated, one group).
    fn loops(weights: &[f32], [cout, cin, k, pad]: [usize; 4], [h, w]: [usize; 2], dy: &[f32]) -> Vec<f32> {
        let (ih, iw) = (h + k - 1 - 2 * pad, w + k - 1 - 2 * pad);
        let step = Step::Conv {
            weights: weights.to_vec(),
            out_channels: cout,
            groups: 1,
            kernel: [k, k],
            stride: [1, 1],
            pad: [pad, pad],
            dilation: [1, 1],
        };
        let act = Activation { in_shape: &[cin, ih, iw], out_shape: &[cout, h, w], input: None, output: None };
        backward(&[step], &[act], 0, dy.to_vec()).unwrap()
    }

    #[test]
    fn the_transposed_convolution_is_the_backward_pass_it_replaces() {
        // against `gradients`' own loops (themselves checked against the definition and,
        // through the models, finite differences), at two sizes of one plan
        for (k, pad) in [(3, 1), (3, 0), (1, 0)] {
            let (cout, cin) = (4, 3);
            let weights: Vec<f32> = (0..cout * cin * k * k).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1).collect();
            let mut t = TransposedConv::new(&weights, cout, cin, k, pad, [5, 6]).unwrap();
            for [h, w] in [[5, 6], [7, 4]] {
                let dy: Vec<f32> = (0..cout * h * w).map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.3).collect();
                let want = loops(&weights, [cout, cin, k, pad], [h, w], &dy);
                let got = t.run(dy, [h, w]).unwrap();
                assert_eq!(got.len(), want.len());
                let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(err < 1e-4, "k {k} pad {pad} {h}x{w}: max difference {err}");
            }
        }
    }

    #[test]
    fn beyond_what_a_sparse_gradient_reaches_the_result_is_exactly_zero() {
        // one unit's gradient on a layer Winograd takes (32 channels in, 24 x 24): exact zeros
        // wherever the loops give them, equal within rounding elsewhere
        let (cout, cin, k, pad, h, w) = (32, 32, 3, 1, 24, 24);
        let weights: Vec<f32> = (0..cout * cin * k * k).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1).collect();
        let mut t = TransposedConv::new(&weights, cout, cin, k, pad, [h, w]).unwrap();
        let mut dy = vec![0f32; cout * h * w];
        for c in 0..cout {
            for (y, x) in [(9, 10), (11, 13)] {
                dy[(c * h + y) * w + x] = (c as f32 - 15.5) * 0.07;
            }
        }
        let want = loops(&weights, [cout, cin, k, pad], [h, w], &dy);
        let got = t.run(dy, [h, w]).unwrap();
        for (i, (g, e)) in got.iter().zip(&want).enumerate() {
            if *e == 0.0 && (i / w % h < 8 || i / w % h > 12 || i % w < 9 || i % w > 14) {
                assert_eq!(*g, 0.0, "at {i}: outside the reach of dy");
            }
            assert!((g - e).abs() < 1e-4, "at {i}: {g} against {e}");
        }
        let all_zero = t.run(vec![0.0; cout * h * w], [h, w]).unwrap();
        assert!(all_zero.iter().all(|v| *v == 0.0));
    }
}
