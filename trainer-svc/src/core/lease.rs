//! The per-symbol training lease of a run (a pooled run holds one per member, taken in sorted
//! order so two pools that share members cannot wait on each other): acquired through the registry's FIFO queue (each
//! change of queue position is announced as a `Queued` event), renewed in the background, and
//! released by [`LeaseGuard::release`] — or by the guard's `Drop` when a run future is dropped
//! or panics, so a lease never outlives its run by more than one renewal period. Each renewal
//! (and each queue poll) also picks up a CancelRun that reached another replica.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pb::{self, train_event::Event};
use common::registry::{LeaseAttempt, Registry};
use common::{Error, Result};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::lifecycle::EventSink;

/// Timing of a held lease.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTiming {
    /// Lifetime of the lease row without renewal.
    pub ttl: Duration,
    /// Renewal period (below `ttl`).
    pub renew: Duration,
}

/// A held training lease, renewed in the background until released or dropped.
#[derive(Debug)]
pub struct LeaseGuard {
    registry: Registry,
    symbol: String,
    holder: String,
    stop: CancellationToken,
    released: bool,
    lost: Lost,
}

/// Why the lease was lost, once it was.
type Lost = Arc<Mutex<Option<String>>>;

impl LeaseGuard {
    /// Waits (up to `timeout`, or until `cancel`) for the lease of `symbol`, held by the
    /// sink's run id, announcing each new queue position on `sink`; then renews it every
    /// `timing.renew`. A lease that is lost (taken over after expiry, or not confirmed by the
    /// registry for `ttl - renew`) means another replica may train the symbol soon: `cancel`
    /// fires rather than racing it to write a version.
    pub async fn acquire(
        registry: &Registry,
        symbol: &str,
        timing: LeaseTiming,
        timeout: Duration,
        sink: &mut EventSink,
        cancel: &CancellationToken,
    ) -> Result<LeaseGuard> {
        let (symbol, holder) = (symbol.to_string(), sink.run_id().to_string());
        let poll = (timing.ttl / 4).clamp(Duration::from_millis(50), Duration::from_millis(500));
        let started = Instant::now();
        let mut last: Option<(u32, String)> = None;
        let renewed = loop {
            // A CancelRun that reached another replica counts as a local one. Checked right
            // before each attempt, so a queued run cannot take the lease after one.
            cancel_if_requested(registry, &holder, cancel).await;
            if cancel.is_cancelled() {
                let _ = registry.bounded("leaving the lease queue", registry.leave_lease_queue(&symbol, &holder)).await;
                return Err(Error::Cancelled(
                    "run cancelled while waiting for the symbol's training lease".into(),
                ));
            }
            // The lease's expiry is computed from the clock before the statement is sent.
            let attempt_started = Instant::now();
            let attempt = registry.try_acquire_lease(&symbol, &holder, timing.ttl);
            match registry.bounded("a lease attempt", attempt).await? {
                LeaseAttempt::Acquired => break attempt_started,
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
                        let _ = registry.bounded("leaving the lease queue", registry.leave_lease_queue(&symbol, &holder)).await;
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
        };
        let stop = CancellationToken::new();
        let lost = Lost::default();
        tokio::spawn(renew(
            registry.clone(),
            timing,
            renewed,
            (symbol.clone(), holder.clone()),
            stop.clone(),
            cancel.clone(),
            lost.clone(),
        ));
        Ok(LeaseGuard {
            registry: registry.clone(),
            symbol,
            holder,
            stop,
            released: false,
            lost,
        })
    }

    /// Why the lease was lost (the run was cancelled because of it), if it was.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the renewal and gives the lease back (an error is logged: the lease then expires
    /// by itself after its ttl).
    pub async fn release(mut self) {
        self.released = true;
        self.stop.cancel();
        release(&self.registry, &self.symbol, &self.holder).await;
    }
}

impl Drop for LeaseGuard {
    /// Stops the renewal; a guard dropped without [`LeaseGuard::release`] (dropped or panicking
    /// run) gives the lease back from a background task.
    fn drop(&mut self) {
        self.stop.cancel();
        if self.released {
            return;
        }
        let (registry, symbol, holder) =
            (self.registry.clone(), self.symbol.clone(), self.holder.clone());
        warn!(%symbol, %holder, "training lease guard dropped without release; releasing it");
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { release(&registry, &symbol, &holder).await });
        }
    }
}

