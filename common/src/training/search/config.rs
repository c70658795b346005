//! The search options of a training request (SPEC §13.3): `search`, `n_trials`, `cv_metric`,
//! `search_space`, `search_time_budget_seconds`.
use super::objective::CvMetric;
use super::space::SearchSpace;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Trials of a TPE search when the request does not say.
pub const DEFAULT_N_TRIALS: u32 = 20;
/// Most trials one request may ask for.
pub const MAX_N_TRIALS: u32 = 1000;

/// How the CV search picks hyper-parameters.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Every combination of the `param_grid` (seed 000; runs with plain training only).
    #[default]
    Grid,
    /// Tree-structured Parzen estimator over a [`SearchSpace`] (seed 004).
    Tpe,
}

impl SearchMode {
    /// The request spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            SearchMode::Grid => "grid",
            SearchMode::Tpe => "tpe",
        }
    }
}

impl std::fmt::Display for SearchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SearchMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "grid" => Ok(SearchMode::Grid),
            "tpe" => Ok(SearchMode::Tpe),
            _ => Err(Error::invalid(format!("search {s:?} is not supported; use grid or tpe"))),
        }
    }
}

/// The search part of a [`super::super::PipelineConfig`]. `Default` is the seed's grid scored by
/// `avg_f1 − 0.1·ln(1 + avg_mse)`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SearchConfig {
    /// Grid or TPE.
    pub mode: SearchMode,
    /// What the search maximises.
    pub metric: CvMetric,
    /// TPE trials (ignored by the grid).
    pub n_trials: u32,
    /// TPE: no new trial starts after this many seconds (the first always runs); `None` = no
    /// limit. A budget makes the number of trials depend on the machine.
    pub time_budget_seconds: Option<u32>,
    /// TPE search space.
    pub space: SearchSpace,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            mode: SearchMode::Grid,
            metric: CvMetric::Score,
            n_trials: DEFAULT_N_TRIALS,
            time_budget_seconds: None,
            space: SearchSpace::default(),
        }
    }
}

impl SearchConfig {
    /// The TPE defaults: 20 trials on AUC over the default space.
    pub fn tpe() -> Self {
        SearchConfig { mode: SearchMode::Tpe, metric: CvMetric::Auc, ..SearchConfig::default() }
    }

    /// Rejects `n_trials` outside `1..=1000`, a zero time budget and a bad space.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_N_TRIALS).contains(&self.n_trials) {
            return Err(Error::invalid(format!(
                "n_trials {} must be in 1..={MAX_N_TRIALS} (default {DEFAULT_N_TRIALS})",
                self.n_trials
            )));
        }
        if self.time_budget_seconds == Some(0) {
            return Err(Error::invalid(
                "search_time_budget_seconds must be at least 1 when given (leave it unset for no limit)",
            ));
        }
        self.space.validate()
    }
}
