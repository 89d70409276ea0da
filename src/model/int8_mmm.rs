//! int8 matrix products for tract's quantised convolutions and matrix products in wasm, on
//! one of two dot products: relaxed SIMD's 4-way byte dot product (relaxed-SIMD builds, on
//! engines where it is exact), or SIMD128's 2-way 16-bit one on bytes widened to 16 bits
//! (every build, every engine: without relaxed SIMD tract's wasm int8 kernel widens bytes to
//! 32 bits and multiplies lane by lane).
//!
//! `i32x4.relaxed_dot_i8x16_i7x16_add_s` multiplies 16 signed bytes by 16 bytes of a second
//! operand that the spec pins down only in [0, 127]: above that, engines read the byte as
//! unsigned (x86, whose dot instructions are unsigned × signed) or signed (Arm's SDOT), and x86
//! without VNNI saturates each pair of products to 16 bits. tract's wasm kernel keeps within
//! the spec by splitting the second operand into two 7-bit halves, two dots per 16 products.
//! Here one probe at start-up asks the engine which reading it has; where it reads the byte as
//! unsigned without saturating (V8 on x86 with VNNI, as the development machine's Chromium),
//! the activations go in as bytes offset by 128 (`x ^ 0x80 = x + 128`) and 128·Σ weights is
//! taken off once per tile: one dot per 16 products, against tract's two. Anywhere else the
//! 16-bit kernels below run every int8 product, so the answer never depends on the engine;
//! the relaxed kernels stay runnable there for `force_int8_kernel` (model/kernels.rs), which
//! the tests use on weights that cannot saturate a dot product.
//!
//! `i32x4.dot_i16x8_s` (SIMD128) is exact on every engine: both operands widened to 16 bits
//! (`i16x8.extend_{low,high}_i8x16_s`), each lane sums two products in 32 bits, one row's pair
//! of k broadcast against four columns' pairs. Twice the dot instructions of the relaxed
//! kernel, and no probe.
//!
//! The kernels are tract-linalg kernels like its own: they take tract's fused micro-op lists
//! (`FusedKerSpec`), read its `PackedI8K4` panels (4 consecutive k per row), and are offered
//! through an `MmmTier` above tract's wasm tier. Exactness against tract's kernels is checked
//! end to end: each kernel forced on every int8 fixture (tests/e2e/int8-kernels.test.mjs; on
//! an engine whose dot product saturates, the relaxed ones on the 7-bit one), and the builds
//! against each other (tests/e2e/threads.test.mjs). The odd fixtures have partial tiles and k
//! not a multiple of 4.

use std::arch::wasm32::*;
#[cfg(target_feature = "relaxed-simd")]
use std::sync::OnceLock;
use tract_linalg::isa::{Arch, Isa, IsaReq, IsaSet};
use tract_linalg::mmm::{DynKernel, FusedKerSpec, MatMatMul, Query, RoundingPolicy, Suitable};
use tract_linalg::pack::{PackedI8K4, Packing};
use tract_linalg::{ScaleShiftAndRound, Scaler};
use tract_onnx::prelude::tract_linalg;
use tract_onnx::prelude::DatumType;
use tract_onnx::tract_hir::internal::inventory;

/// The relaxed matrix-matrix kernel: 8 rows (output channels) by 8 columns (pixels). (8x8
/// beat 8x4, 8x6, 12x4 and 16x4 by 1.1-1.6x on conv1_2's and conv3_2's shapes in Chromium on
/// x86: the x86 engine has 16 vector registers, and the spills of 16 accumulators cost less
/// than loading A twice as often.)
#[cfg(target_feature = "relaxed-simd")]
const GEMM: &str = "vgg_wasm_i8_dot_8x8";
/// The relaxed matrix-vector kernel (fc6, fc7: one image is one column): 16 rows.
#[cfg(target_feature = "relaxed-simd")]
const GEMV: &str = "vgg_wasm_i8_dot_16x1";
/// The SIMD128 kernels, same tiles.
const GEMM_I16: &str = "vgg_wasm_i8_i16dot_8x8";
const GEMV_I16: &str = "vgg_wasm_i8_i16dot_16x1";

