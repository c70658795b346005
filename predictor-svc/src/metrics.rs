//! Prometheus metrics of predictor-svc (all prefixed `predictor_`), on a registry per server
//! instance so several servers can run in one process (tests).
use crate::worker::BatchInfo;
use prometheus::{
    exponential_buckets, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, Opts, Registry,
};

/// The service's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// `predictor_requests_total{method, outcome}`: RPCs (and PredictBatch items) by outcome
    /// (`ok` or the lower-case gRPC code, e.g. `not_found`).
    pub requests: IntCounterVec,
    /// `predictor_request_seconds{method}`: RPC latency.
    pub request_seconds: HistogramVec,
    /// `predictor_batch_size`: windows per forward pass.
    pub batch_size: Histogram,
    /// `predictor_predict_stage_seconds{stage}`: where one answer's time goes inside the
    /// service, by stage (`model`, `bars`, `features`, `queue`, `forward`, `calibration`,
    /// `assemble`, `log`); receiving, decoding and encoding are the RPC's latency outside it.
    pub stage_seconds: HistogramVec,
    /// `predictor_queue_wait_seconds{lane}`: how long the oldest window of each forward pass
    /// waited in its lane's queue (`interactive` | `bulk`).
    pub queue_wait_seconds: HistogramVec,
    /// `predictor_forward_passes_total{lane, thread}`: forward passes by lane and by the lane's
    /// thread (`thread` = 0.. of `--forward-threads`; the bulk lane has one thread, 0).
    pub forward_passes: IntCounterVec,
    /// `predictor_loaded_models`: models resident in memory.
    pub loaded_models: IntGauge,
    /// `predictor_model_memory_bytes`: parameter bytes of the resident models.
    pub model_memory_bytes: IntGauge,
    /// `predictor_reloads_total{outcome}`: hot reloads (`ok` | `failed`).
    pub reloads: IntCounterVec,
    /// `predictor_model_loads_total{outcome}`: lazy first loads (`ok` | `failed`).
    pub loads: IntCounterVec,
    /// `predictor_evictions_total`: models evicted by the memory budget.
    pub evictions: IntCounter,
    /// `predictor_prediction_log_dropped_total`: served forecasts not logged (queue full).
    pub prediction_log_dropped: IntCounter,
    /// `predictor_prediction_log_errors_total`: log writes the registry refused.
    pub prediction_log_errors: IntCounter,
    /// `predictor_prediction_log_retries_total`: log writes retried because the registry did
    /// not answer.
    pub prediction_log_retries: IntCounter,
    /// `predictor_prediction_log_pending`: entries waiting in the log's queue.
    pub prediction_log_pending: IntGauge,
    /// `predictor_registry_up`: 1 while the registry answers the health ping, else 0.
    pub registry_up: IntGauge,
    /// `predictor_held_bars_max_age_seconds`: age of the oldest in-memory bar copy.
    pub held_bars_max_age: Gauge,
    /// `predictor_bars_served_total{source}`: answers by bar source (`registry`, `memory`,
    /// `memory:stale`, `inline`).
    pub bars_served: IntCounterVec,
    /// `predictor_live_brier_skill{symbol,years}`: live `brier_skill` of the serving version
    /// (SPEC §14.2; absent until it has scored days with a base rate).
    pub live_brier_skill: GaugeVec,
    /// `predictor_live_coverage{symbol,years,level}`: live coverage of the 0.8 and 0.95
    /// intervals.
    pub live_coverage: GaugeVec,
    /// `predictor_live_scored{symbol,years}`: scored days in the serving version's window.
    pub live_scored: GaugeVec,
}

