//! The end-to-end training pipeline (seed 000 §2, SPEC §6): optional CV grid search → final fit
//! (improved or plain) → leak-free holdout validation against the current model → feature
//! importance → plots → artifact.
use super::config::{ImprovedConfig, PipelineConfig};
use super::cv::{cv_search, cv_splits, CvPlan};
use super::search::SearchMode;
use super::events::{stage, TrainEvent};
use super::fit::{evaluate, fit, EvalOutput, FitOptions, FitReport, OptimizerKind, TensorSet, TARGET_SCALE};
use super::calibrate::{calibrate, calibration_split, holdout_report, served};
use super::losses::population_std;
use super::session::Session;
use crate::evaluation::{
    apply_baseline_gate, deploy_decision, holdout_split_min, importance_table, integrated_gradients, min_samples_for_holdout,
    permutation_importance,
    plot_holdout, plot_training_curves, DeployDecision, FeatureImportance, HoldoutMetrics, PURGE_GAP,
};
use crate::features::{cumulative_return, feature_names, insufficient_samples, NormStats, Samples, FORECAST_DAYS, N_FEATURES, SEQ_LEN};
use crate::model::{Architecture, LoadedModel, ModelMetadata, Network, FORMAT_VERSION, TARGET_SCALE_KEY};
use crate::{Error, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tokio_util::sync::CancellationToken;

/// Fewest samples the final fit may be trained on (the improved strategy keeps ≥ 20 of them for
/// its inner validation split).
pub const MIN_TRAIN_SAMPLES: usize = 40;
/// Learning rate of the final fit when CV is skipped (SPEC §6: the pipeline overrides the
/// improved strategy's 1e-3 with 5e-4).
pub const PIPELINE_LR: f64 = 5e-4;
/// Epochs of the final fit when CV is skipped (also caps the improved strategy's 60).
pub const PIPELINE_EPOCHS: u32 = 50;
/// Hidden size of the enhanced network when CV is skipped.
pub const ENHANCED_HIDDEN: i64 = 128;
/// Hidden size of the base network when CV is skipped.
pub const BASE_HIDDEN: i64 = 64;
/// Permutation rounds per feature.
pub const PERMUTATION_REPEATS: usize = 3;
/// Integration steps of integrated gradients.
pub const IG_STEPS: usize = 16;

/// The model version that is current for the key, to compare the candidate with.
#[derive(Debug, Clone, Copy)]
pub struct CurrentModel<'a> {
    /// Its registry id.
    pub version_id: &'a str,
    /// Its metadata (architecture, normalisation stats, ...).
    pub metadata: &'a ModelMetadata,
    /// Its safetensors weights.
    pub weights: &'a [u8],
}

/// Everything a pipeline run produced; the caller stores it as a new version.
#[derive(Debug, Clone)]
pub struct PipelineOutcome {
    /// Metadata of the new version (metrics, diagnostics, importance filled in).
    pub metadata: ModelMetadata,
    /// Its weights (safetensors).
    pub weights: Vec<u8>,
    /// Whether it should become current, and why.
    pub deploy: DeployDecision,
    /// Holdout metrics of the candidate and of the current model, when validation ran.
    pub validation: Option<(HoldoutMetrics, Option<HoldoutMetrics>)>,
    /// Base-rate and linear baselines on the holdout, when validation ran.
    pub baselines: Vec<crate::baselines::BaselineScore>,
    /// Per-feature importance (empty unless `do_shap`).
    pub importance: Vec<FeatureImportance>,
    /// PNG charts by file name (`training_curves.png`, `holdout.png`), unless `do_plot` is off.
    pub plots: Vec<(String, Vec<u8>)>,
    /// The grid search report, when CV ran.
    pub cross_validation: Option<serde_json::Value>,
    /// Flat metrics (same as `metadata.metrics`).
    pub metrics: BTreeMap<String, f64>,
    /// Wall time of the whole run.
    pub training_seconds: f64,
    /// Samples the run was given.
    pub n_samples: usize,
}

