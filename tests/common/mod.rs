//! Fixtures shared by the native and browser tests: small ONNX models in each export
//! layout, a seeded input, and onnxruntime's output on it (tests/fixtures/make_fixtures.py).
#![allow(dead_code)]

pub struct Fixture {
    pub name: &'static str,
    pub model: &'static [u8],
    pub input: &'static [u8],
    pub output: &'static [u8],
    pub input_shape: &'static [usize],
    pub output_shape: &'static [usize],
    /// Learned parameters: float constants used by the graph's nodes (int8 weights excluded).
    pub params: u64,
    /// Largest relative difference from onnxruntime accepted: [`TOLERANCE`] for float
    /// models; for int8 ones 2 steps of the output's quantisation relative to its largest
    /// value (make_fixtures.py says why).
    pub tolerance: f32,
}

include!("../fixtures/gen/fixtures.rs");
include!("../fixtures/gen/activations.rs");

/// A photo, the options that ask for some preprocessing, and the tensor torchvision-style
/// transforms on PIL make of it (make_fixtures.py, `preprocess_references`).
pub struct PreprocessCase {
    pub name: &'static str,
    /// PNG, decoded losslessly by both sides.
    pub photo: &'static [u8],
    /// `VggOptions` as JSON.
    pub options: &'static str,
    pub tensor: &'static [u8],
    /// [C, H, W]
    pub shape: [usize; 3],
    /// Size of one 0-255 colour level in each tensor channel's units (std / scale).
    pub levels: &'static [f32],
}

include!("../fixtures/gen/preprocess.rs");

/// What loading each of `BAD_MODELS` must say.
pub const BAD_MODEL_MESSAGES: &[(&str, &str)] = &[
    ("unknown_op", "VggWasmNoSuchOp"),
    ("rank2_input", "expected rank 4"),
    ("two_inputs", "exactly one image input"),
    ("rank3_output", "neither class scores"),
    ("huge_weights", "360000000000 bytes"),
    ("contrib_op", "com.microsoft operator QEmbedLayerNormalization"),
];


pub fn fixture(name: &str) -> &'static Fixture {
    FIXTURES.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no fixture {name}"))
}

pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Largest |a - b| relative to the largest |b|: the acceptance measure.
pub fn rel_max_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "output lengths differ");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    err / scale
}

/// The acceptance tolerance: within 1e-4 of the largest reference value.
pub const TOLERANCE: f32 = 1e-4;

/// A deterministic RGBA test image, `w` x `h`.
pub fn gradient_rgba(w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            v.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) % 256) as u8, 255]);
        }
    }
    v
}

/// The field names of every `export interface` in the TypeScript section of
/// src/bindings.rs (the package's `.d.ts`), for checking them against what Rust produces.
pub fn ts_interfaces() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = include_str!("../../src/bindings.rs");
    let mut out = std::collections::BTreeMap::new();
    for part in src.split("export interface ").skip(1) {
        let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
        let body = &part[part.find('{').expect("interface body") + 1..];
        // the fields at brace depth 0 up to the closing brace
        let (mut depth, mut fields, mut current) = (0i32, std::collections::BTreeSet::new(), String::new());
        for c in body.chars() {
            match c {
                '{' | '[' | '(' | '<' => depth += 1,
                '}' | ']' | ')' | '>' if depth > 0 => depth -= 1,
                '}' => break,
                _ => {}
            }
            if depth == 0 && c == ';' {
                fields.insert(std::mem::take(&mut current));
            } else if depth == 0 && c == ':' && !current.contains(':') {
                current.push(':');
            } else if !current.contains(':') {
                current.push(c);
            }
        }
        let fields = fields
            .into_iter()
            .filter_map(|f| f.split(':').next().map(|n| n.trim().trim_end_matches('?').to_string()))
            .filter(|n| !n.is_empty() && !n.starts_with("/*") && !n.starts_with('*'))
            .collect();
        out.insert(name, fields);
    }
    out
}

