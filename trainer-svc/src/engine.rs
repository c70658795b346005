//! The blocking call into the training engine (`common::training`), run on its own thread.
use std::collections::BTreeMap;

use common::evaluation::HoldoutMetrics;
use common::features::Samples;
use common::model::ModelMetadata;
use common::training::{
    run_incremental, run_pipeline, run_pooled, CurrentModel, IncrementalConfig, MemberOutcome, PipelineConfig,
    PipelineOutcome, PoolInput, TrainEvent,
};
use common::{Error, Result};
use tokio_util::sync::CancellationToken;

/// The current version of a key, loaded from the registry.
#[derive(Debug, Clone)]
pub struct Current {
    /// Its id.
    pub version_id: String,
    /// Its metadata.
    pub metadata: ModelMetadata,
    /// Its verified weights.
    pub weights: Vec<u8>,
}

/// What the training thread runs.
// One value per run (see `core::Work`): not worth boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum EngineWork {
    /// The full pipeline.
    Pipeline(PipelineConfig),
    /// Fine-tuning of the current version (which must be given).
    Incremental {
        /// Fine-tuning options.
        config: IncrementalConfig,
        /// libtorch intra-op threads.
        cpu_threads: Option<i32>,
    },
}

/// What a training run produced.
#[derive(Debug, Clone)]
pub struct EngineOutcome {
    /// Metadata of the new version.
    pub metadata: ModelMetadata,
    /// Its safetensors weights.
    pub weights: Vec<u8>,
    /// Whether it becomes current.
    pub deploy: bool,
    /// Why (or why not).
    pub reason: String,
    /// Candidate and current holdout metrics, when validation ran.
    pub validation: Option<(HoldoutMetrics, Option<HoldoutMetrics>)>,
    /// Base-rate and linear baselines on the holdout, when validation ran.
    pub baselines: Vec<common::baselines::BaselineScore>,
    /// PNGs by name.
    pub plots: Vec<(String, Vec<u8>)>,
    /// Grid-search report.
    pub cross_validation: Option<serde_json::Value>,
    /// Flat metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Wall time.
    pub training_seconds: f64,
    /// Samples used.
    pub n_samples: usize,
    /// A pooled run's members (the version's own symbol first) with their deploy decisions;
    /// empty for a single-symbol run.
    pub pool: Vec<MemberOutcome>,
}

/// One member of a pooled run, as loaded by the service.
#[derive(Debug)]
pub struct PoolMemberData {
    /// Its ticker.
    pub symbol: String,
    /// Its samples over the pool's span.
    pub samples: Samples,
    /// The version current for its key.
    pub current: Option<Current>,
}

/// Runs the pooled pipeline on `members` (the version's own symbol first). Blocking.
pub fn run_pool(
    config: PipelineConfig,
    members: &[PoolMemberData],
    events: &mut dyn FnMut(TrainEvent),
    cancel: &CancellationToken,
) -> Result<EngineOutcome> {
    let inputs: Vec<PoolInput<'_>> = members
        .iter()
        .map(|m| PoolInput {
            symbol: &m.symbol,
            samples: &m.samples,
            current: m.current.as_ref().map(|c| CurrentModel {
                version_id: &c.version_id,
                metadata: &c.metadata,
                weights: &c.weights,
            }),
        })
        .collect();
    let pooled = run_pooled(&inputs, &config, events, cancel)?;
    let mut outcome = EngineOutcome::from(pooled.outcome);
    outcome.pool = pooled.members;
    Ok(outcome)
}

impl From<PipelineOutcome> for EngineOutcome {
    fn from(o: PipelineOutcome) -> Self {
        let PipelineOutcome {
            metadata,
            weights,
            deploy,
            validation,
            baselines,
            importance: _, // also in metadata.feature_importance
            plots,
            cross_validation,
            metrics,
            training_seconds,
            n_samples,
        } = o;
        EngineOutcome {
            metadata,
            weights,
            deploy: deploy.deploy,
            reason: deploy.reason,
            validation,
            baselines,
            plots: plots
                .into_iter()
                .map(|(name, png)| (name.trim_end_matches(".png").to_string(), png))
                .collect(),
            cross_validation,
            metrics,
            training_seconds,
            n_samples,
            pool: Vec::new(),
        }
    }
}

/// Runs `work` on `samples` (blocking). Incremental work needs `current`.
pub fn run(
    work: EngineWork,
    samples: &Samples,
    current: Option<Current>,
    events: &mut dyn FnMut(TrainEvent),
    cancel: &CancellationToken,
) -> Result<EngineOutcome> {
    let cur = current.as_ref().map(|c| CurrentModel {
        version_id: &c.version_id,
        metadata: &c.metadata,
        weights: &c.weights,
    });
    match work {
        EngineWork::Pipeline(cfg) => {
            run_pipeline(samples, &cfg, cur, events, cancel).map(Into::into)
        }
        EngineWork::Incremental {
            config,
            cpu_threads,
        } => {
            let cur = cur.ok_or_else(|| {
                Error::FailedPrecondition("no current model for incremental training".into())
            })?;
            if let Some(n) = cpu_threads {
                tch::set_num_threads(n);
            }
            run_incremental(samples, cur, &config, events, cancel).map(Into::into)
        }
    }
}
