//! The end-to-end training pipeline (seed 000 §2, SPEC §6): optional CV grid search → final fit
//! (improved or plain) → leak-free holdout validation against the current model → feature
//! importance → plots → artifact.
//!
//! [`run_pipeline`] is the sequence of stages, each a method of the run (`PipelineRun`) in the
//! file of its concern, taking the earlier stages' results:
//! - `split`: `[train | purge gap | holdout]`, and `[fit | gap | calibration]` inside train;
//! - `tuning`: the final fit's hyper-parameters (CV grid / TPE search, or the fixed choice);
//! - `final_fit`: the final fit and the new version's metadata;
//! - `validation`: calibration, holdout validation against the current model, the deploy
//!   decision;
//! - `importance`: permutation importance and integrated gradients;
//! - `report`: plots, metrics, diagnostics and the [`PipelineOutcome`].
//!
//! [`run_pooled`] (`pool`) runs the same stages for a pool of symbols: one split per member,
//! cut at the same dates, one fit on all of them, calibration and validation per member.
mod final_fit;
mod importance;
mod pool;
mod report;
mod split;
mod tuning;
mod validation;

use super::config::PipelineConfig;
use super::events::TrainEvent;
use super::session::Session;
use crate::evaluation::{min_samples_for_holdout, DeployDecision, FeatureImportance, HoldoutMetrics};
use crate::features::{insufficient_samples, Samples, N_FEATURES, SEQ_LEN};
use crate::model::ModelMetadata;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub(crate) use report::fit_metrics;
pub use pool::{run_pooled, run_pooled_with, MemberOutcome, PoolInput, PoolNormalisation, PooledOutcome, MAX_POOL_MEMBERS, MIN_MEMBER_HOLDOUT};

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

/// One pipeline run: the request and what every stage shares (session with its RNG, progress
/// sink, cancellation, start time). The stages are its methods, one file a concern.
struct PipelineRun<'a> {
    cfg: &'a PipelineConfig,
    session: Session,
    events: &'a mut dyn FnMut(TrainEvent),
    cancel: &'a CancellationToken,
    started: Instant,
}

impl PipelineRun<'_> {
    /// Sends a stage event.
    fn stage(&mut self, name: &str, detail: impl Into<String>) {
        (self.events)(TrainEvent::stage(name, detail));
    }
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
    if cfg.symbol_embedding_dim > 0 {
        return Err(Error::invalid(
            "symbol_embedding_dim needs a pool: set pool_symbols, or leave it 0 for a single-symbol model",
        ));
    }
    check_samples(samples, min_samples(cfg.do_post_training_validation))?;
    let session = Session::start(cfg.device, cfg.seed, cfg.cpu_threads)?;
    let mut run = PipelineRun { cfg, session, events, cancel, started };
    let split = run.split(samples)?;
    let tuning = run.tune(&split)?;
    let mut fitted = run.final_fit(&[&split], &tuning, false)?;
    let calibration = run.calibrate(&split, &fitted.model)?;
    let checked = run.validate(&split, &mut fitted.model, calibration, current)?;
    let importance = run.importance(&split, &mut fitted.model)?;
    let plots = run.plots(&split, &fitted.report, &checked)?;
    run.finish(split, tuning, fitted, checked, importance, plots)
}

/// `Err(Cancelled)` once `cancel` has fired (checked between stages).
fn check_cancel(cancel: &CancellationToken) -> Result<()> {
    if cancel.is_cancelled() {
        Err(Error::Cancelled("training cancelled between stages".into()))
    } else {
        Ok(())
    }
}
