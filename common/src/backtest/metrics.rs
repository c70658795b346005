//! Forecast-quality metrics of SPEC §13.1, for one model over a set of test days.
//!
//! Hand-written on purpose: each is a textbook formula of a few lines (Mann–Whitney AUC with
//! mid-ranks, Spearman as Pearson of average ranks, ECE over equal-width bins), they must treat
//! ties exactly as documented here, and they run inside the bootstrap thousands of times; no
//! well-kept crate offers all of them over plain slices with these tie rules.
use serde::Serialize;
use std::collections::BTreeMap;

use crate::evaluation::metrics::UP_THRESHOLD;

/// Probabilities are clipped to `[EPS, 1 − EPS]` in the log loss: the one clip constant of the
/// holdout, the calibration and the backtest ([`crate::calibration::scores::EPS`], 1e-7).
pub const LOG_LOSS_EPS: f64 = crate::calibration::scores::EPS;
/// Equal-width bins of prob_up in the expected calibration error.
pub const ECE_BINS: usize = 10;

/// Metrics of one model on one set of test days; `None` = does not apply (serialised as `null`).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Metrics {
    /// Test days.
    pub n: usize,
    /// Share of days where `prob_up ≥ 0.5` agrees with the realised 5-day direction.
    pub hit_rate: Option<f64>,
    /// Mean of the true-positive and true-negative rates (of the classes present).
    pub balanced_accuracy: Option<f64>,
    /// Area under the ROC curve (ties count one half); `None` with one class only.
    pub auc: Option<f64>,
    /// Mean `(prob_up − y)²`.
    pub brier: Option<f64>,
    /// Mean negative log-likelihood of the realised direction.
    pub log_loss: Option<f64>,
    /// Expected calibration error over [`ECE_BINS`] equal-width bins of prob_up.
    pub ece: Option<f64>,
    /// Pearson correlation of predicted and realised 5-day cumulative returns.
    pub ic: Option<f64>,
    /// Spearman (average-rank) correlation of the same.
    pub rank_ic: Option<f64>,
    /// Mean absolute error of the 5-day cumulative return.
    pub mae_cum: Option<f64>,
    /// Root mean squared error of the 5-day cumulative return.
    pub rmse_cum: Option<f64>,
    /// `1 − |std(pred) − std(true)| / std(true)` of the 5-day cumulative returns (1 = same spread).
    pub vol_match: Option<f64>,
    /// Interval coverage by level name (`coverage_80`, `coverage_95` of the adaptive intervals,
    /// `coverage_80_static`, `coverage_95_static` of the fixed ones), when the model has
    /// intervals: share of days whose realised cumulative return lies inside.
    #[serde(flatten)]
    pub coverage: BTreeMap<String, Option<f64>>,
}

