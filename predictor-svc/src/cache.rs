//! The model cache: which model version serves each `(symbol, years)` key, loaded lazily, hot
//! swapped on promotion, and kept under a memory budget with LRU eviction.
//!
//! Each key has a [`Slot`]. Requests read the slot's `Arc<ModelHandle>` under a read lock held
//! for a pointer copy only, then run on that handle; a swap replaces the `Arc` in one write, so a
//! request either runs wholly on the old model or wholly on the new one, and the old model's
//! worker thread lives until its last request is answered. Loads (first load and reloads) of a
//! slot are serialised by an async mutex, so concurrent first requests share one load and a
//! reload never races a lazy load.
//!
//! A key whose load failed is not tried again on every request: failures back off
//! ([`LOAD_BACKOFF_START`] doubling up to [`LOAD_BACKOFF_MAX`]; a registry change or recovery
//! clears it), and requests in between get the recorded error at once. A loaded model whose
//! worker thread died is dropped and loaded again by the next request.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::calibration::{serve_quality, Calibration, ForecastQuality};
use common::features::{N_FEATURES, SEQ_LEN};
use common::key::ModelKey;
use common::model::{LoadedModel, ModelMetadata};
use common::registry::Registry;
use common::{Error, Result};

use crate::metrics::Metrics;
use crate::worker::{clone_error, BatchConfig, ModelWorker};

/// Wait after a key's first failed load before the next attempt.
pub const LOAD_BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest wait between load attempts of a failing key.
pub const LOAD_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Settings of the cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// Largest total parameter bytes of resident models; least recently used models are evicted
    /// beyond it (a single model larger than the budget is still served).
    pub budget_bytes: u64,
    /// Batching and threading of each model worker.
    pub batch: BatchConfig,
    /// Device models are loaded on.
    pub device: tch::Device,
}

/// Identifies a cached model: the key it is served under, and a pinned version when the
/// caller asked for one instead of the key's current version. The key a model is served under
/// is not what the version was trained for: that is [`ModelHandle::trained_for`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey {
    /// The key the answers are for.
    pub served: ModelKey,
    /// A specific version asked for by the caller instead of the current one.
    pub pinned: Option<String>,
}