/// Gradients against float64 central differences: about 1.7e-7 is achieved natively and
/// in browsers; a wrong mask or weight layout is off by far more.
pub const GRADIENT_TOLERANCE: f32 = 1e-5;

/// Preprocessing may differ from PIL's by rounding (PIL resizes in 8-bit fixed point):
/// at most this many colour levels at any value, and this many on average. A crop one pixel
/// off, or swapped channels, is off by more than `PREPROCESS_MEAN_LEVELS` on average, which
/// [`compare_preprocessing`] checks on every case too.
pub const PREPROCESS_MAX_LEVELS: f32 = 2.0;
pub const PREPROCESS_MEAN_LEVELS: f32 = 0.3;

/// Largest and mean difference in colour levels between `got[c, y, x + dx]` and
/// `want[c, y, x]`, with channel c of `got` read from `channel(c)`.
fn level_diff(case: &PreprocessCase, got: &[f32], want: &[f32], dx: usize, channel: impl Fn(usize) -> usize) -> (f32, f32) {
    let [c, h, w] = case.shape;
    let (mut max, mut sum, mut n) = (0f32, 0f64, 0usize);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w - dx {
                let d = (got[(channel(ch) * h + y) * w + x + dx] - want[(ch * h + y) * w + x]).abs() * case.levels[ch];
                max = max.max(d);
                sum += d as f64;
                n += 1;
            }
        }
    }
    (max, (sum / n as f64) as f32)
}

/// Compares the crate's tensor for `case` with the reference, and checks that the tolerance
/// is sharp: the same tensor shifted by one pixel, or with its first and last channels
/// swapped, must fail it. Returns a line to print.
pub fn compare_preprocessing(case: &PreprocessCase, got: &[f32]) -> Result<String, String> {
    let want = f32s(case.tensor);
    if got.len() != want.len() {
        return Err(format!("{}: {} values, reference has {}", case.name, got.len(), want.len()));
    }
    let (max, mean) = level_diff(case, got, &want, 0, |c| c);
    let (_, shifted) = level_diff(case, got, &want, 1, |c| c);
    let c = case.shape[0];
    let (_, swapped) = level_diff(case, got, &want, 0, |ch| c - 1 - ch);
    let line = format!(
        "{:28} vs PIL: max {max:.2} levels, mean {mean:.3}; one pixel off: mean {shifted:.2}; channels swapped: mean {swapped:.2}",
        case.name
    );
    if max > PREPROCESS_MAX_LEVELS || mean > PREPROCESS_MEAN_LEVELS {
        return Err(format!("preprocessing differs from the reference: {line}"));
    }
    if shifted <= PREPROCESS_MEAN_LEVELS || (c == 3 && swapped <= PREPROCESS_MEAN_LEVELS) {
        return Err(format!("the tolerance cannot tell a shifted crop or swapped channels: {line}"));
    }
    Ok(line)
}

/// Fashion-MNIST test images (Debian's dataset-fashion-mnist), uint8 28x28 each: the first `n`.
pub fn fashion_test_images(n: usize) -> Vec<Vec<u8>> {
    fashion_file("t10k-images-idx3-ubyte.gz", 16).chunks_exact(28 * 28).take(n).map(<[u8]>::to_vec).collect()
}

/// Their classes (0-9, in Fashion-MNIST's order).
pub fn fashion_test_labels(n: usize) -> Vec<u8> {
    fashion_file("t10k-labels-idx1-ubyte.gz", 8).into_iter().take(n).collect()
}

fn fashion_file(name: &str, header: usize) -> Vec<u8> {
    use std::io::Read;
    let path = format!("/usr/share/datasets/fashion-mnist/{name}");
    let gz = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e} (apt-get install dataset-fashion-mnist)"));
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz).read_to_end(&mut raw).unwrap();
    raw.split_off(header)
}
