//! The core of trainer-svc, shared by the gRPC service and the one-shot `train` command: run
//! bookkeeping, the per-symbol lease, the training slot, data loading, the training thread, saving
//! versions and plots, and streaming every event (stored first, then broadcast and sent).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Months, NaiveDate, Utc};
use common::calendar::TradingCalendar;
use common::data::Bar;
use common::features::{build_samples, FeatureConfig, Samples, MIN_TRADING_DAYS};
use common::pb::{self, train_event::Event};
use common::registry::{LeaseAttempt, NewRun, NewVersion, Promotion, Registry, RunStatus};
use common::training::{IncrementalConfig, PipelineConfig};
use common::{Error, Result};
use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use crate::convert;
use crate::engine::{self, EngineOutcome, EngineWork};
use crate::live::LiveRuns;
use crate::metrics::{code_name, Metrics};
use crate::requests::DateRange;

/// Days of indicator warm-up loaded before a model's range when they exist (SPEC §3).
pub const WARMUP_DAYS: usize = 60;
/// Identity recorded on promotions made by training.
pub const ACTOR: &str = "trainer-svc";

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
    /// any window is built, so one request cannot take all memory (≈ 28 KB per sample).
    pub max_train_samples: usize,
}

/// Default of [`CoreSettings::max_train_samples`]: 15 000 trading days (about 60 years of daily
/// bars, ≈ 0.5 GB of training memory).
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
        }
    }
}

/// What a run trains.
#[derive(Debug, Clone)]
pub enum Work {
    /// The full pipeline on `(end − years, end]` (or the explicit range).
    Pipeline {
        /// Pipeline options (symbol and years already set).
        config: PipelineConfig,
        /// Explicit data range.
        range: DateRange,
        /// Keep a candidate that loses the validation as a non-current version.
        keep_rejected: bool,
    },
    /// Fine-tuning of the current version on the last `months` months.
    Incremental {
        /// Fine-tuning options.
        config: IncrementalConfig,
        /// Months of recent data.
        months: u32,
    },
}

/// One training run to execute.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Ticker.
    pub symbol: String,
    /// Model key years.
    pub years: u32,
    /// `train` | `incremental` | `triggered:<kind>` | `train_all` | `cli`.
    pub mode: String,
    /// Caller identity recorded with the run.
    pub requested_by: String,
    /// Lease wait; `None` = the server default.
    pub lease_timeout: Option<Duration>,
    /// Inline bars instead of the registry's.
    pub inline_bars: Option<Vec<Bar>>,
    /// What to train.
    pub work: Work,
}

impl RunSpec {
    fn config_json(&self) -> String {
        let work = match &self.work {
            Work::Pipeline {
                config,
                range,
                keep_rejected,
            } => serde_json::json!({
                "kind": "pipeline",
                "pipeline": config,
                "start": range.start,
                "end": range.end,
                "keep_rejected": keep_rejected,
            }),
            Work::Incremental { config, months } => serde_json::json!({
                "kind": "incremental",
                "incremental": config,
                "months": months,
            }),
        };
        serde_json::json!({
            "symbol": self.symbol,
            "years": self.years,
            "mode": self.mode,
            "inline_bars": self.inline_bars.as_ref().map(Vec::len),
            "lease_timeout_seconds": self.lease_timeout.map(|d| d.as_secs()),
            "work": work,
        })
        .to_string()
    }

    fn device_label(&self) -> String {
        let choice = match &self.work {
            Work::Pipeline { config, .. } => config.device,
            Work::Incremental { config, .. } => config.device,
        };
        match choice.resolve() {
            Ok(tch::Device::Cpu) => "cpu".into(),
            Ok(tch::Device::Cuda(n)) => format!("cuda:{n}"),
            Ok(other) => format!("{other:?}"),
            Err(_) => choice.to_string(),
        }
    }
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
    slots: Arc<Semaphore>,
    slot_waiters: AtomicUsize,
}

/// Writes events of one run: registry first, then the live broadcast, then the caller's stream.
struct EventSink {
    run_id: String,
    symbol: String,
    years: u32,
    seq: u64,
    registry: Registry,
    live: broadcast::Sender<pb::TrainEvent>,
    tx: Option<EventTx>,
    cancel: CancellationToken,
}

