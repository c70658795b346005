//! Baselines a model must beat — one implementation for the deploy gate (issue 11 item 4) and
//! the walk-forward backtest (SPEC §13.1):
//!
//! - [`BaseRate`]: always answers the training part's share of up samples;
//! - [`LinearBaseline`]: L2-regularised logistic regression (`linfa-logistic`) of the direction
//!   on the 21 raw features of each window's **last day**, standardised with the training
//!   part's mean / std — the `linear` baseline of [`regression`], on windows;
//! - [`regression`]: the backtest's full set (base rate, momentum, reversion, linear with ridge
//!   magnitudes, zero return) on bars.
//!
//! All are fitted on the same training samples as the model and scored on the same days.
use crate::calibration::ProbabilityScores;
use crate::evaluation::auc;
use crate::features::{Samples, N_FEATURES, SEQ_LEN};
use crate::Result;
use serde::{Deserialize, Serialize};

pub mod regression;

pub use regression::{fit_all, Baseline, DayFeatures, BASELINES, L2_PENALTY};
use regression::{DirectionFit, Inputs};

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

/// Logistic regression of the direction on the last window day's features (the backtest's
/// `linear` direction fit, [`regression`]).
#[derive(Debug, Clone)]
pub struct LinearBaseline {
    fit: DirectionFit,
}

/// The last day's 21 raw features of every window of `s`.
fn last_day(s: &Samples) -> Vec<DayFeatures> {
    let w = SEQ_LEN * N_FEATURES;
    (0..s.len())
        .map(|i| DayFeatures::from_last_row(&s.x[i * w + (SEQ_LEN - 1) * N_FEATURES..(i + 1) * w]))
        .collect()
}

impl LinearBaseline {
    /// Fits on `train`. A training part with one class only (or a failed solve, logged) gives a
    /// constant answer: its up share.
    pub fn fit(train: &Samples) -> Result<LinearBaseline> {
        if train.is_empty() {
            return Err(crate::Error::invalid("linear baseline: no training samples"));
        }
        let y: Vec<bool> = train.y_dir.iter().map(|l| *l != 0).collect();
        Ok(LinearBaseline { fit: DirectionFit::fit(Inputs::All, &last_day(train), &y) })
    }

    /// `P(up)` for every window of `s`.
    pub fn predict(&self, s: &Samples) -> Result<Vec<f64>> {
        Ok(self.fit.prob_up(&last_day(s)))
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
