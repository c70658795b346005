//! Command line and environment configuration (SPEC §11, §12): one clap struct per command,
//! every field `#[arg(long, env)]` with a safe laptop default.
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use common::config::{DEFAULT_DATABASE_URL, DEFAULT_PREDICTOR_ADDR, DEFAULT_PREDICTOR_METRICS_ADDR};
use common::{Error, Result};

use crate::worker::BatchConfig;

/// `predictor-svc`: serves LSTM forecasts for `(symbol, years)` keys from the model registry.
#[derive(Debug, Parser)]
#[command(name = "predictor-svc", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do (default: `serve`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings of `serve` when no subcommand is given.
    #[command(flatten)]
    pub serve: Config,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (default).
    Serve(Config),
    /// Print one forecast as JSON, without a server.
    Predict(PredictArgs),
    /// Print the live quality of a key's served forecasts as JSON (GetLiveQuality), without a
    /// server.
    LiveQuality(LiveQualityArgs),
}

/// `predictor-svc live-quality --symbol S --years N [--window-days D] [--version-id V]`.
#[derive(Debug, Clone, Args)]
pub struct LiveQualityArgs {
    /// Model registry URL.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Ticker of the model key.
    #[arg(long)]
    pub symbol: String,
    /// Years of the model key (1..=10).
    #[arg(long, default_value_t = 1)]
    pub years: u32,
    /// Scored days of each version's window.
    #[arg(long, default_value_t = common::live::DEFAULT_WINDOW_DAYS as u32)]
    pub window_days: u32,
    /// Only this version.
    #[arg(long)]
    pub version_id: Option<String>,
    /// Step γ of the adaptive intervals (as `serve --aci-gamma`).
    #[arg(long, env = "PREDICTOR_ACI_GAMMA", default_value_t = common::calibration::adaptive::DEFAULT_GAMMA)]
    pub aci_gamma: f64,
}

/// Settings shared by every command that runs models.
#[derive(Debug, Clone, Args)]
pub struct ModelSettings {
    /// Model registry URL: `sqlite://PATH` (created if missing), `postgres://…` or `mysql://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Market holidays (`YYYY-MM-DD`, comma separated) skipped in `forecast_dates`.
    #[arg(long, env = "HOLIDAYS", default_value = "")]
    pub holidays: String,
    /// libtorch intra-op threads of each model lane (every loaded model has an interactive and a
    /// bulk lane); 0 = libtorch's default (OMP_NUM_THREADS or the number of cores). 1 is
    /// fastest on a shared or small CPU: batching, not intra-op threads, gives the throughput,
    /// and OpenMP teams on busy cores stall (BENCHMARKS.md, docs/deployment.md).
    #[arg(long, env = "TORCH_THREADS", default_value_t = 1)]
    pub torch_threads: usize,
    /// Device models run on: `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when available).
    #[arg(long, env = "PREDICTOR_DEVICE", default_value = "cpu")]
    pub device: String,
    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            database_url: DEFAULT_DATABASE_URL.into(),
            holidays: String::new(),
            torch_threads: 1,
            device: "cpu".into(),
            log_format: "text".into(),
        }
    }
}

impl ModelSettings {
    /// The tch device named by `--device`.
    pub fn tch_device(&self) -> Result<tch::Device> {
        parse_device(&self.device)
    }
}

