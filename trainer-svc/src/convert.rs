//! Conversions between domain values and protocol messages, and the stored form of run events.
use common::baselines::BaselineScore;
use common::calibration::ForecastQuality;
use common::evaluation::{FeatureImportance, HoldoutMetrics};
use common::backtest::{BacktestEvent, FoldSummary};
use common::pb::{self, backtest_fold_progress::Progress, train_event::Event};
use common::registry::{RunRecord, VersionInfo};
use common::training::events::{CvTrialEnd, TrainEvent};
use common::{Error, Result};
use prost::Message;

/// The first [`common::data::csv::LISTED_BAD_ROWS`] skipped rows of an ingest, for its response
/// (`bad_rows_skipped` counts them all).
pub fn listed_bad_rows(rows: &[common::data::BadRow]) -> Vec<pb::BadRow> {
    rows.iter()
        .take(common::data::csv::LISTED_BAD_ROWS)
        .map(|b| pb::BadRow { row: b.row as u32, field: b.field.clone(), reason: b.reason.clone() })
        .collect()
}

/// Holdout metrics as the protocol message.
pub fn holdout_to_pb(m: &HoldoutMetrics) -> pb::HoldoutMetrics {
    let HoldoutMetrics {
        accuracy,
        f1,
        mse,
        mae,
        rmse,
        direction_accuracy,
        n_samples,
        auc,
    } = m;
    pb::HoldoutMetrics {
        accuracy: *accuracy,
        f1: *f1,
        mse: *mse,
        mae: *mae,
        rmse: *rmse,
        direction_accuracy: *direction_accuracy,
        n_samples: *n_samples as u32,
        auc: auc.filter(|a| a.is_finite()),
    }
}

/// One feature's importance as the protocol message.
pub fn importance_to_pb(f: &FeatureImportance) -> pb::FeatureImportance {
    pb::FeatureImportance {
        name: f.name.clone(),
        alias: f.alias.clone().unwrap_or_default(),
        permutation: f.permutation,
        integrated_gradients: f.integrated_gradients,
    }
}

/// NaN/inf cannot travel in JSON and confuse clients: report them as 0.
fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// How a CV trial ended, as the protocol message.
fn trial_to_pb(t: CvTrialEnd) -> pb::CvTrialResult {
    let CvTrialEnd {
        pruned,
        objective,
        fold_objectives,
        best_objective,
        best_trial,
        seconds,
    } = t;
    pb::CvTrialResult {
        state: if pruned { "pruned" } else { "complete" }.into(),
        objective: finite(objective),
        fold_objectives: fold_objectives.into_iter().map(finite).collect(),
        best_objective: best_objective.filter(|b| b.is_finite()),
        best_trial: best_trial.unwrap_or(0),
        seconds,
    }
}

/// A training-engine event as the protocol `oneof`.
pub fn engine_event_to_pb(ev: TrainEvent, current_version_id: Option<&str>) -> Event {
    match ev {
        TrainEvent::Stage { stage, detail } => Event::Stage(pb::StageChanged { stage, detail }),
        TrainEvent::CvFold {
            combination,
            combinations,
            fold,
            folds,
            lr,
            hidden_size,
            epochs,
            f1,
            mse,
            accuracy,
            auc,
            dropout,
            batch_size,
            trial,
        } => Event::CvFold(pb::CvFold {
            combination,
            combinations,
            fold,
            folds,
            lr,
            hidden_size,
            epochs,
            f1: finite(f1),
            mse: finite(mse),
            accuracy: finite(accuracy),
            auc: auc.filter(|a| a.is_finite()),
            dropout,
            batch_size,
            trial: trial.map(trial_to_pb),
        }),
        TrainEvent::CvSummary {
            best_lr,
            best_hidden_size,
            best_epochs,
            best_score,
            search,
            cv_metric,
            best_objective,
            best_dropout,
            best_batch_size,
            best_trial,
            trials_run,
            pruned_trials,
            stopped_by,
        } => Event::CvSummary(pb::CvSummary {
            best_lr,
            best_hidden_size,
            best_epochs,
            best_score: finite(best_score),
            search,
            cv_metric,
            best_objective: finite(best_objective),
            best_dropout,
            best_batch_size,
            best_trial,
            trials_run,
            pruned_trials,
            stopped_by,
        }),
        TrainEvent::Epoch {
            phase,
            epoch,
            max_epochs,
            train_loss,
            train_cls_loss,
            train_reg_loss,
            val_loss,
            val_volatility_match,
            val_accuracy,
            lr,
            seconds,
            improved,
        } => Event::Epoch(pb::Epoch {
            phase,
            epoch,
            max_epochs,
            train_loss: finite(train_loss),
            train_cls_loss: finite(train_cls_loss),
            train_reg_loss: finite(train_reg_loss),
            val_loss: finite(val_loss),
            val_volatility_match: finite(val_volatility_match),
            val_accuracy: finite(val_accuracy),
            lr,
            seconds,
            improved,
        }),
        TrainEvent::Validation {
            candidate,
            current,
            deploy,
            reason,
            quality,
            baselines,
            require_beats_baseline,
        } => Event::Validation(validation_to_pb(
            &candidate,
            current.as_ref(),
            current_version_id,
            deploy,
            &reason,
            &BaselineView { quality: quality.as_ref(), baselines: &baselines, require_beats_baseline },
        )),
    }
}

