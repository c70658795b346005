//! Training slots of this process (`--max-concurrent-trainings`): a run that finds every slot
//! taken announces its place in the local queue and waits.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::pb::{self, train_event::Event};
use common::{Error, Result};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::lifecycle::EventSink;

/// The slots; a held slot is an [`OwnedSemaphorePermit`], given back when dropped.
#[derive(Debug)]
pub struct TrainingSlots {
    slots: Arc<Semaphore>,
    waiters: AtomicUsize,
}

impl TrainingSlots {
    /// `n` slots (at least one).
    pub fn new(n: usize) -> TrainingSlots {
        TrainingSlots {
            slots: Arc::new(Semaphore::new(n.max(1))),
            waiters: AtomicUsize::new(0),
        }
    }

    /// A slot; when none is free, emits `Queued { position }` and waits until one is (or until
    /// `cancel`: `Cancelled`).
    pub async fn acquire(
        &self,
        sink: &mut EventSink,
        cancel: &CancellationToken,
    ) -> Result<OwnedSemaphorePermit> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        let position = self.waiters.fetch_add(1, Ordering::SeqCst) as u32 + 1;
        sink.emit(Event::Queued(pb::Queued {
            position,
            holder_run_id: String::new(),
        }))
        .await;
        let got = tokio::select! {
            p = self.slots.clone().acquire_owned() => p.map_err(|_| Error::Unavailable("trainer is shutting down".into())),
            _ = cancel.cancelled() => Err(Error::Cancelled("run cancelled while waiting for a training slot".into())),
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        got
    }
}
