//! What a unit wants to see: an image made by gradient ascent on the input to maximise a
//! class score (Simonyan, Vedaldi & Zisserman 2013, "Deep Inside Convolutional Networks")
//! or a channel's mean activation (Erhan et al. 2009; Olah et al. 2017), with the
//! regularisers that make such images readable (Lucid's recipe): a decorrelated, 1/f-scaled
//! parametrisation (`param`), a small random warp each step (`warp`), L2 and
//! total-variation penalties, and Adam.
//!
//! Pure: the model's gradient comes in as a function, so the optimisation is tested here
//! on functions whose gradients are known, and `pipeline::visualize` supplies the network.

pub mod param;
pub mod warp;

use crate::rng::SplitMix64;
use anyhow::{ensure, Result};
use param::Param;
use serde::Deserialize;
use warp::Warp;

/// What to maximise.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// The unnormalised score of a class (the input of the softmax), as in the 2013 paper.
    Class(usize),
    /// The mean over the map of a channel's pre-activation (before its ReLU, so that the
    /// gradient flows also where the unit is off).
    Channel { layer: String, channel: usize },
    /// One unit's pre-activation.
    Unit { layer: String, channel: usize, y: usize, x: usize },
}

/// `options.target` of `visualize`: `{ class }`, `{ layer, channel }` or
/// `{ layer, channel, unit: [y, x] }`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    pub class: Option<u32>,
    pub layer: Option<String>,
    pub channel: Option<u32>,
    pub unit: Option<[u32; 2]>,
}

impl TargetOptions {
    pub fn target(&self) -> Result<Target> {
        match (self.class, &self.layer) {
            (Some(_), Some(_)) => anyhow::bail!("target: give either class or layer, not both"),
            (Some(c), None) => {
                ensure!(self.channel.is_none() && self.unit.is_none(), "target: channel and unit go with a layer");
                Ok(Target::Class(c as usize))
            }
            (None, Some(layer)) => {
                let Some(channel) = self.channel else { anyhow::bail!("target: layer '{layer}' needs a channel") };
                let channel = channel as usize;
                Ok(match self.unit {
                    Some([y, x]) => Target::Unit { layer: layer.clone(), channel, y: y as usize, x: x as usize },
                    None => Target::Channel { layer: layer.clone(), channel },
                })
            }
            (None, None) => anyhow::bail!("target: give a class ({{ class: 3 }}) or a layer and channel"),
        }
    }
}

/// `visualize`'s options. Defaults: the model's input size (128 for a model of any size),
/// 64 steps, seed 0, Adam at 0.05, L2 0.0005 and total variation 0.0005 (per pixel, against
/// an objective normalised to its first value), a warp of ±size/16 px, ±5° and ±5 %.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VisualizeOptions {
    pub target: Option<TargetOptions>,
    /// Height and width of the image, for a model that takes any size.
    pub size: Option<u32>,
    pub steps: Option<u32>,
    pub seed: Option<u32>,
    pub learning_rate: Option<f32>,
    pub l2: Option<f32>,
    pub tv: Option<f32>,
    /// Largest random shift per step, pixels.
    pub jitter: Option<u32>,
    /// Largest random rotation per step, degrees.
    pub rotate: Option<f32>,
    /// Largest random zoom per step (0.05: 95 % to 105 %).
    pub scale: Option<f32>,
}

/// The settings of one optimisation, checked.
#[derive(Clone, Debug)]
pub struct Settings {
    pub steps: usize,
    pub seed: u64,
    pub learning_rate: f32,
    pub l2: f32,
    pub tv: f32,
    pub jitter: usize,
    pub rotate: f32,
    pub scale: f32,
}

/// Most steps one optimisation may ask for.
pub const MAX_STEPS: u32 = 10_000;