/// The candidate's quality and the baselines of a validation (issue 11's gate).
#[derive(Debug, Clone, Copy)]
pub struct BaselineView<'a> {
    /// The candidate's holdout quality.
    pub quality: Option<&'a ForecastQuality>,
    /// Base-rate and linear baselines on the holdout.
    pub baselines: &'a [BaselineScore],
    /// Whether the gate decided.
    pub require_beats_baseline: bool,
}

/// The validation comparison and decision as the protocol message.
pub fn validation_to_pb(
    candidate: &HoldoutMetrics,
    current: Option<&HoldoutMetrics>,
    current_version_id: Option<&str>,
    deploy: bool,
    reason: &str,
    gate: &BaselineView<'_>,
) -> pb::ValidationDecision {
    pb::ValidationDecision {
        candidate: Some(holdout_to_pb(candidate)),
        current: current.map(holdout_to_pb),
        current_version_id: current.and(current_version_id).map(str::to_string),
        deploy,
        reason: reason.to_string(),
        quality: gate.quality.map(Into::into),
        baselines: gate.baselines.iter().map(Into::into).collect(),
        require_beats_baseline: gate.require_beats_baseline,
    }
}

/// A stored version's metadata as the protocol message.
pub fn version_to_pb(v: &VersionInfo) -> pb::VersionInfo {
    pb::VersionInfo {
        version_id: v.version_id.clone(),
        symbol: v.symbol.clone(),
        years: v.years,
        created_at: v.created_at.to_rfc3339(),
        training_seconds: v.training_seconds,
        data_start: v.data_start.to_string(),
        data_end: v.data_end.to_string(),
        model_kind: v.model_kind.clone(),
        is_current: v.is_current,
        metrics: v.metrics.iter().map(|(k, x)| (k.clone(), *x)).collect(),
        weights_sha256: v.weights_sha256.clone(),
        weights_bytes: v.weights_bytes,
        note: v.note.clone(),
        pool_symbols: v.pool_symbols.clone(),
    }
}

/// A stored run as the protocol message.
pub fn run_to_pb(r: &RunRecord, plots: Vec<pb::PlotRef>) -> pb::TrainingRun {
    pb::TrainingRun {
        run_id: r.run_id.clone(),
        symbol: r.symbol.clone(),
        years: r.years,
        mode: r.mode.clone(),
        status: r.status.as_str().to_string(),
        started_at: r.started_at.to_rfc3339(),
        finished_at: r.finished_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        duration_seconds: r.duration_seconds.unwrap_or(0.0),
        version_id: r.version_id.clone().unwrap_or_default(),
        error: r.error.clone().unwrap_or_default(),
        config_json: r.config_json.clone(),
        plots,
        requested_by: r.requested_by.clone(),
    }
}

/// Short name of an event's kind (`queued`, `started`, `stage`, ..., `failed`).
pub fn event_kind(ev: &pb::TrainEvent) -> &'static str {
    match &ev.event {
        Some(Event::Queued(_)) => "queued",
        Some(Event::Started(_)) => "started",
        Some(Event::Stage(_)) => "stage",
        Some(Event::CvFold(_)) => "cv_fold",
        Some(Event::CvSummary(_)) => "cv_summary",
        Some(Event::Epoch(_)) => "epoch",
        Some(Event::Validation(_)) => "validation",
        Some(Event::Completed(_)) => "completed",
        Some(Event::Failed(_)) => "failed",
        Some(Event::BacktestFoldStarted(_)) => "backtest_fold_started",
        Some(Event::BacktestFoldProgress(_)) => "backtest_fold_progress",
        Some(Event::BacktestFoldResult(_)) => "backtest_fold_result",
        Some(Event::BacktestCompleted(_)) => "backtest_completed",
        None => "none",
    }
}

