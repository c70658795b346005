//! The baseline-aware deploy gate (issue 11 item 4): the candidate's holdout Brier against the
//! best baseline's on the same holdout. With `require_beats_baseline` a candidate that is not
//! strictly better is kept non-current, and the reason says by how much it lost; without it the
//! comparison is only reported and the seed's rule ([`super::deploy_decision`]) decides.
use super::DeployDecision;
use crate::baselines::BaselineScore;
use serde::{Deserialize, Serialize};

/// The candidate's Brier next to the best baseline's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BaselineComparison {
    /// Candidate's holdout Brier (served, i.e. calibrated, probabilities).
    pub candidate_brier: f64,
    /// Name of the baseline with the lowest holdout Brier.
    pub best_baseline: String,
    /// Its Brier.
    pub best_baseline_brier: f64,
    /// `candidate_brier < best_baseline_brier`.
    pub beats_baseline: bool,
}

/// Compares `candidate_brier` with the best (lowest-Brier) of `baselines`. With no finite
/// baseline the candidate counts as beating them.
pub fn compare_with_baselines(candidate_brier: f64, baselines: &[BaselineScore]) -> BaselineComparison {
    let best = baselines
        .iter()
        .filter(|b| b.scores.brier.is_finite())
        .min_by(|a, b| a.scores.brier.total_cmp(&b.scores.brier));
    match best {
        Some(b) => BaselineComparison {
            candidate_brier,
            best_baseline: b.name.clone(),
            best_baseline_brier: b.scores.brier,
            beats_baseline: candidate_brier.is_finite() && candidate_brier < b.scores.brier,
        },
        None => BaselineComparison {
            candidate_brier,
            best_baseline: String::new(),
            best_baseline_brier: f64::NAN,
            beats_baseline: candidate_brier.is_finite(),
        },
    }
}

/// Applies the gate to the seed rule's decision `d`; the comparison is always added to the
/// reason.
pub fn apply_baseline_gate(d: DeployDecision, cmp: &BaselineComparison, require_beats_baseline: bool) -> DeployDecision {
    let text = if cmp.beats_baseline {
        format!(
            "holdout brier {:.4} beats the best baseline ({} {:.4}) by {:.4}",
            cmp.candidate_brier,
            cmp.best_baseline,
            cmp.best_baseline_brier,
            cmp.best_baseline_brier - cmp.candidate_brier
        )
    } else {
        format!(
            "holdout brier {:.4} is not below the best baseline ({} {:.4}): lost by {:.4}",
            cmp.candidate_brier,
            cmp.best_baseline,
            cmp.best_baseline_brier,
            cmp.candidate_brier - cmp.best_baseline_brier
        )
    };
    if require_beats_baseline && !cmp.beats_baseline {
        return DeployDecision {
            deploy: false,
            reason: format!("require_beats_baseline: {text}; not made current (seed rule: {})", d.reason),
        };
    }
    let gate = if require_beats_baseline { "require_beats_baseline passed" } else { "baseline gate off" };
    DeployDecision { deploy: d.deploy, reason: format!("{}; {gate}: {text}", d.reason) }
}
