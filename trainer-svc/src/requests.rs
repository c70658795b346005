//! Domain requests built from the protocol messages. Every `TryFrom` destructures the whole
//! message, so a field added to the proto fails to compile here until it is handled.
use std::time::Duration;

use chrono::NaiveDate;
use common::config::{parse_optional_date, validate_symbol, validate_years};
pub use common::data::bars_from_pb;
use common::data::Bar;
use common::pb;
use common::training::search::SearchFields;
use common::training::{DeviceChoice, IncrementalConfig, ParamGrid, PipelineConfig, RegLossType, SearchConfig};
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

fn reg_loss(s: &str) -> Result<RegLossType> {
    if s.trim().is_empty() {
        Ok(RegLossType::Full)
    } else {
        s.parse()
    }
}

/// Empty axes take the defaults (fast or normal grid); all empty = no explicit grid.
fn param_grid(g: Option<pb::ParamGrid>, fast: bool) -> Result<Option<ParamGrid>> {
    let Some(pb::ParamGrid {
        lr,
        hidden_size,
        epochs,
        batch_size,
    }) = g
    else {
        return Ok(None);
    };
    if lr.is_empty() && hidden_size.is_empty() && epochs.is_empty() && batch_size.is_none() {
        return Ok(None);
    }
    let d = if fast {
        ParamGrid::fast()
    } else {
        ParamGrid::default()
    };
    let grid = ParamGrid {
        lr: if lr.is_empty() { d.lr } else { lr },
        hidden_size: if hidden_size.is_empty() {
            d.hidden_size
        } else {
            hidden_size.into_iter().map(i64::from).collect()
        },
        epochs: if epochs.is_empty() { d.epochs } else { epochs },
        batch_size: batch_size.map(|b| b as usize).unwrap_or(d.batch_size),
    };
    grid.validate()?;
    Ok(Some(grid))
}

fn device(s: &str) -> Result<DeviceChoice> {
    s.parse()
}

fn max_epochs(m: Option<u32>) -> Option<u32> {
    m.filter(|m| *m > 0)
}

fn lease_timeout(s: Option<u32>) -> Option<Duration> {
    s.map(|s| Duration::from_secs(u64::from(s)))
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
            search,
            n_trials,
            cv_metric,
            search_space,
            search_time_budget_seconds,
        } = r;
        let symbol = validate_symbol(&symbol)?;
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
        let fast = fast_training.unwrap_or(false);
        let d = PipelineConfig::default();
        let pipeline = PipelineConfig {
            symbol: symbol.clone(),
            years: years[0],
            do_cv_tune: do_cv_tune.unwrap_or(d.do_cv_tune),
            do_shap: do_shap.unwrap_or(d.do_shap),
            do_plot: do_plot.unwrap_or(d.do_plot),
            fast_training: fast,
            use_improved_training: use_improved_training.unwrap_or(d.use_improved_training),
            use_enhanced_model: use_enhanced_model.unwrap_or(d.use_enhanced_model),
            reg_loss_type: reg_loss(&reg_loss_type)?,
            param_grid: param_grid(grid, fast)?,
            do_post_training_validation: do_post_training_validation
                .unwrap_or(d.do_post_training_validation),
            seed,
            device: device(&dev)?,
            max_epochs: max_epochs(max_ep),
            cpu_threads: None,
            search: SearchConfig::try_from(SearchFields {
                search,
                n_trials,
                cv_metric,
                search_space,
                time_budget_seconds: search_time_budget_seconds,
            })?,
        };
        pipeline.validate()?;
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

/// Training of every (or the listed / sharded) symbol.
#[derive(Debug, Clone)]
pub struct TrainAllJob {
    /// Explicit symbols (validated); empty = every symbol with bars.
    pub symbols: Vec<String>,
    /// Model key years.
    pub years: u32,
    /// Explicit data range.
    pub range: DateRange,
    /// Pipeline template (symbol filled per symbol).
    pub pipeline: PipelineConfig,
    /// Symbols trained at once.
    pub concurrency: usize,
    /// `(index, count)` shard of the sorted universe.
    pub shard: (u32, u32),
}

