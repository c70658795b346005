//! The Backtest request: parsed into a [`BacktestJob`] with the same recipe parser as Train.
use common::backtest::BacktestConfig;
use common::data::{bars_from_pb, drop_repeated_bars, Bar};
use common::pb;
use common::{Error, Result};

use super::TrainJob;

/// Mode recorded for backtest runs.
pub const BACKTEST_MODE: &str = "backtest";

/// A validated backtest request.
#[derive(Debug, Clone)]
pub struct BacktestJob {
    /// Ticker.
    pub symbol: String,
    /// Backtest options (recipe with symbol and years set).
    pub config: BacktestConfig,
    /// Inline bars (validated, sorted, calendar fills dropped unless kept).
    pub inline_bars: Option<Vec<Bar>>,
    /// Keep calendar-fill rows.
    pub keep_repeated_bars: bool,
}

impl TryFrom<pb::BacktestRequest> for BacktestJob {
    type Error = Error;
    fn try_from(r: pb::BacktestRequest) -> Result<BacktestJob> {
        let pb::BacktestRequest {
            symbol,
            years,
            end,
            do_cv_tune,
            fast_training,
            use_improved_training,
            use_enhanced_model,
            reg_loss_type,
            param_grid,
            do_post_training_validation,
            seed,
            device,
            bars,
            max_epochs,
            folds,
            horizon_days,
            parallelism,
            keep_repeated_bars,
            calibration,
            require_beats_baseline,
            search,
            n_trials,
            cv_metric,
            search_space,
            target_precision,
            search_time_budget_seconds,
        } = r;
        // The recipe is parsed exactly as Train parses it.
        let train = TrainJob::try_from(pb::TrainRequest {
            symbol,
            years,
            end: end.clone(),
            do_cv_tune,
            fast_training,
            use_improved_training,
            use_enhanced_model,
            reg_loss_type,
            param_grid,
            do_post_training_validation,
            seed,
            device,
            max_epochs,
            calibration,
            require_beats_baseline,
            search,
            n_trials,
            cv_metric,
            search_space,
            target_precision,
            search_time_budget_seconds,
            ..Default::default()
        })?;
        let mut recipe = train.pipeline;
        recipe.symbol = train.symbol.clone();
        recipe.years = train.years[0];
        let mut config = BacktestConfig::new(recipe);
        if let Some(f) = folds {
            config.folds = f as usize;
        }
        if let Some(h) = horizon_days {
            config.horizon_days = h as usize;
        }
        config.parallelism = parallelism.unwrap_or(0) as usize;
        config.end = train.range.end;
        config.validate()?;
        let keep = keep_repeated_bars.unwrap_or(false);
        let inline_bars = if bars.is_empty() {
            None
        } else {
            let mut b = bars_from_pb(bars)?;
            if !keep {
                drop_repeated_bars(&mut b);
            }
            Some(b)
        };
        Ok(BacktestJob { symbol: train.symbol, config, inline_bars, keep_repeated_bars: keep })
    }
}


impl BacktestJob {
    /// The run's configuration JSON.
    pub fn config_json(&self) -> serde_json::Value {
        serde_json::json!({ "kind": BACKTEST_MODE, "backtest": self.config, "keep_repeated_bars": self.keep_repeated_bars })
    }
}

