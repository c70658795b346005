//! The median rule (Optuna's `MedianPruner`): after a fold, a trial whose objective so far is
//! below the median of what the finished trials had after the same fold stops early.
use serde::Serialize;

/// When the median rule applies.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct MedianPruner {
    /// No pruning until this many trials have finished every fold.
    pub startup_trials: usize,
    /// A trial runs at least this many folds before it can be pruned.
    pub min_folds: usize,
}

impl Default for MedianPruner {
    /// 5 finished trials (Optuna's default), at least 2 folds: the first TimeSeriesSplit fold
    /// trains on a sixth of the data and is too noisy to judge a trial by alone.
    fn default() -> Self {
        MedianPruner { startup_trials: 5, min_folds: 2 }
    }
}

/// The median of `v` (mean of the middle two for an even count); `None` when empty.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

impl MedianPruner {
    /// Should a trial stop after `folds_done` of `n_folds` folds with objective-so-far `value`
    /// (higher is better)? `finished` holds, for every trial that ran all folds, its
    /// objective-so-far after each fold. Never prunes after the last fold.
    pub fn should_prune(&self, finished: &[Vec<f64>], folds_done: usize, n_folds: usize, value: f64) -> bool {
        if folds_done < self.min_folds.max(1) || folds_done >= n_folds || finished.len() < self.startup_trials {
            return false;
        }
        let mut at_fold: Vec<f64> = finished.iter().filter_map(|t| t.get(folds_done - 1).copied()).collect();
        // A NaN objective compares as neither, and is hopeless too.
        median(&mut at_fold).is_some_and(|m| value.partial_cmp(&m).is_none_or(|o| o.is_lt()))
    }
}
