//! The core of trainer-svc, shared by the gRPC service and the one-shot `train` command. One
//! run, end to end ([`Core::run`]):
//!
//! 1. [`lifecycle`]: the run record is created `queued` and registered for CancelRun /
//!    AttachRun; every event is stored, broadcast and sent; exactly one terminal record;
//! 2. [`lease`]: the symbol's registry lease (queue position, renewal, guard);
//! 3. [`slots`]: a training slot of this process;
//! 4. [`data`]: the `(symbol, years)` data rule → samples;
//! 5. [`train`]: the current version and the training thread;
//! 6. [`save`]: version, plots, result.
//!
//! [`train_all`] runs many symbols through it; [`attach`] replays and follows a run's events;
//! [`abandoned`] closes runs whose owner is gone.
use std::time::{Duration, Instant};

use common::calendar::TradingCalendar;
use common::pb;
use common::registry::{Registry, RunStatus};
use common::{Error, Result};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::engine::{self, PoolMemberData};
use crate::live::LiveRuns;
use crate::metrics::Metrics;

pub mod abandoned;
pub mod actions;
pub mod attach;
pub mod backtest;
pub mod data;
pub mod lease;
pub mod lifecycle;
pub mod save;
pub mod slots;
pub mod spec;
pub mod train;
pub mod train_all;

pub use data::WARMUP_DAYS;
pub use save::{new_version_id, ACTOR};
pub use spec::{RunSpec, Work};

use lease::{LeaseGuard, LeaseTiming};
use lifecycle::{EventSink, RunTracker};
use slots::TrainingSlots;

/// Items of a Train / IncrementalTrain / RunTriggeredTraining / AttachRun response stream.
pub type EventTx = mpsc::Sender<std::result::Result<pb::TrainEvent, tonic::Status>>;

/// Tunables of the core.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Lifetime of a symbol lease.
    pub lease_ttl: Duration,
    /// Renewal period of a held lease.
    pub lease_renew: Duration,
    /// Default lease wait before ABORTED.
    pub lease_timeout: Duration,
    /// Runs training at once in this process.
    pub max_concurrent: usize,
    /// libtorch intra-op threads per run.
    pub cpu_threads: Option<i32>,
    /// Most training samples (trading days in range) one run may use; more is refused before
    /// any window is built, so one request cannot take all memory.
    pub max_train_samples: usize,
    /// Baseline gate for pipeline runs whose request does not say (issue 11).
    pub require_beats_baseline: bool,
    /// When the `live_quality` trigger fires (SPEC §14.2).
    pub live_rule: common::triggers::LiveRule,
}

/// Default of [`CoreSettings::max_train_samples`]: 15 000 trading days (about 60 years of daily
/// bars; peak RSS in BENCHMARKS.md).
pub const DEFAULT_MAX_TRAIN_SAMPLES: usize = 15_000;

impl Default for CoreSettings {
    fn default() -> Self {
        CoreSettings {
            lease_ttl: Duration::from_secs(60),
            lease_renew: Duration::from_secs(15),
            lease_timeout: Duration::from_secs(600),
            max_concurrent: 1,
            cpu_threads: None,
            max_train_samples: DEFAULT_MAX_TRAIN_SAMPLES,
            require_beats_baseline: false,
            live_rule: common::triggers::LiveRule::default(),
        }
    }
}

/// Retries a registry write that ends a run (5 attempts over ~3 s), so a short outage or a
/// momentarily full disk does not leave the run without its end.
pub(crate) async fn retry_write<F, Fut>(what: &str, mut write: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut wait = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match write().await {
            Ok(()) => return Ok(()),
            // A refusal is final (e.g. the terminal event's slot already holds the `abandoned`
            // end another replica recorded while this one was paused): retrying cannot help.
            Err(e) if attempt >= 5 || !matches!(e, Error::Unavailable(_) | Error::StorageFull(_) | Error::Internal(_)) => {
                return Err(e)
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "could not write {what}; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
        }
    }
}

/// How a run ended: its id (known even when it failed) and its result.
#[derive(Debug)]
pub struct RunEnd {
    /// The run id (empty only when the run record could not be created).
    pub run_id: String,
    /// The result, or why there is none.
    pub result: Result<pb::TrainResult>,
}