/// Checks that `samples` is internally consistent (lengths, finite values) and holds at least
/// `need` samples; returns how many it holds.
pub(crate) fn check_samples(samples: &Samples, need: usize) -> Result<usize> {
    let n = samples.len();
    let w = SEQ_LEN * N_FEATURES;
    if samples.x.len() != n * w
        || samples.y_mag.len() != n
        || samples.end_dates.len() != n
        || samples.end_closes.len() != n
    {
        return Err(Error::invalid(format!(
            "inconsistent samples: {n} labels, {} input values (expected {}), {} magnitude rows, {} dates",
            samples.x.len(),
            n * w,
            samples.y_mag.len(),
            samples.end_dates.len()
        )));
    }
    if let Some(i) = samples.x.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(format!("sample {} has a non-finite feature value", i / w)));
    }
    if samples.y_mag.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Error::invalid("samples contain a non-finite target return"));
    }
    if n < need {
        return Err(insufficient_samples(need, n));
    }
    Ok(n)
}

/// Samples needed so that the final fit gets [`MIN_TRAIN_SAMPLES`] after the holdout and gap.
fn min_samples(with_holdout: bool) -> usize {
    if with_holdout {
        min_samples_for_holdout(MIN_TRAIN_SAMPLES)
    } else {
        MIN_TRAIN_SAMPLES
    }
}

/// Hyper-parameters of the final fit.
#[derive(Debug, Clone, Copy)]
struct FinalParams {
    lr: f64,
    hidden: i64,
    epochs: u32,
    batch_size: usize,
    /// Dropout chosen by TPE; `None` keeps the architecture's.
    dropout: Option<f64>,
}

