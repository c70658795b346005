//! Runs whose owner is gone (its trainer was killed, or lost the registry for longer than a
//! lease ttl): the heartbeat of a run is its lease renewal (its queue entry while it waits).
//! Every replica sweeps for queued / running runs without either and closes them as
//! `abandoned` with a reason and a terminal `Failed` event, so GetTrainingRuns, AttachRun and
//! CancelRun all see an ended run within about one lease ttl.
use std::time::Duration;

use common::pb::{self, train_event::Event};
use common::registry::{RunRecord, RunStatus};
use common::Result;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Core;
use crate::convert;

/// How often a replica sweeps: a tenth of the lease ttl (between 100 ms and the renewal
/// period), so a run is closed at most ~10 % of a ttl after its lease expired.
pub fn sweep_period(core: &Core) -> Duration {
    let s = core.settings();
    (s.lease_ttl / 10).clamp(Duration::from_millis(100), s.lease_renew.max(Duration::from_millis(100)))
}

/// Closes run `run` (still queued / running) as `status` with `reason` and appends its
/// terminal `Failed` event; `false` when it had ended meanwhile.
async fn close(core: &Core, run: &RunRecord, status: RunStatus, code: &str, reason: &str) -> Result<bool> {
    if !core
        .registry
        .close_unfinished_run(&run.run_id, status, reason)
        .await?
    {
        return Ok(false);
    }
    let seq = core.registry.last_event_seq(&run.run_id).await? + 1;
    let ev = pb::TrainEvent {
        run_id: run.run_id.clone(),
        symbol: run.symbol.clone(),
        years: run.years,
        seq,
        timestamp_ms: chrono::Utc::now().timestamp_millis(),
        event: Some(Event::Failed(pb::Failed {
            code: code.into(),
            message: reason.into(),
        })),
    };
    if let Err(e) = core
        .registry
        .append_run_event(&run.run_id, seq, &convert::event_to_json(&ev))
        .await
    {
        warn!(run_id = %run.run_id, error = %e, "closed an ownerless run but could not store its terminal event");
    }
    core.metrics
        .runs_finished
        .with_label_values(&[&run.mode, status.as_str()])
        .inc();
    Ok(true)
}

/// One sweep: closes every ownerless run not running in this process; returns how many.
pub async fn sweep(core: &Core) -> Result<usize> {
    let grace = i64::try_from(core.settings().lease_ttl.as_millis()).unwrap_or(i64::MAX);
    let mut closed = 0;
    for run in core.registry.ownerless_runs(grace).await? {
        if core.live.get(&run.run_id).is_some() {
            continue;
        }
        let reason = format!(
            "abandoned: the trainer running it stopped renewing the training lease of {} for \
             more than the lease ttl ({}s; process killed or cut off from the registry); no \
             version was saved; train again",
            run.symbol,
            core.settings().lease_ttl.as_secs_f64()
        );
        if close(core, &run, RunStatus::Abandoned, "ABORTED", &reason).await? {
            warn!(run_id = %run.run_id, symbol = %run.symbol, status = %run.status, "closed an ownerless run as abandoned");
            closed += 1;
        }
    }
    Ok(closed)
}

/// Sweeps every [`sweep_period`] until `stop`.
pub async fn run_sweeper(core: std::sync::Arc<Core>, stop: CancellationToken) {
    let every = sweep_period(&core);
    info!(every_ms = every.as_millis() as u64, "abandoned-run sweeper started");
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = sweep(&core).await {
            warn!(error = %e, "abandoned-run sweep failed; retrying");
        }
    }
}

/// CancelRun on a run that is not in this process: closes it as `cancelled` when its owner is
/// gone (`Ok(Some(status))`), `Ok(None)` when another replica still holds its lease.
pub async fn cancel_elsewhere(core: &Core, run: &RunRecord) -> Result<Option<RunStatus>> {
    if !core.registry.run_is_ownerless(&run.run_id).await? {
        return Ok(None);
    }
    let reason = "cancelled by CancelRun; the trainer that ran it is gone (its training lease \
                  expired); no version was saved";
    if close(core, run, RunStatus::Cancelled, "CANCELLED", reason).await? {
        info!(run_id = %run.run_id, "ownerless run cancelled");
        return Ok(Some(RunStatus::Cancelled));
    }
    // It ended meanwhile: report what it ended as.
    let now = core.registry.runs(None, Some(&run.run_id), 1).await?;
    Ok(now.first().map(|r| r.status))
}
