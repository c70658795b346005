//! The training side of [`crate::calibration`]: which samples calibrate a version (the
//! pipeline's [`calibration_split`] and the incremental fine-tune's tail, both cut by
//! [`purged_tail`]), fitting on them ([`calibrate_on_tail`]), the served probabilities used in
//! validation, holdout quality and the baselines.
//!
//! Calibration samples are never trained on and never in the holdout, and no calibration
//! sample's 5-day target shares a daily return with a trained one (issue 23):
//! - improved training: its inner validation split (the last [`CALIBRATION_SHARE_PCT`] %, ≥ 20
//!   samples, of the part before the holdout's purge gap), after a [`PURGE_GAP`]-sample gap that
//!   the fit does not train on either;
//! - plain / CV training: a tail of the same size, with a [`PURGE_GAP`]-sample gap between the
//!   fit's samples and it (CV searches on the fit's samples only). When the training part is
//!   too short for that ([`MIN_PLAIN_FIT`] fit samples left) the fit keeps every sample and
//!   the version has no calibration data, which it says.
//!
//! The share is sized so that a 3-year key (≈ 680 training samples) calibrates on ≥ 150
//! out-of-sample forecasts (measured: BENCHMARKS.md, issue 23).
use super::config::PipelineConfig;
use crate::baselines::{score_baselines, BaseRate, BaselineScore};
use crate::calibration::{
    coverage, realised_cumulative, sample_vols, scores, Calibration, CalibrationData, CalibrationMethod, ConformalScore,
    ForecastQuality, ProbabilityScores,
};
use crate::evaluation::{compare_with_baselines, BaselineComparison, PURGE_GAP};
use crate::features::Samples;
use crate::model::{Forecast, LoadedModel, ModelMetadata};
use crate::Result;
use std::collections::BTreeMap;
use std::ops::Range;

/// Fewest samples of a calibration tail (and of the improved strategy's inner validation
/// split, which is the same samples).
pub const MIN_INNER_VAL: usize = 20;

/// Share (percent) of the training part that calibrates.
pub const CALIBRATION_SHARE_PCT: usize = 25;

/// Fewest samples the plain fit keeps when a calibration tail is carved off.
pub const MIN_PLAIN_FIT: usize = 20;

/// The fit's samples and the calibration samples, as index ranges into the training part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalibrationSplit {
    /// Samples the fit trains on.
    pub fit: Range<usize>,
    /// Samples that calibrate (the improved strategy also early-stops on them).
    pub cal: Option<Range<usize>>,
    /// `inner_validation` | `purged_training_tail`.
    pub source: &'static str,
}

/// Length of the calibration tail of `n` samples: `share_pct` % of them, at least
/// [`MIN_INNER_VAL`].
pub fn tail_len(n: usize, share_pct: usize) -> usize {
    MIN_INNER_VAL.max(n * share_pct / 100)
}

/// `(fit samples, calibration tail)` of `n` chronological samples: the last `n_cal` calibrate,
/// after a [`PURGE_GAP`]-sample gap, when at least `min_fit` samples remain before the gap;
/// `None` when `n` is too short for that.
pub fn purged_tail(n: usize, n_cal: usize, min_fit: usize) -> Option<(Range<usize>, Range<usize>)> {
    (n >= n_cal + PURGE_GAP + min_fit).then(|| (0..n - n_cal - PURGE_GAP, n - n_cal..n))
}

/// Splits `n_train` chronological training samples (see the module doc).
pub fn calibration_split(n_train: usize, improved: bool) -> CalibrationSplit {
    let n_cal = tail_len(n_train, CALIBRATION_SHARE_PCT);
    if improved {
        let s = n_train.saturating_sub(n_cal);
        return CalibrationSplit { fit: 0..s.saturating_sub(PURGE_GAP), cal: Some(s..n_train), source: "inner_validation" };
    }
    match purged_tail(n_train, n_cal, MIN_PLAIN_FIT) {
        Some((fit, cal)) => CalibrationSplit { fit, cal: Some(cal), source: "purged_training_tail" },
        None => CalibrationSplit { fit: 0..n_train, cal: None, source: "none" },
    }
}

/// Fits a [`Calibration`] (`method`, signal at `target_precision`, shrinkage toward
/// `base_rate`) on the forecasts of `model` for `samples[tail]`, recording the tail as the
/// version's calibration data (`source`, indices into `samples`, dates).
pub fn calibrate_on_tail(
    model: &LoadedModel,
    samples: &Samples,
    tail: Range<usize>,
    source: &str,
    method: CalibrationMethod,
    target_precision: f64,
    base_rate: f64,
) -> Result<Calibration> {
    let cal = samples.subset(tail.clone());
    let raw = model.forecast(&cal.x, cal.len())?;
    let data = CalibrationData {
        source: source.to_string(),
        start: tail.start,
        end: tail.end,
        first_date: cal.end_dates.first().copied(),
        last_date: cal.end_dates.last().copied(),
    };
    Ok(Calibration::fit(method, target_precision, &cal, &raw, data, base_rate))
}

