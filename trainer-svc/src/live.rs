//! Runs in progress in this process: their cancellation tokens and live event channels, so
//! CancelRun and AttachRun can reach them.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::pb;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Events buffered per live run for slow AttachRun followers (they re-read the registry on lag).
const LIVE_BUFFER: usize = 256;

/// One run in progress.
#[derive(Clone, Debug)]
pub struct LiveRun {
    /// Fired by CancelRun, by the caller going away, or by shutdown.
    pub cancel: CancellationToken,
    /// Every event of the run, after it was stored.
    pub events: broadcast::Sender<pb::TrainEvent>,
}

/// The table of runs in progress. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct LiveRuns {
    inner: Arc<Mutex<HashMap<String, LiveRun>>>,
}

/// Removes its run from the table when dropped.
#[derive(Debug)]
pub struct LiveGuard {
    runs: LiveRuns,
    run_id: String,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.runs.lock().remove(&self.run_id);
    }
}

impl LiveRuns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LiveRun>> {
        // A panic while holding this short lock cannot leave the map inconsistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a run; it stays registered until the guard is dropped.
    pub fn register(
        &self,
        run_id: &str,
        cancel: CancellationToken,
    ) -> (LiveGuard, broadcast::Sender<pb::TrainEvent>) {
        let (tx, _) = broadcast::channel(LIVE_BUFFER);
        self.lock().insert(
            run_id.to_string(),
            LiveRun {
                cancel,
                events: tx.clone(),
            },
        );
        (
            LiveGuard {
                runs: self.clone(),
                run_id: run_id.to_string(),
            },
            tx,
        )
    }

    /// The run, if it is in progress here.
    pub fn get(&self, run_id: &str) -> Option<LiveRun> {
        self.lock().get(run_id).cloned()
    }

    /// Number of runs in progress.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no run is in progress.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels every run in progress (shutdown).
    pub fn cancel_all(&self) {
        for run in self.lock().values() {
            run.cancel.cancel();
        }
    }
}
