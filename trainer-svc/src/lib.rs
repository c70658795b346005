//! The lstm.v1.Trainer service as a library: `main` parses config and calls [`serve`]; tests do
//! the same on an ephemeral port.
//!
//! - [`core`]: one run end to end, shared by gRPC and CLI, one module per concern:
//!   `lifecycle` (run record, events, terminal state), `lease` (symbol lease guard), `slots`,
//!   `data` (the `(symbol, years)` data rule), `train` (current version, training thread),
//!   `save` (version, plots, result); `train_all` and `attach` build on it;
//! - [`engine`]: the blocking call into `common::training`;
//! - [`service`]: the thin gRPC handlers; [`requests`] / [`convert`]: protocol ⇄ domain;
//! - [`triggered`]: triggered training and the daily scheduler;
//!   `backtest` runs the Backtest RPC / CLI (walk-forward evaluation, `common::backtest`);
//! - the gRPC server shell (reflection, TLS, shutdown) is `common::server`, shared with the predictor;
//! - [`auth`], [`metrics`], [`config`]: plumbing; [`commands`]: the one-shot subcommands.
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::calendar::TradingCalendar;
use common::pb::trainer_server::TrainerServer;
use common::registry::{Registry, RegistryOptions};
use common::telemetry::Shutdown;
use common::{Error, Result};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tracing::{info, warn};

pub use common::auth;
pub mod commands;
pub mod console;
pub mod config;
pub mod convert;
pub mod core;
pub mod engine;
pub mod live;
pub mod metrics;
pub mod requests;
pub mod service;
pub mod triggered;

pub use config::{Cli, Command, ServeConfig};

/// The gRPC service name used by health checks.
pub const SERVICE_NAME: &str = "lstm.v1.Trainer";

/// Readiness: `lstm.v1.Trainer` is SERVING while the registry takes a (harmless) write within
/// one second — and, for SQLite, its filesystem is writable with `min_free_bytes` free —
/// NOT_SERVING while it does not (database down, read-only or full disk). Stops at shutdown,
/// which owns the status from then on.
async fn health_loop(
    registry: Registry,
    health: tonic_health::server::HealthReporter,
    every: Duration,
    min_free_bytes: u64,
    stop: CancellationToken,
) {
    let mut last = true;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let probe = tokio::time::timeout(Duration::from_secs(1), registry.check_writable(min_free_bytes)).await;
        let error = match probe {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("registry write did not finish within 1 s".to_string()),
        };
        if stop.is_cancelled() {
            return;
        }
        let ok = error.is_none();
        if ok != last {
            if ok {
                health.set_service_status(SERVICE_NAME, ServingStatus::Serving).await;
                info!("registry takes writes again: {SERVICE_NAME} SERVING");
            } else {
                health.set_service_status(SERVICE_NAME, ServingStatus::NotServing).await;
                warn!(error = ?error, "registry cannot be written: {SERVICE_NAME} NOT_SERVING");
            }
            last = ok;
        }
    }
}

/// Opens the registry named by the config (creating a SQLite file and its directory).
pub async fn open_registry(args: &config::RegistryArgs) -> Result<Registry> {
    if args.registry_timeout_ms == 0 {
        return Err(Error::invalid("--registry-timeout-ms must be at least 1"));
    }
    let opts = RegistryOptions {
        max_versions: args.max_versions,
        query_timeout: Some(Duration::from_millis(args.registry_timeout_ms)),
        ..RegistryOptions::default()
    };
    Registry::connect_with(&args.database_url, opts).await
}

/// Serves trainer-svc on `listener` until `shutdown` resolves; binds `/metrics` on
/// `config.metrics_listen` unless it is `off`.
pub async fn serve(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let metrics_listener = common::server::bind_metrics(&config.metrics_listen, "--metrics-listen").await?;
    run_server(listener, metrics_listener, config, Box::pin(shutdown)).await
}

/// [`serve`] with an already bound `/metrics` listener (tests bind port 0).
pub async fn serve_with_metrics(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    run_server(listener, metrics_listener, config, Box::pin(shutdown)).await
}

