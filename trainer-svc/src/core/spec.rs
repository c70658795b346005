//! What a run trains: [`RunSpec`] (one `(symbol, years)` key, its mode and caller) and its
//! [`Work`] (full pipeline or incremental fine-tuning), as requests and the CLI build them.
use std::time::Duration;

use common::data::Bar;
use common::training::{IncrementalConfig, PipelineConfig};

use crate::requests::{BacktestJob, DateRange, TrainJob};

/// What a run trains.
// One value per run: the size of the pipeline recipe does not matter, boxing it would only
// add noise at every construction.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Work {
    /// The full pipeline on `(end − years, end]` (or the explicit range).
    Pipeline {
        /// Pipeline options (symbol and years already set).
        config: PipelineConfig,
        /// Explicit data range.
        range: DateRange,
        /// Keep a candidate that loses the validation as a non-current version.
        keep_rejected: bool,
        /// Pooled model: the other member symbols, sorted (empty = a single-symbol model).
        pool: Vec<String>,
    },
    /// Fine-tuning of the current version on the last `months` months.
    Incremental {
        /// Fine-tuning options.
        config: IncrementalConfig,
        /// Months of recent data.
        months: u32,
    },
    /// A walk-forward backtest (saves no version).
    Backtest(Box<BacktestJob>),
}

/// One training run to execute.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Ticker.
    pub symbol: String,
    /// Model key years.
    pub years: u32,
    /// `train` | `incremental` | `triggered:<kind>` | `train_all` | `cli`.
    pub mode: String,
    /// Caller identity recorded with the run.
    pub requested_by: String,
    /// Lease wait; `None` = the server default.
    pub lease_timeout: Option<Duration>,
    /// Inline bars instead of the registry's.
    pub inline_bars: Option<Vec<Bar>>,
    /// What to train.
    pub work: Work,
}

impl RunSpec {
    /// The pipeline run of key `years` of a Train request (also the CLI's and, with the
    /// TrainAll template, TrainAll's): the request's recipe with symbol and years filled in.
    pub fn train(job: &TrainJob, years: u32, mode: &str, requested_by: &str) -> RunSpec {
        RunSpec {
            symbol: job.symbol.clone(),
            years,
            mode: mode.into(),
            requested_by: requested_by.into(),
            lease_timeout: job.lease_timeout,
            inline_bars: job.inline_bars.clone(),
            work: Work::Pipeline {
                config: PipelineConfig {
                    symbol: job.symbol.clone(),
                    years,
                    ..job.pipeline.clone()
                },
                range: job.range,
                keep_rejected: job.keep_rejected,
                pool: job.pool.clone(),
            },
        }
    }

    /// Every symbol the run trains on, sorted: the order its leases are taken in (two pooled
    /// runs with overlapping members then cannot wait on each other in a circle).
    pub fn lease_symbols(&self) -> Vec<String> {
        let mut all = vec![self.symbol.clone()];
        if let Work::Pipeline { pool, .. } = &self.work {
            all.extend(pool.iter().cloned());
        }
        all.sort();
        all.dedup();
        all
    }

    /// The run that loads pool member `symbol`'s bars: this run's range, ending at `end` (the
    /// first member's last bar), from the registry.
    pub fn member(&self, symbol: &str, end: chrono::NaiveDate) -> RunSpec {
        let mut member = self.clone();
        member.symbol = symbol.to_string();
        member.inline_bars = None;
        if let Work::Pipeline { range, pool, .. } = &mut member.work {
            range.end = Some(end);
            pool.clear();
        }
        member
    }

    /// The other members of a pooled run (empty for a single-symbol run).
    pub fn pool(&self) -> &[String] {
        match &self.work {
            Work::Pipeline { pool, .. } => pool,
            _ => &[],
        }
    }

    /// The run's recipe as stored with the run record and sent in `Started.config_json`.
    pub fn config_json(&self) -> String {
        let work = match &self.work {
            Work::Pipeline {
                config,
                range,
                keep_rejected,
                pool,
            } => serde_json::json!({
                "kind": "pipeline",
                "pipeline": config,
                "start": range.start,
                "end": range.end,
                "keep_rejected": keep_rejected,
                "pool_symbols": pool,
            }),
            Work::Incremental { config, months } => serde_json::json!({
                "kind": "incremental",
                "incremental": config,
                "months": months,
            }),
            Work::Backtest(job) => job.config_json(),
        };
        serde_json::json!({
            "symbol": self.symbol,
            "years": self.years,
            "mode": self.mode,
            "inline_bars": self.inline_bars.as_ref().map(Vec::len),
            "lease_timeout_seconds": self.lease_timeout.map(|d| d.as_secs()),
            "work": work,
        })
        .to_string()
    }

    /// The device the run trains on, as `Started.device` shows it (`cpu`, `cuda:0`).
    pub fn device_label(&self) -> String {
        let choice = match &self.work {
            Work::Pipeline { config, .. } => config.device,
            Work::Incremental { config, .. } => config.device,
            Work::Backtest(job) => job.config.recipe.device,
        };
        match choice.resolve() {
            Ok(tch::Device::Cpu) => "cpu".into(),
            Ok(tch::Device::Cuda(n)) => format!("cuda:{n}"),
            Ok(other) => format!("{other:?}"),
            Err(_) => choice.to_string(),
        }
    }

    /// Whether a candidate that loses the validation is still stored (incremental: always).
    pub fn keep_rejected(&self) -> bool {
        match &self.work {
            Work::Pipeline { keep_rejected, .. } => *keep_rejected,
            Work::Incremental { .. } => true,
            Work::Backtest(_) => false,
        }
    }
}

impl BacktestJob {
    /// The run executing this job.
    pub fn run_spec(self, requested_by: &str) -> RunSpec {
        RunSpec {
            symbol: self.symbol.clone(),
            years: self.config.recipe.years,
            mode: super::backtest::MODE.into(),
            requested_by: requested_by.into(),
            lease_timeout: None,
            inline_bars: self.inline_bars.clone(),
            work: Work::Backtest(Box::new(self)),
        }
    }
}
