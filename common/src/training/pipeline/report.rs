//! The last stages: plots, the version's flat metrics and diagnostics, its weights, and the
//! [`PipelineOutcome`] the caller stores.
use super::final_fit::Fitted;
use super::split::Split;
use super::tuning::Tuning;
use super::validation::Checked;
use super::{check_cancel, PipelineOutcome, PipelineRun};
use crate::evaluation::{plot_holdout, plot_training_curves, FeatureImportance, HoldoutMetrics, PURGE_GAP};
use crate::features::{cumulative_return, Samples, FORECAST_DAYS};
use crate::model::Forecast;
use crate::training::events::stage;
use crate::training::fit::{EvalOutput, FitReport, TARGET_SCALE};
use crate::training::losses::population_std;
use crate::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;

impl PipelineRun<'_> {
    /// With `do_plot`, the training curves and the holdout's predicted vs actual as PNG.
    pub(super) fn plots(&mut self, split: &Split, report: &FitReport, checked: &Checked) -> Result<Vec<(String, Vec<u8>)>> {
        let mut plots = Vec::new();
        if !self.cfg.do_plot {
            return Ok(plots);
        }
        check_cancel(self.cancel)?;
        self.stage(stage::PLOTTING, "training curves and holdout predicted vs actual");
        plots.push(("training_curves.png".to_string(), plot_training_curves(&report.curves)?));
        if let (Some(h), Some(fc)) = (&split.holdout, &checked.holdout_preds) {
            let pred_cum: Vec<f64> = fc.iter().map(|f| cumulative_return(&f.magnitudes)).collect();
            let act_cum: Vec<f64> = h.y_mag.iter().map(|m| cumulative_return(&m.map(f64::from))).collect();
            let prob: Vec<f64> = fc.iter().map(|f| f.prob_up).collect();
            plots.push(("holdout.png".to_string(), plot_holdout(&h.end_dates, &pred_cum, &act_cum, &prob, &h.y_dir)?));
        }
        Ok(plots)
    }

    /// Fills in the candidate's metrics and diagnostics, serialises it and gathers the outcome.
    pub(super) fn finish(
        &mut self,
        split: Split,
        tuning: Tuning,
        fitted: Fitted,
        checked: Checked,
        importance: Vec<FeatureImportance>,
        plots: Vec<(String, Vec<u8>)>,
    ) -> Result<PipelineOutcome> {
        self.stage(stage::SAVING, "serialising weights and metadata");
        let training_seconds = self.started.elapsed().as_secs_f64();
        let mut metrics = fit_metrics(&fitted.report, &fitted.train_eval, fitted.val_eval.as_ref());
        metrics.extend(checked.metrics());
        metrics.insert("training_seconds".into(), training_seconds);
        let diagnostics = self.diagnostics(&split, &tuning, &fitted, checked.holdout_preds.as_deref());
        let mut model = fitted.model;
        {
            let md = model.metadata_mut();
            md.metrics = metrics.clone();
            md.diagnostics = diagnostics;
            md.trained_at = chrono::Utc::now();
        }
        let weights = model.to_safetensors()?;
        Ok(PipelineOutcome {
            metadata: model.metadata().clone(),
            weights,
            deploy: checked.deploy,
            validation: checked.validation,
            baselines: checked.baselines,
            importance,
            plots,
            cross_validation: tuning.cross_validation,
            metrics,
            training_seconds,
            n_samples: split.n,
        })
    }

    /// The version's `diagnostics`: device, seed, sample counts of every part, the fit's
    /// counters and the spread of predictions against the truth.
    fn diagnostics(&self, split: &Split, tuning: &Tuning, fitted: &Fitted, holdout_preds: Option<&[Forecast]>) -> Value {
        let (holdout, report) = (split.holdout.as_ref(), &fitted.report);
        let diag_eval = holdout_preds.zip(holdout).map(|(fc, h)| prediction_spread(fc, h));
        json!({
            "device": format!("{:?}", self.session.device),
            "cpu_threads": tch::get_num_threads(),
            "seed": self.session.seed,
            "n_samples": split.n,
            "n_train": split.fit.len(),
            "n_inner_validation": fitted.n_val,
            "n_calibration": split.cal.cal.as_ref().map_or(0, |r| r.len()),
            "calibration_source": split.cal.source,
            "n_holdout": holdout.map_or(0, Samples::len),
            "purge_gap": if holdout.is_some() { PURGE_GAP } else { 0 },
            "class_balance_up": up_share(&split.train),
            "holdout_class_balance_up": holdout.map(up_share),
            "epochs_run": report.epochs_run,
            "best_epoch": report.best_epoch,
            "early_stopped": report.early_stopped,
            "batches": report.batches,
            "train_prediction_std": population_std(&fitted.train_eval.magnitudes) / TARGET_SCALE,
            "train_true_std": spread_samples(&split.fit),
            "holdout_prediction_std": diag_eval.map(|d| d.0),
            "holdout_true_std": diag_eval.map(|d| d.1),
            "cross_validation": tuning.cross_validation.is_some(),
        })
    }
}

