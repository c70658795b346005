//! The Backtest RPC and `trainer-svc backtest`: a walk-forward backtest
//! ([`common::backtest::run_backtest`]) executed as a training run with mode `backtest` — the
//! same run bookkeeping as Train (run record, stored events, AttachRun, CancelRun, the symbol's
//! lease — which is also how other replicas tell the run is alive — and a training slot), but no
//! version is saved. Its report
//! and plots are stored with the run (`report.json` and the PNGs, read with GetRunPlot).
use std::sync::Arc;

use common::backtest::{run_backtest, BacktestConfig, BacktestEvent, FoldSummary};
use common::data::{bars_from_pb, drop_repeated_bars, Bar};
use common::pb::{self, backtest_fold_progress::Progress, train_event::Event};
use common::training::TrainEvent;
use common::{Error, Result};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::convert;
use crate::core::lifecycle::EventSink;
use crate::core::{Core, RunSpec, Work};
use crate::requests::TrainJob;

/// Mode recorded for backtest runs.
pub const MODE: &str = "backtest";
/// Name under which the report JSON is stored with the run (GetRunPlot).
pub const REPORT_NAME: &str = "report.json";

/// A validated backtest request.
#[derive(Debug, Clone)]
pub struct BacktestJob {
    /// Ticker.
    pub symbol: String,
    /// Backtest options (recipe with symbol and years set).
    pub config: BacktestConfig,
    /// Inline bars (validated, sorted, calendar fills dropped unless kept).
    pub inline_bars: Option<Vec<Bar>>,
    /// Keep calendar-fill rows.
    pub keep_repeated_bars: bool,
}

impl TryFrom<pb::BacktestRequest> for BacktestJob {
    type Error = Error;
    fn try_from(r: pb::BacktestRequest) -> Result<BacktestJob> {
        let pb::BacktestRequest {
            symbol,
            years,
            end,
            do_cv_tune,
            fast_training,
            use_improved_training,
            use_enhanced_model,
            reg_loss_type,
            param_grid,
            do_post_training_validation,
            seed,
            device,
            bars,
            max_epochs,
            folds,
            horizon_days,
            parallelism,
            keep_repeated_bars,
            calibration,
            require_beats_baseline,
            search,
            n_trials,
            cv_metric,
            search_space,
            target_precision,
            search_time_budget_seconds,
        } = r;
        // The recipe is parsed exactly as Train parses it.
        let train = TrainJob::try_from(pb::TrainRequest {
            symbol,
            years,
            end: end.clone(),
            do_cv_tune,
            fast_training,
            use_improved_training,
            use_enhanced_model,
            reg_loss_type,
            param_grid,
            do_post_training_validation,
            seed,
            device,
            max_epochs,
            calibration,
            require_beats_baseline,
            search,
            n_trials,
            cv_metric,
            search_space,
            target_precision,
            search_time_budget_seconds,
            ..Default::default()
        })?;
        let mut recipe = train.pipeline;
        recipe.symbol = train.symbol.clone();
        recipe.years = train.years[0];
        let mut config = BacktestConfig::new(recipe);
        if let Some(f) = folds {
            config.folds = f as usize;
        }
        if let Some(h) = horizon_days {
            config.horizon_days = h as usize;
        }
        config.parallelism = parallelism.unwrap_or(0) as usize;
        config.end = train.range.end;
        config.validate()?;
        let keep = keep_repeated_bars.unwrap_or(false);
        let inline_bars = if bars.is_empty() {
            None
        } else {
            let mut b = bars_from_pb(bars)?;
            if !keep {
                drop_repeated_bars(&mut b);
            }
            Some(b)
        };
        Ok(BacktestJob { symbol: train.symbol, config, inline_bars, keep_repeated_bars: keep })
    }
}

impl BacktestJob {
    /// The run executing this job.
    pub fn run_spec(self, requested_by: &str) -> RunSpec {
        RunSpec {
            symbol: self.symbol.clone(),
            years: self.config.recipe.years,
            mode: MODE.into(),
            requested_by: requested_by.into(),
            lease_timeout: None,
            inline_bars: self.inline_bars.clone(),
            work: Work::Backtest(Box::new(self)),
        }
    }

