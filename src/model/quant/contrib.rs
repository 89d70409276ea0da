//! onnxruntime's `com.microsoft` int8 operators (its quantiser's default QOperator format)
//! as standard ONNX nodes: `QGemm` as the integer Gemm ([`IntGemm`]), the other supported ones
//! as their float operator between a dequantise and a quantise; any other is refused by name.

use super::{input, int_attr, Expansion, IntGemm, MS};
use crate::model::export::{int, ints};
use crate::model::graph::attr;
use anyhow::{bail, Context, Result};
use tract_onnx::pb;

/// The required input `i` of a contrib node.
fn required<'n>(n: &'n pb::NodeProto, i: usize, what: &str) -> Result<&'n str> {
    input(n, i).with_context(|| format!("input {i} ({what}) is missing"))
}

/// One `com.microsoft` node as standard ONNX nodes.
pub(super) fn contrib(n: &pb::NodeProto) -> Result<Vec<pb::NodeProto>> {
    let mut e = Expansion::new(n);
    let op = n.op_type.as_str();
    Ok(match op {
        "QGemm" => {
            let gemm = IntGemm {
                a: [required(n, 0, "A")?, required(n, 1, "a_scale")?, required(n, 2, "a_zero_point")?],
                b: [required(n, 3, "B")?, required(n, 4, "b_scale")?, required(n, 5, "b_zero_point")?],
                c: input(n, 6),
                y: input(n, 7).map(|s| (s, input(n, 8))),
                alpha: attr(n, "alpha").map_or(1.0, |a| a.f),
                trans_a: int_attr(n, "transA", 0) != 0,
                trans_b: int_attr(n, "transB", 0) != 0,
            };
            gemm.wire(e)?
        }
        // binary: (A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp)
        "QLinearAdd" | "QLinearMul" => {
            let a = e.dequantize("a", required(n, 0, "A")?, required(n, 1, "A_scale")?, input(n, 2));
            let b = e.dequantize("b", required(n, 3, "B")?, required(n, 4, "B_scale")?, input(n, 5));
            let y = e.add(&op[7..], "float", &[&a, &b], vec![]);
            e.quantize(&y, required(n, 6, "C_scale")?, input(n, 7))
        }
        // unary: (X, X_scale, X_zp, Y_scale, Y_zp)
        "QLinearAveragePool" | "QLinearGlobalAveragePool" | "QLinearSigmoid" | "QLinearLeakyRelu" | "QLinearSoftmax" => {
            let x = e.dequantize("x", required(n, 0, "X")?, required(n, 1, "X_scale")?, input(n, 2));
            let float_op = &op[7..];
            let channels_last = int_attr(n, "channels_last", 0) != 0;
            // the float operator's attributes are the contrib one's, less its own
            let attrs: Vec<pb::AttributeProto> =
                n.attribute.iter().filter(|a| a.name != "channels_last" && a.name != "opset").cloned().collect();
            if op == "QLinearSoftmax" && int_attr(n, "opset", 13) < 13 {
                bail!("QLinearSoftmax with opset {} semantics (coerced to 2-D) is not supported", int_attr(n, "opset", 13));
            }
            let y = if channels_last {
                // NHWC in and out: the float pools are NCHW
                let t = e.add("Transpose", "nchw", &[&x], vec![ints("perm", &[0, 3, 1, 2])]);
                let p = e.add(float_op, "float", &[&t], attrs);
                e.add("Transpose", "nhwc", &[&p], vec![ints("perm", &[0, 2, 3, 1])])
            } else {
                e.add(float_op, "float", &[&x], attrs)
            };
            e.quantize(&y, required(n, 3, "Y_scale")?, input(n, 4))
        }
        // (Y_scale, Y_zp, then X, X_scale, X_zp per input)
        "QLinearConcat" => {
            let parts = (n.input.len().saturating_sub(2)) / 3;
            if parts == 0 || n.input.len() != 2 + 3 * parts {
                bail!("expected 2 + 3·k inputs, got {}", n.input.len());
            }
            let mut xs = Vec::new();
            for k in 0..parts {
                let i = 2 + 3 * k;
                xs.push(e.dequantize(&format!("x{k}"), required(n, i, "X")?, required(n, i + 1, "X_scale")?, input(n, i + 2)));
            }
            let xs: Vec<&str> = xs.iter().map(String::as_str).collect();
            let y = e.add("Concat", "float", &xs, vec![int("axis", int_attr(n, "axis", 0))]);
            e.quantize(&y, required(n, 0, "Y_scale")?, input(n, 1))
        }
        other => bail!(
            "onnxruntime's {MS} operator {other} is not supported (supported: QGemm, QLinearAdd, QLinearMul, \
             QLinearAveragePool, QLinearGlobalAveragePool, QLinearConcat, QLinearSigmoid, QLinearLeakyRelu, QLinearSoftmax)"
        ),
    })
}