impl VisualizeOptions {
    /// The settings for an image of `size` pixels a side.
    pub fn settings(&self, size: usize) -> Result<Settings> {
        let steps = self.steps.unwrap_or(64);
        ensure!((1..=MAX_STEPS).contains(&steps), "steps must be 1 to {MAX_STEPS}, got {steps}");
        let nonneg = |name: &str, v: Option<f32>, default: f32, max: f32| -> Result<f32> {
            let v = v.unwrap_or(default);
            ensure!(v.is_finite() && (0.0..=max).contains(&v), "{name} must be 0 to {max}, got {v}");
            Ok(v)
        };
        let learning_rate = nonneg("learningRate", self.learning_rate, 0.05, 10.0)?;
        ensure!(learning_rate > 0.0, "learningRate must be more than 0");
        let jitter = self.jitter.map_or((size / 16).max(1), |j| j as usize);
        ensure!(jitter < size.max(1), "jitter must be less than the image size {size}, got {jitter}");
        Ok(Settings {
            steps: steps as usize,
            seed: self.seed.unwrap_or(0) as u64,
            learning_rate,
            l2: nonneg("l2", self.l2, 0.0005, 1.0)?,
            tv: nonneg("tv", self.tv, 0.0005, 1.0)?,
            jitter,
            rotate: nonneg("rotate", self.rotate, 5.0, 45.0)?,
            scale: nonneg("scale", self.scale, 0.05, 0.5)?,
        })
    }
}

/// One optimisation in progress: the image's coefficients and Adam's moments.
pub struct Visualization {
    pub target: Target,
    pub settings: Settings,
    param: Param,
    coeffs: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    rng: SplitMix64,
    /// Steps taken.
    pub step: usize,
    /// The objective's first value, the scale the penalties are weighed against.
    scale: Option<f32>,
}

impl Visualization {
    /// Starts from a faint random image (coefficients N(0, 0.01²)), the same for a seed.
    pub fn new(target: Target, channels: usize, [h, w]: [usize; 2], settings: Settings) -> Visualization {
        let mut rng = SplitMix64(settings.seed ^ 0x5EED);
        let n = channels * h * w;
        let coeffs = (0..n).map(|_| rng.gaussian() * 0.01).collect();
        Visualization {
            target,
            settings,
            param: Param::new(channels, h, w),
            coeffs,
            m: vec![0.0; n],
            v: vec![0.0; n],
            rng,
            step: 0,
            scale: None,
        }
    }

    pub fn done(&self) -> bool {
        self.step >= self.settings.steps
    }

    /// Channels, height and width of the image.
    pub fn dims(&self) -> [usize; 3] {
        [self.param.channels, self.param.h, self.param.w]
    }

    /// The image now, channels x h x w in [0, 1].
    pub fn image(&self) -> Vec<f32> {
        self.param.image(&self.coeffs)
    }

    /// The image now as straight RGBA (grey for one channel).
    pub fn rgba(&self) -> Vec<u8> {
        let img = self.image();
        let plane = self.param.h * self.param.w;
        let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let mut out = Vec::with_capacity(plane * 4);
        for p in 0..plane {
            let c = |i: usize| byte(img[(i % self.param.channels) * plane + p]);
            out.extend([c(0), c(1), c(2), 255]);
        }
        out
    }

