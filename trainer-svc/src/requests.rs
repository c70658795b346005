//! Domain requests built from the protocol messages. Every `TryFrom` destructures the whole
//! message, so a field added to the proto fails to compile here until it is handled.
use std::time::Duration;

use chrono::NaiveDate;
use common::config::{parse_optional_date, validate_symbol, validate_years};
pub use common::data::bars_from_pb;
use common::data::{read_csv, read_pb_bars, BadRow, Bar, OnBadRows};
use common::pb;
use common::training::search::SearchFields;
use common::training::{DeviceChoice, IncrementalConfig, PipelineConfig};
use common::triggers::TriggerKind;
use common::{Error, Result};

/// Months of recent data incremental training uses by default (SPEC §6).
pub const DEFAULT_INCREMENTAL_MONTHS: u32 = 6;

/// Explicit data range of a request; `None` = derived from `years` and the latest bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    /// First day (inclusive).
    pub start: Option<NaiveDate>,
    /// Last day (inclusive).
    pub end: Option<NaiveDate>,
}

impl DateRange {
    /// Parses `start` / `end` (`YYYY-MM-DD`, empty = absent) and checks their order.
    pub fn parse(start: &str, end: &str) -> Result<DateRange> {
        let r = DateRange {
            start: parse_optional_date("start", start)?,
            end: parse_optional_date("end", end)?,
        };
        if let (Some(s), Some(e)) = (r.start, r.end) {
            if s >= e {
                return Err(Error::invalid(format!("start {s} must be before end {e}")));
            }
        }
        Ok(r)
    }
}

/// A full-pipeline training request: one or several model keys of one symbol.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// Validated ticker.
    pub symbol: String,
    /// Model keys to train in turn (`[years]`, or `[1, 2, 3]` with `all_years`).
    pub years: Vec<u32>,
    /// Explicit data range.
    pub range: DateRange,
    /// Pipeline options (symbol/years are filled per key).
    pub pipeline: PipelineConfig,
    /// Inline bars used instead of the registry's (validated, sorted).
    pub inline_bars: Option<Vec<Bar>>,
    /// How long to wait for the symbol's lease; `None` = server default.
    pub lease_timeout: Option<Duration>,
    /// Keep a candidate that loses the validation as a non-current version.
    pub keep_rejected: bool,
    /// Pooled model: the other member symbols (validated, sorted, without `symbol`); empty =
    /// a single-symbol model.
    pub pool: Vec<String>,
}

/// The other members of a pool request: each validated, `symbol` and repeats dropped, sorted.
/// A pool of `symbol` alone is a single-symbol model, which a symbol embedding is refused for.
pub fn pool_members(symbol: &str, pool_symbols: &[String], symbol_embedding_dim: Option<u32>) -> Result<Vec<String>> {
    let max = common::training::pipeline::MAX_POOL_MEMBERS;
    if pool_symbols.len() > max {
        return Err(Error::invalid(format!("pool_symbols may list at most {max} symbols, got {}", pool_symbols.len())));
    }
    let mut others = std::collections::BTreeSet::new();
    for s in pool_symbols {
        let s = validate_symbol(s).map_err(|e| Error::invalid(format!("pool_symbols: {e}")))?;
        if s != symbol {
            others.insert(s);
        }
    }
    if others.is_empty() && symbol_embedding_dim.unwrap_or(0) > 0 {
        return Err(Error::invalid("symbol_embedding_dim needs pool_symbols: a single-symbol model has no symbol to embed"));
    }
    Ok(others.into_iter().collect())
}

/// The domain bar as a protocol bar.
pub fn bar_to_pb(b: &Bar) -> pb::Bar {
    pb::Bar {
        date: b.date.format("%Y-%m-%d").to_string(),
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
        amount: b.amount,
    }
}