/// Configuration of `predictor-svc serve`.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Registry, calendar, threads, device and log settings.
    #[command(flatten)]
    pub model: ModelSettings,
    /// gRPC listen address.
    #[arg(long = "listen", env = "PREDICTOR_ADDR", default_value = DEFAULT_PREDICTOR_ADDR)]
    pub listen: SocketAddr,
    /// Prometheus `/metrics` listen address.
    #[arg(long = "metrics-listen", env = "METRICS_ADDR", default_value = DEFAULT_PREDICTOR_METRICS_ADDR)]
    pub metrics_listen: SocketAddr,
    /// Largest number of windows one forward pass runs together.
    #[arg(long, env = "PREDICTOR_MAX_BATCH", default_value_t = 64)]
    pub max_batch: usize,
    /// Milliseconds a busy model waits for more requests before running a partial batch (an idle
    /// model never waits).
    #[arg(long = "batch-wait-ms", env = "PREDICTOR_BATCH_WAIT_MS", default_value_t = 2)]
    pub batch_wait_ms: u64,
    /// Threads of each loaded model's interactive lane, each running forward passes on its own
    /// replica (the weights are shared). 0 = the CPUs this process may use (the cgroup CPU quota
    /// of a Kubernetes limit, or the cores), so one hot model is served by every core.
    #[arg(long = "forward-threads", env = "PREDICTOR_FORWARD_THREADS", default_value_t = 0)]
    pub forward_threads: usize,
    /// Memory budget for resident models (parameter bytes, MiB; fractions allowed); least recently
    /// used models are evicted beyond it.
    #[arg(long = "model-memory-budget-mb", env = "MODEL_MEMORY_BUDGET_MB", default_value_t = 512.0)]
    pub model_memory_budget_mb: f64,
    /// How often the registry's change counter is polled for promotions and rollbacks (ms).
    #[arg(long = "reload-poll-ms", env = "PREDICTOR_RELOAD_POLL_MS", default_value_t = 250)]
    pub reload_poll_ms: u64,
    /// Capacity of the prediction-log queue; entries beyond it are dropped and counted.
    #[arg(long, env = "PREDICTION_LOG_CAPACITY", default_value_t = 10_000)]
    pub prediction_log_capacity: usize,
    /// Deadline of every registry call on the request path, the health ping and the poller
    /// (connect, pool acquire and the call itself, ms): past it the answer is UNAVAILABLE.
    #[arg(long = "registry-timeout-ms", env = "PREDICTOR_REGISTRY_TIMEOUT_MS", default_value_t = 1_000)]
    pub registry_timeout_ms: u64,
    /// How often the registry is pinged for the readiness status (ms).
    #[arg(long = "health-poll-ms", env = "PREDICTOR_HEALTH_POLL_MS", default_value_t = 5_000)]
    pub health_poll_ms: u64,
    /// After a shutdown signal: milliseconds to keep serving with health NOT_SERVING before the
    /// listener closes and in-flight requests drain.
    #[arg(long = "shutdown-grace-ms", env = "PREDICTOR_SHUTDOWN_GRACE_MS", default_value_t = 0)]
    pub shutdown_grace_ms: u64,
    /// PEM certificate chain for TLS on the gRPC port (with --tls-key); unset = plaintext.
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Bearer token every `lstm.v1.Predictor` RPC requires (`authorization: Bearer <token>`;
    /// UNAUTHENTICATED otherwise); health and reflection stay open. Unset or empty = open.
    /// Trimmed (a Secret file's newline is not part of it), never logged.
    #[arg(long, env = "AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// How often the serving versions' live quality is rescored for the `predictor_live_*`
    /// gauges and ListModels (ms); GetLiveQuality and GetModelStatus always compute it fresh.
    #[arg(long = "live-poll-ms", env = "PREDICTOR_LIVE_POLL_MS", default_value_t = 60_000)]
    pub live_poll_ms: u64,
    /// Step γ of the adaptive intervals: after each scored day of the serving version the miss
    /// rate in use moves by γ·(α − miss) (Gibbs & Candès 2021); 0 = fixed nominal levels.
    #[arg(long = "aci-gamma", env = "PREDICTOR_ACI_GAMMA", default_value_t = common::calibration::adaptive::DEFAULT_GAMMA)]
    pub aci_gamma: f64,
}

