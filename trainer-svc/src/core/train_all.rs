//! TrainAll: one pipeline run per symbol of the (sharded) universe — or, with `pool_size` N,
//! per consecutive group of N of its sorted symbols (one pooled network each) — `concurrency`
//! runs at a time, each symbol's result sent as it lands and a sorted summary at the end.
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

/// The run of one group of a TrainAll job: its first symbol, pooled with the others if any.
fn spec(job: &TrainAllJob, group: &[String], requested_by: &str) -> RunSpec {
    let mut config = job.pipeline.clone();
    config.symbol = group[0].clone();
    RunSpec {
        symbol: group[0].clone(),
        years: job.years,
        mode: "train_all".into(),
        requested_by: requested_by.into(),
        lease_timeout: None,
        inline_bars: None,
        work: Work::Pipeline {
            config,
            range: job.range,
            keep_rejected: true,
            pool: group[1..].to_vec(),
        },
    }
}

/// The groups `symbols` (sorted) are trained in: one each, or consecutive pools of `pool_size`.
pub fn groups(symbols: Vec<String>, pool_size: usize) -> Vec<Vec<String>> {
    symbols.chunks(pool_size.max(1)).map(<[String]>::to_vec).collect()
}

/// Trains one group; every failure (an unknown symbol included) becomes a failed result for
/// each of its symbols.
async fn one(core: &Core, job: &TrainAllJob, group: Vec<String>, by: &str, cancel: CancellationToken) -> Vec<pb::SymbolResult> {
    let ready = async {
        for symbol in &group {
            core.ensure_symbol(symbol).await?;
        }
        Ok(())
    };
    let end = match ready.await {
        Ok(()) => core.run(spec(job, &group, by), None, cancel).await,
        Err(e) => super::RunEnd {
            run_id: String::new(),
            result: Err(e),
        },
    };
    match end.result {
        Ok(r) if r.pool_members.is_empty() => vec![pb::SymbolResult {
            symbol: group[0].clone(),
            ok: true,
            version_id: r.version_id,
            deployed: r.deployed,
            error: String::new(),
            run_id: end.run_id,
        }],
        Ok(r) => r
            .pool_members
            .iter()
            .map(|m| pb::SymbolResult {
                symbol: m.symbol.clone(),
                ok: true,
                version_id: r.version_id.clone(),
                deployed: m.deployed,
                error: String::new(),
                run_id: end.run_id.clone(),
            })
            .collect(),
        Err(e) => group
            .into_iter()
            .map(|symbol| pb::SymbolResult {
                symbol,
                ok: false,
                error: e.to_string(),
                run_id: end.run_id.clone(),
                ..Default::default()
            })
            .collect(),
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
        groups(symbols, job.pool_size)
            .into_iter()
            .map(|group| one(&core, job, group, by, cancel.child_token())),
    )
    .buffer_unordered(job.concurrency)
    .flat_map(futures::stream::iter);
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
