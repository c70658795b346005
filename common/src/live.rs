//! Live quality (SPEC §14.2): every served forecast scored against what happened.
//!
//! A pure function of what the registry holds — the prediction log of one `(symbol, years)` key
//! and the symbol's closes — so a predictor restart, another replica or the trainer's
//! `live_quality` trigger all compute the same numbers; nothing is held only in memory.
//!
//! - **One forecast per (`version_id`, `as_of`)**: the first answer served for that day (lowest
//!   log id), so a caller that asks a thousand times a day does not weigh the day a thousand
//!   times. Answers computed from inline bars are not scored (their bars need not be the
//!   registry's).
//! - **Scored** once the registry holds the bar [`HORIZON`] trading days after `as_of`:
//!   realised = close[t+5] / close[t] − 1, t the last bar on or before `as_of` (the same rule as
//!   the log's resolution). Forecasts still waiting are `n_pending`.
//! - **Window**: the latest `window_days` scored days of each version.
//! - **Metrics**: hit rate (prob_up ≥ 0.5 against realised > 0), Brier of the served prob_up,
//!   the base-rate Brier of the version's own training up-share, `brier_skill = 1 − brier /
//!   base_rate_brier`, coverage of the 80 % and 95 % intervals (of the forecasts that had them),
//!   IC (Pearson correlation of the predicted and realised 5-day returns) and the MAE of the
//!   cumulative return.
use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::backtest::metrics;

/// Trading days between a forecast's `as_of` bar and the bar that resolves it: the forecast
/// horizon.
pub const HORIZON: usize = crate::features::FORECAST_DAYS;
/// Scored days a window holds unless asked otherwise.
pub const DEFAULT_WINDOW_DAYS: usize = 60;
/// Scored days the `live_quality` trigger needs before it may fire.
pub const TRIGGER_MIN_SCORED: usize = 20;

/// One logged answer, as the registry returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedForecast {
    /// Log order (the registry's row id): lower is served earlier.
    pub id: i64,
    /// Version that answered.
    pub version_id: String,
    /// Date of the last bar the answer used.
    pub as_of: NaiveDate,
    /// Served probability of an up move.
    pub prob_up: f64,
    /// Predicted 5-day cumulative return.
    pub predicted_return: f64,
    /// The 80 % interval of the cumulative return, when the version had one.
    pub interval_80: Option<(f64, f64)>,
    /// The 95 % interval.
    pub interval_95: Option<(f64, f64)>,
    /// Computed from bars sent inline (never scored).
    pub inline_bars: bool,
}

/// How one version's served forecasts did (the fields of `lstm.v1.LiveQuality`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveQuality {
    /// The version.
    pub version_id: String,
    /// Scored days in the window.
    pub n_scored: usize,
    /// Days served whose outcome is not in the registry yet (the latest 5 trading days).
    pub n_pending: usize,
    /// Share of scored days whose direction (prob_up ≥ 0.5) was right.
    pub hit_rate: Option<f64>,
    /// Mean (prob_up − y)².
    pub brier: Option<f64>,
    /// Mean (base_rate − y)², the version's own training up-share as the forecast.
    pub base_rate_brier: Option<f64>,
    /// 1 − brier / base_rate_brier: above 0 the served probabilities beat the base rate.
    pub brier_skill: Option<f64>,
    /// Share of scored days whose realised return fell inside the 80 % interval.
    pub coverage_80: Option<f64>,
    /// The same for the 95 % interval.
    pub coverage_95: Option<f64>,
    /// Pearson correlation of predicted and realised 5-day returns.
    pub ic: Option<f64>,
    /// Mean |predicted − realised| 5-day return.
    pub mae_cum: Option<f64>,
    /// Oldest scored `as_of` of the window.
    pub first_as_of: Option<NaiveDate>,
    /// Newest scored `as_of` of the window.
    pub last_as_of: Option<NaiveDate>,
    /// The adaptive levels (for the nominal 0.8 and 0.95) the version's next intervals use:
    /// adaptive conformal inference over the misses of all its scored days
    /// ([`crate::calibration::adaptive`]). Versions without stored calibration scores serve the
    /// nominal levels whatever this says.
    pub effective_level_80: f64,
    /// See `effective_level_80`.
    pub effective_level_95: f64,
}

