//! AttachRun: the stored events of a run, then its live events — merged without gaps or
//! repeats (subscribe first, replay, then follow by `seq`) while it runs in this process,
//! polled from the registry otherwise — until a terminal event or a clear status.
use common::pb;
use common::registry::Registry;
use common::{Error, Result};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{Core, EventTx};
use crate::convert;

/// A follower of one run, subscribed before its replay starts.
#[derive(Debug)]
pub struct Attachment {
    registry: Registry,
    run_id: String,
    live: Option<broadcast::Receiver<pb::TrainEvent>>,
}

/// Subscribes to `run_id` (`NotFound` when no such run exists).
pub async fn attach(core: &Core, run_id: &str) -> Result<Attachment> {
    // Subscribe before replaying so no event falls between the two.
    let live = core.live.get(run_id).map(|r| r.events.subscribe());
    if live.is_none() && core.registry.runs(None, Some(run_id), 1).await?.is_empty() {
        return Err(Error::not_found(format!(
            "training run {run_id} not found; list runs with GetTrainingRuns"
        )));
    }
    Ok(Attachment {
        registry: core.registry.clone(),
        run_id: run_id.to_string(),
        live,
    })
}

impl Attachment {
    /// Sends the stored events after `after` to `tx`; `Ok((last seq, ended))`, or `Err(())`
    /// when the caller went away (or a stored event was unreadable and reported).
    async fn replay(&self, after: u64, tx: &EventTx) -> std::result::Result<(u64, bool), ()> {
        let events = match self
            .registry
            .run_events(&self.run_id, (after > 0).then_some(after))
            .await
        {
            Ok(events) => events,
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return Err(());
            }
        };
        let (mut last, mut ended) = (after, false);
        for (seq, json) in events {
            match convert::event_from_json(&json) {
                Ok(ev) => {
                    last = seq;
                    ended |= convert::is_terminal(&ev);
                    tx.send(Ok(ev)).await.map_err(|_| ())?;
                }
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return Err(());
                }
            }
        }
        Ok((last, ended))
    }

    /// Streams the run to `tx` until its terminal event. A run of this process is followed
    /// live; one elsewhere (another replica, or an owner that is gone) is followed by polling
    /// the registry until its terminal event — or until its record ends without one, which
    /// ends the stream with ABORTED naming the run's status and error. `cancel` (caller gone,
    /// shutdown) ends it with `Cancelled`.
    pub async fn stream(mut self, tx: EventTx, cancel: CancellationToken) -> Result<()> {
        let Ok((mut last, mut ended)) = self.replay(0, &tx).await else {
            return Ok(());
        };
        if let Some(mut live) = self.live.take() {
            while !ended {
                let next = tokio::select! {
                    r = live.recv() => r,
                    _ = cancel.cancelled() => return Err(Error::Cancelled("AttachRun ended".into())),
                };
                match next {
                    Ok(ev) if ev.seq > last => {
                        last = ev.seq;
                        ended = convert::is_terminal(&ev);
                        if tx.send(Ok(ev)).await.is_err() {
                            return Ok(());
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind: catch up from the stored events.
                        let Ok((l, e)) = self.replay(last, &tx).await else {
                            return Ok(());
                        };
                        (last, ended) = (l, ended || e);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
        while !ended {
            let Ok((l, e)) = self.replay(last, &tx).await else {
                return Ok(());
            };
            (last, ended) = (l, e);
            if ended {
                break;
            }
            let record = self.registry.runs(None, Some(&self.run_id), 1).await?;
            if let Some(run) = record.first().filter(|r| r.status.is_terminal()) {
                // One more replay: its terminal event may have been stored just now.
                let Ok((_, e)) = self.replay(last, &tx).await else {
                    return Ok(());
                };
                if !e {
                    return Err(Error::Aborted(format!(
                        "run {} ended {} without a stored terminal event ({}); its record is in \
                         GetTrainingRuns",
                        self.run_id,
                        run.status,
                        run.error.as_deref().unwrap_or("no error recorded")
                    )));
                }
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = cancel.cancelled() => return Err(Error::Cancelled("AttachRun ended".into())),
            }
        }
        Ok(())
    }
}

/// How often AttachRun re-reads the events of a run that is not in this process.
const POLL: std::time::Duration = std::time::Duration::from_millis(250);
