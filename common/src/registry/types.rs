//! Plain data types the registry reads and writes.
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The SQL database behind a [`super::Registry`], chosen by the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Backend {
    /// `sqlite://path` — the embedded default (WAL mode).
    Sqlite,
    /// `postgres://…` / `postgresql://…`.
    Postgres,
    /// `mysql://…` (MySQL 8 or MariaDB 10.11+).
    MySql,
}

impl Backend {
    /// Short lowercase name (`sqlite`, `postgres`, `mysql`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    /// Picks the backend from a database URL, or says which schemes are accepted.
    pub fn from_url(url: &str) -> Result<Backend> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres") | Some("postgresql") => Ok(Backend::Postgres),
            Some("mysql") | Some("mariadb") => Ok(Backend::MySql),
            _ => Err(Error::invalid(format!(
                "unsupported database URL '{}': use sqlite://PATH, postgres://USER@HOST/DB or mysql://USER@HOST/DB",
                redact_url(url)
            ))),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Removes a password from a URL before it goes into a message or a log line.
pub(crate) fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.split_once('@') {
            if let Some((user, _pw)) = creds.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

/// What [`super::Registry::upsert_bars`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertStats {
    /// Bars whose date was new for the symbol.
    pub inserted: u64,
    /// Bars that replaced a stored bar of the same date.
    pub updated: u64,
    /// Bars stored for the symbol after the upsert.
    pub total: u64,
}

/// A model version to store (see [`super::Registry::save_version`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewVersion {
    /// Unique id of the version (e.g. `AAPL-5y-20261121T204000Z-ab12`).
    pub version_id: String,
    /// Ticker symbol.
    pub symbol: String,
    /// Years of history the model was trained on.
    pub years: u32,
    /// Network kind (`LSTMDualHead`, `LSTMDualHeadEnhanced`).
    pub model_kind: String,
    /// First bar date used for training.
    pub data_start: NaiveDate,
    /// Last bar date used for training.
    pub data_end: NaiveDate,
    /// Wall time training took.
    pub training_seconds: f64,
    /// Hyper-parameters, normalisation statistics, diagnostics, feature importance (JSON).
    pub metadata_json: String,
    /// Holdout metrics (accuracy, f1, mse, ...).
    pub metrics: BTreeMap<String, f64>,
    /// The weights (safetensors bytes); the registry computes their sha256.
    pub weights: Vec<u8>,
    /// Free-text note (e.g. why the candidate was not deployed).
    pub note: String,
    /// Member symbols of a pooled version (SPEC §14.3), `symbol` among them; empty for a
    /// single-symbol version. Every member has the version's `years`.
    pub pool_symbols: Vec<String>,
}

/// Who makes a version current and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// Person or component making the change (`trainer-svc`, `alice`).
    pub actor: String,
    /// Why (`f1 gain 0.07 >= 0.05`, `rollback after incident 42`).
    pub reason: String,
}

/// Metadata of a stored model version, without its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Unique id.
    pub version_id: String,
    /// Ticker symbol.
    pub symbol: String,
    /// Years of history.
    pub years: u32,
    /// When the version was stored.
    pub created_at: DateTime<Utc>,
    /// Wall time training took.
    pub training_seconds: f64,
    /// First bar date used for training.
    pub data_start: NaiveDate,
    /// Last bar date used for training.
    pub data_end: NaiveDate,
    /// Network kind.
    pub model_kind: String,
    /// Whether this version is current for a key (its own, or a pool member's).
    pub is_current: bool,
    /// Holdout metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Hex sha256 of the weights, computed when saved.
    pub weights_sha256: String,
    /// Size of the weights in bytes.
    pub weights_bytes: u64,
    /// Free-text note.
    pub note: String,
    /// Member symbols of a pooled version, `symbol` among them; empty for a single-symbol one.
    #[serde(default)]
    pub pool_symbols: Vec<String>,
}

impl VersionInfo {
    /// Whether the version serves `(symbol, years)`: it is of that key, or a pool member is.
    pub fn serves(&self, symbol: &str, years: u32) -> bool {
        self.years == years && (self.symbol == symbol || self.pool_symbols.iter().any(|s| s == symbol))
    }
}

/// A model version with its metadata JSON and verified weights.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    /// Metadata.
    pub info: VersionInfo,
    /// Hyper-parameters, normalisation statistics, diagnostics, feature importance (JSON).
    pub metadata_json: String,
    /// Weights whose sha256 matched [`VersionInfo::weights_sha256`].
    pub weights: Vec<u8>,
}

