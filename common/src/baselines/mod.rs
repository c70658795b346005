//! Baselines a model must beat (issue 11 item 4; shared with the walk-forward backtest):
//!
//! - [`BaseRate`]: always answers the training part's share of up samples;
//! - [`LinearBaseline`]: L2-regularised logistic regression (`linfa-logistic`) of the direction
//!   on the 21 raw features of each window's **last day**, standardised with the training
//!   part's mean / std.
//!
//! Both are fitted on the same training samples as the model and scored on its holdout.
use crate::calibration::ProbabilityScores;
use crate::evaluation::auc;
use crate::features::{Samples, N_FEATURES, SEQ_LEN};
use crate::{Error, Result};
use linfa::traits::Fit;
use linfa::Dataset;
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// L2 penalty of [`LinearBaseline`] on the summed log loss (ridge-like shrinkage).
pub const LINEAR_ALPHA: f64 = 1.0;

/// The training part's up share, answered for every sample.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct BaseRate {
    /// `P(up)` answered.
    pub prob_up: f64,
}

impl BaseRate {
    /// The share of non-zero labels in `train_labels` (½ when empty).
    pub fn fit(train_labels: &[i64]) -> BaseRate {
        let n = train_labels.len();
        let up = train_labels.iter().filter(|l| **l != 0).count();
        BaseRate { prob_up: if n == 0 { 0.5 } else { up as f64 / n as f64 } }
    }

    /// Its answer for `n` samples.
    pub fn predict(&self, n: usize) -> Vec<f64> {
        vec![self.prob_up; n]
    }
}

/// Logistic regression on the last day's features.
#[derive(Debug, Clone)]
pub struct LinearBaseline {
    mean: [f64; N_FEATURES],
    std: [f64; N_FEATURES],
    model: Option<FittedLogisticRegression<f64, i64>>,
    constant: f64,
}

/// The last day's 21 raw features of every window of `s`.
fn last_day(s: &Samples) -> Vec<[f64; N_FEATURES]> {
    let w = SEQ_LEN * N_FEATURES;
    (0..s.len())
        .map(|i| {
            let row = &s.x[i * w + (SEQ_LEN - 1) * N_FEATURES..(i + 1) * w];
            std::array::from_fn(|k| f64::from(row[k]))
        })
        .collect()
}

impl LinearBaseline {
    /// Fits on `train`. A training part with one class only gives a constant answer (its class).
    pub fn fit(train: &Samples) -> Result<LinearBaseline> {
        let n = train.len();
        if n == 0 {
            return Err(Error::invalid("linear baseline: no training samples"));
        }
        let rows = last_day(train);
        let mut mean = [0.0; N_FEATURES];
        let mut std = [0.0; N_FEATURES];
        for k in 0..N_FEATURES {
            mean[k] = rows.iter().map(|r| r[k]).sum::<f64>() / n as f64;
            let var = rows.iter().map(|r| (r[k] - mean[k]).powi(2)).sum::<f64>() / n as f64;
            std[k] = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
        }
        let base = BaseRate::fit(&train.y_dir).prob_up;
        let mut me = LinearBaseline { mean, std, model: None, constant: base };
        if base == 0.0 || base == 1.0 {
            return Ok(me);
        }
        let x = me.design(&rows)?;
        let y = Array1::from_vec(train.y_dir.iter().map(|l| i64::from(*l != 0)).collect());
        let fitted = LogisticRegression::default()
            .alpha(LINEAR_ALPHA)
            .max_iterations(200)
            .fit(&Dataset::new(x, y))
            .map_err(|e| Error::internal(format!("linear baseline did not converge: {e}")))?;
        me.model = Some(fitted);
        Ok(me)
    }

    fn design(&self, rows: &[[f64; N_FEATURES]]) -> Result<Array2<f64>> {
        let flat: Vec<f64> = rows
            .iter()
            .flat_map(|r| (0..N_FEATURES).map(move |k| (r[k] - self.mean[k]) / self.std[k]))
            .collect();
        Array2::from_shape_vec((rows.len(), N_FEATURES), flat).map_err(|e| Error::internal(format!("baseline matrix: {e}")))
    }

    /// `P(up)` for every window of `s`.
    pub fn predict(&self, s: &Samples) -> Result<Vec<f64>> {
        let Some(m) = &self.model else { return Ok(vec![self.constant; s.len()]) };
        if s.is_empty() {
            return Ok(Vec::new());
        }
        let p = m.predict_probabilities(&self.design(&last_day(s))?);
        // linfa's "positive" class is the more frequent label, not 1.
        Ok(if m.labels().pos.class == 1 { p.to_vec() } else { p.iter().map(|q| 1.0 - q).collect() })
    }
}

/// A baseline's scores on a holdout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BaselineScore {
    /// `base_rate` | `linear`.
    pub name: String,
    /// Share of `p ≥ 0.5` agreeing with the label.
    pub hit_rate: f64,
    /// Brier, log loss, ECE.
    pub scores: ProbabilityScores,
    /// ROC AUC (`None` when undefined, e.g. a constant answer or one class).
    pub auc: Option<f64>,
}

impl BaselineScore {
    /// Scores `prob` against `labels` under `name`.
    pub fn of(name: &str, prob: &[f64], labels: &[i64]) -> BaselineScore {
        BaselineScore {
            name: name.to_string(),
            hit_rate: crate::calibration::scores::hit_rate(prob, labels),
            scores: ProbabilityScores::of(prob, labels),
            auc: auc(prob, labels),
        }
    }
}

/// Fits both baselines on `train` and scores them on `holdout`: `[base_rate, linear]`.
pub fn score_baselines(train: &Samples, holdout: &Samples) -> Result<Vec<BaselineScore>> {
    let base = BaseRate::fit(&train.y_dir);
    let linear = LinearBaseline::fit(train)?;
    Ok(vec![
        BaselineScore::of("base_rate", &base.predict(holdout.len()), &holdout.y_dir),
        BaselineScore::of("linear", &linear.predict(holdout)?, &holdout.y_dir),
    ])
}

impl From<&BaselineScore> for crate::pb::BaselineResult {
    fn from(b: &BaselineScore) -> Self {
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        crate::pb::BaselineResult {
            name: b.name.clone(),
            hit_rate: finite(b.hit_rate),
            brier: finite(b.scores.brier),
            log_loss: finite(b.scores.log_loss),
            ece: finite(b.scores.ece),
            auc: b.auc,
            n: u32::try_from(b.scores.n).unwrap_or(u32::MAX),
        }
    }
}
