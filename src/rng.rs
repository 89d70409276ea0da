//! SplitMix64 (Steele, Lea & Flood 2014): a tiny seeded generator, the same on every target,
//! for what must be reproducible from a seed (teaching's shuffles, a visualisation's jitter).

#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [-a, a].
    pub fn sym(&mut self, a: f32) -> f32 {
        (self.unit() * 2.0 - 1.0) * a
    }

    /// Standard normal (Box-Muller).
    pub fn gaussian(&mut self) -> f32 {
        let u = self.unit().max(1e-7);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_sequence_and_its_ranges() {
        // the first outputs of SplitMix64 from seed 0, as the reference implementation
        // (Vigna's splitmix64.c) gives them
        let mut r = SplitMix64(0);
        assert_eq!(
            [r.next(), r.next(), r.next()],
            [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]
        );
        let mut r = SplitMix64(42);
        for _ in 0..1000 {
            let (u, s) = (r.unit(), r.sym(0.5));
            assert!((0.0..1.0).contains(&u) && (-0.5..=0.5).contains(&s));
            assert!(r.gaussian().is_finite());
        }
    }
}
