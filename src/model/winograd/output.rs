//! The output transform as a tract op: M → the output, plus the bias, with the folded ReLU
//! and 2×2 max pooling, split over the threads by output channels.

use super::geometry::{Geometry, Tile};
use super::transforms::{at2, at4, F4};
use tract_onnx::prelude::tract_linalg;
use tract_onnx::tract_hir::internal::*;

/// The output transform: M [planes, cout, tiles] → output [1, cout, ho, wo], plus the bias,
/// then the folded ReLU if any, then the folded 2×2 max pooling if any (output
/// [1, cout, ho / 2, wo / 2]: VGG's pools take a quarter of the conv output, and a tile row
/// of F(4×4) or F(2×2) holds whole pooling windows).
#[derive(Clone, Debug, PartialEq)]
pub struct WinogradOutput {
    pub g: Geometry,
    pub bias: Vec<f32>,
    pub relu: bool,
    pub pool: bool,
}

// the bias compares as floats: equal ops are those with equal biases
impl Eq for WinogradOutput {}

impl WinogradOutput {
    /// The output's height and width.
    pub fn out(&self) -> [usize; 2] {
        let [ho, wo] = self.g.out;
        if self.pool {
            [ho / 2, wo / 2]
        } else {
            [ho, wo]
        }
    }

    /// Transforms `m` ([planes, cout, tiles]) into `y` ([cout, out]).
    pub fn run(&self, m: &[f32], y: &mut [f32]) -> TractResult<()> {
        let g = &self.g;
        let area = self.out()[0] * self.out()[1];
        let (planes, nt) = (g.planes(), g.n_tiles());
        ensure!(m.len() == g.cout * planes * nt && y.len() == g.cout * area && area > 0, "WinogradOutput: sizes");
        tract_linalg::multithread::par_chunks_mut(y, area, m.len(), |first, chunk| {
            for (i, yc) in chunk.chunks_exact_mut(area).enumerate() {
                let o = first + i;
                // plane p of channel o is at (p · cout + o) · tiles
                let (mo, stride, bias) = (&m[o * nt..], g.cout * nt, self.bias[o]);
                match g.tile {
                    Tile::F2 => output_channel::<4, 2>(g, mo, stride, yc, bias, self.relu, self.pool, at2),
                    Tile::F4 => output_channel::<6, 4>(g, mo, stride, yc, bias, self.relu, self.pool, at4),
                }
            }
            Ok(())
        })
    }
}

/// One output channel's transform with tile side `A` (= M + 2) and transform `at`; plane p
/// of the channel's product starts at `m[p * stride]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // one call site per tile size; the loop's parameters, flat
fn output_channel<const A: usize, const M: usize>(
    g: &Geometry,
    m: &[f32],
    stride: usize,
    y: &mut [f32],
    bias: f32,
    relu: bool,
    pool: bool,
    at: fn([F4; A]) -> [F4; M],
) {
    let [ho, wo] = g.out;
    let [th, tw] = g.tiles;
    let groups = tw.div_ceil(4);
    // M output rows of the tile row, wide enough for whole groups
    let width = M * 4 * groups;
    let mut rows = vec![0f32; M * width];
    for ti in 0..th {
        for group in 0..groups {
            let t0 = ti * tw + group * 4;
            let lanes = (tw - group * 4).min(4);
            let load = |p: usize| {
                let s = &m[p * stride + t0..];
                if lanes == 4 {
                    F4::load(s)
                } else {
                    let mut l = [0f32; 4];
                    l[..lanes].copy_from_slice(&s[..lanes]);
                    F4::new(l[0], l[1], l[2], l[3])
                }
            };
            // Aᵀ·m, then (Aᵀ·m)·A one row at a time
            let mut half = [[F4::zero(); A]; M];
            for c in 0..A {
                let t = at(std::array::from_fn(|r| load(r * A + c)));
                for (hr, tr) in half.iter_mut().zip(t) {
                    hr[c] = tr;
                }
            }
            for (r, hr) in half.iter().enumerate() {
                let mut t = at(*hr).map(|v| v + F4::splat(bias));
                if relu {
                    t = t.map(F4::max0);
                }
                // lanes are tiles, t[c] their column c: four tiles' M columns side by side
                let row = &mut rows[r * width + group * 4 * M..];
                if let &[a, b, c, d] = &t[..] {
                    for (l, col) in F4::transpose([a, b, c, d]).iter().enumerate() {
                        col.store(&mut row[l * 4..l * 4 + 4]);
                    }
                } else {
                    for (c, tc) in t.iter().enumerate() {
                        for (l, x) in tc.lanes().iter().enumerate() {
                            row[l * M + c] = *x;
                        }
                    }
                }
            }
        }
        if pool {
            // M / 2 rows of windows; a window past the output's last row or column is not one
            let (hp, wp) = (ho / 2, wo / 2);
            for r in 0..M / 2 {
                let py = ti * M / 2 + r;
                if py < hp {
                    let (a, b) = (&rows[2 * r * width..], &rows[(2 * r + 1) * width..]);
                    for (px, out) in y[py * wp..(py + 1) * wp].iter_mut().enumerate() {
                        *out = a[2 * px].max(a[2 * px + 1]).max(b[2 * px].max(b[2 * px + 1]));
                    }
                }
            }
        } else {
            for r in 0..M {
                let yy = ti * M + r;
                if yy < ho {
                    y[yy * wo..(yy + 1) * wo].copy_from_slice(&rows[r * width..r * width + wo]);
                }
            }
        }
    }
}

impl Op for WinogradOutput {
    fn name(&self) -> StaticName {
        "WinogradOutput".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.g;
        let (relu, pool) = (if self.relu { ", relu" } else { "" }, if self.pool { ", max pool 2x2" } else { "" });
        Ok(vec![format!("{:?}, {}x{}x{}{relu}{pool}", g.tile, g.cout, g.out[0], g.out[1])])
    }

    op_as_typed_op!();
}

impl EvalOp for WinogradOutput {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let m = inputs[0].try_as_plain_ram()?.as_slice::<f32>()?;
        let g = &self.g;
        let [h, w] = self.out();
        // SAFETY: a tensor tract leaves uninitialised (as its own ops make their outputs): `run`
        // writes every output pixel (each tile's 4x4 or 2x2 outputs, clipped at the edges)
        // before anything reads one
        let mut y = unsafe { Tensor::uninitialized::<f32>(&[1, g.cout, h, w])? };
        self.run(m, y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?)?;
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for WinogradOutput {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = &self.g;
        ensure!(
            inputs[0].shape.as_concrete() == Some(&[g.planes(), g.cout, g.n_tiles()][..]),
            "WinogradOutput: input {:?}",
            inputs[0]
        );
        let [h, w] = self.out();
        Ok(tvec!(f32::fact([1, g.cout, h, w])))
    }

    as_op!();
}
