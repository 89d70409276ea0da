//! Writing a taught classifier as ONNX: the convolutional base's own file with a head
//! appended (average over the whole feature map, flatten, one Gemm, softmax), the class
//! names in the model's metadata. Every op of the head is one the crate already analyses
//! (receptive fields, gradients) and the GPU path already runs, so the exported model is
//! as inspectable as the zoo's VGGs; onnxruntime runs it too (a test checks the two agree).

use super::graph::{self, GraphInfo};
use anyhow::{ensure, Context, Result};
use prost::Message;
use tract_onnx::pb;

/// Metadata key holding the class names as a JSON array of strings; `new Vgg` reads it
/// when the options give no labels.
pub const LABELS_KEY: &str = "labels";

/// The classifier to append.
#[derive(Clone, Debug)]
pub struct Head {
    pub classes: Vec<String>,
    /// [classes, channels], row-major: scores = weights · descriptor + bias.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    /// The input's height and width (square), fixed in the exported graph.
    pub side: u32,
    /// The base's feature maps' [height, width] at `side`: the averaging window.
    pub pool_hw: [usize; 2],
    /// A sentence for the model's `doc_string`.
    pub doc: String,
}

/// `base`'s graph (checked to be the one `info` describes) with `head` after its output,
/// the input fixed to [1, C, side, side] (channels last: [1, side, side, C]), and the
/// class names under [`LABELS_KEY`].
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
    let g = proto.graph.as_mut().context("the ONNX model has no graph")?;
    // the input: batch 1 at the taught size
    let input = g.input.iter_mut().find(|v| v.name == info.input_name).context("the graph input is not declared")?;
    let c_in = info.input_shape.get(if channels_last { 3 } else { 1 }).copied().flatten().unwrap_or(3) as i64;
    let s = head.side as i64;
    input.r#type = Some(tensor_type(&if channels_last { [1, s, s, c_in] } else { [1, c_in, s, s] }));
    // the head, named apart from anything in the base
    let name = |n: &str| format!("taught/{n}");
    let mut features = info.output_name.clone();
    if channels_last {
        g.node.push(node("Transpose", &[&features], &name("nchw"), vec![ints("perm", &[0, 3, 1, 2])]));
        features = name("nchw");
    }
    let [ph, pw] = head.pool_hw.map(|v| v as i64);
    g.node.push(node("AveragePool", &[&features], &name("pool"), vec![ints("kernel_shape", &[ph, pw])]));
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
    proto.metadata_props.retain(|p| p.key != LABELS_KEY);
    proto.metadata_props.push(pb::StringStringEntryProto {
        key: LABELS_KEY.into(),
        value: serde_json::to_string(&head.classes)?,
    });
    proto.doc_string = head.doc.clone();
    proto.producer_name = "vgg-wasm".into();
    proto.producer_version = env!("CARGO_PKG_VERSION").into();
    Ok(proto.encode_to_vec())
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: output.into(),
        op_type: op.into(),
        attribute,
        ..Default::default()
    }
}

fn int(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: pb::attribute_proto::AttributeType::Int as i32, i, ..Default::default() }
}

fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        // ONNX raw data is little-endian
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn tensor_type(dims: &[i64]) -> pb::TypeProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::TypeProto {
        value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
            elem_type: pb::tensor_proto::DataType::Float as i32,
            shape: Some(pb::TensorShapeProto {
                dim: dims.iter().map(|&d| Dimension { value: Some(Value::DimValue(d)), ..Default::default() }).collect(),
            }),
        })),
        ..Default::default()
    }
}