/// Runs the whole pipeline on `samples` (raw features, chronological). Blocking; run it on its
/// own thread. `events` receives progress; `cancel` is checked between batches.
pub fn run_pipeline(
    samples: &Samples,
    cfg: &PipelineConfig,
    current: Option<CurrentModel<'_>>,
    events: &mut dyn FnMut(TrainEvent),
    cancel: &CancellationToken,
) -> Result<PipelineOutcome> {
    let started = Instant::now();
    cfg.validate()?;
    let n = check_samples(samples, min_samples(cfg.do_post_training_validation))?;
    let mut session = Session::start(cfg.device, cfg.seed, cfg.cpu_threads)?;
    let device = session.device;

    // Chronological split: [train | purge gap | holdout].
    let (train_range, holdout_range) = if cfg.do_post_training_validation {
        let (train, holdout) = holdout_split_min(n, MIN_TRAIN_SAMPLES)?;
        (train, Some(holdout))
    } else {
        (0..n, None)
    };
    let train_samples = samples.subset(train_range.clone());
    let holdout = holdout_range.clone().map(|r| samples.subset(r));
    let improved = ImprovedConfig::default();
    // [fit | (purge gap) | calibration] inside the training part (see `calibrate`).
    let split = calibration_split(train_samples.len(), cfg.use_improved_training);
    let fit_samples = train_samples.subset(split.fit.clone());

    // Hyper-parameters: CV (the grid with plain training only, TPE in either mode) or the
    // fixed pipeline choice.
    let grid = cfg.grid();
    let mut cross_validation = None;
    let default_hidden = if cfg.use_enhanced_model { ENHANCED_HIDDEN } else { BASE_HIDDEN };
    let mut params = FinalParams {
        lr: PIPELINE_LR,
        hidden: default_hidden,
        epochs: PIPELINE_EPOCHS.min(improved.max_epochs),
        batch_size: grid.batch_size,
        dropout: None,
    };
    if cfg.runs_cv() {
        let folds = cv_splits(cfg.fast_training);
        let what = match cfg.search.mode {
            SearchMode::Grid => format!("grid: {} combinations", grid.combinations().len()),
            SearchMode::Tpe => format!("tpe: {} trials", cfg.search.n_trials),
        };
        events(TrainEvent::stage(
            stage::CROSS_VALIDATION,
            format!("{what} × {folds} folds on {} samples, cv_metric {}", fit_samples.len(), cfg.search.metric),
        ));
        let plan = CvPlan {
            search: &cfg.search,
            grid: &grid,
            n_splits: folds,
            reg_loss: cfg.reg_loss_type,
            max_epochs: cfg.max_epochs,
        };
        let cv = cv_search(&fit_samples, &plan, device, &mut session.rng, events, cancel)?;
        params = FinalParams {
            lr: cv.best_lr,
            hidden: cv.best_hidden_size,
            epochs: cv.best_epochs,
            batch_size: cv.best_batch_size,
            dropout: cv.best_dropout,
        };
        cross_validation = Some(cv.report);
    } else if !cfg.use_improved_training {
        if let Some(g) = &cfg.param_grid {
            params = FinalParams { lr: g.lr[0], hidden: g.hidden_size[0], epochs: g.epochs[0], ..params };
        }
    }
    if let Some(m) = cfg.max_epochs {
        params.epochs = params.epochs.min(m);
    }

    // Final fit.
    let mut arch = if cfg.use_enhanced_model {
        Architecture::enhanced(N_FEATURES as i64, params.hidden)
    } else {
        Architecture::base(N_FEATURES as i64, params.hidden)
    };
    if let Some(d) = params.dropout {
        arch.dropout = d;
    }
    let norm = NormStats::fit(&train_samples.x);
    let vs = VarStore::new(device);
    let net = Network::new(&vs.root(), &arch)?;
    let (fit_part, val_part) = match (&split.cal, cfg.use_improved_training) {
        (Some(cal), true) => (fit_samples, Some(train_samples.subset(cal.clone()))),
        _ => (fit_samples, None),
    };
    events(TrainEvent::stage(
        stage::TRAINING,
        format!(
            "{} ({} training, {} validation samples; lr {}, hidden {}, up to {} epochs, batch {}, {}, loss {})",
            arch.kind,
            fit_part.len(),
            val_part.as_ref().map_or(0, Samples::len),
            params.lr,
            params.hidden,
            params.epochs,
            params.batch_size,
            if cfg.use_improved_training { "improved: AdamW + cosine restarts + early stopping" } else { "plain Adam" },
            cfg.reg_loss_type
        ),
    ));
    let tset = TensorSet::new(&fit_part, &norm, TARGET_SCALE, device);
    let vset = val_part.as_ref().map(|v| TensorSet::new(v, &norm, TARGET_SCALE, device));
    let (lr, epochs, batch_size, reg) = (params.lr, params.epochs, params.batch_size, cfg.reg_loss_type);
    let opts = if cfg.use_improved_training {
        FitOptions::improved("training", lr, epochs, batch_size, reg, &improved)
    } else {
        FitOptions::plain("training", lr, epochs, batch_size, reg)
    };
    let report = fit(&vs, &net, &tset, vset.as_ref(), &opts, &mut session.rng, events, cancel)?;
    let val_eval = match &vset {
        Some(v) => Some(evaluate(&net, v, opts.reg_loss, opts.w_cls, opts.w_reg)?),
        None => None,
    };
    let train_eval = evaluate(&net, &tset, opts.reg_loss, opts.w_cls, opts.w_reg)?;

    let hyperparameters = json!({
        "training_mode": if cfg.use_improved_training { "improved" } else { "plain" },
        "lr": params.lr,
        "hidden_size": params.hidden,
        "epochs": params.epochs,
        "batch_size": params.batch_size,
        "optimizer": match opts.optimizer { OptimizerKind::Adam => "Adam", OptimizerKind::AdamW { .. } => "AdamW" },
        "weight_decay": match opts.optimizer { OptimizerKind::Adam => 0.0, OptimizerKind::AdamW { weight_decay } => weight_decay },
        "scheduler": opts.schedule.map(|s| json!({"name": "CosineAnnealingWarmRestarts", "T_0": s.t_0, "T_mult": s.t_mult, "eta_min": s.eta_min})),
        "grad_clip": opts.grad_clip,
        "early_stopping": opts.patience.map(|p| json!({"metric": "val_volatility_match", "patience": p})),
        "augmentation": opts.augmentation.map(|a| json!({"noise_std": a.noise_std, "scale_low": a.scale_low, "scale_high": a.scale_high})),
        "reg_loss_type": cfg.reg_loss_type.as_str(),
        "weight_cls": opts.w_cls,
        "weight_reg": opts.w_reg,
        TARGET_SCALE_KEY: TARGET_SCALE,
        "cv_tuned": cross_validation.is_some(),
        "calibration": cfg.calibration.as_str(),
        "target_precision": cfg.target_precision,
        "require_beats_baseline": cfg.require_beats_baseline.unwrap_or(false),
        "search": cross_validation.is_some().then_some(cfg.search.mode.as_str()),
        "cv_metric": cross_validation.is_some().then_some(cfg.search.metric.as_str()),
        "dropout": arch.dropout,
        "max_epochs_cap": cfg.max_epochs,
        "seed": session.seed,
    });
    let metadata = ModelMetadata {
        format_version: FORMAT_VERSION,
        architecture: arch,
        feature_names: feature_names(),
        norm,
        hyperparameters,
        metrics: BTreeMap::new(),
        diagnostics: serde_json::Value::Null,
        feature_importance: Vec::new(),
        symbol: cfg.symbol.clone(),
        years: cfg.years,
        data_start: train_samples.end_dates.first().copied(),
        data_end: train_samples.end_dates.last().copied(),
        trained_at: chrono::Utc::now(),
        calibration: None,
    };
    let mut model = LoadedModel::from_trained(metadata, vs, net);

    // Calibration on samples the fit did not train on and the holdout never sees.
    check_cancel(cancel)?;
    events(TrainEvent::stage(
        stage::CALIBRATION,
        format!(
            "{} calibration, conformal intervals and signal threshold on {} samples ({})",
            cfg.calibration,
            split.cal.as_ref().map_or(0, |r| r.len()),
            split.source
        ),
    ));
    let mut calibration = calibrate(&model, &train_samples, &split, cfg)?;

    // Leak-free validation against the current model.
    let mut validation = None;
    let mut holdout_preds = None;
    let mut holdout_report_metrics = BTreeMap::new();
    let mut baselines = Vec::new();
    let deploy = match &holdout {
        Some(h) => {
            check_cancel(cancel)?;
            events(TrainEvent::stage(
                stage::VALIDATION,
                format!("holdout of the last {} samples, {PURGE_GAP}-sample purge gap", h.len()),
            ));
            let cand_fc = model.forecast(&h.x, h.len())?;
            let report = holdout_report(&calibration, &cand_fc, h, &train_samples)?;
            let cand_fc: Vec<_> = cand_fc.iter().map(|f| crate::model::Forecast { prob_up: calibration.prob_up(f.prob_up), ..*f }).collect();
            let cand = metrics_from_forecasts(&cand_fc, h);
            let (cur_metrics, note) = match current {
                Some(c) => match LoadedModel::from_artifact(c.metadata, c.weights, device)
                    .and_then(|m| m.forecast(&h.x, h.len()))
                {
                    Ok(fc) => (Some(metrics_from_forecasts(&served(c.metadata, &fc), h)), None),
                    Err(e) => {
                        tracing::warn!(version_id = c.version_id, error = %e, "current model cannot be evaluated");
                        (None, Some(format!("current version {} could not be evaluated ({e}); ", c.version_id)))
                    }
                },
                None => (None, None),
            };
            let mut d = deploy_decision(&cand, cur_metrics.as_ref());
            if let Some(note) = note {
                d.reason = format!("{note}{}", d.reason);
            }
            let d = apply_baseline_gate(d, &report.comparison, cfg.require_beats_baseline.unwrap_or(false));
            events(TrainEvent::Validation {
                candidate: cand.clone(),
                current: cur_metrics.clone(),
                deploy: d.deploy,
                reason: d.reason.clone(),
                quality: Some(report.quality.clone()),
                baselines: report.baselines.clone(),
                require_beats_baseline: cfg.require_beats_baseline.unwrap_or(false),
            });
            calibration.quality = Some(report.quality.clone());
            holdout_report_metrics = report.metrics;
            baselines = report.baselines;
            validation = Some((cand, cur_metrics));
            holdout_preds = Some(cand_fc);
            d
        }
        None => DeployDecision {
            deploy: true,
            reason: "post-training validation disabled: the new version becomes current".into(),
        },
    };
    if calibration.quality.is_none() {
        calibration.quality = Some(crate::calibration::ForecastQuality::unknown(
            calibration.applied_method(),
            "post-training validation was off: no holdout quality was measured",
        ));
    }
    model.metadata_mut().calibration = Some(calibration);

    // Feature importance on the holdout (or the last training samples without one).
    let mut importance = Vec::new();
    if cfg.do_shap {
        check_cancel(cancel)?;
        let data = holdout.clone().unwrap_or_else(|| {
            let k = 66.min(train_samples.len());
            train_samples.subset(train_samples.len() - k..train_samples.len())
        });
        events(TrainEvent::stage(
            stage::IMPORTANCE,
            format!("permutation importance ({PERMUTATION_REPEATS} rounds) and integrated gradients ({IG_STEPS} steps) on {} samples", data.len()),
        ));
        importance = feature_importance(&model, &data, cfg, session.seed)?;
        model.metadata_mut().feature_importance = importance.clone();
    }

    // Plots.
    let mut plots = Vec::new();
    if cfg.do_plot {
        check_cancel(cancel)?;
        events(TrainEvent::stage(stage::PLOTTING, "training curves and holdout predicted vs actual"));
        plots.push(("training_curves.png".to_string(), plot_training_curves(&report.curves)?));
        if let (Some(h), Some(fc)) = (&holdout, &holdout_preds) {
            let pred_cum: Vec<f64> = fc.iter().map(|f| cumulative_return(&f.magnitudes)).collect();
            let act_cum: Vec<f64> =
                h.y_mag.iter().map(|m| cumulative_return(&m.map(f64::from))).collect();
            let prob: Vec<f64> = fc.iter().map(|f| f.prob_up).collect();
            plots.push(("holdout.png".to_string(), plot_holdout(&h.end_dates, &pred_cum, &act_cum, &prob, &h.y_dir)?));
        }
    }

    // Metrics and diagnostics.
    events(TrainEvent::stage(stage::SAVING, "serialising weights and metadata"));
    let training_seconds = started.elapsed().as_secs_f64();
    let mut metrics = fit_metrics(&report, &train_eval, val_eval.as_ref());
    if let Some((cand, cur)) = &validation {
        insert_holdout(&mut metrics, "holdout", cand);
        if let Some(c) = cur {
            insert_holdout(&mut metrics, "current_holdout", c);
        }
    }
    metrics.extend(holdout_report_metrics);
    metrics.insert("training_seconds".into(), training_seconds);
    let diag_eval = holdout_preds
        .as_ref()
        .zip(holdout.as_ref())
        .map(|(fc, h)| prediction_spread(fc, h));
    let diagnostics = json!({
        "device": format!("{device:?}"),
        "cpu_threads": tch::get_num_threads(),
        "seed": session.seed,
        "n_samples": n,
        "n_train": fit_part.len(),
        "n_inner_validation": val_part.as_ref().map_or(0, Samples::len),
        "n_calibration": split.cal.as_ref().map_or(0, |r| r.len()),
        "calibration_source": split.source,
        "n_holdout": holdout.as_ref().map_or(0, Samples::len),
        "purge_gap": if holdout.is_some() { PURGE_GAP } else { 0 },
        "class_balance_up": up_share(&train_samples),
        "holdout_class_balance_up": holdout.as_ref().map(up_share),
        "epochs_run": report.epochs_run,
        "best_epoch": report.best_epoch,
        "early_stopped": report.early_stopped,
        "batches": report.batches,
        "train_prediction_std": population_std(&train_eval.magnitudes) / TARGET_SCALE,
        "train_true_std": spread_samples(&fit_part),
        "holdout_prediction_std": diag_eval.map(|d| d.0),
        "holdout_true_std": diag_eval.map(|d| d.1),
        "cross_validation": cross_validation.is_some(),
    });
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
        deploy,
        validation,
        baselines,
        importance,
        plots,
        cross_validation,
        metrics,
        training_seconds,
        n_samples: n,
    })
}

