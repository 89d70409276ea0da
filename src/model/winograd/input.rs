//! The input transform as a tract op: the input's tiles → V, written straight into the
//! packed layout tract's kernel reads, split over the threads by rows of tiles.

use super::geometry::{Geometry, Tile};
use super::threads::{par_channels, Shared};
use super::transforms::{bt2, bt4, F4};
use tract_onnx::tract_hir::internal::*;

/// The input transform: input [1, cin, h, w] → V, [planes, panels × panel]: for each plane
/// the B operand of its product, in the packed layout tract's kernel reads
/// ([`Geometry::packed_at`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WinogradInput {
    pub g: Geometry,
}

impl WinogradInput {
    /// Transforms `x` ([cin, h, w]) into the packed `v` ([`Geometry::packed_at`]).
    pub fn run(&self, x: &[f32], v: &mut [f32]) -> TractResult<()> {
        let g = &self.g;
        let [h, w] = g.hw;
        let (planes, nt, nr) = (g.planes(), g.n_tiles(), g.nr);
        ensure!(x.len() == g.cin * h * w && v.len() == planes * g.plane_len(), "WinogradInput: sizes");
        // what no channel writes: each panel's records past the last channel, and the
        // tiles past the last in the last panel
        for panel in v.chunks_exact_mut(g.panel_len) {
            panel[g.cin * nr..].fill(0.0);
        }
        if nt % nr != 0 {
            for p in 0..planes {
                for c in 0..g.cin {
                    let at = g.packed_at(p, c, nt);
                    v[at..at + nr - nt % nr].fill(0.0);
                }
            }
        }
        debug_assert_eq!(v.len(), planes * g.plane_len());
        let (work, v) = (v.len(), Shared::new(v));
        // each tile row writes only its own tiles' values (a panel two rows share, each its own
        // lanes of it)
        par_channels(g.tiles[0], work, |first, count| {
            match g.tile {
                Tile::F2 => input_rows::<4, 2>(g, first..first + count, x, v, bt2),
                Tile::F4 => input_rows::<6, 4>(g, first..first + count, x, v, bt4),
            }
            Ok(())
        })
    }
}

/// The input transform of tile rows `tile_rows`, all channels, with tile side `A`
/// (= M + 2) and transform `bt`, into the packed V `v`. Channels inside tile rows: the
/// packed V holds a panel's channels side by side, so consecutive writes land together.
#[inline(always)]
fn input_rows<const A: usize, const M: usize>(
    g: &Geometry,
    tile_rows: std::ops::Range<usize>,
    x: &[f32],
    v: Shared,
    bt: fn([F4; A]) -> [F4; A],
) {
    let [h, w] = g.hw;
    let tw = g.tiles[1];
    // A rows of the padded input, wide enough for every group of four tiles to read whole
    // (zeros past the input's right edge and in the padding)
    let groups = tw.div_ceil(4);
    let width = (M * 4 * groups + A).max(g.pad[1] + w);
    let mut rows = vec![0f32; A * width];
    for (ti, c) in tile_rows.flat_map(|ti| (0..g.cin).map(move |c| (ti, c))) {
        let x = &x[c * h * w..(c + 1) * h * w];
        for r in 0..A {
            let row = &mut rows[r * width..(r + 1) * width];
            let y = (ti * M + r).wrapping_sub(g.pad[0]);
            if y < h {
                row[g.pad[1]..g.pad[1] + w].copy_from_slice(&x[y * w..(y + 1) * w]);
            } else {
                row[g.pad[1]..g.pad[1] + w].fill(0.0);
            }
        }
        for group in 0..groups {
            let col0 = group * 4 * M;
            // d[r][c]: lanes are the four tiles' element (r, c)
            let mut d = [[F4::zero(); A]; A];
            for (r, dr) in d.iter_mut().enumerate() {
                let row = &rows[r * width + col0..];
                if M == 4 {
                    // tile l's column c is row[4l + c]: five loads, two 4×4 transposes
                    let v: [F4; 5] = std::array::from_fn(|i| F4::load(&row[4 * i..]));
                    let lo = F4::transpose([v[0], v[1], v[2], v[3]]);
                    let hi = F4::transpose([v[1], v[2], v[3], v[4]]);
                    for (c, drc) in dr.iter_mut().enumerate() {
                        *drc = if c < 4 { lo[c] } else { hi[c - 4] };
                    }
                } else {
                    for (c, drc) in dr.iter_mut().enumerate() {
                        *drc = F4::new(row[c], row[M + c], row[2 * M + c], row[3 * M + c]);
                    }
                }
            }
            // rows of Bᵀ·d, then (Bᵀ·d)·B one row at a time
            let mut cols = [[F4::zero(); A]; A];
            for col in 0..A {
                let t = bt(std::array::from_fn(|r| d[r][col]));
                for r in 0..A {
                    cols[r][col] = t[r];
                }
            }
            let t0 = ti * tw + group * 4;
            let lanes = (tw - group * 4).min(4);
            // four tiles side by side in one panel: one store; else a tile at a time
            let whole = lanes == 4 && t0 % g.nr + 4 <= g.nr;
            let (base, plane_len) = (g.packed_at(0, c, t0), g.plane_len());
            for (r, cr) in cols.iter().enumerate() {
                let t = bt(*cr);
                for (col, tc) in t.iter().enumerate() {
                    let p = r * A + col;
                    if whole {
                        let at = base + p * plane_len;
                        tc.store(v.part(at, 4));
                    } else {
                        for (l, x) in tc.lanes()[..lanes].iter().enumerate() {
                            v.part(g.packed_at(p, c, t0 + l), 1)[0] = *x;
                        }
                    }
                }
            }
        }
    }
}

impl Op for WinogradInput {
    fn name(&self) -> StaticName {
        "WinogradInput".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.g;
        Ok(vec![format!("{:?}, {}x{}x{}, {}x{} tiles", g.tile, g.cin, g.hw[0], g.hw[1], g.tiles[0], g.tiles[1])])
    }

    op_as_typed_op!();
}

impl EvalOp for WinogradInput {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].try_as_plain_ram()?.as_slice::<f32>()?;
        let g = &self.g;
        // SAFETY: a tensor tract leaves uninitialised (as its own ops make their outputs): `run`
        // writes every element, the padding included, before anything reads one
        let mut v = unsafe { Tensor::uninitialized::<f32>(&[g.planes(), g.plane_len()])? };
        self.run(x, v.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?)?;
        Ok(tvec!(v.into_tvalue()))
    }
}

impl TypedOp for WinogradInput {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = &self.g;
        ensure!(
            inputs[0].shape.as_concrete() == Some(&[1, g.cin, g.hw[0], g.hw[1]][..]),
            "WinogradInput: input {:?}",
            inputs[0]
        );
        Ok(tvec!(f32::fact([g.planes(), g.plane_len()])))
    }

    as_op!();
}
