//! The calibration and validation stages: the candidate calibrated on samples the fit did not
//! train on and the holdout never sees, then scored on the leak-free holdout against the
//! current version and the baselines, which decides whether it deploys.
use super::report::metrics_from_forecasts;
use super::split::Split;
use super::{check_cancel, CurrentModel, PipelineRun};
use crate::baselines::BaselineScore;
use crate::calibration::{Calibration, ForecastQuality};
use crate::evaluation::{apply_baseline_gate, deploy_decision, DeployDecision, HoldoutMetrics, PURGE_GAP};
use crate::features::Samples;
use crate::model::{Forecast, LoadedModel};
use crate::training::calibrate::{calibrate, holdout_report, served};
use crate::training::events::{stage, TrainEvent};
use crate::Result;
use std::collections::BTreeMap;
use tch::Device;

/// What validation found (all empty when post-training validation is off).
pub(super) struct Checked {
    /// Whether the candidate becomes current, and why.
    pub deploy: DeployDecision,
    /// Holdout metrics of the candidate and of the current version.
    pub validation: Option<(HoldoutMetrics, Option<HoldoutMetrics>)>,
    /// The candidate's served holdout forecasts.
    pub holdout_preds: Option<Vec<Forecast>>,
    /// Flat metrics of the holdout report (`holdout_brier`, baselines, coverage, ...).
    pub holdout_metrics: BTreeMap<String, f64>,
    /// Base-rate and linear baselines on the holdout.
    pub baselines: Vec<BaselineScore>,
}

impl PipelineRun<'_> {
    /// Fits the candidate's calibration on the split's calibration samples.
    pub(super) fn calibrate(&mut self, split: &Split, model: &LoadedModel) -> Result<Calibration> {
        check_cancel(self.cancel)?;
        self.stage(
            stage::CALIBRATION,
            format!(
                "{} calibration, conformal intervals and signal threshold on {} samples ({})",
                self.cfg.calibration,
                split.cal.cal.as_ref().map_or(0, |r| r.len()),
                split.cal.source
            ),
        );
        calibrate(model, &split.train, &split.cal, self.cfg)
    }

    /// Validates the candidate on the holdout (when there is one), records the holdout quality
    /// in `calibration` and attaches it to `model`.
    pub(super) fn validate(
        &mut self,
        split: &Split,
        model: &mut LoadedModel,
        mut calibration: Calibration,
        current: Option<CurrentModel<'_>>,
    ) -> Result<Checked> {
        let checked = match &split.holdout {
            Some(h) => self.validate_on(h, split, model, &mut calibration, current)?,
            None => Checked {
                deploy: DeployDecision {
                    deploy: true,
                    reason: "post-training validation disabled: the new version becomes current".into(),
                },
                validation: None,
                holdout_preds: None,
                holdout_metrics: BTreeMap::new(),
                baselines: Vec::new(),
            },
        };
        if calibration.quality.is_none() {
            calibration.quality = Some(ForecastQuality::unknown(
                calibration.applied_method(),
                "post-training validation was off: no holdout quality was measured",
            ));
        }
        model.metadata_mut().calibration = Some(calibration);
        Ok(checked)
    }

    /// Scores the candidate and the current version on the holdout `h`, applies the deploy rule
    /// and the baseline gate, and reports the comparison as an event.
    fn validate_on(
        &mut self,
        h: &Samples,
        split: &Split,
        model: &LoadedModel,
        calibration: &mut Calibration,
        current: Option<CurrentModel<'_>>,
    ) -> Result<Checked> {
        let cfg = self.cfg;
        check_cancel(self.cancel)?;
        self.stage(stage::VALIDATION, format!("holdout of the last {} samples, {PURGE_GAP}-sample purge gap", h.len()));
        let cand_fc = model.forecast(&h.x, h.len())?;
        let report = holdout_report(calibration, &cand_fc, h, &split.train)?;
        let cand_fc: Vec<_> = cand_fc.iter().map(|f| Forecast { prob_up: calibration.prob_up(f.prob_up), ..*f }).collect();
        let cand = metrics_from_forecasts(&cand_fc, h);
        let (compared, cur_metrics, note) = match current {
            None => (cand.clone(), None, None),
            Some(c) => compare_with_current(c, h, &cand, &cand_fc, self.session.device),
        };
        let mut d = deploy_decision(&compared, cur_metrics.as_ref());
        if let Some(note) = note {
            d.reason = format!("{note}{}", d.reason);
        }
        let require = cfg.require_beats_baseline.unwrap_or(false);
        let d = apply_baseline_gate(d, &report.comparison, require);
        (self.events)(TrainEvent::Validation {
            candidate: cand.clone(),
            current: cur_metrics.clone(),
            deploy: d.deploy,
            reason: d.reason.clone(),
            quality: Some(report.quality.clone()),
            baselines: report.baselines.clone(),
            require_beats_baseline: require,
        });
        calibration.quality = Some(report.quality.clone());
        Ok(Checked {
            deploy: d,
            validation: Some((cand, cur_metrics)),
            holdout_preds: Some(cand_fc),
            holdout_metrics: report.metrics,
            baselines: report.baselines,
        })
    }
}

