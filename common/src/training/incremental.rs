//! Incremental fine-tuning (seed 000 §3.4, SPEC §6): load the current version, train it for a
//! few epochs at a low learning rate on recent samples, return it as a new version that
//! replaces the current one.
//!
//! The current version's normalisation statistics and target scale are kept: the weights were
//! learnt for those inputs, and re-fitting the statistics on a few months of data would shift
//! every input the network sees. Optimiser: Adam (as the seed's `train_epoch`), loss `full`,
//! no validation split, no early stopping.
//!
//! The calibration is re-fitted (the base version's method and target precision): when there
//! are enough samples the fine-tune leaves a purged tail of the recent samples out
//! ([`incremental_split`]) and calibrates on it; otherwise it trains on all of them and the new
//! version says it has no calibration data.
use super::calibrate::{calibrate_on_tail, purged_tail, tail_len, MIN_INNER_VAL};
use super::config::{IncrementalConfig, RegLossType};
use super::events::{stage, TrainEvent};
use super::fit::{evaluate, fit, FitOptions, TensorSet};
use super::pipeline::{check_samples, fit_metrics, CurrentModel, PipelineOutcome};
use super::session::Session;
use crate::baselines::BaseRate;
use crate::calibration::{Calibration, CalibrationMethod, ForecastQuality, DEFAULT_TARGET_PRECISION};
use crate::evaluation::{plot_training_curves, DeployDecision, PURGE_GAP};
use crate::features::Samples;
use std::ops::Range;
use crate::model::LoadedModel;
use crate::Result;
use serde_json::json;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Fewest samples incremental training accepts.
pub const MIN_INCREMENTAL_SAMPLES: usize = 10;
/// Share (percent) of the recent samples that calibrates.
pub const INCREMENTAL_CALIBRATION_SHARE_PCT: usize = 20;

/// `(fine-tune samples, calibration tail)` of `n` recent samples: the last
/// `max(20, n/5)` calibrate, after a [`PURGE_GAP`]-sample gap, when at least
/// [`MIN_INCREMENTAL_SAMPLES`] remain to fine-tune on; otherwise all of them fine-tune.
pub fn incremental_split(n: usize) -> (Range<usize>, Option<Range<usize>>) {
    match purged_tail(n, tail_len(n, INCREMENTAL_CALIBRATION_SHARE_PCT), MIN_INCREMENTAL_SAMPLES) {
        Some((fit, cal)) => (fit, Some(cal)),
        None => (0..n, None),
    }
}