/// The dot product a kernel runs its tile's products on.
trait Dot {
    /// Adds `Σ_k a·b` of an 8x8 tile to `rows` (row m: columns 0..4 in `rows[m][0]`, 4..8 in
    /// `rows[m][1]`). `a`: PackedI8K4 with 8 rows (32 bytes per 4 k), `b`: with 8 columns (32
    /// bytes per 4 k); both zero-padded to a multiple of 4 k by the packer.
    ///
    /// # Safety
    /// `a` and `b` point into tract's PackedI8K4 panels of at least `k.div_ceil(4) * 32`
    /// bytes each (the packer pads k to a multiple of 4 with zeros).
    unsafe fn dot_8x8(rows: &mut [[v128; 2]; 8], k: usize, a: *const u8, b: *const u8);

    /// Adds `Σ_k a·b` of a 16x1 tile to `ab`: `a` with 16 rows (64 bytes per 4 k), `b` one
    /// column (4 bytes).
    ///
    /// # Safety
    /// `a` holds at least `k.div_ceil(4) * 64` bytes and `b` at least `k.div_ceil(4) * 4` (the
    /// packer's zero-padded panels).
    unsafe fn dot_16x1(ab: &mut [[i32; 1]; 16], k: usize, a: *const u8, b: *const u8);
}

/// Relaxed SIMD's byte dot product, on offset activations (see the module's comment).
#[cfg(target_feature = "relaxed-simd")]
struct Relaxed;
/// SIMD128's 16-bit dot product on widened bytes.
struct Widened;

/// Whether this engine's relaxed dot reads second-operand bytes above 127 as unsigned and
/// sums the four products in 32 bits: the only reading the relaxed kernels are exact under.
#[cfg(target_feature = "relaxed-simd")]
pub fn unsigned_dot() -> bool {
    static PROBE: OnceLock<bool> = OnceLock::new();
    *PROBE.get_or_init(|| {
        // extremes (saturation shows at 127 x 255 and -128 x 255), then a mixed vector
        let cases: [([i8; 16], [u8; 16]); 3] = [
            ([127; 16], [255; 16]),
            ([-128; 16], [255; 16]),
            (
                [-128, 127, -1, 0, 5, -77, 100, -3, 64, -64, 1, 2, 127, -128, 9, -9],
                [255, 128, 200, 7, 129, 255, 0, 130, 1, 250, 127, 128, 255, 255, 66, 190],
            ),
        ];
        cases.iter().all(|(a, b)| {
            let (va, vb) = (std::hint::black_box(*a), std::hint::black_box(*b));
            // SAFETY: both arrays are 16 bytes; v128 loads have no alignment requirement
            let got = unsafe {
                let d = i32x4_relaxed_dot_i8x16_i7x16_add(
                    v128_load(va.as_ptr() as *const v128),
                    v128_load(vb.as_ptr() as *const v128),
                    i32x4_splat(0),
                );
                std::mem::transmute::<v128, [i32; 4]>(d)
            };
            (0..4).all(|l| got[l] == (0..4).map(|j| va[4 * l + j] as i32 * vb[4 * l + j] as i32).sum::<i32>())
        })
    })
}