fn mean(v: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

/// Realised direction: 1 when the 5-day cumulative return is positive (SPEC §3's `y_dir`).
pub fn up(realised: f64) -> bool {
    realised > 0.0
}

/// Share of days where `prob_up ≥ 0.5` matches the direction.
pub fn hit_rate(p: &[f64], y: &[bool]) -> Option<f64> {
    mean(p.iter().zip(y).map(|(p, y)| f64::from(u8::from((*p >= UP_THRESHOLD) == *y))))
}

/// Mean of the per-class recalls of the `prob_up ≥ 0.5` decision over the classes present.
pub fn balanced_accuracy(p: &[f64], y: &[bool]) -> Option<f64> {
    let recall = |class: bool| {
        mean(p.iter().zip(y).filter(|(_, y)| **y == class).map(|(p, _)| f64::from(u8::from((*p >= UP_THRESHOLD) == class))))
    };
    mean([recall(true), recall(false)].into_iter().flatten())
}

/// Average (1-based) ranks; tied values share the mean of their ranks.
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// ROC AUC by the Mann–Whitney statistic on mid-ranks (a tie between an up and a down day counts
/// one half). `None` unless both classes occur.
pub fn auc(p: &[f64], y: &[bool]) -> Option<f64> {
    let n_pos = y.iter().filter(|y| **y).count();
    let n_neg = y.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let ranks = average_ranks(p);
    let pos_rank_sum: f64 = ranks.iter().zip(y).filter(|(_, y)| **y).map(|(r, _)| r).sum();
    let (np, nn) = (n_pos as f64, n_neg as f64);
    Some((pos_rank_sum - np * (np + 1.0) / 2.0) / (np * nn))
}

/// Mean squared difference of prob_up and the 0/1 outcome.
pub fn brier(p: &[f64], y: &[bool]) -> Option<f64> {
    mean(p.iter().zip(y).map(|(p, y)| (p - f64::from(u8::from(*y))).powi(2)))
}

/// Mean `−ln P(realised direction)`, probabilities clipped to `[1e-15, 1 − 1e-15]`.
pub fn log_loss(p: &[f64], y: &[bool]) -> Option<f64> {
    mean(p.iter().zip(y).map(|(p, y)| {
        let p = p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
        -(if *y { p } else { 1.0 - p }).ln()
    }))
}

/// Expected calibration error: `Σ_b (n_b / n) · |mean(p in b) − share of ups in b|` over
/// [`ECE_BINS`] bins `[0, 0.1), [0.1, 0.2), …, [0.9, 1.0]` (1.0 falls in the last bin).
pub fn ece(p: &[f64], y: &[bool]) -> Option<f64> {
    if p.is_empty() {
        return None;
    }
    let mut sum_p = [0.0; ECE_BINS];
    let mut sum_y = [0.0; ECE_BINS];
    let mut count = [0usize; ECE_BINS];
    for (p, y) in p.iter().zip(y) {
        let b = ((p * ECE_BINS as f64).floor() as usize).min(ECE_BINS - 1);
        sum_p[b] += p;
        sum_y[b] += f64::from(u8::from(*y));
        count[b] += 1;
    }
    let n = p.len() as f64;
    Some((0..ECE_BINS).filter(|&b| count[b] > 0).map(|b| (sum_p[b] - sum_y[b]).abs() / n).sum())
}

/// Pearson correlation; `None` when either side is constant or there are fewer than 2 points.
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() < 2 || a.len() != b.len() {
        return None;
    }
    let (ma, mb) = (mean(a.iter().copied())?, mean(b.iter().copied())?);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// Spearman correlation: Pearson of the average ranks.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    pearson(&average_ranks(a), &average_ranks(b))
}

fn population_std(v: &[f64]) -> Option<f64> {
    let m = mean(v.iter().copied())?;
    mean(v.iter().map(|x| (x - m).powi(2))).map(f64::sqrt)
}

/// `1 − |std(pred) − std(true)| / std(true)` (population std); `None` when the truth is flat.
pub fn vol_match(pred: &[f64], truth: &[f64]) -> Option<f64> {
    let (sp, st) = (population_std(pred)?, population_std(truth)?);
    (st > 0.0).then(|| 1.0 - (sp - st).abs() / st)
}

/// What one model answered on each test day.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// prob_up per day (`None`: the model gives no direction, e.g. `zero_return`).
    pub prob_up: Option<Vec<f64>>,
    /// Predicted 5-day cumulative return per day (`None`: no magnitude).
    pub cum_return: Option<Vec<f64>>,
    /// Intervals of the cumulative return per level name (`coverage_80` → `(lo, hi)` per day).
    pub intervals: BTreeMap<String, Vec<(f64, f64)>>,
}

impl Answers {
    /// The answers of the days at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Answers {
        let pick = |v: &Vec<f64>| idx.iter().map(|&i| v[i]).collect();
        Answers {
            prob_up: self.prob_up.as_ref().map(pick),
            cum_return: self.cum_return.as_ref().map(pick),
            intervals: self.intervals.iter().map(|(k, v)| (k.clone(), idx.iter().map(|&i| v[i]).collect())).collect(),
        }
    }
}