/// Fine-tunes `current` on `samples` (raw features, chronological). Blocking.
pub fn run_incremental(
    samples: &Samples,
    current: CurrentModel<'_>,
    cfg: &IncrementalConfig,
    events: &mut dyn FnMut(TrainEvent),
    cancel: &CancellationToken,
) -> Result<PipelineOutcome> {
    let started = Instant::now();
    cfg.validate()?;
    let n = check_samples(samples, MIN_INCREMENTAL_SAMPLES)?;
    let mut session = Session::start(cfg.device, cfg.seed, None)?;
    let mut model = LoadedModel::from_artifact(current.metadata, current.weights, session.device)?;
    let scale = model.metadata().target_scale();
    let (fit_range, cal_range) = incremental_split(n);
    let fit_samples = samples.subset(fit_range.clone());
    let mut set = TensorSet::new(&fit_samples, &model.metadata().norm, scale, session.device);
    if model.metadata().architecture.symbol_embedding_dim > 0 {
        // A member of a pooled version with an embedding keeps its row.
        set = set.with_member(model.metadata().member_index);
    }
    events(TrainEvent::stage(
        stage::TRAINING,
        format!(
            "fine-tuning version {} ({}) on {} samples: {} epochs, Adam lr {}, batch {}, loss full",
            current.version_id, current.metadata.architecture.kind, fit_samples.len(), cfg.epochs, cfg.lr, cfg.batch_size
        ),
    ));
    let opts = FitOptions::plain("incremental", cfg.lr, cfg.epochs, cfg.batch_size, RegLossType::Full);
    let report = fit(model.var_store(), model.network(), &set, None, &opts, &mut session.rng, events, cancel)?;
    let train_eval = evaluate(model.network(), &set, opts.reg_loss, 1.0, 1.0)?;
    let plots = vec![("training_curves.png".to_string(), plot_training_curves(&report.curves)?)];
    let base_cal = current.metadata.calibration.as_ref();
    let method = base_cal.map_or(CalibrationMethod::default(), |c| c.method);
    let target = base_cal.and_then(|c| c.signal).map_or(DEFAULT_TARGET_PRECISION, |s| s.target_precision);
    let mut calibration = match cal_range {
        Some(r) => {
            events(TrainEvent::stage(stage::CALIBRATION, format!("{method} calibration on the last {} samples", r.len())));
            // The base rate of the samples the version has seen: the base version's own when it
            // has one, else the up share of the recent samples.
            let base_rate = base_cal
                .and_then(|c| c.shrinkage.as_ref())
                .map_or_else(|| BaseRate::fit(&samples.y_dir).prob_up, |s| s.base_rate);
            calibrate_on_tail(&model, samples, r, "purged_recent_tail", method, target, base_rate)?
        }
        None => Calibration::unavailable(
            method,
            format!(
                "insufficient calibration data: {n} recent samples are too few to leave a calibration tail \
                 ({MIN_INCREMENTAL_SAMPLES} fine-tune + {PURGE_GAP} gap + {MIN_INNER_VAL} calibration samples needed)"
            ),
        ),
    };
    calibration.quality = Some(ForecastQuality::unknown(
        calibration.applied_method(),
        format!("incremental fine-tune of version {}: no holdout was measured", current.version_id),
    ));
    events(TrainEvent::stage(stage::SAVING, "serialising weights and metadata"));
    let training_seconds = started.elapsed().as_secs_f64();
    let mut metrics = fit_metrics(&report, &train_eval, None);
    metrics.insert("training_seconds".into(), training_seconds);
    {
        let md = model.metadata_mut();
        let mut hp = md.hyperparameters.clone();
        if let Some(obj) = hp.as_object_mut() {
            obj.insert(
                "incremental".into(),
                json!({
                    "base_version": current.version_id, "epochs": cfg.epochs, "lr": cfg.lr,
                    "batch_size": cfg.batch_size, "optimizer": "Adam", "reg_loss_type": "full",
                    "seed": session.seed,
                }),
            );
        }
        md.hyperparameters = hp;
        md.metrics = metrics.clone();
        md.diagnostics = json!({
            "mode": "incremental",
            "base_version": current.version_id,
            "device": format!("{:?}", session.device),
            "cpu_threads": tch::get_num_threads(),
            "seed": session.seed,
            "n_samples": n,
            "n_fine_tune": fit_samples.len(),
            "epochs_run": report.epochs_run,
            "batches": report.batches,
            "feature_importance_from": current.version_id,
            "base_diagnostics": current.metadata.diagnostics,
        });
        if let Some(last) = samples.end_dates.last().copied() {
            md.data_end = Some(md.data_end.map_or(last, |d| d.max(last)));
        }
        if let Some(first) = samples.end_dates.first().copied() {
            md.data_start = Some(md.data_start.map_or(first, |d| d.min(first)));
        }
        md.trained_at = chrono::Utc::now();
        md.calibration = Some(calibration);
    }
    let weights = model.to_safetensors()?;
    Ok(PipelineOutcome {
        metadata: model.metadata().clone(),
        weights,
        deploy: DeployDecision {
            deploy: true,
            reason: format!("incremental fine-tune of version {} replaces it", current.version_id),
        },
        validation: None,
        baselines: Vec::new(),
        importance: model.metadata().feature_importance.clone(),
        plots,
        cross_validation: None,
        metrics,
        training_seconds,
        n_samples: n,
    })
}

