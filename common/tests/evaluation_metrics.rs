//! Holdout metrics against hand-computed values (cross-checked with scikit-learn 1.9.1:
//! `accuracy_score`, `f1_score`, `mean_squared_error`, `mean_absolute_error` on the same arrays).

use common::evaluation::{holdout_metrics, try_holdout_metrics, HoldoutMetrics};
use common::Error;

/// `(prob_up, pred_mag, y_dir, y_mag)`.
type Example = (Vec<f64>, Vec<[f64; 5]>, Vec<i64>, Vec<[f32; 5]>);

/// Five samples with magnitudes exactly representable in f32, so the expected values are exact.
fn example() -> Example {
    // classes (prob > 0.5): 1, 1, 0, 0, 0  — 0.5 itself is "down".
    let prob_up = vec![0.9, 0.6, 0.4, 0.2, 0.5];
    let y_dir = vec![1, 0, 1, 0, 0];
    let pred = vec![
        [0.5, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, -0.5],
        [0.25, 0.25, 0.0, 0.0, 0.0],
        [0.0; 5],
        [-0.25, 0.0, 0.0, 0.0, 0.0],
    ];
    let truth = vec![
        [0.25, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.25],
        [0.0, 0.0, 0.0, 0.0, 0.5],
        [0.0; 5],
        [0.125, 0.0, 0.0, 0.0, 0.0],
    ];
    (prob_up, pred, y_dir, truth)
}

#[test]
fn matches_hand_computed_values() {
    let (p, pm, y, tm) = example();
    let m = holdout_metrics(&p, &pm, &y, &tm);
    // tp = 1 (0), fp = 1 (1), fn = 1 (2), tn = 2 (3, 4)
    assert_eq!(m.accuracy, 3.0 / 5.0);
    assert_eq!(m.f1, 2.0 / (2.0 + 1.0 + 1.0));
    // squared errors: 0.0625 + 0.5625 + (0.0625 + 0.0625 + 0.25) + 0 + 0.140625 = 1.140625
    assert!((m.mse - 1.140625 / 25.0).abs() < 1e-15, "mse {}", m.mse);
    // absolute errors: 0.25 + 0.75 + 1.0 + 0 + 0.375 = 2.375
    assert!((m.mae - 2.375 / 25.0).abs() < 1e-15, "mae {}", m.mae);
    assert!((m.rmse - (1.140625f64 / 25.0).sqrt()).abs() < 1e-15);
    // signs of sums: (+,+) ok, (-,+) no, (+,+) ok, (0,0) ok, (-,+) no
    assert_eq!(m.direction_accuracy, 3.0 / 5.0);
    // AUC pairs (positive, negative): 0.9 beats 0.6, 0.2, 0.5; 0.4 beats 0.2 only → 4 / 6
    assert!((m.auc.unwrap() - 4.0 / 6.0).abs() < 1e-15, "auc {:?}", m.auc);
    assert_eq!(m.n_samples, 5);
    assert_eq!(try_holdout_metrics(&p, &pm, &y, &tm).unwrap(), m);
}

#[test]
fn f1_is_zero_when_undefined_like_sklearn() {
    // No positive label and no positive prediction: sklearn returns 0.0 (zero_division="warn").
    let m = holdout_metrics(&[0.1, 0.2], &[[0.0; 5]; 2], &[0, 0], &[[0.0; 5]; 2]);
    assert_eq!(m.f1, 0.0);
    assert_eq!(m.accuracy, 1.0);
    // Positives exist but none predicted: tp = 0 → 0.
    let m = holdout_metrics(&[0.1, 0.2], &[[0.0; 5]; 2], &[1, 0], &[[0.0; 5]; 2]);
    assert_eq!(m.f1, 0.0);
    // Perfect prediction of both classes.
    let m = holdout_metrics(&[0.9, 0.2], &[[0.0; 5]; 2], &[1, 0], &[[0.0; 5]; 2]);
    assert_eq!(m.f1, 1.0);
}

#[test]
fn mismatched_lengths_are_an_error_or_the_common_prefix() {
    let (p, pm, y, tm) = example();
    let err = try_holdout_metrics(&p, &pm[..4], &y, &tm).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert!(err.to_string().contains("pred_mag 4"), "{err}");
    // The infallible variant evaluates the first 4 samples instead of panicking.
    let m = holdout_metrics(&p, &pm[..4], &y, &tm);
    assert_eq!(m.n_samples, 4);
    assert_eq!(m, try_holdout_metrics(&p[..4], &pm[..4], &y[..4], &tm[..4]).unwrap());
}

#[test]
fn empty_and_non_finite_inputs() {
    assert!(matches!(try_holdout_metrics(&[], &[], &[], &[]), Err(Error::InvalidArgument(_))));
    assert_eq!(holdout_metrics(&[], &[], &[], &[]), HoldoutMetrics::empty());
    let err = try_holdout_metrics(&[f64::NAN], &[[0.0; 5]], &[1], &[[0.0; 5]]).unwrap_err();
    assert!(err.to_string().contains("prob_up[0]"), "{err}");
    let err = try_holdout_metrics(&[0.5], &[[0.0, f64::INFINITY, 0.0, 0.0, 0.0]], &[1], &[[0.0; 5]])
        .unwrap_err();
    assert!(err.to_string().contains("pred_mag[0]"), "{err}");
    // NaN predictions give non-finite metrics that the deploy rule refuses.
    let m = holdout_metrics(&[0.5], &[[f64::NAN; 5]], &[1], &[[0.0; 5]]);
    assert!(!m.is_finite());
}

#[test]
fn serialises_with_the_field_names() {
    let (p, pm, y, tm) = example();
    let m = holdout_metrics(&p, &pm, &y, &tm);
    let v = serde_json::to_value(&m).unwrap();
    for key in ["accuracy", "f1", "mse", "mae", "rmse", "direction_accuracy", "n_samples", "auc"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let back: HoldoutMetrics = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(back, m);
    // metrics stored before AUC was reported still load, with no AUC
    let mut old = v;
    old.as_object_mut().unwrap().remove("auc");
    let back: HoldoutMetrics = serde_json::from_value(old).unwrap();
    assert_eq!(back.auc, None);
}

#[test]
fn auc_is_none_when_the_holdout_has_one_class() {
    let m = holdout_metrics(&[0.2, 0.7], &[[0.0; 5]; 2], &[1, 1], &[[0.0; 5]; 2]);
    assert_eq!(m.auc, None);
    assert!(m.is_finite());
}
