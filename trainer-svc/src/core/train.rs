//! The training step of a run: the key's current version (compared against, or fine-tuned),
//! and the engine on its own thread with its events flowing back through a bounded channel.
use common::features::Samples;
use common::registry::Registry;
use common::training::events::TrainEvent;
use common::training::PipelineConfig;
use common::{Error, Result};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::lifecycle::EventSink;
use super::spec::{RunSpec, Work};
use crate::convert;
use crate::engine::{self, Current, EngineOutcome, EngineWork, PoolMemberData};
use crate::metrics::Metrics;

/// The current version of `(symbol, years)` with readable metadata and weights; a version
/// that cannot be read is logged and treated as absent.
pub async fn current_version(registry: &Registry, symbol: &str, years: u32) -> Result<Option<Current>> {
    let Some(info) = registry.current_version(symbol, years).await? else {
        return Ok(None);
    };
    let rec = match registry.version(&info.version_id).await {
        Ok(rec) => rec,
        Err(e) => {
            warn!(version_id = %info.version_id, error = %e, "current version unusable; training without it");
            return Ok(None);
        }
    };
    // A pooled version is this key's as its member: its statistics, calibration, embedding row.
    let parsed = serde_json::from_str::<common::model::ModelMetadata>(&rec.metadata_json)
        .map_err(|e| e.to_string())
        .and_then(|md| if md.pool.is_some() { md.for_member(symbol).map_err(|e| e.to_string()) } else { Ok(md) });
    match parsed {
        Ok(metadata) => Ok(Some(Current {
            version_id: info.version_id,
            metadata,
            weights: rec.weights,
        })),
        Err(e) => {
            warn!(version_id = %info.version_id, error = %e, "current version metadata unreadable; training without it");
            Ok(None)
        }
    }
}

/// The engine's work for `spec`; incremental work without a current version is refused.
pub fn engine_work(
    spec: &RunSpec,
    current: Option<&Current>,
    cpu_threads: Option<i32>,
    require_beats_baseline: bool,
) -> Result<EngineWork> {
    Ok(match &spec.work {
        Work::Pipeline { config, .. } => {
            let mut config = config.clone();
            config.symbol = spec.symbol.clone();
            config.years = spec.years;
            config.cpu_threads = config.cpu_threads.or(cpu_threads);
            // The request's choice, else the server's default.
            config.require_beats_baseline = config.require_beats_baseline.or(Some(require_beats_baseline));
            EngineWork::Pipeline(config)
        }
        Work::Incremental { config, .. } => {
            if current.is_none() {
                return Err(Error::FailedPrecondition(format!(
                    "no current model for incremental training: {}/{}y",
                    spec.symbol, spec.years
                )));
            }
            EngineWork::Incremental {
                config: config.clone(),
                cpu_threads,
            }
        }
        Work::Backtest(_) => return Err(Error::internal("a backtest run reached the training path")),
    })
}

/// Runs `work` on a blocking thread, forwarding its events to `sink` (epoch times to the
/// metrics). `cancel` is checked by the engine between batches.
pub async fn on_thread(
    work: EngineWork,
    samples: Samples,
    current: Option<Current>,
    sink: &mut EventSink,
    metrics: &Metrics,
    cancel: &CancellationToken,
) -> Result<EngineOutcome> {
    let current_id = current.as_ref().map(|c| c.version_id.clone());
    let job = move |events: &mut dyn FnMut(TrainEvent), cancel: &CancellationToken| {
        engine::run(work, &samples, current, events, cancel)
    };
    blocking(job, current_id, sink, metrics, cancel).await
}

/// Runs a pooled pipeline on a blocking thread, like [`on_thread`]; validation events name the
/// first member's current version.
pub async fn pool_on_thread(
    config: PipelineConfig,
    members: Vec<PoolMemberData>,
    sink: &mut EventSink,
    metrics: &Metrics,
    cancel: &CancellationToken,
) -> Result<EngineOutcome> {
    let current_id = members[0].current.as_ref().map(|c| c.version_id.clone());
    let job = move |events: &mut dyn FnMut(TrainEvent), cancel: &CancellationToken| {
        engine::run_pool(config, &members, events, cancel)
    };
    blocking(job, current_id, sink, metrics, cancel).await
}

/// Runs `job` on a blocking thread and forwards its events to `sink` until it ends.
async fn blocking<J>(
    job: J,
    current_id: Option<String>,
    sink: &mut EventSink,
    metrics: &Metrics,
    cancel: &CancellationToken,
) -> Result<EngineOutcome>
where
    J: FnOnce(&mut dyn FnMut(TrainEvent), &CancellationToken) -> Result<EngineOutcome> + Send + 'static,
{
    let (etx, mut erx) = mpsc::channel(256);
    let thread_cancel = cancel.clone();
    let span = tracing::info_span!("training", run_id = %sink.run_id(), symbol = %sink.symbol());
    let handle = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        job(
            &mut |ev| {
                let _ = etx.blocking_send(ev);
            },
            &thread_cancel,
        )
    });
    while let Some(ev) = erx.recv().await {
        match &ev {
            TrainEvent::Epoch { seconds, .. } => metrics.epoch_seconds.observe(*seconds),
            TrainEvent::Stage { stage, detail } => info!(stage = %stage, detail = %detail, "stage"),
            TrainEvent::Validation { quality: Some(q), .. } => {
                let result = if q.beats_baseline { "beats" } else { "loses" };
                metrics.validation_baseline.with_label_values(&[result]).inc();
            }
            TrainEvent::CvFold {
                combination,
                trial: Some(t),
                ..
            } => {
                let state = if t.pruned { "pruned" } else { "complete" };
                metrics.cv_trials.with_label_values(&[state]).inc();
                info!(trial = combination, state, objective = t.objective, best = ?t.best_objective, "cv trial");
            }
            _ => {}
        }
        sink.emit(convert::engine_event_to_pb(ev, current_id.as_deref()))
            .await;
    }
    handle
        .await
        .map_err(|e| Error::internal(format!("training thread failed: {e}")))?
}
