//! Retraining triggers (SPEC §8, seed 000 §7).
//!
//! - **weekly**: `as_of` is a Friday that is a trading day → incremental fine-tuning on recent data;
//! - **monthly**: `as_of` is the last trading day of its month → full pipeline;
//! - **quarterly**: the last trading day of March, June, September or December → full pipeline;
//! - **performance_decay**: the mean absolute error of the last [`DECAY_WINDOW`] resolved
//!   predictions exceeds [`DECAY_RATIO`] × the mean over all resolved predictions → full pipeline.
//!
//! One trigger runs at a time, chosen by priority monthly > quarterly > performance_decay > weekly.
//! The decision is pure ([`evaluate_triggers`]); [`check_triggers`] only fetches the errors.
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::calendar::TradingCalendar;
use crate::registry::Registry;
use crate::{Error, Result};

/// Resolved predictions in the "recent" window of the decay trigger.
pub const DECAY_WINDOW: usize = 20;
/// Recent mean error / historical mean error above which the model is considered decayed.
pub const DECAY_RATIO: f64 = 1.5;
/// Months of recent data the weekly (incremental) trigger trains on.
pub const WEEKLY_MONTHS: u32 = 6;

/// One kind of retraining trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// Fridays: incremental fine-tuning on the last [`WEEKLY_MONTHS`] months.
    Weekly,
    /// Last trading day of a month: full pipeline.
    Monthly,
    /// Last trading day of a quarter: full pipeline.
    Quarterly,
    /// Recent prediction errors well above the historical mean: full pipeline.
    PerformanceDecay,
    /// The serving version's scored forecasts are worse than its base rate (SPEC §14.2): full
    /// pipeline.
    LiveQuality,
}

impl TriggerKind {
    /// The API spelling (`weekly`, `monthly`, `quarterly`, `performance_decay`).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Weekly => "weekly",
            TriggerKind::Monthly => "monthly",
            TriggerKind::Quarterly => "quarterly",
            TriggerKind::PerformanceDecay => "performance_decay",
            TriggerKind::LiveQuality => "live_quality",
        }
    }

    /// Whether this trigger runs the full pipeline (CV + validation + importance + plots) rather
    /// than incremental fine-tuning.
    pub fn is_full_training(self) -> bool {
        !matches!(self, TriggerKind::Weekly)
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TriggerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "weekly" => Ok(TriggerKind::Weekly),
            "monthly" => Ok(TriggerKind::Monthly),
            "quarterly" => Ok(TriggerKind::Quarterly),
            "performance_decay" => Ok(TriggerKind::PerformanceDecay),
            "live_quality" => Ok(TriggerKind::LiveQuality),
            _ => Err(Error::invalid(format!(
                "trigger_type {:?} is not supported; use weekly, monthly, quarterly, \
                 performance_decay or live_quality (or leave it empty to use the one CheckTriggers \
                 selects)",
                crate::text::clip(s)
            ))),
        }
    }
}

/// What [`check_triggers`] found for one symbol on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerReport {
    /// The day checked.
    pub as_of: NaiveDate,
    /// `as_of` is a Friday trading day.
    pub weekly: bool,
    /// `as_of` is the last trading day of its month.
    pub monthly: bool,
    /// `as_of` is the last trading day of a quarter.
    pub quarterly: bool,
    /// Recent errors exceed [`DECAY_RATIO`] × the historical mean.
    pub performance_decay: bool,
    /// Mean absolute error of the last [`DECAY_WINDOW`] resolved predictions (0 when none).
    pub recent_avg: f64,
    /// Mean absolute error of all resolved predictions (0 when none).
    pub historical_avg: f64,
    /// Resolved predictions the averages are computed over.
    pub resolved: usize,
    /// The serving version's live quality is worse than its base rate ([`LiveRule`]).
    pub live_quality: bool,
    /// What the live check saw (`None` when no serving version has served anything).
    pub live: Option<LiveCheck>,
    /// The trigger that runs, by priority monthly > quarterly > performance_decay >
    /// live_quality > weekly.
    pub selected: Option<TriggerKind>,
}

/// When the `live_quality` trigger fires: at least `min_scored` scored days in the window and a
/// `brier_skill` below `min_skill` (SPEC §14.2: 20 and 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LiveRule {
    /// Scored days needed before the trigger may fire.
    pub min_scored: usize,
    /// The trigger fires below this `brier_skill`.
    pub min_skill: f64,
}

impl Default for LiveRule {
    fn default() -> Self {
        LiveRule { min_scored: crate::live::TRIGGER_MIN_SCORED, min_skill: 0.0 }
    }
}

/// The live check of one serving version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveCheck {
    /// Whether it fires.
    pub fires: bool,
    /// The version's live `brier_skill`.
    pub brier_skill: Option<f64>,
    /// Its scored days in the window.
    pub n_scored: usize,
    /// The decision in words, with the numbers.
    pub reason: String,
}

