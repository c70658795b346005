//! Rolling-origin fold plan (darts' `historical_forecasts` with `retrain=True`, stride =
//! horizon): where each fold's origin lies, which days it tests, and the fold's training samples.
//!
//! Bars are indexed `0..n` in date order. The last test day `L` is the latest bar with a realised
//! 5-day outcome (`n − 6`), or the last bar on or before `end`. The `folds × horizon_days` test
//! days end at `L`; fold `k` (oldest first) tests bars `o_k + 1 ..= o_k + horizon_days`, and its
//! origin `o_k` is the last bar its model may see. Training uses the `(symbol, years)` key's
//! span `(date(o_k) − years, date(o_k)]` plus up to [`WARMUP_DAYS`] earlier bars as indicator
//! warm-up, exactly like a Train run with `end = date(o_k)`; cutting the series at the origin
//! drops every sample whose 5-day target reaches past it (purge), and normalisation, inner
//! validation, early stopping and the holdout all live inside that span.
use std::ops::Range;

use chrono::{Datelike, Months, NaiveDate, Weekday};

use crate::data::Bar;
use crate::features::{build_samples, FeatureConfig, Samples, FORECAST_DAYS, MIN_TRADING_DAYS, SEQ_LEN};
use crate::{Error, Result};

/// Bars of indicator warm-up loaded before a key's span when they exist (SPEC §3).
pub const WARMUP_DAYS: usize = 60;
/// Weekdays a key's span may start before the first bar and still count as covered (holidays,
/// a series that starts a few days into the span).
pub const COVERAGE_SLACK_DAYS: usize = 5;

/// One fold of the plan (bar indices into the whole series).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// 0-based, oldest first.
    pub index: usize,
    /// Last bar the fold's model is trained on.
    pub origin: usize,
    /// Bars forecast by the fold (each from bars up to that day only).
    pub test: Range<usize>,
    /// Exclusive start date of the key span: training windows end after it.
    pub span_start_excl: NaiveDate,
}

/// Training samples of a fold and the bar index each sample's window ends at.
#[derive(Debug, Clone)]
pub struct FoldTraining {
    /// Samples in date order (raw features).
    pub samples: Samples,
    /// Bar index (into the whole series) of each sample's last window day.
    pub end_index: Vec<usize>,
}

fn weekdays_between(from_excl: NaiveDate, to_excl: NaiveDate) -> usize {
    from_excl
        .iter_days()
        .skip(1)
        .take_while(|d| *d < to_excl)
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .count()
}

/// `date − years` (calendar months, clamped at the start of the calendar).
pub fn span_start(date: NaiveDate, years: u32) -> NaiveDate {
    date.checked_sub_months(Months::new(12 * years)).unwrap_or(NaiveDate::MIN)
}

/// Plans `folds` folds of `horizon` test days each, ending at `end` (or the latest bar with a
/// realised outcome). Errors: `folds` or `horizon` 0 → InvalidArgument; too little data →
/// FailedPrecondition naming how many trading days are missing and what to change.
pub fn plan(bars: &[Bar], folds: usize, horizon: usize, end: Option<NaiveDate>, years: u32) -> Result<Vec<Fold>> {
    if folds == 0 {
        return Err(Error::invalid("folds must be at least 1 (default 6)"));
    }
    if horizon == 0 {
        return Err(Error::invalid("horizon_days must be at least 1 (default 60)"));
    }
    if years == 0 {
        return Err(Error::invalid("years must be at least 1"));
    }
    let n = bars.len();
    if n <= FORECAST_DAYS {
        return Err(Error::FailedPrecondition(format!(
            "a backtest needs bars with a realised {FORECAST_DAYS}-day outcome; got only {n} bars"
        )));
    }
    let last_test = match end {
        None => n - 1 - FORECAST_DAYS,
        Some(e) => {
            let Some(l) = bars.iter().rposition(|b| b.date <= e) else {
                return Err(Error::FailedPrecondition(format!(
                    "end {e} is before the first bar ({}); pick a later end", bars[0].date
                )));
            };
            let after = n - 1 - l;
            if after < FORECAST_DAYS {
                return Err(Error::FailedPrecondition(format!(
                    "end {e}: the last test day {} has only {after} bars after it, a {FORECAST_DAYS}-day \
                     outcome needs {FORECAST_DAYS}; pick an end on or before {}",
                    bars[l].date,
                    bars[n - 1 - FORECAST_DAYS].date
                )));
            }
            l
        }
    };
    let test_days = folds * horizon;
    let short = |missing: usize, first_test: String| {
        Error::FailedPrecondition(format!(
            "horizon too long for the data: {folds} folds × {horizon} test days ending {} need {years}y of \
             training data before the first test day{first_test}, but the series starts {}: {missing} \
             trading days are missing; use fewer folds, a shorter horizon_days, fewer years or more history",
            bars[last_test].date, bars[0].date
        ))
    };
    if test_days > last_test {
        // Not even one bar of training before the first test day: count the whole span as missing.
        let missing = test_days - last_test + years as usize * 252;
        return Err(short(missing, String::new()));
    }
    let first_test = last_test + 1 - test_days;
    let first_origin = first_test - 1;
    let need_from = span_start(bars[first_origin].date, years);
    if bars[0].date > need_from {
        let missing = weekdays_between(need_from, bars[0].date);
        if missing > COVERAGE_SLACK_DAYS {
            return Err(short(missing, format!(" {}", bars[first_test].date)));
        }
    }
    Ok((0..folds)
        .map(|k| {
            let origin = first_origin + k * horizon;
            Fold {
                index: k,
                origin,
                test: origin + 1..origin + 1 + horizon,
                span_start_excl: span_start(bars[origin].date, years),
            }
        })
        .collect())
}