impl TryFrom<pb::TrainRequest> for TrainJob {
    type Error = Error;
    fn try_from(r: pb::TrainRequest) -> Result<TrainJob> {
        let pb::TrainRequest {
            symbol,
            all_years,
            years,
            start,
            end,
            do_cv_tune,
            do_shap,
            do_plot,
            fast_training,
            use_improved_training,
            use_enhanced_model,
            reg_loss_type,
            param_grid: grid,
            do_post_training_validation,
            seed,
            device: dev,
            bars,
            max_epochs: max_ep,
            lease_timeout_seconds,
            keep_rejected,
            calibration,
            require_beats_baseline,
            target_precision,
            search,
            n_trials,
            cv_metric,
            search_space,
            search_time_budget_seconds,
            pool_symbols,
            symbol_embedding_dim,
        } = r;
        let symbol = validate_symbol(&symbol)?;
        let pool = pool_members(&symbol, &pool_symbols, symbol_embedding_dim)?;
        if !pool.is_empty() && !bars.is_empty() {
            return Err(Error::invalid(
                "inline bars are one symbol's: a pooled run trains on the registry's bars of every member (import them first)",
            ));
        }
        let years = if all_years {
            if years.is_some() {
                return Err(Error::invalid(
                    "all_years trains the 1-, 2- and 3-year models: leave years unset",
                ));
            }
            vec![1, 2, 3]
        } else {
            vec![validate_years(years)?]
        };
        let range = DateRange::parse(&start, &end)?;
        let pipeline = pipeline_config(
            &symbol,
            years[0],
            RecipeFields {
                do_cv_tune,
                do_shap,
                do_plot,
                fast_training: fast_training.unwrap_or(false),
                use_improved_training,
                use_enhanced_model,
                reg_loss_type,
                param_grid: grid,
                do_post_training_validation,
                seed,
                device: dev,
                max_epochs: max_ep,
                calibration,
                require_beats_baseline,
                target_precision,
                search: SearchFields {
                    search,
                    n_trials,
                    cv_metric,
                    search_space,
                    time_budget_seconds: search_time_budget_seconds,
                },
                symbol_embedding_dim,
            },
        )?;
        let inline_bars = if bars.is_empty() {
            None
        } else {
            Some(bars_from_pb(bars)?)
        };
        Ok(TrainJob {
            symbol,
            years,
            range,
            pipeline,
            inline_bars,
            lease_timeout: lease_timeout(lease_timeout_seconds),
            keep_rejected: keep_rejected.unwrap_or(true),
            pool,
        })
    }
}

/// Incremental fine-tuning of the current model of one key.
#[derive(Debug, Clone)]
pub struct IncrementalJob {
    /// Validated ticker.
    pub symbol: String,
    /// Model key years.
    pub years: u32,
    /// Months of recent data.
    pub months: u32,
    /// Fine-tuning options.
    pub config: IncrementalConfig,
    /// Inline bars used instead of the registry's.
    pub inline_bars: Option<Vec<Bar>>,
    /// Lease wait; `None` = server default.
    pub lease_timeout: Option<Duration>,
}

impl TryFrom<pb::IncrementalTrainRequest> for IncrementalJob {
    type Error = Error;
    fn try_from(r: pb::IncrementalTrainRequest) -> Result<IncrementalJob> {
        let pb::IncrementalTrainRequest {
            symbol,
            years,
            months,
            epochs,
            lr,
            seed,
            device: dev,
            bars,
            lease_timeout_seconds,
        } = r;
        let symbol = validate_symbol(&symbol)?;
        let years = validate_years(years)?;
        let months = months.unwrap_or(DEFAULT_INCREMENTAL_MONTHS);
        if !(1..=120).contains(&months) {
            return Err(Error::invalid(format!(
                "months must be between 1 and 120, got {months}"
            )));
        }
        let d = IncrementalConfig::default();
        let config = IncrementalConfig {
            epochs: epochs.unwrap_or(d.epochs),
            lr: lr.unwrap_or(d.lr),
            batch_size: d.batch_size,
            seed,
            device: device(&dev)?,
        };
        config.validate()?;
        let inline_bars = if bars.is_empty() {
            None
        } else {
            Some(bars_from_pb(bars)?)
        };
        Ok(IncrementalJob {
            symbol,
            years,
            months,
            config,
            inline_bars,
            lease_timeout: lease_timeout(lease_timeout_seconds),
        })
    }
}


