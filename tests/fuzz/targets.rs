//! The fuzz targets' bodies, shared by cargo-fuzz (`fuzz_targets/*.rs`, `./build.sh fuzz`)
//! and the native replay of their corpus in `./build.sh test` (tests/native.rs), so that
//! both run exactly the same code on an input. Each must answer (Ok or an error) and never
//! panic or abort, whatever the bytes.
#![allow(dead_code)]

use vgg_wasm::pipeline::{Options, Pipeline};
use vgg_wasm::preprocess::{decode_image as decode, prepare, PreprocessSpec};

/// Names of the targets, as cargo-fuzz and tests/fixtures/regressions name them.
pub const TARGETS: &[&str] = &["load_model", "load_graph", "decode_image", "options"];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "load_model" => load_model(data),
        "load_graph" => load_model(&graph_from_bytes(data)),
        "decode_image" => decode_image(data),
        "options" => options(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// Any bytes as a model: loading must answer Ok or an error.
pub fn load_model(data: &[u8]) {
    let _ = Pipeline::new(data, Options::default());
}

/// Any bytes as an image file (PNG, JPEG, or neither), decoded and prepared for a 224x224
/// ImageNet model, as `classifyImage` does before inference.
pub fn decode_image(data: &[u8]) {
    if let Ok(img) = decode(data) {
        let _ = prepare(&img, &PreprocessSpec::imagenet_224());
    }
}

/// A 1x1 identity convolution over 3 channels at any size (tests/fixtures/gen).
const IDENTITY3: &[u8] = include_bytes!("../fixtures/gen/identity3.onnx");
const IDENTITY1: &[u8] = include_bytes!("../fixtures/gen/identity1.onnx");

/// Above this many resized pixels an input is not run through the resize (see below).
const MAX_FUZZED_PIXELS: u64 = 8_000_000;

/// Any bytes as the JSON options of a model (a sidecar), then one image through the
/// preprocessing they describe, on a model that accepts any input size.
pub fn options(data: &[u8]) {
    let Ok(options) = serde_json::from_slice::<Options>(data) else { return };
    let grey = options.preprocess.as_ref().and_then(|p| p.channel_order).map(|c| c.channels()) == Some(1);
    let Ok(mut p) = Pipeline::new(if grey { IDENTITY1 } else { IDENTITY3 }, options) else { return };
    // Resizes to tens of megapixels are legal (up to 100 MP) but take longer than the fuzzer's
    // 20 s timeout under its instrumentation: a slow input, not a hang. Their size checks
    // run; the resize itself is left to tests/native.rs.
    let [w, h] = p.spec().resized_wh(37, 23);
    if w as u64 * h as u64 > MAX_FUZZED_PIXELS {
        return;
    }
    // a 37x23 gradient: odd sizes, so crops and resizes round
    let rgba: Vec<u8> =
        (0..37 * 23).flat_map(|i| [(i % 37 * 7) as u8, (i / 37 * 11) as u8, (i % 256) as u8, 255]).collect();
    let _ = p.forward(&rgba, 37, 23);
}

/// The ops whose attributes or constant inputs name axes, with how many axis values each
/// takes (0: one `axis` attribute). Shape inference indexes shapes by them.
const AXIS_OPS: &[(&str, usize)] = &[
    ("Squeeze", 1),
    ("Unsqueeze", 1),
    ("Concat", 0),
    ("Flatten", 0),
    ("Softmax", 0),
    ("LogSoftmax", 0),
    ("Gather", 0),
    ("Split", 0),
    ("ReduceMean", 2),
    ("ReduceMax", 1),
    ("ArgMax", 0),
    ("Slice", 2),
    ("Transpose", 4),
];

/// Structure-aware input for the loader: `data` drives a small valid-looking ONNX graph
/// (an image input [1, 3, 8, 8], a 1x1 convolution, then up to four ops from `AXIS_OPS`
/// with axes, perms and slice bounds taken from the bytes, in -6..6, some as attributes and
/// some as constant inputs), so that a fuzzer or a seeded loop explores the attributes
/// rather than the protobuf's framing. Every graph it writes must load or be refused.
pub fn graph_from_bytes(data: &[u8]) -> Vec<u8> {
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next().unwrap_or(0);
    let small = |b: u8| (b % 13) as i64 - 6;
    let mut nodes = Vec::new();
    let mut consts = vec![tensor_f32("w", &[4, 3, 1, 1], &[0.5; 12])];
    nodes.push(node_pb("Conv", &["x", "w"], "t0", &[]));
    // the opset decides whether axes are attributes or inputs (Squeeze and Unsqueeze from
    // 13, the Reduce ops from 18)
    let opset = [11, 13, 18][next() as usize % 3];
    let count = 1 + next() as usize % 4;
    for k in 0..count {
        let (op, n) = AXIS_OPS[next() as usize % AXIS_OPS.len()];
        let (input, output) = (format!("t{k}"), format!("t{}", k + 1));
        let values: Vec<i64> = (0..1 + next() as usize % n.max(1)).map(|_| small(next())).collect();
        let c = format!("c{k}");
        let mut inputs = vec![input.clone()];
        let mut attrs = Vec::new();
        let axes_as_input = if op.starts_with("Reduce") { opset >= 18 } else { opset >= 13 };
        match op {
            "Squeeze" | "Unsqueeze" | "ReduceMean" | "ReduceMax" => {
                if axes_as_input {
                    consts.push(tensor_i64(&c, &values));
                    inputs.push(c);
                } else {
                    attrs.push(attr_ints("axes", &values));
                }
                if op.starts_with("Reduce") {
                    attrs.push(attr_int("keepdims", (next() % 2) as i64));
                }
            }
            "Transpose" => attrs.push(attr_ints(
                "perm",
                &(0..values.len().max(1) as i64).map(|i| (i + values[0]).rem_euclid(5)).collect::<Vec<_>>(),
            )),
            "Slice" => {
                for (i, v) in [
                    values.clone(),
                    values.iter().map(|v| v + 2).collect(),
                    values.iter().map(|_| small(next())).collect(),
                ]
                .iter()
                .enumerate()
                {
                    consts.push(tensor_i64(&format!("{c}_{i}"), v));
                    inputs.push(format!("{c}_{i}"));
                }
            }
            "Concat" => {
                inputs.push(input.clone());
                attrs.push(attr_int("axis", values[0]));
            }
            "Gather" => {
                consts.push(tensor_i64(&c, &[0]));
                inputs.push(c);
                attrs.push(attr_int("axis", values[0]));
            }
            _ => {
                attrs.push(attr_int("axis", values[0]));
                if op == "ArgMax" {
                    attrs.push(attr_int("keepdims", (next() % 2) as i64));
                }
            }
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        nodes.push(node_pb(op, &inputs, &output, &attrs));
    }
    let last = format!("t{count}");
    let graph = [
        nodes.concat(),
        consts.iter().flat_map(|t| field_bytes(5, t)).collect(),
        field_bytes(11, &value_info("x", &[1, 3, 8, 8])),
        field_bytes(12, &field_bytes(1, last.as_bytes())),
    ]
    .concat();
    let opset_id = field_varint(2, opset);
    [field_varint(1, 8), field_bytes(8, &opset_id), field_bytes(7, &graph)].concat()
}

// A few protobuf writers for the ONNX messages above (field numbers from onnx.proto), so
// that the generator needs nothing but the bytes.

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn field_varint(field: u32, v: i64) -> Vec<u8> {
    [varint((field as u64) << 3), varint(v as u64)].concat()
}

fn field_bytes(field: u32, b: &[u8]) -> Vec<u8> {
    [varint((field as u64) << 3 | 2), varint(b.len() as u64), b.to_vec()].concat()
}

fn node_pb(op: &str, inputs: &[&str], output: &str, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut n: Vec<u8> = inputs.iter().flat_map(|i| field_bytes(1, i.as_bytes())).collect();
    n.extend(field_bytes(2, output.as_bytes()));
    n.extend(field_bytes(3, output.as_bytes()));
    n.extend(field_bytes(4, op.as_bytes()));
    n.extend(attrs.iter().flat_map(|a| field_bytes(5, a)));
    field_bytes(1, &n)
}

fn attr_int(name: &str, v: i64) -> Vec<u8> {
    [field_bytes(1, name.as_bytes()), field_varint(3, v), field_varint(20, 2)].concat()
}

fn attr_ints(name: &str, v: &[i64]) -> Vec<u8> {
    let ints: Vec<u8> = v.iter().flat_map(|&x| field_varint(8, x)).collect();
    [field_bytes(1, name.as_bytes()), ints, field_varint(20, 7)].concat()
}

fn tensor_i64(name: &str, v: &[i64]) -> Vec<u8> {
    let data: Vec<u8> = v.iter().flat_map(|&x| varint(x as u64)).collect();
    [field_varint(1, v.len() as i64), field_varint(2, 7), field_bytes(7, &data), field_bytes(8, name.as_bytes())]
        .concat()
}

fn tensor_f32(name: &str, dims: &[i64], v: &[f32]) -> Vec<u8> {
    let raw: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let dims: Vec<u8> = dims.iter().flat_map(|&d| field_varint(1, d)).collect();
    [dims, field_varint(2, 1), field_bytes(8, name.as_bytes()), field_bytes(9, &raw)].concat()
}

fn value_info(name: &str, dims: &[i64]) -> Vec<u8> {
    let dims: Vec<u8> = dims.iter().flat_map(|&d| field_bytes(1, &field_varint(1, d))).collect();
    let tensor = [field_varint(1, 1), field_bytes(2, &dims)].concat();
    [field_bytes(1, name.as_bytes()), field_bytes(2, &field_bytes(1, &tensor))].concat()
}