/// The samples a Train run with `end = date(origin)` would get: windows ending after the span
/// start, built from the span plus up to [`WARMUP_DAYS`] earlier bars, none reaching past the
/// origin.
pub fn training_samples(bars: &[Bar], fold: &Fold, cfg: &FeatureConfig) -> Result<FoldTraining> {
    let upto = &bars[..=fold.origin];
    let first_in_span = upto.iter().position(|b| b.date > fold.span_start_excl).unwrap_or(upto.len());
    let from = first_in_span.saturating_sub(WARMUP_DAYS);
    let slice = &upto[from..];
    let all = build_samples(slice, cfg)?;
    let keep: Vec<usize> = (0..all.len()).filter(|&i| all.end_dates[i] > fold.span_start_excl).collect();
    if keep.is_empty() {
        return Err(Error::InsufficientData { need: MIN_TRADING_DAYS, got: upto.len() - first_in_span });
    }
    let end_index = keep.iter().map(|&i| from + SEQ_LEN - 1 + i).collect();
    let samples = if keep.len() == all.len() { all } else { all.select(&keep) };
    Ok(FoldTraining { samples, end_index })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::{generate, SyntheticConfig};

    fn bars(days: usize) -> Vec<Bar> {
        generate(&SyntheticConfig { days, seed: 1, ..SyntheticConfig::default() })
    }

    #[test]
    fn folds_tile_the_test_span_up_to_the_last_realised_day() {
        let b = bars(700);
        let f = plan(&b, 3, 20, None, 1).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[2].test.end - 1, 700 - 6, "last test day has a 5-day outcome");
        assert_eq!(f[0].test.end, f[1].test.start);
        assert_eq!(f[1].origin + 1, f[1].test.start);
        let t = training_samples(&b, &f[0], &FeatureConfig::default()).unwrap();
        assert!(t.end_index.iter().all(|&i| i + FORECAST_DAYS <= f[0].origin), "purged");
        assert_eq!(*t.end_index.last().unwrap(), f[0].origin - FORECAST_DAYS);
        assert_eq!(t.samples.end_dates[0], b[t.end_index[0]].date);
        assert!(t.samples.end_dates[0] > f[0].span_start_excl);
    }

    #[test]
    fn bad_sizes_are_rejected_with_the_missing_days() {
        let b = bars(400);
        assert!(matches!(plan(&b, 0, 60, None, 1), Err(Error::InvalidArgument(_))));
        let e = plan(&b, 6, 60, None, 1).unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition(_)), "{e}");
        assert!(e.to_string().contains("trading days are missing"), "{e}");
        let e = plan(&b, 2, 60, Some(b[398].date), 1).unwrap_err();
        assert!(e.to_string().contains("only 1 bars after it"), "{e}");
    }
}
