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
        Ok(TransposedConv { model, cout, cin, grow: k - 1 - 2 * pad })
    }

    /// The gradient with respect to the input of the forward convolution, from `dy`, the
    /// gradient with respect to its output ([cout, h, w]).
    pub fn run(&mut self, dy: Vec<f32>, [h, w]: [usize; 2]) -> Result<Vec<f32>> {
        ensure!(dy.len() == self.cout * h * w, "a gradient of {} values for [{}, {h}, {w}]", dy.len(), self.cout);
        let mut out = self.model.run(dy, &[1, self.cout, h, w])?;
        let (shape, data) = out.swap_remove(0);
        ensure!(
            shape == [1, self.cin, h + self.grow, w + self.grow],
            "the transposed convolution gave {shape:?} for [1, {}, {h}, {w}]",
            self.cout
        );
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradients::{backward, Activation, Step};

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
                let (ih, iw) = (h + k - 1 - 2 * pad, w + k - 1 - 2 * pad);
                let step = Step::Conv {
                    weights: weights.clone(),
                    out_channels: cout,
                    groups: 1,
                    kernel: [k, k],
                    stride: [1, 1],
                    pad: [pad, pad],
                    dilation: [1, 1],
                };
                let act = Activation { in_shape: &[cin, ih, iw], out_shape: &[cout, h, w], input: None, output: None };
                let want = backward(&[step], &[act], 0, dy.clone()).unwrap();
                let got = t.run(dy, [h, w]).unwrap();
                assert_eq!(got.len(), want.len());
                let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(err < 1e-4, "k {k} pad {pad} {h}x{w}: max difference {err}");
            }
        }
    }
}
