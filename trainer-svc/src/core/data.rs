//! The `(symbol, years)` data rule (SPEC §3, training spec `input.data_range`): which bars a
//! run trains on.
//!
//! - The range is `(end − years, end]` (incremental: `(end − months, end]`), `end` = the last
//!   bar up to the request's `end` (or the last bar); an explicit `start` replaces the lower
//!   bound (inclusive).
//! - Up to [`WARMUP_DAYS`] bars before the range are loaded as indicator warm-up, when they
//!   exist.
//! - A sample belongs to the run when its window **ends** inside the range; its window and
//!   indicators may reach up to 59 days into the warm-up (deliberate: a 1-year model learns
//!   from every day of its year, and no day after `end` is ever read).
//! - "insufficient data … got N" counts the trading days the run's windows can span: the bars
//!   of the range plus up to 59 warm-up bars, so `N − 64` samples
//!   ([`common::features::days_for_samples`]) — the same N the pipeline and incremental
//!   training report for the same data.
use chrono::{Months, NaiveDate};
use common::data::Bar;
use common::features::{build_samples, FeatureConfig, Samples, MIN_TRADING_DAYS, SEQ_LEN};
use common::registry::Registry;
use common::{Error, Result};

use super::lifecycle::EventSink;
use super::spec::{RunSpec, Work};

/// Days of indicator warm-up loaded before a model's range when they exist (SPEC §3).
pub const WARMUP_DAYS: usize = 60;

/// The samples of a run and the range they come from.
#[derive(Debug)]
pub struct RunData {
    /// Windows ending inside the range, chronological.
    pub samples: Samples,
    /// The range.
    pub range: RunRange,
}

/// The range a run's samples come from.
#[derive(Debug, Clone, Copy)]
pub struct RunRange {
    /// First bar of the range.
    pub data_start: NaiveDate,
    /// Last bar of the range.
    pub data_end: NaiveDate,
    /// Bars inside the range.
    pub bars_in_range: usize,
}

/// Loads the bars of `spec` (inline or from the registry) and builds its samples, announcing
/// the `loading_data` and `features` stages.
pub async fn load(registry: &Registry, spec: &RunSpec, sink: &mut EventSink) -> Result<RunData> {
    let source = if spec.inline_bars.is_some() {
        "inline bars of the request"
    } else {
        "the registry"
    };
    sink.stage("loading_data", format!("bars of {} from {source}", spec.symbol))
        .await;
    let (range_start_excl, range_end) = match &spec.work {
        Work::Pipeline { range, .. } => {
            (range.start.map(|s| s.pred_opt().unwrap_or(s)), range.end)
        }
        Work::Incremental { .. } | Work::Backtest(_) => (None, None),
    };
    let bars = match &spec.inline_bars {
        Some(b) => b
            .iter()
            .copied()
            .filter(|b| range_end.is_none_or(|e| b.date <= e))
            .collect::<Vec<_>>(),
        None => registry.bars(&spec.symbol, None, range_end).await?,
    };
    let Some(last) = bars.last() else {
        return Err(Error::not_found(format!(
            "no bars for {}{}; ingest them first (IngestBars or `trainer-svc import`)",
            spec.symbol,
            range_end.map(|e| format!(" up to {e}")).unwrap_or_default()
        )));
    };
    let end = last.date;
    let months = match &spec.work {
        Work::Pipeline { .. } => 12 * spec.years,
        Work::Incremental { months, .. } => *months,
        Work::Backtest(job) => 12 * job.config.recipe.years,
    };
    let start_excl = range_start_excl
        .unwrap_or_else(|| end.checked_sub_months(Months::new(months)).unwrap_or(end));
    sink.stage("features", format!("{} bars up to {end}", bars.len()))
        .await;
    tokio::task::spawn_blocking(move || prepare(bars, start_excl))
        .await
        .map_err(|e| Error::internal(format!("feature thread failed: {e}")))?
}