impl CacheKey {
    /// The current version of `served`.
    pub fn current(served: ModelKey) -> CacheKey {
        CacheKey { served, pinned: None }
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.served)?;
        if let Some(v) = &self.pinned {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

/// A loaded model version: its worker thread and what it costs.
#[derive(Debug)]
pub struct ModelHandle {
    /// Registry version id.
    pub version_id: String,
    /// The key the version was trained for (from its registry record), whatever key it is
    /// served under.
    pub trained_for: ModelKey,
    /// The worker thread that owns the model.
    pub worker: ModelWorker,
    /// Parameter bytes (counted against the budget).
    pub memory_bytes: u64,
    /// When the version finished loading.
    pub loaded_at: DateTime<Utc>,
    /// Network architecture (`LSTMDualHead` | `LSTMDualHeadEnhanced`).
    pub kind: String,
    /// The version's calibration, intervals, signal threshold and quality; `None` for versions
    /// trained before them (served raw, and the answer says so).
    pub calibration: Option<Arc<Calibration>>,
}

#[derive(Default)]
struct SlotInfo {
    loading: bool,
    /// Number of load attempts of the lazy path, to let waiters reuse a failure they waited on.
    attempts: u64,
    last_failure: Option<Error>,
    last_error: Option<String>,
    failed_version: Option<String>,
    reloads_ok: u64,
    reloads_failed: u64,
    last_used_at: Option<DateTime<Utc>>,
    /// Consecutive failed loads of the lazy path (reset by a success or [`ModelCache::clear_backoff`]).
    failures: u32,
    /// No new load attempt before this instant; requests get `last_failure` instead.
    retry_after: Option<Instant>,
}

impl SlotInfo {
    /// The recorded failure while its backoff lasts.
    fn backing_off(&self, now: Instant) -> Option<Error> {
        let until = self.retry_after.filter(|t| *t > now)?;
        let e = self.last_failure.as_ref()?;
        let wait = (until - now).as_millis();
        Some(with_suffix(e, &format!(" (the load is not retried for another {wait} ms)")))
    }
}

struct Slot {
    key: CacheKey,
    model: RwLock<Option<Arc<ModelHandle>>>,
    load_lock: tokio::sync::Mutex<()>,
    info: Mutex<SlotInfo>,
    last_used: AtomicU64,
}

impl Slot {
    fn loaded(&self) -> Option<Arc<ModelHandle>> {
        self.model.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn set_model(&self, m: Option<Arc<ModelHandle>>) -> Option<Arc<ModelHandle>> {
        std::mem::replace(&mut *self.model.write().unwrap_or_else(|p| p.into_inner()), m)
    }
    fn info(&self) -> std::sync::MutexGuard<'_, SlotInfo> {
        self.info.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the cache knows about one key (for GetModelStatus / ListModels).
#[derive(Debug, Clone)]
pub struct SlotStatus {
    /// The key.
    pub key: CacheKey,
    /// `not_loaded` | `loading` | `loaded` | `failed`.
    pub state: &'static str,
    /// Version serving the key, if loaded.
    pub loaded_version_id: Option<String>,
    /// When it was loaded.
    pub loaded_at: Option<DateTime<Utc>>,
    /// Parameter bytes of the loaded model (0 when not loaded).
    pub memory_bytes: u64,
    /// Why the last load or reload failed, if it did.
    pub last_error: Option<String>,
    /// Successful hot reloads.
    pub reloads_ok: u64,
    /// Failed hot reloads.
    pub reloads_failed: u64,
    /// When a request last used the key.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Holdout quality of the loaded version (`None` when nothing is loaded).
    pub quality: Option<ForecastQuality>,
}

/// Loaded models by key, with lazy loading, hot reload and LRU eviction.
pub struct ModelCache {
    registry: Registry,
    cfg: CacheConfig,
    metrics: Metrics,
    slots: Mutex<HashMap<CacheKey, Arc<Slot>>>,
    tick: AtomicU64,
}

impl std::fmt::Debug for ModelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelCache").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl ModelCache {
    /// An empty cache loading from `registry`.
    pub fn new(registry: Registry, cfg: CacheConfig, metrics: Metrics) -> ModelCache {
        ModelCache { registry, cfg, metrics, slots: Mutex::new(HashMap::new()), tick: AtomicU64::new(0) }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self, slot: &Slot) {
        slot.last_used.store(self.tick.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
        slot.info().last_used_at = Some(Utc::now());
    }

    /// The model serving `key`, loading it on first use. Errors: no current model →
    /// `NotFound`; a pinned version of another key → `InvalidArgument`; a version that fails to
    /// load → its error (`Corrupt` for a sha256 mismatch or unreadable weights).
    pub async fn get(&self, key: &CacheKey) -> Result<Arc<ModelHandle>> {
        // A pin on the version that already serves the key reuses that model.
        if let Some(pin) = &key.pinned {
            let current = self.slots().get(&CacheKey::current(key.served.clone())).cloned();
            if let Some(slot) = current {
                if let Some(h) = slot.loaded().filter(|h| &h.version_id == pin && h.worker.is_alive()) {
                    self.touch(&slot);
                    return Ok(h);
                }
            }
        }
        let slot = self
            .slots()
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    key: key.clone(),
                    model: RwLock::new(None),
                    load_lock: tokio::sync::Mutex::new(()),
                    info: Mutex::new(SlotInfo::default()),
                    last_used: AtomicU64::new(0),
                })
            })
            .clone();
        self.touch(&slot);
        if let Some(h) = self.live(&slot) {
            return Ok(h);
        }
        if let Some(e) = slot.info().backing_off(Instant::now()) {
            return Err(e);
        }
        let attempts_before = slot.info().attempts;
        let _guard = slot.load_lock.lock().await;
        if let Some(h) = self.live(&slot) {
            return Ok(h);
        }
        {
            // Someone else's load failed while we waited: share its answer instead of retrying.
            let info = slot.info();
            if info.attempts != attempts_before {
                if let Some(e) = &info.last_failure {
                    return Err(clone_error(e));
                }
            }
        }
        {
            let mut info = slot.info();
            info.loading = true;
            info.attempts += 1;
        }
        let result = async {
            let version_id = self.resolve_version(key).await?;
            self.load_version(key, &version_id).await
        }
        .await;
        let mut info = slot.info();
        info.loading = false;
        match result {
            Ok(handle) => {
                let handle = Arc::new(handle);
                info.last_failure = None;
                info.last_error = None;
                info.failures = 0;
                info.retry_after = None;
                drop(info);
                slot.set_model(Some(handle.clone()));
                self.metrics.loads.with_label_values(&["ok"]).inc();
                tracing::info!(key = %key, version_id = %handle.version_id,
                    memory_bytes = handle.memory_bytes, "model loaded");
                self.enforce_budget(key);
                Ok(handle)
            }
            Err(e) => {
                let forget = matches!(e, Error::NotFound(_) | Error::InvalidArgument(_));
                if forget {
                    // Unknown keys and bad pins leave nothing behind.
                    drop(info);
                    self.slots().remove(key);
                } else {
                    self.metrics.loads.with_label_values(&["failed"]).inc();
                    tracing::error!(key = %key, error = %e, "model load failed");
                    info.last_error = Some(e.to_string());
                    info.last_failure = Some(clone_error(&e));
                    let backoff = LOAD_BACKOFF_START
                        .saturating_mul(1u32 << info.failures.min(10))
                        .min(LOAD_BACKOFF_MAX);
                    info.failures += 1;
                    info.retry_after = Some(Instant::now() + backoff);
                }
                Err(e)
            }
        }
    }

