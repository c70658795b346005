//! `time_series_split` reproduces scikit-learn's `TimeSeriesSplit`, and the purged holdout split.
//!
//! Expected splits were produced with scikit-learn 1.9.1:
//! ```python
//! from sklearn.model_selection import TimeSeriesSplit
//! import numpy as np
//! for n, k in [(6,5),(10,3),(20,5),(100,5),(101,3),(7,2),(65,5)]:
//!     print(n, k, [(0, int(tr[-1])+1, int(te[0]), int(te[-1])+1)
//!                  for tr, te in TimeSeriesSplit(n_splits=k).split(np.zeros(n))])
//! ```
//! and `TimeSeriesSplit(n_splits=5).split(np.zeros(5))` raises "Cannot have number of
//! folds=6 greater than the number of samples=5.", `TimeSeriesSplit(n_splits=1)` raises
//! "k-fold cross-validation requires at least one train/test split by setting n_splits=2 or more".

use common::evaluation::{holdout_len, holdout_split, time_series_split, PURGE_GAP};
use common::Error;

type Split = (usize, usize, usize, usize); // train start, train end, test start, test end

fn sklearn_cases() -> Vec<(usize, usize, Vec<Split>)> {
    vec![
        (6, 5, vec![(0, 1, 1, 2), (0, 2, 2, 3), (0, 3, 3, 4), (0, 4, 4, 5), (0, 5, 5, 6)]),
        (10, 3, vec![(0, 4, 4, 6), (0, 6, 6, 8), (0, 8, 8, 10)]),
        (20, 5, vec![(0, 5, 5, 8), (0, 8, 8, 11), (0, 11, 11, 14), (0, 14, 14, 17), (0, 17, 17, 20)]),
        (
            100,
            5,
            vec![(0, 20, 20, 36), (0, 36, 36, 52), (0, 52, 52, 68), (0, 68, 68, 84), (0, 84, 84, 100)],
        ),
        (101, 3, vec![(0, 26, 26, 51), (0, 51, 51, 76), (0, 76, 76, 101)]),
        (7, 2, vec![(0, 3, 3, 5), (0, 5, 5, 7)]),
        (65, 5, vec![(0, 15, 15, 25), (0, 25, 25, 35), (0, 35, 35, 45), (0, 45, 45, 55), (0, 55, 55, 65)]),
    ]
}

#[test]
fn equals_sklearn_time_series_split() {
    for (n, k, want) in sklearn_cases() {
        let got: Vec<Split> = time_series_split(n, k)
            .unwrap()
            .into_iter()
            .map(|(tr, te)| (tr.start, tr.end, te.start, te.end))
            .collect();
        assert_eq!(got, want, "n = {n}, n_splits = {k}");
    }
}

#[test]
fn rejects_what_sklearn_rejects() {
    let err = time_series_split(5, 5).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert!(err.to_string().contains("need at least 6 samples"), "{err}");
    assert!(matches!(time_series_split(3, 1), Err(Error::InvalidArgument(_))));
    assert!(matches!(time_series_split(0, 2), Err(Error::InvalidArgument(_))));
    assert!(time_series_split(3, 2).is_ok());
    assert!(matches!(time_series_split(10, usize::MAX), Err(Error::InvalidArgument(_))));
}

#[test]
fn holdout_is_min_66_max_10_n_over_3() {
    assert_eq!(holdout_len(0), 10);
    assert_eq!(holdout_len(29), 10);
    assert_eq!(holdout_len(30), 10);
    assert_eq!(holdout_len(33), 11);
    assert_eq!(holdout_len(198), 66);
    assert_eq!(holdout_len(1000), 66);
}

#[test]
fn holdout_split_leaves_a_purge_gap() {
    let (train, hold) = holdout_split(300).unwrap();
    assert_eq!(hold, 234..300);
    assert_eq!(train, 0..234 - PURGE_GAP);
    let (train, hold) = holdout_split(16).unwrap();
    assert_eq!((train, hold), (0..1, 6..16));
    let err = holdout_split(15).unwrap_err();
    assert!(err.to_string().contains("need at least 16"), "{err}");
}
