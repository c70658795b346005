//! A walk-forward backtest ([`common::backtest::run_backtest`]) executed as a run with mode
//! `backtest`: the same run bookkeeping as Train (run record, stored events, AttachRun,
//! CancelRun, the symbol's lease, a training slot), but no version is saved. Its report and plots
//! are stored with the run (`report.json` and the PNGs, read with GetRunPlot).
use common::backtest::{run_backtest, run_pooled_backtest, BacktestEvent};
use common::data::drop_repeated_bars;
use common::pb::{self, train_event::Event};
use common::training::TrainEvent;
use common::{Error, Result};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::lifecycle::EventSink;
use super::{Core, RunSpec};
use crate::convert::backtest_event_to_pb;
use crate::requests::BacktestJob;

pub use crate::requests::BACKTEST_MODE as MODE;

/// What to do instead when the backtested symbol has no stored bars.
const INLINE_HINT: &str = " or pass bars inline";

/// `symbol`'s bars from the registry, without calendar-fill rows unless `keep_repeated`; none
/// is NotFound naming it (`label` "pool member " for a pool's other members).
async fn stored_bars(core: &Core, symbol: &str, keep_repeated: bool, label: &str, hint: &str) -> Result<Vec<common::data::Bar>> {
    let mut bars = core.registry.bars(symbol, None, None).await?;
    if bars.is_empty() {
        return Err(no_bars(label, symbol, hint));
    }
    if !keep_repeated {
        let dropped = drop_repeated_bars(&mut bars);
        if !dropped.is_empty() {
            warn!(%symbol, dropped = dropped.len(), "stored bars contain calendar fills; backtesting without them");
        }
    }
    Ok(bars)
}

fn no_bars(label: &str, symbol: &str, hint: &str) -> Error {
    Error::not_found(format!("no bars for {label}{symbol}; ingest them first (IngestBars or `trainer-svc import`){hint}"))
}
/// Name under which the report JSON is stored with the run (GetRunPlot).
pub const REPORT_NAME: &str = "report.json";

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
    let bars = match &spec.inline_bars {
        Some(b) if b.is_empty() => return Err(no_bars("", &spec.symbol, INLINE_HINT)),
        Some(b) => b.clone(),
        None => stored_bars(core, &spec.symbol, job.keep_repeated_bars, "", INLINE_HINT).await?,
    };
    let mut members = vec![(spec.symbol.clone(), bars)];
    for symbol in &job.pool {
        sink.stage("loading_data", format!("bars of pool member {symbol} from the registry")).await;
        members.push((symbol.clone(), stored_bars(core, symbol, job.keep_repeated_bars, "pool member ", "").await?));
    }
    let bars = &members[0].1;
    let mut config = job.config.clone();
    config.recipe.cpu_threads = config.recipe.cpu_threads.or(core.settings().cpu_threads);
    sink.stage(
        MODE,
        format!(
            "{}{} folds × {} test days on {} bars ({} to {}), recipe {} / {}",
            if members.len() > 1 { format!("pool of {} members: ", members.len()) } else { String::new() },
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
        let send = |ev: BacktestEvent| {
            let _ = etx.blocking_send(ev);
        };
        if members.len() > 1 {
            run_pooled_backtest(&members, &config, &send, &thread_cancel)
        } else {
            run_backtest(&members[0].1, &config, &send, &thread_cancel)
        }
    });
    let folds = job.config.folds as u32;
    while let Some(ev) = erx.recv().await {
        if let BacktestEvent::Training { event: TrainEvent::Epoch { seconds, .. }, .. } = &ev {
            core.metrics.epoch_seconds.observe(*seconds);
        }
        if let BacktestEvent::FoldCompleted { fold, summary, .. } = &ev {
            info!(fold, n = summary.n, seconds = summary.seconds, "backtest fold finished");
        }
        sink.emit(backtest_event_to_pb(ev, folds)).await;
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