/// Builds the samples of a run from chronological `bars`: windows ending after `start_excl`,
/// with up to [`WARMUP_DAYS`] earlier bars as indicator warm-up (the rule above).
pub fn prepare(bars: Vec<Bar>, start_excl: NaiveDate) -> Result<RunData> {
    let first_in_range = bars
        .iter()
        .position(|b| b.date > start_excl)
        .unwrap_or(bars.len());
    let in_range = bars.len() - first_in_range;
    // Days the windows can span: the range plus at most SEQ_LEN − 1 warm-up days.
    let days = in_range + first_in_range.min(SEQ_LEN - 1);
    if days < MIN_TRADING_DAYS || in_range == 0 {
        return Err(Error::InsufficientData {
            need: MIN_TRADING_DAYS,
            got: days,
        });
    }
    let bars = &bars[first_in_range.saturating_sub(WARMUP_DAYS)..];
    let samples = build_samples(bars, &FeatureConfig::default())?;
    let keep: Vec<usize> = (0..samples.len())
        .filter(|&i| samples.end_dates[i] > start_excl)
        .collect();
    if keep.is_empty() {
        return Err(Error::InsufficientData {
            need: MIN_TRADING_DAYS,
            got: days,
        });
    }
    let samples = if keep.len() == samples.len() {
        samples
    } else {
        samples.select(&keep)
    };
    Ok(RunData {
        samples,
        range: RunRange {
            data_start: bars[bars.len() - in_range].date,
            data_end: bars[bars.len() - 1].date,
            bars_in_range: in_range,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::features::days_for_samples;
    use common::training::{run_pipeline, PipelineConfig};
    use tokio_util::sync::CancellationToken;

    fn bars(n: usize) -> Vec<Bar> {
        common::data::generate(&common::data::SyntheticConfig {
            seed: 7,
            days: n,
            ..common::data::SyntheticConfig::default()
        })
    }

    #[test]
    fn windows_end_inside_the_range_and_reach_59_days_into_the_warm_up() {
        let all = bars(400);
        // A range of the last 200 bars, 200 earlier bars available.
        let start_excl = all[199].date;
        let data = prepare(all.clone(), start_excl).unwrap();
        assert_eq!(data.range.bars_in_range, 200);
        assert_eq!(data.range.data_start, all[200].date);
        assert_eq!(data.range.data_end, all[399].date);
        // Every window ends inside the range; the last 5 bars only serve as targets.
        assert_eq!(data.samples.len(), 200 - 5);
        assert_eq!(data.samples.end_dates[0], all[200].date);
        assert_eq!(*data.samples.end_dates.last().unwrap(), all[394].date);
        assert!(data.samples.end_dates.iter().all(|d| *d > start_excl));
        // The first window ends at the range start, so it covers bars 141..=200: 59 warm-up
        // days. It equals the window cut from the 60 warm-up bars plus the range (the same
        // indicator history), which is that series' second sample.
        let w = SEQ_LEN * common::features::N_FEATURES;
        let full = build_samples(&all[200 - WARMUP_DAYS..], &FeatureConfig::default()).unwrap();
        assert_eq!(full.end_dates[1], all[200].date);
        assert_eq!(&data.samples.x[..w], &full.x[w..2 * w]);
    }

    #[test]
    fn a_range_at_the_start_of_the_series_has_no_warm_up() {
        let all = bars(100);
        let data = prepare(all.clone(), all[0].date.pred_opt().unwrap()).unwrap();
        assert_eq!(data.range.bars_in_range, 100);
        assert_eq!(data.samples.len(), 100 - 64);
        assert_eq!(data.samples.end_dates[0], all[59].date);
    }

    /// The three insufficient-data paths (the data rule, the pipeline, incremental training)
    /// report the same "got N days" for the same data.
    #[test]
    fn insufficient_data_numbers_agree() {
        let all = bars(300);
        // 3 bars in range after 297 earlier bars: 3 + 59 = 62 days < 65.
        let e = prepare(all.clone(), all[296].date).unwrap_err();
        assert_eq!(e.to_string(), "insufficient data: need at least 65 trading days, got 62");
        // No warm-up, 40 bars.
        let e = prepare(all[..40].to_vec(), all[0].date.pred_opt().unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "insufficient data: need at least 65 trading days, got 40");
        // 30 bars in range after warm-up: the data rule accepts (25 samples), the pipeline
        // refuses and names the same 89 days.
        let data = prepare(all.clone(), all[269].date).unwrap();
        assert_eq!(data.samples.len(), 25);
        let days = data.range.bars_in_range + SEQ_LEN - 1;
        assert_eq!(days_for_samples(data.samples.len()), days);
        let cfg = PipelineConfig { max_epochs: Some(1), ..PipelineConfig::default() };
        let e = run_pipeline(&data.samples, &cfg, None, &mut |_| {}, &CancellationToken::new())
            .unwrap_err();
        assert!(e.to_string().ends_with(&format!("got {days}")), "{e}");
    }
}
