//! Which dialect a header is, and where its columns are.
use chrono::{NaiveDate, NaiveTime};

use super::datetime::parse_time_of_day;
use crate::{Error, Result};

/// A CSV header convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Yahoo Finance download or yfinance export: `Date,Open,High,Low,Close[,Adj Close],Volume`.
    Yahoo,
    /// akshare (Chinese headers): `日期,开盘,收盘,最高,最低,成交量[,成交额,...]`.
    Akshare,
    /// tushare: `ts_code,trade_date,open,high,low,close,...,vol[,amount]`.
    Tushare,
    /// Plain lowercase English: `date,open,high,low,close,volume`.
    Plain,
}

pub(super) const ACCEPTED: &str = "accepted headers: Yahoo/yfinance `Date,Open,High,Low,Close,Adj Close,Volume`; \
akshare `日期,开盘,收盘,最高,最低,成交量`; tushare `ts_code,trade_date,open,high,low,close,vol`; \
plain `date,open,high,low,close,volume`; or those after an unnamed pandas index column \
(docs/trainer.md lists every form)";

/// Column names of one dialect: date, open, high, low, close, volume, amount (optional).
pub(super) struct Names {
    pub date: &'static str,
    pub open: &'static str,
    pub high: &'static str,
    pub low: &'static str,
    pub close: &'static str,
    pub volume: &'static str,
    pub amount: Option<&'static str>,
}

impl Dialect {
    pub(super) fn names(self) -> Names {
        match self {
            Dialect::Yahoo => Names {
                date: "Date",
                open: "Open",
                high: "High",
                low: "Low",
                close: "Close",
                volume: "Volume",
                amount: None,
            },
            Dialect::Akshare => Names {
                date: "日期",
                open: "开盘",
                high: "最高",
                low: "最低",
                close: "收盘",
                volume: "成交量",
                amount: Some("成交额"),
            },
            Dialect::Tushare => Names {
                date: "trade_date",
                open: "open",
                high: "high",
                low: "low",
                close: "close",
                volume: "vol",
                amount: Some("amount"),
            },
            Dialect::Plain => Names {
                date: "date",
                open: "open",
                high: "high",
                low: "low",
                close: "close",
                volume: "volume",
                amount: Some("amount"),
            },
        }
    }

    /// The date, and the time of day when one follows it (not in tushare's `YYYYMMDD`). The
    /// time may carry fractional seconds and a `Z` or `±HH:MM` offset; the date is the calendar
    /// date as written (the exchange's local date), never converted to UTC.
    pub(super) fn parse_date_time(self, s: &str) -> Option<(NaiveDate, Option<NaiveTime>)> {
        if self == Dialect::Tushare {
            return self.parse_date(s).map(|d| (d, None));
        }
        match s.split_once([' ', 'T']) {
            None => self.parse_date(s).map(|d| (d, None)),
            Some((day, time)) => {
                let t = parse_time_of_day(time)?;
                self.parse_date(day.trim()).map(|d| (d, Some(t)))
            }
        }
    }

    fn parse_date(self, s: &str) -> Option<NaiveDate> {
        match self {
            Dialect::Yahoo => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .or_else(|_| NaiveDate::parse_from_str(s, "%m/%d/%Y"))
                .ok(),
            Dialect::Akshare => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .or_else(|_| NaiveDate::parse_from_str(s, "%Y/%m/%d"))
                .ok(),
            Dialect::Tushare => {
                if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let (y, m, d) = (s[..4].parse().ok()?, s[4..6].parse().ok()?, s[6..].parse().ok()?);
                NaiveDate::from_ymd_opt(y, m, d)
            }
            Dialect::Plain => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
        }
    }

    pub(super) fn date_format(self) -> &'static str {
        match self {
            Dialect::Yahoo => {
                "YYYY-MM-DD or M/D/YYYY, optionally followed by a time HH:MM[:SS[.fff]][Z|±HH:MM]"
            }
            Dialect::Akshare | Dialect::Plain => {
                "YYYY-MM-DD, optionally followed by a time HH:MM[:SS[.fff]][Z|±HH:MM]"
            }
            Dialect::Tushare => "YYYYMMDD",
        }
    }
}

pub(super) fn clean(field: &str) -> &str {
    field.trim_start_matches('\u{feff}').trim()
}

/// Detects the dialect from a header row (BOM and whitespace around names tolerated) and checks
/// that every column it needs is present. A header without a date column whose first name is
/// empty (pandas' `to_csv` of a frame indexed by date) takes its dialect from the price columns
/// and its dates from that first column. Unknown header → InvalidArgument listing the accepted
/// dialects.
pub fn detect_dialect(header: &[String]) -> Result<Dialect> {
    detect(header).map(|(dialect, _)| dialect)
}

