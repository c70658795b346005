//! Triggered training (SPEC §8): what a trigger trains, and the optional in-process daily
//! scheduler that checks every symbol after market close.
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveTime, Utc};
use common::training::{IncrementalConfig, PipelineConfig};
use common::triggers::{check_triggers, TriggerKind, WEEKLY_MONTHS};
use common::{Error, Result};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::core::{Core, RunSpec, Work};
use crate::requests::{DateRange, TriggeredJob};

/// The run a triggered request executes, or `None` when no trigger fires (and none is forced).
///
/// weekly → incremental fine-tuning on the last 6 months (or, when the key has no current model
/// yet, the full pipeline without grid search, as the seed's fallback); monthly / quarterly /
/// performance_decay → the full pipeline with cross-validated grid search (plain training, since
/// CV only runs without the improved strategy), validation, importance and plots.
pub async fn plan(core: &Core, job: &TriggeredJob, requested_by: &str) -> Result<Option<RunSpec>> {
    let kind = match job.trigger {
        Some(k) => k,
        None => {
            let rep = check_triggers(
                &core.registry,
                &core.calendar,
                &job.symbol,
                job.as_of,
                Some(job.years),
                &core.settings().live_rule,
            )
            .await?;
            match rep.selected {
                Some(k) => k,
                None => return Ok(None),
            }
        }
    };
    let has_current = core
        .registry
        .current_version(&job.symbol, job.years)
        .await?
        .is_some();
    let work = if kind == TriggerKind::Weekly && has_current {
        Work::Incremental {
            config: IncrementalConfig {
                seed: job.seed,
                device: job.device,
                ..IncrementalConfig::default()
            },
            months: WEEKLY_MONTHS,
        }
    } else {
        let full = kind.is_full_training();
        Work::Pipeline {
            config: PipelineConfig {
                symbol: job.symbol.clone(),
                years: job.years,
                do_cv_tune: full,
                do_shap: full,
                do_plot: true,
                fast_training: job.fast_training,
                use_improved_training: !full,
                do_post_training_validation: true,
                seed: job.seed,
                device: job.device,
                max_epochs: job.max_epochs,
                ..PipelineConfig::default()
            },
            range: DateRange {
                start: None,
                end: Some(job.as_of),
            },
            keep_rejected: true,
            pool: Vec::new(),
        }
    };
    Ok(Some(RunSpec {
        symbol: job.symbol.clone(),
        years: job.years,
        mode: format!("triggered:{kind}"),
        requested_by: requested_by.to_string(),
        lease_timeout: None,
        inline_bars: None,
        work,
    }))
}

/// Parses `HH:MM` (UTC).
pub fn parse_time(s: &str) -> Result<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
        Error::invalid(format!(
            "scheduler time `{s}` is not HH:MM (UTC), e.g. 21:30"
        ))
    })
}

/// Time until the next `at` (UTC), strictly in the future.
fn until_next(at: NaiveTime) -> Duration {
    let now = Utc::now();
    let today = now.date_naive().and_time(at).and_utc();
    let next = if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    };
    (next - now).to_std().unwrap_or(Duration::from_secs(1))
}

/// Runs the triggers of every symbol (1-year key) once a day at `at` (UTC) until `shutdown`.
pub async fn run_scheduler(core: Arc<Core>, at: NaiveTime, shutdown: CancellationToken) {
    info!(%at, "daily trigger scheduler started (UTC)");
    loop {
        tokio::select! {
            _ = tokio::time::sleep(until_next(at)) => {}
            _ = shutdown.cancelled() => break,
        }
        let today = Utc::now().date_naive();
        if !core.calendar.is_trading_day(today) {
            info!(%today, "not a trading day; triggers skipped");
            continue;
        }
        let symbols = match core.registry.symbols().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "scheduler could not list symbols");
                continue;
            }
        };
        for symbol in symbols {
            if shutdown.is_cancelled() {
                break;
            }
            let job = TriggeredJob {
                symbol: symbol.clone(),
                as_of: today,
                trigger: None,
                years: 1,
                seed: None,
                device: Default::default(),
                fast_training: false,
                max_epochs: None,
            };
            match plan(&core, &job, "scheduler").await {
                Ok(Some(spec)) => {
                    if let Err(e) = core.run(spec, None, shutdown.child_token()).await.result {
                        warn!(%symbol, error = %e, "triggered training failed");
                    }
                }
                Ok(None) => info!(%symbol, "no trigger fires today"),
                Err(e) => warn!(%symbol, error = %e, "trigger check failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_time_parses_and_is_in_the_future() {
        let t = parse_time("21:30").unwrap();
        let d = until_next(t);
        assert!(d > Duration::ZERO && d <= Duration::from_secs(24 * 3600));
        assert!(parse_time("25:00")
            .unwrap_err()
            .to_string()
            .contains("HH:MM"));
    }
}
