//! The prediction core, free of gRPC: validated requests in, forecasts out.
//!
//! A forecast takes the last [`HISTORY_BARS`] bars (from the registry, or inline), computes the
//! raw 60×21 feature window ending at the last bar, runs it through the key's model worker (the
//! model standardises it with the version's stored statistics) and derives the reply:
//! direction `UP` iff `prob_up >= 0.5`, `cumulative_return = Π(1 + m_k) − 1`,
//! `predicted_closes` chained from the last close, `forecast_dates` = the next 5 trading days.
//! Registry bars come from the [`BarStore`] (held in memory, so loaded models keep answering
//! through a registry outage); every answer says how old its bars are.
//! The version's calibration ([`common::calibration::serve`]) gives the served (calibrated)
//! `prob_up`, the conformal intervals, the signal and the quality; direction and signal follow
//! the served `prob_up`.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use common::calendar::TradingCalendar;
use common::calibration::{serve_at, window_vol, ForecastQuality, ServedForecast};
use common::data::Bar;
use common::features::{prediction_window, FeatureConfig, FORECAST_DAYS, SEQ_LEN};
use common::pb;
use common::live::LiveQuality;
use common::registry::{NewPrediction, Registry};
use common::{Error, Result};
use serde::Serialize;

pub use crate::bars::HISTORY_BARS;
use crate::bars::{tail, BarStore, BarsSource};
use crate::cache::{no_current_model, CacheKey, ModelCache, SlotStatus};
use common::key::ModelKey;
use crate::predlog::PredictionLog;
use crate::worker::Lane;
/// Most requests one PredictBatch may carry.
pub const MAX_BATCH_REQUESTS: usize = 1000;
/// PredictBatch calls with at least this many requests run on the models' bulk lanes (their own
/// threads, round-robin between such calls), so they do not hold up single Predicts.
pub const BULK_BATCH_REQUESTS: usize = 16;
/// Items of one bulk PredictBatch call in flight at once (features computed, queued or running):
/// two full forward passes' worth.
pub const BULK_IN_FLIGHT: usize = 128;

/// A validated forecast request.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictInput {
    /// The model key asked for.
    pub key: ModelKey,
    /// Inline bars (validated, sorted), or `None` for the registry's bars.
    pub bars: Option<Vec<Bar>>,
    /// A pinned version instead of the current one.
    pub version_id: Option<String>,
}

impl TryFrom<pb::PredictRequest> for PredictInput {
    type Error = Error;
    fn try_from(req: pb::PredictRequest) -> Result<Self> {
        let pb::PredictRequest { symbol, years, bars, version_id } = req;
        let key = ModelKey::parse(&symbol, years)?;
        let bars = if bars.is_empty() { None } else { Some(bars_from_pb(bars)?) };
        let version_id = match version_id.trim() {
            "" => None,
            v if v.len() > 128 => {
                return Err(Error::invalid("version_id is longer than 128 characters"));
            }
            v => Some(v.to_string()),
        };
        Ok(PredictInput { key, bars, version_id })
    }
}

/// Converts and validates inline bars (SPEC §2 rules; unsorted input is sorted); validation
/// messages say they are about the request's inline bars.
pub fn bars_from_pb(bars: Vec<pb::Bar>) -> Result<Vec<Bar>> {
    common::data::bars_from_pb(bars).map_err(|e| match e {
        Error::InvalidArgument(m) => Error::invalid(format!("inline bars: {m}")),
        other => other,
    })
}

/// Direction of the 5-day forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// `prob_up >= 0.5`.
    #[serde(rename = "UP")]
    Up,
    /// `prob_up < 0.5`.
    #[serde(rename = "DOWN")]
    Down,
}