impl Metrics {
    /// Creates and registers every metric on a fresh registry.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("predictor_requests_total", "Predictor RPCs by method and outcome"),
            &["method", "outcome"],
        )
        .expect("valid metric");
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("predictor_request_seconds", "Predictor RPC latency in seconds")
                .buckets(exponential_buckets(0.0005, 2.0, 16).expect("valid buckets")),
            &["method"],
        )
        .expect("valid metric");
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("predictor_batch_size", "Windows per model forward pass")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
        )
        .expect("valid metric");
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "predictor_predict_stage_seconds",
                "Time of one answer's stages inside the predictor (model lookup, bars, features, queue, forward, calibration, assemble, log)",
            )
            .buckets(exponential_buckets(0.000_005, 2.0, 20).expect("valid buckets")),
            &["stage"],
        )
        .expect("valid metric");
        let queue_wait_seconds = HistogramVec::new(
            HistogramOpts::new(
                "predictor_queue_wait_seconds",
                "Queue wait of the oldest window of each forward pass, by model lane",
            )
            .buckets(exponential_buckets(0.0001, 2.0, 16).expect("valid buckets")),
            &["lane"],
        )
        .expect("valid metric");
        let forward_passes = IntCounterVec::new(
            Opts::new("predictor_forward_passes_total", "Forward passes by model lane and lane thread"),
            &["lane", "thread"],
        )
        .expect("valid metric");
        let loaded_models =
            IntGauge::new("predictor_loaded_models", "Models resident in memory").expect("valid");
        let model_memory_bytes = IntGauge::new(
            "predictor_model_memory_bytes",
            "Parameter bytes of the resident models (counted against the memory budget)",
        )
        .expect("valid metric");
        let reloads = IntCounterVec::new(
            Opts::new("predictor_reloads_total", "Hot reloads of a new current version"),
            &["outcome"],
        )
        .expect("valid metric");
        let loads = IntCounterVec::new(
            Opts::new("predictor_model_loads_total", "Lazy first loads of a model"),
            &["outcome"],
        )
        .expect("valid metric");
        let evictions =
            IntCounter::new("predictor_evictions_total", "Models evicted by the memory budget")
                .expect("valid metric");
        let prediction_log_dropped = IntCounter::new(
            "predictor_prediction_log_dropped_total",
            "Served forecasts not written to the prediction log because its queue was full",
        )
        .expect("valid metric");
        let prediction_log_errors = IntCounter::new(
            "predictor_prediction_log_errors_total",
            "Prediction log writes that the registry refused",
        )
        .expect("valid metric");
        let prediction_log_retries = IntCounter::new(
            "predictor_prediction_log_retries_total",
            "Prediction log writes retried because the registry did not answer",
        )
        .expect("valid metric");
        let prediction_log_pending = IntGauge::new(
            "predictor_prediction_log_pending",
            "Served forecasts queued for the prediction log",
        )
        .expect("valid metric");
        let registry_up = IntGauge::new(
            "predictor_registry_up",
            "1 while the model registry answers the health ping, 0 during an outage",
        )
        .expect("valid metric");
        let held_bars_max_age = Gauge::new(
            "predictor_held_bars_max_age_seconds",
            "Seconds since the oldest in-memory bar copy was last confirmed against the registry",
        )
        .expect("valid metric");
        let bars_served = IntCounterVec::new(
            Opts::new("predictor_bars_served_total", "Forecasts by where their bars came from"),
            &["source"],
        )
        .expect("valid metric");
        let live_brier_skill = GaugeVec::new(
            Opts::new("predictor_live_brier_skill", "1 - Brier / base-rate Brier of the serving version's scored forecasts"),
            &["symbol", "years"],
        )
        .expect("valid metric");
        let live_coverage = GaugeVec::new(
            Opts::new("predictor_live_coverage", "Share of the serving version's scored days inside its interval"),
            &["symbol", "years", "level"],
        )
        .expect("valid metric");
        let live_scored = GaugeVec::new(
            Opts::new("predictor_live_scored", "Scored days in the serving version's live-quality window"),
            &["symbol", "years"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_seconds.clone()),
            Box::new(batch_size.clone()),
            Box::new(stage_seconds.clone()),
            Box::new(queue_wait_seconds.clone()),
            Box::new(forward_passes.clone()),
            Box::new(loaded_models.clone()),
            Box::new(model_memory_bytes.clone()),
            Box::new(reloads.clone()),
            Box::new(loads.clone()),
            Box::new(evictions.clone()),
            Box::new(prediction_log_dropped.clone()),
            Box::new(prediction_log_errors.clone()),
            Box::new(prediction_log_retries.clone()),
            Box::new(prediction_log_pending.clone()),
            Box::new(registry_up.clone()),
            Box::new(held_bars_max_age.clone()),
            Box::new(bars_served.clone()),
            Box::new(live_brier_skill.clone()),
            Box::new(live_coverage.clone()),
            Box::new(live_scored.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            request_seconds,
            batch_size,
            stage_seconds,
            queue_wait_seconds,
            forward_passes,
            loaded_models,
            model_memory_bytes,
            reloads,
            loads,
            evictions,
            prediction_log_dropped,
            prediction_log_errors,
            prediction_log_retries,
            prediction_log_pending,
            registry_up,
            held_bars_max_age,
            bars_served,
            live_brier_skill,
            live_coverage,
            live_scored,
        }
    }

    /// Records one forward pass of a model worker.
    pub fn observe_batch(&self, b: &BatchInfo) {
        self.batch_size.observe(b.size as f64);
        self.queue_wait_seconds.with_label_values(&[b.lane]).observe(b.oldest_wait.as_secs_f64());
        self.forward_passes.with_label_values(&[b.lane, &b.thread.to_string()]).inc();
    }

    /// The Prometheus registry holding these metrics (served on `/metrics`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The lower-case outcome label of a gRPC code (`ok`, `not_found`, ...).
pub fn outcome_label(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "ok",
        tonic::Code::Cancelled => "cancelled",
        tonic::Code::Unknown => "unknown",
        tonic::Code::InvalidArgument => "invalid_argument",
        tonic::Code::DeadlineExceeded => "deadline_exceeded",
        tonic::Code::NotFound => "not_found",
        tonic::Code::AlreadyExists => "already_exists",
        tonic::Code::PermissionDenied => "permission_denied",
        tonic::Code::ResourceExhausted => "resource_exhausted",
        tonic::Code::FailedPrecondition => "failed_precondition",
        tonic::Code::Aborted => "aborted",
        tonic::Code::OutOfRange => "out_of_range",
        tonic::Code::Unimplemented => "unimplemented",
        tonic::Code::Internal => "internal",
        tonic::Code::Unavailable => "unavailable",
        tonic::Code::DataLoss => "data_loss",
        tonic::Code::Unauthenticated => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_metric_is_exported() {
        let m = Metrics::new();
        m.requests.with_label_values(&["Predict", "ok"]).inc();
        m.request_seconds.with_label_values(&["Predict"]).observe(0.01);
        m.reloads.with_label_values(&["ok"]).inc();
        m.loads.with_label_values(&["ok"]).inc();
        let names: Vec<String> = m.registry().gather().iter().map(|f| f.name().to_string()).collect();
        for n in [
            "predictor_requests_total",
            "predictor_request_seconds",
            "predictor_batch_size",
            "predictor_loaded_models",
            "predictor_reloads_total",
            "predictor_prediction_log_dropped_total",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        assert_eq!(outcome_label(tonic::Code::NotFound), "not_found");
    }
}