/// Whether the event ends its run (`completed`, `backtest_completed` or `failed`).
pub fn is_terminal(ev: &pb::TrainEvent) -> bool {
    matches!(ev.event, Some(Event::Completed(_)) | Some(Event::BacktestCompleted(_)) | Some(Event::Failed(_)))
}

/// The stored JSON form of an event: readable `kind` / `detail` for people querying the
/// registry, and the exact protobuf bytes (`pb`, hex) that AttachRun replays.
pub fn event_to_json(ev: &pb::TrainEvent) -> String {
    serde_json::json!({
        "seq": ev.seq,
        "timestamp_ms": ev.timestamp_ms,
        "kind": event_kind(ev),
        "detail": format!("{:?}", ev.event),
        "pb": hex::encode(ev.encode_to_vec()),
    })
    .to_string()
}

/// Decodes [`event_to_json`].
pub fn event_from_json(s: &str) -> Result<pb::TrainEvent> {
    let v: serde_json::Value = serde_json::from_str(s)?;
    let hex_str = v
        .get("pb")
        .and_then(|p| p.as_str())
        .ok_or_else(|| Error::Corrupt("stored run event has no `pb` field".into()))?;
    let bytes = hex::decode(hex_str)
        .map_err(|e| Error::Corrupt(format!("stored run event is not hex: {e}")))?;
    pb::TrainEvent::decode(bytes.as_slice())
        .map_err(|e| Error::Corrupt(format!("stored run event does not decode: {e}")))
}

/// A training result as JSON (proto field names), for the CLI.
pub fn result_json(r: &pb::TrainResult) -> serde_json::Value {
    let metrics_json = |m: &pb::HoldoutMetrics| {
        serde_json::json!({
            "accuracy": m.accuracy, "f1": m.f1, "mse": m.mse, "mae": m.mae, "rmse": m.rmse,
            "direction_accuracy": m.direction_accuracy, "n_samples": m.n_samples, "auc": m.auc,
        })
    };
    let parse =
        |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "symbol": r.symbol,
        "years": r.years,
        "version_id": r.version_id,
        "deployed": r.deployed,
        "decision_reason": r.decision_reason,
        "n_samples": r.n_samples,
        "n_features": r.n_features,
        "feature_names": r.feature_names,
        "data_start": r.data_start,
        "data_end": r.data_end,
        "model_kind": r.model_kind,
        "hyperparameters": parse(&r.hyperparameters_json),
        "metrics": r.metrics.iter().collect::<std::collections::BTreeMap<_, _>>(),
        "diagnostics": parse(&r.diagnostics_json),
        "validation": r.validation.as_ref().map(|v| serde_json::json!({
            "candidate": v.candidate.as_ref().map(metrics_json),
            "current": v.current.as_ref().map(metrics_json),
            "current_version_id": v.current_version_id,
            "deploy": v.deploy,
            "reason": v.reason,
        })),
        "feature_importance": r.feature_importance.iter().map(|f| serde_json::json!({
            "name": f.name, "alias": f.alias, "permutation": f.permutation,
            "integrated_gradients": f.integrated_gradients,
        })).collect::<Vec<_>>(),
        "plots": r.plots.iter().map(|p| serde_json::json!({
            "run_id": p.run_id, "name": p.name, "size_bytes": p.size_bytes,
        })).collect::<Vec<_>>(),
        "cross_validation": parse(&r.cross_validation_json),
        "training_seconds": r.training_seconds,
        "pool_members": r.pool_members.iter().map(|m| serde_json::json!({
            "symbol": m.symbol, "deployed": m.deployed, "decision_reason": m.decision_reason,
            "n_samples": m.n_samples, "metrics": m.metrics.iter().collect::<std::collections::BTreeMap<_, _>>(),
        })).collect::<Vec<_>>(),
    })
}

// ---- Backtest events ----

