//! Split-conformal intervals for the 5-day cumulative return (issue 11).
//!
//! On calibration samples the fit did not train on, with predicted cumulative return `ŷ`,
//! realised `y` and the window's recent volatility `σ` (raw `hv_20` of its last day, the sample
//! std of the last 20 daily returns, scaled to 5 days by `√5` and floored):
//!
//! - **normalised** (served): score `s = |y − ŷ| / σ₅`, interval `ŷ ± q·σ₅`, so intervals widen
//!   in turbulent markets;
//! - **absolute** (measured side by side): score `s = |y − ŷ|`, interval `ŷ ± q`.
//!
//! `q` for level `L` is the `⌈(n + 1)·L⌉`-th smallest of the `n` scores (the finite-sample
//! split-conformal quantile, coverage ≥ L for exchangeable data). When `⌈(n + 1)·L⌉ > n` there
//! is too little calibration data for that level and no interval exists (`None`), never a
//! made-up one.
use crate::features::{col, FORECAST_DAYS, N_FEATURES, SEQ_LEN};
use serde::{Deserialize, Serialize};

/// Interval levels served.
pub const LEVELS: [f64; 2] = [0.8, 0.95];
/// Floor of the 5-day volatility scale, as a share of the median calibration scale (a window in
/// indicator warm-up has `hv_20 = 0`).
pub const VOL_FLOOR_SHARE: f64 = 0.1;
/// Absolute floor of the 5-day volatility scale.
pub const VOL_FLOOR_MIN: f64 = 1e-4;

/// How a score is normalised.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ConformalScore {
    /// `|y − ŷ| / σ₅`.
    Normalized,
    /// `|y − ŷ|`.
    Absolute,
}

/// The quantiles of one level.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct LevelQuantiles {
    /// Nominal coverage (0.8 or 0.95).
    pub level: f64,
    /// `q` of the normalised score; `None` = too little calibration data for this level.
    pub normalized: Option<f64>,
    /// `q` of the absolute score; `None` = too little calibration data.
    pub absolute: Option<f64>,
    /// Fewest calibration samples this level needs: the smallest `n` with `⌈(n+1)·L⌉ ≤ n`.
    pub min_samples: usize,
}

/// Conformal intervals of a version.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ConformalIntervals {
    /// Calibration samples the scores came from.
    pub n_calibration: usize,
    /// Floor applied to `σ₅`.
    pub vol_floor: f64,
    /// Per level, in [`LEVELS`] order.
    pub levels: Vec<LevelQuantiles>,
    /// The normalised calibration scores, ascending: the quantile at any level, for adaptive
    /// intervals ([`super::adaptive`]). Empty for versions trained before they were stored
    /// (those serve the nominal levels).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub normalized_scores: Vec<f64>,
}

/// One interval for one forecast.
#[derive(Serialize, Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// Nominal level.
    pub level: f64,
    /// The level the bounds are computed at: the nominal one, or the adaptive level of
    /// [`super::adaptive`].
    pub effective_level: f64,
    /// Lower / upper 5-day cumulative return; `None` when the level had too little data.
    pub bounds: Option<(f64, f64)>,
}

/// `√5 · hv_20` of the window's last day (raw window `60 × 21`).
pub fn window_vol(raw_window: &[f32]) -> f64 {
    let last = (SEQ_LEN - 1) * N_FEATURES;
    raw_window.get(last + col::HV_20).map_or(0.0, |v| f64::from(*v)) * (FORECAST_DAYS as f64).sqrt()
}

/// `⌈(n + 1)·level⌉` as a 1-based rank.
fn rank(n: usize, level: f64) -> usize {
    // Subtract a hair so that exact products (e.g. 20 × 0.95 = 19) are not pushed up by rounding.
    ((n as f64 + 1.0) * level - 1e-9).ceil() as usize
}

/// The split-conformal quantile of `scores` for `level`, or `None` when `⌈(n+1)·L⌉ > n`.
pub fn conformal_quantile(scores: &[f64], level: f64) -> Option<f64> {
    let k = rank(scores.len(), level);
    if k == 0 || k > scores.len() {
        return None;
    }
    let mut s = scores.to_vec();
    s.sort_by(f64::total_cmp);
    Some(s[k - 1])
}

