//! Transformation robustness: each step the network sees the image shifted, scaled and
//! rotated a little at random, so that what forms is a pattern the unit responds to
//! wherever it sits, not one pixel-exact trick (Mordvintsev et al. 2015, Olah et al. 2017).
//! One bilinear affine warp about the centre; what it samples outside the image is mid
//! grey (as Lucid's constant padding), and its adjoint scatters the gradient back.

/// A warp: output pixel `p` samples the input at `centre + m · (p - centre) - shift`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warp {
    /// Inverse of scale x rotation (output to input coordinates).
    m: [[f32; 2]; 2],
    shift: [f32; 2],
}

/// Grey outside the image.
const FILL: f32 = 0.5;

impl Warp {
    pub const IDENTITY: Warp = Warp { m: [[1.0, 0.0], [0.0, 1.0]], shift: [0.0, 0.0] };

    /// `scale` (> 0), `degrees` of rotation, `shift` (y, x) in pixels.
    pub fn new(scale: f32, degrees: f32, shift: [f32; 2]) -> Warp {
        let (s, c) = degrees.to_radians().sin_cos();
        // inverse of scale * R(θ) is R(-θ) / scale
        Warp { m: [[c / scale, s / scale], [-s / scale, c / scale]], shift }
    }

    /// For output pixel (y, x) of an h x w image, its four input taps and their weights
    /// (taps outside the image have none: they read the fill).
    fn taps(&self, h: usize, w: usize, y: usize, x: usize) -> [(Option<usize>, f32); 4] {
        let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
        let (dy, dx) = (y as f32 - cy, x as f32 - cx);
        let sy = cy + self.m[0][0] * dy + self.m[0][1] * dx - self.shift[0];
        let sx = cx + self.m[1][0] * dy + self.m[1][1] * dx - self.shift[1];
        let (y0, x0) = (sy.floor(), sx.floor());
        let (fy, fx) = (sy - y0, sx - x0);
        let at = |yy: f32, xx: f32| {
            (yy >= 0.0 && xx >= 0.0 && (yy as usize) < h && (xx as usize) < w).then(|| yy as usize * w + xx as usize)
        };
        [
            (at(y0, x0), (1.0 - fy) * (1.0 - fx)),
            (at(y0, x0 + 1.0), (1.0 - fy) * fx),
            (at(y0 + 1.0, x0), fy * (1.0 - fx)),
            (at(y0 + 1.0, x0 + 1.0), fy * fx),
        ]
    }

    /// Warps each `h` x `w` plane of `img`.
    pub fn apply(&self, img: &[f32], h: usize, w: usize) -> Vec<f32> {
        if *self == Warp::IDENTITY {
            return img.to_vec();
        }
        let plane = h * w;
        let mut out = vec![0f32; img.len()];
        for y in 0..h {
            for x in 0..w {
                let taps = self.taps(h, w, y, x);
                for (src, dst) in img.chunks(plane).zip(out.chunks_mut(plane)) {
                    dst[y * w + x] = taps.iter().map(|(i, wt)| wt * i.map_or(FILL, |i| src[i])).sum();
                }
            }
        }
        out
    }

    /// The adjoint of [`Warp::apply`]: the gradient with respect to its input.
    pub fn backward(&self, grad: &[f32], h: usize, w: usize) -> Vec<f32> {
        if *self == Warp::IDENTITY {
            return grad.to_vec();
        }
        let plane = h * w;
        let mut out = vec![0f32; grad.len()];
        for y in 0..h {
            for x in 0..w {
                let taps = self.taps(h, w, y, x);
                for (g, dst) in grad.chunks(plane).zip(out.chunks_mut(plane)) {
                    for (i, wt) in taps {
                        if let Some(i) = i {
                            dst[i] += wt * g[y * w + x];
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_pixel_shift_moves_the_image_and_fills_grey() {
        let img: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let out = Warp::new(1.0, 0.0, [0.0, 1.0]).apply(&img, 3, 4);
        assert_eq!(out, vec![0.5, 0.0, 1.0, 2.0, 0.5, 4.0, 5.0, 6.0, 0.5, 8.0, 9.0, 10.0]);
    }

    #[test]
    fn backward_is_the_adjoint() {
        // <apply(x) - apply(0), g> = <x, backward(g)> for a linear map plus the fill
        let (h, w) = (5, 6);
        let warp = Warp::new(1.07, 8.0, [0.6, -1.3]);
        let x: Vec<f32> = (0..2 * h * w).map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.3).collect();
        let g: Vec<f32> = (0..2 * h * w).map(|i| ((i * 3 % 7) as f32 - 3.0) * 0.2).collect();
        let zero = warp.apply(&vec![0.0; x.len()], h, w);
        let lhs: f32 = warp.apply(&x, h, w).iter().zip(&zero).zip(&g).map(|((a, z), g)| (a - z) * g).sum();
        let rhs: f32 = x.iter().zip(warp.backward(&g, h, w)).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
    }

    #[test]
    fn the_identity_changes_nothing() {
        let img: Vec<f32> = (0..20).map(|v| v as f32 * 0.1).collect();
        assert_eq!(Warp::new(1.0, 0.0, [0.0, 0.0]).apply(&img, 4, 5), img);
    }
}
