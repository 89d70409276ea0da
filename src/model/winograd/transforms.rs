//! The Winograd transforms: G·g·Gᵀ of the weights (in f64, rounded once), and the input's
//! Bᵀ·d·B and the product's Aᵀ·m·A one column at a time on [`F4`], four adjacent tiles in
//! four lanes: wasm's f32x4 where SIMD128 is on, four floats elsewhere, written the same way.

use super::Tile;

/// The weight transform G·g·Gᵀ of every (cout, cin) 3×3 kernel, computed in f64;
/// `w` is [cout, cin, 3, 3]; the result is [planes, cout, cin].
pub fn transform_weights(tile: Tile, w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let a = tile.alpha();
    let plane = cout * cin;
    let mut u = vec![0f32; a * a * plane];
    for (oc, k) in w.chunks_exact(9).enumerate().take(plane) {
        for (p, x) in transform_kernel(tile, k).iter().take(a * a).enumerate() {
            u[p * plane + oc] = *x;
        }
    }
    u
}

/// G·g·Gᵀ of one 3×3 kernel `k`, in f64 and rounded once: the (m+2)² values, plane by
/// plane (the rest of the 36 zero for F(2×2)).
pub(super) fn transform_kernel(tile: Tile, k: &[f32]) -> [f32; 36] {
    const G2: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
    const G4: [[f64; 3]; 6] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    let g: &[[f64; 3]] = match tile {
        Tile::F2 => &G2,
        Tile::F4 => &G4,
    };
    let a = tile.alpha();
    // G·g: [a, 3]
    let mut gg = [[0f64; 3]; 6];
    for (i, row) in g.iter().enumerate() {
        for j in 0..3 {
            gg[i][j] = (0..3).map(|t| row[t] * k[t * 3 + j] as f64).sum();
        }
    }
    let mut u = [0f32; 36];
    for i in 0..a {
        for (j, gj) in g.iter().enumerate() {
            u[i * a + j] = (0..3).map(|t| gg[i][t] * gj[t]).sum::<f64>() as f32;
        }
    }
    u
}

/// Four f32 lanes: four adjacent tiles of a tile row, transformed together.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use std::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F4(v128);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> F4 {
            F4(f32x4_splat(0.0))
        }
        #[inline(always)]
        pub fn new(a: f32, b: f32, c: f32, d: f32) -> F4 {
            F4(f32x4(a, b, c, d))
        }
        #[inline(always)]
        pub fn splat(a: f32) -> F4 {
            F4(f32x4_splat(a))
        }
        /// The four floats at `s[0..4]`.
        #[inline(always)]
        pub fn load(s: &[f32]) -> F4 {
            assert!(s.len() >= 4);
            // SAFETY: the assert keeps the 16 bytes inside `s`; v128_load reads unaligned.
            F4(unsafe { v128_load(s.as_ptr() as *const v128) })
        }
        #[inline(always)]
        pub fn store(self, s: &mut [f32]) {
            assert!(s.len() >= 4);
            // SAFETY: the assert keeps the 16 bytes inside `s`; v128_store writes unaligned.
            unsafe { v128_store(s.as_mut_ptr() as *mut v128, self.0) }
        }
        #[inline(always)]
        pub fn lanes(self) -> [f32; 4] {
            [
                f32x4_extract_lane::<0>(self.0),
                f32x4_extract_lane::<1>(self.0),
                f32x4_extract_lane::<2>(self.0),
                f32x4_extract_lane::<3>(self.0),
            ]
        }
        #[inline(always)]
        pub fn max0(self) -> F4 {
            F4(f32x4_pmax(self.0, f32x4_splat(0.0)))
        }
        /// Rows become columns: `r[i]`'s lane j is the result's `[j]` lane i.
        #[inline(always)]
        pub fn transpose(r: [F4; 4]) -> [F4; 4] {
            let t0 = i32x4_shuffle::<0, 4, 1, 5>(r[0].0, r[1].0);
            let t1 = i32x4_shuffle::<2, 6, 3, 7>(r[0].0, r[1].0);
            let t2 = i32x4_shuffle::<0, 4, 1, 5>(r[2].0, r[3].0);
            let t3 = i32x4_shuffle::<2, 6, 3, 7>(r[2].0, r[3].0);
            [
                F4(i64x2_shuffle::<0, 2>(t0, t2)),
                F4(i64x2_shuffle::<1, 3>(t0, t2)),
                F4(i64x2_shuffle::<0, 2>(t1, t3)),
                F4(i64x2_shuffle::<1, 3>(t1, t3)),
            ]
        }
    }

    impl std::ops::Add for F4 {
        type Output = F4;
        #[inline(always)]
        fn add(self, o: F4) -> F4 {
            F4(f32x4_add(self.0, o.0))
        }
    }
    impl std::ops::Sub for F4 {
        type Output = F4;
        #[inline(always)]
        fn sub(self, o: F4) -> F4 {
            F4(f32x4_sub(self.0, o.0))
        }
    }
    impl std::ops::Mul<f32> for F4 {
        type Output = F4;
        #[inline(always)]
        fn mul(self, k: f32) -> F4 {
            F4(f32x4_mul(self.0, f32x4_splat(k)))
        }
    }
}