#[cfg(target_feature = "relaxed-simd")]
impl Dot for Relaxed {
    /// # Safety
    /// As [`Dot::dot_8x8`]: `a` and `b` hold `k.div_ceil(4) * 32` bytes each (tract's padded
    /// panels), which bounds every load below.
    #[inline(always)]
    unsafe fn dot_8x8(rows: &mut [[v128; 2]; 8], k: usize, a: *const u8, b: *const u8) {
        let flip = u8x16_splat(0x80);
        // acc[n][h]: column n, rows 4h..4h + 4
        let mut acc = [[i32x4_splat(0); 2]; 8];
        // 128·Σ_k a per row: what the offset activations add
        let mut c = [i32x4_splat(0); 2];
        for kb in 0..k.div_ceil(4) {
            // SAFETY: kb * 32 + 32 <= k.div_ceil(4) * 32, inside `a` (see # Safety); unaligned loads
            let (a0, a1) =
                unsafe { (v128_load(a.add(kb * 32) as *const v128), v128_load(a.add(kb * 32 + 16) as *const v128)) };
            c[0] = i32x4_relaxed_dot_i8x16_i7x16_add(a0, flip, c[0]);
            c[1] = i32x4_relaxed_dot_i8x16_i7x16_add(a1, flip, c[1]);
            for (n, acc_n) in acc.iter_mut().enumerate() {
                // column n's 4 k in every lane, offset to 0..=255
                // SAFETY: kb * 32 + 4n + 4 <= (kb + 1) * 32 (n < 8), inside `b` (see # Safety)
                let bn = v128_xor(unsafe { v128_load32_splat(b.add(kb * 32 + 4 * n) as *const u32) }, flip);
                acc_n[0] = i32x4_relaxed_dot_i8x16_i7x16_add(a0, bn, acc_n[0]);
                acc_n[1] = i32x4_relaxed_dot_i8x16_i7x16_add(a1, bn, acc_n[1]);
            }
        }
        // 4x4 transposes: the columns of rows 4h..4h + 4, columns 4q..4q + 4, into those rows
        for h in 0..2 {
            for q in 0..2 {
                let col = |n: usize| i32x4_sub(acc[4 * q + n][h], c[h]);
                let (t0, t1) =
                    (i32x4_shuffle::<0, 4, 1, 5>(col(0), col(1)), i32x4_shuffle::<2, 6, 3, 7>(col(0), col(1)));
                let (t2, t3) =
                    (i32x4_shuffle::<0, 4, 1, 5>(col(2), col(3)), i32x4_shuffle::<2, 6, 3, 7>(col(2), col(3)));
                let t = [
                    i32x4_shuffle::<0, 1, 4, 5>(t0, t2),
                    i32x4_shuffle::<2, 3, 6, 7>(t0, t2),
                    i32x4_shuffle::<0, 1, 4, 5>(t1, t3),
                    i32x4_shuffle::<2, 3, 6, 7>(t1, t3),
                ];
                for (m, v) in t.into_iter().enumerate() {
                    rows[4 * h + m][q] = i32x4_add(rows[4 * h + m][q], v);
                }
            }
        }
    }

    /// # Safety
    /// As [`Dot::dot_16x1`]: `a` holds `k.div_ceil(4) * 64` bytes and `b`
    /// `k.div_ceil(4) * 4`, which bounds every load below.
    #[inline(always)]
    unsafe fn dot_16x1(ab: &mut [[i32; 1]; 16], k: usize, a: *const u8, b: *const u8) {
        let flip = u8x16_splat(0x80);
        let mut acc = [i32x4_splat(0); 4];
        let mut corr = [i32x4_splat(0); 4];
        for kb in 0..k.div_ceil(4) {
            // SAFETY: kb * 4 + 4 <= k.div_ceil(4) * 4, inside `b` (see # Safety)
            let bk = v128_xor(unsafe { v128_load32_splat(b.add(kb * 4) as *const u32) }, flip);
            for r in 0..4 {
                // SAFETY: kb * 64 + 16r + 16 <= (kb + 1) * 64, inside `a` (see # Safety)
                let ar = unsafe { v128_load(a.add(kb * 64 + 16 * r) as *const v128) };
                acc[r] = i32x4_relaxed_dot_i8x16_i7x16_add(ar, bk, acc[r]);
                corr[r] = i32x4_relaxed_dot_i8x16_i7x16_add(ar, flip, corr[r]);
            }
        }
        for r in 0..4 {
            // SAFETY: a v128 is 16 bytes, as [i32; 4], and every bit pattern is a valid i32
            let v: [i32; 4] = unsafe { std::mem::transmute::<v128, [i32; 4]>(i32x4_sub(acc[r], corr[r])) };
            for m in 0..4 {
                ab[4 * r + m][0] += v[m];
            }
        }
    }
}

