//! Live quality served by the predictor (SPEC §14.2): `GetLiveQuality`, `ModelStatus.live`, the
//! `predictor_live_*` gauges, the adaptive interval levels Predict uses, and the prediction log's
//! retention. The numbers come from `common::live`, computed from the registry (nothing is held
//! only in memory, so a restart continues where it was); [`poll_loop`] refreshes the gauges, the
//! levels and the snapshot ListModels reads, and a version Predict meets for the first time gets
//! its levels computed before its first answer.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use common::key::ModelKey;
use common::live::{live_quality, LiveQuality, DEFAULT_WINDOW_DAYS};
use common::pb;
use common::{Error, Result};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::metrics::Metrics;

/// Days the prediction log keeps an answer after it was served; older answers are deleted by
/// [`poll_loop`] once an hour. Live quality's default window (60 scored days) needs ~3 months.
pub const RETENTION_DAYS: i64 = 730;

/// The latest live quality of each serving version, by (symbol, years), and the adaptive
/// levels of each version, by version id.
#[derive(Debug, Clone, Default)]
pub struct LiveSnapshot(Arc<Mutex<Snapshot>>);

#[derive(Debug, Default)]
struct Snapshot {
    by_key: HashMap<ModelKey, LiveQuality>,
    levels: HashMap<String, [f64; 2]>,
}

impl LiveSnapshot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The snapshot of `key` when it is of `version_id`.
    pub fn latest(&self, key: &ModelKey, version_id: Option<&str>) -> Option<LiveQuality> {
        self.lock().by_key.get(key).filter(|q| Some(q.version_id.as_str()) == version_id).cloned()
    }

    /// The adaptive levels of `version_id`, when computed.
    pub fn levels(&self, version_id: &str) -> Option<[f64; 2]> {
        self.lock().levels.get(version_id).copied()
    }

    fn put(&self, symbol: &str, years: u32, q: LiveQuality) {
        let mut s = self.lock();
        s.levels.insert(q.version_id.clone(), [q.effective_level_80, q.effective_level_95]);
        s.by_key.insert(ModelKey { symbol: symbol.to_string(), years }, q);
    }

    fn put_levels(&self, version_id: &str, levels: [f64; 2]) {
        self.lock().levels.insert(version_id.to_string(), levels);
    }
}

/// The nominal levels, for a version that has served nothing scored yet.
const NOMINAL: [f64; 2] = [common::calibration::LEVELS[0], common::calibration::LEVELS[1]];

/// The adaptive levels Predict uses for `version_id`: from the snapshot, or, the first time this
/// process meets the version, computed from the registry (one query). When the registry does
/// not answer, the nominal levels are kept until the next live poll refreshes them, so an outage
/// does not add a registry timeout to every answer.
pub async fn adaptive_levels(engine: &Engine, symbol: &str, years: u32, version_id: &str) -> Option<[f64; 2]> {
    if let Some(levels) = engine.live().levels(version_id) {
        return Some(levels);
    }
    let q = LiveQuery { symbol: symbol.into(), years, window_days: DEFAULT_WINDOW_DAYS, version_id: Some(version_id.into()) };
    match get(engine, &q).await {
        Ok(v) => {
            let levels = v.first().map_or(NOMINAL, |q| [q.effective_level_80, q.effective_level_95]);
            engine.live().put_levels(version_id, levels);
            Some(levels)
        }
        Err(e) => {
            tracing::debug!(symbol, years, error = %e, "adaptive levels unavailable: nominal levels until the next live poll");
            engine.live().put_levels(version_id, NOMINAL);
            None
        }
    }
}

/// The validated fields of a `GetLiveQualityRequest`.
#[derive(Debug, Clone)]
pub struct LiveQuery {
    /// Ticker.
    pub symbol: String,
    /// Model key years.
    pub years: u32,
    /// Scored days per version.
    pub window_days: usize,
    /// One version only.
    pub version_id: Option<String>,
}

