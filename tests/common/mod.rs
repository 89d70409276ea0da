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
}

include!("../fixtures/gen/fixtures.rs");
include!("../fixtures/gen/activations.rs");

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
