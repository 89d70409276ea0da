//! The image as the optimiser sees it: coefficients of a 2-D cosine transform per channel,
//! scaled by 1/frequency, decorrelated into RGB and squashed into [0, 1] by a sigmoid.
//!
//! Pixels optimised directly fill with high-frequency patterns that excite a unit but look
//! like noise; a parametrisation in which low frequencies move as easily as high ones, and
//! colours along the directions natural images vary in, gives readable pictures (Olah,
//! Mordvintsev & Schubert, "Feature Visualization", Distill 2017). Lucid does it with a real
//! FFT; the orthonormal DCT-II used here is also a basis of frequencies, is real, and is
//! its own adjoint's inverse, so the gradient with respect to the coefficients is the
//! forward transform of the gradient with respect to the pixels.

/// ImageNet's colour correlation (the square root of its covariance, by SVD), as Lucid
/// publishes it for `to_valid_rgb(decorrelate=True)`; normalised by its largest column norm.
const COLOR_SVD_SQRT: [[f32; 3]; 3] = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];

/// An orthonormal DCT-II of length `n` as a matrix: `c[k * n + i]`.
fn dct_matrix(n: usize) -> Vec<f32> {
    let mut c = vec![0f32; n * n];
    for k in 0..n {
        let a = if k == 0 { (1.0 / n as f64).sqrt() } else { (2.0 / n as f64).sqrt() };
        for i in 0..n {
            c[k * n + i] = (a * (std::f64::consts::PI * (i as f64 + 0.5) * k as f64 / n as f64).cos()) as f32;
        }
    }
    c
}

/// `out[r][j] = sum_i m[r][i] * t[j][i]`, i.e. `m · tᵀ` for row-major `m` (rows x n) and
/// `t` (cols x n).
fn mul_transposed(m: &[f32], t: &[f32], rows: usize, cols: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    for r in 0..rows {
        let mr = &m[r * n..(r + 1) * n];
        for j in 0..cols {
            out[r * cols + j] = mr.iter().zip(&t[j * n..(j + 1) * n]).map(|(a, b)| a * b).sum();
        }
    }
    out
}

fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// The map from coefficients to an image of `channels` x `h` x `w` in [0, 1], and back
/// for gradients.
pub struct Param {
    pub channels: usize,
    pub h: usize,
    pub w: usize,
    dct_h: Vec<f32>,
    dct_w: Vec<f32>,
    dct_h_t: Vec<f32>,
    dct_w_t: Vec<f32>,
    /// 1/frequency per coefficient (`h` x `w`), frequency in cycles per pixel, floored at
    /// one cycle per image.
    scale: Vec<f32>,
    color: [[f32; 3]; 3],
}

impl Param {
    pub fn new(channels: usize, h: usize, w: usize) -> Param {
        let mut scale = vec![0f32; h * w];
        let floor = 1.0 / h.max(w) as f32;
        for ky in 0..h {
            for kx in 0..w {
                // DCT-II index k is k / (2n) cycles per pixel
                let (fy, fx) = (ky as f32 / (2 * h) as f32, kx as f32 / (2 * w) as f32);
                scale[ky * w + kx] = 1.0 / (fy * fy + fx * fx).sqrt().max(floor);
            }
        }
        // normalised as Lucid does, by the largest column norm
        let norm = (0..3)
            .map(|j| (0..3).map(|i| COLOR_SVD_SQRT[i][j] * COLOR_SVD_SQRT[i][j]).sum::<f32>().sqrt())
            .fold(0f32, f32::max);
        let color = COLOR_SVD_SQRT.map(|row| row.map(|v| v / norm));
        let (dct_h, dct_w) = (dct_matrix(h), dct_matrix(w));
        let (dct_h_t, dct_w_t) = (transpose(&dct_h, h, h), transpose(&dct_w, w, w));
        Param { channels, h, w, dct_h, dct_w, dct_h_t, dct_w_t, scale, color }
    }

