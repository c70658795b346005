//! Permutation importance and integrated gradients on synthetic models with known answers.

use common::evaluation::{importance_table, integrated_gradients, permutation_importance};
use common::features::{FEATURES, N_FEATURES, SEQ_LEN};
use common::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const STRIDE: usize = SEQ_LEN * N_FEATURES;

fn random_input(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * STRIDE).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// A "model" that only looks at feature 3: its prediction for sample i is the mean of feature 3
/// over the window, the target is that same mean on the original data, loss = MSE.
fn loss_only_feature_3(original: &[f32], n: usize) -> impl FnMut(&[f32]) -> Result<f64> + '_ {
    let mean3 = |x: &[f32], i: usize| -> f64 {
        (0..SEQ_LEN).map(|t| f64::from(x[i * STRIDE + t * N_FEATURES + 3])).sum::<f64>() / SEQ_LEN as f64
    };
    move |x: &[f32]| {
        Ok((0..n).map(|i| (mean3(x, i) - mean3(original, i)).powi(2)).sum::<f64>() / n as f64)
    }
}

#[test]
fn permutation_puts_all_importance_on_the_feature_the_loss_uses() {
    let n = 40;
    let x = random_input(n, 1);
    let mut loss = loss_only_feature_3(&x, n);
    let imp = permutation_importance(&x, n, 7, 3, &mut loss).unwrap();
    assert_eq!(imp.len(), N_FEATURES);
    assert!(imp[3] > 1e-3, "feature 3 importance {}", imp[3]);
    for (f, v) in imp.iter().enumerate() {
        if f != 3 {
            assert_eq!(*v, 0.0, "feature {f} should be irrelevant, got {v}");
        }
    }
    let best = imp.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!(best, 3);
}

#[test]
fn permutation_is_seeded_and_leaves_other_features_in_place() {
    let n = 12;
    let x = random_input(n, 2);
    let mut seen_other_changes = false;
    let mut check = |p: &[f32]| -> Result<f64> {
        // Exactly one feature differs from the original in any call.
        let changed: std::collections::BTreeSet<usize> = (0..p.len())
            .filter(|&k| p[k] != x[k])
            .map(|k| k % N_FEATURES)
            .collect();
        if changed.len() > 1 {
            seen_other_changes = true;
        }
        Ok(p.iter().enumerate().map(|(k, v)| f64::from(*v) * (k / STRIDE + 1) as f64).sum())
    };
    let a = permutation_importance(&x, n, 42, 2, &mut check).unwrap();
    assert!(!seen_other_changes, "more than one feature was permuted at once");
    let mut same = |p: &[f32]| -> Result<f64> {
        Ok(p.iter().enumerate().map(|(k, v)| f64::from(*v) * (k / STRIDE + 1) as f64).sum())
    };
    let b = permutation_importance(&x, n, 42, 2, &mut same).unwrap();
    let c = permutation_importance(&x, n, 43, 2, &mut same).unwrap();
    assert_eq!(a, b, "same seed, same result");
    assert_ne!(a, c, "another seed permutes differently");
}

#[test]
fn permutation_rejects_bad_input_and_propagates_errors() {
    let x = random_input(2, 3);
    let mut ok = |_: &[f32]| -> Result<f64> { Ok(1.0) };
    assert!(matches!(permutation_importance(&x[1..], 2, 0, 1, &mut ok), Err(Error::InvalidArgument(_))));
    assert!(matches!(permutation_importance(&x, 2, 0, 0, &mut ok), Err(Error::InvalidArgument(_))));
    assert!(matches!(permutation_importance(&[], 0, 0, 1, &mut ok), Err(Error::InvalidArgument(_))));
    let mut nan = |_: &[f32]| -> Result<f64> { Ok(f64::NAN) };
    assert!(matches!(permutation_importance(&x, 2, 0, 1, &mut nan), Err(Error::Internal(_))));
    let mut fails = |_: &[f32]| -> Result<f64> { Err(Error::Cancelled("stop".into())) };
    assert!(matches!(permutation_importance(&x, 2, 0, 1, &mut fails), Err(Error::Cancelled(_))));
}

/// Linear model `f(x_i) = Σ w[t, f] · x_i[t, f]`; its gradient is `w` everywhere.
fn weights() -> Vec<f32> {
    (0..STRIDE).map(|k| ((k % 11) as f32 - 5.0) * 0.01 + if k % N_FEATURES == 5 { 0.5 } else { 0.0 }).collect()
}