impl TryFrom<pb::TrainAllRequest> for TrainAllJob {
    type Error = Error;
    fn try_from(r: pb::TrainAllRequest) -> Result<TrainAllJob> {
        let pb::TrainAllRequest {
            symbols,
            years,
            start,
            end,
            do_cv_tune,
            do_shap,
            do_plot,
            fast_training,
            use_improved_training,
            reg_loss_type,
            concurrency,
            shard_index,
            shard_count,
            seed,
            device: dev,
            max_epochs: max_ep,
        } = r;
        let symbols = symbols
            .iter()
            .map(|s| validate_symbol(s))
            .collect::<Result<Vec<_>>>()?;
        let years = validate_years(years)?;
        let range = DateRange::parse(&start, &end)?;
        let fast = fast_training.unwrap_or(true);
        let d = PipelineConfig::default();
        let pipeline = PipelineConfig {
            symbol: String::new(),
            years,
            do_cv_tune: do_cv_tune.unwrap_or(d.do_cv_tune),
            do_shap: do_shap.unwrap_or(d.do_shap),
            do_plot: do_plot.unwrap_or(d.do_plot),
            fast_training: fast,
            use_improved_training: use_improved_training.unwrap_or(d.use_improved_training),
            use_enhanced_model: d.use_enhanced_model,
            reg_loss_type: reg_loss(&reg_loss_type)?,
            param_grid: None,
            do_post_training_validation: d.do_post_training_validation,
            seed,
            device: device(&dev)?,
            max_epochs: max_epochs(max_ep),
            cpu_threads: None,
            search: SearchConfig::default(),
        };
        pipeline.validate()?;
        let concurrency = concurrency.unwrap_or(1);
        if !(1..=64).contains(&concurrency) {
            return Err(Error::invalid(format!(
                "concurrency must be between 1 and 64, got {concurrency}"
            )));
        }
        let shard_count = shard_count.max(1);
        if shard_index >= shard_count {
            return Err(Error::invalid(format!(
                "shard_index {shard_index} must be below shard_count {shard_count}"
            )));
        }
        Ok(TrainAllJob {
            symbols,
            years,
            range,
            pipeline,
            concurrency: concurrency as usize,
            shard: (shard_index, shard_count),
        })
    }
}

/// Keeps the symbols of shard `(index, count)` of the sorted, de-duplicated list.
pub fn shard_symbols(mut symbols: Vec<String>, (index, count): (u32, u32)) -> Vec<String> {
    symbols.sort();
    symbols.dedup();
    let count = count.max(1) as usize;
    symbols
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % count == index as usize)
        .map(|(_, s)| s)
        .collect()
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
}

impl TryFrom<pb::IngestBarsRequest> for IngestJob {
    type Error = Error;
    fn try_from(r: pb::IngestBarsRequest) -> Result<IngestJob> {
        let pb::IngestBarsRequest { symbol, bars, csv } = r;
        let symbol = validate_symbol(&symbol)?;
        let bars = match (bars.is_empty(), csv.trim().is_empty()) {
            (false, false) => {
                return Err(Error::invalid("send either bars or csv, not both"));
            }
            (true, true) => {
                return Err(Error::invalid(
                    "no bars: send bars, or csv with a header (Yahoo, akshare, tushare or \
                     date,open,high,low,close,volume)",
                ));
            }
            (false, true) => bars_from_pb(bars)?,
            (true, false) => common::data::parse_csv(&csv)?,
        };
        if bars.is_empty() {
            return Err(Error::invalid("the CSV has a header but no rows"));
        }
        Ok(IngestJob { symbol, bars })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_request_defaults_and_errors() {
        let job = TrainJob::try_from(pb::TrainRequest {
            symbol: "AAPL".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(job.years, vec![1]);
        assert!(job.keep_rejected && job.pipeline.use_improved_training);
        let all = TrainJob::try_from(pb::TrainRequest {
            symbol: "AAPL".into(),
            all_years: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(all.years, vec![1, 2, 3]);
        let e = TrainJob::try_from(pb::TrainRequest {
            symbol: "AAPL".into(),
            reg_loss_type: "l1".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("mse, huber, volatility, full"),
            "{e}"
        );
        let e = TrainJob::try_from(pb::TrainRequest {
            symbol: "AAPL".into(),
            start: "2024-05-01".into(),
            end: "2024-01-01".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("must be before end"), "{e}");
        let e = TrainJob::try_from(pb::TrainRequest {
            symbol: "AAPL".into(),
            param_grid: Some(pb::ParamGrid {
                lr: vec![2.0],
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("lr 2"), "{e}");
    }

    #[test]
    fn grid_fills_empty_axes_from_the_defaults() {
        let g = param_grid(
            Some(pb::ParamGrid {
                hidden_size: vec![16],
                ..Default::default()
            }),
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (g.lr, g.hidden_size, g.epochs, g.batch_size),
            (vec![5e-4], vec![16], vec![25], 32)
        );
        assert!(param_grid(Some(pb::ParamGrid::default()), false)
            .unwrap()
            .is_none());
    }

    #[test]
    fn shards_partition_the_sorted_universe() {
        let all: Vec<String> = ["D", "A", "C", "B", "E", "A"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(shard_symbols(all.clone(), (0, 2)), vec!["A", "C", "E"]);
        assert_eq!(shard_symbols(all.clone(), (1, 2)), vec!["B", "D"]);
        assert_eq!(shard_symbols(all, (0, 1)).len(), 5);
        let e = TrainAllJob::try_from(pb::TrainAllRequest {
            shard_index: 2,
            shard_count: 2,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("shard_index 2"), "{e}");
    }

    #[test]
    fn bad_bar_dates_name_the_row() {
        let e = bars_from_pb(vec![pb::Bar {
            date: "2024-02-30".into(),
            ..Default::default()
        }])
        .unwrap_err();
        assert!(
            e.to_string().contains("row 1 (2024-02-30), field date"),
            "{e}"
        );
    }
}
