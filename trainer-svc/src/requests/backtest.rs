//! The Backtest request: parsed into a [`BacktestJob`] with the same recipe parser as Train.
use common::backtest::BacktestConfig;
use common::config::{validate_symbol, validate_years};
use common::data::{bars_from_pb, drop_repeated_bars, Bar};
use common::pb;
use common::training::search::SearchFields;
use common::{Error, Result};

use super::recipe::{pipeline_config, RecipeFields};
use super::DateRange;

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
    /// Pooled backtest: the other members (validated, sorted), bars from the registry.
    pub pool: Vec<String>,
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
            pool_symbols,
            symbol_embedding_dim,
        } = r;
        // The recipe is parsed by the one recipe parser Train uses.
        let symbol = validate_symbol(&symbol)?;
        let pool = super::pool_members(&symbol, &pool_symbols, symbol_embedding_dim)?;
        let range = DateRange::parse("", &end)?;
        let recipe = pipeline_config(
            &symbol,
            validate_years(years)?,
            RecipeFields {
                do_cv_tune,
                do_shap: None,
                do_plot: None,
                fast_training: fast_training.unwrap_or(false),
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
                target_precision,
                search: SearchFields {
                    search,
                    n_trials,
                    cv_metric,
                    search_space,
                    time_budget_seconds: search_time_budget_seconds,
                },
                symbol_embedding_dim,
            },
        )?;
        let mut config = BacktestConfig::new(recipe);
        if let Some(f) = folds {
            config.folds = f as usize;
        }
        if let Some(h) = horizon_days {
            config.horizon_days = h as usize;
        }
        config.parallelism = parallelism.unwrap_or(0) as usize;
        config.end = range.end;
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
        Ok(BacktestJob { symbol, config, inline_bars, keep_repeated_bars: keep, pool })
    }
}


impl BacktestJob {
    /// The run's configuration JSON.
    pub fn config_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": BACKTEST_MODE,
            "backtest": self.config,
            "keep_repeated_bars": self.keep_repeated_bars,
            "pool_symbols": self.pool,
        })
    }
}

