//! Prints a synthetic daily-bar CSV (Yahoo dialect) for demos and benchmarks.
//!
//! `cargo run -p common --example generate_bars -- [--days N] [--seed N] [--signal X] [--end YYYY-MM-DD]`
//!
//! `--end` makes the last bar fall on (or just before) that date, so a demo data set looks recent;
//! `--signal` is the strength of the planted predictable component (0 = pure noise).
use chrono::{Datelike, Days, NaiveDate, Weekday};
use common::data::csv::{write_csv, Dialect};
use common::data::synthetic::{generate, SyntheticConfig};

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: cannot parse `{v}`")))
}

/// The first date from which `days` consecutive weekdays end on or before `end`.
fn start_for(end: NaiveDate, days: usize) -> NaiveDate {
    let mut d = end;
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d = d - Days::new(1);
    }
    let mut left = days.saturating_sub(1);
    while left > 0 {
        d = d - Days::new(1);
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    d
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut cfg = SyntheticConfig::default();
    if let Some(days) = arg(&args, "--days") {
        cfg.days = days;
    }
    if let Some(seed) = arg(&args, "--seed") {
        cfg.seed = seed;
    }
    if let Some(signal) = arg(&args, "--signal") {
        cfg.signal = signal;
    }
    if let Some(end) = arg::<NaiveDate>(&args, "--end") {
        cfg.start = start_for(end, cfg.days);
    }
    print!("{}", write_csv(&generate(&cfg), Dialect::Yahoo));
}