    /// One step of gradient ascent. `objective` takes the warped image (channels x h x w in
    /// [0, 1]) and returns the objective's value and its gradient with respect to that
    /// image. Returns the value.
    pub fn step(&mut self, mut objective: impl FnMut(&[f32]) -> Result<(f32, Vec<f32>)>) -> Result<f32> {
        let [c, h, w] = self.dims();
        let s = &self.settings;
        let j = s.jitter as f32;
        let warp = Warp::new(
            1.0 + self.rng.sym(s.scale),
            self.rng.sym(s.rotate),
            [self.rng.sym(j).round(), self.rng.sym(j).round()],
        );
        let img = self.image();
        let (value, grad) = objective(&warp.apply(&img, h, w))?;
        ensure!(grad.len() == c * h * w, "the objective's gradient has {} values for {} pixels", grad.len(), c * h * w);
        ensure!(value.is_finite() && grad.iter().all(|g| g.is_finite()), "the objective is not finite ({value})");
        // penalties per pixel, against the objective's first size, so that the same
        // weights suit a class score of 20 and a channel mean of 300
        let scale = *self.scale.get_or_insert(value.abs().max(1e-3));
        let mut g = warp.backward(&grad, h, w);
        let (l2, tv) = (2.0 * s.l2 * scale, 2.0 * s.tv * scale);
        for (ch_g, ch) in g.chunks_mut(h * w).zip(img.chunks(h * w)) {
            for y in 0..h {
                for x in 0..w {
                    let i = y * w + x;
                    let mut d = l2 * (ch[i] - 0.5);
                    // squared differences with the right and lower neighbours
                    if x + 1 < w {
                        d += tv * (ch[i] - ch[i + 1]);
                    }
                    if x > 0 {
                        d += tv * (ch[i] - ch[i - 1]);
                    }
                    if y + 1 < h {
                        d += tv * (ch[i] - ch[i + w]);
                    }
                    if y > 0 {
                        d += tv * (ch[i] - ch[i - w]);
                    }
                    ch_g[i] -= d;
                }
            }
        }
        let gc = self.param.backward(&self.coeffs, &g);
        // Adam, ascending
        self.step += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let (c1, c2) = (1.0 - b1.powi(self.step as i32), 1.0 - b2.powi(self.step as i32));
        for (((x, m), v), g) in self.coeffs.iter_mut().zip(&mut self.m).zip(&mut self.v).zip(&gc) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *x += s.learning_rate * (*m / c1) / ((*v / c2).sqrt() + eps);
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(steps: usize, seed: u64) -> Settings {
        VisualizeOptions { steps: Some(steps as u32), seed: Some(seed as u32), ..Default::default() }
            .settings(16)
            .unwrap()
    }

    /// A linear "unit" that wants red on the left half and blue on the right: the image
    /// should come to show it.
    #[test]
    fn ascent_finds_what_a_linear_unit_wants() {
        let (h, w) = (16, 16);
        let want: Vec<f32> = (0..3 * h * w)
            .map(|i| {
                let (c, x) = (i / (h * w), i % w);
                match (c, x < w / 2) {
                    (0, true) | (2, false) => 1.0,
                    _ => -1.0,
                }
            })
            .collect();
        let mut v = Visualization::new(Target::Class(0), 3, [h, w], settings(60, 1));
        let score = |img: &[f32]| img.iter().zip(&want).map(|(a, b)| a * b).sum::<f32>();
        let first = score(&v.image());
        while !v.done() {
            v.step(|img| Ok((score(img), want.clone()))).unwrap();
        }
        let img = v.image();
        let last = score(&img);
        assert!(last > first + 150.0 && last > 0.0, "score {first} -> {last}");
        let at = |c: usize, y: usize, x: usize| img[(c * h + y) * w + x];
        assert!(at(0, 8, 3) > at(2, 8, 3) && at(2, 8, 12) > at(0, 8, 12), "red left, blue right");
    }

    #[test]
    fn the_same_seed_gives_the_same_image_and_another_seed_another() {
        let run = |seed| {
            let mut v = Visualization::new(Target::Class(0), 1, [12, 12], settings(5, seed));
            while !v.done() {
                v.step(|img| Ok((img.iter().sum(), vec![1.0; img.len()]))).unwrap();
            }
            v.rgba()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn bad_options_and_targets_are_named() {
        let err = |o: VisualizeOptions| o.settings(32).unwrap_err().to_string();
        assert!(err(VisualizeOptions { steps: Some(0), ..Default::default() }).contains("steps must be 1 to"));
        assert!(err(VisualizeOptions { learning_rate: Some(f32::NAN), ..Default::default() }).contains("learningRate"));
        assert!(err(VisualizeOptions { jitter: Some(40), ..Default::default() }).contains("jitter"));
        assert!(err(VisualizeOptions { l2: Some(-1.0), ..Default::default() }).contains("l2 must be"));
        let t = |t: TargetOptions| t.target().map_err(|e| e.to_string());
        assert!(t(TargetOptions::default()).unwrap_err().contains("give a class"));
        assert!(t(TargetOptions { layer: Some("conv1_1".into()), ..Default::default() })
            .unwrap_err()
            .contains("needs a channel"));
        assert!(t(TargetOptions { class: Some(1), layer: Some("x".into()), ..Default::default() })
            .unwrap_err()
            .contains("not both"));
        assert_eq!(
            t(TargetOptions { layer: Some("c".into()), channel: Some(2), unit: Some([3, 4]), ..Default::default() }),
            Ok(Target::Unit { layer: "c".into(), channel: 2, y: 3, x: 4 })
        );
    }

    #[test]
    fn a_gradient_of_the_wrong_size_or_nan_is_an_error() {
        let mut v = Visualization::new(Target::Class(0), 1, [8, 8], settings(3, 0));
        assert!(v.step(|_| Ok((1.0, vec![0.0; 3]))).unwrap_err().to_string().contains("3 values for 64"));
        assert!(v.step(|_| Ok((f32::NAN, vec![0.0; 64]))).unwrap_err().to_string().contains("not finite"));
    }
}
