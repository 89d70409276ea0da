//! The classifiers taught on descriptors, in plain Rust over vectors (tested natively):
//! multinomial logistic regression (softmax) with an L2 penalty, fitted by L-BFGS from zero
//! weights (deterministic: the same examples give the same weights, bit for bit), and the
//! nearest class mean, which needs no training. Both are linear in the descriptor, so both
//! export as one Gemm. Descriptors are standardised per dimension (training mean and
//! deviation) before either sees them; the standardisation is folded into the weights, so
//! `Linear` works on raw descriptors.

use crate::predictions::{softmax, top_k, Prediction};
use crate::rng::SplitMix64;
use anyhow::{bail, ensure, Result};
use serde::{Deserialize, Serialize};

/// At most this many classes (the page offers 2 to 20; more would still train).
pub const MAX_CLASSES: usize = 1000;

/// Examples per class needed before some are held out to measure accuracy.
const MIN_FOR_HOLDOUT: usize = 5;

/// The classifier to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Method {
    /// Softmax regression with an L2 penalty, fitted by L-BFGS.
    Softmax,
    /// Nearest class mean (no training): scores are -|z - mean_c|²/2 up to a constant.
    NearestMean,
}

/// Options of `train`; every field has a default.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TrainOptions {
    pub method: Method,
    /// Weight of the L2 penalty (λ/2)·|W|² on the standardised descriptors' weights.
    pub l2: f32,
    /// L-BFGS iterations at most.
    pub max_iterations: usize,
    /// Fraction of each class's images held out to measure accuracy, when every class has
    /// at least 5 images (0: none).
    pub holdout: f32,
    /// Seed of the held-out split (the fit itself uses no randomness).
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        // λ = 0.01: a light penalty on standardised descriptors, not tuned on the images the
        // README's table reports; 300 L-BFGS iterations reach the minimum well within 1 s for
        // 20 classes of 50 images
        TrainOptions { method: Method::Softmax, l2: 0.01, max_iterations: 300, holdout: 0.2, seed: 0 }
    }
}

/// A linear classifier over raw descriptors: `scores = weights · x + bias`, probabilities
/// by softmax.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub classes: Vec<String>,
    pub dim: usize,
    /// [classes, dim], row-major.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub method: Method,
}

impl Linear {
    /// Class scores (before the softmax) of descriptor `x`.
    pub fn scores(&self, x: &[f32]) -> Vec<f32> {
        self.weights.chunks(self.dim).zip(&self.bias).map(|(w, b)| dot(w, x) + b).collect()
    }

    /// The `k` most probable classes of descriptor `x`.
    pub fn predict(&self, x: &[f32], k: usize) -> Vec<Prediction> {
        let p = softmax(&self.scores(x));
        top_k(&p, k)
            .into_iter()
            .map(|i| Prediction { index: i, label: self.classes[i].clone(), probability: p[i] })
            .collect()
    }

    fn argmax(&self, x: &[f32]) -> usize {
        let s = self.scores(x);
        (0..s.len()).fold(0, |best, i| if s[i] > s[best] { i } else { best })
    }
}

/// Accuracy on examples the classifier did not see.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldOut {
    /// Held-out descriptors (a flipped twin counts apart).
    pub examples: usize,
    pub accuracy: f32,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u32>>,
    pub seed: u64,
}

/// What a training run did. The classifier it returns is trained on every example; the
/// held-out figures come from a second fit that left them out.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub method: Method,
    pub classes: Vec<String>,
    pub examples: usize,
    /// L-BFGS iterations (0 for the nearest mean).
    pub iterations: usize,
    /// Final objective: mean cross-entropy plus the penalty (for the nearest mean, the
    /// cross-entropy of its softmax scores).
    pub loss: f32,
    pub train_accuracy: f32,
    pub held_out: Option<HeldOut>,
    pub ms: f64,
}