/// Four f32 lanes: four adjacent tiles of a tile row, transformed together.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    #[derive(Clone, Copy)]
    pub struct F4([f32; 4]);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> F4 {
            F4([0.0; 4])
        }
        #[inline(always)]
        pub fn new(a: f32, b: f32, c: f32, d: f32) -> F4 {
            F4([a, b, c, d])
        }
        #[inline(always)]
        pub fn splat(a: f32) -> F4 {
            F4([a; 4])
        }
        #[inline(always)]
        pub fn load(s: &[f32]) -> F4 {
            F4([s[0], s[1], s[2], s[3]])
        }
        #[inline(always)]
        pub fn store(self, s: &mut [f32]) {
            s[..4].copy_from_slice(&self.0);
        }
        #[inline(always)]
        pub fn lanes(self) -> [f32; 4] {
            self.0
        }
        #[inline(always)]
        pub fn max0(self) -> F4 {
            F4(self.0.map(|x| x.max(0.0)))
        }
        #[inline(always)]
        pub fn transpose(r: [F4; 4]) -> [F4; 4] {
            std::array::from_fn(|i| F4(std::array::from_fn(|j| r[j].0[i])))
        }
    }

    impl std::ops::Add for F4 {
        type Output = F4;
        #[inline(always)]
        fn add(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] + o.0[i]))
        }
    }
    impl std::ops::Sub for F4 {
        type Output = F4;
        #[inline(always)]
        fn sub(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] - o.0[i]))
        }
    }
    impl std::ops::Mul<f32> for F4 {
        type Output = F4;
        #[inline(always)]
        fn mul(self, k: f32) -> F4 {
            F4(self.0.map(|x| x * k))
        }
    }
}

pub(super) use lanes::F4;

/// Bᵀ·d for one column of an F(4×4) input tile.
#[inline(always)]
pub(super) fn bt4(d: [F4; 6]) -> [F4; 6] {
    let [d0, d1, d2, d3, d4, d5] = d;
    [
        d0 * 4.0 - d2 * 5.0 + d4,
        d4 + d3 - (d1 + d2) * 4.0,
        d4 - d3 + (d1 - d2) * 4.0,
        d4 - d2 + (d3 - d1) * 2.0,
        d4 - d2 - (d3 - d1) * 2.0,
        d1 * 4.0 - d3 * 5.0 + d5,
    ]
}

/// Bᵀ·d for one column of an F(2×2) input tile.
#[inline(always)]
pub(super) fn bt2(d: [F4; 4]) -> [F4; 4] {
    let [d0, d1, d2, d3] = d;
    [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
}

/// Aᵀ·m for one column of an F(4×4) product tile.
#[inline(always)]
pub(super) fn at4(m: [F4; 6]) -> [F4; 4] {
    let [m0, m1, m2, m3, m4, m5] = m;
    let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [m0 + s12 + s34, d12 + d34 * 2.0, s12 + s34 * 4.0, d12 + d34 * 8.0 + m5]
}

/// Aᵀ·m for one column of an F(2×2) product tile.
#[inline(always)]
pub(super) fn at2(m: [F4; 4]) -> [F4; 2] {
    let [m0, m1, m2, m3] = m;
    [m0 + m1 + m2, m1 - m2 - m3]
}