/// One served forecast (also the `predict` command's JSON, snake_case field names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionOut {
    /// Ticker.
    pub symbol: String,
    /// Model key years.
    pub years: u32,
    /// Version that produced the forecast.
    pub version_id: String,
    /// Date of the last bar used.
    pub as_of: NaiveDate,
    /// `UP` iff `prob_up >= 0.5`.
    pub direction: Direction,
    /// Probability that the 5-day cumulative return is positive.
    pub prob_up: f64,
    /// Five predicted daily returns (fractional).
    pub magnitudes: [f64; FORECAST_DAYS],
    /// `Π(1 + m) − 1`.
    pub cumulative_return: f64,
    /// Closes implied by the magnitudes, chained from `last_close`.
    pub predicted_closes: [f64; FORECAST_DAYS],
    /// The next five trading days.
    pub forecast_dates: Vec<NaiveDate>,
    /// Close of the `as_of` bar.
    pub last_close: f64,
    /// When the bars were last known to match the registry (`None` for inline bars).
    pub bars_as_of: Option<DateTime<Utc>>,
    /// Seconds since `bars_as_of` when the answer was made (0 for inline bars).
    pub bars_age_seconds: f64,
    /// `registry` | `memory` | `memory:stale` | `inline`.
    pub bars_source: &'static str,
    /// The direction head's softmax (`prob_up` is this, calibrated, when the version has one).
    pub prob_up_raw: f64,
    /// Conformal intervals of the 5-day cumulative return (levels 0.8, 0.95).
    pub intervals: Vec<IntervalOut>,
    /// Holdout quality of the serving version.
    pub quality: ForecastQuality,
    /// `UP` when `prob_up ≥ signal_threshold`, else `NONE`.
    pub signal: Signal,
    /// The version's precision-constrained threshold (absent: none reached the target).
    pub signal_threshold: Option<f64>,
    /// Precision of the threshold on the calibration data.
    pub signal_precision: Option<f64>,
    /// Recall of the threshold on the calibration data.
    pub signal_recall: Option<f64>,
}

/// The precision-constrained signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Signal {
    /// `prob_up ≥ τ`.
    #[serde(rename = "UP")]
    Up,
    /// Below `τ`, or no `τ`.
    #[serde(rename = "NONE")]
    None,
}

/// One served interval; bounds absent when the version had too little calibration data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalOut {
    /// Nominal coverage.
    pub level: f64,
    /// Lower 5-day cumulative return.
    pub cumulative_return_lo: Option<f64>,
    /// Upper 5-day cumulative return.
    pub cumulative_return_hi: Option<f64>,
    /// Close on the 5th forecast day at the lower bound.
    pub close_lo: Option<f64>,
    /// Close on the 5th forecast day at the upper bound.
    pub close_hi: Option<f64>,
    /// False = insufficient calibration data for this level.
    pub available: bool,
    /// The level the bounds use (adaptive; the nominal level without scored days).
    pub effective_level: f64,
    /// Why it is missing.
    pub note: String,
}

impl PredictionOut {
    /// The served interval of the cumulative return at nominal `level`, when available.
    pub fn interval_bounds(&self, level: f64) -> Option<(f64, f64)> {
        self.intervals
            .iter()
            .find(|i| (i.level - level).abs() < 1e-9 && i.available)
            .and_then(|i| i.cumulative_return_lo.zip(i.cumulative_return_hi))
    }

    /// Applies what the version serves: calibrated `prob_up` (and the direction it implies),
    /// intervals (closes from `last_close`), quality and signal.
    pub fn with_served(mut self, s: ServedForecast) -> PredictionOut {
        self.prob_up = s.prob_up;
        self.prob_up_raw = s.prob_up_raw;
        self.direction = if s.prob_up >= 0.5 { Direction::Up } else { Direction::Down };
        let last = self.last_close;
        self.intervals = s
            .intervals
            .iter()
            .map(|i| IntervalOut {
                level: i.level,
                cumulative_return_lo: i.bounds.map(|b| b.0),
                cumulative_return_hi: i.bounds.map(|b| b.1),
                close_lo: i.bounds.map(|b| last * (1.0 + b.0)),
                close_hi: i.bounds.map(|b| last * (1.0 + b.1)),
                available: i.bounds.is_some(),
                effective_level: i.effective_level,
                note: if i.bounds.is_some() { String::new() } else { s.intervals_note.clone() },
            })
            .collect();
        self.quality = s.quality;
        self.signal = if s.signal.is_some_and(|t| t.is_up(s.prob_up)) { Signal::Up } else { Signal::None };
        self.signal_threshold = s.signal.and_then(|t| t.threshold);
        self.signal_precision = s.signal.and_then(|t| t.precision);
        self.signal_recall = s.signal.and_then(|t| t.recall);
        self
    }
}