    /// Coefficients per channel (`h` x `w` each) to pre-sigmoid values per channel: the
    /// inverse DCT of the scaled coefficients, then (three channels) the colour map.
    fn spatial(&self, coeffs: &[f32]) -> Vec<f32> {
        let (h, w) = (self.h, self.w);
        let mut out = Vec::with_capacity(coeffs.len());
        for ch in coeffs.chunks(h * w) {
            let scaled: Vec<f32> = ch.iter().zip(&self.scale).map(|(c, s)| c * s).collect();
            // x = Chᵀ · S · Cw: rows first (S · Cw = (Cwᵀ Sᵀ)ᵀ), then columns
            let rows = mul_transposed(&scaled, &self.dct_w_t, h, w, w);
            let full = mul_transposed(&self.dct_h_t, &transpose(&rows, h, w), h, w, h);
            out.extend(full);
        }
        if self.channels == 3 {
            let plane = h * w;
            for p in 0..plane {
                let t = [out[p], out[plane + p], out[2 * plane + p]];
                for (i, row) in self.color.iter().enumerate() {
                    out[i * plane + p] = row[0] * t[0] + row[1] * t[1] + row[2] * t[2];
                }
            }
        }
        out
    }

    /// The image in [0, 1], `channels` x `h` x `w`.
    pub fn image(&self, coeffs: &[f32]) -> Vec<f32> {
        self.spatial(coeffs).into_iter().map(sigmoid).collect()
    }

    /// The gradient with respect to the coefficients of a loss whose gradient with respect
    /// to `image(coeffs)` is `grad` (the adjoint of each step, in reverse order).
    pub fn backward(&self, coeffs: &[f32], grad: &[f32]) -> Vec<f32> {
        let (h, w) = (self.h, self.w);
        let plane = h * w;
        let img = self.image(coeffs);
        let mut g: Vec<f32> = grad.iter().zip(&img).map(|(g, y)| g * y * (1.0 - y)).collect();
        if self.channels == 3 {
            for p in 0..plane {
                let d = [g[p], g[plane + p], g[2 * plane + p]];
                for j in 0..3 {
                    g[j * plane + p] = (0..3).map(|i| self.color[i][j] * d[i]).sum();
                }
            }
        }
        let mut out = Vec::with_capacity(g.len());
        for ch in g.chunks(plane) {
            // the adjoint of x = Chᵀ S Cw is S = Ch x Cwᵀ, then the 1/f scale
            let rows = mul_transposed(ch, &self.dct_w, h, w, w);
            let full = mul_transposed(&self.dct_h, &transpose(&rows, h, w), h, w, h);
            out.extend(full.iter().zip(&self.scale).map(|(v, s)| v * s));
        }
        out
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dct_is_orthonormal() {
        let n = 7;
        let c = dct_matrix(n);
        let id = mul_transposed(&c, &c, n, n, n);
        for r in 0..n {
            for k in 0..n {
                assert!((id[r * n + k] - (r == k) as i32 as f32).abs() < 1e-5, "{r} {k}: {}", id[r * n + k]);
            }
        }
    }

    /// The backward pass against finite differences of a weighted sum of the image.
    fn check_gradient(channels: usize, h: usize, w: usize) {
        let p = Param::new(channels, h, w);
        let n = channels * h * w;
        let coeffs: Vec<f32> = (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.02).collect();
        let weights: Vec<f32> = (0..n).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.5).collect();
        let loss = |c: &[f32]| -> f64 { p.image(c).iter().zip(&weights).map(|(a, b)| (a * b) as f64).sum() };
        let g = p.backward(&coeffs, &weights);
        for i in [0, 1, w + 2, n / 2, n - 1] {
            let e = 1e-2;
            let (mut up, mut down) = (coeffs.clone(), coeffs.clone());
            up[i] += e;
            down[i] -= e;
            let fd = (loss(&up) - loss(&down)) / (2.0 * e as f64);
            assert!((fd - g[i] as f64).abs() < 2e-3 * (1.0 + fd.abs()), "coefficient {i}: {fd} vs {}", g[i]);
        }
    }

    #[test]
    fn gradients_match_finite_differences_in_colour_and_grey() {
        check_gradient(3, 6, 5);
        check_gradient(1, 4, 9);
    }

    #[test]
    fn zero_coefficients_are_mid_grey() {
        let p = Param::new(3, 4, 4);
        assert!(p.image(&[0.0; 48]).iter().all(|v| (v - 0.5).abs() < 1e-6));
    }
}
