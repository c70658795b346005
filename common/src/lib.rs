//! Shared core of the LSTM stock-forecast services.
//!
//! Split by concern, the way the system is shaped:
//! - [`data`]: daily bars, the CSV dialects, validation, the synthetic market generator;
//! - [`features`]: the 21 indicators, 60-day windows, targets and standardisation statistics;
//! - [`model`]: the two tch networks and their safetensors + JSON artifacts;
//! - [`training`]: losses, plain / improved / cross-validated / incremental training, the pipeline;
//! - [`evaluation`]: holdout metrics, the deploy rule, feature importance, plots;
//! - [`calibration`]: calibrated `prob_up`, conformal intervals, the signal threshold, quality;
//! - [`baselines`]: base-rate and linear baselines a model must beat;
//! - [`live`]: live quality, served forecasts scored against what happened (SPEC §14.2);
//! - [`backtest`]: walk-forward evaluation of a recipe against baselines (SPEC §13.1);
//! - [`registry`]: the sqlx model registry (SQLite, PostgreSQL, MySQL/MariaDB);
//! - [`calendar`] and [`triggers`]: trading days and retraining triggers;
//! - [`spec`]: the machine-readable training specification of this build;
//! - [`server`]: the one gRPC server shell (reflection, TLS, undecodable requests, shutdown);
//! - [`config`], [`telemetry`], [`tls`], [`auth`], [`error`]: process plumbing shared by both
//!   services;
//! - [`test_skip`], [`test_ports`], [`metrics_scrape`]: test support: how a test reports that it
//!   skipped itself (listed at the end of the suite), ports for the service processes a test
//!   starts, and reading a running service's `/metrics`;
//! - [`pb`]: the generated `lstm.v1` protocol.
pub mod auth;
pub mod baselines;
pub mod backtest;
pub mod calendar;
pub mod calibration;
pub mod config;
pub mod data;
pub mod error;
pub mod evaluation;
pub mod features;
pub mod key;
pub mod live;
pub mod metrics_scrape;
pub mod model;
pub mod pb;
pub mod registry;
pub mod server;
pub mod spec;
pub mod telemetry;
pub mod test_ports;
pub mod test_skip;
pub mod text;
pub mod tls;
pub mod training;
pub mod triggers;

pub use error::{Error, Result};
