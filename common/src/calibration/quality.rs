//! The quality summary served with every forecast (`Prediction.quality`, `ModelStatus.quality`):
//! how the version did on its leak-free holdout, next to the base-rate baseline on that holdout.
use super::scores::{brier, hit_rate};
use crate::evaluation::auc;
use serde::{Deserialize, Serialize};

/// Holdout quality of a version.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct ForecastQuality {
    /// Share of holdout samples where the served `prob_up ≥ 0.5` matched the realised direction.
    pub holdout_hit_rate: Option<f64>,
    /// Brier score of the served `prob_up` on the holdout.
    pub holdout_brier: Option<f64>,
    /// ROC AUC of the served `prob_up` on the holdout (`None` when one class only).
    pub holdout_auc: Option<f64>,
    /// Hit rate of the base-rate baseline (training up share) on the same holdout.
    pub baseline_hit_rate: Option<f64>,
    /// Brier of the base-rate baseline on the same holdout.
    pub baseline_brier: Option<f64>,
    /// `holdout_brier < baseline_brier`.
    pub beats_baseline: bool,
    /// Whether the served `prob_up` is calibrated.
    pub calibrated: bool,
    /// Holdout samples (0 = no holdout: the numbers above are unknown).
    pub n_holdout: usize,
    /// `temperature` | `platt` | `none`.
    pub calibration: String,
    /// What the numbers mean when something is missing (no holdout, old version, ...), and when
    /// the base rate is what is served.
    pub note: String,
    /// The training span's share of up-moves, toward which `prob_up` is shrunk (SPEC §14.1);
    /// `None` for versions trained before shrinkage existed.
    #[serde(default)]
    pub base_rate: Option<f64>,
    /// `w` of the served `prob_up = base_rate + w·(calibrated − base_rate)`; 0 = the base rate is
    /// served; `None` for versions trained before shrinkage existed.
    #[serde(default)]
    pub shrinkage_weight: Option<f64>,
    /// Out-of-sample forecasts the calibration, intervals, signal threshold and shrinkage were
    /// fitted on.
    #[serde(default)]
    pub n_calibration: usize,
}

/// The sentence `quality.note` carries when a version serves its base rate.
pub fn base_rate_note(base_rate: f64) -> String {
    format!(
        "prob_up is the base rate {base_rate:.3} (the training span's share of up-moves): out of sample this model \
         showed no direction skill over it"
    )
}

impl ForecastQuality {
    /// Quality from the served probabilities on the holdout, the labels and the base rate the
    /// baseline answers (the training part's up share).
    pub fn from_holdout(served_prob: &[f64], labels: &[i64], base_rate: f64, calibration: &str) -> ForecastQuality {
        let n = served_prob.len();
        let base = vec![base_rate; n];
        let (hb, bb) = (brier(served_prob, labels), brier(&base, labels));
        ForecastQuality {
            holdout_hit_rate: Some(hit_rate(served_prob, labels)).filter(|v| v.is_finite()),
            holdout_brier: Some(hb).filter(|v| v.is_finite()),
            holdout_auc: auc(served_prob, labels),
            baseline_hit_rate: Some(hit_rate(&base, labels)).filter(|v| v.is_finite()),
            baseline_brier: Some(bb).filter(|v| v.is_finite()),
            beats_baseline: hb.is_finite() && bb.is_finite() && hb < bb,
            calibrated: calibration != "none",
            n_holdout: n,
            calibration: calibration.to_string(),
            note: String::new(),
            ..ForecastQuality::default()
        }
    }

    /// `self` with the shrinkage fields of a version whose shrinkage toward `base_rate` has
    /// weight `weight`, fitted on `n_calibration` forecasts; the note says when the base rate is
    /// served (idempotent).
    pub fn with_shrinkage(mut self, base_rate: Option<f64>, weight: Option<f64>, n_calibration: usize) -> ForecastQuality {
        self.base_rate = base_rate;
        self.shrinkage_weight = weight;
        self.n_calibration = n_calibration;
        if let (Some(b), Some(w)) = (base_rate, weight) {
            let sentence = base_rate_note(b);
            if w == 0.0 && !self.note.contains(&sentence) {
                self.note = if self.note.is_empty() { sentence } else { format!("{}; {sentence}", self.note) };
            }
        }
        self
    }

    /// Quality of a version with no holdout measurement, saying why.
    pub fn unknown(calibration: &str, note: impl Into<String>) -> ForecastQuality {
        ForecastQuality {
            calibrated: calibration != "none",
            calibration: calibration.to_string(),
            note: note.into(),
            ..ForecastQuality::default()
        }
    }
}

impl From<&ForecastQuality> for crate::pb::ForecastQuality {
    fn from(q: &ForecastQuality) -> Self {
        let ForecastQuality {
            holdout_hit_rate,
            holdout_brier,
            holdout_auc,
            baseline_hit_rate,
            baseline_brier,
            beats_baseline,
            calibrated,
            n_holdout,
            calibration,
            note,
            base_rate,
            shrinkage_weight,
            n_calibration,
        } = q;
        crate::pb::ForecastQuality {
            holdout_hit_rate: *holdout_hit_rate,
            holdout_brier: *holdout_brier,
            holdout_auc: *holdout_auc,
            baseline_hit_rate: *baseline_hit_rate,
            baseline_brier: *baseline_brier,
            beats_baseline: *beats_baseline,
            calibrated: *calibrated,
            n_holdout: u32::try_from(*n_holdout).unwrap_or(u32::MAX),
            calibration: calibration.clone(),
            note: note.clone(),
            base_rate: *base_rate,
            shrinkage_weight: *shrinkage_weight,
            n_calibration: u32::try_from(*n_calibration).unwrap_or(u32::MAX),
        }
    }
}