impl Dot for Widened {
    /// # Safety
    /// As [`Dot::dot_8x8`]: `a` and `b` hold `k.div_ceil(4) * 32` bytes each (tract's padded
    /// panels), which bounds every load below.
    #[inline(always)]
    unsafe fn dot_8x8(rows: &mut [[v128; 2]; 8], k: usize, a: *const u8, b: *const u8) {
        // Each dot lane is one row times one column over a pair of k: row m's pair broadcast
        // to every lane, against columns 0..4 (or 4..8) with their pairs side by side, so the
        // 16 sums land where the tile keeps them (row m: columns 0..4, 4..8) and no lanes are
        // reduced at the end.
        for kb in 0..k.div_ceil(4) {
            // SAFETY: kb * 32 + 32 <= k.div_ceil(4) * 32, inside `a` and `b` (see # Safety);
            // unaligned loads
            let (a0, a1, b0, b1) = unsafe {
                (
                    v128_load(a.add(kb * 32) as *const v128),
                    v128_load(a.add(kb * 32 + 16) as *const v128),
                    v128_load(b.add(kb * 32) as *const v128),
                    v128_load(b.add(kb * 32 + 16) as *const v128),
                )
            };
            // columns 4h..4h + 4: their k 0-1 pairs, then their k 2-3 pairs, in 16 bits
            let by_k_pair = |v: v128| {
                let p = i8x16_shuffle::<0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15>(v, v);
                [i16x8_extend_low_i8x16(p), i16x8_extend_high_i8x16(p)]
            };
            let (c03, c47) = (by_k_pair(b0), by_k_pair(b1));
            // rows 0-1, 2-3, 4-5, 6-7 in 16 bits: as i32 lanes, row 2q's k 0-1 and k 2-3, then
            // row 2q + 1's
            let w = [
                i16x8_extend_low_i8x16(a0),
                i16x8_extend_high_i8x16(a0),
                i16x8_extend_low_i8x16(a1),
                i16x8_extend_high_i8x16(a1),
            ];
            for (q, wq) in w.into_iter().enumerate() {
                // each lane broadcast: row 2q's k 0-1 and k 2-3, row 2q + 1's k 0-1 and k 2-3
                let splat = [
                    i32x4_shuffle::<0, 0, 0, 0>(wq, wq),
                    i32x4_shuffle::<1, 1, 1, 1>(wq, wq),
                    i32x4_shuffle::<2, 2, 2, 2>(wq, wq),
                    i32x4_shuffle::<3, 3, 3, 3>(wq, wq),
                ];
                for half in 0..2 {
                    let (k01, k23) = (splat[2 * half], splat[2 * half + 1]);
                    let row = &mut rows[2 * q + half];
                    row[0] = i32x4_add(row[0], i32x4_add(i32x4_dot_i16x8(k01, c03[0]), i32x4_dot_i16x8(k23, c03[1])));
                    row[1] = i32x4_add(row[1], i32x4_add(i32x4_dot_i16x8(k01, c47[0]), i32x4_dot_i16x8(k23, c47[1])));
                }
            }
        }
    }