    /// The run's configuration JSON.
    pub fn config_json(&self) -> serde_json::Value {
        serde_json::json!({ "kind": MODE, "backtest": self.config, "keep_repeated_bars": self.keep_repeated_bars })
    }
}

fn fold_started(fold: u32, folds: u32, origin: chrono::NaiveDate, s: chrono::NaiveDate, e: chrono::NaiveDate, n: usize) -> Event {
    Event::BacktestFoldStarted(pb::BacktestFoldStarted {
        fold,
        folds,
        origin: origin.to_string(),
        test_start: s.to_string(),
        test_end: e.to_string(),
        train_samples: n as u32,
    })
}

fn fold_result(fold: u32, folds: u32, s: &FoldSummary) -> Event {
    Event::BacktestFoldResult(pb::BacktestFoldResult {
        fold,
        folds,
        origin: s.origin.to_string(),
        test_start: s.test_start.to_string(),
        test_end: s.test_end.to_string(),
        n: s.n as u32,
        n_train: s.n_train as u32,
        epochs_run: s.epochs_run,
        seconds: s.seconds,
        metrics_json: serde_json::to_string(&s.metrics).unwrap_or_default(),
    })
}

/// The protocol event of a backtest progress event.
pub fn event_to_pb(ev: BacktestEvent, folds: u32) -> Event {
    match ev {
        BacktestEvent::FoldStarted { fold, folds, origin, test_start, test_end, train_samples } => {
            fold_started(fold, folds, origin, test_start, test_end, train_samples)
        }
        BacktestEvent::Training { fold, event } => {
            let progress = match convert::engine_event_to_pb(event, None) {
                Event::Stage(s) => Progress::Stage(s),
                Event::Epoch(e) => Progress::Epoch(e),
                Event::CvFold(c) => Progress::CvFold(c),
                Event::CvSummary(c) => Progress::CvSummary(c),
                Event::Validation(v) => Progress::Validation(v),
                other => Progress::Stage(pb::StageChanged { stage: "training".into(), detail: format!("{other:?}") }),
            };
            Event::BacktestFoldProgress(pb::BacktestFoldProgress { fold, folds, progress: Some(progress) })
        }
        BacktestEvent::FoldCompleted { fold, folds, summary } => fold_result(fold, folds, &summary),
    }
}

/// The Backtest stream's event of a stored run event (`None` for kinds a backtest never emits).
pub fn to_backtest_event(ev: pb::TrainEvent) -> Option<pb::BacktestEvent> {
    use pb::backtest_event::Event as B;
    let event = match ev.event? {
        Event::Queued(q) => B::Queued(q),
        Event::Started(s) => B::Started(s),
        Event::Stage(s) => B::Stage(s),
        Event::BacktestFoldStarted(f) => B::FoldStarted(f),
        Event::BacktestFoldProgress(f) => B::FoldProgress(f),
        Event::BacktestFoldResult(f) => B::FoldResult(f),
        Event::BacktestCompleted(c) => B::Completed(c),
        Event::Failed(f) => B::Failed(f),
        Event::CvFold(_) | Event::CvSummary(_) | Event::Epoch(_) | Event::Validation(_) | Event::Completed(_) => return None,
    };
    Some(pb::BacktestEvent {
        run_id: ev.run_id,
        symbol: ev.symbol,
        years: ev.years,
        seq: ev.seq,
        timestamp_ms: ev.timestamp_ms,
        event: Some(event),
    })
}

/// The Backtest handler's work: auth, request → job, symbol check, then the run's stream.
pub async fn serve(
    core: &Arc<Core>,
    auth: &crate::auth::Auth,
    requested_by: String,
    req: tonic::Request<pb::BacktestRequest>,
) -> std::result::Result<crate::service::BoxStream<pb::BacktestEvent>, tonic::Status> {
    auth.check("Backtest", req.metadata())?;
    let job = BacktestJob::try_from(req.into_inner())?;
    if job.inline_bars.is_none() {
        core.ensure_symbol(&job.symbol).await?;
    }
    Ok(Box::pin(stream(core.clone(), job, &requested_by)))
}