/// Fewest holdout samples the candidate and the current version are compared on.
pub(crate) const MIN_COMPARED: usize = 10;

/// The holdout samples a version whose last training sample ended on `data_end` has not
/// trained on: those ending after it, less the first [`PURGE_GAP`] (their 5-day targets share
/// daily returns with its last training targets). All of them when `data_end` is unknown.
pub(crate) fn unseen_days(h: &Samples, data_end: Option<chrono::NaiveDate>) -> std::ops::Range<usize> {
    let Some(end) = data_end else { return 0..h.len() };
    let first_after = h.end_dates.partition_point(|d| *d <= end);
    if first_after == 0 {
        return 0..h.len();
    }
    (first_after + PURGE_GAP).min(h.len())..h.len()
}

/// The current version compared with the candidate on the holdout days it did not train on
/// (an incremental version may have trained on recent days that are this run's holdout):
/// the candidate's metrics on those days, the current version's, and a note for the deploy
/// reason when the comparison is partial or impossible.
fn compare_with_current(
    c: CurrentModel<'_>,
    h: &Samples,
    cand: &HoldoutMetrics,
    cand_fc: &[Forecast],
    device: Device,
) -> (HoldoutMetrics, Option<HoldoutMetrics>, Option<String>) {
    let unseen = unseen_days(h, c.metadata.data_end);
    if unseen.len() == h.len() {
        let (cur, note) = current_metrics(c, h, device);
        return (cand.clone(), cur, note);
    }
    if unseen.len() < MIN_COMPARED {
        let note = format!(
            "current version {} trained on the holdout's days (only {} later samples; {MIN_COMPARED} needed to compare), so it is not compared; ",
            c.version_id,
            unseen.len()
        );
        return (cand.clone(), None, Some(note));
    }
    let days = h.subset(unseen.clone());
    let (cur, note) = current_metrics(c, &days, device);
    let note = match cur {
        Some(_) => Some(format!(
            "compared with the current version on the {} of {} holdout samples after its last training sample and a {PURGE_GAP}-sample gap; ",
            unseen.len(),
            h.len()
        )),
        None => note,
    };
    (metrics_from_forecasts(&cand_fc[unseen], &days), cur, note)
}

/// Holdout metrics of the current version (as it serves), or a note for the deploy reason when
/// it cannot be evaluated.
fn current_metrics(c: CurrentModel<'_>, h: &Samples, device: Device) -> (Option<HoldoutMetrics>, Option<String>) {
    match LoadedModel::from_artifact(c.metadata, c.weights, device).and_then(|m| m.forecast(&h.x, h.len())) {
        Ok(fc) => (Some(metrics_from_forecasts(&served(c.metadata, &fc), h)), None),
        Err(e) => {
            tracing::warn!(version_id = c.version_id, error = %e, "current model cannot be evaluated");
            (None, Some(format!("current version {} could not be evaluated ({e}); ", c.version_id)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn holdout(days: u32) -> Samples {
        let d0 = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let end_dates = (0..days).map(|i| d0 + chrono::Days::new(u64::from(i))).collect();
        Samples { end_dates, y_dir: vec![0; days as usize], ..Default::default() }
    }

    #[test]
    fn the_current_version_is_compared_only_on_days_it_did_not_train_on() {
        let h = holdout(40);
        let day = |i: u64| NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(i);
        // Trained before the holdout (a full pipeline version) or unknown: every day.
        assert_eq!(unseen_days(&h, Some(day(0) - chrono::Days::new(3))), 0..40);
        assert_eq!(unseen_days(&h, None), 0..40);
        // An incremental version trained on the holdout's first 10 days: the days after them,
        // less the purge gap.
        assert_eq!(unseen_days(&h, Some(day(9))), 10 + PURGE_GAP..40);
        // Trained on all of it: nothing to compare on.
        assert!(unseen_days(&h, Some(day(39))).is_empty());
        assert!(unseen_days(&h, Some(day(36))).is_empty());
    }
}