impl From<PredictionOut> for pb::Prediction {
    fn from(p: PredictionOut) -> Self {
        pb::Prediction {
            symbol: p.symbol,
            years: p.years,
            version_id: p.version_id,
            as_of: p.as_of.format("%Y-%m-%d").to_string(),
            direction: match p.direction {
                Direction::Up => pb::Direction::Up as i32,
                Direction::Down => pb::Direction::Down as i32,
            },
            prob_up: p.prob_up,
            magnitudes: p.magnitudes.to_vec(),
            cumulative_return: p.cumulative_return,
            predicted_closes: p.predicted_closes.to_vec(),
            forecast_dates: p.forecast_dates.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect(),
            last_close: p.last_close,
            bars_as_of: p
                .bars_as_of
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default(),
            bars_age_seconds: p.bars_age_seconds,
            bars_source: p.bars_source.to_string(),
            prob_up_raw: p.prob_up_raw,
            intervals: p
                .intervals
                .into_iter()
                .map(|i| pb::PredictionInterval {
                    level: i.level,
                    cumulative_return_lo: i.cumulative_return_lo,
                    cumulative_return_hi: i.cumulative_return_hi,
                    close_lo: i.close_lo,
                    close_hi: i.close_hi,
                    available: i.available,
                    note: i.note,
                    effective_level: i.effective_level,
                })
                .collect(),
            quality: Some((&p.quality).into()),
            signal: match p.signal {
                Signal::Up => pb::prediction::Signal::Up as i32,
                Signal::None => pb::prediction::Signal::None as i32,
            },
            signal_threshold: p.signal_threshold,
            signal_precision: p.signal_precision,
            signal_recall: p.signal_recall,
        }
    }
}

/// Builds the reply from a model's raw outputs (with inline-bar provenance; the engine sets the
/// bars fields of registry answers).
pub fn assemble(
    key: &ModelKey,
    version_id: &str,
    last: &Bar,
    prob_up: f64,
    magnitudes: [f64; FORECAST_DAYS],
    calendar: &TradingCalendar,
) -> PredictionOut {
    let mut predicted_closes = [0.0; FORECAST_DAYS];
    let mut close = last.close;
    for (k, m) in magnitudes.iter().enumerate() {
        close *= 1.0 + m;
        predicted_closes[k] = close;
    }
    let cumulative_return = common::features::cumulative_return(&magnitudes);
    PredictionOut {
        symbol: key.symbol.clone(),
        years: key.years,
        version_id: version_id.to_string(),
        as_of: last.date,
        direction: if prob_up >= 0.5 { Direction::Up } else { Direction::Down },
        prob_up,
        magnitudes,
        cumulative_return,
        predicted_closes,
        forecast_dates: calendar.next_trading_days(last.date, FORECAST_DAYS),
        last_close: last.close,
        bars_as_of: None,
        bars_age_seconds: 0.0,
        bars_source: BarsSource::Inline.as_str(),
        prob_up_raw: prob_up,
        intervals: Vec::new(),
        quality: ForecastQuality::default(),
        signal: Signal::None,
        signal_threshold: None,
        signal_precision: None,
        signal_recall: None,
    }
}

/// Status of a key as GetModelStatus reports it.
#[derive(Debug, Clone)]
pub struct KeyStatus {
    /// What the cache knows (state `not_loaded` with no history when never requested).
    pub cache: SlotStatus,
    /// The registry's current version of the key right now.
    pub current_version_id: Option<String>,
    /// Live quality of the loaded version (`crate::live`), when it has served anything.
    pub live: Option<LiveQuality>,
}

/// A stage of one answer, as `predictor_predict_stage_seconds{stage}` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Model,
    Bars,
    Features,
    Queue,
    Forward,
    Calibration,
    Assemble,
    Log,
}

impl Stage {
    /// Every stage, in the order of their discriminants.
    const ALL: [Stage; 8] =
        [Stage::Model, Stage::Bars, Stage::Features, Stage::Queue, Stage::Forward, Stage::Calibration, Stage::Assemble, Stage::Log];

    /// Its `stage` label.
    fn label(self) -> &'static str {
        match self {
            Stage::Model => "model",
            Stage::Bars => "bars",
            Stage::Features => "features",
            Stage::Queue => "queue",
            Stage::Forward => "forward",
            Stage::Calibration => "calibration",
            Stage::Assemble => "assemble",
            Stage::Log => "log",
        }
    }
}

/// The histogram of each [`Stage`] (indexed by it), resolved once from the labelled vec.
struct StageHistograms([prometheus::Histogram; 8]);

impl StageHistograms {
    fn resolve(vec: &prometheus::HistogramVec) -> StageHistograms {
        StageHistograms(Stage::ALL.map(|stage| vec.with_label_values(&[stage.label()])))
    }
}

