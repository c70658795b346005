//! The final-fit stage: the network the tuned hyper-parameters describe, trained on the fit's
//! samples (improved: early-stopped on the calibration samples; plain: on its own), evaluated,
//! and wrapped with the new version's metadata (hyper-parameters as trained, data range).
//!
//! A pooled run passes one split per member: each member's samples are standardised with
//! statistics fitted on that member's own training part, and the network trains on all of them
//! at once (SPEC §14.3). A single-symbol run is the same stage with one member.
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
    /// Each member's standardisation statistics, in the order of the splits.
    pub norms: Vec<NormStats>,
}

impl PipelineRun<'_> {
    /// Trains and evaluates the candidate on the members' `splits` (one for a single-symbol
    /// run; see the module doc). The metadata describe the first member. `shared_norm` fits one
    /// set of statistics on every member's training part instead (a pooled run's measurement
    /// of what per-member statistics buy).
    pub(super) fn final_fit(&mut self, splits: &[&Split], tuning: &Tuning, shared_norm: bool) -> Result<Fitted> {
        let split = splits[0];
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
        let embed = splits.len() > 1 && cfg.symbol_embedding_dim > 0;
        if embed {
            arch.symbol_embedding_dim = i64::from(cfg.symbol_embedding_dim);
            arch.n_symbols = splits.len() as i64;
        }
        let member = |set: TensorSet, i: usize| if embed { set.with_member(i) } else { set };
        let norms: Vec<NormStats> = if shared_norm {
            let all: Vec<f32> = splits.iter().flat_map(|s| s.train.x.iter().copied()).collect();
            vec![NormStats::fit(&all); splits.len()]
        } else {
            splits.iter().map(|s| NormStats::fit(&s.train.x)).collect()
        };
        let vs = VarStore::new(device);
        let net = Network::new(&vs.root(), &arch)?;
        // Each member's validation part with its statistics (improved training only).
        let val_parts: Vec<(usize, Samples, &NormStats)> = splits
            .iter()
            .zip(&norms)
            .enumerate()
            .filter_map(|(i, (s, norm))| match (&s.cal.cal, cfg.use_improved_training) {
                (Some(cal), true) => Some((i, s.train.subset(cal.clone()), norm)),
                _ => None,
            })
            .collect();
        let n_val = val_parts.iter().map(|(_, v, _)| v.len()).sum();
        let n_fit: usize = splits.iter().map(|s| s.fit.len()).sum();
        let members = if splits.len() > 1 { format!(", {} pooled members", splits.len()) } else { String::new() };
        self.stage(
            stage::TRAINING,
            format!(
                "{} ({} training, {} validation samples{members}; lr {}, hidden {}, up to {} epochs, batch {}, {}, loss {})",
                arch.kind,
                n_fit,
                n_val,
                params.lr,
                params.hidden,
                params.epochs,
                params.batch_size,
                if cfg.use_improved_training { "improved: AdamW + cosine restarts + early stopping" } else { "plain Adam" },
                cfg.reg_loss_type
            ),
        );
        let tset = TensorSet::concat(
            splits
                .iter()
                .zip(&norms)
                .enumerate()
                .map(|(i, (s, norm))| member(TensorSet::new(&s.fit, norm, TARGET_SCALE, device), i))
                .collect(),
        );
        let vset = (!val_parts.is_empty()).then(|| {
            TensorSet::concat(
                val_parts.iter().map(|(i, v, norm)| member(TensorSet::new(v, norm, TARGET_SCALE, device), *i)).collect(),
            )
        });
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
        let metadata = self.metadata(split, tuning, &opts, arch, norms[0].clone());
        let model = LoadedModel::from_trained(metadata, vs, net);
        Ok(Fitted { model, report, train_eval, val_eval, n_val, norms })
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
            pool: None,
            member_index: 0,
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
            "symbol_embedding_dim": cfg.symbol_embedding_dim,
            "max_epochs_cap": cfg.max_epochs,
            "seed": self.session.seed,
        })
    }
}