impl LiveCheck {
    /// The check of `live` under `rule`.
    pub fn of(live: &crate::live::LiveQuality, rule: &LiveRule) -> LiveCheck {
        let (fires, reason) = crate::live::live_quality_trigger(live, rule.min_scored, rule.min_skill);
        LiveCheck { fires, brier_skill: live.brier_skill, n_scored: live.n_scored, reason }
    }
}

/// Mean absolute errors `(recent, historical)` and whether they show decay.
///
/// `errors` are the absolute errors of resolved predictions, oldest first. Decay needs at least
/// [`DECAY_WINDOW`] of them, a positive historical mean, and `recent > DECAY_RATIO × historical`.
pub fn performance_decay(errors: &[f64]) -> (bool, f64, f64) {
    let finite: Vec<f64> = errors
        .iter()
        .copied()
        .filter(|e| e.is_finite())
        .map(f64::abs)
        .collect();
    if finite.is_empty() {
        return (false, 0.0, 0.0);
    }
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let historical = mean(&finite);
    let recent = mean(&finite[finite.len().saturating_sub(DECAY_WINDOW)..]);
    let decayed =
        finite.len() >= DECAY_WINDOW && historical > 0.0 && recent > DECAY_RATIO * historical;
    (decayed, recent, historical)
}

/// The pure trigger decision for `as_of` given the resolved prediction errors (oldest first) and
/// the live check of the serving version, when there is one.
pub fn evaluate_triggers(
    calendar: &TradingCalendar,
    as_of: NaiveDate,
    errors: &[f64],
    live: Option<LiveCheck>,
) -> TriggerReport {
    let weekly = calendar.is_weekly_trigger_day(as_of);
    let monthly = calendar.is_last_trading_day_of_month(as_of);
    let quarterly = calendar.is_last_trading_day_of_quarter(as_of);
    let (decay, recent_avg, historical_avg) = performance_decay(errors);
    let live_quality = live.as_ref().is_some_and(|l| l.fires);
    let selected = if monthly {
        Some(TriggerKind::Monthly)
    } else if quarterly {
        Some(TriggerKind::Quarterly)
    } else if decay {
        Some(TriggerKind::PerformanceDecay)
    } else if live_quality {
        Some(TriggerKind::LiveQuality)
    } else if weekly {
        Some(TriggerKind::Weekly)
    } else {
        None
    };
    TriggerReport {
        as_of,
        weekly,
        monthly,
        quarterly,
        performance_decay: decay,
        recent_avg,
        historical_avg,
        resolved: errors.len(),
        live_quality,
        live,
        selected,
    }
}

