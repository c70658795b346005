//! Trading calendar: weekdays minus a configurable holiday list (SPEC §8).
//!
//! Used by the triggers (weekly / month-end / quarter-end) and by the predictor for the
//! `forecast_dates` of a forecast.
use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use crate::{Error, Result};

/// Weekdays minus holidays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TradingCalendar {
    holidays: BTreeSet<NaiveDate>,
}

impl TradingCalendar {
    /// A calendar whose trading days are all weekdays except `holidays`.
    pub fn new(holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        Self { holidays: holidays.into_iter().collect() }
    }

    /// Parses a comma/space/newline separated list of `YYYY-MM-DD` holidays (e.g. the
    /// `HOLIDAYS` setting). An empty string gives plain weekdays.
    pub fn parse(list: &str) -> Result<Self> {
        let mut holidays = BTreeSet::new();
        for token in list.split(|c: char| c == ',' || c.is_whitespace()).filter(|t| !t.is_empty()) {
            let day = NaiveDate::parse_from_str(token, "%Y-%m-%d").map_err(|_| {
                Error::invalid(format!(
                    "holiday list: `{}` is not a date; use YYYY-MM-DD separated by commas",
                    crate::text::clip(token)
                ))
            })?;
            holidays.insert(day);
        }
        Ok(Self { holidays })
    }

    /// The configured holidays, ascending.
    pub fn holidays(&self) -> impl Iterator<Item = &NaiveDate> {
        self.holidays.iter()
    }

    /// True on weekdays that are not holidays.
    pub fn is_trading_day(&self, day: NaiveDate) -> bool {
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&day)
    }

    /// The first trading day strictly after `day`.
    pub fn next_trading_day(&self, day: NaiveDate) -> NaiveDate {
        let mut d = day + Duration::days(1);
        while !self.is_trading_day(d) {
            d += Duration::days(1);
        }
        d
    }

    /// The `n` trading days strictly after `day`.
    pub fn next_trading_days(&self, day: NaiveDate, n: usize) -> Vec<NaiveDate> {
        let mut out = Vec::with_capacity(n);
        let mut d = day;
        for _ in 0..n {
            d = self.next_trading_day(d);
            out.push(d);
        }
        out
    }

    /// True when `day` is a trading day and no later trading day falls in the same month.
    pub fn is_last_trading_day_of_month(&self, day: NaiveDate) -> bool {
        self.is_trading_day(day) && self.next_trading_day(day).month() != day.month()
    }

    /// True on the last trading day of March, June, September and December.
    pub fn is_last_trading_day_of_quarter(&self, day: NaiveDate) -> bool {
        day.month() % 3 == 0 && self.is_last_trading_day_of_month(day)
    }

    /// True on Fridays that are trading days (the weekly trigger).
    pub fn is_weekly_trigger_day(&self, day: NaiveDate) -> bool {
        day.weekday() == Weekday::Fri && self.is_trading_day(day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn skips_weekends_and_holidays() {
        let cal = TradingCalendar::parse("2026-12-25, 2027-01-01").unwrap();
        // Thu 2026-12-24 -> Fri 25 is a holiday -> Mon 28, Tue 29, Wed 30, Thu 31, (Fri Jan 1 holiday) Mon Jan 4
        assert_eq!(
            cal.next_trading_days(d("2026-12-24"), 5),
            vec![d("2026-12-28"), d("2026-12-29"), d("2026-12-30"), d("2026-12-31"), d("2027-01-04")]
        );
    }

    #[test]
    fn month_and_quarter_ends_respect_holidays() {
        let plain = TradingCalendar::default();
        // 2026-10-31 is a Saturday: the last trading day of October is Friday the 30th.
        assert!(plain.is_last_trading_day_of_month(d("2026-10-30")));
        assert!(!plain.is_last_trading_day_of_quarter(d("2026-10-30")));
        assert!(plain.is_last_trading_day_of_quarter(d("2026-09-30")));
        let cal = TradingCalendar::parse("2026-12-31").unwrap();
        assert!(cal.is_last_trading_day_of_quarter(d("2026-12-30")));
        assert!(!cal.is_last_trading_day_of_month(d("2026-12-31")));
        assert!(cal.is_weekly_trigger_day(d("2026-11-20")));
        assert!(!cal.is_weekly_trigger_day(d("2026-11-19")));
    }

    #[test]
    fn rejects_a_bad_holiday() {
        let err = TradingCalendar::parse("2026-12-25,xmas").unwrap_err();
        assert!(err.to_string().contains("`xmas` is not a date"), "{err}");
    }
}
