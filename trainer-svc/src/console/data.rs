//! What the console's pages show, read from the registry through the same functions the RPCs
//! use (runs, stored events, plots, versions, promotion history, `common::live`).
use common::live::LiveQuality;
use common::pb::{self, train_event::Event};
use common::registry::{PromotionRecord, RunRecord, RunStatus, VersionInfo};
use common::Result;
use serde::Serialize;

use crate::convert::{event_from_json, event_kind};
use crate::core::backtest::REPORT_NAME;
use crate::core::Core;

/// One row of the runs page (also the JSON of `/api/runs`).
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// Run id.
    pub run_id: String,
    /// Ticker.
    pub symbol: String,
    /// Model key years.
    pub years: u32,
    /// `pipeline`, `incremental`, `backtest`, …
    pub mode: String,
    /// `queued`, `running`, `succeeded`, …
    pub status: String,
    /// While running: the latest stage and epoch (`training epoch 7/50`); empty after.
    pub progress: String,
    /// Seconds, once ended.
    pub duration: String,
    /// The version made, or the error.
    pub outcome: String,
}

/// The latest stage and epoch of a run's stored events, as the runs page shows them.
fn progress(events: &[pb::TrainEvent]) -> String {
    let stage = events.iter().rev().find_map(|e| match &e.event {
        Some(Event::Stage(s)) => Some(s.stage.clone()),
        _ => None,
    });
    let epoch = events.iter().rev().find_map(|e| match &e.event {
        Some(Event::Epoch(ep)) => Some(format!("{} epoch {}/{}", ep.phase, ep.epoch, ep.max_epochs)),
        Some(Event::BacktestFoldProgress(f)) => Some(format!("fold {}/{}", f.fold, f.folds)),
        _ => None,
    });
    match (stage, epoch) {
        (Some(s), Some(e)) => format!("{s}: {e}"),
        (Some(s), None) => s,
        (None, Some(e)) => e,
        (None, None) => String::new(),
    }
}

async fn events(core: &Core, run_id: &str) -> Result<Vec<pb::TrainEvent>> {
    Ok(core.registry.run_events(run_id, None).await?.iter().filter_map(|(_, json)| event_from_json(json).ok()).collect())
}

/// Runs, newest first, of `symbol` (empty = all) in `state` (empty = any), at most 200.
pub async fn runs(core: &Core, symbol: &str, state: &str) -> Result<Vec<RunRow>> {
    let symbol = symbol.trim();
    let symbol = if symbol.is_empty() { None } else { Some(common::config::validate_symbol(symbol)?) };
    let mut rows = Vec::new();
    for r in core.registry.runs(symbol.as_deref(), None, 200).await? {
        if !state.is_empty() && r.status.as_str() != state {
            continue;
        }
        let progress = if r.status == RunStatus::Running { progress(&events(core, &r.run_id).await?) } else { String::new() };
        rows.push(RunRow {
            run_id: r.run_id.clone(),
            symbol: r.symbol.clone(),
            years: r.years,
            mode: r.mode.clone(),
            status: r.status.as_str().into(),
            progress,
            duration: r.duration_seconds.map(|d| format!("{d:.1} s")).unwrap_or_default(),
            outcome: match (&r.version_id, &r.error) {
                (_, Some(e)) => common::text::clip(e),
                (Some(v), None) => v.clone(),
                (None, None) => String::new(),
            },
        });
    }
    Ok(rows)
}

/// Everything the run page shows.
#[derive(Debug)]
pub struct RunPage {
    /// The run.
    pub record: RunRecord,
    /// `(seq, kind, detail)` per stored event.
    pub events: Vec<(u64, String, String)>,
    /// `(epoch, train loss, validation loss)` of the final fit's epochs.
    pub curve: Vec<(u32, f64, f64)>,
    /// PNG plot names.
    pub plots: Vec<String>,
    /// The backtest report, for a backtest run.
    pub report: Option<serde_json::Value>,
}

