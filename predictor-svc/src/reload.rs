//! Hot reload and bar refresh trigger: polls the registry's change counters. When the versions
//! counter moves, the [`ModelCache`] swaps in the current version of every loaded key that
//! changed (promotions and rollbacks alike); when the bars counter moves (an ingest), the
//! [`BarStore`] re-reads the bars it holds. Both happen off the request path; requests never
//! wait for them. Each poll also tells the bar store whether the registry answers.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::bars::BarStore;
use crate::cache::ModelCache;

/// Runs until `stop` is cancelled. A registry error is logged and retried at the next tick (a
/// counter is only marked as seen after its pass ran).
pub async fn poll_loop(
    registry: Registry,
    cache: Arc<ModelCache>,
    bars: Arc<BarStore>,
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
        let generations = match registry.bounded("the change counters", registry.generations()).await {
            Ok(g) => g,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "registry poll failed: serving held bars and loaded models");
                }
                failing = true;
                bars.mark_down();
                continue;
            }
        };
        if failing {
            tracing::info!("registry answers again");
            // Keys whose load failed during the outage may be tried again now.
            cache.clear_backoff();
        }
        failing = false;
        bars.confirm(generations.bars);
        bars.refresh_changed(generations.bars).await;
        let counter = generations.versions;
        if seen == Some(counter) {
            continue;
        }
        let current = match registry.bounded("the current versions", registry.current_versions()).await {
            Ok(list) => list
                .into_iter()
                .map(|(symbol, years, v)| (common::key::ModelKey { symbol, years }, v))
                .collect::<HashMap<_, _>>(),
            Err(e) => {
                tracing::warn!(error = %e, "hot reload: cannot read the current versions");
                continue;
            }
        };
        tracing::debug!(counter, "registry changed; checking loaded models");
        cache.clear_backoff();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = cache.reload_changed(&current) => {}
        }
        seen = Some(counter);
    }
}
