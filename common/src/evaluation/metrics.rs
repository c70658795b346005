//! Holdout metrics of SPEC §6 ("Post-training validation"): accuracy, F1, MSE, MAE, RMSE,
//! direction accuracy and ROC AUC of a model on the held-out samples.
//!
//! [`auc`] is the one ROC AUC of the workspace (CV search objective, holdout, backtest).

use serde::{Deserialize, Serialize};

use crate::features::FORECAST_DAYS;
use crate::{Error, Result};

/// Classification threshold on `prob_up`: a sample is predicted "up" (class 1) iff
/// `prob_up > UP_THRESHOLD`.
pub const UP_THRESHOLD: f64 = 0.5;

/// Metrics of one model on the holdout samples.
///
/// Magnitude errors are in fractional returns (0.012 = +1.2 %), so `mse` is typically of the
/// order of 1e-4 for daily stock returns.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HoldoutMetrics {
    /// Share of samples whose predicted class (`prob_up > 0.5`) equals `y_dir`.
    pub accuracy: f64,
    /// F1 score of class 1 ("up"), sklearn's default binary F1; 0 when undefined (see
    /// [`holdout_metrics`]).
    pub f1: f64,
    /// Mean squared error over all `5 × n` daily magnitudes.
    pub mse: f64,
    /// Mean absolute error over all `5 × n` daily magnitudes.
    pub mae: f64,
    /// Square root of `mse`.
    pub rmse: f64,
    /// Share of samples where the sign of the summed predicted magnitudes equals the sign of the
    /// summed true magnitudes.
    pub direction_accuracy: f64,
    /// Samples the metrics were computed on; 0 means "no holdout" and every metric is 0.
    pub n_samples: usize,
}

impl HoldoutMetrics {
    /// Metrics of an empty holdout: every value 0 and `n_samples == 0`.
    pub fn empty() -> Self {
        HoldoutMetrics {
            accuracy: 0.0,
            f1: 0.0,
            mse: 0.0,
            mae: 0.0,
            rmse: 0.0,
            direction_accuracy: 0.0,
            n_samples: 0,
        }
    }

    /// True when every metric is a finite number.
    pub fn is_finite(&self) -> bool {
        [self.accuracy, self.f1, self.mse, self.mae, self.rmse, self.direction_accuracy]
            .iter()
            .all(|v| v.is_finite())
    }
}

/// Holdout metrics of SPEC §6, checking the inputs.
///
/// * class = `prob_up > 0.5`; `accuracy` = share of classes equal to `y_dir` (1 = up, 0 = down;
///   any non-zero label counts as "up").
/// * `f1` = F1 of class 1 = `2·tp / (2·tp + fp + fn)`, exactly sklearn's
///   `f1_score(y_true, y_pred)` (binary, `pos_label=1`). When it is undefined (no positive
///   prediction and no positive label, so `2·tp + fp + fn = 0`) it is **0.0**, which is what
///   sklearn returns there with its default `zero_division="warn"`.
/// * `mse`, `mae`, `rmse` over all `5 × n` magnitudes (fractional returns).
/// * `direction_accuracy` = mean of `sign(Σ pred_mag[i]) == sign(Σ y_mag[i])` with
///   `sign(0) = 0`.
///
/// Errors with [`Error::InvalidArgument`] when the four slices differ in length, are empty, or
/// contain a non-finite value.
pub fn try_holdout_metrics(
    prob_up: &[f64],
    pred_mag: &[[f64; FORECAST_DAYS]],
    y_dir: &[i64],
    y_mag: &[[f32; FORECAST_DAYS]],
) -> Result<HoldoutMetrics> {
    let n = prob_up.len();
    if pred_mag.len() != n || y_dir.len() != n || y_mag.len() != n {
        return Err(Error::invalid(format!(
            "holdout inputs differ in length: prob_up {n}, pred_mag {}, y_dir {}, y_mag {}; \
             pass one entry per holdout sample in each",
            pred_mag.len(),
            y_dir.len(),
            y_mag.len()
        )));
    }
    if n == 0 {
        return Err(Error::invalid("holdout is empty: need at least one sample to evaluate"));
    }
    if let Some(i) = prob_up.iter().position(|p| !p.is_finite()) {
        return Err(Error::invalid(format!("prob_up[{i}] is not finite ({})", prob_up[i])));
    }
    if let Some(i) = pred_mag.iter().position(|r| r.iter().any(|v| !v.is_finite())) {
        return Err(Error::invalid(format!("pred_mag[{i}] has a non-finite value: {:?}", pred_mag[i])));
    }
    if let Some(i) = y_mag.iter().position(|r| r.iter().any(|v| !v.is_finite())) {
        return Err(Error::invalid(format!("y_mag[{i}] has a non-finite value: {:?}", y_mag[i])));
    }
    Ok(compute(prob_up, pred_mag, y_dir, y_mag))
}

