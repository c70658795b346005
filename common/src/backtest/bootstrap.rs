//! Moving-block bootstrap confidence intervals (Künsch 1989) over the pooled test days.
//!
//! Consecutive test days share 4 of their 5 target days, so days are resampled in blocks of
//! `block` (≥ 5) consecutive days: each resample concatenates blocks starting at uniformly drawn
//! positions until it has `n` days. The interval is the percentile interval of the statistic
//! over `resamples` resamples (linear interpolation between order statistics, as numpy's default).
//! Hand-written: the scheme is ~10 lines and no maintained crate implements a block bootstrap.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Shortest block allowed: the 5-day targets overlap over 5 days.
pub const MIN_BLOCK: usize = 5;

/// Settings of the bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Resamples drawn (default 1000).
    pub resamples: usize,
    /// Days per block (default 10, at least [`MIN_BLOCK`]).
    pub block: usize,
    /// Two-sided coverage of the interval (default 0.9).
    pub level: f64,
    /// RNG seed: the same seed and data give the same intervals.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig { resamples: 1000, block: 10, level: 0.9, seed: 0 }
    }
}

impl BootstrapConfig {
    /// Rejects a block shorter than [`MIN_BLOCK`], no resamples, or a level outside (0, 1).
    pub fn validate(&self) -> Result<()> {
        if self.block < MIN_BLOCK {
            return Err(Error::invalid(format!("bootstrap block {} must be at least {MIN_BLOCK} days", self.block)));
        }
        if !(10..=100_000).contains(&self.resamples) {
            return Err(Error::invalid(format!("bootstrap resamples {} must be in 10..=100000", self.resamples)));
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(Error::invalid(format!("bootstrap level {} must be in (0, 1)", self.level)));
        }
        Ok(())
    }
}

/// The day indices of one moving-block resample of `n` days.
pub fn resample_indices(n: usize, block: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let block = block.min(n).max(1);
    let mut out = Vec::with_capacity(n + block);
    while out.len() < n {
        let start = rng.random_range(0..=n - block);
        out.extend(start..start + block);
    }
    out.truncate(n);
    out
}

/// Percentile `q ∈ [0, 1]` of sorted values, linear interpolation between order statistics.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A statistic of the days at the given indices (`None` where undefined).
pub type Statistic<'a> = Box<dyn FnMut(&[usize]) -> Option<f64> + 'a>;

/// Draws the resamples once and evaluates every statistic on each; returns one `[lo, hi]`
/// interval per statistic (`None` when the statistic was undefined on more than half of the
/// resamples, e.g. a correlation of a constant prediction).
pub fn intervals(
    n: usize,
    cfg: &BootstrapConfig,
    stats: &mut [Statistic<'_>],
) -> Vec<Option<[f64; 2]>> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut values: Vec<Vec<f64>> = vec![Vec::with_capacity(cfg.resamples); stats.len()];
    if n == 0 {
        return vec![None; stats.len()];
    }
    for _ in 0..cfg.resamples {
        let idx = resample_indices(n, cfg.block, &mut rng);
        for (s, out) in stats.iter_mut().zip(values.iter_mut()) {
            if let Some(v) = s(&idx).filter(|v| v.is_finite()) {
                out.push(v);
            }
        }
    }
    let tail = (1.0 - cfg.level) / 2.0;
    values
        .into_iter()
        .map(|mut v| {
            if v.len() * 2 < cfg.resamples {
                return None;
            }
            v.sort_by(f64::total_cmp);
            Some([percentile(&v, tail), percentile(&v, 1.0 - tail)])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_consecutive_and_resamples_repeat_under_a_seed() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let idx = resample_indices(23, 5, &mut rng);
        assert_eq!(idx.len(), 23);
        for chunk in idx.chunks(5).filter(|c| c.len() == 5) {
            assert!(chunk.windows(2).all(|w| w[1] == w[0] + 1), "{chunk:?}");
        }
        let data: Vec<f64> = (0..100).map(|i| ((i * 37) % 11) as f64).collect();
        let cfg = BootstrapConfig { seed: 9, ..BootstrapConfig::default() };
        let mean_of = |idx: &[usize]| Some(idx.iter().map(|&i| data[i]).sum::<f64>() / idx.len() as f64);
        let run = || intervals(data.len(), &cfg, &mut [Box::new(mean_of)]);
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        let [lo, hi] = a[0].unwrap();
        let mean = data.iter().sum::<f64>() / 100.0;
        assert!(lo < mean && mean < hi, "{lo} {mean} {hi}");
        let other = intervals(data.len(), &BootstrapConfig { seed: 10, ..cfg }, &mut [Box::new(mean_of)]);
        assert_ne!(a, other, "another seed gives other resamples");
    }

    #[test]
    fn percentile_interpolates_and_short_blocks_are_refused() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.0), 1.0);
        let bad = BootstrapConfig { block: 4, ..BootstrapConfig::default() };
        assert!(matches!(bad.validate(), Err(Error::InvalidArgument(_))));
    }
}