/// A triggered training request.
#[derive(Debug, Clone)]
pub struct TriggeredJob {
    /// Validated ticker.
    pub symbol: String,
    /// Day the triggers are evaluated for.
    pub as_of: NaiveDate,
    /// Forced trigger; `None` = the one CheckTriggers selects.
    pub trigger: Option<TriggerKind>,
    /// Model key years.
    pub years: u32,
    /// Seed for repeatable runs.
    pub seed: Option<u64>,
    /// Training device.
    pub device: DeviceChoice,
    /// Fast CV grid.
    pub fast_training: bool,
    /// Epoch cap of every stage.
    pub max_epochs: Option<u32>,
}

/// `as_of` of a request: the given date, or today (UTC).
pub fn as_of_or_today(value: &str) -> Result<NaiveDate> {
    Ok(parse_optional_date("as_of", value)?.unwrap_or_else(|| chrono::Utc::now().date_naive()))
}

impl TryFrom<pb::RunTriggeredTrainingRequest> for TriggeredJob {
    type Error = Error;
    fn try_from(r: pb::RunTriggeredTrainingRequest) -> Result<TriggeredJob> {
        let pb::RunTriggeredTrainingRequest {
            symbol,
            as_of,
            trigger_type,
            years,
            seed,
            device: dev,
            fast_training,
            max_epochs: max_ep,
        } = r;
        let trigger = if trigger_type.trim().is_empty() {
            None
        } else {
            Some(trigger_type.parse()?)
        };
        Ok(TriggeredJob {
            symbol: validate_symbol(&symbol)?,
            as_of: as_of_or_today(&as_of)?,
            trigger,
            years: validate_years(years)?,
            seed,
            device: device(&dev)?,
            fast_training: fast_training.unwrap_or(false),
            max_epochs: max_epochs(max_ep),
        })
    }
}

/// Bars to ingest: either explicit bars or a CSV document.
#[derive(Debug, Clone)]
pub struct IngestJob {
    /// Validated ticker.
    pub symbol: String,
    /// Validated, sorted bars.
    pub bars: Vec<Bar>,
    /// Dates of the calendar-fill rows dropped (empty with `keep_repeated_bars`).
    pub dropped_repeats: Vec<NaiveDate>,
    /// CSV columns that were not read.
    pub ignored_columns: Vec<String>,
    /// Rows dropped as bad (`on_bad_rows = skip`), all of them.
    pub bad_rows: Vec<BadRow>,
}

impl TryFrom<pb::IngestBarsRequest> for IngestJob {
    type Error = Error;
    fn try_from(r: pb::IngestBarsRequest) -> Result<IngestJob> {
        let pb::IngestBarsRequest { symbol, bars, csv, keep_repeated_bars, on_bad_rows } = r;
        let symbol = validate_symbol(&symbol)?;
        let on_bad_rows = OnBadRows::parse(&on_bad_rows)?;
        let (mut bars, ignored_columns, bad_rows) = match (bars.is_empty(), csv.trim().is_empty()) {
            (false, false) => {
                return Err(Error::invalid("send either bars or csv, not both"));
            }
            (true, true) => {
                return Err(Error::invalid(
                    "no bars: send bars, or csv with a header (Yahoo, akshare, tushare or \
                     date,open,high,low,close,volume)",
                ));
            }
            (false, true) => {
                let (bars, bad) = read_pb_bars(bars, on_bad_rows)?;
                (bars, Vec::new(), bad)
            }
            (true, false) => {
                let import = read_csv(&csv, on_bad_rows)?;
                (import.bars, import.ignored_columns, import.bad_rows)
            }
        };
        let dropped_repeats = if keep_repeated_bars.unwrap_or(false) {
            Vec::new()
        } else {
            common::data::drop_repeated_bars(&mut bars)
        };
        Ok(IngestJob { symbol, bars, dropped_repeats, ignored_columns, bad_rows })
    }
}

mod backtest;
mod recipe;
mod train_all;

use recipe::{device, lease_timeout, max_epochs, pipeline_config, RecipeFields};
pub use backtest::{BacktestJob, BACKTEST_MODE};
pub use train_all::{shard_symbols, TrainAllJob};

#[cfg(test)]
mod tests;