impl EventSink {
    async fn emit(&mut self, event: Event) {
        self.seq += 1;
        let ev = pb::TrainEvent {
            run_id: self.run_id.clone(),
            symbol: self.symbol.clone(),
            years: self.years,
            seq: self.seq,
            timestamp_ms: Utc::now().timestamp_millis(),
            event: Some(event),
        };
        if let Err(e) = self
            .registry
            .append_run_event(&self.run_id, self.seq, &convert::event_to_json(&ev))
            .await
        {
            warn!(run_id = %self.run_id, seq = self.seq, error = %e, "could not store run event");
        }
        let _ = self.live.send(ev.clone());
        if let Some(tx) = &self.tx {
            if tx.send(Ok(ev)).await.is_err() {
                info!(run_id = %self.run_id, "caller went away; cancelling the run");
                self.tx = None;
                self.cancel.cancel();
            }
        }
    }

    async fn stage(&mut self, stage: &str, detail: impl Into<String>) {
        self.emit(Event::Stage(pb::StageChanged {
            stage: stage.into(),
            detail: detail.into(),
        }))
        .await;
    }
}

/// A held lease, renewed in the background until released.
struct LeaseGuard {
    registry: Registry,
    symbol: String,
    holder: String,
    stop: CancellationToken,
}

impl LeaseGuard {
    async fn release(self) {
        self.stop.cancel();
        if let Err(e) = self
            .registry
            .release_lease(&self.symbol, &self.holder)
            .await
        {
            warn!(symbol = %self.symbol, holder = %self.holder, error = %e,
                "could not release the training lease; it expires by itself");
        }
    }
}

/// Bars of a run and where its range starts.
struct RunData {
    samples: Samples,
    data_start: NaiveDate,
    data_end: NaiveDate,
    bars_in_range: usize,
}

