//! Fixtures shared by the native and browser tests: small ONNX models in each export
//! layout, a seeded input, and onnxruntime's output on it (tests/fixtures/make_fixtures.py).
#![allow(dead_code)]
// the generated files write onnxruntime's floats with all the digits Python prints
#![allow(clippy::excessive_precision)]

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
    /// models; for int8 ones 4 steps of the output's quantisation relative to its largest
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
/// src/bindings/ts_types.rs (the package's `.d.ts`), for checking them against what Rust produces.
pub fn ts_interfaces() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = include_str!("../../src/bindings/ts_types.rs");
    let mut out = std::collections::BTreeMap::new();
    for part in src.split("export interface ").skip(1) {
        let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
        let mut body = part[part.find('{').expect("interface body") + 1..].to_string();
        // doc comments on fields hold ':' and braces of their own
        while let Some(start) = body.find("/*") {
            let end = body[start..].find("*/").map_or(body.len(), |e| start + e + 2);
            body.replace_range(start..end, "");
        }
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
fn level_diff(
    case: &PreprocessCase,
    got: &[f32],
    want: &[f32],
    dx: usize,
    channel: impl Fn(usize) -> usize,
) -> (f32, f32) {
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
    let gz =
        std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e} (apt-get install dataset-fashion-mnist)"));
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz).read_to_end(&mut raw).unwrap();
    raw.split_off(header)
}

/// The Winograd transforms (`vgg_wasm::model::winograd`) against a plain direct
/// convolution: F(2×2) and F(4×4), on sizes that are not multiples of the tile, 1 and 3
/// input channels, padding at every border (and none, and uneven), with and without the
/// folded ReLU and max pooling. The products between the transforms are computed here,
/// plainly. Panics on a mismatch; returns one line per case.
pub fn check_winograd_transforms() -> Vec<String> {
    use vgg_wasm::model::winograd::{transform_weights, Geometry, Tile, WinogradInput, WinogradOutput};
    // (cin, cout, h, w, padding [top, left, bottom, right])
    let cases: &[(usize, usize, usize, usize, [usize; 4])] = &[
        (1, 3, 5, 7, [1, 1, 1, 1]),
        (3, 2, 9, 6, [1, 1, 1, 1]),
        (3, 5, 10, 13, [2, 0, 1, 3]),
        (2, 4, 3, 3, [0, 0, 0, 0]),
        (4, 3, 17, 11, [1, 2, 0, 1]),
        (9, 6, 14, 14, [1, 1, 1, 1]),
    ];
    let mut seed = 7u32;
    let mut random = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    };
    let mut lines = vec![];
    for &(cin, cout, h, w, [pt, pl, pb, pr]) in cases {
        let (ho, wo) = (h + pt + pb - 2, w + pl + pr - 2);
        let (x, k, bias) = (random(cin * h * w), random(cout * cin * 9), random(cout));
        // the direct convolution, as a cross-correlation like every CNN framework's
        let mut direct = vec![0f32; cout * ho * wo];
        for o in 0..cout {
            for y in 0..ho {
                for xx in 0..wo {
                    let mut acc = bias[o] as f64;
                    for c in 0..cin {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (iy, ix) = ((y + ky).wrapping_sub(pt), (xx + kx).wrapping_sub(pl));
                                if iy < h && ix < w {
                                    acc += (x[c * h * w + iy * w + ix] * k[((o * cin + c) * 3 + ky) * 3 + kx]) as f64;
                                }
                            }
                        }
                    }
                    direct[(o * ho + y) * wo + xx] = acc as f32;
                }
            }
        }
        for tile in [Tile::F2, Tile::F4] {
            let g = Geometry::new(tile, cin, cout, [h, w], [pt, pl], [ho, wo]).expect("an f32 kernel");
            let mut v = vec![f32::NAN; g.planes() * g.plane_len()];
            WinogradInput { g: g.clone() }.run(&x, &mut v).unwrap();
            let u = transform_weights(tile, &k, cout, cin);
            let (planes, nt) = (g.planes(), g.n_tiles());
            let mut m = vec![0f32; planes * cout * nt];
            for p in 0..planes {
                for o in 0..cout {
                    for t in 0..nt {
                        m[(p * cout + o) * nt + t] =
                            (0..cin).map(|c| u[(p * cout + o) * cin + c] * v[g.packed_at(p, c, t)]).sum();
                    }
                }
            }
            for (relu, pool) in [(false, false), (true, false), (true, true)] {
                let out = WinogradOutput { g: g.clone(), bias: bias.clone(), relu, pool };
                let [oh, ow] = out.out();
                if oh == 0 || ow == 0 {
                    continue;
                }
                let mut y = vec![f32::NAN; cout * oh * ow];
                out.run(&m, &mut y).unwrap();
                assert!(y.iter().all(|v| v.is_finite()), "Winograd {tile:?}: an output left unwritten");
                let want: Vec<f32> = (0..cout * oh * ow)
                    .map(|i| {
                        let (o, yy, xx) = (i / (oh * ow), i / ow % oh, i % ow);
                        let at = |y: usize, x: usize| {
                            let d = direct[(o * ho + y) * wo + x];
                            if relu {
                                d.max(0.0)
                            } else {
                                d
                            }
                        };
                        if pool {
                            at(2 * yy, 2 * xx)
                                .max(at(2 * yy, 2 * xx + 1))
                                .max(at(2 * yy + 1, 2 * xx).max(at(2 * yy + 1, 2 * xx + 1)))
                        } else {
                            at(yy, xx)
                        }
                    })
                    .collect();
                let err = rel_max_err(&y, &want);
                let case = format!(
                    "{tile:?} cin {cin} cout {cout} {h}x{w} pad {:?}{}{}",
                    [pt, pl, pb, pr],
                    if relu { " relu" } else { "" },
                    if pool { " pool" } else { "" }
                );
                assert!(err <= 1e-5, "Winograd {case}: relative error {err}");
                lines.push(format!("{case}: relative max error {err:.1e}"));
            }
        }
    }
    lines
}
