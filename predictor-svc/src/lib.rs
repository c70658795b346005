//! The lstm.v1.Predictor service as a library: `main` parses config and calls [`serve`]; tests do
//! the same on an ephemeral port.
//!
//! Layout:
//! - [`worker`]: two OS threads per loaded model (interactive and bulk lanes), fed by channels,
//!   running batched forwards; [`fair`]: the round-robin queue of the bulk lane;
//! - [`cache`]: lazy loading, atomic hot swap, LRU eviction under a memory budget;
//! - [`reload`]: the change-counter poller that triggers hot reloads and bar refreshes;
//! - [`bars`]: recent bars held per served symbol (answers continue through a registry outage);
//! - [`engine`]: bars → features → forecast → reply, free of gRPC;
//! - [`grpc`]: the thin tonic handlers; [`predlog`]: the asynchronous prediction log;
//! - [`config`], [`metrics`]: command line and Prometheus metrics.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::calendar::TradingCalendar;
use common::pb;
use common::registry::{Registry, RegistryOptions};
use common::telemetry::Shutdown;
use common::{Error, Result};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;

pub mod bars;
pub mod cache;
pub mod config;
pub mod engine;
pub mod fair;
pub mod grpc;
pub mod live;
pub mod metrics;
pub mod predlog;
pub mod reload;
pub mod worker;

pub use config::{Cli, Command, Config, LiveQualityArgs, PredictArgs};

/// gRPC service name used for the per-service health status.
pub const SERVICE_NAME: &str = "lstm.v1.Predictor";
/// How long in-flight calls may still run once the shutdown sequence (NOT_SERVING, then
/// `--shutdown-grace-ms`) has finished, before the server stops regardless.
pub const STOP_AFTER_DRAIN: Duration = Duration::from_secs(10);
/// Health name of the registry dependency: SERVING while the registry answers. During an
/// outage it is NOT_SERVING while [`SERVICE_NAME`] stays SERVING as long as loaded models can
/// answer from held bars.
pub const REGISTRY_HEALTH_NAME: &str = "lstm.v1.Predictor/registry";

/// Serves lstm.v1.Predictor (plus health and reflection) on `listener` and `/metrics` on
/// `config.metrics_listen` until `shutdown` resolves; then health turns NOT_SERVING, in-flight
/// requests drain, the reload poller stops and the prediction log is flushed.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let metrics_listener = common::server::bind_metrics(&config.metrics_listen.to_string(), "--metrics-listen").await?;
    run_server(listener, metrics_listener, config, Box::pin(shutdown)).await
}

/// [`serve`] with an already bound (or no) metrics listener (tests bind port 0 for both).
pub async fn serve_with_metrics(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    run_server(listener, metrics_listener, config, Box::pin(shutdown)).await
}