pub(crate) fn check_cancel(cancel: &CancellationToken) -> Result<()> {
    if cancel.is_cancelled() {
        Err(Error::Cancelled("training cancelled between stages".into()))
    } else {
        Ok(())
    }
}

fn metrics_from_forecasts(fc: &[crate::model::Forecast], s: &Samples) -> HoldoutMetrics {
    let p: Vec<f64> = fc.iter().map(|f| f.prob_up).collect();
    let m: Vec<[f64; FORECAST_DAYS]> = fc.iter().map(|f| f.magnitudes).collect();
    crate::evaluation::holdout_metrics(&p, &m, &s.y_dir, &s.y_mag)
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
fn prediction_spread(fc: &[crate::model::Forecast], s: &Samples) -> (f64, f64) {
    let p: Vec<f32> = fc.iter().flat_map(|f| f.magnitudes.map(|v| v as f32)).collect();
    (population_std(&p), spread_samples(s))
}

fn up_share(s: &Samples) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    s.y_dir.iter().filter(|d| **d == 1).count() as f64 / s.len() as f64
}

/// Permutation importance (loss = CE + regression loss of the run, on standardised inputs) and
/// integrated gradients of the direction logit margin `logit_up − logit_down` against the
/// all-zero (= training mean) baseline. Runs on the model's device; integrated gradients on a
/// CPU copy when the model is on CUDA (cuDNN RNN backward needs training mode).
fn feature_importance(model: &LoadedModel, data: &Samples, cfg: &PipelineConfig, seed: u64) -> Result<Vec<FeatureImportance>> {
    let n = data.len();
    let mut x = data.x.clone();
    model.metadata().norm.apply(&mut x);
    let scale = model.metadata().target_scale();
    let device = model.device();
    let net = model.network();
    let y_dir = Tensor::from_slice(&data.y_dir).to_device(device);
    let y_mag: Vec<f32> = data.y_mag.iter().flatten().map(|v| (f64::from(*v) * scale) as f32).collect();
    let y_mag = Tensor::from_slice(&y_mag).reshape([n as i64, FORECAST_DAYS as i64]).to_device(device);
    let shape = [n as i64, SEQ_LEN as i64, N_FEATURES as i64];
    let reg = cfg.reg_loss_type;
    let mut loss_of = |xs: &[f32]| -> Result<f64> {
        tch::no_grad(|| {
            let t = Tensor::from_slice(xs).reshape(shape).to_device(device);
            let (logits, mags) = net.forward_t(&t, false);
            let l = super::losses::classification(&logits, &y_dir) + super::losses::regression(reg, &mags, &y_mag);
            Ok(l.double_value(&[]))
        })
    };
    let perm = permutation_importance(&x, n, seed, PERMUTATION_REPEATS, &mut loss_of)?;

    let cpu_copy;
    let ig_model = if device.is_cuda() {
        cpu_copy = LoadedModel::from_artifact(model.metadata(), &model.to_safetensors()?, Device::Cpu)?;
        &cpu_copy
    } else {
        model
    };
    let ig_net = ig_model.network();
    let mut grad_of = |xs: &[f32], k: usize| -> Result<Vec<f32>> {
        let t = Tensor::from_slice(xs)
            .reshape([k as i64, SEQ_LEN as i64, N_FEATURES as i64])
            .set_requires_grad(true);
        let (logits, _) = ig_net.forward_t(&t, false);
        let margin = (logits.select(1, 1) - logits.select(1, 0)).sum(Kind::Float);
        let g = Tensor::run_backward(&[margin], &[&t], false, false);
        Ok(Vec::<f32>::try_from(g[0].contiguous().view(-1))?)
    };
    let ig = integrated_gradients(&x, n, IG_STEPS, &mut grad_of)?;
    Ok(importance_table(&perm, &ig))
}