/// Examples by class: one descriptor each, with the image it came from (`group`: an image
/// and its mirror share one, so the held-out split never separates them).
#[derive(Clone, Debug, Default)]
pub struct Examples {
    classes: Vec<String>,
    dim: Option<usize>,
    rows: Vec<Row>,
    next_group: u32,
}

#[derive(Clone, Debug)]
struct Row {
    class: usize,
    group: u32,
    x: Vec<f32>,
}

impl Examples {
    /// Declares a class (no examples yet); an existing name is kept where it is.
    pub fn add_class(&mut self, name: &str) -> Result<usize> {
        let name = name.trim();
        ensure!(!name.is_empty(), "a class name must not be empty");
        ensure!(
            name.chars().count() <= 100,
            "class name {:?}… is longer than 100 characters",
            name.chars().take(20).collect::<String>()
        );
        if let Some(i) = self.classes.iter().position(|c| c == name) {
            return Ok(i);
        }
        ensure!(self.classes.len() < MAX_CLASSES, "at most {MAX_CLASSES} classes");
        self.classes.push(name.to_string());
        Ok(self.classes.len() - 1)
    }

    /// Adds one image's descriptors (the image, and its mirror where flips are on) to
    /// class `name`, declaring it if new. Returns the class's image count.
    pub fn add(&mut self, name: &str, descriptors: Vec<Vec<f32>>) -> Result<usize> {
        ensure!(!descriptors.is_empty(), "no descriptor to add");
        let dim = descriptors[0].len();
        ensure!(dim > 0, "a descriptor must not be empty");
        for d in &descriptors {
            if let Some(want) = self.dim {
                ensure!(d.len() == want, "features has {} numbers, but this teacher's examples have {want}", d.len());
            }
            ensure!(d.len() == dim, "descriptors of one image differ in length");
            if let Some(i) = d.iter().position(|v| !v.is_finite()) {
                bail!("features[{i}] is {}, not a finite number", d[i]);
            }
        }
        let class = self.add_class(name)?;
        self.dim = Some(dim);
        let group = self.next_group;
        self.next_group += 1;
        self.rows.extend(descriptors.into_iter().map(|x| Row { class, group, x }));
        Ok(self.images(class))
    }