/// A new version id: `SYMBOL-Ny-YYYYMMDDTHHMMSSZ-xxxxxxxx`.
pub fn new_version_id(symbol: &str, years: u32) -> String {
    let short = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{symbol}-{years}y-{}-{}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        &short[..8]
    )
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
        let slots = Arc::new(Semaphore::new(settings.max_concurrent.max(1)));
        Core {
            registry,
            calendar,
            metrics,
            live: LiveRuns::default(),
            shutdown,
            settings,
            slots,
            slot_waiters: AtomicUsize::new(0),
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

    /// Executes one run end to end and returns its result. Events go to the registry, to
    /// AttachRun followers and to `tx` (when given); a closed `tx` cancels the run. The run ends
    /// recorded as succeeded, failed (also recorded as a training failure) or cancelled.
    pub async fn run(
        &self,
        spec: RunSpec,
        tx: Option<EventTx>,
        cancel: CancellationToken,
    ) -> Result<pb::TrainResult> {
        self.run_tracked(spec, tx, cancel).await.1
    }

    /// [`Core::run`], also returning the run id (known even when the run failed).
    pub async fn run_tracked(
        &self,
        spec: RunSpec,
        tx: Option<EventTx>,
        cancel: CancellationToken,
    ) -> (String, Result<pb::TrainResult>) {
        let run_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("run", run_id = %run_id, symbol = %spec.symbol, years = spec.years, mode = %spec.mode);
        let r = self
            .run_with_id(run_id.clone(), spec, tx, cancel)
            .instrument(span)
            .await;
        (run_id, r)
    }

    async fn run_with_id(
        &self,
        run_id: String,
        spec: RunSpec,
        tx: Option<EventTx>,
        cancel: CancellationToken,
    ) -> Result<pb::TrainResult> {
        self.registry
            .create_run(NewRun {
                run_id: run_id.clone(),
                symbol: spec.symbol.clone(),
                years: spec.years,
                mode: spec.mode.clone(),
                config_json: spec.config_json(),
                requested_by: spec.requested_by.clone(),
            })
            .await?;
        let (_guard, live_tx) = self.live.register(&run_id, cancel.clone());
        let mut sink = EventSink {
            run_id: run_id.clone(),
            symbol: spec.symbol.clone(),
            years: spec.years,
            seq: 0,
            registry: self.registry.clone(),
            live: live_tx,
            tx: tx.clone(),
            cancel: cancel.clone(),
        };
        // A caller that goes away cancels the run even while no event is being sent.
        let watch_done = CancellationToken::new();
        if let Some(tx) = tx {
            let (cancel, done) = (cancel.clone(), watch_done.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = tx.closed() => cancel.cancel(),
                    _ = done.cancelled() => {}
                }
            });
        }
        self.metrics
            .runs_started
            .with_label_values(&[&spec.mode])
            .inc();
        info!("run accepted");

        let result = self.run_inner(&spec, &mut sink, &cancel).await;
        watch_done.cancel();
        let outcome = match &result {
            Ok(res) => {
                let version = (!res.version_id.is_empty()).then_some(res.version_id.as_str());
                if let Err(e) = self
                    .registry
                    .finish_run(&run_id, RunStatus::Succeeded, version, None)
                    .await
                {
                    warn!(error = %e, "could not record the end of the run");
                }
                info!(version_id = %res.version_id, deployed = res.deployed, "run succeeded");
                "succeeded"
            }
            Err(err) => {
                let cancelled = matches!(err, Error::Cancelled(_));
                let status = if cancelled {
                    RunStatus::Cancelled
                } else {
                    RunStatus::Failed
                };
                let msg = err.to_string();
                if let Err(e) = self
                    .registry
                    .finish_run(&run_id, status, None, Some(&msg))
                    .await
                {
                    warn!(error = %e, "could not record the end of the run");
                }
                if !cancelled {
                    if let Err(e) = self
                        .registry
                        .record_failure(&spec.symbol, spec.years, Some(&run_id), &msg)
                        .await
                    {
                        warn!(error = %e, "could not record the training failure");
                    }
                    warn!(error = %msg, "run failed");
                } else {
                    info!(reason = %msg, "run cancelled");
                }
                sink.emit(Event::Failed(pb::Failed {
                    code: code_name(err.code()).into(),
                    message: msg,
                }))
                .await;
                if cancelled {
                    "cancelled"
                } else {
                    "failed"
                }
            }
        };
        self.metrics
            .runs_finished
            .with_label_values(&[&spec.mode, outcome])
            .inc();
        result
    }

    async fn run_inner(
        &self,
        spec: &RunSpec,
        sink: &mut EventSink,
        cancel: &CancellationToken,
    ) -> Result<pb::TrainResult> {
        let accepted = Instant::now();
        let timeout = spec.lease_timeout.unwrap_or(self.settings.lease_timeout);
        let lease = self.acquire_lease(sink, timeout, cancel).await?;
        let result = self.run_with_lease(spec, sink, cancel, accepted).await;
        lease.release().await;
        result
    }

    async fn acquire_lease(
        &self,
        sink: &mut EventSink,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<LeaseGuard> {
        let (symbol, holder) = (sink.symbol.clone(), sink.run_id.clone());
        let ttl = self.settings.lease_ttl;
        let poll = (ttl / 4).clamp(Duration::from_millis(50), Duration::from_millis(500));
        let started = Instant::now();
        let mut last: Option<(u32, String)> = None;
        loop {
            if cancel.is_cancelled() {
                let _ = self.registry.leave_lease_queue(&symbol, &holder).await;
                return Err(Error::Cancelled(
                    "run cancelled while waiting for the symbol's training lease".into(),
                ));
            }
            match self
                .registry
                .try_acquire_lease(&symbol, &holder, ttl)
                .await?
            {
                LeaseAttempt::Acquired => break,
                LeaseAttempt::Waiting {
                    position,
                    holder: ahead,
                } => {
                    if last.as_ref() != Some(&(position, ahead.clone())) {
                        info!(position, holder = %ahead, "queued for the symbol's training lease");
                        sink.emit(Event::Queued(pb::Queued {
                            position,
                            holder_run_id: ahead.clone(),
                        }))
                        .await;
                        last = Some((position, ahead.clone()));
                    }
                    if started.elapsed() >= timeout {
                        let _ = self.registry.leave_lease_queue(&symbol, &holder).await;
                        return Err(Error::LeaseTimeout(format!(
                            "timed out after {}s waiting for the training lease of {symbol}, held by run \
                             {ahead}; retry later, cancel that run (CancelRun), or raise lease_timeout_seconds",
                            timeout.as_secs_f64().round()
                        )));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = cancel.cancelled() => {}
                    }
                }
            }
        }
        let stop = CancellationToken::new();
        let (registry, renew, s2, h2, stop2, run_cancel) = (
            self.registry.clone(),
            self.settings.lease_renew,
            symbol.clone(),
            holder.clone(),
            stop.clone(),
            cancel.clone(),
        );
        // Renew until released. A lease that is lost (taken over after expiry, or not renewable
        // for a whole ttl) means another replica may train this symbol now: the run is cancelled
        // rather than racing it to write a version.
        tokio::spawn(async move {
            let mut last_renewed = Instant::now();
            loop {
                tokio::select! {
                    _ = stop2.cancelled() => break,
                    _ = tokio::time::sleep(renew) => {
                        match registry.renew_lease(&s2, &h2, ttl).await {
                            Ok(true) => last_renewed = Instant::now(),
                            Ok(false) => {
                                error!(symbol = %s2, holder = %h2, "training lease was lost (expired or taken over); cancelling the run");
                                run_cancel.cancel();
                                break;
                            }
                            Err(e) if last_renewed.elapsed() >= ttl => {
                                error!(symbol = %s2, holder = %h2, error = %e, "training lease not renewable for a whole ttl; cancelling the run");
                                run_cancel.cancel();
                                break;
                            }
                            Err(e) => warn!(symbol = %s2, holder = %h2, error = %e, "could not renew the training lease; retrying"),
                        }
                    }
                }
            }
        });
        Ok(LeaseGuard {
            registry: self.registry.clone(),
            symbol,
            holder,
            stop,
        })
    }

    async fn run_with_lease(
        &self,
        spec: &RunSpec,
        sink: &mut EventSink,
        cancel: &CancellationToken,
        accepted: Instant,
    ) -> Result<pb::TrainResult> {
        // A training slot of this process.
        let _permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let position = self.slot_waiters.fetch_add(1, Ordering::SeqCst) as u32 + 1;
                sink.emit(Event::Queued(pb::Queued {
                    position,
                    holder_run_id: String::new(),
                }))
                .await;
                let got = tokio::select! {
                    p = self.slots.clone().acquire_owned() => p.map_err(|_| Error::Unavailable("trainer is shutting down".into())),
                    _ = cancel.cancelled() => Err(Error::Cancelled("run cancelled while waiting for a training slot".into())),
                };
                self.slot_waiters.fetch_sub(1, Ordering::SeqCst);
                got?
            }
        };
        self.metrics
            .queue_wait_seconds
            .observe(accepted.elapsed().as_secs_f64());
        self.registry
            .set_run_status(&sink.run_id, RunStatus::Running)
            .await?;
        self.metrics.active_runs.inc();
        let result = self.train(spec, sink, cancel).await;
        self.metrics.active_runs.dec();
        result
    }

    async fn train(
        &self,
        spec: &RunSpec,
        sink: &mut EventSink,
        cancel: &CancellationToken,
    ) -> Result<pb::TrainResult> {
        let config_json = spec.config_json();
        sink.emit(Event::Started(pb::Started {
            mode: spec.mode.clone(),
            device: spec.device_label(),
            config_json,
        }))
        .await;

        let source = if spec.inline_bars.is_some() { "inline bars of the request" } else { "the registry" };
        sink.stage("loading_data", format!("bars of {} from {source}", spec.symbol)).await;
        let (range_start_excl, range_end) = match &spec.work {
            Work::Pipeline { range, .. } => {
                (range.start.map(|s| s.pred_opt().unwrap_or(s)), range.end)
            }
            Work::Incremental { .. } => (None, None),
        };
        let bars = match &spec.inline_bars {
            Some(b) => b
                .iter()
                .copied()
                .filter(|b| range_end.is_none_or(|e| b.date <= e))
                .collect::<Vec<_>>(),
            None => self.registry.bars(&spec.symbol, None, range_end).await?,
        };
        if bars.is_empty() {
            return Err(Error::not_found(format!(
                "no bars for {}{}; ingest them first (IngestBars or `trainer-svc import`)",
                spec.symbol,
                range_end.map(|e| format!(" up to {e}")).unwrap_or_default()
            )));
        }
        let end = bars[bars.len() - 1].date;
        let start_excl = match (&spec.work, range_start_excl) {
            (_, Some(s)) => s,
            (Work::Pipeline { .. }, None) => end
                .checked_sub_months(Months::new(12 * spec.years))
                .unwrap_or(end),
            (Work::Incremental { months, .. }, None) => {
                end.checked_sub_months(Months::new(*months)).unwrap_or(end)
            }
        };
        sink.stage("features", format!("{} bars up to {end}", bars.len()))
            .await;
        let max_samples = self.settings.max_train_samples;
        let data = tokio::task::spawn_blocking(move || prepare(bars, start_excl, max_samples))
            .await
            .map_err(|e| Error::internal(format!("feature thread failed: {e}")))??;
        if cancel.is_cancelled() {
            return Err(Error::Cancelled("run cancelled before training".into()));
        }

        // The current version: compared against (pipeline) or fine-tuned (incremental).
        let current = match self
            .registry
            .current_version(&spec.symbol, spec.years)
            .await?
        {
            Some(info) => match self.registry.version(&info.version_id).await {
                Ok(rec) => match serde_json::from_str(&rec.metadata_json) {
                    Ok(metadata) => Some(engine::Current {
                        version_id: info.version_id,
                        metadata,
                        weights: rec.weights,
                    }),
                    Err(e) => {
                        warn!(version_id = %info.version_id, error = %e, "current version metadata unreadable; training without it");
                        None
                    }
                },
                Err(e) => {
                    warn!(version_id = %info.version_id, error = %e, "current version unusable; training without it");
                    None
                }
            },
            None => None,
        };
        let current_id = current.as_ref().map(|c| c.version_id.clone());
        let (work, engine_current) = match &spec.work {
            Work::Pipeline { config, .. } => {
                let mut config = config.clone();
                config.symbol = spec.symbol.clone();
                config.years = spec.years;
                config.cpu_threads = config.cpu_threads.or(self.settings.cpu_threads);
                (EngineWork::Pipeline(config), current)
            }
            Work::Incremental { config, .. } => {
                if current.is_none() {
                    return Err(Error::FailedPrecondition(format!(
                        "no current model for incremental training: {}/{}y",
                        spec.symbol, spec.years
                    )));
                }
                (
                    EngineWork::Incremental {
                        config: config.clone(),
                        cpu_threads: self.settings.cpu_threads,
                    },
                    current,
                )
            }
        };

        // Training on its own thread; events flow back through a bounded channel.
        let (etx, mut erx) = mpsc::channel(256);
        let thread_cancel = cancel.clone();
        let span = tracing::info_span!("training", run_id = %sink.run_id, symbol = %spec.symbol, years = spec.years);
        let samples = data.samples;
        let handle = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            engine::run(
                work,
                &samples,
                engine_current,
                &mut |ev| {
                    let _ = etx.blocking_send(ev);
                },
                &thread_cancel,
            )
        });
        while let Some(ev) = erx.recv().await {
            if let common::training::events::TrainEvent::Epoch { seconds, .. } = &ev {
                self.metrics.epoch_seconds.observe(*seconds);
            }
            if let common::training::events::TrainEvent::Stage { stage, detail } = &ev {
                info!(stage = %stage, detail = %detail, "stage");
            }
            sink.emit(convert::engine_event_to_pb(ev, current_id.as_deref()))
                .await;
        }
        let outcome = handle
            .await
            .map_err(|e| Error::internal(format!("training thread failed: {e}")))??;
        if cancel.is_cancelled() {
            return Err(Error::Cancelled(
                "run cancelled; no version was saved".into(),
            ));
        }
        self.save(
            spec,
            sink,
            data.data_start,
            data.data_end,
            data.bars_in_range,
            outcome,
            current_id,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn save(
        &self,
        spec: &RunSpec,
        sink: &mut EventSink,
        data_start: NaiveDate,
        data_end: NaiveDate,
        bars_in_range: usize,
        outcome: EngineOutcome,
        current_id: Option<String>,
    ) -> Result<pb::TrainResult> {
        let keep_rejected = match &spec.work {
            Work::Pipeline { keep_rejected, .. } => *keep_rejected,
            Work::Incremental { .. } => true,
        };
        let deploy = outcome.deploy;
        // The engine announced the `saving` stage; the registry write follows.
        let metadata_json = serde_json::to_string(&outcome.metadata)?;
        let model_kind = outcome.metadata.architecture.kind.as_str().to_string();
        let mut version_id = String::new();
        if deploy || keep_rejected {
            let id = new_version_id(&spec.symbol, spec.years);
            let note = if deploy {
                String::new()
            } else {
                format!("not deployed: {}", outcome.reason)
            };
            let metrics: BTreeMap<String, f64> = outcome
                .metrics
                .iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            self.registry
                .save_version(
                    NewVersion {
                        version_id: id.clone(),
                        symbol: spec.symbol.clone(),
                        years: spec.years,
                        model_kind: model_kind.clone(),
                        data_start,
                        data_end,
                        training_seconds: outcome.training_seconds.max(0.0),
                        metadata_json,
                        metrics,
                        weights: outcome.weights,
                        note,
                    },
                    deploy.then(|| Promotion {
                        actor: ACTOR.into(),
                        reason: outcome.reason.clone(),
                    }),
                )
                .await?;
            version_id = id;
        }
        let mut plots = Vec::new();
        for (name, png) in &outcome.plots {
            match self.registry.save_plot(&sink.run_id, name, png).await {
                Ok(()) => plots.push(pb::PlotRef {
                    run_id: sink.run_id.clone(),
                    name: name.clone(),
                    size_bytes: png.len() as u64,
                }),
                Err(e) => warn!(plot = %name, error = %e, "could not store plot"),
            }
        }
        let md = &outcome.metadata;
        let result = pb::TrainResult {
            symbol: spec.symbol.clone(),
            years: spec.years,
            version_id,
            deployed: deploy,
            decision_reason: outcome.reason.clone(),
            n_samples: outcome.n_samples as u32,
            n_features: md.feature_names.len() as u32,
            feature_names: md.feature_names.clone(),
            data_start: data_start.to_string(),
            data_end: data_end.to_string(),
            model_kind,
            hyperparameters_json: md.hyperparameters.to_string(),
            metrics: outcome
                .metrics
                .iter()
                .map(|(k, v)| (k.clone(), if v.is_finite() { *v } else { 0.0 }))
                .collect(),
            diagnostics_json: serde_json::json!({
                "model": md.diagnostics,
                "bars_in_range": bars_in_range,
            })
            .to_string(),
            validation: outcome.validation.as_ref().map(|(cand, cur)| {
                convert::validation_to_pb(
                    cand,
                    cur.as_ref(),
                    current_id.as_deref(),
                    deploy,
                    &outcome.reason,
                )
            }),
            feature_importance: md
                .feature_importance
                .iter()
                .map(convert::importance_to_pb)
                .collect(),
            plots,
            cross_validation_json: outcome
                .cross_validation
                .map(|v| v.to_string())
                .unwrap_or_default(),
            training_seconds: outcome.training_seconds,
        };
        sink.emit(Event::Completed(pb::Completed {
            result: Some(result.clone()),
        }))
        .await;
        Ok(result)
    }
}

