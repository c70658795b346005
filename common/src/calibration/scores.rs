//! Probability scores of SPEC §13.1 (same definitions as the walk-forward report): hit rate,
//! Brier, log loss, ECE over 10 equal-width bins, ROC AUC.
use serde::{Deserialize, Serialize};

/// Probabilities are clipped to `[EPS, 1 − EPS]` inside [`log_loss`] and when turned into logits.
pub const EPS: f64 = 1e-7;
/// Bins of [`ece`].
pub const ECE_BINS: usize = 10;

/// Brier, log loss and ECE of one set of probabilities against its labels.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct ProbabilityScores {
    /// Mean `(p − y)²`.
    pub brier: f64,
    /// Mean `−[y·ln p + (1 − y)·ln(1 − p)]`, `p` clipped to `[1e-7, 1 − 1e-7]`.
    pub log_loss: f64,
    /// Expected calibration error over 10 equal-width bins of `p`.
    pub ece: f64,
    /// Samples scored.
    pub n: usize,
}

impl ProbabilityScores {
    /// Scores `prob` against `labels` (non-zero label = up); empty input gives NaN scores.
    pub fn of(prob: &[f64], labels: &[i64]) -> ProbabilityScores {
        ProbabilityScores { brier: brier(prob, labels), log_loss: log_loss(prob, labels), ece: ece(prob, labels), n: prob.len() }
    }
}

fn y(label: i64) -> f64 {
    if label != 0 {
        1.0
    } else {
        0.0
    }
}

/// Mean `(p − y)²` (NaN when empty).
pub fn brier(prob: &[f64], labels: &[i64]) -> f64 {
    mean(prob.iter().zip(labels).map(|(p, l)| (p - y(*l)).powi(2)), prob.len())
}

/// Mean binary cross-entropy with `p` clipped to `[EPS, 1 − EPS]` (NaN when empty).
pub fn log_loss(prob: &[f64], labels: &[i64]) -> f64 {
    mean(
        prob.iter().zip(labels).map(|(p, l)| {
            let p = p.clamp(EPS, 1.0 - EPS);
            -(y(*l) * p.ln() + (1.0 - y(*l)) * (1.0 - p).ln())
        }),
        prob.len(),
    )
}

/// Expected calibration error: `Σ_b (n_b / n)·|mean(p in b) − mean(y in b)|` over
/// [`ECE_BINS`] equal-width bins of `p` (`p = 1` falls in the last bin). NaN when empty.
pub fn ece(prob: &[f64], labels: &[i64]) -> f64 {
    let n = prob.len();
    if n == 0 {
        return f64::NAN;
    }
    let mut sum_p = [0.0; ECE_BINS];
    let mut sum_y = [0.0; ECE_BINS];
    let mut count = [0usize; ECE_BINS];
    for (p, l) in prob.iter().zip(labels) {
        let b = ((p * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        sum_p[b] += p;
        sum_y[b] += y(*l);
        count[b] += 1;
    }
    (0..ECE_BINS)
        .filter(|b| count[*b] > 0)
        .map(|b| (sum_p[b] - sum_y[b]).abs() / n as f64)
        .sum()
}

/// Share of samples where `p ≥ 0.5` agrees with the label (NaN when empty).
pub fn hit_rate(prob: &[f64], labels: &[i64]) -> f64 {
    mean(prob.iter().zip(labels).map(|(p, l)| f64::from(u8::from((*p >= 0.5) == (*l != 0)))), prob.len())
}

fn mean(values: impl Iterator<Item = f64>, n: usize) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    values.sum::<f64>() / n as f64
}

/// `ln(p / (1 − p))` with `p` clipped to `[EPS, 1 − EPS]`: the direction head's logit margin
/// `logit_up − logit_down` recovered from its softmax.
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(EPS, 1.0 - EPS);
    (p / (1.0 - p)).ln()
}

/// `1 / (1 + e^(−z))`.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}
