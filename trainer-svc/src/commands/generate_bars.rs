//! `trainer-svc generate-bars`: prints a synthetic daily-bar CSV (Yahoo dialect) for demos,
//! benchmarks and the main job (the same generator the tests use, `common::data::synthetic`).
//!
//! `--end` makes the last bar fall on (or just before) that date, so a demo data set looks
//! recent; `--signal` is the strength of the planted predictable component (0 = pure noise).
use chrono::{Datelike, Days, NaiveDate, Weekday};
use clap::Args;
use common::data::csv::{write_csv, Dialect};
use common::data::synthetic::{generate, SyntheticConfig};
use common::{Error, Result};

/// `trainer-svc generate-bars [--days N] [--seed N] [--signal X] [--end YYYY-MM-DD]`.
#[derive(Debug, Clone, Args)]
pub struct GenerateBarsArgs {
    /// Number of trading days (weekday bars) to generate.
    #[arg(long, default_value_t = SyntheticConfig::default().days)]
    pub days: usize,
    /// RNG seed; same seed, same bars.
    #[arg(long, default_value_t = SyntheticConfig::default().seed)]
    pub seed: u64,
    /// Strength of the planted predictable component (0 = pure noise).
    #[arg(long, default_value_t = SyntheticConfig::default().signal)]
    pub signal: f64,
    /// Last date of the series (YYYY-MM-DD; a weekend moves back to Friday). Without it the
    /// series starts on the generator's fixed date, 2015-01-02.
    #[arg(long)]
    pub end: Option<NaiveDate>,
}

/// The first date from which `days` consecutive weekdays end on or before `end`.
pub fn start_for(end: NaiveDate, days: usize) -> NaiveDate {
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

/// Prints the CSV on stdout.
pub fn run(args: GenerateBarsArgs) -> Result<()> {
    if args.days == 0 {
        return Err(Error::invalid("--days must be at least 1"));
    }
    if !args.signal.is_finite() {
        return Err(Error::invalid(format!(
            "--signal must be a finite number, got {}",
            args.signal
        )));
    }
    let mut cfg = SyntheticConfig {
        days: args.days,
        seed: args.seed,
        signal: args.signal,
        ..SyntheticConfig::default()
    };
    if let Some(end) = args.end {
        cfg.start = start_for(end, cfg.days);
    }
    print!("{}", write_csv(&generate(&cfg), Dialect::Yahoo));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_for_counts_weekdays_back_from_the_end() {
        let friday = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let sunday = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        assert_eq!(start_for(friday, 1), friday);
        assert_eq!(start_for(sunday, 1), friday);
        // Five weekdays ending Friday start on Monday.
        assert_eq!(start_for(friday, 5), NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
        assert_eq!(start_for(friday, 6), NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
    }
}
