//! The time of day after a bar's date: ISO 8601 (`HH:MM`, `HH:MM:SS`, fractional seconds) with an
//! optional `Z` or `±HH:MM` / `±HHMM` / `±HH` offset, as pandas and yfinance write date-times.
//!
//! The offset is read and checked but not applied: a daily bar's date is the exchange's local
//! calendar date as written (`2024-01-02 00:00:00-05:00` is the bar of 2 January, although it is
//! 05:00 UTC), so converting to UTC would move bars of exchanges east of Greenwich to the day
//! before.
use chrono::NaiveTime;

/// Parses the time part of a date-time (everything after the date and its `T` or space).
pub(super) fn parse_time_of_day(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    let clock = match s.strip_suffix(['Z', 'z']) {
        Some(clock) => clock,
        None => match s.rfind(['+', '-']) {
            Some(i) => {
                valid_offset(&s[i + 1..])?;
                &s[..i]
            }
            None => s,
        },
    };
    let clock = clock.trim();
    NaiveTime::parse_from_str(clock, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(clock, "%H:%M"))
        .ok()
}

/// `HH:MM`, `HHMM` or `HH` with hours ≤ 23 and minutes ≤ 59.
fn valid_offset(s: &str) -> Option<()> {
    let digits: String = match s.len() {
        5 if s.as_bytes()[2] == b':' => format!("{}{}", &s[..2], &s[3..]),
        4 | 2 => s.to_string(),
        _ => return None,
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: u32 = digits[..2].parse().ok()?;
    let minutes: u32 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
    (hours <= 23 && minutes <= 59).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_with_fractions_and_offsets() {
        let t = |s: &str| parse_time_of_day(s).map(|t| t.to_string());
        assert_eq!(t("16:00").as_deref(), Some("16:00:00"));
        assert_eq!(t("16:00:00").as_deref(), Some("16:00:00"));
        assert_eq!(t("00:00:00-05:00").as_deref(), Some("00:00:00"));
        assert_eq!(t("00:00:00+09:00").as_deref(), Some("00:00:00"));
        assert_eq!(t("09:30:00.250+0530").as_deref(), Some("09:30:00.250"));
        assert_eq!(t("21:00:00Z").as_deref(), Some("21:00:00"));
        assert_eq!(t("13:00:00.000000+08").as_deref(), Some("13:00:00"));
        for bad in ["25:00:00", "16:00:00+24:00", "16:00:00-5", "16:00:00+05:60", "noon", "16:00:00+ab:cd", ""] {
            assert_eq!(parse_time_of_day(bad), None, "{bad}");
        }
    }
}