/// The prediction engine shared by the gRPC service and the `predict` command.
pub struct Engine {
    registry: Registry,
    cache: Arc<ModelCache>,
    calendar: TradingCalendar,
    log: Option<PredictionLog>,
    features: FeatureConfig,
    bars: Arc<BarStore>,
    live: crate::live::LiveSnapshot,
    aci_gamma: f64,
    stages: Option<StageHistograms>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("cache", &self.cache).finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `cache`; served forecasts go to `log` when given.
    pub fn new(
        registry: Registry,
        cache: Arc<ModelCache>,
        calendar: TradingCalendar,
        log: Option<PredictionLog>,
    ) -> Engine {
        let bars = Arc::new(BarStore::new(registry.clone()));
        let aci_gamma = common::calibration::adaptive::DEFAULT_GAMMA;
        Engine { registry, cache, calendar, log, features: FeatureConfig::default(), bars, live: Default::default(), aci_gamma, stages: None }
    }

    /// The engine observing each answer's stages in `stages`
    /// (`predictor_predict_stage_seconds{stage}`); the histogram of each stage is looked up here,
    /// once, not on every observation.
    pub fn with_stage_metrics(mut self, stages: prometheus::HistogramVec) -> Engine {
        self.stages = Some(StageHistograms::resolve(&stages));
        self
    }

    fn observe(&self, stage: Stage, took: Duration) {
        if let Some(h) = &self.stages {
            h.0[stage as usize].observe(took.as_secs_f64());
        }
    }

    /// The engine with adaptive intervals of step `gamma` (default
    /// [`common::calibration::adaptive::DEFAULT_GAMMA`]).
    pub fn with_aci_gamma(mut self, gamma: f64) -> Engine {
        self.aci_gamma = gamma;
        self
    }

    /// The adaptive intervals' step γ.
    pub fn aci_gamma(&self) -> f64 {
        self.aci_gamma
    }

    /// The latest live quality of each serving version (kept by `crate::live::poll_loop`).
    pub fn live(&self) -> &crate::live::LiveSnapshot {
        &self.live
    }

    /// The recent bars held per symbol (refreshed by the reload poller).
    pub fn bars(&self) -> &Arc<BarStore> {
        &self.bars
    }