/// Every metric of `answers` against the realised 5-day cumulative returns.
pub fn compute(answers: &Answers, realised: &[f64]) -> Metrics {
    let y: Vec<bool> = realised.iter().map(|r| up(*r)).collect();
    let p = answers.prob_up.as_deref();
    let c = answers.cum_return.as_deref();
    let on_p = |f: fn(&[f64], &[bool]) -> Option<f64>| p.and_then(|p| f(p, &y));
    let on_c = |f: fn(&[f64], &[f64]) -> Option<f64>| c.and_then(|c| f(c, realised));
    Metrics {
        n: realised.len(),
        hit_rate: on_p(hit_rate),
        balanced_accuracy: on_p(balanced_accuracy),
        auc: on_p(auc),
        brier: on_p(brier),
        log_loss: on_p(log_loss),
        ece: on_p(ece),
        ic: on_c(pearson),
        rank_ic: on_c(spearman),
        mae_cum: c.and_then(|c| mean(c.iter().zip(realised).map(|(a, b)| (a - b).abs()))),
        rmse_cum: c.and_then(|c| mean(c.iter().zip(realised).map(|(a, b)| (a - b).powi(2))).map(f64::sqrt)),
        vol_match: on_c(vol_match),
        coverage: answers
            .intervals
            .iter()
            .map(|(k, iv)| (k.clone(), mean(iv.iter().zip(realised).map(|((lo, hi), r)| f64::from(u8::from(lo <= r && r <= hi))))))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_as_one_half() {
        // Pairs (pos, neg): (0.8,0.5) win, (0.8,0.2) win, (0.5,0.5) tie, (0.5,0.2) win → 3.5 / 4.
        let p = [0.8, 0.5, 0.5, 0.2];
        let y = [true, true, false, false];
        assert!((auc(&p, &y).unwrap() - 0.875).abs() < 1e-12);
        assert_eq!(auc(&[0.3, 0.3], &[true, false]), Some(0.5));
        assert_eq!(auc(&[0.3, 0.4], &[true, true]), None);
    }

    #[test]
    fn ece_by_hand() {
        // Bin [0.1,0.2): p 0.15, 0.15 with ys 0, 1 → |0.3 − 1| / 4 = 0.175.
        // Bin [0.9,1.0]: p 0.95, 1.0 with ys 1, 1 → |1.95 − 2| / 4 = 0.0125.
        let p = [0.15, 0.15, 0.95, 1.0];
        let y = [false, true, true, true];
        assert!((ece(&p, &y).unwrap() - 0.1875).abs() < 1e-12);
    }

    #[test]
    fn rank_ic_with_ties_by_hand() {
        // a ranks: 1, 2.5, 2.5, 4; b ranks: 1, 2, 3, 4 → Pearson of those.
        let a = [1.0, 2.0, 2.0, 3.0];
        let b = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(average_ranks(&a), vec![1.0, 2.5, 2.5, 4.0]);
        // cov = Σ (ra−2.5)(rb−2.5) = (−1.5)(−1.5)+0+0+(1.5)(1.5) = 4.5; Σ(ra−2.5)² = 4.5;
        // Σ(rb−2.5)² = 5 → 4.5 / sqrt(4.5·5).
        let want = 4.5 / (4.5f64 * 5.0).sqrt();
        assert!((spearman(&a, &b).unwrap() - want).abs() < 1e-12);
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn hit_rate_brier_balanced_accuracy_and_log_loss() {
        let p = [0.9, 0.4, 0.5, 0.1];
        let y = [true, true, false, false];
        assert_eq!(hit_rate(&p, &y), Some(0.5));
        // ups: 1 of 2 recalled; downs: 1 of 2 (0.5 counts as up) → 0.5.
        assert_eq!(balanced_accuracy(&p, &y), Some(0.5));
        let b = (0.01 + 0.36 + 0.25 + 0.01) / 4.0;
        assert!((brier(&p, &y).unwrap() - b).abs() < 1e-12);
        let ll = -(0.9f64.ln() + 0.4f64.ln() + 0.5f64.ln() + 0.9f64.ln()) / 4.0;
        assert!((log_loss(&p, &y).unwrap() - ll).abs() < 1e-12);
    }

    #[test]
    fn compute_fills_nulls_for_what_does_not_apply() {
        let a = Answers { prob_up: None, cum_return: Some(vec![0.0, 0.0, 0.0]), ..Answers::default() };
        let m = compute(&a, &[0.01, -0.02, 0.03]);
        assert_eq!((m.n, m.hit_rate, m.ic), (3, None, None));
        assert!((m.mae_cum.unwrap() - 0.02).abs() < 1e-12);
        assert_eq!(m.vol_match, Some(0.0));
        let json = serde_json::to_value(&m).unwrap();
        assert!(json["hit_rate"].is_null() && json["auc"].is_null());
    }
}
