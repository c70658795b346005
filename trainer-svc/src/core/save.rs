//! Saving what a run produced: the new version (current when deployed, kept as non-current
//! when rejected and `keep_rejected`), its plots, and the run's `TrainResult` (sent as the
//! `Completed` event).
use std::collections::BTreeMap;

use chrono::Utc;
use common::pb::{self, train_event::Event};
use common::registry::{LeaseFence, NewVersion, Promotion, Registry};
use common::Result;
use tracing::warn;

use super::data::RunRange;
use super::lifecycle::EventSink;
use super::spec::RunSpec;
use crate::convert;
use crate::engine::EngineOutcome;

/// Identity recorded on promotions made by training.
pub const ACTOR: &str = "trainer-svc";

/// A new version id: `SYMBOL-Ny-YYYYMMDDTHHMMSSZ-xxxxxxxx`.
pub fn new_version_id(symbol: &str, years: u32) -> String {
    let short = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{symbol}-{years}y-{}-{}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        &short[..8]
    )
}

/// Stores the outcome of `spec` trained on `data` and emits `Completed` with the result.
pub async fn save(
    registry: &Registry,
    spec: &RunSpec,
    sink: &mut EventSink,
    data: &RunRange,
    mut outcome: EngineOutcome,
    current_id: Option<String>,
) -> Result<pb::TrainResult> {
    // The engine announced the `saving` stage; the registry write follows.
    let model_kind = outcome.metadata.architecture.kind.as_str().to_string();
    let mut version_id = String::new();
    let promotions = promotions(spec, &outcome);
    if !promotions.is_empty() || spec.keep_rejected() {
        let id = new_version_id(&spec.symbol, spec.years);
        let note = note(&outcome);
        let metrics: BTreeMap<String, f64> = outcome
            .metrics
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        // Fenced: stored only while this run still holds every symbol's lease (a replica paused
        // past the TTL must not store a version after another took a symbol over).
        let fences: Vec<LeaseFence> = spec
            .lease_symbols()
            .into_iter()
            .map(|symbol| LeaseFence { symbol, holder: sink.run_id().to_string() })
            .collect();
        let pool_symbols = outcome.pool.iter().map(|m| m.symbol.clone()).collect();
        let save = registry.save_pooled_version(
            NewVersion {
                version_id: id.clone(),
                symbol: spec.symbol.clone(),
                years: spec.years,
                model_kind: model_kind.clone(),
                data_start: data.data_start,
                data_end: data.data_end,
                training_seconds: outcome.training_seconds.max(0.0),
                metadata_json: serde_json::to_string(&outcome.metadata)?,
                metrics,
                weights: std::mem::take(&mut outcome.weights),
                note,
                pool_symbols,
            },
            promotions,
            &fences,
        );
        registry.bounded("storing the version", save).await?;
        version_id = id;
    }
    let plots = save_plots(registry, sink.run_id(), &outcome.plots).await;
    let result = train_result(spec, data, outcome, version_id, current_id.as_deref(), plots);
    sink.emit(Event::Completed(pb::Completed {
        result: Some(result.clone()),
    }))
    .await;
    Ok(result)
}

/// The keys the new version becomes current for: its own when deployed, and each pool member
/// whose holdout passed the deploy rule.
fn promotions(spec: &RunSpec, outcome: &EngineOutcome) -> Vec<(String, Promotion)> {
    let promotion = |reason: &str| Promotion { actor: ACTOR.into(), reason: reason.to_string() };
    if outcome.pool.is_empty() {
        return if outcome.deploy { vec![(spec.symbol.clone(), promotion(&outcome.reason))] } else { Vec::new() };
    }
    outcome
        .pool
        .iter()
        .filter(|m| m.deploy.deploy)
        .map(|m| (m.symbol.clone(), promotion(&format!("pooled: {}", m.deploy.reason))))
        .collect()
}

/// The stored version's note: why it is not current (for a pool: for which members).
fn note(outcome: &EngineOutcome) -> String {
    if outcome.pool.is_empty() {
        return if outcome.deploy { String::new() } else { format!("not deployed: {}", outcome.reason) };
    }
    let rejected: Vec<String> = outcome
        .pool
        .iter()
        .filter(|m| !m.deploy.deploy)
        .map(|m| format!("{}: {}", m.symbol, m.deploy.reason))
        .collect();
    if rejected.is_empty() {
        String::new()
    } else {
        format!("not deployed for {}", rejected.join("; "))
    }
}

/// Stores the run's PNGs; one that cannot be stored is logged and left out.
async fn save_plots(registry: &Registry, run_id: &str, plots: &[(String, Vec<u8>)]) -> Vec<pb::PlotRef> {
    let mut refs = Vec::new();
    for (name, png) in plots {
        match registry.bounded("storing a plot", registry.save_plot(run_id, name, png)).await {
            Ok(()) => refs.push(pb::PlotRef {
                run_id: run_id.to_string(),
                name: name.clone(),
                size_bytes: png.len() as u64,
            }),
            Err(e) => warn!(plot = %name, error = %e, "could not store plot"),
        }
    }
    refs
}

/// The run's result message.
fn train_result(
    spec: &RunSpec,
    data: &RunRange,
    outcome: EngineOutcome,
    version_id: String,
    current_id: Option<&str>,
    plots: Vec<pb::PlotRef>,
) -> pb::TrainResult {
    let md = &outcome.metadata;
    pb::TrainResult {
        symbol: spec.symbol.clone(),
        years: spec.years,
        version_id,
        deployed: outcome.deploy,
        decision_reason: outcome.reason.clone(),
        n_samples: outcome.n_samples as u32,
        n_features: md.feature_names.len() as u32,
        feature_names: md.feature_names.clone(),
        data_start: data.data_start.to_string(),
        data_end: data.data_end.to_string(),
        model_kind: md.architecture.kind.as_str().to_string(),
        hyperparameters_json: md.hyperparameters.to_string(),
        metrics: outcome
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), if v.is_finite() { *v } else { 0.0 }))
            .collect(),
        diagnostics_json: serde_json::json!({
            "model": md.diagnostics,
            "bars_in_range": data.bars_in_range,
        })
        .to_string(),
        validation: outcome.validation.as_ref().map(|(cand, cur)| {
            let gate = convert::BaselineView {
                quality: md.calibration.as_ref().and_then(|c| c.quality.as_ref()),
                baselines: &outcome.baselines,
                require_beats_baseline: md.hyperparameters["require_beats_baseline"].as_bool().unwrap_or(false),
            };
            convert::validation_to_pb(cand, cur.as_ref(), current_id, outcome.deploy, &outcome.reason, &gate)
        }),
        feature_importance: md
            .feature_importance
            .iter()
            .map(convert::importance_to_pb)
            .collect(),
        plots,
        cross_validation_json: outcome
            .cross_validation
            .map(|v| v.to_string())
            .unwrap_or_default(),
        training_seconds: outcome.training_seconds,
        pool_members: outcome
            .pool
            .iter()
            .map(|m| pb::PoolMemberResult {
                symbol: m.symbol.clone(),
                deployed: m.deploy.deploy,
                decision_reason: m.deploy.reason.clone(),
                n_samples: m.n_samples as u32,
                metrics: m.metrics.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            })
            .collect(),
    }
}