/// Shared state of the service: registry, calendar, metrics, live runs and the training slots.
#[derive(Debug)]
pub struct Core {
    /// The model registry.
    pub registry: Registry,
    /// Trading calendar of the triggers.
    pub calendar: TradingCalendar,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Runs in progress in this process.
    pub live: LiveRuns,
    /// Fired on shutdown; every run's token descends from it.
    pub shutdown: CancellationToken,
    settings: CoreSettings,
    slots: TrainingSlots,
}

impl Core {
    /// A core over an open registry.
    pub fn new(
        registry: Registry,
        calendar: TradingCalendar,
        metrics: Metrics,
        settings: CoreSettings,
        shutdown: CancellationToken,
    ) -> Core {
        Core {
            registry,
            calendar,
            metrics,
            live: LiveRuns::default(),
            shutdown,
            slots: TrainingSlots::new(settings.max_concurrent),
            settings,
        }
    }

    /// Settings in effect.
    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    /// `NotFound` unless the registry has bars for `symbol`.
    pub async fn ensure_symbol(&self, symbol: &str) -> Result<()> {
        if self.registry.symbols().await?.iter().any(|s| s == symbol) {
            Ok(())
        } else {
            Err(Error::not_found(format!(
                "unknown symbol {symbol}: no bars stored; ingest them first (IngestBars or \
                 `trainer-svc import --symbol {symbol} --csv FILE`)"
            )))
        }
    }

    /// `FailedPrecondition` unless `(symbol, years)` has a current version.
    pub async fn ensure_current(&self, symbol: &str, years: u32) -> Result<String> {
        match self.registry.current_version(symbol, years).await? {
            Some(v) => Ok(v.version_id),
            None => Err(Error::FailedPrecondition(format!(
                "no current model for incremental training: {symbol}/{years}y"
            ))),
        }
    }

    /// Executes one run end to end. Events go to the registry, to AttachRun followers and to
    /// `tx` (when given); a closed `tx` cancels the run. The run ends recorded as succeeded,
    /// failed (also recorded as a training failure) or cancelled — also when this future is
    /// dropped (then the lease is released and the end recorded in the background).
    pub async fn run(
        &self,
        spec: RunSpec,
        tx: Option<EventTx>,
        cancel: CancellationToken,
    ) -> RunEnd {
        let run_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("run", run_id = %run_id, symbol = %spec.symbol, years = spec.years, mode = %spec.mode);
        let result = async {
            let mut run = RunTracker::open(self, &spec, run_id.clone(), tx, cancel).await?;
            let mut leases = Vec::new();
            let mut result = self.execute(&spec, &mut run, &mut leases).await;
            if let (Err(Error::Cancelled(_)), Some(reason)) =
                (&result, leases.iter().find_map(LeaseGuard::lost))
            {
                result = Err(Error::Aborted(format!(
                    "{reason}; the run stopped without saving a version; train again"
                )));
            }
            run.finish(&result).await;
            // Released only after the end is recorded: a queued or running run without a live
            // lease has lost its owner, which is how any replica tells an abandoned run.
            for lease in leases {
                lease.release().await;
            }
            result
        }
        .instrument(span)
        .await;
        RunEnd { run_id, result }
    }

    /// Lease(s) → slot → data → training → saving, for a run whose record exists. The leases
    /// (one per symbol the run trains on, in sorted order), once held, are left in `leases` for
    /// the caller to release after the end is recorded.
    async fn execute(
        &self,
        spec: &RunSpec,
        run: &mut RunTracker,
        leases: &mut Vec<LeaseGuard>,
    ) -> Result<pb::TrainResult> {
        let accepted = Instant::now();
        let timing = LeaseTiming {
            ttl: self.settings.lease_ttl,
            renew: self.settings.lease_renew,
        };
        let timeout = spec.lease_timeout.unwrap_or(self.settings.lease_timeout);
        for symbol in spec.lease_symbols() {
            let left = timeout.saturating_sub(accepted.elapsed());
            leases.push(LeaseGuard::acquire(&self.registry, &symbol, timing, left, &mut run.events, &run.cancel).await?);
        }
        self.train_holding_lease(spec, run, accepted).await
    }