    /// The slot's model if its worker is still running. A dead worker (its thread panicked) is
    /// dropped from the slot and recorded, so the next load replaces it instead of every request
    /// failing on it.
    fn live(&self, slot: &Slot) -> Option<Arc<ModelHandle>> {
        let h = slot.loaded()?;
        if h.worker.is_alive() {
            return Some(h);
        }
        let mut model = slot.model.write().unwrap_or_else(|p| p.into_inner());
        if model.as_ref().is_some_and(|m| Arc::ptr_eq(m, &h)) {
            *model = None;
            drop(model);
            slot.info().last_error =
                Some(format!("model worker of version {} stopped; loading it again", h.version_id));
            tracing::error!(key = %slot.key, version_id = %h.version_id,
                "model worker died; dropping the model so the next request reloads it");
            self.update_gauges();
        }
        None
    }

    /// Lets every failing key try to load again at its next request (the registry changed or
    /// came back).
    pub fn clear_backoff(&self) {
        let slots: Vec<Arc<Slot>> = self.slots().values().cloned().collect();
        for s in slots {
            let mut info = s.info();
            info.retry_after = None;
            info.failures = 0;
        }
    }

    /// The version a key should serve: the pin (checked to belong to the key) or the current one.
    async fn resolve_version(&self, key: &CacheKey) -> Result<String> {
        match &key.pinned {
            Some(pin) => {
                let info = self
                    .registry
                    .bounded("a version lookup", self.registry.version_info(pin))
                    .await?;
                if !info.serves(&key.served.symbol, key.served.years) {
                    return Err(Error::invalid(format!(
                        "version_id {pin} belongs to {}/{}y, not {}; omit version_id to use \
                         the current version",
                        info.symbol, info.years, key.served
                    )));
                }
                Ok(pin.clone())
            }
            None => self
                .registry
                .bounded("the current version", self.registry.current_version(&key.served.symbol, key.served.years))
                .await?
                .map(|v| v.version_id)
                .ok_or_else(|| no_current_model(&key.served.symbol, key.served.years)),
        }
    }

