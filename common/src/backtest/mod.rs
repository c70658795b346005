//! Walk-forward backtest of a training recipe against baselines (SPEC §13.1), free of gRPC.
//!
//! [`run_backtest`] plans `folds` rolling origins `horizon_days` apart ([`folds`]); each fold
//! trains the recipe with the pipeline the Train RPC runs ([`crate::training::run_pipeline`]) on
//! the `(symbol, years)` data ending at its origin, then forecasts every test day from bars up to
//! that day only, through the predictor's forecast path ([`forecast`]). The [`crate::baselines`] are
//! fitted on the same fold training samples and answer the same days. [`metrics`] are computed
//! pooled and per fold, with 90 % moving-block [`bootstrap`] intervals; [`report`] assembles the
//! JSON of SPEC §13.1 and [`plots`] its charts.
//!
//! [`run_pooled_backtest`] (`pooled`) does the same for a pool of symbols: origins are dates,
//! every member is cut there, one pooled network per fold, reports per member and pooled.
//!
//! Folds are independent and run on up to `parallelism` threads. Automatic parallelism (`0`):
//! `cores / threads_per_fit` folds at once, at most `folds`, where `threads_per_fit` is the
//! recipe's `cpu_threads` when set, else [`MIN_THREADS_PER_FIT`] (the LSTM's batch-32 kernels
//! gain little past 2 intra-op threads, so more cores buy more folds rather than faster folds);
//! with the recipe's `cpu_threads` unset each fit then gets `cores / parallelism` threads.
//! libtorch has one global CPU generator: a *seeded* backtest trains its folds one at a time
//! (the pipeline holds the process-wide RNG lock while it trains) so the report is repeatable;
//! feature building, baselines and forecasts still overlap.
pub mod bootstrap;
pub mod folds;
pub mod forecast;
pub mod metrics;
pub mod plots;
mod pooled;
pub mod report;
mod run;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use bootstrap::BootstrapConfig;
pub use metrics::{Answers, Metrics};
pub use pooled::run_pooled_backtest;
pub use run::FoldOutput;

use crate::data::Bar;
use crate::training::{PipelineConfig, TrainEvent};
use crate::{Error, Result};

/// Default number of folds.
pub const DEFAULT_FOLDS: usize = 6;
/// Default test days per fold.
pub const DEFAULT_HORIZON_DAYS: usize = 60;
/// Intra-op threads a fit gets at least under automatic parallelism.
pub const MIN_THREADS_PER_FIT: usize = 2;
/// Most folds one backtest may have.
pub const MAX_FOLDS: usize = 100;
/// Most test days per fold.
pub const MAX_HORIZON_DAYS: usize = 2520;

/// Options of one backtest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestConfig {
    /// The training recipe evaluated (symbol and years of the key set in it). Importance and
    /// plots are never computed for fold models.
    pub recipe: PipelineConfig,
    /// Rolling origins (default [`DEFAULT_FOLDS`]).
    pub folds: usize,
    /// Trading days tested per fold (default [`DEFAULT_HORIZON_DAYS`]).
    pub horizon_days: usize,
    /// Last test day; `None` = the latest bar with a realised 5-day outcome.
    pub end: Option<NaiveDate>,
    /// Folds at once; 0 = automatic (module docs).
    pub parallelism: usize,
    /// Interval settings; its seed defaults to the recipe's seed (0 without one).
    pub bootstrap: BootstrapConfig,
}

impl BacktestConfig {
    /// The defaults around `recipe`: 6 folds of 60 days, automatic parallelism, bootstrap seeded
    /// with the recipe's seed.
    pub fn new(recipe: PipelineConfig) -> BacktestConfig {
        let bootstrap = BootstrapConfig { seed: recipe.seed.unwrap_or(0), ..BootstrapConfig::default() };
        BacktestConfig {
            recipe,
            folds: DEFAULT_FOLDS,
            horizon_days: DEFAULT_HORIZON_DAYS,
            end: None,
            parallelism: 0,
            bootstrap,
        }
    }