/// The dialect, and whether the dates are in an unnamed first column.
pub(super) fn detect(header: &[String]) -> Result<(Dialect, bool)> {
    let has = |name: &str| header.iter().any(|h| clean(h) == name);
    let unnamed_first = header.first().is_some_and(|h| clean(h).is_empty());
    let (dialect, index_dates) = if has("trade_date") && has("ts_code") {
        (Dialect::Tushare, false)
    } else if has("日期") {
        (Dialect::Akshare, false)
    } else if has("Date") {
        (Dialect::Yahoo, false)
    } else if has("date") {
        (Dialect::Plain, false)
    } else if unnamed_first && has("开盘") {
        (Dialect::Akshare, true)
    } else if unnamed_first && has("Open") {
        (Dialect::Yahoo, true)
    } else if unnamed_first && has("open") {
        (Dialect::Plain, true)
    } else {
        let shown: Vec<&str> = header.iter().map(|h| clean(h)).collect();
        return Err(Error::invalid(format!(
            "unrecognised CSV header `{}`; {ACCEPTED}",
            crate::text::clip(&shown.join(","))
        )));
    };
    let n = dialect.names();
    let date = (!index_dates).then_some(n.date);
    for need in date.into_iter().chain([n.open, n.high, n.low, n.close, n.volume]) {
        if !has(need) {
            return Err(Error::invalid(format!(
                "CSV header looks like the {dialect:?} dialect but has no `{need}` column; {ACCEPTED}"
            )));
        }
    }
    Ok((dialect, index_dates))
}

/// Column positions of the needed fields in one header.
pub(super) struct Columns {
    pub date: usize,
    /// How messages name the date column.
    pub date_name: &'static str,
    pub open: usize,
    pub high: usize,
    pub low: usize,
    pub close: usize,
    pub volume: usize,
    pub amount: Option<usize>,
    /// Header columns no field is read from, by name (`(unnamed)` for an empty name).
    pub ignored: Vec<String>,
}

pub(super) fn locate(header: &[String], n: &Names, index_dates: bool) -> Columns {
    let pos = |name: &str| header.iter().position(|h| clean(h) == name);
    // detect() has checked the required columns exist.
    let req = |name: &str| pos(name).unwrap_or(usize::MAX);
    let (date, date_name) = if index_dates { (0, "date (first column)") } else { (req(n.date), n.date) };
    let mut cols = Columns {
        date,
        date_name,
        open: req(n.open),
        high: req(n.high),
        low: req(n.low),
        close: req(n.close),
        volume: req(n.volume),
        amount: n.amount.and_then(pos),
        ignored: Vec::new(),
    };
    let used = [cols.date, cols.open, cols.high, cols.low, cols.close, cols.volume];
    cols.ignored = header
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i) && cols.amount != Some(*i))
        .map(|(_, h)| match clean(h) {
            "" => "(unnamed)".to_string(),
            name => crate::text::clip(name),
        })
        .collect();
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> Vec<String> {
        s.split(',').map(str::to_string).collect()
    }

    #[test]
    fn detects_each_dialect() {
        assert_eq!(detect_dialect(&header("Date,Open,High,Low,Close,Adj Close,Volume")).unwrap(), Dialect::Yahoo);
        assert_eq!(
            detect_dialect(&header("\u{feff}日期,开盘,收盘,最高,最低,成交量,成交额,振幅")).unwrap(),
            Dialect::Akshare
        );
        assert_eq!(
            detect_dialect(&header("ts_code,trade_date,open,high,low,close,pre_close,change,pct_chg,vol,amount"))
                .unwrap(),
            Dialect::Tushare
        );
        assert_eq!(detect_dialect(&header(" date , open,high,low,close,volume")).unwrap(), Dialect::Plain);
        // pandas' to_csv of a frame indexed by date: the index column has no name.
        assert_eq!(detect(&header(",Open,High,Low,Close,Volume")).unwrap(), (Dialect::Yahoo, true));
        assert_eq!(detect(&header(",open,high,low,close,volume")).unwrap(), (Dialect::Plain, true));
        // A named (integer) index before the date column.
        assert_eq!(detect(&header(",Date,Open,High,Low,Close,Volume")).unwrap(), (Dialect::Yahoo, false));
    }

    #[test]
    fn unknown_or_incomplete_headers_name_the_accepted_dialects() {
        let e = detect_dialect(&header("time,o,h,l,c,v")).unwrap_err().to_string();
        assert!(e.contains("unrecognised CSV header `time,o,h,l,c,v`") && e.contains("akshare"), "{e}");
        let e = detect_dialect(&header("date,open,high,low,close")).unwrap_err().to_string();
        assert!(e.contains("no `volume` column"), "{e}");
        // An unnamed first column is not enough without price columns.
        assert!(detect_dialect(&header(",a,b")).is_err());
    }

    #[test]
    fn unused_columns_are_listed() {
        let h = header("Date,Open,High,Low,Close,Volume,Dividends,Stock Splits");
        let (d, idx) = detect(&h).unwrap();
        assert_eq!(locate(&h, &d.names(), idx).ignored, ["Dividends", "Stock Splits"]);
        let h = header(",Date,Open,High,Low,Close,Adj Close,Volume");
        let (d, idx) = detect(&h).unwrap();
        assert_eq!(locate(&h, &d.names(), idx).ignored, ["(unnamed)", "Adj Close"]);
    }
}