/// Fits the version's [`Calibration`] on the calibration samples of `train` (indices of `split`
/// are also the run's sample indices: the training part starts at sample 0).
pub fn calibrate(model: &LoadedModel, train: &Samples, split: &CalibrationSplit, cfg: &PipelineConfig) -> Result<Calibration> {
    let Some(r) = split.cal.clone() else {
        return Ok(Calibration::unavailable(
            cfg.calibration,
            format!(
                "insufficient calibration data: {} training samples leave none after {MIN_PLAIN_FIT} fit samples, a \
                 {PURGE_GAP}-sample gap and {MIN_INNER_VAL} calibration samples; prob_up is uncalibrated and no \
                 interval is served",
                train.len()
            ),
        ));
    };
    let _span = tracing::info_span!("calibration", method = %cfg.calibration, n = r.len(), source = split.source).entered();
    let base_rate = BaseRate::fit(&train.y_dir).prob_up;
    let c = calibrate_on_tail(model, train, r, split.source, cfg.calibration, cfg.target_precision, base_rate)?;
    if let Some(s) = &c.shrinkage {
        tracing::info!(base_rate = s.base_rate, weight = s.weight, log_loss_base = s.log_loss_base,
            log_loss_shrunk = s.log_loss_shrunk, n = s.n, "shrinkage toward the base rate fitted");
    }
    if let Some(d) = &c.direction {
        tracing::info!(a = d.a, b = d.b, temperature = ?d.temperature, log_loss_before = d.before.log_loss,
            log_loss_after = d.after.log_loss, "direction head calibrated");
    }
    if !c.note.is_empty() {
        tracing::info!(note = %c.note, "calibration incomplete");
    }
    Ok(c)
}

/// `fc` with `prob_up` replaced by what the version `md` serves (calibrated when it has a
/// calibration): validation judges the probabilities users get.
pub fn served(md: &ModelMetadata, fc: &[Forecast]) -> Vec<Forecast> {
    fc.iter()
        .map(|f| Forecast { prob_up: md.calibration.as_ref().map_or(f.prob_up, |c| c.prob_up(f.prob_up)), ..*f })
        .collect()
}

/// Holdout quality, the baselines and the comparison, with their flat metrics.
#[derive(Debug, Clone)]
pub struct HoldoutReport {
    /// What every answer of the version carries.
    pub quality: ForecastQuality,
    /// `base_rate` and `linear` on the holdout.
    pub baselines: Vec<BaselineScore>,
    /// Candidate vs the best baseline.
    pub comparison: BaselineComparison,
    /// `holdout_brier`, `baseline_linear_brier`, `holdout_coverage_80`, ... for the version.
    pub metrics: BTreeMap<String, f64>,
}