impl ConformalIntervals {
    /// Fits both variants for every level in [`LEVELS`] from predicted and realised cumulative
    /// returns and the calibration windows' `σ₅` ([`window_vol`]).
    pub fn fit(pred: &[f64], truth: &[f64], vol: &[f64]) -> ConformalIntervals {
        let n = pred.len().min(truth.len()).min(vol.len());
        let mut v: Vec<f64> = vol[..n].to_vec();
        v.sort_by(f64::total_cmp);
        let median = if n == 0 { 0.0 } else { v[n / 2] };
        let vol_floor = (median * VOL_FLOOR_SHARE).max(VOL_FLOOR_MIN);
        let abs: Vec<f64> = (0..n).map(|i| (truth[i] - pred[i]).abs()).collect();
        let norm: Vec<f64> = (0..n).map(|i| abs[i] / vol[i].max(vol_floor)).collect();
        let mut normalized_scores = norm.clone();
        normalized_scores.sort_by(f64::total_cmp);
        let levels = LEVELS
            .iter()
            .map(|&level| LevelQuantiles {
                level,
                normalized: conformal_quantile(&norm, level),
                absolute: conformal_quantile(&abs, level),
                min_samples: (1..).find(|&m| rank(m, level) <= m).unwrap_or(usize::MAX),
            })
            .collect();
        ConformalIntervals { n_calibration: n, vol_floor, levels, normalized_scores }
    }

    /// The normalised-score quantile at an arbitrary (adaptive) `level`, from the stored scores:
    /// the `⌈(n + 1)·level⌉`-th smallest; 0 at `level ≤ 0`; the largest score when the rank
    /// passes `n` (the widest interval the calibration data supports). `None` without stored
    /// scores.
    pub fn normalized_quantile_at(&self, level: f64) -> Option<f64> {
        let s = &self.normalized_scores;
        if s.is_empty() {
            return None;
        }
        if level <= 0.0 {
            return Some(0.0);
        }
        let k = rank(s.len(), level.min(1.0)).clamp(1, s.len());
        Some(s[k - 1])
    }

    /// The intervals of one forecast `ŷ` whose window has scale `vol` ([`window_vol`]).
    pub fn intervals(&self, score: ConformalScore, pred: f64, vol: f64) -> Vec<Interval> {
        let scale = vol.max(self.vol_floor);
        self.levels
            .iter()
            .map(|l| {
                let half = match score {
                    ConformalScore::Normalized => l.normalized.map(|q| q * scale),
                    ConformalScore::Absolute => l.absolute,
                };
                Interval { level: l.level, effective_level: l.level, bounds: half.map(|h| (pred - h, pred + h)) }
            })
            .collect()
    }

    /// The normalised intervals of `ŷ` at adaptive levels (`effective[k]` for `LEVELS[k]`). A
    /// level with too little calibration data has no interval, as [`Self::intervals`]; a version
    /// without stored scores serves its nominal levels.
    pub fn intervals_at(&self, pred: f64, vol: f64, effective: [f64; 2]) -> Vec<Interval> {
        let scale = vol.max(self.vol_floor);
        self.levels
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let adaptive = l.normalized.and(self.normalized_quantile_at(effective[k]));
                match adaptive {
                    Some(q) => Interval { level: l.level, effective_level: effective[k], bounds: Some((pred - q * scale, pred + q * scale)) },
                    None => Interval {
                        level: l.level,
                        effective_level: l.level,
                        bounds: l.normalized.map(|q| (pred - q * scale, pred + q * scale)),
                    },
                }
            })
            .collect()
    }
}

/// Share of `truth` inside the intervals of `score`/`level` (NaN when the level has no
/// quantile or the input is empty): empirical coverage, measured on the holdout.
pub fn coverage(ci: &ConformalIntervals, score: ConformalScore, level: f64, pred: &[f64], truth: &[f64], vol: &[f64]) -> f64 {
    let n = pred.len().min(truth.len()).min(vol.len());
    let mut inside = 0usize;
    for i in 0..n {
        let Some(iv) = ci.intervals(score, pred[i], vol[i]).into_iter().find(|iv| (iv.level - level).abs() < 1e-12) else {
            return f64::NAN;
        };
        let Some((lo, hi)) = iv.bounds else { return f64::NAN };
        if (lo..=hi).contains(&truth[i]) {
            inside += 1;
        }
    }
    if n == 0 {
        f64::NAN
    } else {
        inside as f64 / n as f64
    }
}
