//! Request options shared by several RPCs: the pipeline recipe (Train, TrainAll), device,
//! epoch cap, lease wait.
use std::time::Duration;

use common::pb;
use common::training::search::SearchFields;
use common::training::{DeviceChoice, ParamGrid, PipelineConfig, RegLossType, SearchConfig};
use common::Result;

pub(super) fn reg_loss(s: &str) -> Result<RegLossType> {
    if s.trim().is_empty() {
        Ok(RegLossType::Full)
    } else {
        s.parse()
    }
}

/// Empty axes take the defaults (fast or normal grid); all empty = no explicit grid.
pub(super) fn param_grid(g: Option<pb::ParamGrid>, fast: bool) -> Result<Option<ParamGrid>> {
    let Some(pb::ParamGrid {
        lr,
        hidden_size,
        epochs,
        batch_size,
    }) = g
    else {
        return Ok(None);
    };
    if lr.is_empty() && hidden_size.is_empty() && epochs.is_empty() && batch_size.is_none() {
        return Ok(None);
    }
    let d = if fast {
        ParamGrid::fast()
    } else {
        ParamGrid::default()
    };
    let grid = ParamGrid {
        lr: if lr.is_empty() { d.lr } else { lr },
        hidden_size: if hidden_size.is_empty() {
            d.hidden_size
        } else {
            hidden_size.into_iter().map(i64::from).collect()
        },
        epochs: if epochs.is_empty() { d.epochs } else { epochs },
        batch_size: batch_size.map(|b| b as usize).unwrap_or(d.batch_size),
    };
    grid.validate()?;
    Ok(Some(grid))
}

pub(super) fn device(s: &str) -> Result<DeviceChoice> {
    s.parse()
}

pub(super) fn max_epochs(m: Option<u32>) -> Option<u32> {
    m.filter(|m| *m > 0)
}

pub(super) fn lease_timeout(s: Option<u32>) -> Option<Duration> {
    s.map(|s| Duration::from_secs(u64::from(s)))
}

/// The recipe fields Train and TrainAll requests share (TrainAll has no model, grid or
/// validation options: those are `None` there).
pub(super) struct RecipeFields {
    pub(super) do_cv_tune: Option<bool>,
    pub(super) do_shap: Option<bool>,
    pub(super) do_plot: Option<bool>,
    pub(super) fast_training: bool,
    pub(super) use_improved_training: Option<bool>,
    pub(super) use_enhanced_model: Option<bool>,
    pub(super) reg_loss_type: String,
    pub(super) param_grid: Option<pb::ParamGrid>,
    pub(super) do_post_training_validation: Option<bool>,
    pub(super) seed: Option<u64>,
    pub(super) device: String,
    pub(super) max_epochs: Option<u32>,
    /// `temperature` | `platt` | `none`; empty = the default.
    pub(super) calibration: String,
    /// Baseline gate; `None` = the trainer's default.
    pub(super) require_beats_baseline: Option<bool>,
    /// Precision of the signal threshold; `None` = 0.60.
    pub(super) target_precision: Option<f64>,
    /// The CV search fields (TrainAll has none: the default grid).
    pub(super) search: SearchFields,
    /// Symbol embedding width of a pooled run; `None` = none.
    pub(super) symbol_embedding_dim: Option<u32>,
}

/// The one conversion of request recipe fields into a validated [`PipelineConfig`]; unset
/// options take the pipeline defaults.
pub(super) fn pipeline_config(symbol: &str, years: u32, f: RecipeFields) -> Result<PipelineConfig> {
    let d = PipelineConfig::default();
    let pipeline = PipelineConfig {
        symbol: symbol.to_string(),
        years,
        do_cv_tune: f.do_cv_tune.unwrap_or(d.do_cv_tune),
        do_shap: f.do_shap.unwrap_or(d.do_shap),
        do_plot: f.do_plot.unwrap_or(d.do_plot),
        fast_training: f.fast_training,
        use_improved_training: f.use_improved_training.unwrap_or(d.use_improved_training),
        use_enhanced_model: f.use_enhanced_model.unwrap_or(d.use_enhanced_model),
        reg_loss_type: reg_loss(&f.reg_loss_type)?,
        param_grid: param_grid(f.param_grid, f.fast_training)?,
        do_post_training_validation: f
            .do_post_training_validation
            .unwrap_or(d.do_post_training_validation),
        seed: f.seed,
        device: device(&f.device)?,
        max_epochs: max_epochs(f.max_epochs),
        cpu_threads: None,
        calibration: f.calibration.parse()?,
        require_beats_baseline: f.require_beats_baseline,
        target_precision: f.target_precision.unwrap_or(d.target_precision),
        search: SearchConfig::try_from(f.search)?,
        symbol_embedding_dim: f.symbol_embedding_dim.unwrap_or(0),
    };
    pipeline.validate()?;
    Ok(pipeline)
}