#[test]
fn integrated_gradients_of_a_linear_model_is_exact_and_complete() {
    let n = 8;
    let x = random_input(n, 4);
    let w = weights();
    let mut calls = 0;
    let mut grad = |inp: &[f32], batch: usize| -> Result<Vec<f32>> {
        assert_eq!(inp.len(), batch * STRIDE);
        calls += 1;
        Ok((0..batch).flat_map(|_| w.iter().copied()).collect())
    };
    let ig = integrated_gradients(&x, n, 16, &mut grad).unwrap();
    assert_eq!(calls, 16, "one batched gradient call per step");
    // Analytic value: mean_i Σ_t |x[i,t,f] · w[t,f]|.
    for f in 0..N_FEATURES {
        let want: f64 = (0..n)
            .map(|i| {
                (0..SEQ_LEN)
                    .map(|t| (f64::from(x[i * STRIDE + t * N_FEATURES + f]) * f64::from(w[t * N_FEATURES + f])).abs())
                    .sum::<f64>()
            })
            .sum::<f64>()
            / n as f64;
        assert!((ig[f] - want).abs() < 1e-9 * want.max(1.0), "feature {f}: {} vs {want}", ig[f]);
    }
    // Completeness with non-negative inputs and weights (so |·| does not change the sum):
    // Σ_f attribution = f(x) − f(0) for every sample, hence also on average.
    let xp: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    let wp: Vec<f32> = w.iter().map(|v| v.abs()).collect();
    let mut grad = |_: &[f32], batch: usize| -> Result<Vec<f32>> { Ok((0..batch).flat_map(|_| wp.iter().copied()).collect()) };
    let ig = integrated_gradients(&xp, n, 3, &mut grad).unwrap();
    let f_mean: f64 = (0..n)
        .map(|i| (0..STRIDE).map(|k| f64::from(xp[i * STRIDE + k]) * f64::from(wp[k])).sum::<f64>())
        .sum::<f64>()
        / n as f64;
    let total: f64 = ig.iter().sum();
    assert!((total - f_mean).abs() < 1e-6 * f_mean, "Σ IG {total} vs f(x) - f(0) {f_mean}");
    // Feature 5 has the largest weights, so it dominates.
    let best = ig.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!(best, 5);
}

#[test]
fn integrated_gradients_of_a_quadratic_model_uses_the_path() {
    // f(x) = Σ x², grad = 2·(αx); midpoint rule over α integrates 2αx exactly → attribution x².
    let n = 3;
    let x = random_input(n, 5);
    let mut grad = |inp: &[f32], _: usize| -> Result<Vec<f32>> { Ok(inp.iter().map(|v| 2.0 * v).collect()) };
    let ig = integrated_gradients(&x, n, 10, &mut grad).unwrap();
    for f in 0..N_FEATURES {
        let want: f64 = (0..n)
            .map(|i| (0..SEQ_LEN).map(|t| f64::from(x[i * STRIDE + t * N_FEATURES + f]).powi(2)).sum::<f64>())
            .sum::<f64>()
            / n as f64;
        assert!((ig[f] - want).abs() < 1e-5 * want, "feature {f}: {} vs {want}", ig[f]);
    }
}

#[test]
fn integrated_gradients_rejects_bad_gradients() {
    let x = random_input(2, 6);
    let mut short = |_: &[f32], _: usize| -> Result<Vec<f32>> { Ok(vec![0.0; 3]) };
    assert!(matches!(integrated_gradients(&x, 2, 4, &mut short), Err(Error::Internal(_))));
    let mut nan = |inp: &[f32], _: usize| -> Result<Vec<f32>> { Ok(vec![f32::NAN; inp.len()]) };
    assert!(matches!(integrated_gradients(&x, 2, 4, &mut nan), Err(Error::Internal(_))));
    let mut ok = |inp: &[f32], _: usize| -> Result<Vec<f32>> { Ok(vec![0.0; inp.len()]) };
    assert!(matches!(integrated_gradients(&x, 2, 0, &mut ok), Err(Error::InvalidArgument(_))));
    assert!(matches!(integrated_gradients(&x, 3, 4, &mut ok), Err(Error::InvalidArgument(_))));
}

#[test]
fn table_has_names_aliases_and_both_columns() {
    let perm: Vec<f64> = (0..N_FEATURES).map(|i| i as f64).collect();
    let ig: Vec<f64> = (0..N_FEATURES).map(|i| 100.0 + i as f64).collect();
    let t = importance_table(&perm, &ig);
    assert_eq!(t.len(), N_FEATURES);
    assert_eq!(t[0].name, "close_norm");
    assert_eq!(t[0].alias, None);
    assert_eq!(t[9].name, "ret_1d");
    assert_eq!(t[9].alias.as_deref(), Some("日收益率"));
    assert_eq!(t[20].name, FEATURES[20].name);
    assert_eq!((t[4].permutation, t[4].integrated_gradients), (4.0, 104.0));
    // A method that was not run gives zeros.
    let t = importance_table(&perm, &[]);
    assert!(t.iter().all(|r| r.integrated_gradients == 0.0));
    assert_eq!(t[20].permutation, 20.0);
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json[9]["alias"], "日收益率");
}
