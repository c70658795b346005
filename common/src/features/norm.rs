//! Per-feature standardisation statistics, fitted on training samples and stored with the model
//! version so prediction applies exactly the same transform (SPEC §3).
use serde::{Deserialize, Serialize};

use super::N_FEATURES;

/// Mean and standard deviation of each of the 21 features.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NormStats {
    /// Per-feature mean.
    pub mean: Vec<f32>,
    /// Per-feature standard deviation (never 0: a constant feature gets 1.0).
    pub std: Vec<f32>,
}

impl NormStats {
    /// Fits on `x`, any number of 21-wide rows (samples × time steps, row-major): mean and
    /// **population** standard deviation per feature over every row, accumulated in f64.
    /// A feature whose std is below 1e-8 (constant) gets std 1.0; an empty `x` gives mean 0,
    /// std 1. Trailing values that do not fill a row are ignored.
    pub fn fit(x: &[f32]) -> NormStats {
        let rows = x.len() / N_FEATURES;
        let mut sum = [0f64; N_FEATURES];
        for row in x.chunks_exact(N_FEATURES) {
            for (s, v) in sum.iter_mut().zip(row) {
                *s += f64::from(*v);
            }
        }
        let denom = rows.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / denom).collect();
        let mut ss = [0f64; N_FEATURES];
        for row in x.chunks_exact(N_FEATURES) {
            for ((s, v), m) in ss.iter_mut().zip(row).zip(&mean) {
                let d = f64::from(*v) - m;
                *s += d * d;
            }
        }
        let std = ss
            .iter()
            .map(|s| {
                let sd = (s / denom).sqrt();
                if sd < 1e-8 || !sd.is_finite() {
                    1.0
                } else {
                    sd as f32
                }
            })
            .collect();
        NormStats {
            mean: mean.iter().map(|m| *m as f32).collect(),
            std,
        }
    }

    /// Standardises `x` in place: `(v - mean[j]) / std[j]` for feature column `j`.
    pub fn apply(&self, x: &mut [f32]) {
        for row in x.chunks_exact_mut(N_FEATURES) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_then_apply_gives_zero_mean_unit_std_and_constant_columns_keep_std_one() {
        let mut x = Vec::new();
        for i in 0..10 {
            for j in 0..N_FEATURES {
                x.push(if j == 3 { 7.0 } else { (i * (j + 1)) as f32 });
            }
        }
        let st = NormStats::fit(&x);
        assert_eq!(st.std[3], 1.0);
        assert_eq!(st.mean[3], 7.0);
        // Column 0: values 0..9 → mean 4.5, population std sqrt(8.25).
        assert!((st.mean[0] - 4.5).abs() < 1e-6);
        assert!((st.std[0] - 8.25f32.sqrt()).abs() < 1e-6);
        st.apply(&mut x);
        let col0: Vec<f32> = x.chunks(N_FEATURES).map(|r| r[0]).collect();
        let m: f32 = col0.iter().sum::<f32>() / 10.0;
        let v: f32 = col0.iter().map(|a| (a - m) * (a - m)).sum::<f32>() / 10.0;
        assert!(m.abs() < 1e-6 && (v - 1.0).abs() < 1e-5);
        assert!(x.chunks(N_FEATURES).all(|r| r[3] == 0.0));
    }

    #[test]
    fn empty_input_gives_identity_stats() {
        let st = NormStats::fit(&[]);
        assert_eq!(st.mean, vec![0.0; N_FEATURES]);
        assert_eq!(st.std, vec![1.0; N_FEATURES]);
    }
}
