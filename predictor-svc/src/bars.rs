//! Recent bars held in memory per served symbol, so loaded models keep answering while the
//! registry is down.
//!
//! The first forecast of a symbol reads its last [`HISTORY_BARS`] bars from the registry and keeps
//! them. Later forecasts use the held copy while it is known to be current: the reload poller
//! reads the registry's bars generation (bumped by every ingest) and [`BarStore::refresh_changed`]
//! re-reads every held symbol when it moves. While the registry does not answer, held bars keep
//! serving and each answer says how old they are ([`BarsView`]): `bars_as_of` is the last time
//! the predictor confirmed them current.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::data::Bar;
use common::registry::Registry;
use common::{Error, Result};

/// Bars a forecast looks at: the 60-day window plus indicator warm-up (EMA26 + EMA9 settle well
/// within 140 days). Registry and inline bars are cut to the same tail so the same market
/// history gives the same forecast whichever way it arrives.
pub const HISTORY_BARS: usize = common::features::HISTORY_BARS;
/// Calendar days fetched from the registry to get [`HISTORY_BARS`] trading days.
const HISTORY_CALENDAR_DAYS: i64 = 320;

/// Where the bars of an answer came from (`Prediction.bars_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarsSource {
    /// Read from the registry for this answer.
    Registry,
    /// The predictor's copy, confirmed current by its last registry poll.
    Memory,
    /// The predictor's copy while the registry does not answer (or has newer bars that could
    /// not be read): possibly older than the registry's.
    MemoryStale,
    /// Sent with the request.
    Inline,
}

impl BarsSource {
    /// The wire name: `registry` | `memory` | `memory:stale` | `inline`.
    pub fn as_str(self) -> &'static str {
        match self {
            BarsSource::Registry => "registry",
            BarsSource::Memory => "memory",
            BarsSource::MemoryStale => "memory:stale",
            BarsSource::Inline => "inline",
        }
    }
}

/// The bars of one answer and how current they are.
#[derive(Debug, Clone)]
pub struct BarsView {
    /// The last [`HISTORY_BARS`] bars, ascending.
    pub bars: Arc<Vec<Bar>>,
    /// Where they came from.
    pub source: BarsSource,
    /// When they were last known to match the registry (`None` for inline bars).
    pub as_of: Option<DateTime<Utc>>,
}

impl BarsView {
    /// Seconds since [`BarsView::as_of`] (0 for inline bars).
    pub fn age_seconds(&self) -> f64 {
        self.as_of.map_or(0.0, |t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
    }
}

struct Held {
    bars: Arc<Vec<Bar>>,
    /// Bars generation the copy was read under.
    generation: Option<i64>,
    fetched_at: DateTime<Utc>,
}

#[derive(Default)]
struct RegistryView {
    /// Last bars generation the poller read.
    generation: Option<i64>,
    /// When the poller last read it.
    confirmed_at: Option<DateTime<Utc>>,
    /// Whether the last registry call (poll or request) answered.
    down: bool,
}

/// Per-symbol recent bars and the registry's last known state.
pub struct BarStore {
    registry: Registry,
    held: Mutex<HashMap<String, Held>>,
    view: Mutex<RegistryView>,
}

impl std::fmt::Debug for BarStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BarStore").finish_non_exhaustive()
    }
}