    async fn train_holding_lease(
        &self,
        spec: &RunSpec,
        run: &mut RunTracker,
        accepted: Instant,
    ) -> Result<pb::TrainResult> {
        let _slot = self.slots.acquire(&mut run.events, &run.cancel).await?;
        self.metrics
            .queue_wait_seconds
            .observe(accepted.elapsed().as_secs_f64());
        let running = self.registry.set_run_status(run.events.run_id(), RunStatus::Running);
        self.registry.bounded("marking the run running", running).await?;
        let _active = ActiveRun::new(&self.metrics);
        let sink = &mut run.events;
        sink.emit(pb::train_event::Event::Started(pb::Started {
            mode: spec.mode.clone(),
            device: spec.device_label(),
            config_json: spec.config_json(),
        }))
        .await;
        if let Work::Backtest(job) = &spec.work {
            return backtest::execute(self, spec, job, sink, &run.cancel).await;
        }
        if !spec.pool().is_empty() {
            return self.train_pool(spec, sink, &run.cancel).await;
        }
        let data::RunData { samples, range } =
            data::load(&self.registry, spec, sink, self.settings.max_train_samples).await?;
        if run.cancel.is_cancelled() {
            return Err(Error::Cancelled("run cancelled before training".into()));
        }
        let current = train::current_version(&self.registry, &spec.symbol, spec.years).await?;
        let current_id = current.as_ref().map(|c| c.version_id.clone());
        let work = train::engine_work(
            spec,
            current.as_ref(),
            self.settings.cpu_threads,
            self.settings.require_beats_baseline,
        )?;
        let outcome =
            train::on_thread(work, samples, current, sink, &self.metrics, &run.cancel)
                .await?;
        if run.cancel.is_cancelled() {
            return Err(Error::Cancelled(
                "run cancelled; no version was saved".into(),
            ));
        }
        save::save(&self.registry, spec, sink, &range, outcome, current_id).await
    }
}

impl Core {
    /// A pooled run (SPEC §14.3), holding every member's lease: each member's samples over the
    /// first member's span (its range, ending at its last bar), each member's current version,
    /// the pooled pipeline on its own thread, one version saved.
    async fn train_pool(&self, spec: &RunSpec, sink: &mut EventSink, cancel: &CancellationToken) -> Result<pb::TrainResult> {
        let max = self.settings.max_train_samples;
        let first = data::load(&self.registry, spec, sink, max).await?;
        let mut members = Vec::with_capacity(spec.pool().len() + 1);
        members.push((spec.symbol.clone(), first.samples));
        for symbol in spec.pool() {
            let member = spec.member(symbol, first.range.data_end);
            members.push((symbol.clone(), data::load(&self.registry, &member, sink, max).await?.samples));
        }
        if cancel.is_cancelled() {
            return Err(Error::Cancelled("run cancelled before training".into()));
        }
        let mut data = Vec::with_capacity(members.len());
        for (symbol, samples) in members {
            let current = train::current_version(&self.registry, &symbol, spec.years).await?;
            data.push(PoolMemberData { symbol, samples, current });
        }
        let current_id = data[0].current.as_ref().map(|c| c.version_id.clone());
        let engine::EngineWork::Pipeline(config) =
            train::engine_work(spec, None, self.settings.cpu_threads, self.settings.require_beats_baseline)?
        else {
            return Err(Error::internal("a pooled run without pipeline work"));
        };
        let outcome = train::pool_on_thread(config, data, sink, &self.metrics, cancel).await?;
        if cancel.is_cancelled() {
            return Err(Error::Cancelled("run cancelled; no version was saved".into()));
        }
        save::save(&self.registry, spec, sink, &first.range, outcome, current_id).await
    }
}

/// Counts a run in `trainer_active_runs` while alive.
struct ActiveRun<'a>(&'a Metrics);

impl<'a> ActiveRun<'a> {
    fn new(metrics: &'a Metrics) -> ActiveRun<'a> {
        metrics.active_runs.inc();
        ActiveRun(metrics)
    }
}

impl Drop for ActiveRun<'_> {
    fn drop(&mut self) {
        self.0.active_runs.dec();
    }
}
