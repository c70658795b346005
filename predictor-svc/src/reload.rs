//! Hot reload trigger: polls the registry's change counter and, when it moves, asks the
//! [`ModelCache`] to swap in the current version of every loaded key that changed (promotions and
//! rollbacks alike). Loading happens off the request path; requests never wait for it.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::cache::ModelCache;

/// Runs until `stop` is cancelled. A registry error is logged and retried at the next tick (the
/// counter is only marked as seen after the reload pass ran).
pub async fn poll_loop(
    registry: Registry,
    cache: Arc<ModelCache>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut seen: Option<i64> = None;
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let counter = match registry.change_counter().await {
            Ok(c) => c,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "hot reload: cannot read the registry change counter");
                }
                failing = true;
                continue;
            }
        };
        if seen == Some(counter) {
            continue;
        }
        let current = match registry.current_versions().await {
            Ok(list) => list.into_iter().map(|(s, y, v)| ((s, y), v)).collect::<HashMap<_, _>>(),
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "hot reload: cannot read the current versions");
                }
                failing = true;
                continue;
            }
        };
        failing = false;
        tracing::debug!(counter, "registry changed; checking loaded models");
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = cache.reload_changed(&current) => {}
        }
        seen = Some(counter);
    }
}