/// Checks the triggers of `(symbol, years)` on `as_of` (SPEC §8, §14.2): reads the resolved
/// prediction errors from the registry (of that `years` when given, else of every model of the
/// symbol), scores the live quality of the current version (of every current version of the
/// symbol without `years`; one that fires wins, else the one with most scored days) and applies
/// [`evaluate_triggers`]. Does not train.
pub async fn check_triggers(
    registry: &Registry,
    calendar: &TradingCalendar,
    symbol: &str,
    as_of: NaiveDate,
    years: Option<u32>,
    rule: &LiveRule,
) -> Result<TriggerReport> {
    let errors = registry.resolved_errors(symbol, years).await?;
    let current: Vec<(u32, String)> = match years {
        Some(y) => registry.current_version(symbol, y).await?.map(|v| (y, v.version_id)).into_iter().collect(),
        None => registry
            .list_versions(Some(symbol), None)
            .await?
            .into_iter()
            .filter(|v| v.is_current)
            .map(|v| (v.years, v.version_id))
            .collect(),
    };
    let mut live: Option<LiveCheck> = None;
    for (y, version) in current {
        let window = crate::live::DEFAULT_WINDOW_DAYS;
        let gamma = crate::calibration::adaptive::DEFAULT_GAMMA;
        let scored = crate::live::live_quality(registry, symbol, y, window, Some(&version), gamma).await?;
        let Some(q) = scored.first() else { continue };
        let check = LiveCheck::of(q, rule);
        let better = match &live {
            None => true,
            Some(kept) => (check.fires && !kept.fires) || (check.fires == kept.fires && check.n_scored > kept.n_scored),
        };
        if better {
            live = Some(check);
        }
    }
    Ok(evaluate_triggers(calendar, as_of, &errors, live))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn friday_is_weekly_only() {
        let r = evaluate_triggers(&TradingCalendar::default(), d("2026-11-20"), &[], None);
        assert!(r.weekly && !r.monthly && !r.quarterly && !r.performance_decay);
        assert_eq!(r.selected, Some(TriggerKind::Weekly));
        let r = evaluate_triggers(&TradingCalendar::default(), d("2026-11-19"), &[], None);
        assert_eq!(r.selected, None);
    }

    #[test]
    fn month_end_friday_prefers_monthly_and_quarter_end_is_both() {
        // Friday 2026-10-30 is the last trading day of October.
        let r = evaluate_triggers(&TradingCalendar::default(), d("2026-10-30"), &[], None);
        assert!(r.weekly && r.monthly && !r.quarterly);
        assert_eq!(r.selected, Some(TriggerKind::Monthly));
        // Wednesday 2026-09-30: month and quarter end; monthly has priority.
        let r = evaluate_triggers(&TradingCalendar::default(), d("2026-09-30"), &[], None);
        assert!(r.monthly && r.quarterly && !r.weekly);
        assert_eq!(r.selected, Some(TriggerKind::Monthly));
    }

    #[test]
    fn holidays_move_month_end_and_cancel_the_weekly_trigger() {
        let cal = TradingCalendar::parse("2026-12-31, 2026-11-20").unwrap();
        assert!(evaluate_triggers(&cal, d("2026-12-30"), &[], None).quarterly);
        let r = evaluate_triggers(&cal, d("2026-12-31"), &[], None);
        assert!(!r.monthly && !r.quarterly && r.selected.is_none());
        // Friday 2026-11-20 is a holiday: no weekly trigger.
        assert_eq!(evaluate_triggers(&cal, d("2026-11-20"), &[], None).selected, None);
    }

    #[test]
    fn decay_needs_twenty_resolved_and_one_and_a_half_times_the_mean() {
        // 19 errors, all large at the end: not enough history.
        let few: Vec<f64> = (0..19).map(|i| if i > 10 { 0.1 } else { 0.01 }).collect();
        assert!(!performance_decay(&few).0);
        // 80 small errors then 20 large: recent 0.05 vs historical (80*0.01+20*0.05)/100 = 0.018.
        let mut errs = vec![0.01; 80];
        errs.extend(vec![0.05; 20]);
        let (decay, recent, hist) = performance_decay(&errs);
        assert!(decay);
        assert!((recent - 0.05).abs() < 1e-12);
        assert!((hist - 0.018).abs() < 1e-12);
        // Steady errors: no decay.
        let (decay, recent, hist) = performance_decay(&vec![0.02; 50]);
        assert!(!decay);
        assert!((recent - hist).abs() < 1e-12);
        // Exactly 1.5x is not "greater than".
        let mut edge = vec![0.0; 20];
        edge.extend(vec![1.0; 20]);
        let (decay, recent, hist) = performance_decay(&edge);
        assert!((recent - 1.0).abs() < 1e-12 && (hist - 0.5).abs() < 1e-12);
        assert!(decay, "1.0 > 1.5 * 0.5 = 0.75");
        assert!(!performance_decay(&[]).0);
    }

    #[test]
    fn decay_outranks_weekly_but_not_monthly() {
        let mut errs = vec![0.01; 80];
        errs.extend(vec![0.05; 20]);
        let cal = TradingCalendar::default();
        let r = evaluate_triggers(&cal, d("2026-11-20"), &errs, None);
        assert!(r.weekly && r.performance_decay);
        assert_eq!(r.selected, Some(TriggerKind::PerformanceDecay));
        assert_eq!(
            evaluate_triggers(&cal, d("2026-11-30"), &errs, None).selected,
            Some(TriggerKind::Monthly)
        );
        assert_eq!(r.resolved, 100);
    }

    #[test]
    fn trigger_names_round_trip() {
        for k in [
            TriggerKind::Weekly,
            TriggerKind::Monthly,
            TriggerKind::Quarterly,
            TriggerKind::PerformanceDecay,
            TriggerKind::LiveQuality,
        ] {
            assert_eq!(k.as_str().parse::<TriggerKind>().unwrap(), k);
        }
        let e = "daily".parse::<TriggerKind>().unwrap_err();
        assert!(e.to_string().contains("weekly, monthly, quarterly"), "{e}");
        assert!(!TriggerKind::Weekly.is_full_training());
        assert!(TriggerKind::PerformanceDecay.is_full_training());
        assert!(TriggerKind::LiveQuality.is_full_training());
    }

    #[test]
    fn live_quality_outranks_weekly_but_not_decay() {
        let cal = TradingCalendar::default();
        let fires = LiveCheck { fires: true, brier_skill: Some(-0.1), n_scored: 30, reason: "worse".into() };
        let r = evaluate_triggers(&cal, d("2026-11-20"), &[], Some(fires.clone()));
        assert!(r.weekly && r.live_quality);
        assert_eq!(r.selected, Some(TriggerKind::LiveQuality));
        let mut errs = vec![0.01; 80];
        errs.extend(vec![0.05; 20]);
        let r = evaluate_triggers(&cal, d("2026-11-20"), &errs, Some(fires));
        assert_eq!(r.selected, Some(TriggerKind::PerformanceDecay));
        let quiet = LiveCheck { fires: false, brier_skill: Some(0.1), n_scored: 30, reason: "fine".into() };
        let r = evaluate_triggers(&cal, d("2026-11-19"), &[], Some(quiet));
        assert_eq!((r.live_quality, r.selected), (false, None));
    }
}