/// Builds the samples of a run: windows ending after `start_excl`, with up to [`WARMUP_DAYS`]
/// earlier bars as indicator warm-up.
fn prepare(bars: Vec<Bar>, start_excl: NaiveDate, max_samples: usize) -> Result<RunData> {
    let first_in_range = bars
        .iter()
        .position(|b| b.date > start_excl)
        .unwrap_or(bars.len());
    let in_range = bars.len() - first_in_range;
    if in_range > max_samples {
        let (first, last) = (bars[first_in_range].date, bars[bars.len() - 1].date);
        return Err(Error::invalid(format!(
            "the requested range {first}..={last} holds {in_range} trading days, more than the \
             {max_samples} one training run may use (--max-train-samples); pick a later start \
             or fewer years"
        )));
    }
    let from = first_in_range.saturating_sub(WARMUP_DAYS);
    let bars = &bars[from..];
    let samples = build_samples(bars, &FeatureConfig::default())?;
    let keep: Vec<usize> = (0..samples.len())
        .filter(|&i| samples.end_dates[i] > start_excl)
        .collect();
    if keep.is_empty() {
        return Err(Error::InsufficientData {
            need: MIN_TRADING_DAYS,
            got: in_range,
        });
    }
    let samples = if keep.len() == samples.len() {
        samples
    } else {
        samples.select(&keep)
    };
    Ok(RunData {
        samples,
        data_start: bars[bars.len() - in_range].date,
        data_end: bars[bars.len() - 1].date,
        bars_in_range: in_range,
    })
}