/// Holdout metrics of forecasts `fc` of `s`.
pub(super) fn metrics_from_forecasts(fc: &[Forecast], s: &Samples) -> HoldoutMetrics {
    let p: Vec<f64> = fc.iter().map(|f| f.prob_up).collect();
    let m: Vec<[f64; FORECAST_DAYS]> = fc.iter().map(|f| f.magnitudes).collect();
    crate::evaluation::holdout_metrics(&p, &m, &s.y_dir, &s.y_mag)
}

impl Checked {
    /// The flat holdout metrics of the candidate (`holdout_*`), of the current version
    /// (`current_holdout_*`) and of the holdout report (Brier, baselines, coverage, ...; these
    /// win where a name is in both).
    pub(super) fn metrics(&self) -> BTreeMap<String, f64> {
        let mut metrics = BTreeMap::new();
        if let Some((cand, cur)) = &self.validation {
            insert_holdout(&mut metrics, "holdout", cand);
            if let Some(c) = cur {
                insert_holdout(&mut metrics, "current_holdout", c);
            }
        }
        metrics.extend(self.holdout_metrics.iter().map(|(k, v)| (k.clone(), *v)));
        metrics
    }
}

fn insert_holdout(metrics: &mut BTreeMap<String, f64>, prefix: &str, m: &HoldoutMetrics) {
    for (k, v) in [
        ("accuracy", m.accuracy),
        ("f1", m.f1),
        ("mse", m.mse),
        ("mae", m.mae),
        ("rmse", m.rmse),
        ("direction_accuracy", m.direction_accuracy),
    ] {
        metrics.insert(format!("{prefix}_{k}"), v);
    }
    if let Some(auc) = m.auc {
        metrics.insert(format!("{prefix}_auc"), auc);
    }
}

/// Flat metrics of a fit (shared with incremental training).
pub(crate) fn fit_metrics(report: &FitReport, train: &EvalOutput, val: Option<&EvalOutput>) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    m.insert("final_train_loss".into(), report.final_train_loss);
    m.insert("train_loss".into(), train.loss);
    m.insert("train_accuracy".into(), train.accuracy);
    m.insert("train_volatility_match".into(), train.volatility_match);
    m.insert("epochs_run".into(), f64::from(report.epochs_run));
    if let Some(v) = val {
        m.insert("val_loss".into(), v.loss);
        m.insert("val_accuracy".into(), v.accuracy);
        m.insert("val_volatility_match".into(), v.volatility_match);
    }
    if let Some(b) = report.best_epoch {
        m.insert("best_epoch".into(), f64::from(b));
    }
    m
}

fn spread_samples(s: &Samples) -> f64 {
    let v: Vec<f32> = s.y_mag.iter().flatten().copied().collect();
    population_std(&v)
}

/// `(std of predicted daily returns, std of true daily returns)` on the holdout.
fn prediction_spread(fc: &[Forecast], s: &Samples) -> (f64, f64) {
    let p: Vec<f32> = fc.iter().flat_map(|f| f.magnitudes.map(|v| v as f32)).collect();
    (population_std(&p), spread_samples(s))
}

fn up_share(s: &Samples) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    s.y_dir.iter().filter(|d| **d == 1).count() as f64 / s.len() as f64
}