    /// The model cache.
    pub fn cache(&self) -> &Arc<ModelCache> {
        &self.cache
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Serves one forecast on the model's interactive lane.
    pub async fn predict(&self, input: PredictInput) -> Result<PredictionOut> {
        self.predict_in(input, Lane::Interactive).await
    }

    /// Serves one forecast, queued on `lane` of the model's worker.
    pub async fn predict_in(&self, input: PredictInput, lane: Lane) -> Result<PredictionOut> {
        let PredictInput { key, bars, version_id } = input;
        let key = CacheKey { served: key, pinned: version_id };
        let (handle, window, last, provenance) = match bars {
            Some(bars) => {
                // Inline data is checked before any model is loaded for it.
                let t = Instant::now();
                let (window, last) = self.window(&tail(bars))?;
                self.observe(Stage::Features, t.elapsed());
                let t = Instant::now();
                let handle = self.cache.get(&key).await?;
                self.observe(Stage::Model, t.elapsed());
                (handle, window, last, None)
            }
            None => {
                // Fetched together; the model's error (e.g. NOT_FOUND) wins over the bars'.
                let (handle, bars) = tokio::join!(
                    timed(self.cache.get(&key)),
                    timed(self.bars.recent(&key.served.symbol))
                );
                self.observe(Stage::Model, handle.1);
                self.observe(Stage::Bars, bars.1);
                let (handle, bars) = (handle.0?, bars.0?);
                let t = Instant::now();
                let (window, last) = self.window(&bars.bars)?;
                self.observe(Stage::Features, t.elapsed());
                (handle, window, last, Some(bars))
            }
        };
        let vol = window_vol(&window);
        let out = handle.worker.forecast_in(window, lane).await?;
        self.observe(Stage::Queue, out.queued);
        self.observe(Stage::Forward, out.forward);
        let f = out.forecast;
        let t = Instant::now();
        let levels = crate::live::adaptive_levels(self, &key.served.symbol, key.served.years, &handle.version_id).await;
        let served = serve_at(handle.calibration.as_deref(), &f, vol, levels);
        self.observe(Stage::Calibration, t.elapsed());
        let t = Instant::now();
        let mut p = assemble(&key.served, &handle.version_id, &last, f.prob_up, f.magnitudes, &self.calendar)
            .with_served(served);
        let inline_bars = provenance.is_none();
        if let Some(view) = provenance {
            p.bars_age_seconds = view.age_seconds();
            p.bars_as_of = view.as_of;
            p.bars_source = view.source.as_str();
        }
        self.observe(Stage::Assemble, t.elapsed());
        if let Some(log) = &self.log {
            let t = Instant::now();
            log.record(NewPrediction {
                entry_id: NewPrediction::new_entry_id(),
                symbol: p.symbol.clone(),
                years: p.years,
                version_id: p.version_id.clone(),
                as_of: p.as_of,
                predicted_cumulative_return: p.cumulative_return,
                prob_up: p.prob_up,
                magnitudes: p.magnitudes.to_vec(),
                inline_bars,
                interval_80: p.interval_bounds(0.8),
                interval_95: p.interval_bounds(0.95),
            });
            self.observe(Stage::Log, t.elapsed());
        }
        Ok(p)
    }

    /// The raw feature window ending at the last bar, and that bar.
    fn window(&self, bars: &[Bar]) -> Result<(Vec<f32>, Bar)> {
        let window = prediction_window(bars, &self.features)?;
        let last = *bars.last().ok_or(Error::InsufficientData { need: SEQ_LEN, got: 0 })?;
        Ok((window, last))
    }

    /// GetModelStatus: the cache's view plus the registry's current version. A key the cache
    /// has never seen and the registry has no current version for is `NotFound`.
    pub async fn status(&self, symbol: &str, years: u32) -> Result<KeyStatus> {
        let key = CacheKey::current(ModelKey { symbol: symbol.to_string(), years });
        let known = self.cache.status(&key);
        let current = self.registry.bounded("the current version", self.registry.current_version(symbol, years));
        let current = match (current.await, &known) {
            (Ok(v), _) => v.map(|v| v.version_id),
            // During an outage a key the cache knows is still reported (current version unknown).
            (Err(Error::Unavailable(_)), Some(_)) => None,
            (Err(e), _) => return Err(e),
        };
        let cache = match known {
            Some(s) => s,
            None if current.is_some() => SlotStatus {
                key,
                state: "not_loaded",
                loaded_version_id: None,
                loaded_at: None,
                memory_bytes: 0,
                last_error: None,
                reloads_ok: 0,
                reloads_failed: 0,
                last_used_at: None,
                quality: None,
            },
            None => return Err(no_current_model(symbol, years)),
        };
        let live = match &cache.loaded_version_id {
            Some(v) => crate::live::serving_quality(self, symbol, years, v).await,
            None => None,
        };
        Ok(KeyStatus { cache, current_version_id: current, live })
    }

    /// ListModels: every key the cache holds, with the registry's current versions.
    pub async fn list(&self) -> Result<Vec<KeyStatus>> {
        let current = self.registry.bounded("the current versions", self.registry.current_versions());
        let current: HashMap<ModelKey, String> = match current.await {
            Ok(list) => list,
            // During an outage the cache's view is still worth listing.
            Err(Error::Unavailable(e)) => {
                tracing::warn!(error = %e, "ListModels without the registry's current versions");
                Vec::new()
            }
            Err(e) => return Err(e),
        }
        .into_iter()
            .map(|(symbol, years, v)| (ModelKey { symbol, years }, v))
            .collect();
        Ok(self
            .cache
            .statuses()
            .into_iter()
            .map(|cache| {
                let current_version_id =
                    current.get(&cache.key.served).cloned();
                let live = self.live.latest(&cache.key.served, cache.loaded_version_id.as_deref());
                KeyStatus { cache, current_version_id, live }
            })
            .collect())
    }
}

impl From<KeyStatus> for pb::ModelStatus {
    fn from(s: KeyStatus) -> Self {
        let KeyStatus { cache, current_version_id, live } = s;
        let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).unwrap_or_default()
        };
        pb::ModelStatus {
            symbol: cache.key.served.symbol.clone(),
            years: cache.key.served.years,
            state: cache.state.to_string(),
            loaded_version_id: cache.loaded_version_id.unwrap_or_default(),
            loaded_at: ts(cache.loaded_at),
            source: if cache.key.pinned.is_some() { "registry:pinned" } else { "registry" }.into(),
            current_version_id: current_version_id.unwrap_or_default(),
            last_error: cache.last_error.unwrap_or_default(),
            reloads_ok: cache.reloads_ok,
            reloads_failed: cache.reloads_failed,
            memory_bytes: cache.memory_bytes,
            last_used_at: ts(cache.last_used_at),
            quality: cache.quality.as_ref().map(Into::into),
            live: live.as_ref().map(crate::live::live_to_pb),
        }
    }
}