impl Config {
    /// Defaults (as documented) with the given registry URL and ephemeral loopback ports.
    pub fn for_database(database_url: &str) -> Config {
        Config {
            model: ModelSettings { database_url: database_url.into(), ..ModelSettings::default() },
            listen: "127.0.0.1:0".parse().expect("valid address"),
            metrics_listen: "127.0.0.1:0".parse().expect("valid address"),
            max_batch: 64,
            batch_wait_ms: 2,
            forward_threads: 0,
            model_memory_budget_mb: 512.0,
            reload_poll_ms: 250,
            prediction_log_capacity: 10_000,
            registry_timeout_ms: 1_000,
            health_poll_ms: 5_000,
            shutdown_grace_ms: 0,
            tls_cert: None,
            tls_key: None,
            auth_token: None,
            live_poll_ms: 60_000,
            aci_gamma: common::calibration::adaptive::DEFAULT_GAMMA,
        }
    }

    /// Batching settings of the model workers.
    pub fn batch(&self) -> BatchConfig {
        BatchConfig {
            max_batch: self.max_batch.max(1),
            max_wait: Duration::from_millis(self.batch_wait_ms),
            torch_threads: self.model.torch_threads,
            forward_threads: match self.forward_threads {
                0 => crate::worker::default_forward_threads(),
                n => n,
            },
        }
    }

    /// The registry deadline (at least 50 ms).
    pub fn registry_timeout(&self) -> Duration {
        Duration::from_millis(self.registry_timeout_ms.max(50))
    }

    /// The memory budget in bytes.
    pub fn budget_bytes(&self) -> Result<u64> {
        let mb = self.model_memory_budget_mb;
        if !mb.is_finite() || mb <= 0.0 {
            return Err(Error::invalid(format!(
                "--model-memory-budget-mb must be a positive number of MiB, got {mb}"
            )));
        }
        Ok((mb * 1024.0 * 1024.0) as u64)
    }
}

/// Arguments of `predictor-svc predict`.
#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// Registry, calendar, threads, device and log settings.
    #[command(flatten)]
    pub model: ModelSettings,
    /// Ticker of the model key.
    #[arg(long)]
    pub symbol: String,
    /// Years of the model key (1..=10).
    #[arg(long, default_value_t = 1)]
    pub years: u32,
    /// Use this version instead of the current one.
    #[arg(long)]
    pub version_id: Option<String>,
}

/// Parses `cpu` | `cuda` | `cuda:N` | `auto`.
pub fn parse_device(s: &str) -> Result<tch::Device> {
    match s.trim().to_ascii_lowercase().as_str() {
        "cpu" => Ok(tch::Device::Cpu),
        "auto" => Ok(tch::Device::cuda_if_available()),
        "cuda" => Ok(tch::Device::Cuda(0)),
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .map(tch::Device::Cuda)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "device `{}` is not one of cpu, cuda, cuda:N, auto",
                    common::text::clip(s)
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_is_the_default_command_and_flags_parse() {
        let cli = Cli::try_parse_from(["predictor-svc", "--batch-wait-ms", "5"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.batch_wait_ms, 5);
        let cli = Cli::try_parse_from([
            "predictor-svc", "serve", "--listen", "0.0.0.0:1", "--model-memory-budget-mb", "0.5",
        ])
        .unwrap();
        let Some(Command::Serve(c)) = cli.command else { panic!("not serve") };
        assert_eq!(c.listen.port(), 1);
        assert_eq!(c.budget_bytes().unwrap(), 512 * 1024);
        let cli =
            Cli::try_parse_from(["predictor-svc", "predict", "--symbol", "AAPL", "--years", "3"]).unwrap();
        let Some(Command::Predict(p)) = cli.command else { panic!("not predict") };
        assert_eq!((p.symbol.as_str(), p.years), ("AAPL", 3));
    }

    #[test]
    fn devices_and_budgets_are_checked() {
        assert_eq!(parse_device("cuda:1").unwrap(), tch::Device::Cuda(1));
        assert!(parse_device("tpu").unwrap_err().to_string().contains("tpu"));
        let mut c = Config::for_database("sqlite::memory:");
        c.model_memory_budget_mb = 0.0;
        assert!(c.budget_bytes().is_err());
    }
}
