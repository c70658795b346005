//! The hyper-parameter stage: a CV search (the grid with plain training only, TPE in either
//! mode) on the fit's samples, or the fixed pipeline choice (SPEC §6), capped by `max_epochs`.
use super::split::Split;
use super::{PipelineRun, BASE_HIDDEN, ENHANCED_HIDDEN, PIPELINE_EPOCHS, PIPELINE_LR};
use crate::training::config::ImprovedConfig;
use crate::training::cv::{cv_search, cv_splits, CvPlan};
use crate::training::events::stage;
use crate::training::search::SearchMode;
use crate::Result;

/// Hyper-parameters of the final fit.
#[derive(Debug, Clone, Copy)]
pub(super) struct FinalParams {
    pub lr: f64,
    pub hidden: i64,
    pub epochs: u32,
    pub batch_size: usize,
    /// Dropout chosen by TPE; `None` keeps the architecture's.
    pub dropout: Option<f64>,
}

/// What the stage chose, and the search report when CV ran.
pub(super) struct Tuning {
    pub params: FinalParams,
    pub cross_validation: Option<serde_json::Value>,
}

impl PipelineRun<'_> {
    /// Chooses the final fit's hyper-parameters (see the module doc).
    pub(super) fn tune(&mut self, split: &Split) -> Result<Tuning> {
        let cfg = self.cfg;
        let grid = cfg.grid();
        let mut cross_validation = None;
        let default_hidden = if cfg.use_enhanced_model { ENHANCED_HIDDEN } else { BASE_HIDDEN };
        let mut params = FinalParams {
            lr: PIPELINE_LR,
            hidden: default_hidden,
            epochs: PIPELINE_EPOCHS.min(ImprovedConfig::default().max_epochs),
            batch_size: grid.batch_size,
            dropout: None,
        };
        if cfg.runs_cv() {
            let folds = cv_splits(cfg.fast_training);
            let what = match cfg.search.mode {
                SearchMode::Grid => format!("grid: {} combinations", grid.combinations().len()),
                SearchMode::Tpe => format!("tpe: {} trials", cfg.search.n_trials),
            };
            self.stage(
                stage::CROSS_VALIDATION,
                format!("{what} × {folds} folds on {} samples, cv_metric {}", split.fit.len(), cfg.search.metric),
            );
            let plan = CvPlan {
                search: &cfg.search,
                grid: &grid,
                n_splits: folds,
                reg_loss: cfg.reg_loss_type,
                max_epochs: cfg.max_epochs,
            };
            let cv = cv_search(&split.fit, &plan, self.session.device, &mut self.session.rng, self.events, self.cancel)?;
            params = FinalParams {
                lr: cv.best_lr,
                hidden: cv.best_hidden_size,
                epochs: cv.best_epochs,
                batch_size: cv.best_batch_size,
                dropout: cv.best_dropout,
            };
            cross_validation = Some(cv.report);
        } else if !cfg.use_improved_training {
            if let Some(g) = &cfg.param_grid {
                params = FinalParams { lr: g.lr[0], hidden: g.hidden_size[0], epochs: g.epochs[0], ..params };
            }
        }
        if let Some(m) = cfg.max_epochs {
            params.epochs = params.epochs.min(m);
        }
        Ok(Tuning { params, cross_validation })
    }
}
