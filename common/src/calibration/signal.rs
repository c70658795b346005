//! The precision-constrained signal of seed 004 (issue 14 item 3): on the calibration data, the
//! lowest threshold `τ` in `[0.5, 0.95]` (steps of 0.01) whose precision (`prob_up ≥ τ` predicts
//! up) is at least the target with at least [`MIN_POSITIVES`] predicted positives. "Better to
//! miss 100 chances than to step into 100 holes": when no `τ` qualifies there is no signal.
use serde::{Deserialize, Serialize};

/// Default `target_precision`.
pub const DEFAULT_TARGET_PRECISION: f64 = 0.60;
/// Fewest predicted positives a threshold needs on the calibration data.
pub const MIN_POSITIVES: usize = 5;
/// Lowest threshold tried.
pub const TAU_MIN: f64 = 0.5;
/// Highest threshold tried.
pub const TAU_MAX: f64 = 0.95;
/// Step between thresholds.
pub const TAU_STEP: f64 = 0.01;

/// The threshold a version stores (also when none qualified).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct SignalThreshold {
    /// Precision asked for.
    pub target_precision: f64,
    /// The chosen `τ`; `None` = no threshold reached the target (the signal is always `NONE`).
    pub threshold: Option<f64>,
    /// Precision of `τ` on the calibration data.
    pub precision: Option<f64>,
    /// Recall of `τ` on the calibration data.
    pub recall: Option<f64>,
    /// Predicted positives of `τ` on the calibration data.
    pub positives: usize,
    /// Calibration samples searched.
    pub n: usize,
}

/// Finds the threshold of `prob` (the served probabilities) against `labels`.
pub fn precision_threshold(prob: &[f64], labels: &[i64], target_precision: f64) -> SignalThreshold {
    let n = prob.len().min(labels.len());
    let actual_up = labels[..n].iter().filter(|l| **l != 0).count();
    let steps = ((TAU_MAX - TAU_MIN) / TAU_STEP).round() as usize;
    for k in 0..=steps {
        // Rounded to 2 decimals so stored thresholds read 0.57, not 0.5700000000000001.
        let tau = ((TAU_MIN + k as f64 * TAU_STEP) * 100.0).round() / 100.0;
        let (mut tp, mut pos) = (0usize, 0usize);
        for i in 0..n {
            if prob[i] >= tau {
                pos += 1;
                if labels[i] != 0 {
                    tp += 1;
                }
            }
        }
        if pos < MIN_POSITIVES {
            // Higher thresholds only predict fewer positives.
            break;
        }
        let precision = tp as f64 / pos as f64;
        if precision >= target_precision - 1e-12 {
            return SignalThreshold {
                target_precision,
                threshold: Some(tau),
                precision: Some(precision),
                recall: Some(if actual_up == 0 { 0.0 } else { tp as f64 / actual_up as f64 }),
                positives: pos,
                n,
            };
        }
    }
    SignalThreshold { target_precision, threshold: None, precision: None, recall: None, positives: 0, n }
}

impl SignalThreshold {
    /// `true` (signal `UP`) when the version has a threshold and `prob_up ≥ τ`.
    pub fn is_up(&self, prob_up: f64) -> bool {
        self.threshold.is_some_and(|t| prob_up >= t)
    }
}