/// A scored day: the first answer of a (version, day) and its outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredDay {
    /// The forecast day.
    pub as_of: NaiveDate,
    /// Served probability of an up move.
    pub prob_up: f64,
    /// Predicted 5-day return.
    pub predicted_return: f64,
    /// Realised 5-day return.
    pub realised_return: f64,
    /// Whether the realised return fell inside the 80 % / 95 % interval (None: no interval).
    pub inside_80: Option<bool>,
    /// See `inside_80`.
    pub inside_95: Option<bool>,
}

/// The realised 5-day return of a forecast made on `as_of`, when `closes` (date-sorted) hold it:
/// `close[t + 5] / close[t] − 1`, `t` the last bar on or before `as_of`. The one outcome rule:
/// live scoring and the prediction log's resolution (`Registry::resolve_predictions`) use it.
pub fn realised_return(closes: &[(NaiveDate, f64)], as_of: NaiveDate) -> Option<f64> {
    let after = closes.partition_point(|(d, _)| *d <= as_of);
    let base = after.checked_sub(1)?;
    let (_, target) = closes.get(base + HORIZON)?;
    Some(target / closes[base].1 - 1.0)
}

/// The first non-inline answer of each (version, day), by version, days ascending.
pub fn first_answers(log: &[LoggedForecast]) -> BTreeMap<String, Vec<LoggedForecast>> {
    let mut first: HashMap<(&str, NaiveDate), &LoggedForecast> = HashMap::new();
    for f in log.iter().filter(|f| !f.inline_bars) {
        first
            .entry((f.version_id.as_str(), f.as_of))
            .and_modify(|kept| {
                if f.id < kept.id {
                    *kept = f;
                }
            })
            .or_insert(f);
    }
    let mut by_version: BTreeMap<String, Vec<LoggedForecast>> = BTreeMap::new();
    for f in first.into_values() {
        by_version.entry(f.version_id.clone()).or_default().push(f.clone());
    }
    for days in by_version.values_mut() {
        days.sort_by_key(|f| f.as_of);
    }
    by_version
}

/// Scored and pending days of one version's first answers (days ascending).
pub fn score_days(days: &[LoggedForecast], closes: &[(NaiveDate, f64)]) -> (Vec<ScoredDay>, usize) {
    let mut scored = Vec::new();
    let mut pending = 0;
    for f in days {
        match realised_return(closes, f.as_of) {
            None => pending += 1,
            Some(r) => {
                let inside = |iv: Option<(f64, f64)>| iv.map(|(lo, hi)| lo <= r && r <= hi);
                scored.push(ScoredDay {
                    as_of: f.as_of,
                    prob_up: f.prob_up,
                    predicted_return: f.predicted_return,
                    realised_return: r,
                    inside_80: inside(f.interval_80),
                    inside_95: inside(f.interval_95),
                });
            }
        }
    }
    (scored, pending)
}