/// Scores the candidate (raw forecasts `raw` of `holdout`, served through `calibration`) and the
/// baselines fitted on `train` (the same training part) on the holdout.
pub fn holdout_report(calibration: &Calibration, raw: &[Forecast], holdout: &Samples, train: &Samples) -> Result<HoldoutReport> {
    let y = &holdout.y_dir;
    let raw_p: Vec<f64> = raw.iter().map(|f| f.prob_up).collect();
    let served_p: Vec<f64> = raw_p.iter().map(|p| calibration.prob_up(*p)).collect();
    let base_rate = BaseRate::fit(&train.y_dir).prob_up;
    let baselines = score_baselines(train, holdout)?;
    let after = ProbabilityScores::of(&served_p, y);
    let before = ProbabilityScores::of(&raw_p, y);
    let comparison = compare_with_baselines(after.brier, &baselines);
    let mut quality = calibration.described(ForecastQuality::from_holdout(&served_p, y, base_rate, calibration.applied_method()));
    // One meaning of "beats the baseline": the deploy gate's (the best of base rate and linear).
    quality.beats_baseline = comparison.beats_baseline;
    let mut m = BTreeMap::new();
    let mut put = |k: String, v: f64| {
        if v.is_finite() {
            m.insert(k, v);
        }
    };
    put("holdout_brier".into(), after.brier);
    put("holdout_log_loss".into(), after.log_loss);
    put("holdout_ece".into(), after.ece);
    put("holdout_brier_raw".into(), before.brier);
    let unshrunk: Vec<f64> = raw_p.iter().map(|p| calibration.prob_up_unshrunk(*p)).collect();
    let unshrunk = ProbabilityScores::of(&unshrunk, y);
    put("holdout_brier_unshrunk".into(), unshrunk.brier);
    put("holdout_log_loss_unshrunk".into(), unshrunk.log_loss);
    if let Some(sh) = &calibration.shrinkage {
        put("shrinkage_weight".into(), sh.weight);
        put("base_rate".into(), sh.base_rate);
        put("shrinkage_log_loss_base".into(), sh.log_loss_base);
        put("shrinkage_log_loss_shrunk".into(), sh.log_loss_shrunk);
    }
    put("n_calibration".into(), calibration.n_calibration() as f64);
    put("holdout_log_loss_raw".into(), before.log_loss);
    put("holdout_ece_raw".into(), before.ece);
    put("holdout_hit_rate".into(), scores::hit_rate(&served_p, y));
    put("holdout_auc".into(), quality.holdout_auc.unwrap_or(f64::NAN));
    for b in &baselines {
        put(format!("baseline_{}_brier", b.name), b.scores.brier);
        put(format!("baseline_{}_log_loss", b.name), b.scores.log_loss);
        put(format!("baseline_{}_hit_rate", b.name), b.hit_rate);
        put(format!("baseline_{}_auc", b.name), b.auc.unwrap_or(f64::NAN));
    }
    put("beats_baseline".into(), f64::from(u8::from(comparison.beats_baseline)));
    if let Some(ci) = &calibration.intervals {
        let pred: Vec<f64> = raw.iter().map(|f| crate::features::cumulative_return(&f.magnitudes)).collect();
        let (truth, vol) = (realised_cumulative(holdout), sample_vols(holdout));
        for (score, suffix) in [(ConformalScore::Normalized, ""), (ConformalScore::Absolute, "_absolute")] {
            for (level, name) in [(0.8, "80"), (0.95, "95")] {
                put(format!("holdout_coverage_{name}{suffix}"), coverage(ci, score, level, &pred, &truth, &vol));
            }
        }
    }
    if let Some(d) = &calibration.direction {
        for (k, s) in [("before", d.before), ("after", d.after)] {
            put(format!("calibration_brier_{k}"), s.brier);
            put(format!("calibration_log_loss_{k}"), s.log_loss);
            put(format!("calibration_ece_{k}"), s.ece);
        }
        put("calibration_temperature".into(), d.temperature.unwrap_or(f64::NAN));
        put("calibration_a".into(), d.a);
        put("calibration_b".into(), d.b);
    }
    if let Some(t) = calibration.signal.and_then(|s| s.threshold) {
        put("signal_threshold".into(), t);
        // Out of sample: the threshold was chosen on the calibration data, scored here.
        let (mut tp, mut pos) = (0usize, 0usize);
        for (p, l) in served_p.iter().zip(y) {
            if *p >= t {
                pos += 1;
                tp += usize::from(*l != 0);
            }
        }
        let ups = y.iter().filter(|l| **l != 0).count();
        put("holdout_signal_positives".into(), pos as f64);
        if pos > 0 {
            put("holdout_signal_precision".into(), tp as f64 / pos as f64);
        }
        if ups > 0 {
            put("holdout_signal_recall".into(), tp as f64 / ups as f64);
        }
    }
    Ok(HoldoutReport { quality, baselines, comparison, metrics: m })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::incremental::incremental_split;

    #[test]
    fn tails_are_purged_and_sized_by_their_share() {
        // Plain: max(20, 25 %) after a 5-sample gap, once 20 fit samples remain.
        assert_eq!(calibration_split(44, false), CalibrationSplit { fit: 0..44, cal: None, source: "none" });
        let s = calibration_split(45, false);
        assert_eq!((s.fit, s.cal, s.source), (0..20, Some(25..45), "purged_training_tail"));
        let s = calibration_split(400, false);
        assert_eq!((s.fit, s.cal), (0..295, Some(300..400)));
        // Improved: the inner validation split, the gap taken from the fit.
        let s = calibration_split(400, true);
        assert_eq!((s.fit, s.cal, s.source), (0..295, Some(300..400), "inner_validation"));
        // Incremental: max(20, 20 %) after the gap, once 10 fine-tune samples remain.
        assert_eq!(incremental_split(34), (0..34, None));
        assert_eq!(incremental_split(35), (0..10, Some(15..35)));
        assert_eq!(incremental_split(200), (0..155, Some(160..200)));
    }
}
