//! The final-fit stage: the network the tuned hyper-parameters describe, trained on the fit's
//! samples (improved: early-stopped on the calibration samples; plain: on its own), evaluated,
//! and wrapped with the new version's metadata (hyper-parameters as trained, data range).
use super::split::Split;
use super::tuning::Tuning;
use super::PipelineRun;
use crate::features::{feature_names, NormStats, Samples, N_FEATURES};
use crate::model::{Architecture, LoadedModel, ModelMetadata, Network, FORMAT_VERSION, TARGET_SCALE_KEY};
use crate::training::config::ImprovedConfig;
use crate::training::events::stage;
use crate::training::fit::{evaluate, fit, EvalOutput, FitOptions, FitReport, OptimizerKind, TensorSet, TARGET_SCALE};
use crate::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tch::nn::VarStore;

/// The trained candidate and how its fit went.
pub(super) struct Fitted {
    /// The candidate (metrics, diagnostics, calibration still to fill in).
    pub model: LoadedModel,
    /// The fit's curves and counters.
    pub report: FitReport,
    /// Evaluation on the fit's samples.
    pub train_eval: EvalOutput,
    /// Evaluation on the inner validation samples (improved training).
    pub val_eval: Option<EvalOutput>,
    /// Inner validation samples (0 without).
    pub n_val: usize,
}

impl PipelineRun<'_> {
    /// Trains and evaluates the candidate (see the module doc).
    pub(super) fn final_fit(&mut self, split: &Split, tuning: &Tuning) -> Result<Fitted> {
        let cfg = self.cfg;
        let params = tuning.params;
        let device = self.session.device;
        let mut arch = if cfg.use_enhanced_model {
            Architecture::enhanced(N_FEATURES as i64, params.hidden)
        } else {
            Architecture::base(N_FEATURES as i64, params.hidden)
        };
        if let Some(d) = params.dropout {
            arch.dropout = d;
        }
        let norm = NormStats::fit(&split.train.x);
        let vs = VarStore::new(device);
        let net = Network::new(&vs.root(), &arch)?;
        let val_part = match (&split.cal.cal, cfg.use_improved_training) {
            (Some(cal), true) => Some(split.train.subset(cal.clone())),
            _ => None,
        };
        let n_val = val_part.as_ref().map_or(0, Samples::len);
        self.stage(
            stage::TRAINING,
            format!(
                "{} ({} training, {} validation samples; lr {}, hidden {}, up to {} epochs, batch {}, {}, loss {})",
                arch.kind,
                split.fit.len(),
                n_val,
                params.lr,
                params.hidden,
                params.epochs,
                params.batch_size,
                if cfg.use_improved_training { "improved: AdamW + cosine restarts + early stopping" } else { "plain Adam" },
                cfg.reg_loss_type
            ),
        );
        let tset = TensorSet::new(&split.fit, &norm, TARGET_SCALE, device);
        let vset = val_part.as_ref().map(|v| TensorSet::new(v, &norm, TARGET_SCALE, device));
        let (lr, epochs, batch_size, reg) = (params.lr, params.epochs, params.batch_size, cfg.reg_loss_type);
        let opts = if cfg.use_improved_training {
            FitOptions::improved("training", lr, epochs, batch_size, reg, &ImprovedConfig::default())
        } else {
            FitOptions::plain("training", lr, epochs, batch_size, reg)
        };
        let report = fit(&vs, &net, &tset, vset.as_ref(), &opts, &mut self.session.rng, self.events, self.cancel)?;
        let val_eval = match &vset {
            Some(v) => Some(evaluate(&net, v, opts.reg_loss, opts.w_cls, opts.w_reg)?),
            None => None,
        };
        let train_eval = evaluate(&net, &tset, opts.reg_loss, opts.w_cls, opts.w_reg)?;
        let metadata = self.metadata(split, tuning, &opts, arch, norm);
        let model = LoadedModel::from_trained(metadata, vs, net);
        Ok(Fitted { model, report, train_eval, val_eval, n_val })
    }

    /// The candidate's metadata before calibration, validation and importance: its
    /// architecture, normalisation, hyper-parameters and data range.
    fn metadata(&self, split: &Split, tuning: &Tuning, opts: &FitOptions, arch: Architecture, norm: NormStats) -> ModelMetadata {
        let cfg = self.cfg;
        ModelMetadata {
            format_version: FORMAT_VERSION,
            hyperparameters: self.hyperparameters(tuning, opts, arch.dropout),
            architecture: arch,
            feature_names: feature_names(),
            norm,
            metrics: BTreeMap::new(),
            diagnostics: Value::Null,
            feature_importance: Vec::new(),
            symbol: cfg.symbol.clone(),
            years: cfg.years,
            data_start: split.train.end_dates.first().copied(),
            data_end: split.train.end_dates.last().copied(),
            trained_at: chrono::Utc::now(),
            calibration: None,
        }
    }

    /// The version's `hyperparameters`: what the final fit was trained with, and how they were
    /// chosen.
    fn hyperparameters(&self, tuning: &Tuning, opts: &FitOptions, dropout: f64) -> Value {
        let cfg = self.cfg;
        let params = tuning.params;
        let cv_tuned = tuning.cross_validation.is_some();
        json!({
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
            "cv_tuned": cv_tuned,
            "calibration": cfg.calibration.as_str(),
            "target_precision": cfg.target_precision,
            "require_beats_baseline": cfg.require_beats_baseline.unwrap_or(false),
            "search": cv_tuned.then_some(cfg.search.mode.as_str()),
            "cv_metric": cv_tuned.then_some(cfg.search.metric.as_str()),
            "dropout": dropout,
            "max_epochs_cap": cfg.max_epochs,
            "seed": self.session.seed,
        })
    }
}
