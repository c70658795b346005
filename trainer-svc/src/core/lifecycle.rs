//! The life of one run record: created `queued`, its events stored in order (registry first,
//! then the live broadcast for AttachRun, then the caller's stream), and exactly one terminal
//! state. [`RunTracker::finish`] is the one place a run ends; a tracker dropped before that (a
//! panicking or dropped run future) still records the end from its `Drop`.
use std::time::{Duration, Instant};

use common::pb::{self, train_event::Event};
use common::registry::{NewRun, Registry, RunStatus};
use common::{Error, Result};
use tokio::sync::broadcast;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{info, warn};

use super::spec::RunSpec;
use super::{Core, EventTx};
use crate::convert;
use crate::live::LiveGuard;
use crate::metrics::{code_name, Metrics};

/// How long a run stops trying to store its progress events after one could not be stored (the
/// registry is down or partitioned away): each attempt waits out the registry timeout, which
/// would otherwise hold every epoch and the run's reaction to a lost lease.
const STORE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Writes the events of one run: registry first, then the live broadcast, then the caller's
/// stream. A caller that went away cancels the run. Progress events the registry cannot take
/// are still sent (AttachRun on another replica then skips them); the terminal one is retried.
pub struct EventSink {
    run_id: String,
    symbol: String,
    years: u32,
    seq: u64,
    registry: Registry,
    live: broadcast::Sender<pb::TrainEvent>,
    tx: Option<EventTx>,
    cancel: CancellationToken,
    /// When an event last could not be stored (cleared by the next stored one).
    store_failed: Option<Instant>,
}

impl EventSink {
    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run's symbol.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// Stores and sends the next event of the run.
    pub async fn emit(&mut self, event: Event) {
        self.seq += 1;
        let ev = pb::TrainEvent {
            run_id: self.run_id.clone(),
            symbol: self.symbol.clone(),
            years: self.years,
            seq: self.seq,
            timestamp_ms: chrono::Utc::now().timestamp_millis(),
            event: Some(event),
        };
        let json = convert::event_to_json(&ev);
        let store = || {
            let append = self.registry.append_run_event(&self.run_id, self.seq, &json);
            self.registry.bounded("storing a run event", append)
        };
        let stored = if !convert::is_terminal(&ev) {
            if self.store_failed.is_some_and(|t| t.elapsed() < STORE_RETRY_AFTER) {
                None
            } else {
                Some(store().await)
            }
        } else if self.registry_unreachable() {
            // One attempt: retrying an unreachable registry only delays the caller's answer;
            // another replica closes the run as abandoned once its lease expires.
            Some(store().await)
        } else {
            // The end of a run is retried: AttachRun followers wait for it.
            Some(super::retry_write("the terminal run event", store).await)
        };
        match stored {
            Some(Ok(())) => self.store_failed = None,
            Some(Err(e)) => {
                warn!(run_id = %self.run_id, seq = self.seq, error = %e, "could not store run event");
                self.store_failed = Some(Instant::now());
            }
            None => {}
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

    /// Whether the last attempt to store an event failed (the registry is down or unreachable).
    pub fn registry_unreachable(&self) -> bool {
        self.store_failed.is_some()
    }

    /// A `Stage` event.
    pub async fn stage(&mut self, stage: &str, detail: impl Into<String>) {
        self.emit(Event::Stage(pb::StageChanged {
            stage: stage.into(),
            detail: detail.into(),
        }))
        .await;
    }
}

/// A run between its creation and its terminal record.
pub struct RunTracker {
    /// Its event writer.
    pub events: EventSink,
    /// Fired by CancelRun, a departed caller, a lost lease or shutdown.
    pub cancel: CancellationToken,
    mode: String,
    years: u32,
    metrics: Metrics,
    finished: bool,
    _live: LiveGuard,
    _watch: Option<DropGuard>,
}

impl RunTracker {
    /// Records the run as `queued`, registers it for CancelRun / AttachRun, and cancels it when
    /// `tx`'s receiver goes away (even while no event is being sent).
    pub async fn open(
        core: &Core,
        spec: &RunSpec,
        run_id: String,
        tx: Option<EventTx>,
        cancel: CancellationToken,
    ) -> Result<RunTracker> {
        let create = core.registry.create_run(NewRun {
            run_id: run_id.clone(),
            symbol: spec.symbol.clone(),
            years: spec.years,
            mode: spec.mode.clone(),
            config_json: spec.config_json(),
            requested_by: spec.requested_by.clone(),
        });
        core.registry.bounded("creating the run record", create).await?;
        let (live, live_tx) = core.live.register(&run_id, cancel.clone());
        let watch = tx.clone().map(|tx| {
            let done = CancellationToken::new();
            let (cancel, stop) = (cancel.clone(), done.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = tx.closed() => cancel.cancel(),
                    _ = stop.cancelled() => {}
                }
            });
            done.drop_guard()
        });
        core.metrics
            .runs_started
            .with_label_values(&[&spec.mode])
            .inc();
        info!("run accepted");
        Ok(RunTracker {
            events: EventSink {
                run_id,
                symbol: spec.symbol.clone(),
                years: spec.years,
                seq: 0,
                registry: core.registry.clone(),
                live: live_tx,
                tx,
                cancel: cancel.clone(),
                store_failed: None,
            },
            cancel,
            mode: spec.mode.clone(),
            years: spec.years,
            metrics: core.metrics.clone(),
            finished: false,
            _live: live,
            _watch: watch,
        })
    }