    /// Fetches a version (the registry verifies its sha256), builds the network off the async
    /// runtime, starts its worker and runs a warm-up forward pass through it.
    pub async fn load_version(&self, key: &CacheKey, version_id: &str) -> Result<ModelHandle> {
        let t0 = std::time::Instant::now();
        let rec = self.registry.bounded("a model version", self.registry.version(version_id)).await?;
        let fetched = t0.elapsed();
        let trained_for = ModelKey { symbol: rec.info.symbol.clone(), years: rec.info.years };
        let metadata: ModelMetadata = serde_json::from_str(&rec.metadata_json).map_err(|e| {
            Error::Corrupt(format!("version {version_id}: metadata JSON is unreadable: {e}"))
        })?;
        // A pooled version serves each member with that member's normalisation and calibration.
        let metadata = if metadata.pool.is_some() { metadata.for_member(&key.served.symbol)? } else { metadata };
        let device = self.cfg.device;
        let md = metadata.clone();
        let model = tokio::task::spawn_blocking(move || {
            LoadedModel::from_artifact(&md, &rec.weights, device)
        })
        .await
        .map_err(|e| Error::internal(format!("model build task failed: {e}")))?
        .map_err(|e| match e {
            Error::Corrupt(m) => Error::Corrupt(format!("version {version_id}: {m}")),
            other => Error::Corrupt(format!("version {version_id}: cannot build the model: {other}")),
        })?;
        let built = t0.elapsed();
        let memory_bytes = model.param_bytes() as u64;
        let metrics = self.metrics.clone();
        let worker = ModelWorker::spawn(
            &format!("{}-{}y-{version_id}", trained_for.symbol, trained_for.years),
            model,
            self.cfg.batch,
            move |b| metrics.observe_batch(&b),
        )?;
        // Warm-up: the first forward pass allocates; do it before any request sees the model.
        let warm = worker.forecast(vec![0.0; SEQ_LEN * N_FEATURES]).await?;
        let f = warm.forecast;
        if !f.prob_up.is_finite() || f.magnitudes.iter().any(|m| !m.is_finite()) {
            return Err(Error::Corrupt(format!(
                "version {version_id}: warm-up forward pass produced non-finite output"
            )));
        }
        tracing::info!(key = %key, version_id, fetch_ms = fetched.as_millis() as u64,
            build_ms = (built - fetched).as_millis() as u64,
            warmup_ms = (t0.elapsed() - built).as_millis() as u64, "model version ready");
        Ok(ModelHandle {
            version_id: version_id.to_string(),
            trained_for,
            worker,
            memory_bytes,
            loaded_at: Utc::now(),
            kind: metadata.architecture.kind.to_string(),
            calibration: metadata.calibration.map(Arc::new),
        })
    }

    /// Hot reload: every loaded (unpinned) key whose current version in `current` differs from
    /// the loaded one gets the new version loaded, verified and warmed up, then swapped in. A
    /// version that fails is not swapped in and not retried until it changes again; the old
    /// model keeps serving and the failure is recorded on the key.
    pub async fn reload_changed(&self, current: &HashMap<ModelKey, String>) {
        let slots: Vec<Arc<Slot>> =
            self.slots().values().filter(|s| s.key.pinned.is_none()).cloned().collect();
        let reloads = slots.into_iter().map(|slot| async move {
            let _guard = slot.load_lock.lock().await;
            let Some(loaded) = slot.loaded() else { return };
            let Some(target) = current.get(&slot.key.served) else {
                return;
            };
            if *target == loaded.version_id
                || slot.info().failed_version.as_deref() == Some(target.as_str())
            {
                return;
            }
            match self.load_version(&slot.key, target).await {
                Ok(handle) => {
                    slot.set_model(Some(Arc::new(handle)));
                    {
                        let mut info = slot.info();
                        info.reloads_ok += 1;
                        info.last_error = None;
                        info.failed_version = None;
                    }
                    self.metrics.reloads.with_label_values(&["ok"]).inc();
                    tracing::info!(key = %slot.key, from = %loaded.version_id, to = %target,
                        "hot reload: new version swapped in");
                    self.enforce_budget(&slot.key);
                }
                Err(e) => {
                    {
                        let mut info = slot.info();
                        info.reloads_failed += 1;
                        info.failed_version = Some(target.clone());
                        info.last_error = Some(format!(
                            "reload to version {target} failed: {e}; still serving {}",
                            loaded.version_id
                        ));
                    }
                    self.metrics.reloads.with_label_values(&["failed"]).inc();
                    tracing::error!(key = %slot.key, version_id = %target, error = %e,
                        still_serving = %loaded.version_id, "hot reload failed");
                }
            }
        });
        futures::future::join_all(reloads).await;
        self.update_gauges();
    }

