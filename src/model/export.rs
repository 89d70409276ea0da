//! Writing a taught classifier as ONNX: the convolutional base's own file with a head
//! appended (average over the whole feature map, flatten, one Gemm, softmax), the class
//! names in the model's metadata. Every op of the head is one the crate already analyses
//! (receptive fields, gradients) and the GPU path already runs, so the exported model is
//! as inspectable as the zoo's VGGs; onnxruntime runs it too (a test checks the two agree).

use super::graph::{self, GraphInfo, LABELS_KEY, PREPROCESS_KEY};
use anyhow::{ensure, Context, Result};
use prost::Message;
use tract_onnx::pb;

/// The classifier to append.
#[derive(Clone, Debug)]
pub struct Head {
    pub classes: Vec<String>,
    /// [classes, channels], row-major: scores = weights · descriptor + bias.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    /// The input's side (square, fixed in the exported graph), then any further sizes the
    /// base sees it at (the input resized to each; the descriptors are averaged).
    pub sides: Vec<u32>,
    /// The base's feature maps' [height, width] at each of `sides`: the averaging windows.
    pub pool_hw: Vec<[usize; 2]>,
    /// A sentence for the model's `doc_string`.
    pub doc: String,
    /// The preprocessing the classifier was taught with (the fields of
    /// `options.preprocess`), written under [`PREPROCESS_KEY`].
    pub preprocess: serde_json::Value,
}