fn detail(e: &pb::TrainEvent) -> String {
    match &e.event {
        Some(Event::Started(s)) => format!("{} on {}", s.mode, s.device),
        Some(Event::Stage(s)) => format!("{}: {}", s.stage, s.detail),
        Some(Event::Epoch(ep)) => format!(
            "{} epoch {}/{}: loss {:.4}, val loss {:.4}",
            ep.phase, ep.epoch, ep.max_epochs, ep.train_loss, ep.val_loss
        ),
        Some(Event::Validation(v)) => format!("deploy {}: {}", v.deploy, v.reason),
        Some(Event::Completed(c)) => c.result.as_ref().map(|r| format!("version {}", r.version_id)).unwrap_or_default(),
        Some(Event::Failed(f)) => format!("{}: {}", f.code, f.message),
        Some(Event::BacktestFoldProgress(f)) => format!("fold {}/{}", f.fold, f.folds),
        _ => String::new(),
    }
}

/// The run page of `run_id` (NotFound when there is no such run).
pub async fn run(core: &Core, run_id: &str) -> Result<RunPage> {
    let record = core.registry.runs(None, Some(run_id), 1).await?.into_iter().next().ok_or_else(|| {
        common::Error::not_found(format!("training run {} not found", common::text::clip(run_id)))
    })?;
    let evs = events(core, run_id).await?;
    // The final fit's curve: the epochs of the last training phase seen.
    let last_phase = evs.iter().rev().find_map(|e| match &e.event {
        Some(Event::Epoch(ep)) => Some(ep.phase.clone()),
        _ => None,
    });
    let curve = evs
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::Epoch(ep)) if Some(&ep.phase) == last_phase.as_ref() => Some((ep.epoch, ep.train_loss, ep.val_loss)),
            _ => None,
        })
        .collect();
    let names = core.registry.plot_names(run_id).await?;
    let report = if names.iter().any(|(n, _)| n == REPORT_NAME) {
        serde_json::from_slice(&core.registry.plot(run_id, REPORT_NAME).await?).ok()
    } else {
        None
    };
    Ok(RunPage {
        events: evs.iter().map(|e| (e.seq, event_kind(e).to_string(), detail(e))).collect(),
        record,
        curve,
        plots: names.into_iter().map(|(n, _)| n).filter(|n| n.ends_with(".png") || !n.contains('.')).collect(),
        report,
    })
}

/// Everything the model page shows.
#[derive(Debug)]
pub struct ModelPage {
    /// Ticker.
    pub symbol: String,
    /// Model key years.
    pub years: u32,
    /// The current version id.
    pub current: Option<String>,
    /// Stored versions, newest first.
    pub versions: Vec<VersionInfo>,
    /// Live quality of the versions that served the key.
    pub live: Vec<LiveQuality>,
    /// Why live quality is missing, when scoring failed (the page still shows the versions).
    pub live_error: Option<String>,
    /// Promotions, oldest first.
    pub history: Vec<PromotionRecord>,
}

/// The model page of `(symbol, years)`.
pub async fn model(core: &Core, symbol: &str, years: u32) -> Result<ModelPage> {
    let symbol = common::config::validate_symbol(symbol)?;
    let years = common::config::validate_years(Some(years))?;
    let versions = core.registry.list_versions(Some(&symbol), Some(years)).await?;
    let scored = common::live::live_quality(
        &core.registry,
        &symbol,
        years,
        common::live::DEFAULT_WINDOW_DAYS,
        None,
        common::calibration::adaptive::DEFAULT_GAMMA,
    )
    .await;
    let (live, live_error) = match scored {
        Ok(live) => (live, None),
        Err(e) => {
            tracing::warn!(%symbol, years, error = %e, "console: live quality unavailable");
            (Vec::new(), Some(common::text::cap_message(e.to_string())))
        }
    };
    // The key's own current version (a pooled version may be current for another member only).
    let current = core.registry.current_version(&symbol, years).await?.map(|v| v.version_id);
    Ok(ModelPage {
        current,
        history: core.registry.promotion_history(&symbol, years).await?,
        symbol,
        years,
        versions,
        live,
        live_error,
    })
}