impl TryFrom<pb::GetLiveQualityRequest> for LiveQuery {
    type Error = Error;
    fn try_from(r: pb::GetLiveQualityRequest) -> Result<LiveQuery> {
        let pb::GetLiveQualityRequest { symbol, years, window_days, version_id } = r;
        let window_days = match window_days {
            None => DEFAULT_WINDOW_DAYS,
            Some(0) => return Err(Error::invalid("window_days must be at least 1 (default 60)")),
            Some(n) if n > 5_000 => {
                return Err(Error::invalid(format!("window_days {n} is above 5000 (about 20 years of trading days)")))
            }
            Some(n) => n as usize,
        };
        let version_id = version_id.trim();
        Ok(LiveQuery {
            symbol: common::config::validate_symbol(&symbol)?,
            years: common::config::validate_years(years)?,
            window_days,
            version_id: (!version_id.is_empty()).then(|| version_id.to_string()),
        })
    }
}

/// GetLiveQuality: every version that served the key (or the one asked for), newest first.
pub async fn get(engine: &Engine, q: &LiveQuery) -> Result<Vec<LiveQuality>> {
    let registry = engine.registry();
    let work = live_quality(registry, &q.symbol, q.years, q.window_days, q.version_id.as_deref(), engine.aci_gamma());
    registry.bounded("the live quality", work).await
}

/// The serving version's live quality for ModelStatus (`None` when it has served nothing or the
/// registry does not answer: status still answers); refreshes the snapshot.
pub async fn serving_quality(engine: &Engine, symbol: &str, years: u32, version_id: &str) -> Option<LiveQuality> {
    let q = LiveQuery { symbol: symbol.into(), years, window_days: DEFAULT_WINDOW_DAYS, version_id: Some(version_id.into()) };
    match get(engine, &q).await {
        Ok(mut v) => {
            let live = v.pop()?;
            engine.live().put(symbol, years, live.clone());
            Some(live)
        }
        Err(e) => {
            tracing::debug!(symbol, years, error = %e, "live quality unavailable for ModelStatus");
            None
        }
    }
}

/// Every `every`: scores the serving version of each loaded key (gauges and snapshot), and once
/// an hour deletes logged answers older than [`RETENTION_DAYS`]. Ends with `stop`.
pub async fn poll_loop(engine: Arc<Engine>, metrics: Metrics, every: Duration, stop: CancellationToken) {
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        for s in engine.cache().statuses() {
            let Some(version) = s.loaded_version_id.as_deref() else { continue };
            if let Some(q) = serving_quality(&engine, &s.key.served.symbol, s.key.served.years, version).await {
                set_gauges(&metrics, &s.key.served.symbol, s.key.served.years, &q);
            }
        }
        if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            let before = Utc::now() - chrono::Duration::days(RETENTION_DAYS);
            match engine.registry().bounded("the prediction log's retention", engine.registry().prune_predictions(before)).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, %before, "prediction log: answers past the retention deleted"),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "prediction log retention skipped"),
            }
            last_prune = Some(std::time::Instant::now());
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

fn set_gauges(metrics: &Metrics, symbol: &str, years: u32, q: &LiveQuality) {
    let y = years.to_string();
    metrics.live_scored.with_label_values(&[symbol, &y]).set(q.n_scored as f64);
    if let Some(skill) = q.brier_skill {
        metrics.live_brier_skill.with_label_values(&[symbol, &y]).set(skill);
    }
    for (level, c) in [("0.8", q.coverage_80), ("0.95", q.coverage_95)] {
        if let Some(c) = c {
            metrics.live_coverage.with_label_values(&[symbol, &y, level]).set(c);
        }
    }
}

/// The protocol message of a version's live quality.
pub fn live_to_pb(q: &LiveQuality) -> pb::LiveQuality {
    let day = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    pb::LiveQuality {
        version_id: q.version_id.clone(),
        n_scored: q.n_scored as u32,
        n_pending: q.n_pending as u32,
        hit_rate: q.hit_rate,
        brier: q.brier,
        base_rate_brier: q.base_rate_brier,
        brier_skill: q.brier_skill,
        coverage_80: q.coverage_80,
        coverage_95: q.coverage_95,
        ic: q.ic,
        mae_cum: q.mae_cum,
        first_as_of: day(q.first_as_of),
        last_as_of: day(q.last_as_of),
        effective_level_80: q.effective_level_80,
        effective_level_95: q.effective_level_95,
    }
}
