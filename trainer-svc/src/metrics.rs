//! Prometheus metrics of trainer-svc (all prefixed `trainer_`), served on `/metrics`.
use prometheus::{
    Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry as PromRegistry,
};

/// The service's metric families, registered in their own Prometheus registry.
#[derive(Clone)]
pub struct Metrics {
    /// Registry gathered by `/metrics`.
    pub registry: PromRegistry,
    /// `trainer_runs_started_total{mode}`.
    pub runs_started: IntCounterVec,
    /// `trainer_runs_finished_total{mode,outcome}` (`succeeded` | `failed` | `cancelled`).
    pub runs_finished: IntCounterVec,
    /// `trainer_epoch_seconds`: wall time of one training epoch.
    pub epoch_seconds: Histogram,
    /// `trainer_queue_wait_seconds`: time from a run's creation until it starts training.
    pub queue_wait_seconds: Histogram,
    /// `trainer_active_runs`: runs currently training (lease and slot held).
    pub active_runs: IntGauge,
    /// `trainer_rpc_requests_total{method,code}`.
    pub rpc_requests: IntCounterVec,
    /// `trainer_validation_baseline_total{result}` (`beats` | `loses`): candidates whose holdout
    /// Brier beat / did not beat the best baseline's.
    pub validation_baseline: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Creates and registers every metric family.
    pub fn new() -> Metrics {
        let registry = PromRegistry::new();
        let runs_started = IntCounterVec::new(
            Opts::new(
                "trainer_runs_started_total",
                "Training runs started, by mode",
            ),
            &["mode"],
        )
        .expect("valid metric");
        let runs_finished = IntCounterVec::new(
            Opts::new(
                "trainer_runs_finished_total",
                "Training runs finished, by mode and outcome",
            ),
            &["mode", "outcome"],
        )
        .expect("valid metric");
        let epoch_seconds = Histogram::with_opts(
            HistogramOpts::new("trainer_epoch_seconds", "Wall time of one training epoch").buckets(
                vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
            ),
        )
        .expect("valid metric");
        let queue_wait_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "trainer_queue_wait_seconds",
                "Time a run waited for its symbol lease and a training slot",
            )
            .buckets(vec![0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0]),
        )
        .expect("valid metric");
        let active_runs =
            IntGauge::new("trainer_active_runs", "Runs currently training").expect("valid metric");
        let rpc_requests = IntCounterVec::new(
            Opts::new(
                "trainer_rpc_requests_total",
                "gRPC requests, by method and status code",
            ),
            &["method", "code"],
        )
        .expect("valid metric");
        let validation_baseline = IntCounterVec::new(
            Opts::new(
                "trainer_validation_baseline_total",
                "Post-training validations, by whether the candidate's holdout Brier beat the best baseline's",
            ),
            &["result"],
        )
        .expect("valid metric");
        for c in [
            Box::new(validation_baseline.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(runs_started.clone()),
            Box::new(runs_finished.clone()),
            Box::new(epoch_seconds.clone()),
            Box::new(queue_wait_seconds.clone()),
            Box::new(active_runs.clone()),
            Box::new(rpc_requests.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            runs_started,
            runs_finished,
            epoch_seconds,
            queue_wait_seconds,
            active_runs,
            rpc_requests,
            validation_baseline,
        }
    }

    /// Counts one RPC with the status code it ended with (`OK` on success).
    pub fn rpc<T>(&self, method: &str, result: &Result<T, tonic::Status>) {
        let code = match result {
            Ok(_) => "OK".to_string(),
            Err(s) => code_name(s.code()).to_string(),
        };
        self.rpc_requests.with_label_values(&[method, &code]).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The canonical upper-case name of a gRPC code (`NOT_FOUND`, `FAILED_PRECONDITION`, ...).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