/// The server itself. Not generic (the signal is a [`Shutdown`]), so its tonic stack is
/// compiled here once, not again in each crate that starts a trainer.
async fn run_server(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: ServeConfig,
    shutdown: Shutdown,
) -> Result<()> {
    let calendar = TradingCalendar::parse(&config.holidays)?;
    let scheduler_time = config.scheduler_time.as_deref().map(triggered::parse_time).transpose()?;
    if config.max_concurrent_trainings == 0 {
        return Err(Error::invalid("--max-concurrent-trainings must be at least 1"));
    }
    if config.lease_renew_seconds == 0 || config.lease_renew_seconds >= config.lease_ttl_seconds {
        return Err(Error::invalid(
            "--lease-renew-seconds must be at least 1 and below --lease-ttl-seconds",
        ));
    }
    let tls = common::tls::server_tls_config(config.tls_cert.as_deref(), config.tls_key.as_deref())?;
    let registry = open_registry(&config.registry).await?;
    registry.ping().await?;

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::NotServing).await;
    health.set_service_status(SERVICE_NAME, ServingStatus::NotServing).await;

    let token = CancellationToken::new();
    let settings = core::CoreSettings {
        lease_ttl: Duration::from_secs(config.lease_ttl_seconds),
        lease_renew: Duration::from_secs(config.lease_renew_seconds),
        lease_timeout: Duration::from_secs(config.lease_timeout_seconds),
        max_concurrent: config.max_concurrent_trainings,
        cpu_threads: config.cpu_threads,
        max_train_samples: config.max_train_samples.max(1),
        require_beats_baseline: config.require_beats_baseline,
        live_rule: common::triggers::LiveRule {
            min_scored: config.live_quality_min_scored.max(1),
            min_skill: config.live_quality_min_skill,
        },
    };
    let core = Arc::new(core::Core::new(registry, calendar, metrics::Metrics::new(), settings, token.clone()));
    let auth = auth::Auth::new(config.auth_token.clone());
    let trainer = TrainerServer::new(service::TrainerService::new(core.clone(), auth.clone()))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);

    let metrics_task = metrics_listener.map(|l| {
        let addr = l.local_addr().ok();
        info!(?addr, "serving /metrics");
        let stop = token.clone();
        tokio::spawn(common::telemetry::serve_metrics(l, core.metrics.registry.clone(), Box::pin(async move {
            stop.cancelled().await
        })))
    });
    if let Some(at) = scheduler_time {
        tokio::spawn(triggered::run_scheduler(core.clone(), at, token.clone()));
    }
    if !config.console_listen.trim().is_empty() {
        let addr = config.console_listen.trim();
        let l = TcpListener::bind(addr).await.map_err(|e| {
            Error::invalid(format!("cannot listen for the console on {addr}: {e}; set --console-listen (empty disables it)"))
        })?;
        let stop = token.clone();
        let console = console::Console::new(core.clone(), auth.clone());
        tokio::spawn(console::serve(l, console, async move { stop.cancelled().await }));
    }
    tokio::spawn(core::abandoned::run_sweeper(core.clone(), token.clone()));

    health.set_service_status(SERVICE_NAME, ServingStatus::Serving).await;
    health.set_service_status("", ServingStatus::Serving).await;
    tokio::spawn(health_loop(
        core.registry.clone(),
        health.clone(),
        Duration::from_millis(config.health_check_ms.max(50)),
        config.registry_min_free_mb.saturating_mul(1 << 20),
        token.clone(),
    ));
    info!(
        addr = ?listener.local_addr().ok(),
        auth = auth.enabled(),
        tls = config.tls_cert.is_some(),
        max_concurrent_trainings = config.max_concurrent_trainings,
        "trainer-svc serving"
    );

    let (mut h2, core2, t2) = (health.clone(), core.clone(), token.clone());
    let signal = async move {
        shutdown.await;
        // Health first, so probes and load balancers stop sending work; then cancel runs.
        h2.set_service_status(SERVICE_NAME, ServingStatus::NotServing).await;
        h2.set_service_status("", ServingStatus::NotServing).await;
        info!(active_runs = core2.live.len(), "shutting down: cancelling runs");
        core2.live.cancel_all();
        t2.cancel();
        // End the Health/Watch streams (each has been sent NOT_SERVING first), so they do not
        // hold the graceful shutdown until the forced stop.
        h2.clear_service_status(SERVICE_NAME).await;
        h2.clear_service_status("").await;
    };
    // Streams that never end by themselves (a stuck client) must not hold the process: after
    // the grace period the server stops regardless.
    let server = common::server::GrpcServer {
        service_name: SERVICE_NAME,
        listener,
        tls,
        stop_after: Duration::from_secs(config.shutdown_grace_seconds),
    };
    let served = server.serve(tonic::service::Routes::new(health_service).add_service(trainer), signal).await;
    token.cancel();
    // Runs record their end (cancelled) before the process exits.
    let deadline = Instant::now() + Duration::from_secs(config.shutdown_grace_seconds);
    while !core.live.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !core.live.is_empty() {
        warn!(runs = core.live.len(), "runs still active after the shutdown grace period");
    }
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    core.registry.close().await;
    info!("trainer-svc stopped");
    served
}
