//! Per-feature importance (SPEC §6, the seed's SHAP step): permutation importance and
//! integrated gradients, over inputs laid out as `n × SEQ_LEN × N_FEATURES` (row-major, f32).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::features::{FEATURES, N_FEATURES, SEQ_LEN};
use crate::{Error, Result};

/// Importance of one input feature.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FeatureImportance {
    /// English feature name (SPEC §3).
    pub name: String,
    /// Chinese alias from the seed, for features 10–21.
    pub alias: Option<String>,
    /// Mean increase of the loss when this feature is permuted across samples (0 when not
    /// computed; can be slightly negative for irrelevant features).
    pub permutation: f64,
    /// Integrated-gradients attribution: mean over samples of the summed absolute attribution
    /// over the 60 time steps (0 when not computed).
    pub integrated_gradients: f64,
}

fn check_input(x: &[f32], n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("feature importance needs at least one sample, got 0"));
    }
    let want = n.saturating_mul(SEQ_LEN * N_FEATURES);
    if x.len() != want {
        return Err(Error::invalid(format!(
            "input has {} values, expected n × {SEQ_LEN} × {N_FEATURES} = {want} for n = {n}",
            x.len()
        )));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(format!("input value {i} is not finite ({})", x[i])));
    }
    Ok(())
}

fn finite_loss(v: f64, what: &str) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::internal(format!("loss is not finite ({v}) {what}")))
    }
}

/// Permutation importance of each of the 21 features.
///
/// `x` holds `n` samples of `SEQ_LEN × N_FEATURES`. The base loss is `loss_of(x)`. For feature
/// `f` and each of `repeats` rounds, the samples' 60-step slices of feature `f` are shuffled
/// across samples (a seeded permutation; every other feature stays in place) and the loss is
/// recomputed. Importance of `f` = mean permuted loss − base loss. The permutations come from
/// one `ChaCha8Rng` seeded with `seed`, so the result is reproducible.
///
/// Errors: [`Error::InvalidArgument`] for a wrong input size, `n == 0`, `repeats == 0` or
/// non-finite inputs; [`Error::Internal`] when a loss is not finite; errors of `loss_of` are
/// passed through.
pub fn permutation_importance(
    x: &[f32],
    n: usize,
    seed: u64,
    repeats: usize,
    loss_of: &mut dyn FnMut(&[f32]) -> Result<f64>,
) -> Result<Vec<f64>> {
    check_input(x, n)?;
    if repeats == 0 {
        return Err(Error::invalid("permutation importance needs repeats >= 1, got 0"));
    }
    let base = finite_loss(loss_of(x)?, "on the unpermuted input")?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    let mut work = x.to_vec();
    let stride = SEQ_LEN * N_FEATURES;
    let mut out = Vec::with_capacity(N_FEATURES);
    for f in 0..N_FEATURES {
        let mut total = 0.0;
        for _ in 0..repeats {
            perm.shuffle(&mut rng);
            for (i, &src) in perm.iter().enumerate() {
                for t in 0..SEQ_LEN {
                    work[i * stride + t * N_FEATURES + f] = x[src * stride + t * N_FEATURES + f];
                }
            }
            total += finite_loss(loss_of(&work)?, &format!("with feature {f} permuted"))?;
        }
        // Restore feature f before moving on, so only one feature is permuted at a time.
        for i in 0..n {
            for t in 0..SEQ_LEN {
                let k = i * stride + t * N_FEATURES + f;
                work[k] = x[k];
            }
        }
        out.push(total / repeats as f64 - base);
    }
    Ok(out)
}

/// Integrated gradients of each of the 21 features against a zero baseline (after
/// standardisation, zero is the training mean).
///
/// The path integral is approximated with the midpoint rule over `steps` points
/// `α_k = (k + ½) / steps`: for each, `grad_of(α_k · x, n)` returns d(output)/d(input) for the
/// whole batch (same layout as `x`); `avg_grad` is their mean. Attribution of one input value is
/// `(x − 0) · avg_grad`; the result for feature `f` is the mean over samples of
/// `Σ_t |attribution[i, t, f]|`. For a model linear in its input the signed attributions sum to
/// `output(x) − output(0)` exactly (completeness).
///
/// Errors: [`Error::InvalidArgument`] for a wrong input size, `n == 0`, `steps == 0` or
/// non-finite inputs; [`Error::Internal`] when `grad_of` returns the wrong size or non-finite
/// values; errors of `grad_of` are passed through.
#[allow(clippy::type_complexity)] // the callback signature is the API the training code uses
pub fn integrated_gradients(
    x: &[f32],
    n: usize,
    steps: usize,
    grad_of: &mut dyn FnMut(&[f32], usize) -> Result<Vec<f32>>,
) -> Result<Vec<f64>> {
    check_input(x, n)?;
    if steps == 0 {
        return Err(Error::invalid("integrated gradients needs steps >= 1, got 0"));
    }
    let mut avg_grad = vec![0.0f64; x.len()];
    let mut scaled = vec![0.0f32; x.len()];
    for k in 0..steps {
        let alpha = (k as f64 + 0.5) / steps as f64;
        for (s, &v) in scaled.iter_mut().zip(x) {
            *s = (alpha * f64::from(v)) as f32;
        }
        let g = grad_of(&scaled, n)?;
        if g.len() != x.len() {
            return Err(Error::internal(format!(
                "gradient has {} values, expected {} (same shape as the input)",
                g.len(),
                x.len()
            )));
        }
        if let Some(i) = g.iter().position(|v| !v.is_finite()) {
            return Err(Error::internal(format!("gradient value {i} is not finite ({})", g[i])));
        }
        for (a, &gv) in avg_grad.iter_mut().zip(&g) {
            *a += f64::from(gv);
        }
    }
    let stride = SEQ_LEN * N_FEATURES;
    let mut out = vec![0.0f64; N_FEATURES];
    for i in 0..n {
        for t in 0..SEQ_LEN {
            for (f, o) in out.iter_mut().enumerate() {
                let k = i * stride + t * N_FEATURES + f;
                *o += (f64::from(x[k]) * avg_grad[k] / steps as f64).abs();
            }
        }
    }
    for o in &mut out {
        *o /= n as f64;
    }
    Ok(out)
}

/// One row per feature (SPEC order, names and aliases from [`FEATURES`]) joining the two
/// importance vectors.
///
/// Either vector may be empty when that method was not run; its column is then 0. A vector of
/// another length than 21 is a caller bug: missing entries are 0, extra entries are ignored, and
/// a warning is logged.
pub fn importance_table(permutation: &[f64], ig: &[f64]) -> Vec<FeatureImportance> {
    for (what, v) in [("permutation", permutation), ("integrated_gradients", ig)] {
        if !v.is_empty() && v.len() != N_FEATURES {
            tracing::warn!(len = v.len(), "{what} importance should have {N_FEATURES} values");
        }
    }
    FEATURES
        .iter()
        .enumerate()
        .map(|(i, info)| FeatureImportance {
            name: info.name.to_string(),
            alias: info.alias.map(str::to_string),
            permutation: permutation.get(i).copied().unwrap_or(0.0),
            integrated_gradients: ig.get(i).copied().unwrap_or(0.0),
        })
        .collect()
}