    /// # Safety
    /// As [`Dot::dot_16x1`]: `a` holds `k.div_ceil(4) * 64` bytes and `b`
    /// `k.div_ceil(4) * 4`, which bounds every load below.
    #[inline(always)]
    unsafe fn dot_16x1(ab: &mut [[i32; 1]; 16], k: usize, a: *const u8, b: *const u8) {
        // acc[q]: the pair sums of rows 2q and 2q + 1
        let mut acc = [i32x4_splat(0); 8];
        for kb in 0..k.div_ceil(4) {
            // SAFETY: kb * 4 + 4 <= k.div_ceil(4) * 4, inside `b` (see # Safety)
            let bk = i16x8_extend_low_i8x16(unsafe { v128_load32_splat(b.add(kb * 4) as *const u32) });
            for r in 0..4 {
                // SAFETY: kb * 64 + 16r + 16 <= (kb + 1) * 64, inside `a` (see # Safety)
                let ar = unsafe { v128_load(a.add(kb * 64 + 16 * r) as *const v128) };
                acc[2 * r] = i32x4_add(acc[2 * r], i32x4_dot_i16x8(i16x8_extend_low_i8x16(ar), bk));
                acc[2 * r + 1] = i32x4_add(acc[2 * r + 1], i32x4_dot_i16x8(i16x8_extend_high_i8x16(ar), bk));
            }
        }
        for r in 0..4 {
            // SAFETY: a v128 is 16 bytes, as [i32; 4], and every bit pattern is a valid i32
            let v: [i32; 4] = unsafe { std::mem::transmute::<v128, [i32; 4]>(pairs(acc[2 * r], acc[2 * r + 1])) };
            for m in 0..4 {
                ab[4 * r + m][0] += v[m];
            }
        }
    }
}

/// Four rows' sums from two vectors of pair sums (`v`: rows i and i + 1, `w`: rows i + 2 and
/// i + 3, each row's two lanes side by side): the 16x1 kernel's end.
#[inline(always)]
fn pairs(v: v128, w: v128) -> v128 {
    i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(v, w), i32x4_shuffle::<1, 3, 5, 7>(v, w))
}

/// One micro-op other than the matrix product on an MR x NR accumulator tile, as tract's
/// generic kernel does it (the zero-point terms, requantisation, stores). Returns non-zero
/// for an op it cannot do, as tract's kernels do.
///
/// # Safety
/// `op` comes from tract's kernel call for an MR x NR tile, whose contract makes each pointer
/// in it (tile loads and stores, bias and scale vectors) valid for that tile's MR rows and NR
/// columns with the strides it carries.
#[inline(always)]
unsafe fn scalar_op<const MR: usize, const NR: usize>(ab: &mut [[i32; NR]; MR], op: &FusedKerSpec<i32>) -> isize {
    // SAFETY: every pointer read or written below is one of `op`'s, at a row i < MR and a
    // column j < NR of the tile, which tract's contract (see # Safety) makes valid
    unsafe {
        match *op {
            FusedKerSpec::Clear => *ab = [[0; NR]; MR],
            FusedKerSpec::LoadTile(col_major, _) => each(ab, |v, i, j| *v = *col_major.add(j * MR + i)),
            FusedKerSpec::ScalarMin(s) => each(ab, |v, _, _| *v = (*v).min(s)),
            FusedKerSpec::ScalarMax(s) => each(ab, |v, _, _| *v = (*v).max(s)),
            FusedKerSpec::ScalarAdd(s) => each(ab, |v, _, _| *v += s),
            FusedKerSpec::ScalarMul(s) => each(ab, |v, _, _| *v *= s),
            FusedKerSpec::ScalarSub(s) => each(ab, |v, _, _| *v = s - *v),
            FusedKerSpec::ScalarSubF(s) => each(ab, |v, _, _| *v -= s),
            FusedKerSpec::LeakyRelu(s) => each(ab, |v, _, _| *v = if *v > 0 { *v } else { s * *v }),
            FusedKerSpec::PerRowMin(p) => each(ab, |v, i, _| *v = (*v).min(*p.add(i))),
            FusedKerSpec::PerRowMax(p) => each(ab, |v, i, _| *v = (*v).max(*p.add(i))),
            FusedKerSpec::PerRowAdd(p) => each(ab, |v, i, _| *v += *p.add(i)),
            FusedKerSpec::PerRowMul(p) => each(ab, |v, i, _| *v *= *p.add(i)),
            FusedKerSpec::PerRowSub(p) => each(ab, |v, i, _| *v = *p.add(i) - *v),
            FusedKerSpec::PerRowSubF(p) => each(ab, |v, i, _| *v -= *p.add(i)),
            FusedKerSpec::PerColMin(p) => each(ab, |v, _, j| *v = (*v).min(*p.add(j))),
            FusedKerSpec::PerColMax(p) => each(ab, |v, _, j| *v = (*v).max(*p.add(j))),
            FusedKerSpec::PerColAdd(p) => each(ab, |v, _, j| *v += *p.add(j)),
            FusedKerSpec::PerColMul(p) => each(ab, |v, _, j| *v *= *p.add(j)),
            FusedKerSpec::PerColSub(p) => each(ab, |v, _, j| *v = *p.add(j) - *v),
            FusedKerSpec::PerColSubF(p) => each(ab, |v, _, j| *v -= *p.add(j)),
            FusedKerSpec::AddRowColProducts(rows, cols) => each(ab, |v, i, j| *v += *rows.add(i) * *cols.add(j)),
            FusedKerSpec::ShiftLeft(shift) => each(ab, |v, _, _| *v = v.q_shl(shift)),
            FusedKerSpec::RoundingShiftRight(shift, rp) => each(ab, |v, _, _| *v = v.q_shr(shift, rp)),
            FusedKerSpec::QScale(shift, rp, mult) => {
                let s = Scaler::from_fuse_params(shift, rp, mult);
                each(ab, |v, _, _| *v = v.q_scale(s))
            }
            FusedKerSpec::AddUnicast(t) => {
                if t.item_size != 1 && t.item_size != 4 {
                    return 1;
                }
                each(ab, |v, i, j| {
                    let p = t.ptr.offset(t.row_byte_stride * i as isize + t.col_byte_stride * j as isize);
                    *v += if t.item_size == 1 { *(p as *const i8) as i32 } else { *(p as *const i32) };
                })
            }
            FusedKerSpec::Store(t) => {
                if t.item_size != 1 && t.item_size != 4 {
                    return 1;
                }
                each(ab, |v, i, j| {
                    let p = t.ptr.offset(t.row_byte_stride * i as isize + t.col_byte_stride * j as isize);
                    // an i8 store keeps the low byte, as tract's kernels do (the ops before clamp
                    // the values to the output's range)
                    if t.item_size == 1 {
                        *p = *v as u8
                    } else {
                        *(p as *mut i32) = *v
                    }
                })
            }
            // the matrix product is the caller's; Done ends the list before this
            FusedKerSpec::AddMatMul { .. } | FusedKerSpec::Done => return 1,
        }
    }
    0
}

