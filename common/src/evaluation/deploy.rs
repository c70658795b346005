//! The deploy rule of SPEC §6: a candidate becomes current iff there is no current version, or
//! its F1 on the holdout is at least 0.05 higher, or its MSE is at most 0.9 × the current MSE.

use serde::{Deserialize, Serialize};

use super::metrics::HoldoutMetrics;

/// Smallest F1 gain over the current model that deploys the candidate.
pub const MIN_F1_IMPROVEMENT: f64 = 0.05;
/// Largest candidate/current MSE ratio that deploys the candidate.
pub const MAX_MSE_RATIO: f64 = 0.9;
/// Tolerance for the two boundaries, so that values that are equal to the threshold in decimal
/// but not in binary floating point (e.g. `0.59 - 0.54 = 0.04999999999999993`) still count as
/// reaching it: the F1 rule is `gain >= 0.05 - 1e-9` and the MSE rule is
/// `cand <= 0.9 · current · (1 + 1e-9)`.
pub const DEPLOY_TOLERANCE: f64 = 1e-9;

/// Whether a candidate version should become current, and why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeployDecision {
    /// True when the candidate should become the current version.
    pub deploy: bool,
    /// Human-readable reason with the numbers compared, e.g.
    /// `"f1 0.612 vs 0.540 (+0.072 >= 0.05)"`.
    pub reason: String,
}

/// Applies the deploy rule of SPEC §6 to the candidate's and the current model's holdout metrics
/// (both measured on the same holdout).
///
/// * No current model → deploy.
/// * Candidate metrics not finite, or computed on 0 samples while a current model exists → do
///   not deploy (a model that produces NaN must never replace anything; with no current model
///   it is refused too, since serving NaN forecasts is worse than serving none).
/// * `cand.f1 - current.f1 >= 0.05` or `cand.mse <= 0.9 × current.mse` (boundaries inclusive,
///   with [`DEPLOY_TOLERANCE`]) → deploy.
/// * Otherwise → keep the current model.
///
/// A current model whose own metrics are not finite is replaced by any finite candidate.
pub fn deploy_decision(candidate: &HoldoutMetrics, current: Option<&HoldoutMetrics>) -> DeployDecision {
    if !candidate.is_finite() {
        return DeployDecision {
            deploy: false,
            reason: format!(
                "candidate metrics are not finite (f1 {}, mse {}); the model produced invalid \
                 predictions and is not deployed",
                candidate.f1, candidate.mse
            ),
        };
    }
    let Some(cur) = current else {
        return DeployDecision {
            deploy: true,
            reason: format!(
                "no current model: candidate deployed (f1 {:.3}, mse {:.4e} on {} holdout samples)",
                candidate.f1, candidate.mse, candidate.n_samples
            ),
        };
    };
    if candidate.n_samples == 0 {
        return DeployDecision {
            deploy: false,
            reason: "candidate was evaluated on 0 holdout samples; cannot compare it with the \
                     current model, which is kept"
                .to_string(),
        };
    }
    if !cur.is_finite() {
        return DeployDecision {
            deploy: true,
            reason: format!(
                "current model metrics are not finite (f1 {}, mse {}); candidate deployed \
                 (f1 {:.3}, mse {:.4e})",
                cur.f1, cur.mse, candidate.f1, candidate.mse
            ),
        };
    }

    let gain = candidate.f1 - cur.f1;
    let f1_ok = gain >= MIN_F1_IMPROVEMENT - DEPLOY_TOLERANCE;
    let f1_text = format!(
        "f1 {:.3} vs {:.3} ({:+.3} {} {:.2})",
        candidate.f1,
        cur.f1,
        gain,
        if f1_ok { ">=" } else { "<" },
        MIN_F1_IMPROVEMENT
    );
    let mse_ok = candidate.mse <= MAX_MSE_RATIO * cur.mse * (1.0 + DEPLOY_TOLERANCE);
    let ratio_text = if cur.mse > 0.0 {
        format!("ratio {:.3}", candidate.mse / cur.mse)
    } else {
        "current mse is 0".to_string()
    };
    let mse_text = format!(
        "mse {:.4e} vs {:.4e} ({ratio_text} {} {:.2})",
        candidate.mse,
        cur.mse,
        if mse_ok { "<=" } else { ">" },
        MAX_MSE_RATIO
    );
    let reason = match (f1_ok, mse_ok) {
        (true, true) => format!("{f1_text} and {mse_text}"),
        (true, false) => f1_text,
        (false, true) => mse_text,
        (false, false) => format!("not better enough: {f1_text} and {mse_text}; current model kept"),
    };
    DeployDecision { deploy: f1_ok || mse_ok, reason }
}
