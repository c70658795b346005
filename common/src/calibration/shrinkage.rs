//! Shrinkage of the calibrated probability toward the base rate (issue 23, SPEC §14.1): the
//! served `prob_up = base + w·(calibrated − base)`, `w ∈ [0, 1]` fitted out of sample by log
//! loss, and `w = 0` (the base rate is served) when the model shows no skill there.
//!
//! The calibrator and `w` are fitted on the same out-of-sample forecasts, so `w` is chosen on
//! *cross-fitted* calibrated probabilities: the forecasts are cut into [`CROSS_FIT_BLOCKS`]
//! chronological blocks, each block's probabilities are calibrated by a calibrator fitted on the
//! other blocks, and `w` minimises the log loss of those. A weight is kept only when its gain
//! over the base rate passes a one-parameter BIC test, `n·(LL(0) − LL(w)) > ½·ln n`; otherwise
//! `w = 0`, so a model without measurable skill answers exactly its base rate.
use super::direction::{CalibrationMethod, DirectionCalibration, MIN_CALIBRATION_SAMPLES};
use super::scores::log_loss;
use serde::{Deserialize, Serialize};

/// Chronological blocks of the cross-fit.
pub const CROSS_FIT_BLOCKS: usize = 3;
/// Step of the grid `w ∈ {0, 0.01, …, 1}`.
pub const WEIGHT_STEP: f64 = 0.01;

/// A fitted shrinkage, stored with the version (`calibration.shrinkage`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Shrinkage {
    /// The training span's share of up-moves: what a version without skill answers.
    pub base_rate: f64,
    /// `w` of `base + w·(calibrated − base)`.
    pub weight: f64,
    /// Mean log loss of the base rate on the out-of-sample forecasts.
    pub log_loss_base: f64,
    /// Mean log loss of the cross-fitted, shrunk probabilities with the weight before the
    /// skill test (equals `log_loss_base` when that weight is 0).
    pub log_loss_shrunk: f64,
    /// The weight that minimised the cross-fitted log loss, before the skill test.
    pub weight_unrestricted: f64,
    /// Out-of-sample forecasts it was fitted on.
    pub n: usize,
    /// Why the weight is 0, when it is.
    pub note: String,
}

impl Shrinkage {
    /// `base + weight·(p − base)`.
    pub fn apply(&self, calibrated: f64) -> f64 {
        self.base_rate + self.weight * (calibrated - self.base_rate)
    }

    /// Fits the weight for calibrator `method` on the raw out-of-sample probabilities `raw_prob`
    /// and their labels, shrinking toward `base_rate` (see the module docs). Never fails.
    pub fn fit(method: CalibrationMethod, raw_prob: &[f64], labels: &[i64], base_rate: f64) -> Shrinkage {
        let n = raw_prob.len().min(labels.len());
        let (raw_prob, labels) = (&raw_prob[..n], &labels[..n]);
        let base = vec![base_rate; n];
        let ll_base = log_loss(&base, labels);
        let zero = |note: String| Shrinkage {
            base_rate,
            weight: 0.0,
            log_loss_base: ll_base,
            log_loss_shrunk: ll_base,
            weight_unrestricted: 0.0,
            n,
            note,
        };
        if n < CROSS_FIT_BLOCKS * MIN_CALIBRATION_SAMPLES {
            return zero(format!(
                "{n} out-of-sample forecasts are too few to measure skill (need {}): the base rate is served",
                CROSS_FIT_BLOCKS * MIN_CALIBRATION_SAMPLES
            ));
        }
        let cross = cross_fitted(method, raw_prob, labels);
        let mut best = (0.0, ll_base);
        let steps = (1.0 / WEIGHT_STEP).round() as usize;
        for k in 1..=steps {
            let w = k as f64 * WEIGHT_STEP;
            let p: Vec<f64> = cross.iter().map(|c| base_rate + w * (c - base_rate)).collect();
            let ll = log_loss(&p, labels);
            if ll < best.1 - 1e-15 {
                best = (w, ll);
            }
        }
        let gain = n as f64 * (ll_base - best.1);
        let threshold = 0.5 * (n as f64).ln();
        if gain > threshold {
            Shrinkage {
                base_rate,
                weight: best.0,
                log_loss_base: ll_base,
                log_loss_shrunk: best.1,
                weight_unrestricted: best.0,
                n,
                note: String::new(),
            }
        } else {
            Shrinkage {
                log_loss_shrunk: best.1,
                weight_unrestricted: best.0,
                ..zero(format!(
                    "no measured skill: out of sample ({n} forecasts) the model's log loss is not clearly below the \
                     base rate's ({:.4} vs {ll_base:.4}), so the base rate {base_rate:.3} is served",
                    best.1
                ))
            }
        }
    }
}

/// Calibrated probabilities of every forecast by a calibrator fitted on the other
/// [`CROSS_FIT_BLOCKS`] − 1 chronological blocks (the raw probability where that fit fails).
pub fn cross_fitted(method: CalibrationMethod, raw_prob: &[f64], labels: &[i64]) -> Vec<f64> {
    let n = raw_prob.len();
    let mut out = raw_prob.to_vec();
    for b in 0..CROSS_FIT_BLOCKS {
        let (lo, hi) = (b * n / CROSS_FIT_BLOCKS, (b + 1) * n / CROSS_FIT_BLOCKS);
        let (p_rest, y_rest): (Vec<f64>, Vec<i64>) =
            (0..n).filter(|i| !(lo..hi).contains(i)).map(|i| (raw_prob[i], labels[i])).unzip();
        if let Ok(Some(d)) = DirectionCalibration::fit(method, &p_rest, &y_rest) {
            for i in lo..hi {
                out[i] = d.apply(raw_prob[i]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn apply_is_the_base_rate_at_zero_and_the_calibrated_probability_at_one() {
        let mut s = Shrinkage::fit(CalibrationMethod::Temperature, &[0.5; 3], &[1, 0, 1], 0.6);
        assert_eq!(s.weight, 0.0, "3 forecasts are too few");
        assert!(!s.note.is_empty());
        assert_eq!(s.apply(0.9), 0.6);
        s.weight = 1.0;
        assert_eq!(s.apply(0.9), 0.9);
        s.weight = 0.5;
        assert!((s.apply(0.9) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn skill_test_keeps_a_clear_signal_and_drops_noise() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 300;
        let signal: Vec<f64> = (0..n).map(|_| rng.random_range(0.1..0.9)).collect();
        let y: Vec<i64> = signal.iter().map(|p| i64::from(rng.random::<f64>() < *p)).collect();
        let with_skill = Shrinkage::fit(CalibrationMethod::Temperature, &signal, &y, 0.5);
        assert!(with_skill.weight > 0.5, "{with_skill:?}");
        let noise: Vec<f64> = (0..n).map(|_| rng.random_range(0.3..0.7)).collect();
        let none = Shrinkage::fit(CalibrationMethod::Temperature, &noise, &y, 0.5);
        assert_eq!(none.weight, 0.0, "{none:?}");
        assert!(none.note.contains("base rate"), "{}", none.note);
    }
}
