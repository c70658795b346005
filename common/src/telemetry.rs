//! Process telemetry shared by both services: tracing set-up, the Prometheus `/metrics`
//! endpoint, and the shutdown signal.
use std::future::Future;
use std::str::FromStr;

use axum::{routing::get, Router};
use prometheus::{Encoder, TextEncoder};
use tracing_subscriber::{fmt, EnvFilter};

use crate::{Error, Result};

/// Log output format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl FromStr for LogFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(Error::invalid(format!(
                "LOG_FORMAT `{}` is not `text` or `json`",
                crate::text::clip(other)
            ))),
        }
    }
}

/// Installs the global tracing subscriber: filter from `RUST_LOG` (default `info`), output as
/// text or JSON, to stderr. Safe to call twice (the second call is a no-op).
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// A server's shutdown signal, boxed.
///
/// The servers' inner functions take their signal as this one concrete type, so that their
/// tonic, hyper and axum stacks are compiled once, in the library that defines them. With a
/// generic `impl Future` parameter each crate that starts a server (a service's binary, the test
/// harness) compiled the whole stack again for its own future type (BENCHMARKS.md, "Fresh clone").
pub type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Serves `GET /metrics` (Prometheus text format) for `registry` on `listener` until `shutdown`.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    registry: prometheus::Registry,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                let mut buf = Vec::new();
                let encoder = TextEncoder::new();
                // Encoding into a Vec cannot fail for well-formed metric families.
                let _ = encoder.encode(&registry.gather(), &mut buf);
                ([("content-type", encoder.format_type().to_string())], buf)
            }
        }),
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (Kubernetes pod termination).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        _ = term => tracing::info!("SIGTERM received, shutting down"),
    }
}