    /// Evicts least recently used models (never `keep`) until the budget holds.
    fn enforce_budget(&self, keep: &CacheKey) {
        loop {
            let slots: Vec<Arc<Slot>> = self.slots().values().cloned().collect();
            let loaded: Vec<(Arc<Slot>, u64)> = slots
                .into_iter()
                .filter_map(|s| s.loaded().map(|h| (s, h.memory_bytes)))
                .collect();
            let total: u64 = loaded.iter().map(|(_, b)| b).sum();
            if total <= self.cfg.budget_bytes {
                break;
            }
            let victim = loaded
                .iter()
                .filter(|(s, _)| &s.key != keep)
                .min_by_key(|(s, _)| s.last_used.load(Ordering::Relaxed));
            let Some((slot, bytes)) = victim else {
                tracing::warn!(key = %keep, total, budget = self.cfg.budget_bytes,
                    "one model is larger than the memory budget; serving it anyway");
                break;
            };
            slot.set_model(None);
            if slot.key.pinned.is_some() {
                self.slots().remove(&slot.key);
            }
            self.metrics.evictions.inc();
            tracing::info!(key = %slot.key, bytes, total, budget = self.cfg.budget_bytes,
                "evicted the least recently used model to stay under the memory budget");
        }
        self.update_gauges();
    }

    fn update_gauges(&self) {
        let slots: Vec<Arc<Slot>> = self.slots().values().cloned().collect();
        let loaded: Vec<Arc<ModelHandle>> = slots.iter().filter_map(|s| s.loaded()).collect();
        self.metrics.loaded_models.set(loaded.len() as i64);
        self.metrics.model_memory_bytes.set(loaded.iter().map(|h| h.memory_bytes as i64).sum());
    }

    fn status_of(slot: &Slot) -> SlotStatus {
        let model = slot.loaded();
        let info = slot.info();
        let state = if info.loading {
            "loading"
        } else if model.is_some() {
            "loaded"
        } else if info.last_failure.is_some() {
            "failed"
        } else {
            "not_loaded"
        };
        SlotStatus {
            key: slot.key.clone(),
            state,
            loaded_version_id: model.as_ref().map(|h| h.version_id.clone()),
            loaded_at: model.as_ref().map(|h| h.loaded_at),
            memory_bytes: model.as_ref().map_or(0, |h| h.memory_bytes),
            last_error: info.last_error.clone(),
            reloads_ok: info.reloads_ok,
            reloads_failed: info.reloads_failed,
            last_used_at: info.last_used_at,
            quality: model.as_ref().map(|h| serve_quality(h.calibration.as_deref())),
        }
    }

    /// Status of one key, if the cache has ever seen it.
    pub fn status(&self, key: &CacheKey) -> Option<SlotStatus> {
        let slot = self.slots().get(key).cloned();
        slot.map(|s| Self::status_of(&s))
    }

    /// Number of keys with a model loaded now.
    pub fn loaded_count(&self) -> usize {
        let slots: Vec<Arc<Slot>> = self.slots().values().cloned().collect();
        slots.iter().filter(|s| s.loaded().is_some_and(|h| h.worker.is_alive())).count()
    }

