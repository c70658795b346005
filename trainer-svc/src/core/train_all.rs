//! TrainAll: one pipeline run per symbol of the (sharded) universe, `concurrency` at a time,
//! each result sent as it lands and a sorted summary at the end.
use std::sync::Arc;

use common::pb::{self, train_all_event::Event};
use common::Result;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::spec::{RunSpec, Work};
use super::Core;
use crate::requests::{shard_symbols, TrainAllJob};

/// Items of a TrainAll response stream.
pub type TrainAllTx = mpsc::Sender<std::result::Result<pb::TrainAllEvent, tonic::Status>>;

/// The symbols `job` trains: its explicit list, or every symbol with bars, then its shard.
pub async fn symbols(core: &Core, job: &TrainAllJob) -> Result<Vec<String>> {
    let universe = if job.symbols.is_empty() {
        core.registry.symbols().await?
    } else {
        job.symbols.clone()
    };
    Ok(shard_symbols(universe, job.shard))
}

/// The run of one symbol of a TrainAll job.
fn spec(job: &TrainAllJob, symbol: &str, requested_by: &str) -> RunSpec {
    let mut config = job.pipeline.clone();
    config.symbol = symbol.to_string();
    RunSpec {
        symbol: symbol.to_string(),
        years: job.years,
        mode: "train_all".into(),
        requested_by: requested_by.into(),
        lease_timeout: None,
        inline_bars: None,
        work: Work::Pipeline {
            config,
            range: job.range,
            keep_rejected: true,
            pool: Vec::new(),
        },
    }
}

/// Trains one symbol; every failure (unknown symbol included) becomes a failed result.
async fn one(core: &Core, job: &TrainAllJob, symbol: String, by: &str, cancel: CancellationToken) -> pb::SymbolResult {
    let end = match core.ensure_symbol(&symbol).await {
        Ok(()) => core.run(spec(job, &symbol, by), None, cancel).await,
        Err(e) => super::RunEnd {
            run_id: String::new(),
            result: Err(e),
        },
    };
    match end.result {
        Ok(r) => pb::SymbolResult {
            symbol,
            ok: true,
            version_id: r.version_id,
            deployed: r.deployed,
            error: String::new(),
            run_id: end.run_id,
        },
        Err(e) => pb::SymbolResult {
            symbol,
            ok: false,
            error: e.to_string(),
            run_id: end.run_id,
            ..Default::default()
        },
    }
}

/// Runs `job` over `symbols`, sending each `Result` to `tx` as it lands and then the
/// `Summary` (results sorted by symbol). A closed `tx` stops it; `cancel` (fired by the
/// caller) cancels the remaining runs.
pub async fn run(
    core: Arc<Core>,
    job: TrainAllJob,
    symbols: Vec<String>,
    requested_by: String,
    tx: TrainAllTx,
    cancel: CancellationToken,
) {
    let (job, by) = (&job, requested_by.as_str());
    let results = futures::stream::iter(
        symbols
            .into_iter()
            .map(|symbol| one(&core, job, symbol, by, cancel.child_token())),
    )
    .buffer_unordered(job.concurrency);
    futures::pin_mut!(results);
    let mut all = Vec::new();
    while let Some(r) = results.next().await {
        all.push(r.clone());
        let ev = pb::TrainAllEvent {
            event: Some(Event::Result(r)),
        };
        if tx.send(Ok(ev)).await.is_err() {
            return; // the caller went away; its token cancels the remaining runs
        }
    }
    all.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let success = all.iter().filter(|r| r.ok).count() as u32;
    let summary = pb::TrainAllSummary {
        total: all.len() as u32,
        success_count: success,
        fail_count: all.len() as u32 - success,
        results: all,
    };
    let _ = tx
        .send(Ok(pb::TrainAllEvent {
            event: Some(Event::Summary(summary)),
        }))
        .await;
}