/// Gives the lease back, retrying a failed write a few times (~1.5 s); a lease that still
/// cannot be released is no longer renewed and expires after its ttl.
async fn release(registry: &Registry, symbol: &str, holder: &str) {
    let mut wait = Duration::from_millis(100);
    for attempt in 1..=4 {
        match registry.bounded("a lease release", registry.release_lease(symbol, holder)).await {
            Ok(()) => return,
            Err(e) if attempt == 4 => warn!(%symbol, %holder, error = %e,
                "could not release the training lease; it expires by itself after its ttl"),
            Err(e) => warn!(%symbol, %holder, error = %e, attempt, "could not release the training lease; retrying"),
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

/// Fires `run_cancel` when CancelRun on another replica asked for it (a failed check is only
/// logged: the next renewal or poll asks again).
async fn cancel_if_requested(registry: &Registry, run_id: &str, run_cancel: &CancellationToken) {
    if run_cancel.is_cancelled() {
        return;
    }
    match registry.bounded("a cancellation check", registry.run_cancel_requested(run_id)).await {
        Ok(true) => {
            info!(%run_id, "run cancellation requested through another trainer replica");
            run_cancel.cancel();
        }
        Ok(false) => {}
        Err(e) => warn!(%run_id, error = %e, "could not check for a cancellation request; asking again later"),
    }
}

/// Renews the lease every `timing.renew` until `stop`; fires `run_cancel` when it is lost, or
/// when cancellation was requested from another replica.
///
/// The safety argument (docs/registry.md, "Leases under partitions"): a renewal that starts at
/// `t` sets the lease's expiry to at least `t + ttl` (the expiry is computed from the caller's
/// clock before the statement is sent). The run gives up at `renewed + ttl - renew`, where
/// `renewed` is the start of the last renewal that the registry confirmed — one renew period
/// before the earliest moment another replica may take the symbol over. Each attempt is bounded
/// by the time left until then, so a registry that silently stops answering (a partition, not a
/// refusal) cannot hold the decision back. A run that continued anyway (a process paused past its
/// ttl) is refused by the registry's fence when it tries to store a version.
async fn renew(
    registry: Registry,
    timing: LeaseTiming,
    renewed: Instant,
    keys: (String, String),
    stop: CancellationToken,
    run_cancel: CancellationToken,
    lost: Lost,
) {
    let (symbol, holder) = keys;
    let lose = |reason: String| {
        *lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        run_cancel.cancel();
    };
    let margin = timing.ttl.saturating_sub(timing.renew);
    let mut renewed = renewed;
    loop {
        let give_up_at = renewed + margin;
        let next = (Instant::now() + timing.renew).min(give_up_at);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(next.into()) => {}
        }
        let started = Instant::now();
        let left = give_up_at.saturating_duration_since(started);
        if left.is_zero() {
            error!(%symbol, %holder, "training lease not confirmed for ttl - renew; stopping the run");
            lose(format!(
                "the training lease of {symbol} could not be renewed within {:.1}s (the registry did not \
                 confirm a renewal; another replica may take the symbol over after {:.1}s)",
                margin.as_secs_f64(),
                timing.ttl.as_secs_f64()
            ));
            break;
        }
        // At most one renew period per attempt: a hung connection is dropped and the next attempt
        // gets another one.
        match tokio::time::timeout(left.min(timing.renew), registry.renew_lease(&symbol, &holder, timing.ttl)).await {
            Ok(Ok(true)) => {
                renewed = started;
                cancel_if_requested(&registry, &holder, &run_cancel).await;
            }
            Ok(Ok(false)) => {
                error!(%symbol, %holder, "training lease was lost (expired or taken over); stopping the run");
                lose(format!("the training lease of {symbol} was lost (expired or taken over by another run)"));
                break;
            }
            Ok(Err(e)) => warn!(%symbol, %holder, error = %e, "could not renew the training lease; retrying"),
            Err(_) => warn!(%symbol, %holder, "the registry did not answer a lease renewal in time; retrying"),
        }
    }
}