impl BarStore {
    /// An empty store reading from `registry` (whose [`Registry::bounded`] deadline applies).
    pub fn new(registry: Registry) -> BarStore {
        BarStore { registry, held: Mutex::new(HashMap::new()), view: Mutex::new(RegistryView::default()) }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn view(&self) -> std::sync::MutexGuard<'_, RegistryView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the last registry call answered.
    pub fn registry_up(&self) -> bool {
        !self.view().down
    }

    /// Records that the registry answered a poll with bars generation `generation`.
    pub fn confirm(&self, generation: i64) {
        let mut v = self.view();
        v.generation = Some(generation);
        v.confirmed_at = Some(Utc::now());
        v.down = false;
    }

    /// Records that a registry call failed with `Unavailable`: requests stop waiting for it and
    /// serve held bars until the next successful poll.
    pub fn mark_down(&self) {
        self.view().down = true;
    }

    /// The recent bars of `symbol`: the held copy while it is current (or while the registry is
    /// down), else a registry read. A symbol without held bars during an outage is
    /// `Unavailable` (within the registry deadline); one without stored bars is
    /// `FailedPrecondition`.
    pub async fn recent(&self, symbol: &str) -> Result<BarsView> {
        let (generation, confirmed_at, down) = {
            let v = self.view();
            (v.generation, v.confirmed_at, v.down)
        };
        let held = self.held().get(symbol).map(|h| (h.bars.clone(), h.generation, h.fetched_at));
        if let Some((bars, held_gen, fetched_at)) = &held {
            if held_gen.is_some() && *held_gen == generation && !down {
                return Ok(BarsView { bars: bars.clone(), source: BarsSource::Memory, as_of: confirmed_at });
            }
            if down {
                let as_of = stale_as_of(*held_gen, generation, confirmed_at, *fetched_at);
                return Ok(BarsView { bars: bars.clone(), source: BarsSource::MemoryStale, as_of: Some(as_of) });
            }
        }
        match self.fetch(symbol, generation).await {
            Ok(view) => Ok(view),
            Err(e @ Error::Unavailable(_)) => {
                self.mark_down();
                match held {
                    Some((bars, held_gen, fetched_at)) => {
                        let as_of = stale_as_of(held_gen, generation, confirmed_at, fetched_at);
                        Ok(BarsView { bars, source: BarsSource::MemoryStale, as_of: Some(as_of) })
                    }
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Reads `symbol`'s recent bars from the registry and holds them under `generation`.
    async fn fetch(&self, symbol: &str, generation: Option<i64>) -> Result<BarsView> {
        let hint = self.held().get(symbol).and_then(|h| h.bars.last().map(|b| b.date));
        let bars = self
            .registry
            .bounded(&format!("the bars of {symbol}"), read_recent(&self.registry, symbol, hint))
            .await?;
        let bars = Arc::new(bars);
        let now = Utc::now();
        self.held().insert(
            symbol.to_string(),
            Held { bars: bars.clone(), generation, fetched_at: now },
        );
        Ok(BarsView { bars, source: BarsSource::Registry, as_of: Some(now) })
    }

    /// Re-reads every held symbol whose copy predates bars generation `generation` (called by
    /// the poller after [`BarStore::confirm`]). A symbol that fails keeps its old copy, served as
    /// `memory:stale` until a later refresh succeeds. Returns how many were refreshed.
    pub async fn refresh_changed(&self, generation: i64) -> usize {
        let stale: Vec<String> = self
            .held()
            .iter()
            .filter(|(_, h)| h.generation != Some(generation))
            .map(|(s, _)| s.clone())
            .collect();
        let mut refreshed = 0;
        for symbol in stale {
            match self.fetch(&symbol, Some(generation)).await {
                Ok(_) => refreshed += 1,
                Err(Error::FailedPrecondition(_)) => {
                    // Its bars were deleted: nothing left to serve from.
                    self.held().remove(&symbol);
                }
                Err(e) => {
                    tracing::warn!(symbol, error = %e, "cannot refresh held bars; serving the old copy");
                    if matches!(e, Error::Unavailable(_)) {
                        self.mark_down();
                        break;
                    }
                }
            }
        }
        refreshed
    }

    /// Oldest [`BarsView::age_seconds`] among held symbols (0 when none are held).
    pub fn oldest_age_seconds(&self) -> f64 {
        let (generation, confirmed_at) = {
            let v = self.view();
            (v.generation, v.confirmed_at)
        };
        let now = Utc::now();
        self.held()
            .values()
            .map(|h| stale_as_of(h.generation, generation, confirmed_at, h.fetched_at))
            .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
            .fold(0.0, f64::max)
    }
}

/// When a held copy was last known current: the last poll if it was read under the generation
/// that poll saw, else when it was read.
fn stale_as_of(
    held_gen: Option<i64>,
    generation: Option<i64>,
    confirmed_at: Option<DateTime<Utc>>,
    fetched_at: DateTime<Utc>,
) -> DateTime<Utc> {
    match confirmed_at {
        Some(c) if held_gen.is_some() && held_gen == generation => c.max(fetched_at),
        _ => fetched_at,
    }
}

/// The last [`HISTORY_BARS`] stored bars of `symbol`; `hint` (the last bar date seen before)
/// lets the read start near the end instead of at the first bar.
async fn read_recent(registry: &Registry, symbol: &str, hint: Option<NaiveDate>) -> Result<Vec<Bar>> {
    if let Some(last) = hint {
        let from = last - Duration::days(HISTORY_CALENDAR_DAYS);
        let bars = registry.bars(symbol, Some(from), None).await?;
        if bars.len() >= HISTORY_BARS {
            return Ok(tail(bars));
        }
    }
    let bars = registry.bars(symbol, None, None).await?;
    if bars.is_empty() {
        return Err(Error::FailedPrecondition(format!(
            "no bars stored for {symbol}; ingest them with lstm.v1.Trainer/IngestBars or pass \
             bars inline in the request"
        )));
    }
    Ok(tail(bars))
}

/// The last [`HISTORY_BARS`] of `bars`.
pub fn tail(mut bars: Vec<Bar>) -> Vec<Bar> {
    if bars.len() > HISTORY_BARS {
        bars.drain(..bars.len() - HISTORY_BARS);
    }
    bars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_copy_is_as_old_as_the_last_poll_that_saw_its_generation() {
        let t0 = Utc::now() - Duration::seconds(30);
        let poll = Utc::now() - Duration::seconds(5);
        assert_eq!(stale_as_of(Some(3), Some(3), Some(poll), t0), poll);
        // Read under an older generation: only as current as the read itself.
        assert_eq!(stale_as_of(Some(2), Some(3), Some(poll), t0), t0);
        assert_eq!(stale_as_of(None, None, None, t0), t0);
        assert_eq!(BarsSource::MemoryStale.as_str(), "memory:stale");
    }
}
