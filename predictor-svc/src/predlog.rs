//! The prediction log: every served forecast is queued (bounded, never blocking the reply) and
//! written to the registry by one background task, for decay monitoring (SPEC §7, §8).
//!
//! While the registry does not answer, the writer keeps the entry and retries it with backoff
//! ([`RETRY_START`] doubling to [`RETRY_MAX`]); entries served meanwhile wait in the queue, whose
//! capacity (`--prediction-log-capacity`) bounds the memory this takes. When the queue is full a
//! new entry is dropped and counted (`predictor_prediction_log_dropped_total`); entries the
//! registry refuses outright (not an outage) are counted as errors.
use std::time::Duration;

use common::registry::{NewPrediction, Registry};
use common::Error;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;

/// First wait before retrying a write the registry did not answer.
pub const RETRY_START: Duration = Duration::from_millis(200);
/// Longest wait between retries.
pub const RETRY_MAX: Duration = Duration::from_secs(5);

/// Sending side of the prediction log. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PredictionLog {
    tx: mpsc::Sender<NewPrediction>,
    metrics: Metrics,
}

impl PredictionLog {
    /// Starts the writer task; it ends once every [`PredictionLog`] clone is dropped and the
    /// queue is drained (await the returned handle to flush on shutdown; while the registry is
    /// down the writer keeps retrying, so bound that wait).
    pub fn start(registry: Registry, capacity: usize, metrics: Metrics) -> (PredictionLog, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<NewPrediction>(capacity.max(1));
        let m = metrics.clone();
        let writer = tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                m.prediction_log_pending.set(rx.len() as i64 + 1);
                write_with_retry(&registry, p, &m).await;
                m.prediction_log_pending.set(rx.len() as i64);
            }
        });
        (PredictionLog { tx, metrics }, writer)
    }

    /// Queues `p` without waiting; a full queue drops it and counts the drop.
    pub fn record(&self, p: NewPrediction) {
        match self.tx.try_send(p) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.prediction_log_dropped.inc();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.metrics.prediction_log_dropped.inc();
                tracing::warn!("prediction log writer has stopped; entry dropped");
            }
        }
    }
}

/// Writes `p`, retrying while the registry is unavailable; other refusals are counted and the
/// entry is given up.
async fn write_with_retry(registry: &Registry, p: NewPrediction, m: &Metrics) {
    let mut wait = RETRY_START;
    let mut warned = false;
    loop {
        let write = registry.record_prediction(p.clone());
        match registry.bounded("a prediction-log write", write).await {
            Ok(()) => {
                if warned {
                    tracing::info!("prediction log: registry answers again, writing queued entries");
                }
                return;
            }
            Err(Error::Unavailable(e)) => {
                if !warned {
                    tracing::warn!(error = %e, "prediction log: registry unavailable; keeping entries and retrying");
                    warned = true;
                }
                m.prediction_log_retries.inc();
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
            Err(e) => {
                m.prediction_log_errors.inc();
                tracing::warn!(error = %e, "prediction log: registry refused the entry");
                return;
            }
        }
    }
}