/// The metrics of `version_id` over the latest `window_days` of `scored` (days ascending);
/// `base_rate` is the version's training up-share (`None`: unknown, so no base-rate Brier). The
/// adaptive levels take every scored day, with step `gamma`.
pub fn quality_of(
    version_id: &str,
    scored: &[ScoredDay],
    pending: usize,
    base_rate: Option<f64>,
    window_days: usize,
    gamma: f64,
) -> LiveQuality {
    let misses: Vec<[Option<bool>; 2]> = scored.iter().map(|d| [d.inside_80.map(|i| !i), d.inside_95.map(|i| !i)]).collect();
    let [effective_level_80, effective_level_95] = crate::calibration::adaptive::levels_after(&misses, gamma);
    let w = &scored[scored.len().saturating_sub(window_days.max(1))..];
    let n = w.len();
    let mean = |xs: &mut dyn Iterator<Item = f64>| {
        let (sum, k) = xs.fold((0.0, 0usize), |(s, k), x| (s + x, k + 1));
        (k > 0).then(|| sum / k as f64)
    };
    // The backtest's own scoring functions: one definition of hit rate, Brier and IC.
    let prob: Vec<f64> = w.iter().map(|d| d.prob_up).collect();
    let y: Vec<bool> = w.iter().map(|d| metrics::up(d.realised_return)).collect();
    let hit_rate = metrics::hit_rate(&prob, &y);
    let brier = metrics::brier(&prob, &y);
    let base_rate_brier = base_rate.and_then(|b| metrics::brier(&vec![b; n], &y));
    let brier_skill = match (brier, base_rate_brier) {
        (Some(b), Some(base)) if base > 0.0 => Some(1.0 - b / base),
        _ => None,
    };
    let coverage = |pick: fn(&ScoredDay) -> Option<bool>| {
        mean(&mut w.iter().filter_map(pick).map(|inside| if inside { 1.0 } else { 0.0 }))
    };
    let pred: Vec<f64> = w.iter().map(|d| d.predicted_return).collect();
    let real: Vec<f64> = w.iter().map(|d| d.realised_return).collect();
    LiveQuality {
        version_id: version_id.to_string(),
        n_scored: n,
        n_pending: pending,
        hit_rate,
        brier,
        base_rate_brier,
        brier_skill,
        coverage_80: coverage(|d| d.inside_80),
        coverage_95: coverage(|d| d.inside_95),
        // Fewer than 3 days: a correlation of 2 points is ±1 and says nothing.
        ic: if n >= 3 { metrics::pearson(&pred, &real) } else { None },
        mae_cum: mean(&mut w.iter().map(|d| (d.predicted_return - d.realised_return).abs())),
        first_as_of: w.first().map(|d| d.as_of),
        last_as_of: w.last().map(|d| d.as_of),
        effective_level_80,
        effective_level_95,
    }
}

/// Live quality of every version in `log` (one key's prediction log), newest version first as
/// `created` orders them (versions missing from `created` last, by id), each over its latest
/// `window_days` scored days. `base_rates` holds each version's training up-share.
pub fn score(
    log: &[LoggedForecast],
    closes: &[(NaiveDate, f64)],
    base_rates: &HashMap<String, Option<f64>>,
    created: &HashMap<String, i64>,
    window_days: usize,
    gamma: f64,
) -> Vec<LiveQuality> {
    let mut out: Vec<LiveQuality> = first_answers(log)
        .into_iter()
        .map(|(version, days)| {
            let (scored, pending) = score_days(&days, closes);
            let base = base_rates.get(&version).copied().flatten();
            quality_of(&version, &scored, pending, base, window_days, gamma)
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |q: &LiveQuality| created.get(&q.version_id).copied().unwrap_or(i64::MIN);
        key(b).cmp(&key(a)).then_with(|| b.version_id.cmp(&a.version_id))
    });
    out
}