/// The server itself. Not generic (the signal is a [`Shutdown`]), so its tonic stack is
/// compiled here once, not again in each crate that starts a predictor.
async fn run_server(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: Config,
    shutdown: Shutdown,
) -> Result<()> {
    let calendar = TradingCalendar::parse(&config.model.holidays)?;
    let device = config.model.tch_device()?;
    let budget_bytes = config.budget_bytes()?;
    if !(0.0..=0.5).contains(&config.aci_gamma) {
        return Err(Error::invalid(format!(
            "--aci-gamma {} is outside 0..=0.5; the default is 0.01 (the authors use 0.005 on daily returns), 0 keeps the nominal levels",
            config.aci_gamma
        )));
    }
    if config.model.torch_threads > 0 {
        tch::set_num_threads(config.model.torch_threads as i32);
    }
    let tls = common::tls::server_tls_config(config.tls_cert.as_deref(), config.tls_key.as_deref())?;
    let registry =
        Registry::connect_with(&config.model.database_url, RegistryOptions::fail_fast(config.registry_timeout()))
            .await?;
    let metrics = metrics::Metrics::new();
    let cache = Arc::new(cache::ModelCache::new(
        registry.clone(),
        cache::CacheConfig { budget_bytes, batch: config.batch(), device },
        metrics.clone(),
    ));
    let (log, log_writer) =
        predlog::PredictionLog::start(registry.clone(), config.prediction_log_capacity, metrics.clone());
    let engine = Arc::new(
        engine::Engine::new(registry.clone(), cache.clone(), calendar, Some(log))
            .with_aci_gamma(config.aci_gamma)
            .with_stage_metrics(metrics.stage_seconds.clone()),
    );

    let stop = CancellationToken::new();
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::NotServing).await;
    health.set_service_status(SERVICE_NAME, ServingStatus::NotServing).await;
    health.set_service_status(REGISTRY_HEALTH_NAME, ServingStatus::NotServing).await;
    let health_task = tokio::spawn(health_loop(
        HealthInputs {
            registry: registry.clone(),
            cache: cache.clone(),
            bars: engine.bars().clone(),
            metrics: metrics.clone(),
        },
        health.clone(),
        Duration::from_millis(config.health_poll_ms.max(100)),
        stop.clone(),
    ));
    let live_task = tokio::spawn(live::poll_loop(
        engine.clone(),
        metrics.clone(),
        Duration::from_millis(config.live_poll_ms.max(100)),
        stop.clone(),
    ));
    let reload_task = tokio::spawn(reload::poll_loop(
        registry.clone(),
        cache.clone(),
        engine.bars().clone(),
        Duration::from_millis(config.reload_poll_ms.max(10)),
        stop.clone(),
    ));
    let metrics_task = metrics_listener.map(|l| {
        let stop = stop.clone();
        tracing::info!(addr = ?l.local_addr().ok(), "metrics listening on /metrics");
        tokio::spawn(common::telemetry::serve_metrics(l, metrics.registry().clone(), Box::pin(async move {
            stop.cancelled().await
        })))
    });

    let auth = common::auth::Auth::new(config.auth_token.clone());
    tracing::info!(auth = auth.enabled(), "bearer token {}", if auth.enabled() { "required on lstm.v1.Predictor" } else { "not configured: lstm.v1.Predictor is open" });
    let service = grpc::PredictorService::new(engine.clone(), metrics.clone(), auth);

    let grace = Duration::from_millis(config.shutdown_grace_ms);
    let signal = {
        let mut health = health.clone();
        let stop = stop.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: health NOT_SERVING, draining in-flight requests");
            stop.cancel();
            for name in ["", SERVICE_NAME, REGISTRY_HEALTH_NAME] {
                health.set_service_status(name, ServingStatus::NotServing).await;
            }
            if !grace.is_zero() {
                tokio::time::sleep(grace).await;
            }
            // End every Health/Watch stream (its watcher has seen NOT_SERVING): an open Watch
            // would otherwise hold the graceful shutdown until the orchestrator's SIGKILL.
            for name in ["", SERVICE_NAME, REGISTRY_HEALTH_NAME] {
                health.clear_service_status(name).await;
            }
        }
    };
    tracing::info!(addr = ?listener.local_addr().ok(), tls = config.tls_cert.is_some(), "lstm.v1.Predictor listening");
    // After the drain above, unary calls finish quickly; a stream that does not (a stuck
    // client) is cut after STOP_AFTER_DRAIN.
    let server = common::server::GrpcServer { service_name: SERVICE_NAME, listener, tls, stop_after: STOP_AFTER_DRAIN };
    let routes = tonic::service::Routes::new(health_service).add_service(pb::predictor_server::PredictorServer::new(service));
    let served = server.serve(routes, signal).await;
    stop.cancel();
    let _ = reload_task.await;
    let _ = live_task.await;
    let _ = health_task.await;
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    // Flush the prediction log: the engine holds the last sender.
    drop(engine);
    cache.clear();
    if tokio::time::timeout(Duration::from_secs(5), log_writer).await.is_err() {
        let pending = metrics.prediction_log_pending.get().max(0) as u64;
        metrics.prediction_log_dropped.inc_by(pending);
        tracing::warn!(pending, "prediction log did not flush within 5 s (registry unavailable?); remaining entries dropped");
    }
    tracing::info!("predictor stopped");
    served
}

/// What the health loop looks at.
struct HealthInputs {
    registry: Registry,
    cache: Arc<cache::ModelCache>,
    bars: Arc<bars::BarStore>,
    metrics: metrics::Metrics,
}

