//! The deploy rule of SPEC §6 as a table, including both boundaries.

use common::evaluation::{deploy_decision, HoldoutMetrics, DEPLOY_TOLERANCE};

fn m(f1: f64, mse: f64) -> HoldoutMetrics {
    HoldoutMetrics {
        accuracy: 0.5,
        f1,
        mse,
        mae: mse.sqrt(),
        rmse: mse.sqrt(),
        direction_accuracy: 0.5,
        n_samples: 66,
        auc: None,
    }
}

/// (candidate f1, candidate mse, current (f1, mse), deploy?, substrings of the reason)
type Case = (f64, f64, Option<(f64, f64)>, bool, Vec<&'static str>);

#[test]
fn deploy_rule_table() {
    let cases: Vec<Case> = vec![
        // no current model → deploy
        (0.30, 5e-4, None, true, vec!["no current model", "0.300"]),
        // f1 gain well above 0.05
        (0.612, 4e-4, Some((0.540, 4e-4)), true, vec!["f1 0.612 vs 0.540", "+0.072 >= 0.05"]),
        // f1 gain exactly 0.05 in decimal: 0.59 - 0.54 = 0.04999999999999993 in binary → deploy
        (0.59, 4e-4, Some((0.54, 4e-4)), true, vec!["f1 0.590 vs 0.540", "+0.050 >= 0.05"]),
        // f1 gain just below 0.05 (beyond the 1e-9 tolerance) → no
        (0.589, 4e-4, Some((0.54, 4e-4)), false, vec!["+0.049 < 0.05", "current model kept"]),
        // mse exactly 0.9 × current (0.00036 vs 0.0004) → deploy
        (0.54, 3.6e-4, Some((0.54, 4e-4)), true, vec!["mse 3.6000e-4 vs 4.0000e-4", "ratio 0.900 <= 0.90"]),
        // mse well below 0.9 × current → deploy
        (0.50, 2e-4, Some((0.54, 4e-4)), true, vec!["ratio 0.500 <= 0.90"]),
        // mse just above 0.9 × current → no
        (0.54, 3.62e-4, Some((0.54, 4e-4)), false, vec!["ratio 0.905 > 0.90"]),
        // both rules hold → deploy, both reported
        (0.70, 1e-4, Some((0.54, 4e-4)), true, vec!["f1 0.700", "ratio 0.250"]),
        // neither → keep current, with both comparisons
        (0.56, 3.9e-4, Some((0.54, 4e-4)), false, vec!["+0.020 < 0.05", "ratio 0.975 > 0.90"]),
        // worse on both → keep
        (0.40, 8e-4, Some((0.54, 4e-4)), false, vec!["-0.140 < 0.05", "ratio 2.000 > 0.90"]),
    ];
    for (cf1, cmse, cur, want, needles) in cases {
        let cand = m(cf1, cmse);
        let cur = cur.map(|(f1, mse)| m(f1, mse));
        let d = deploy_decision(&cand, cur.as_ref());
        assert_eq!(d.deploy, want, "candidate ({cf1}, {cmse}) vs {cur:?}: {}", d.reason);
        for s in needles {
            assert!(d.reason.contains(s), "reason {:?} lacks {s:?}", d.reason);
        }
    }
}

#[test]
fn tolerance_is_tiny() {
    // The tolerance only absorbs binary rounding; 1e-6 below the f1 boundary is still "no".
    const { assert!(DEPLOY_TOLERANCE <= 1e-9) };
    let d = deploy_decision(&m(0.54 + 0.05 - 1e-6, 4e-4), Some(&m(0.54, 4e-4)));
    assert!(!d.deploy, "{}", d.reason);
    let d = deploy_decision(&m(0.54, 0.9 * 4e-4 * (1.0 + 1e-6)), Some(&m(0.54, 4e-4)));
    assert!(!d.deploy, "{}", d.reason);
}

#[test]
fn invalid_metrics_never_deploy_over_a_model() {
    let nan = m(f64::NAN, f64::NAN);
    let d = deploy_decision(&nan, Some(&m(0.5, 4e-4)));
    assert!(!d.deploy);
    assert!(d.reason.contains("not finite"), "{}", d.reason);
    let d = deploy_decision(&nan, None);
    assert!(!d.deploy, "a NaN model must not become current: {}", d.reason);

    let mut empty = m(0.9, 1e-6);
    empty.n_samples = 0;
    let d = deploy_decision(&empty, Some(&m(0.5, 4e-4)));
    assert!(!d.deploy);
    assert!(d.reason.contains("0 holdout samples"), "{}", d.reason);

    // A current model with broken metrics is replaced.
    let d = deploy_decision(&m(0.5, 4e-4), Some(&nan));
    assert!(d.deploy, "{}", d.reason);
}

#[test]
fn current_mse_zero_is_handled() {
    let d = deploy_decision(&m(0.5, 0.0), Some(&m(0.5, 0.0)));
    assert!(d.deploy, "0 <= 0.9 × 0: {}", d.reason);
    assert!(d.reason.contains("current mse is 0"), "{}", d.reason);
    let d = deploy_decision(&m(0.5, 1e-4), Some(&m(0.5, 0.0)));
    assert!(!d.deploy, "{}", d.reason);
}
