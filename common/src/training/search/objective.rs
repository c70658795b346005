//! What a CV search maximises (`cv_metric`, SPEC §13.3) and the per-fold scores it is
//! computed from.
use crate::evaluation::HoldoutMetrics;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// AUC a fold counts with when its test part holds one class only (no ranking to judge).
pub const UNDEFINED_FOLD_AUC: f64 = 0.5;

/// Scores of one fold's test part.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct FoldScores {
    /// F1 of class "up".
    pub f1: f64,
    /// Magnitude MSE (fractional returns).
    pub mse: f64,
    /// Share of correct directions.
    pub accuracy: f64,
    /// ROC AUC of `prob_up`; `None` when the fold holds one class only.
    pub auc: Option<f64>,
}

impl From<&HoldoutMetrics> for FoldScores {
    fn from(m: &HoldoutMetrics) -> Self {
        FoldScores { f1: m.f1, mse: m.mse, accuracy: m.accuracy, auc: m.auc }
    }
}

/// The objective of a CV search.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CvMetric {
    /// Seed 000's `avg_f1 − 0.1·ln(1 + avg_mse)` (the grid's default).
    #[default]
    Score,
    /// Mean fold ROC AUC (the TPE default); a one-class fold counts [`UNDEFINED_FOLD_AUC`].
    Auc,
}

impl CvMetric {
    /// The request spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            CvMetric::Score => "score",
            CvMetric::Auc => "auc",
        }
    }

    /// The formula, for reports.
    pub fn formula(&self) -> &'static str {
        match self {
            CvMetric::Score => "avg_f1 - 0.1 * ln(1 + avg_mse)",
            CvMetric::Auc => "mean fold ROC AUC (a one-class fold counts 0.5)",
        }
    }

    /// The objective over `folds` (higher is better); NaN when `folds` is empty.
    pub fn objective(&self, folds: &[FoldScores]) -> f64 {
        let n = folds.len() as f64;
        match self {
            CvMetric::Score => {
                let f1 = folds.iter().map(|f| f.f1).sum::<f64>() / n;
                let mse = folds.iter().map(|f| f.mse).sum::<f64>() / n;
                cv_score(f1, mse)
            }
            CvMetric::Auc => folds.iter().map(|f| f.auc.unwrap_or(UNDEFINED_FOLD_AUC)).sum::<f64>() / n,
        }
    }
}

impl std::fmt::Display for CvMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CvMetric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "score" => Ok(CvMetric::Score),
            "auc" => Ok(CvMetric::Auc),
            _ => Err(Error::invalid(format!("cv_metric {s:?} is not supported; use score or auc"))),
        }
    }
}

/// The CV score `avg_f1 − 0.1·ln(1 + avg_mse)`.
pub fn cv_score(avg_f1: f64, avg_mse: f64) -> f64 {
    avg_f1 - 0.1 * avg_mse.ln_1p()
}
