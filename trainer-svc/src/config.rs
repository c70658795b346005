//! Command line and environment configuration (SPEC §11–§12). One clap struct per command; every
//! setting has a flag and, where the SPEC names one, an environment variable.
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use common::config::{DEFAULT_DATABASE_URL, DEFAULT_TRAINER_ADDR, DEFAULT_TRAINER_METRICS_ADDR};
use common::telemetry::LogFormat;

/// lstm.v1.Trainer: trains LSTM stock-forecast models and manages the model registry.
///
/// Without a subcommand, `serve` runs with the flags given.
#[derive(Debug, Parser)]
#[command(
    name = "trainer-svc",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings of `serve` when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeConfig,
}

/// The subcommands (SPEC §12, fixed names).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (default).
    Serve(ServeConfig),
    /// Parse a CSV (Yahoo, akshare, tushare or plain) and upsert its bars into the registry.
    Import(ImportArgs),
    /// Print the 21 raw features of the 60-day window ending at --end (or the last day) as CSV.
    Features(FeaturesArgs),
    /// Train one model now, without a server, with a progress bar; prints the result JSON.
    Train(TrainArgs),
    /// Print the machine-readable training specification (JSON).
    Spec,
    /// Print a synthetic daily-bar CSV (Yahoo dialect) for demos and benchmarks.
    GenerateBars(crate::commands::generate_bars::GenerateBarsArgs),
    /// Walk-forward backtest of a recipe against baselines, without a server; prints the report.
    Backtest(crate::commands::backtest::BacktestArgs),
}

/// Where the registry lives.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Registry database: sqlite://PATH (created with its directory), postgres://... or mysql://...
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Non-current model versions kept per (symbol, years) besides the current one.
    #[arg(long, env = "MAX_VERSIONS", default_value_t = common::registry::DEFAULT_MAX_VERSIONS)]
    pub max_versions: usize,
    /// Deadline of each registry call a training run makes (events, lease, run records, the
    /// version); a database that silently stops answering (a network partition) fails the
    /// call after this long instead of holding the run (docs/registry.md).
    #[arg(long, env = "REGISTRY_TIMEOUT_MS", default_value_t = 10_000)]
    pub registry_timeout_ms: u64,
}

/// Settings of `trainer-svc serve`: the one configuration struct of the server.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Registry settings.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// gRPC listen address.
    #[arg(long, env = "TRAINER_ADDR", default_value = DEFAULT_TRAINER_ADDR)]
    pub listen: String,
    /// Prometheus `/metrics` listen address; `off` disables the endpoint.
    #[arg(long, env = "METRICS_ADDR", default_value = DEFAULT_TRAINER_METRICS_ADDR)]
    pub metrics_listen: String,
    /// Web console address (SPEC §14.4): runs, versions, quality and plots in the browser;
    /// empty disables it. In Kubernetes reach it with `kubectl port-forward`.
    #[arg(long = "console-listen", env = "CONSOLE_ADDR", default_value = "127.0.0.1:8080")]
    pub console_listen: String,
    /// Bearer token required on mutating RPCs (Train, IngestBars, DeleteVersion, ...); unset = open.
    #[arg(long, env = "AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Market holidays (YYYY-MM-DD, comma separated) for the trading calendar of the triggers.
    #[arg(long, env = "HOLIDAYS", default_value = "")]
    pub holidays: String,
    /// Training runs executed at once by this process (others queue).
    #[arg(long, env = "MAX_CONCURRENT_TRAININGS", default_value_t = 1)]
    pub max_concurrent_trainings: usize,
    /// Lifetime of a per-symbol training lease; renewed every --lease-renew-seconds while training.
    #[arg(long, env = "LEASE_TTL_SECONDS", default_value_t = 60)]
    pub lease_ttl_seconds: u64,
    /// How often a held lease is renewed.
    #[arg(long, env = "LEASE_RENEW_SECONDS", default_value_t = 15)]
    pub lease_renew_seconds: u64,
    /// Default wait for a symbol's lease before ABORTED (requests may override).
    #[arg(long, env = "LEASE_TIMEOUT_SECONDS", default_value_t = 600)]
    pub lease_timeout_seconds: u64,
    /// Run the triggers of every symbol daily at this UTC time (HH:MM); unset = no in-process
    /// scheduler (Kubernetes uses a CronJob).
    #[arg(long, env = "SCHEDULER_TIME")]
    pub scheduler_time: Option<String>,
    /// Largest accepted request message (CSV uploads), in bytes.
    #[arg(long, env = "MAX_MESSAGE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Seconds to wait for cancelled runs to record their end on shutdown.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,
    /// libtorch intra-op CPU threads per training run (unset = libtorch default).
    #[arg(long, env = "TRAINER_CPU_THREADS")]
    pub cpu_threads: Option<i32>,
    /// Most trading days one training run may use (memory ≈ 28 KB each); a larger range is
    /// refused with INVALID_ARGUMENT before any window is built.
    #[arg(long, env = "MAX_TRAIN_SAMPLES", default_value_t = crate::core::DEFAULT_MAX_TRAIN_SAMPLES)]
    pub max_train_samples: usize,
    /// Keep a candidate non-current when its holdout Brier is not below the best baseline's
    /// (base rate, linear), for requests that leave `require_beats_baseline` unset.
    #[arg(long, env = "REQUIRE_BEATS_BASELINE")]
    pub require_beats_baseline: bool,
    /// `live_quality` trigger: fires when the serving version's live `brier_skill` is below this
    /// (SPEC §14.2: 0, worse than its base rate).
    #[arg(long, env = "LIVE_QUALITY_MIN_SKILL", default_value_t = 0.0, allow_negative_numbers = true)]
    pub live_quality_min_skill: f64,
    /// `live_quality` trigger: scored days the window needs before it may fire.
    #[arg(long, env = "LIVE_QUALITY_MIN_SCORED", default_value_t = common::live::TRIGGER_MIN_SCORED)]
    pub live_quality_min_scored: usize,
    /// How often health probes the registry with a harmless write (milliseconds);
    /// `lstm.v1.Trainer` is NOT_SERVING while the registry cannot be written.
    #[arg(long, env = "TRAINER_HEALTH_CHECK_MS", default_value_t = 1000)]
    pub health_check_ms: u64,
    /// SQLite registry only: `lstm.v1.Trainer` is NOT_SERVING while the database's filesystem
    /// has less than this many MiB free (a small probe write can still fit in reused WAL pages
    /// when a version, its plots and its run events no longer do).
    #[arg(long, env = "REGISTRY_MIN_FREE_MB", default_value_t = 32)]
    pub registry_min_free_mb: u64,
    /// PEM certificate chain for TLS on the gRPC port (with --tls-key); unset = plaintext.
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