/// Holdout metrics of SPEC §6 (definitions in [`try_holdout_metrics`]).
///
/// Never panics: on invalid input (lengths differ, empty, non-finite values) it logs a warning
/// and evaluates the common prefix of the slices, skipping nothing else; when that prefix is
/// empty it returns [`HoldoutMetrics::empty`] (`n_samples == 0`). Non-finite predictions yield
/// non-finite metrics, which [`super::deploy_decision`] refuses to deploy. Use
/// [`try_holdout_metrics`] to get an error instead.
pub fn holdout_metrics(
    prob_up: &[f64],
    pred_mag: &[[f64; FORECAST_DAYS]],
    y_dir: &[i64],
    y_mag: &[[f32; FORECAST_DAYS]],
) -> HoldoutMetrics {
    let n = prob_up.len().min(pred_mag.len()).min(y_dir.len()).min(y_mag.len());
    if n != prob_up.len() || n != pred_mag.len() || n != y_dir.len() || n != y_mag.len() {
        tracing::warn!(
            prob_up = prob_up.len(),
            pred_mag = pred_mag.len(),
            y_dir = y_dir.len(),
            y_mag = y_mag.len(),
            "holdout inputs differ in length; evaluating the first {n} samples"
        );
    }
    if n == 0 {
        return HoldoutMetrics::empty();
    }
    compute(&prob_up[..n], &pred_mag[..n], &y_dir[..n], &y_mag[..n])
}

fn sign(v: f64) -> i8 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

/// The metrics over equal-length, non-empty slices.
fn compute(
    prob_up: &[f64],
    pred_mag: &[[f64; FORECAST_DAYS]],
    y_dir: &[i64],
    y_mag: &[[f32; FORECAST_DAYS]],
) -> HoldoutMetrics {
    let n = prob_up.len();
    let (mut tp, mut fp, mut fn_, mut correct) = (0usize, 0usize, 0usize, 0usize);
    for (&p, &y) in prob_up.iter().zip(y_dir) {
        let pred_up = p > UP_THRESHOLD;
        let true_up = y != 0;
        match (pred_up, true_up) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
        if pred_up == true_up {
            correct += 1;
        }
    }
    let f1_den = 2 * tp + fp + fn_;
    let f1 = if f1_den == 0 { 0.0 } else { (2 * tp) as f64 / f1_den as f64 };

    let (mut se, mut ae, mut dir_ok) = (0.0f64, 0.0f64, 0usize);
    for (p, t) in pred_mag.iter().zip(y_mag) {
        let (mut sp, mut st) = (0.0f64, 0.0f64);
        for k in 0..FORECAST_DAYS {
            let tv = f64::from(t[k]);
            let d = p[k] - tv;
            se += d * d;
            ae += d.abs();
            sp += p[k];
            st += tv;
        }
        if sign(sp) == sign(st) {
            dir_ok += 1;
        }
    }
    let count = (n * FORECAST_DAYS) as f64;
    let mse = se / count;
    HoldoutMetrics {
        accuracy: correct as f64 / n as f64,
        f1,
        mse,
        mae: ae / count,
        rmse: mse.sqrt(),
        direction_accuracy: dir_ok as f64 / n as f64,
        n_samples: n,
    }
}

/// ROC AUC of `scores` against binary `labels` (any non-zero label counts as positive), by the
/// rank formula (Mann–Whitney U): `(R₊ − n₊(n₊+1)/2) / (n₊·n₋)` where `R₊` is the sum of the
/// positives' ranks and tied scores share their average rank, so a tie between a positive and
/// a negative counts ½ — the same number as sklearn's `roc_auc_score`.
///
/// `None` when AUC is undefined: the slices differ in length, are empty, hold only one class,
/// or a score is not finite.
pub fn auc(scores: &[f64], labels: &[i64]) -> Option<f64> {
    if scores.len() != labels.len() || scores.iter().any(|s| !s.is_finite()) {
        return None;
    }
    let n_pos = labels.iter().filter(|&&y| y != 0).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut pos_rank_sum = 0.0f64;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // 1-based ranks start+1 ..= end share their mean.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let pos_in_group = order[start..end].iter().filter(|&&i| labels[i] != 0).count();
        pos_rank_sum += mean_rank * pos_in_group as f64;
        start = end;
    }
    let (p, q) = (n_pos as f64, n_neg as f64);
    Some((pos_rank_sum - p * (p + 1.0) / 2.0) / (p * q))
}