    /// Rejects impossible values before any work starts.
    pub fn validate(&self) -> Result<()> {
        self.recipe.validate()?;
        self.bootstrap.validate()?;
        if !(1..=MAX_FOLDS).contains(&self.folds) {
            return Err(Error::invalid(format!("folds {} must be in 1..={MAX_FOLDS} (default {DEFAULT_FOLDS})", self.folds)));
        }
        if !(1..=MAX_HORIZON_DAYS).contains(&self.horizon_days) {
            return Err(Error::invalid(format!(
                "horizon_days {} must be in 1..={MAX_HORIZON_DAYS} (default {DEFAULT_HORIZON_DAYS})",
                self.horizon_days
            )));
        }
        if self.parallelism > 1024 {
            return Err(Error::invalid(format!("parallelism {} must be at most 1024 (0 = automatic)", self.parallelism)));
        }
        Ok(())
    }

    /// `(folds at once, intra-op threads per fit or None to leave the recipe's)` on `cores`.
    pub fn threads(&self, cores: usize) -> (usize, Option<i32>) {
        let cores = cores.max(1);
        let per_fit = self.recipe.cpu_threads.map_or(MIN_THREADS_PER_FIT, |t| t.max(1) as usize);
        let workers = match self.parallelism {
            0 => (cores / per_fit).max(1),
            p => p,
        }
        .min(self.folds);
        let threads = match self.recipe.cpu_threads {
            Some(_) => None,
            None => Some((cores / workers).max(1) as i32),
        };
        (workers, threads)
    }
}

/// Results of one fold for progress events.
#[derive(Debug, Clone, Serialize)]
pub struct FoldSummary {
    /// Last bar the fold's model saw.
    pub origin: NaiveDate,
    /// First test day.
    pub test_start: NaiveDate,
    /// Last test day.
    pub test_end: NaiveDate,
    /// Test days.
    pub n: usize,
    /// Training samples.
    pub n_train: usize,
    /// Epochs of the final fit.
    pub epochs_run: u32,
    /// Wall time of the fold.
    pub seconds: f64,
    /// Metrics per model on the fold's test days.
    pub metrics: BTreeMap<String, Metrics>,
}

/// Progress of a backtest. Folds run concurrently, so events of different folds interleave.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BacktestEvent {
    /// A fold's samples are built and its training starts.
    FoldStarted {
        /// 1-based fold.
        fold: u32,
        /// Number of folds.
        folds: u32,
        /// Last training bar.
        origin: NaiveDate,
        /// First test day.
        test_start: NaiveDate,
        /// Last test day.
        test_end: NaiveDate,
        /// Training samples.
        train_samples: usize,
    },
    /// A training event (stage, epoch, …) of a fold's pipeline.
    Training {
        /// 1-based fold.
        fold: u32,
        /// The pipeline's event.
        event: TrainEvent,
    },
    /// A fold finished: its metrics.
    FoldCompleted {
        /// 1-based fold.
        fold: u32,
        /// Number of folds.
        folds: u32,
        /// Dates, sizes, metrics.
        summary: FoldSummary,
    },
}

/// What a backtest produced.
#[derive(Debug, Clone)]
pub struct BacktestOutcome {
    /// The report (SPEC §13.1 keys; see [`report`]).
    pub report: serde_json::Value,
    /// PNG charts by file name.
    pub plots: Vec<(String, Vec<u8>)>,
    /// Wall time of the whole backtest.
    pub seconds: f64,
    /// Wall time of each fold.
    pub fold_seconds: Vec<f64>,
    /// Folds run at once.
    pub parallelism: usize,
}

/// Runs the backtest of `cfg` on `bars` (one symbol, sorted, validated). Blocking: run it on its
/// own thread. `events` receives progress from the fold threads; `cancel` is checked between
/// batches of every fold, and a cancelled backtest returns [`Error::Cancelled`] and no report.
pub fn run_backtest(
    bars: &[Bar],
    cfg: &BacktestConfig,
    events: &(dyn Fn(BacktestEvent) + Sync),
    cancel: &CancellationToken,
) -> Result<BacktestOutcome> {
    let started = Instant::now();
    cfg.validate()?;
    let plan = folds::plan(bars, cfg.folds, cfg.horizon_days, cfg.end, cfg.recipe.years)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (workers, cpu_threads) = cfg.threads(cores);
    tracing::info!(folds = plan.len(), workers, ?cpu_threads, "backtest started");
    let outputs = run::run_folds(bars, &plan, cfg, workers, cpu_threads, events, cancel)?;
    let report = report::build(cfg, &outputs);
    let plots = plots::render(&outputs)?;
    Ok(BacktestOutcome {
        report,
        plots,
        seconds: started.elapsed().as_secs_f64(),
        fold_seconds: outputs.iter().map(|o| o.seconds).collect(),
        parallelism: workers,
    })
}