/// Starts `job` as a run and returns its event stream; dropping the stream cancels the run.
pub fn stream(
    core: Arc<Core>,
    job: BacktestJob,
    requested_by: &str,
) -> impl futures::Stream<Item = std::result::Result<pb::BacktestEvent, tonic::Status>> + Send + 'static {
    let (tx, rx) = mpsc::channel(64);
    let token = core.shutdown.child_token();
    let spec = job.run_spec(requested_by);
    tokio::spawn(async move {
        if let Err(e) = core.run(spec, Some(tx.clone()), token).await.result {
            let _ = tx.send(Err(e.into())).await;
        }
    });
    ReceiverStream::new(rx).filter_map(|item| async move {
        match item {
            Ok(ev) => to_backtest_event(ev).map(Ok),
            Err(status) => Some(Err(status)),
        }
    })
}

/// Runs the backtest inside a run (called by the core after `started`). Emits fold events, then
/// stores report and plots and emits `backtest_completed`; a cancelled backtest stores nothing.
pub(crate) async fn execute(
    core: &Core,
    spec: &RunSpec,
    job: &BacktestJob,
    sink: &mut EventSink,
    cancel: &CancellationToken,
) -> Result<pb::TrainResult> {
    let source = if spec.inline_bars.is_some() { "inline bars of the request" } else { "the registry" };
    sink.stage("loading_data", format!("bars of {} from {source}", spec.symbol)).await;
    let mut bars = match &spec.inline_bars {
        Some(b) => b.clone(),
        None => core.registry.bars(&spec.symbol, None, None).await?,
    };
    if bars.is_empty() {
        return Err(Error::not_found(format!(
            "no bars for {}; ingest them first (IngestBars or `trainer-svc import`) or pass bars inline",
            spec.symbol
        )));
    }
    if !job.keep_repeated_bars && spec.inline_bars.is_none() {
        let dropped = drop_repeated_bars(&mut bars);
        if !dropped.is_empty() {
            warn!(dropped = dropped.len(), "stored bars contain calendar fills; backtesting without them");
        }
    }
    let mut config = job.config.clone();
    config.recipe.cpu_threads = config.recipe.cpu_threads.or(core.settings().cpu_threads);
    sink.stage(
        MODE,
        format!(
            "{} folds × {} test days on {} bars ({} to {}), recipe {} / {}",
            config.folds,
            config.horizon_days,
            bars.len(),
            bars[0].date,
            bars[bars.len() - 1].date,
            if config.recipe.use_enhanced_model { "enhanced" } else { "base" },
            if config.recipe.use_improved_training { "improved" } else { "plain" },
        ),
    )
    .await;

    let (etx, mut erx) = mpsc::channel::<BacktestEvent>(256);
    let thread_cancel = cancel.clone();
    let span = tracing::info_span!("backtest", run_id = %sink.run_id(), symbol = %spec.symbol, years = spec.years);
    let handle = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        run_backtest(&bars, &config, &|ev| {
            let _ = etx.blocking_send(ev);
        }, &thread_cancel)
    });
    let folds = job.config.folds as u32;
    while let Some(ev) = erx.recv().await {
        if let BacktestEvent::Training { event: TrainEvent::Epoch { seconds, .. }, .. } = &ev {
            core.metrics.epoch_seconds.observe(*seconds);
        }
        if let BacktestEvent::FoldCompleted { fold, summary, .. } = &ev {
            info!(fold, n = summary.n, seconds = summary.seconds, "backtest fold finished");
        }
        sink.emit(event_to_pb(ev, folds)).await;
    }
    let outcome = handle.await.map_err(|e| Error::internal(format!("backtest thread failed: {e}")))??;
    if cancel.is_cancelled() {
        return Err(Error::Cancelled("backtest cancelled; no report was stored".into()));
    }
    sink.stage("saving", "report and plots").await;
    let report_json = outcome.report.to_string();
    let mut plots = Vec::new();
    let stored = std::iter::once((REPORT_NAME.to_string(), report_json.clone().into_bytes())).chain(outcome.plots);
    for (name, bytes) in stored {
        core.registry.save_plot(sink.run_id(), &name, &bytes).await?;
        plots.push(pb::PlotRef { run_id: sink.run_id().to_string(), name, size_bytes: bytes.len() as u64 });
    }
    sink.emit(Event::BacktestCompleted(pb::BacktestCompleted {
        report_json,
        plots,
        seconds: outcome.seconds,
        parallelism: outcome.parallelism as u32,
    }))
    .await;
    Ok(pb::TrainResult { symbol: spec.symbol.clone(), years: spec.years, ..Default::default() })
}