    /// Status of every key the cache holds, sorted by key.
    pub fn statuses(&self) -> Vec<SlotStatus> {
        let slots: Vec<Arc<Slot>> = self.slots().values().cloned().collect();
        let mut out: Vec<SlotStatus> = slots.iter().map(|s| Self::status_of(s)).collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Drops every model (their workers exit once in-flight requests are answered).
    pub fn clear(&self) {
        let slots: Vec<Arc<Slot>> = self.slots().drain().map(|(_, s)| s).collect();
        for s in slots {
            s.set_model(None);
        }
        self.update_gauges();
    }
}

/// `e` with `suffix` appended to its message (same variant).
fn with_suffix(e: &Error, suffix: &str) -> Error {
    match clone_error(e) {
        Error::InvalidArgument(m) => Error::InvalidArgument(m + suffix),
        Error::NotFound(m) => Error::NotFound(m + suffix),
        Error::FailedPrecondition(m) => Error::FailedPrecondition(m + suffix),
        Error::LeaseTimeout(m) => Error::LeaseTimeout(m + suffix),
        Error::Unavailable(m) => Error::Unavailable(m + suffix),
        Error::StorageFull(m) => Error::StorageFull(m + suffix),
        Error::Corrupt(m) => Error::Corrupt(m + suffix),
        Error::Cancelled(m) => Error::Cancelled(m + suffix),
        Error::Unauthenticated(m) => Error::Unauthenticated(m + suffix),
        Error::Aborted(m) => Error::Aborted(m + suffix),
        Error::Internal(m) => Error::Internal(m + suffix),
        other @ Error::InsufficientData { .. } => other,
    }
}

/// The NOT_FOUND error for a key without a current model.
pub fn no_current_model(symbol: &str, years: u32) -> Error {
    Error::not_found(format!(
        "no current model for {symbol}/{years}y; train one with lstm.v1.Trainer/Train"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn empty_cache() -> (tempfile::TempDir, ModelCache) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/r.db", dir.path().display());
        let registry = Registry::connect(&url).await.unwrap();
        let cfg = CacheConfig { budget_bytes: u64::MAX, batch: BatchConfig::default(), device: tch::Device::Cpu };
        (dir, ModelCache::new(registry, cfg, Metrics::new()))
    }

    #[tokio::test]
    async fn a_model_whose_worker_died_is_not_served_but_loaded_again() {
        let (_dir, cache) = empty_cache().await;
        let key = CacheKey::current(ModelKey { symbol: "DEAD".into(), years: 1 });
        let slot = Arc::new(Slot {
            key: key.clone(),
            model: RwLock::new(None),
            load_lock: tokio::sync::Mutex::new(()),
            info: Mutex::new(SlotInfo::default()),
            last_used: AtomicU64::new(0),
        });
        slot.set_model(Some(Arc::new(ModelHandle {
            version_id: "v-dead".into(),
            trained_for: key.served.clone(),
            worker: ModelWorker::dead_for_test("dead"),
            memory_bytes: 1,
            loaded_at: Utc::now(),
            kind: "LSTMDualHead".into(),
            calibration: None,
        })));
        cache.slots().insert(key.clone(), slot);
        assert_eq!(cache.loaded_count(), 0, "a dead worker does not count as loaded");
        // The dead model is dropped and a fresh load is attempted (here: no current version).
        let e = cache.get(&key).await.unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
    }

    #[test]
    fn failures_back_off_with_the_recorded_error() {
        let now = Instant::now();
        let info = SlotInfo {
            last_failure: Some(Error::Corrupt("version v: sha256 mismatch".into())),
            retry_after: Some(now + Duration::from_millis(800)),
            ..SlotInfo::default()
        };
        let e = info.backing_off(now).unwrap();
        assert!(matches!(e, Error::Corrupt(_)), "{e}");
        assert!(e.to_string().contains("sha256 mismatch") && e.to_string().contains("not retried"), "{e}");
        assert!(info.backing_off(now + Duration::from_secs(1)).is_none(), "the wait is over");
    }
}
