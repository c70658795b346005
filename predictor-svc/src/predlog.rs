//! The prediction log: every served forecast is queued (bounded, never blocking the reply) and
//! written to the registry by one background task, for decay monitoring (SPEC §7, §8). When the
//! queue is full the entry is dropped and counted (`predictor_prediction_log_dropped_total`).
use common::registry::{NewPrediction, Registry};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;

/// Sending side of the prediction log. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PredictionLog {
    tx: mpsc::Sender<NewPrediction>,
    metrics: Metrics,
}

impl PredictionLog {
    /// Starts the writer task; it ends once every [`PredictionLog`] clone is dropped and the
    /// queue is drained (await the returned handle to flush on shutdown).
    pub fn start(registry: Registry, capacity: usize, metrics: Metrics) -> (PredictionLog, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<NewPrediction>(capacity.max(1));
        let m = metrics.clone();
        let writer = tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                if let Err(e) = registry.record_prediction(p).await {
                    m.prediction_log_errors.inc();
                    tracing::warn!(error = %e, "prediction log: registry refused the entry");
                }
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