/// `round(x·mult / 2^shift)` with ties to even, as tract's `Scaler` computes it for
/// `RoundingPolicy::Even` (`shift` in 1..63), on 4 lanes: the requantisation of every tile.
#[inline(always)]
fn q_scale_even(x: v128, mult: i32, shift: u32) -> v128 {
    let m = i32x4_splat(mult);
    let round = |v: v128| {
        // sign(v)·((|v| + 2^(shift-1) − 1 + bit_shift(|v|)) >> shift)
        let a = i64x2_abs(v);
        let odd = v128_and(u64x2_shr(a, shift), i64x2_splat(1));
        let r = u64x2_shr(i64x2_add(a, i64x2_add(i64x2_splat((1i64 << (shift - 1)) - 1), odd)), shift);
        let sign = i64x2_shr(v, 63);
        i64x2_sub(v128_xor(r, sign), sign)
    };
    // the low 32 bits of each product's rounding, as `as i32` keeps them
    i32x4_shuffle::<0, 2, 4, 6>(round(i64x2_extmul_low_i32x4(x, m)), round(i64x2_extmul_high_i32x4(x, m)))
}

/// `f(vector, row)` on each of the tile's 16 vectors.
#[inline(always)]
fn all(rows: &mut [[v128; 2]; 8], f: impl Fn(v128, usize) -> v128) {
    for (i, r) in rows.iter_mut().enumerate() {
        r[0] = f(r[0], i);
        r[1] = f(r[1], i);
    }
}