    /// Removes a class and its examples (later classes move up one).
    pub fn remove_class(&mut self, name: &str) -> Result<()> {
        let Some(c) = self.classes.iter().position(|n| n == name) else { bail!("no class {name:?}") };
        self.classes.remove(c);
        self.rows.retain(|r| r.class != c);
        self.rows.iter_mut().filter(|r| r.class > c).for_each(|r| r.class -= 1);
        if self.rows.is_empty() {
            self.dim = None;
        }
        Ok(())
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn dim(&self) -> Option<usize> {
        self.dim
    }

    /// Images (not descriptors) per class, in class order.
    pub fn counts(&self) -> Vec<usize> {
        (0..self.classes.len()).map(|c| self.images(c)).collect()
    }

    fn images(&self, class: usize) -> usize {
        let mut groups: Vec<u32> = self.rows.iter().filter(|r| r.class == class).map(|r| r.group).collect();
        groups.dedup();
        groups.len()
    }

    /// Every descriptor with its class index and image, in the order added.
    pub fn rows(&self) -> impl Iterator<Item = (usize, u32, &[f32])> {
        self.rows.iter().map(|r| (r.class, r.group, r.x.as_slice()))
    }

    /// Trains `options.method` on every example, after a held-out measurement when every
    /// class has enough images. Errors name what is missing: no classes, one class, a
    /// class without examples.
    pub fn train(&self, options: &TrainOptions) -> Result<(Linear, Report)> {
        let t0 = crate::clock::now_ms();
        ensure!(!self.classes.is_empty(), "no classes to train: add examples of at least two classes");
        ensure!(
            self.classes.len() >= 2,
            "only one class ({:?}): a classifier needs at least two classes",
            self.classes[0]
        );
        let counts = self.counts();
        if let Some(c) = counts.iter().position(|&n| n == 0) {
            bail!("class {:?} has no examples: add some, or remove the class", self.classes[c]);
        }
        ensure!(options.l2.is_finite() && options.l2 >= 0.0, "l2 must be a finite number >= 0, got {}", options.l2);
        ensure!(
            (0.0..1.0).contains(&options.holdout),
            "holdout must be at least 0 and below 1, got {}",
            options.holdout
        );
        ensure!(options.max_iterations >= 1, "maxIterations must be at least 1");
        let all: Vec<usize> = (0..self.rows.len()).collect();
        let held_out = if options.holdout > 0.0 && counts.iter().all(|&n| n >= MIN_FOR_HOLDOUT) {
            let (train, test) = self.split(options.holdout, options.seed);
            let (model, _, _) = self.fit(&train, options);
            let mut confusion = vec![vec![0u32; self.classes.len()]; self.classes.len()];
            for &i in &test {
                confusion[self.rows[i].class][model.argmax(&self.rows[i].x)] += 1;
            }
            let right: u32 = (0..self.classes.len()).map(|c| confusion[c][c]).sum();
            Some(HeldOut {
                examples: test.len(),
                accuracy: right as f32 / test.len() as f32,
                confusion,
                seed: options.seed,
            })
        } else {
            None
        };
        let (model, iterations, loss) = self.fit(&all, options);
        let right = self.rows.iter().filter(|r| model.argmax(&r.x) == r.class).count();
        let report = Report {
            method: options.method,
            classes: self.classes.clone(),
            examples: self.rows.len(),
            iterations,
            loss,
            train_accuracy: right as f32 / self.rows.len() as f32,
            held_out,
            ms: crate::clock::now_ms() - t0,
        };
        Ok((model, report))
    }

    /// Splits the rows by image: per class, `fraction` of its images (at least one),
    /// chosen by a seeded shuffle, are held out.
    fn split(&self, fraction: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
        let mut rng = SplitMix64(seed);
        let mut held = std::collections::HashSet::new();
        for c in 0..self.classes.len() {
            let mut groups: Vec<u32> = self.rows.iter().filter(|r| r.class == c).map(|r| r.group).collect();
            groups.dedup();
            // Fisher-Yates
            for i in (1..groups.len()).rev() {
                groups.swap(i, (rng.next() % (i as u64 + 1)) as usize);
            }
            let n = ((groups.len() as f32 * fraction).round() as usize).clamp(1, groups.len() - 1);
            held.extend(groups[..n].iter().copied());
        }
        (0..self.rows.len()).partition(|&i| !held.contains(&self.rows[i].group))
    }

    /// Fits on the rows `idx`; returns the classifier over raw descriptors, the iterations
    /// and the final loss.
    fn fit(&self, idx: &[usize], options: &TrainOptions) -> (Linear, usize, f32) {
        let dim = self.dim.unwrap_or(0);
        let classes = self.classes.len();
        let (mean, inv_std) = standardisation(idx.iter().map(|&i| self.rows[i].x.as_slice()), dim);
        let z: Vec<Vec<f32>> = idx
            .iter()
            .map(|&i| self.rows[i].x.iter().zip(&mean).zip(&inv_std).map(|((v, m), s)| (v - m) * s).collect())
            .collect();
        let y: Vec<usize> = idx.iter().map(|&i| self.rows[i].class).collect();
        let (theta, iterations, loss) = match options.method {
            Method::Softmax => {
                let objective = |t: &[f32], g: &mut [f32]| softmax_loss(t, g, &z, &y, classes, dim, options.l2);
                lbfgs(vec![0.0; classes * (dim + 1)], objective, options.max_iterations)
            }
            Method::NearestMean => {
                let mut theta = vec![0.0f32; classes * (dim + 1)];
                let mut n = vec![0usize; classes];
                for (zi, &c) in z.iter().zip(&y) {
                    n[c] += 1;
                    theta[c * dim..(c + 1) * dim].iter_mut().zip(zi).for_each(|(t, v)| *t += v);
                }
                for c in 0..classes {
                    let row = &mut theta[c * dim..(c + 1) * dim];
                    row.iter_mut().for_each(|t| *t /= n[c].max(1) as f32);
                    theta[classes * dim + c] = -0.5 * dot(row, row);
                }
                let mut g = vec![0.0; theta.len()];
                let loss = softmax_loss(&theta, &mut g, &z, &y, classes, dim, 0.0);
                (theta, 0, loss)
            }
        };
        // fold the standardisation in: w·((x - m)·s) + b = (w·s)·x + (b - (w·s)·m)
        let mut weights = theta[..classes * dim].to_vec();
        let mut bias = theta[classes * dim..].to_vec();
        for c in 0..classes {
            let row = &mut weights[c * dim..(c + 1) * dim];
            row.iter_mut().zip(&inv_std).for_each(|(w, s)| *w *= s);
            bias[c] -= dot(row, &mean);
        }
        (Linear { classes: self.classes.clone(), dim, weights, bias, method: options.method }, iterations, loss)
    }
}

/// Per-dimension mean and 1/deviation; a constant dimension gets 1 (its weight then only
/// meets the penalty).
fn standardisation<'a>(rows: impl Iterator<Item = &'a [f32]> + Clone, dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = rows.clone().count().max(1) as f64;
    let mut mean = vec![0f64; dim];
    for r in rows.clone() {
        mean.iter_mut().zip(r).for_each(|(m, v)| *m += *v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0f64; dim];
    for r in rows {
        var.iter_mut().zip(r).zip(&mean).for_each(|((s, v), m)| *s += (*v as f64 - m).powi(2));
    }
    let inv = var.iter().map(|s| (s / n).sqrt()).map(|sd| if sd > 1e-6 { (1.0 / sd) as f32 } else { 1.0 }).collect();
    (mean.into_iter().map(|m| m as f32).collect(), inv)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Mean cross-entropy of softmax(W z + b) plus (λ/2)|W|², and its gradient into `g`.
/// `theta` is W ([classes, dim], row-major) then b ([classes]).
fn softmax_loss(theta: &[f32], g: &mut [f32], z: &[Vec<f32>], y: &[usize], classes: usize, dim: usize, l2: f32) -> f32 {
    let (w, b) = theta.split_at(classes * dim);
    g.iter_mut().for_each(|v| *v = 0.0);
    let n = z.len().max(1) as f32;
    let mut loss = 0f64;
    let mut p = vec![0f32; classes];
    for (zi, &yi) in z.iter().zip(y) {
        for c in 0..classes {
            p[c] = dot(&w[c * dim..(c + 1) * dim], zi) + b[c];
        }
        let max = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = p
            .iter_mut()
            .map(|v| {
                *v = (*v - max).exp();
                *v
            })
            .sum();
        loss -= ((p[yi] / sum).max(f32::MIN_POSITIVE)).ln() as f64;
        for c in 0..classes {
            let d = (p[c] / sum - if c == yi { 1.0 } else { 0.0 }) / n;
            g[c * dim..(c + 1) * dim].iter_mut().zip(zi).for_each(|(gv, v)| *gv += d * v);
            g[classes * dim + c] += d;
        }
    }
    let penalty: f32 = w.iter().map(|v| v * v).sum::<f32>() * 0.5 * l2;
    g[..classes * dim].iter_mut().zip(w).for_each(|(gv, v)| *gv += l2 * v);
    loss as f32 / n + penalty
}

/// Limited-memory BFGS (Nocedal & Wright, Algorithm 7.4) with a backtracking Armijo line
/// search, from `x`. Stops at `max_iterations`, when the gradient's largest entry is below
/// 1e-5, or when the objective stops decreasing. Returns (x, iterations, f(x)).
fn lbfgs(
    mut x: Vec<f32>,
    mut f: impl FnMut(&[f32], &mut [f32]) -> f32,
    max_iterations: usize,
) -> (Vec<f32>, usize, f32) {
    const MEMORY: usize = 10;
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    let mut history: std::collections::VecDeque<(Vec<f32>, Vec<f32>, f32)> = Default::default();
    let mut iterations = 0;
    let (mut x_new, mut g_new) = (vec![0.0; n], vec![0.0; n]);
    while iterations < max_iterations {
        if g.iter().all(|v| v.abs() < 1e-5) {
            break;
        }
        // two-loop recursion: d = -H g
        let mut d: Vec<f32> = g.iter().map(|v| -v).collect();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, yv, rho) in history.iter().rev() {
            let a = rho * dot(s, &d);
            d.iter_mut().zip(yv).for_each(|(di, yi)| *di -= a * yi);
            alphas.push(a);
        }
        let gamma =
            history.back().map_or(1.0 / g.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12), |(s, yv, _)| {
                dot(s, yv) / dot(yv, yv)
            });
        d.iter_mut().for_each(|v| *v *= gamma);
        for ((s, yv, rho), a) in history.iter().zip(alphas.into_iter().rev()) {
            let b = rho * dot(yv, &d);
            d.iter_mut().zip(s).for_each(|(di, si)| *di += (a - b) * si);
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // not a descent direction (rounding): restart from the gradient
            history.clear();
            d = g.iter().map(|v| -v).collect();
            slope = dot(&g, &d);
        }
        // backtracking line search
        let mut step = 1.0f32;
        let mut f_new;
        loop {
            x_new.iter_mut().zip(&x).zip(&d).for_each(|((xn, xi), di)| *xn = xi + step * di);
            f_new = f(&x_new, &mut g_new);
            if f_new <= fx + 1e-4 * step * slope || step < 1e-10 {
                break;
            }
            step *= 0.5;
        }
        iterations += 1;
        if f_new >= fx {
            break;
        }
        let s: Vec<f32> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let yv: Vec<f32> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &yv);
        if sy > 1e-10 {
            if history.len() == MEMORY {
                history.pop_front();
            }
            history.push_back((s, yv, 1.0 / sy));
        }
        let converged = (fx - f_new).abs() <= 1e-7 * fx.abs().max(1.0);
        std::mem::swap(&mut x, &mut x_new);
        std::mem::swap(&mut g, &mut g_new);
        fx = f_new;
        if converged {
            break;
        }
    }
    (x, iterations, fx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two Gaussian-ish clouds in 3-D, made by a fixed generator.
    fn clouds(per_class: usize) -> Examples {
        let mut rng = SplitMix64(7);
        let mut u = || (rng.next() >> 11) as f32 / (1u64 << 53) as f32 - 0.5;
        let mut ex = Examples::default();
        for i in 0..per_class * 2 {
            let (name, centre) = if i % 2 == 0 { ("a", [1.0, 0.0, 5.0]) } else { ("b", [-1.0, 0.5, 5.0]) };
            ex.add(name, vec![centre.iter().map(|c| c + u()).collect()]).unwrap();
        }
        ex
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let ex = clouds(4);
        let z: Vec<Vec<f32>> = ex.rows.iter().map(|r| r.x.clone()).collect();
        let y: Vec<usize> = ex.rows.iter().map(|r| r.class).collect();
        let theta: Vec<f32> = (0..8).map(|i| (i as f32 * 0.37).sin() * 0.5).collect();
        let mut g = vec![0.0; 8];
        softmax_loss(&theta, &mut g, &z, &y, 2, 3, 0.1);
        for i in 0..8 {
            let h = 1e-2;
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[i] += h;
            down[i] -= h;
            let mut scratch = vec![0.0; 8];
            let fd = (softmax_loss(&up, &mut scratch, &z, &y, 2, 3, 0.1)
                - softmax_loss(&down, &mut scratch, &z, &y, 2, 3, 0.1))
                / (2.0 * h);
            assert!((fd - g[i]).abs() < 2e-3, "d loss / d theta[{i}]: finite difference {fd}, gradient {}", g[i]);
        }
    }

    #[test]
    fn lbfgs_finds_a_quadratics_minimum() {
        // f = Σ (i+1)(x_i - i)²: minimum at x_i = i
        let (x, _, f) = lbfgs(
            vec![0.0; 6],
            |x, g| {
                let mut f = 0.0;
                for i in 0..x.len() {
                    let d = x[i] - i as f32;
                    f += (i as f32 + 1.0) * d * d;
                    g[i] = 2.0 * (i as f32 + 1.0) * d;
                }
                f
            },
            100,
        );
        for (i, v) in x.iter().enumerate() {
            assert!((v - i as f32).abs() < 1e-3, "x[{i}] = {v}");
        }
        assert!(f < 1e-6);
    }

    #[test]
    fn training_separates_two_clouds_and_is_deterministic() {
        let ex = clouds(10);
        let (model, report) = ex.train(&TrainOptions::default()).unwrap();
        assert_eq!(report.train_accuracy, 1.0);
        let held = report.held_out.as_ref().expect("10 images per class hold some out");
        assert_eq!(held.examples, 4);
        assert_eq!(held.confusion.iter().flatten().sum::<u32>(), 4);
        let (again, _) = ex.train(&TrainOptions::default()).unwrap();
        assert_eq!(model, again, "the same examples and options give the same weights");
        let other_seed = ex.train(&TrainOptions { seed: 5, ..Default::default() }).unwrap().1;
        assert_eq!(other_seed.held_out.unwrap().seed, 5);
        // the folded standardisation: a raw descriptor near a class centre is that class
        assert_eq!(model.predict(&[1.0, 0.0, 5.0], 1)[0].label, "a");
        assert_eq!(model.predict(&[-1.0, 0.5, 5.0], 1)[0].label, "b");
        let (ncm, r) = ex.train(&TrainOptions { method: Method::NearestMean, ..Default::default() }).unwrap();
        assert_eq!((r.iterations, r.train_accuracy), (0, 1.0));
        assert_eq!(ncm.predict(&[-1.0, 0.5, 5.0], 1)[0].label, "b");
    }

    #[test]
    fn the_held_out_split_keeps_an_image_and_its_mirror_together() {
        let mut ex = Examples::default();
        for i in 0..12 {
            let v = i as f32;
            ex.add(if i % 2 == 0 { "a" } else { "b" }, vec![vec![v, 1.0], vec![v, -1.0]]).unwrap();
        }
        assert_eq!(ex.counts(), vec![6, 6]);
        let (train, test) = ex.split(0.2, 3);
        let groups = |idx: &[usize]| idx.iter().map(|&i| ex.rows[i].group).collect::<std::collections::HashSet<_>>();
        assert!(groups(&train).is_disjoint(&groups(&test)));
        assert_eq!(test.len(), 4, "one image (two descriptors) per class: round(6 x 0.2)");
    }

    #[test]
    fn bad_input_is_named() {
        let err = |ex: &Examples| format!("{:#}", ex.train(&TrainOptions::default()).unwrap_err());
        let mut ex = Examples::default();
        assert!(err(&ex).contains("no classes"), "{}", err(&ex));
        ex.add("cat", vec![vec![1.0, 2.0]]).unwrap();
        assert!(err(&ex).contains("only one class (\"cat\")"), "{}", err(&ex));
        ex.add_class("dog").unwrap();
        assert!(err(&ex).contains("class \"dog\" has no examples"), "{}", err(&ex));
        let e = ex.add("dog", vec![vec![1.0, 2.0, 3.0]]).unwrap_err();
        assert!(format!("{e}").contains("features has 3 numbers, but this teacher's examples have 2"), "{e}");
        assert!(ex.add("dog", vec![vec![f32::NAN, 0.0]]).is_err());
        assert!(ex.add_class("  ").is_err());
        ex.add("dog", vec![vec![0.0, 1.0]]).unwrap();
        let e = ex.train(&TrainOptions { holdout: 1.0, ..Default::default() }).unwrap_err();
        assert!(format!("{e}").contains("holdout must be"), "{e}");
        ex.remove_class("cat").unwrap();
        assert_eq!(ex.classes(), ["dog"]);
        assert!(ex.remove_class("cat").is_err());
    }
}