/// `base`'s graph (checked to be the one `info` describes) with `head` after its output,
/// the input fixed to [1, C, side, side] (channels last: [1, side, side, C]), the class
/// names under [`LABELS_KEY`] and the preprocessing under [`PREPROCESS_KEY`].
pub fn with_classifier(base: &[u8], info: &GraphInfo, channels_last: bool, head: &Head) -> Result<Vec<u8>> {
    let mut proto = pb::ModelProto::decode(base)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("decoding the base's ONNX bytes ({} bytes)", base.len()))?;
    let found = graph::graph_info(&proto)?;
    ensure!(
        found.input_name == info.input_name && found.output_name == info.output_name && found.op_types == info.op_types,
        "these bytes are not the loaded base: they hold a graph from '{}' to '{}' with {} nodes, the base one from \
         '{}' to '{}' with {}",
        found.input_name,
        found.output_name,
        found.op_types.len(),
        info.input_name,
        info.output_name,
        info.op_types.len()
    );
    let classes = head.classes.len();
    let channels = head.weights.len() / classes.max(1);
    ensure!(classes >= 2 && head.bias.len() == classes && channels * classes == head.weights.len(), "malformed head");
    ensure!(
        !head.sides.is_empty() && head.sides.len() == head.pool_hw.len(),
        "malformed head: sides and pool sizes differ"
    );
    if head.sides.len() > 1 {
        // Resize with its roi and scales left out needs opset 13
        let opset =
            proto.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(1, |o| o.version);
        ensure!(
            opset >= 13,
            "several scales need a base of ONNX opset 13 or later (for Resize); this one's is {opset}"
        );
    }
    let g = proto.graph.as_mut().context("the ONNX model has no graph")?;
    // the input: batch 1 at the taught size
    let input = g.input.iter_mut().find(|v| v.name == info.input_name).context("the graph input is not declared")?;
    let c_in = info.input_shape.get(if channels_last { 3 } else { 1 }).copied().flatten().unwrap_or(3) as i64;
    let size = |s: u32| -> [i64; 4] {
        let s = s as i64;
        if channels_last {
            [1, s, s, c_in]
        } else {
            [1, c_in, s, s]
        }
    };
    input.r#type = Some(tensor_type(&size(head.sides[0])));
    // the head, named apart from anything in the base
    let name = |n: &str| format!("taught/{n}");
    let base_nodes = g.node.clone();
    let constants: std::collections::HashSet<String> = g.initializer.iter().map(|t| t.name.clone()).collect();
    let mut pooled = Vec::new();
    for (k, (&side, &[ph, pw])) in head.sides.iter().zip(&head.pool_hw).enumerate() {
        let features = if k == 0 {
            info.output_name.clone()
        } else {
            // the base again, on the input resized: its own tensors renamed, its weights shared
            let prefix = format!("taught/{side}px/");
            let sizes = name(&format!("{side}px/sizes"));
            g.initializer.push(pb::TensorProto {
                name: sizes.clone(),
                dims: vec![4],
                data_type: pb::tensor_proto::DataType::Int64 as i32,
                int64_data: size(side).to_vec(),
                ..Default::default()
            });
            let resized = format!("{prefix}{}", info.input_name);
            g.node.push(node(
                "Resize",
                &[&info.input_name, "", "", &sizes],
                &resized,
                vec![string("mode", "linear"), string("coordinate_transformation_mode", "half_pixel")],
            ));
            let rename =
                |t: &String| if t.is_empty() || constants.contains(t) { t.clone() } else { format!("{prefix}{t}") };
            for n in &base_nodes {
                let mut copy = n.clone();
                copy.input = n.input.iter().map(rename).collect();
                copy.output = n.output.iter().map(rename).collect();
                copy.name = format!("{prefix}{}", n.name);
                g.node.push(copy);
            }
            rename(&info.output_name)
        };
        let features = if channels_last {
            let nchw = name(&format!("{side}px/nchw"));
            g.node.push(node("Transpose", &[&features], &nchw, vec![ints("perm", &[0, 3, 1, 2])]));
            nchw
        } else {
            features
        };
        let out = if head.sides.len() == 1 { name("pool") } else { name(&format!("{side}px/pool")) };
        g.node.push(node("AveragePool", &[&features], &out, vec![ints("kernel_shape", &[ph as i64, pw as i64])]));
        pooled.push(out);
    }
    if pooled.len() > 1 {
        let inputs: Vec<&str> = pooled.iter().map(String::as_str).collect();
        g.node.push(node("Mean", &inputs, &name("pool"), vec![]));
    }
    g.node.push(node("Flatten", &[&name("pool")], &name("descriptor"), vec![int("axis", 1)]));
    g.initializer.push(f32_tensor(&name("weights"), &[classes as i64, channels as i64], &head.weights));
    g.initializer.push(f32_tensor(&name("bias"), &[classes as i64], &head.bias));
    g.node.push(node(
        "Gemm",
        &[&name("descriptor"), &name("weights"), &name("bias")],
        &name("scores"),
        vec![int("transB", 1)],
    ));
    g.node.push(node("Softmax", &[&name("scores")], "probabilities", vec![int("axis", 1)]));
    g.output = vec![pb::ValueInfoProto {
        name: "probabilities".into(),
        r#type: Some(tensor_type(&[1, classes as i64])),
        ..Default::default()
    }];
    proto.metadata_props.retain(|p| p.key != LABELS_KEY && p.key != PREPROCESS_KEY);
    proto
        .metadata_props
        .push(pb::StringStringEntryProto { key: LABELS_KEY.into(), value: serde_json::to_string(&head.classes)? });
    proto.metadata_props.push(pb::StringStringEntryProto {
        key: PREPROCESS_KEY.into(),
        value: serde_json::to_string(&head.preprocess)?,
    });
    proto.doc_string = head.doc.clone();
    proto.producer_name = "vgg-wasm".into();
    proto.producer_version = env!("CARGO_PKG_VERSION").into();
    Ok(proto.encode_to_vec())
}

pub(super) fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: output.into(),
        op_type: op.into(),
        attribute,
        ..Default::default()
    }
}

pub(super) fn int(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn string(name: &str, v: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

pub(super) fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub(super) fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        // ONNX raw data is little-endian
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

pub(super) fn tensor_type(dims: &[i64]) -> pb::TypeProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::TypeProto {
        value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
            elem_type: pb::tensor_proto::DataType::Float as i32,
            shape: Some(pb::TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|&d| Dimension { value: Some(Value::DimValue(d)), ..Default::default() })
                    .collect(),
            }),
        })),
        ..Default::default()
    }
}