/// The 8x8 kernel: the tile as 8 rows of 2 vectors; the ops every quantised convolution of a
/// VGG ends with (bias, zero-point terms, requantisation, clamp, int8 store) on them, any
/// other through `scalar_op`.
///
/// # Safety
/// tract calls this through the kernel's function pointer with an op list that satisfies its
/// FusedKerSpec contract for an 8x8 tile (valid panel, tile and vector pointers);
/// `D::dot_8x8` and `scalar_op` rely on nothing more.
unsafe fn gemm_8x8<D: Dot>(ops: &[FusedKerSpec<i32>]) -> isize {
    let zero = [[i32x4_splat(0); 2]; 8];
    let mut rows = zero;
    for op in ops {
        match *op {
            FusedKerSpec::Done => break,
            FusedKerSpec::Clear => rows = zero,
            // the kernels offer one packing (index 0): i8 x i8 in PackedI8K4
            // SAFETY: tract's panels of k (padded) for this tile (see # Safety)
            FusedKerSpec::AddMatMul { k, pa, pb, packing: 0 } => unsafe { D::dot_8x8(&mut rows, k, pa, pb) },
            FusedKerSpec::AddMatMul { .. } => return 1,
            // SAFETY: a per-row vector holds the tile's 8 rows (see # Safety)
            FusedKerSpec::PerRowAdd(p) => all(&mut rows, |v, i| i32x4_add(v, i32x4_splat(unsafe { *p.add(i) }))),
            // SAFETY: as PerRowAdd
            FusedKerSpec::PerRowSubF(p) => all(&mut rows, |v, i| i32x4_sub(v, i32x4_splat(unsafe { *p.add(i) }))),
            FusedKerSpec::ScalarAdd(s) => all(&mut rows, |v, _| i32x4_add(v, i32x4_splat(s))),
            FusedKerSpec::ScalarMin(s) => all(&mut rows, |v, _| i32x4_min(v, i32x4_splat(s))),
            FusedKerSpec::ScalarMax(s) => all(&mut rows, |v, _| i32x4_max(v, i32x4_splat(s))),
            FusedKerSpec::QScale(shift, RoundingPolicy::Even, mult) if (1..63).contains(&(shift + 31)) => {
                let s = (shift + 31) as u32;
                all(&mut rows, |v, _| q_scale_even(v, mult, s))
            }
            FusedKerSpec::Store(t) if t.item_size == 1 && t.col_byte_stride == 1 => {
                for (i, r) in rows.iter().enumerate() {
                    // the low byte of each column: row i's 8 consecutive bytes
                    let bytes = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(r[0], r[1]);
                    // SAFETY: row i's 8 bytes, columns 0..8 at stride 1 (matched above), of the
                    // store tile tract hands over for this 8x8 tile (see # Safety)
                    unsafe { v128_store64_lane::<0>(bytes, t.ptr.offset(t.row_byte_stride * i as isize) as *mut u64) };
                }
            }
            ref other => {
                // SAFETY: 8 rows of two v128 are 8 rows of 8 i32, same size, every bit pattern
                // valid both ways
                let mut ab = unsafe { std::mem::transmute::<[[v128; 2]; 8], [[i32; 8]; 8]>(rows) };
                // SAFETY: `other` is one of tract's ops for this 8x8 tile (see # Safety)
                if unsafe { scalar_op(&mut ab, other) } != 0 {
                    return 1;
                }
                // SAFETY: as above, back
                rows = unsafe { std::mem::transmute::<[[i32; 8]; 8], [[v128; 2]; 8]>(ab) };
            }
        }
    }
    0
}

/// The 16x1 kernel (matrix-vector: the dense layers): the tile's epilogue is 16 values, left
/// to `scalar_op`.
///
/// # Safety
/// As `gemm_8x8`, for a 16x1 tile.
unsafe fn gemv_16x1<D: Dot>(ops: &[FusedKerSpec<i32>]) -> isize {
    let mut ab = [[0i32; 1]; 16];
    for op in ops {
        match *op {
            FusedKerSpec::Done => break,
            // SAFETY: tract's panels of k (padded) for this tile (see # Safety)
            FusedKerSpec::AddMatMul { k, pa, pb, packing: 0 } => unsafe { D::dot_16x1(&mut ab, k, pa, pb) },
            ref other => {
                // SAFETY: `other` is one of tract's ops for this 16x1 tile (see # Safety)
                if unsafe { scalar_op(&mut ab, other) } != 0 {
                    return 1;
                }
            }
        }
    }
    0
}