/// Health, told truthfully through a registry outage:
/// - `""` (liveness) turns SERVING at the first successful registry ping and stays so until
///   shutdown;
/// - [`REGISTRY_HEALTH_NAME`] is SERVING exactly while the registry answers the ping;
/// - [`SERVICE_NAME`] (readiness) is SERVING while the registry answers, and during an outage
///   while at least one model is loaded (it answers from held bars); NOT_SERVING when it could
///   answer nothing.
async fn health_loop(
    inputs: HealthInputs,
    health: tonic_health::server::HealthReporter,
    every: Duration,
    stop: CancellationToken,
) {
    let HealthInputs { registry, cache, bars, metrics } = inputs;
    let mut last: Option<(bool, bool)> = None;
    let mut live = false;
    let status = |up: bool| if up { ServingStatus::Serving } else { ServingStatus::NotServing };
    loop {
        let ok = registry.ping().await.is_ok();
        if stop.is_cancelled() {
            return;
        }
        if !ok {
            bars.mark_down();
        }
        let ready = ok || cache.loaded_count() > 0;
        metrics.registry_up.set(i64::from(ok));
        metrics.held_bars_max_age.set(bars.oldest_age_seconds());
        if ok && !live {
            health.set_service_status("", ServingStatus::Serving).await;
            live = true;
        }
        if last != Some((ok, ready)) {
            health.set_service_status(REGISTRY_HEALTH_NAME, status(ok)).await;
            health.set_service_status(SERVICE_NAME, status(ready)).await;
            match (ok, ready) {
                (true, _) => tracing::info!("registry answers: SERVING"),
                (false, true) => tracing::warn!(
                    "registry does not answer: serving loaded models from held bars \
                     ({REGISTRY_HEALTH_NAME} NOT_SERVING)"
                ),
                (false, false) => tracing::warn!(
                    "registry does not answer and no model is loaded: {SERVICE_NAME} NOT_SERVING"
                ),
            }
            last = Some((ok, ready));
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// `predictor-svc live-quality`: GetLiveQuality without a server, as JSON (the fields of
/// `GetLiveQualityResponse`).
pub async fn live_quality_once(args: &LiveQualityArgs) -> Result<serde_json::Value> {
    let registry = Registry::connect(&args.database_url).await?;
    let q = live::LiveQuery::try_from(pb::GetLiveQualityRequest {
        symbol: args.symbol.clone(),
        years: Some(args.years),
        window_days: Some(args.window_days),
        version_id: args.version_id.clone().unwrap_or_default(),
    })?;
    let versions =
        common::live::live_quality(&registry, &q.symbol, q.years, q.window_days, q.version_id.as_deref(), args.aci_gamma).await;
    registry.close().await;
    Ok(serde_json::json!({ "versions": versions? }))
}

/// `predictor-svc predict`: one forecast from the registry's bars and current (or pinned)
/// version, without a server and without logging it.
pub async fn predict_once(args: &PredictArgs) -> Result<engine::PredictionOut> {
    let calendar = TradingCalendar::parse(&args.model.holidays)?;
    let device = args.model.tch_device()?;
    let registry = Registry::connect(&args.model.database_url).await?;
    let metrics = metrics::Metrics::new();
    let batch = worker::BatchConfig {
        max_wait: Duration::ZERO,
        torch_threads: args.model.torch_threads,
        // One answer: a single thread is all it can use.
        forward_threads: 1,
        ..worker::BatchConfig::default()
    };
    let cache = Arc::new(cache::ModelCache::new(
        registry.clone(),
        cache::CacheConfig { budget_bytes: u64::MAX, batch, device },
        metrics,
    ));
    let engine = engine::Engine::new(registry, cache.clone(), calendar, None);
    let input = engine::PredictInput::try_from(pb::PredictRequest {
        symbol: args.symbol.clone(),
        years: Some(args.years),
        bars: Vec::new(),
        version_id: args.version_id.clone().unwrap_or_default(),
    })?;
    let out = engine.predict(input).await;
    cache.clear();
    out
}