/// Live quality of `(symbol, years)` from the registry: its prediction log (of `version_id`
/// only, when given), the symbol's closes from a little before the oldest logged day, and each
/// version's base rate (`metrics["base_rate"]`; unknown for versions trained before it was
/// stored, and for deleted versions, which also sort last). `gamma`: the adaptive intervals'
/// step.
pub async fn live_quality(
    registry: &crate::registry::Registry,
    symbol: &str,
    years: u32,
    window_days: usize,
    version_id: Option<&str>,
    gamma: f64,
) -> crate::Result<Vec<LiveQuality>> {
    let log = registry.logged_forecasts(symbol, years, version_id).await?;
    let Some(oldest) = log.iter().map(|f| f.as_of).min() else {
        return Ok(Vec::new());
    };
    // The base bar may lie before the oldest as_of (a forecast on a holiday's date).
    let from = oldest - chrono::Duration::days(14);
    let closes: Vec<(NaiveDate, f64)> =
        registry.bars(symbol, Some(from), None).await?.iter().map(|b| (b.date, b.close)).collect();
    let mut base_rates = HashMap::new();
    let mut created = HashMap::new();
    let versions: std::collections::BTreeSet<&str> = log.iter().map(|f| f.version_id.as_str()).collect();
    for v in versions {
        match registry.version_info(v).await {
            Ok(info) => {
                base_rates.insert(v.to_string(), info.metrics.get("base_rate").copied().filter(|b| b.is_finite()));
                created.insert(v.to_string(), info.created_at.timestamp_millis());
            }
            Err(crate::Error::NotFound(_)) => {
                base_rates.insert(v.to_string(), None);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(score(&log, &closes, &base_rates, &created, window_days, gamma))
}

/// Whether the `live_quality` trigger fires on a serving version's live quality: at least
/// `min_scored` scored days in the window and `brier_skill` below `min_skill` (SPEC §14.2: 20
/// and 0). Returns the decision and a reason naming the numbers.
pub fn live_quality_trigger(live: &LiveQuality, min_scored: usize, min_skill: f64) -> (bool, String) {
    let skill = live.brier_skill;
    let fires = live.n_scored >= min_scored && skill.is_some_and(|s| s < min_skill);
    let numbers = format!(
        "version {}: {} scored days, Brier {} vs base rate {} (skill {})",
        live.version_id,
        live.n_scored,
        fmt(live.brier),
        fmt(live.base_rate_brier),
        fmt(skill)
    );
    let reason = if fires {
        format!("{numbers}: worse than the base rate (skill < {min_skill})")
    } else if live.n_scored < min_scored {
        format!("{numbers}: fewer than {min_scored} scored days, too few to judge")
    } else if skill.is_none() {
        format!("{numbers}: the version has no base rate to compare with")
    } else {
        format!("{numbers}: not below {min_skill}")
    };
    (fires, reason)
}

fn fmt(x: Option<f64>) -> String {
    x.map_or_else(|| "?".to_string(), |v| format!("{v:.4}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, 1).unwrap() + chrono::Duration::days(day as i64)
    }

    fn f(id: i64, version: &str, day: u32, prob_up: f64, pred: f64) -> LoggedForecast {
        LoggedForecast {
            id,
            version_id: version.into(),
            as_of: d(day),
            prob_up,
            predicted_return: pred,
            interval_80: Some((pred - 0.02, pred + 0.02)),
            interval_95: Some((pred - 0.05, pred + 0.05)),
            inline_bars: false,
        }
    }

    #[test]
    fn the_first_answer_of_a_day_counts_once_and_inline_answers_not_at_all() {
        let closes: Vec<(NaiveDate, f64)> = (0..12).map(|i| (d(i), 100.0 + i as f64)).collect();
        let mut log = vec![f(1, "v1", 0, 0.9, 0.05), f(2, "v1", 0, 0.1, -0.05), f(3, "v1", 1, 0.6, 0.04)];
        log.push(LoggedForecast { inline_bars: true, ..f(4, "v1", 2, 0.0, -1.0) });
        log.push(f(5, "v1", 9, 0.5, 0.0)); // resolves on day 14: pending
        let out = score(&log, &closes, &HashMap::from([("v1".into(), Some(0.5))]), &HashMap::new(), 60, 0.005);
        let q = &out[0];
        assert_eq!((q.n_scored, q.n_pending), (2, 1));
        // Day 0 realised 105/100-1 = 0.05, day 1 106/101-1; both up, both predicted up.
        assert_eq!(q.hit_rate, Some(1.0));
        let brier = ((0.9f64 - 1.0).powi(2) + (0.6f64 - 1.0).powi(2)) / 2.0;
        assert!((q.brier.unwrap() - brier).abs() < 1e-12);
        assert!((q.base_rate_brier.unwrap() - 0.25).abs() < 1e-12);
        assert!((q.brier_skill.unwrap() - (1.0 - brier / 0.25)).abs() < 1e-12);
        assert_eq!((q.first_as_of, q.last_as_of), (Some(d(0)), Some(d(1))));
        // Answer 2 (same day, later) and the inline answer change nothing.
        let fewer: Vec<LoggedForecast> = log.iter().filter(|x| x.id != 2 && x.id != 4).cloned().collect();
        let again = score(&fewer, &closes, &HashMap::from([("v1".into(), Some(0.5))]), &HashMap::new(), 60, 0.005);
        assert_eq!(again, out);
    }

    #[test]
    fn the_window_keeps_the_latest_days_and_the_trigger_needs_enough_of_them() {
        let closes: Vec<(NaiveDate, f64)> = (0..40).map(|i| (d(i), 100.0 * 1.01f64.powi(i as i32))).collect();
        // Always up; a version that says 0.2 is worse than a base rate of 0.6.
        let log: Vec<LoggedForecast> = (0..30).map(|i| f(i as i64, "bad", i, 0.2, 0.0)).collect();
        let q = &score(&log, &closes, &HashMap::from([("bad".into(), Some(0.6))]), &HashMap::new(), 25, 0.005)[0];
        assert_eq!((q.n_scored, q.first_as_of), (25, Some(d(5))));
        assert!(q.brier_skill.unwrap() < 0.0);
        assert_eq!(q.coverage_80, Some(0.0), "realised 5.1 % is outside ±2 % around 0");
        // 30 scored misses widen the next intervals: α = 0.2 + 30·0.005·(0.2 − 1).
        assert!((q.effective_level_80 - (1.0 - (0.2 - 30.0 * 0.005 * 0.8))).abs() < 1e-12, "{}", q.effective_level_80);
        let (fires, why) = live_quality_trigger(q, TRIGGER_MIN_SCORED, 0.0);
        assert!(fires && why.contains("25 scored days") && why.contains("worse than the base rate"), "{why}");
        let short = quality_of("bad", &score_days(&log[..10], &closes).0, 0, Some(0.6), 60, 0.005);
        assert!(!live_quality_trigger(&short, TRIGGER_MIN_SCORED, 0.0).0);
        let good: Vec<LoggedForecast> = (0..30).map(|i| f(i as i64, "good", i, 0.9, 0.05)).collect();
        let q = &score(&good, &closes, &HashMap::from([("good".into(), Some(0.6))]), &HashMap::new(), 60, 0.005)[0];
        assert!(q.brier_skill.unwrap() > 0.0 && !live_quality_trigger(q, TRIGGER_MIN_SCORED, 0.0).0);
    }

    #[test]
    fn versions_come_newest_first_and_ic_is_pearson() {
        let closes: Vec<(NaiveDate, f64)> = (0..20).map(|i| (d(i), 100.0 + ((i * 7) % 5) as f64)).collect();
        let log = vec![f(1, "old", 0, 0.5, 0.0), f(2, "new", 1, 0.5, 0.0)];
        let created = HashMap::from([("old".to_string(), 1), ("new".to_string(), 2)]);
        let out = score(&log, &closes, &HashMap::new(), &created, 60, 0.005);
        assert_eq!(out.iter().map(|q| q.version_id.as_str()).collect::<Vec<_>>(), ["new", "old"]);
        assert_eq!(out[0].base_rate_brier, None);
        // One scored day: no IC.
        assert_eq!(out[0].ic, None);
        // Five: the Pearson correlation of predicted and realised 5-day returns.
        let closes: Vec<(NaiveDate, f64)> = (0..20).map(|i| (d(i), 100.0 + ((i * i) % 7) as f64)).collect();
        let log: Vec<LoggedForecast> = (0..5).map(|i| f(i as i64, "v", i, 0.5, [0.01, -0.02, 0.03, 0.0, 0.02][i as usize])).collect();
        let q = &score(&log, &closes, &HashMap::new(), &HashMap::new(), 60, 0.005)[0];
        let real: Vec<f64> = (0..5).map(|i| realised_return(&closes, d(i)).unwrap()).collect();
        let pred = [0.01, -0.02, 0.03, 0.0, 0.02];
        let (mp, mr) = (pred.iter().sum::<f64>() / 5.0, real.iter().sum::<f64>() / 5.0);
        let cov: f64 = (0..5).map(|i| (pred[i] - mp) * (real[i] - mr)).sum();
        let (vp, vr): (f64, f64) = ((0..5).map(|i| (pred[i] - mp).powi(2)).sum(), (0..5).map(|i| (real[i] - mr).powi(2)).sum());
        assert!((q.ic.unwrap() - cov / (vp * vr).sqrt()).abs() < 1e-12, "{:?}", q.ic);
    }
}