fn fold_started(fold: u32, folds: u32, origin: chrono::NaiveDate, s: chrono::NaiveDate, e: chrono::NaiveDate, n: usize) -> Event {
    Event::BacktestFoldStarted(pb::BacktestFoldStarted {
        fold,
        folds,
        origin: origin.to_string(),
        test_start: s.to_string(),
        test_end: e.to_string(),
        train_samples: n as u32,
    })
}

fn fold_result(fold: u32, folds: u32, s: &FoldSummary) -> Event {
    Event::BacktestFoldResult(pb::BacktestFoldResult {
        fold,
        folds,
        origin: s.origin.to_string(),
        test_start: s.test_start.to_string(),
        test_end: s.test_end.to_string(),
        n: s.n as u32,
        n_train: s.n_train as u32,
        epochs_run: s.epochs_run,
        seconds: s.seconds,
        metrics_json: serde_json::to_string(&s.metrics).unwrap_or_default(),
    })
}

/// The protocol event of a backtest progress event.
pub fn backtest_event_to_pb(ev: BacktestEvent, folds: u32) -> Event {
    match ev {
        BacktestEvent::FoldStarted { fold, folds, origin, test_start, test_end, train_samples } => {
            fold_started(fold, folds, origin, test_start, test_end, train_samples)
        }
        BacktestEvent::Training { fold, event } => {
            let progress = match engine_event_to_pb(event, None) {
                Event::Stage(s) => Progress::Stage(s),
                Event::Epoch(e) => Progress::Epoch(e),
                Event::CvFold(c) => Progress::CvFold(c),
                Event::CvSummary(c) => Progress::CvSummary(c),
                Event::Validation(v) => Progress::Validation(v),
                other => Progress::Stage(pb::StageChanged { stage: "training".into(), detail: format!("{other:?}") }),
            };
            Event::BacktestFoldProgress(pb::BacktestFoldProgress { fold, folds, progress: Some(progress) })
        }
        BacktestEvent::FoldCompleted { fold, folds, summary } => fold_result(fold, folds, &summary),
    }
}

/// The Backtest stream's event of a stored run event (`None` for kinds a backtest never emits).
pub fn to_backtest_event(ev: pb::TrainEvent) -> Option<pb::BacktestEvent> {
    use pb::backtest_event::Event as B;
    let event = match ev.event? {
        Event::Queued(q) => B::Queued(q),
        Event::Started(s) => B::Started(s),
        Event::Stage(s) => B::Stage(s),
        Event::BacktestFoldStarted(f) => B::FoldStarted(f),
        Event::BacktestFoldProgress(f) => B::FoldProgress(f),
        Event::BacktestFoldResult(f) => B::FoldResult(f),
        Event::BacktestCompleted(c) => B::Completed(c),
        Event::Failed(f) => B::Failed(f),
        Event::CvFold(_) | Event::CvSummary(_) | Event::Epoch(_) | Event::Validation(_) | Event::Completed(_) => return None,
    };
    Some(pb::BacktestEvent {
        run_id: ev.run_id,
        symbol: ev.symbol,
        years: ev.years,
        seq: ev.seq,
        timestamp_ms: ev.timestamp_ms,
        event: Some(event),
    })
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_events_round_trip() {
        let ev = pb::TrainEvent {
            run_id: "r1".into(),
            symbol: "AAPL".into(),
            years: 2,
            seq: 7,
            timestamp_ms: 1_700_000_000_000,
            event: Some(Event::Stage(pb::StageChanged {
                stage: "training".into(),
                detail: "x".into(),
            })),
        };
        let json = event_to_json(&ev);
        assert!(json.contains("\"kind\":\"stage\""), "{json}");
        assert_eq!(event_from_json(&json).unwrap(), ev);
        assert!(matches!(
            event_from_json("{\"pb\":\"zz\"}"),
            Err(Error::Corrupt(_))
        ));
    }

    #[test]
    fn nan_validation_metrics_become_zero() {
        let ev = TrainEvent::Epoch {
            phase: "cv".into(),
            epoch: 1,
            max_epochs: 2,
            train_loss: 1.0,
            train_cls_loss: 0.5,
            train_reg_loss: 0.5,
            val_loss: f64::NAN,
            val_volatility_match: f64::NAN,
            val_accuracy: f64::NAN,
            lr: 1e-3,
            seconds: 0.1,
            improved: false,
        };
        let Event::Epoch(e) = engine_event_to_pb(ev, None) else {
            panic!()
        };
        assert_eq!((e.val_loss, e.train_loss), (0.0, 1.0));
    }
}