#[inline(always)]
fn each<const MR: usize, const NR: usize>(ab: &mut [[i32; NR]; MR], mut f: impl FnMut(&mut i32, usize, usize)) {
    for (i, row) in ab.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            f(v, i, j)
        }
    }
}

/// A tract kernel around `f`: i32 accumulators, i8 x i8 operands in PackedI8K4 panels, stores
/// of i32 and i8; `relaxed`: it needs relaxed SIMD.
fn kernel<const MR: usize, const NR: usize>(
    name: &str,
    f: unsafe fn(&[FusedKerSpec<i32>]) -> isize,
    relaxed: bool,
) -> Box<dyn MatMatMul> {
    let mut k = DynKernel::<MR, NR, i32>::new(name, f, i32::packing(MR), i32::packing(NR));
    // only the i8 packing: an i32 x i32 product is never offered to these kernels
    k.packings = vec![(Box::new(PackedI8K4::new(MR)), Box::new(PackedI8K4::new(NR)))];
    k.stores.push(DatumType::I8);
    k.arch = Some(Arch::Wasm32Simd128);
    k.with_isa(if relaxed { IsaReq::ANY.needing(&[Isa::Wasm32RelaxedSimd]) } else { IsaReq::ANY }).mmm()
}

#[cfg(target_feature = "relaxed-simd")]
inventory::submit! {
    tract_linalg::mmm_routines::MmmRoutine { make: || kernel::<8, 8>(GEMM, gemm_8x8::<Relaxed>, true) }
}
#[cfg(target_feature = "relaxed-simd")]
inventory::submit! {
    tract_linalg::mmm_routines::MmmRoutine { make: || kernel::<16, 1>(GEMV, gemv_16x1::<Relaxed>, true) }
}
inventory::submit! {
    tract_linalg::mmm_routines::MmmRoutine { make: || kernel::<8, 8>(GEMM_I16, gemm_8x8::<Widened>, false) }
}
inventory::submit! {
    tract_linalg::mmm_routines::MmmRoutine { make: || kernel::<16, 1>(GEMV_I16, gemv_16x1::<Widened>, false) }
}

/// Above tract's wasm tier (precedence 1): every int8 product. In the relaxed builds on the
/// relaxed kernels where the probe allows; anywhere else on the 16-bit dot product kernels,
/// exact on every engine and faster than tract's wasm kernel (VGG16 int8 QDQ at 224 px, one
/// thread, Chromium: 1574 ms on its relaxed 7-bit split, 3366–4156 on its SIMD128 widening to
/// 32 bits, 848–1006 ms on these). In the relaxed builds, naming a kernel for every product is
/// needed: tract's tier leaves matrix-vector products to its generic rules, which would pick
/// the relaxed 16x1 kernel for their shape (so the dense layers ran on it, inexact, on engines
/// whose dot product saturates).
fn preferred(_: &IsaSet, acc: DatumType, query: &Query, _: &[Suitable]) -> Option<&'static str> {
    if acc != DatumType::I32 {
        return None;
    }
    #[cfg(target_feature = "relaxed-simd")]
    let (gemm, gemv) = if unsigned_dot() { (GEMM, GEMV) } else { (GEMM_I16, GEMV_I16) };
    #[cfg(not(target_feature = "relaxed-simd"))]
    let (gemm, gemv) = (GEMM_I16, GEMV_I16);
    Some(if query.n == Some(1) { gemv } else { gemm })
}

inventory::submit! {
    tract_linalg::mmm_tiers::MmmTier {
        arch: Some(Arch::Wasm32Simd128),
        precedence: 2,
        name: "vgg-wasm-i8-dot",
        applies: |_| true,
        preferred,
    }
}