impl ServeConfig {
    /// The defaults (flags absent, environment ignored): for tests and embedding.
    pub fn defaults(database_url: impl Into<String>) -> ServeConfig {
        ServeConfig {
            registry: RegistryArgs {
                database_url: database_url.into(),
                max_versions: common::registry::DEFAULT_MAX_VERSIONS,
                registry_timeout_ms: 10_000,
            },
            listen: DEFAULT_TRAINER_ADDR.into(),
            metrics_listen: "off".into(),
            console_listen: String::new(),
            auth_token: None,
            log_format: LogFormat::Text,
            holidays: String::new(),
            max_concurrent_trainings: 1,
            lease_ttl_seconds: 60,
            lease_renew_seconds: 15,
            lease_timeout_seconds: 600,
            scheduler_time: None,
            max_message_bytes: 64 * 1024 * 1024,
            shutdown_grace_seconds: 30,
            cpu_threads: None,
            max_train_samples: crate::core::DEFAULT_MAX_TRAIN_SAMPLES,
            require_beats_baseline: false,
            live_quality_min_skill: 0.0,
            live_quality_min_scored: common::live::TRIGGER_MIN_SCORED,
            health_check_ms: 1000,
            registry_min_free_mb: 32,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `trainer-svc import --symbol S --csv F`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Ticker to store the bars under.
    #[arg(long)]
    pub symbol: String,
    /// CSV file (dialect auto-detected from the header).
    #[arg(long)]
    pub csv: PathBuf,
    /// Keep rows that repeat the previous bar on a weekend or holiday (dropped and listed by default).
    #[arg(long)]
    pub keep_repeated_bars: bool,
    /// Drop bad rows (listed on stderr and in the output) instead of refusing the whole file.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Registry settings.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `trainer-svc features --csv F [--end DATE]`.
#[derive(Debug, Clone, Args)]
pub struct FeaturesArgs {
    /// CSV file of bars.
    #[arg(long)]
    pub csv: PathBuf,
    /// Last day of the window (YYYY-MM-DD); default the last bar.
    #[arg(long)]
    pub end: Option<NaiveDate>,
}

/// The recipe of every command that trains (`train`, `backtest`), each flag written once: the
/// SPEC §9 pipeline options (model, training strategy, search, epochs, seed, device) and the
/// SPEC §13.2 / §13.3 ones (calibration, gate, search strategy). Both requests carry the same
/// fields under the same names; [`RecipeFlags::train_request`] and
/// [`RecipeFlags::backtest_request`] fill them from the one list in `recipe_request!`.
#[derive(Debug, Clone, Args)]
pub struct RecipeFlags {
    /// 3 CV folds and the fast grid.
    #[arg(long)]
    pub fast: bool,
    /// Cap on the epochs of every training stage.
    #[arg(long)]
    pub max_epochs: Option<u32>,
    /// Seed for repeatable CPU runs (in a backtest also repeatable folds and intervals).
    #[arg(long)]
    pub seed: Option<u64>,
    /// `auto` | `cpu` | `cuda:N`.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Use the base LSTMDualHead instead of LSTMDualHeadEnhanced.
    #[arg(long)]
    pub base_model: bool,
    /// Plain Adam training (enables the cross-validated grid search) instead of the improved strategy.
    #[arg(long)]
    pub plain: bool,
    /// Skip the grid search.
    #[arg(long)]
    pub no_cv: bool,
    /// `mse` | `huber` | `volatility` | `full`.
    #[arg(long, default_value = "full")]
    pub reg_loss_type: String,
    /// Direction-head calibration: `temperature` | `platt` | `none` (empty = the default,
    /// temperature; see `trainer-svc spec`).
    #[arg(long, default_value = "")]
    pub calibration: String,
    /// Keep the candidate non-current unless its holdout Brier beats the best baseline's.
    #[arg(long)]
    pub require_beats_baseline: bool,
    /// Precision the UP signal's threshold must reach on the calibration data.
    #[arg(long)]
    pub target_precision: Option<f64>,
    /// CV search: `grid` (default) or `tpe` (over the default search space).
    #[arg(long, default_value = "grid")]
    pub search: String,
    /// TPE trials (default 20); only with `--search tpe`.
    #[arg(long)]
    pub n_trials: Option<u32>,
    /// What the CV search maximises: `score` or `auc` (default: score for the grid, auc for TPE).
    #[arg(long, default_value = "")]
    pub cv_metric: String,
    /// TPE: start no new trial after this many seconds; only with `--search tpe`.
    #[arg(long)]
    pub search_time_budget_seconds: Option<u32>,
    /// Pooled runs (`--pool`): width of the learned symbol embedding; unset = none.
    #[arg(long)]
    pub symbol_embedding_dim: Option<u32>,
}

/// The recipe fields of `$flags` as a `pb::$message` (TrainRequest or BacktestRequest: the
/// same field names), the rest left at their defaults.
macro_rules! recipe_request {
    ($message:ident, $flags:expr) => {{
        let f: &RecipeFlags = $flags;
        common::pb::$message {
            do_cv_tune: Some(!f.no_cv),
            fast_training: Some(f.fast),
            use_improved_training: Some(!f.plain),
            use_enhanced_model: Some(!f.base_model),
            reg_loss_type: f.reg_loss_type.clone(),
            seed: f.seed,
            device: f.device.clone(),
            max_epochs: f.max_epochs,
            calibration: f.calibration.clone(),
            require_beats_baseline: Some(f.require_beats_baseline),
            target_precision: f.target_precision,
            search: f.search.clone(),
            n_trials: f.n_trials,
            cv_metric: f.cv_metric.clone(),
            search_space: None,
            search_time_budget_seconds: f.search_time_budget_seconds,
            symbol_embedding_dim: f.symbol_embedding_dim,
            ..Default::default()
        }
    }};
}

impl RecipeFlags {
    /// The recipe as TrainRequest fields.
    pub fn train_request(&self) -> common::pb::TrainRequest {
        recipe_request!(TrainRequest, self)
    }

    /// The recipe as BacktestRequest fields.
    pub fn backtest_request(&self) -> common::pb::BacktestRequest {
        recipe_request!(BacktestRequest, self)
    }
}

/// `trainer-svc train --symbol S --years N [...]`: the same options as the Train RPC.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Ticker with bars in the registry (see `import`).
    #[arg(long)]
    pub symbol: String,
    /// Years of history of the model key (1..=10).
    #[arg(long, default_value_t = 1)]
    pub years: u32,
    /// Train the 1-, 2- and 3-year models in turn.
    #[arg(long)]
    pub all_years: bool,
    /// First day of data (YYYY-MM-DD) instead of end − years.
    #[arg(long)]
    pub start: Option<String>,
    /// Last day of data (YYYY-MM-DD); default the latest bar.
    #[arg(long)]
    pub end: Option<String>,
    /// Skip feature importance.
    #[arg(long)]
    pub no_importance: bool,
    /// Skip the PNG plots.
    #[arg(long)]
    pub no_plot: bool,
    /// Skip the holdout comparison (the new version is deployed).
    #[arg(long)]
    pub no_validation: bool,
    /// Drop (instead of keeping) a candidate that loses the validation.
    #[arg(long)]
    pub drop_rejected: bool,
    /// How long to wait for the symbol's lease.
    #[arg(long, default_value_t = 600)]
    pub lease_timeout_seconds: u32,
    /// Pooled model (SPEC §14.3): train one network on these symbols' bars too, comma-separated
    /// (`--symbol` is always a member), e.g. `--pool MSFT,NVDA`.
    #[arg(long, value_delimiter = ',')]
    pub pool: Vec<String>,
    /// The recipe (model, training, search, calibration, gate).
    #[command(flatten)]
    pub recipe: RecipeFlags,
    /// libtorch intra-op CPU threads.
    #[arg(long, env = "TRAINER_CPU_THREADS")]
    pub cpu_threads: Option<i32>,
    /// Most trading days the run may use (see `serve --max-train-samples`).
    #[arg(long, env = "MAX_TRAIN_SAMPLES", default_value_t = crate::core::DEFAULT_MAX_TRAIN_SAMPLES)]
    pub max_train_samples: usize,
    /// No progress bar (events are still logged).
    #[arg(long)]
    pub quiet: bool,
    /// Registry settings.
    #[command(flatten)]
    pub registry: RegistryArgs,
}