/// `fut`'s output and how long it took.
async fn timed<T>(fut: impl std::future::Future<Output = T>) -> (T, Duration) {
    let t = Instant::now();
    let out = fut.await;
    (out, t.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(date: &str, close: f64) -> Bar {
        Bar {
            date: NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
            amount: None,
        }
    }

    #[test]
    fn each_stage_observes_on_the_series_of_its_own_label() {
        let vec = prometheus::HistogramVec::new(prometheus::HistogramOpts::new("stage_seconds", "test"), &["stage"]).unwrap();
        let resolved = StageHistograms::resolve(&vec);
        for (i, stage) in Stage::ALL.into_iter().enumerate() {
            assert_eq!(stage as usize, i, "Stage::ALL is in discriminant order");
            resolved.0[stage as usize].observe(i as f64);
            let series = vec.with_label_values(&[stage.label()]);
            assert_eq!((series.get_sample_count(), series.get_sample_sum()), (1, i as f64), "{stage:?}");
        }
    }

    #[test]
    fn reply_fields_follow_the_documented_formulas() {
        let key = ModelKey { symbol: "AAPL".into(), years: 1 };
        // Friday 2024-03-29 is a holiday in this calendar; the next trading days skip it.
        let cal = TradingCalendar::parse("2024-04-01").unwrap();
        let m = [0.01, -0.02, 0.0, 0.005, 0.01];
        let p = assemble(&key, "v1", &bar("2024-03-28", 100.0), 0.5, m, &cal);
        assert_eq!(p.direction, Direction::Up, "prob_up 0.5 counts as UP");
        let cum = 1.01 * 0.98 * 1.0 * 1.005 * 1.01 - 1.0;
        assert!((p.cumulative_return - cum).abs() < 1e-12);
        assert!((p.predicted_closes[0] - 101.0).abs() < 1e-9);
        assert!((p.predicted_closes[1] - 98.98).abs() < 1e-9);
        assert!((p.predicted_closes[4] - 100.0 * (1.0 + cum)).abs() < 1e-9);
        let dates: Vec<String> = p.forecast_dates.iter().map(|d| d.to_string()).collect();
        assert_eq!(dates, ["2024-03-29", "2024-04-02", "2024-04-03", "2024-04-04", "2024-04-05"]);
        let down = assemble(&key, "v1", &bar("2024-03-28", 100.0), 0.4999, m, &cal);
        assert_eq!(down.direction, Direction::Down);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["version_id"], "v1");
        assert_eq!(json["direction"], "UP");
        assert_eq!(json["forecast_dates"][0], "2024-03-29");
        assert!(json["prob_up"].is_number() && json["magnitudes"].is_array());
        let pbp = pb::Prediction::from(p);
        assert_eq!(pbp.direction, pb::Direction::Up as i32);
        assert_eq!(pbp.as_of, "2024-03-28");
    }

    #[test]
    fn request_validation_names_the_bad_field() {
        let req = |symbol: &str, years: Option<u32>, bars: Vec<pb::Bar>| pb::PredictRequest {
            symbol: symbol.into(),
            years,
            bars,
            version_id: String::new(),
        };
        let e = PredictInput::try_from(req("", Some(1), vec![])).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        let e = PredictInput::try_from(req("AAPL", Some(11), vec![])).unwrap_err();
        assert!(e.to_string().contains("years"), "{e}");
        let bad = pb::Bar { date: "2024-02-30".into(), open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0, amount: None };
        let e = PredictInput::try_from(req("AAPL", None, vec![bad])).unwrap_err();
        assert!(e.to_string().contains("bars[0].date `2024-02-30`"), "{e}");
        let ok = PredictInput::try_from(req(" AAPL ", None, vec![])).unwrap();
        assert_eq!((ok.key.symbol.as_str(), ok.key.years, ok.bars, ok.version_id), ("AAPL", 1, None, None));
    }
}