/// One change of the current version of a key (promotion or rollback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionRecord {
    /// Ticker symbol.
    pub symbol: String,
    /// Years of history.
    pub years: u32,
    /// The version that was current before, if any.
    pub from_version: Option<String>,
    /// The version made current.
    pub to_version: String,
    /// Who made the change.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Lifecycle state of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunStatus {
    /// Accepted, waiting (e.g. for the per-symbol lease).
    Queued,
    /// Training.
    Running,
    /// Finished and produced a version.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Cancelled by the caller or by shutdown.
    Cancelled,
    /// Closed because its owner stopped renewing the symbol lease (the trainer process died,
    /// or the run lost its lease); the run's `error` says why.
    Abandoned,
}

impl RunStatus {
    /// Lowercase name as stored (`queued`, `running`, `succeeded`, `failed`, `cancelled`,
    /// `abandoned`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Abandoned => "abandoned",
        }
    }

    /// Whether the run has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled | RunStatus::Abandoned
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "queued" => Ok(RunStatus::Queued),
            "running" => Ok(RunStatus::Running),
            "succeeded" => Ok(RunStatus::Succeeded),
            "failed" => Ok(RunStatus::Failed),
            "cancelled" => Ok(RunStatus::Cancelled),
            "abandoned" => Ok(RunStatus::Abandoned),
            other => Err(Error::invalid(format!(
                "unknown run status '{other}': expected queued, running, succeeded, failed, cancelled or abandoned"
            ))),
        }
    }
}

/// A training run to record (see [`super::Registry::create_run`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// Unique run id.
    pub run_id: String,
    /// Ticker symbol.
    pub symbol: String,
    /// Years of history.
    pub years: u32,
    /// `full`, `incremental`, `triggered:monthly`, ...
    pub mode: String,
    /// The request / resolved configuration (JSON).
    pub config_json: String,
    /// Caller identity (peer, token subject, `scheduler`).
    pub requested_by: String,
}

/// A stored training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique run id.
    pub run_id: String,
    /// Ticker symbol.
    pub symbol: String,
    /// Years of history.
    pub years: u32,
    /// Training mode.
    pub mode: String,
    /// Current status.
    pub status: RunStatus,
    /// Configuration JSON.
    pub config_json: String,
    /// Caller identity.
    pub requested_by: String,
    /// When the run was created.
    pub started_at: DateTime<Utc>,
    /// When it ended, if it has.
    pub finished_at: Option<DateTime<Utc>>,
    /// `finished_at - started_at`, if ended.
    pub duration_seconds: Option<f64>,
    /// The version it produced, if any.
    pub version_id: Option<String>,
    /// The error it ended with, if any.
    pub error: Option<String>,
}

/// A recorded training failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// Row id (increasing).
    pub id: i64,
    /// Ticker symbol.
    pub symbol: String,
    /// Years of history.
    pub years: u32,
    /// The run that failed, if known.
    pub run_id: Option<String>,
    /// What went wrong.
    pub error: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A served prediction, kept to measure model decay (see [`super::Registry::record_prediction`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewPrediction {
    /// Unique id of this served answer, drawn when it is served ([`NewPrediction::new_entry_id`]):
    /// writing the same entry twice (a retry after a write that timed out but reached the
    /// database) stores it once.
    pub entry_id: String,
    /// Ticker symbol.
    pub symbol: String,
    /// Years of history of the model.
    pub years: u32,
    /// The version that answered.
    pub version_id: String,
    /// Date of the last bar the prediction used.
    pub as_of: NaiveDate,
    /// Predicted 5-day cumulative return (fraction).
    pub predicted_cumulative_return: f64,
    /// Predicted probability of an up move.
    pub prob_up: f64,
    /// Predicted daily returns (5).
    pub magnitudes: Vec<f64>,
    /// Computed from bars sent inline (not scored by live quality).
    pub inline_bars: bool,
    /// The served 80 % interval of the cumulative return, when the version has intervals.
    pub interval_80: Option<(f64, f64)>,
    /// The served 95 % interval.
    pub interval_95: Option<(f64, f64)>,
}

impl NewPrediction {
    /// A fresh entry id (a random UUID).
    pub fn new_entry_id() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }
}

/// The fencing token of a write made on behalf of a training run: the symbol's lease must still
/// be held by `holder` (the run's id, unique per run) and unexpired when the write commits, or the
/// write is refused and nothing is stored. A process paused past its lease's TTL (GC, SIGSTOP, a
/// partition) therefore cannot store a version after another replica took the symbol over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseFence {
    /// The symbol whose lease the run holds.
    pub symbol: String,
    /// The lease holder (the run id).
    pub holder: String,
}

/// Outcome of [`super::Registry::try_acquire_lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAttempt {
    /// The caller holds the lease until it expires or is released.
    Acquired,
    /// Someone else holds it (or is ahead in the queue); the caller is queued.
    Waiting {
        /// 1-based place in the FIFO queue (1 = next).
        position: u32,
        /// The current holder, or the queued holder whose turn it is when the lease is free.
        holder: String,
    },
}