    /// Ends the run: records succeeded (with its version), cancelled, abandoned (lease lost)
    /// or failed (also as a training failure), sends `Failed` for all but success, and counts
    /// the outcome. The record is retried ([`super::retry_write`]).
    pub async fn finish(mut self, result: &Result<pb::TrainResult>) {
        self.finished = true;
        let registry = self.events.registry.clone();
        let run_id = self.events.run_id.clone();
        let (status, version, error) = match result {
            Ok(res) => (
                RunStatus::Succeeded,
                (!res.version_id.is_empty()).then(|| res.version_id.clone()),
                None,
            ),
            Err(Error::Cancelled(_)) => (RunStatus::Cancelled, None, Some(result_error(result))),
            Err(Error::Aborted(_)) => (RunStatus::Abandoned, None, Some(result_error(result))),
            Err(_) => (RunStatus::Failed, None, Some(result_error(result))),
        };
        let record = || {
            let finish = registry.finish_run(&run_id, status, version.as_deref(), error.as_deref());
            registry.bounded("recording the end of the run", finish)
        };
        let recorded = if status == RunStatus::Abandoned || self.events.registry_unreachable() {
            // The lease is lost or the registry unreachable: one attempt, so the caller hears
            // of the end now; the record is another replica's once the lease expires.
            record().await
        } else {
            super::retry_write("the end of the run", record).await
        };
        if let Err(e) = recorded {
            warn!(error = %e, "could not record the end of the run; its lease is released, so \
                any replica closes it as abandoned once the registry takes writes again");
        }
        match (result, &error) {
            (Ok(res), _) => {
                info!(version_id = %res.version_id, deployed = res.deployed, "run succeeded")
            }
            (Err(err), Some(msg)) => {
                if status == RunStatus::Failed {
                    let failure = registry.record_failure(&self.events.symbol, self.years, Some(&run_id), msg);
                    if let Err(e) = registry.bounded("recording the training failure", failure).await
                    {
                        warn!(error = %e, "could not record the training failure");
                    }
                    warn!(error = %msg, "run failed");
                } else {
                    info!(reason = %msg, status = %status, "run ended");
                }
                self.events
                    .emit(Event::Failed(pb::Failed {
                        code: code_name(err.code()).into(),
                        message: msg.clone(),
                    }))
                    .await;
            }
            (Err(_), None) => {}
        }
        self.metrics
            .runs_finished
            .with_label_values(&[&self.mode, status.as_str()])
            .inc();
    }
}

fn result_error(result: &Result<pb::TrainResult>) -> String {
    result.as_ref().err().map(ToString::to_string).unwrap_or_default()
}

impl Drop for RunTracker {
    /// A run future dropped (or panicking) before [`RunTracker::finish`] is cancelled (its
    /// training thread stops at the next batch) and still gets its terminal record, written in
    /// the background.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Stops the training thread, which would otherwise train on for nobody.
        self.cancel.cancel();
        self.metrics
            .runs_finished
            .with_label_values(&[&self.mode, "cancelled"])
            .inc();
        let (registry, run_id) = (self.events.registry.clone(), self.events.run_id.clone());
        warn!(run_id = %run_id, "run dropped before it ended; recording it as cancelled");
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let msg = "run stopped before it ended (its task was dropped); no version was saved";
                if let Err(e) = registry
                    .finish_run(&run_id, RunStatus::Cancelled, None, Some(msg))
                    .await
                {
                    warn!(run_id = %run_id, error = %e, "could not record the end of a dropped run");
                }
            });
        }
    }
}
