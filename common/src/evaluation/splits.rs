//! Chronological splits: sklearn `TimeSeriesSplit` for cross-validation, and the holdout with
//! its purge gap for post-training validation (SPEC §6).

use std::ops::Range;

use crate::{Error, Result};

/// Largest holdout, in samples (about three months of trading days).
pub const HOLDOUT_MAX: usize = 66;
/// Smallest holdout, in samples.
pub const HOLDOUT_MIN: usize = 10;
/// Samples dropped between the training data and the holdout: targets look
/// `FORECAST_DAYS` = 5 days ahead, so the last 5 training targets would otherwise overlap the
/// holdout's price path.
pub const PURGE_GAP: usize = 5;

/// Holdout size for `n` samples: `min(66, max(10, n / 3))` (SPEC §6).
pub fn holdout_len(n: usize) -> usize {
    HOLDOUT_MAX.min(HOLDOUT_MIN.max(n / 3))
}

/// Splits of sklearn's `TimeSeriesSplit(n_splits)` (default `max_train_size=None`,
/// `test_size=None`, `gap=0`), as `(train, test)` index ranges, in the same order.
///
/// `test_size = n / (n_splits + 1)`; split `i` tests
/// `[n - n_splits·test_size + i·test_size, … + test_size)` and trains on everything before it.
///
/// Errors with [`Error::InvalidArgument`] when `n_splits < 2` (sklearn refuses it too) or
/// `n_splits + 1 > n` (sklearn: "Cannot have number of folds={n_folds} greater than the number
/// of samples={n}").
pub fn time_series_split(n: usize, n_splits: usize) -> Result<Vec<(Range<usize>, Range<usize>)>> {
    if n_splits < 2 {
        return Err(Error::invalid(format!(
            "time series split needs n_splits >= 2, got {n_splits}"
        )));
    }
    // `n_splits + 1 > n`, written so that a huge n_splits cannot overflow.
    if n_splits >= n {
        return Err(Error::invalid(format!(
            "cannot cross-validate {n} samples with {n_splits} splits: need at least {} \
             samples; use fewer splits or more data",
            n_splits.saturating_add(1)
        )));
    }
    let n_folds = n_splits + 1;
    let test_size = n / n_folds;
    let first = n - n_splits * test_size;
    Ok((0..n_splits)
        .map(|i| {
            let start = first + i * test_size;
            (0..start, start..start + test_size)
        })
        .collect())
}

/// [`time_series_split`] with a [`PURGE_GAP`]-sample purge between each fold's training and
/// test samples (issue 23): split `i` trains on `[0, test.start − PURGE_GAP)`, so no trained
/// target (5 days ahead) shares a daily return with a tested one. The cross-validation of the
/// training pipeline uses these folds.
///
/// Errors like [`time_series_split`], and with [`Error::InvalidArgument`] when the first fold
/// would keep no training sample after the gap.
pub fn purged_time_series_split(n: usize, n_splits: usize) -> Result<Vec<(Range<usize>, Range<usize>)>> {
    let folds = time_series_split(n, n_splits)?;
    if folds[0].1.start <= PURGE_GAP {
        return Err(Error::invalid(format!(
            "cannot cross-validate {n} samples with {n_splits} splits: the first fold keeps no training \
             sample after the {PURGE_GAP}-sample purge gap; use fewer splits or more data"
        )));
    }
    Ok(folds.into_iter().map(|(_, test)| (0..test.start - PURGE_GAP, test)).collect())
}

/// Fewest samples that leave at least `min_train` training samples before the purge gap and
/// the holdout: the smallest `n` with `n ≥ holdout_len(n) + PURGE_GAP + min_train`.
pub fn min_samples_for_holdout(min_train: usize) -> usize {
    (min_train..)
        .find(|&n| n >= holdout_len(n) + PURGE_GAP + min_train)
        .expect("holdout_len is bounded, so the search terminates")
}

/// The leak-free split of SPEC §6 for `n` samples: `(train, holdout)` with
/// `holdout = [n - holdout_len(n), n)` and `train = [0, holdout.start - PURGE_GAP)`.
///
/// Errors with [`Error::InvalidArgument`] when fewer than one training sample would remain
/// (the pipeline asks for more: [`holdout_split_min`]).
pub fn holdout_split(n: usize) -> Result<(Range<usize>, Range<usize>)> {
    holdout_split_min(n, 1)
}

/// [`holdout_split`] that leaves at least `min_train` training samples, else
/// [`Error::InvalidArgument`] naming [`min_samples_for_holdout`]. The one holdout split of
/// the training pipeline, the backtest and the evaluation tools.
pub fn holdout_split_min(n: usize, min_train: usize) -> Result<(Range<usize>, Range<usize>)> {
    let need = min_samples_for_holdout(min_train.max(1));
    if n < need {
        return Err(Error::invalid(format!(
            "{n} samples are too few for a holdout of {} plus a purge gap of {PURGE_GAP} and \
             {} training samples: need at least {need}; use more data or skip post-training \
             validation",
            holdout_len(n),
            min_train.max(1)
        )));
    }
    let start = n - holdout_len(n);
    Ok((0..start - PURGE_GAP, start..n))
}
