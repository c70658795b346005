//! The split stage: the run's samples cut chronologically into `[train | purge gap | holdout]`
//! (the holdout only with post-training validation), and the training part into
//! `[fit | (purge gap) | calibration]` ([`calibration_split`]).
use super::{PipelineRun, MIN_TRAIN_SAMPLES};
use crate::evaluation::holdout_split_min;
use crate::features::Samples;
use crate::training::calibrate::{calibration_split, CalibrationSplit};
use crate::Result;

/// The samples of each part of the run.
pub(super) struct Split {
    /// Samples the run was given.
    pub n: usize,
    /// The training part (everything before the holdout's purge gap).
    pub train: Samples,
    /// The holdout, with post-training validation.
    pub holdout: Option<Samples>,
    /// Fit and calibration ranges inside `train`.
    pub cal: CalibrationSplit,
    /// `train[cal.fit]`: what the final fit (and the CV search) train on.
    pub fit: Samples,
}

impl PipelineRun<'_> {
    /// Splits `samples` (see the module doc).
    pub(super) fn split(&self, samples: &Samples) -> Result<Split> {
        let n = samples.len();
        let (train_range, holdout_range) = if self.cfg.do_post_training_validation {
            let (train, holdout) = holdout_split_min(n, MIN_TRAIN_SAMPLES)?;
            (train, Some(holdout))
        } else {
            (0..n, None)
        };
        let train = samples.subset(train_range);
        let holdout = holdout_range.map(|r| samples.subset(r));
        let cal = calibration_split(train.len(), self.cfg.use_improved_training);
        let fit = train.subset(cal.fit.clone());
        Ok(Split { n, train, holdout, cal, fit })
    }
}
