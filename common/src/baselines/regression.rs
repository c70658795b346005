//! The fitted baselines of SPEC §13.1 — the backtest's full set, and the `linear` direction fit
//! the deploy gate scores ([`super::LinearBaseline`]) — each fitted on training samples and
//! answering the same days as the model:
//!
//! - `base_rate`: the training share of up-moves as prob_up (so "always up" when above one half)
//!   and the training mean of each forecast day's return as magnitudes;
//! - `momentum_5d` / `reversion_20d`: logistic regression (direction) and ridge regression (each
//!   of the 5 daily returns) on one feature, the 5-day return `c_t / c_{t−5} − 1` or the 20-day
//!   return `c_t / c_{t−20} − 1` (the fit decides the sign, so a reversal shows as a negative
//!   coefficient);
//! - `linear`: the same two regressions on the last day's 21 features of the model's window;
//! - `zero_return`: predicts a 0 return (magnitude metrics only; no direction).
//!
//! Regressions come from linfa (pure Rust, no BLAS): `linfa-logistic` with L2 penalty 1 and
//! `linfa-linear`'s Tweedie GLM with power 0 (normal), identity link and L2 penalty 1 — ridge.
//! Features are standardised with the training mean and std; returns are fitted in percent.
use linfa::prelude::*;
use linfa_linear::{Link, TweedieRegressor};
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use ndarray::{Array1, Array2};

use crate::data::Bar;
use crate::features::{FORECAST_DAYS, N_FEATURES, SEQ_LEN};

/// Baseline names, in report order.
pub const BASELINES: [&str; 5] = ["base_rate", "momentum_5d", "reversion_20d", "linear", "zero_return"];
/// L2 penalty of both regressions (sklearn's defaults: `C = 1`, `alpha = 1`).
pub const L2_PENALTY: f64 = 1.0;
/// Returns are regressed in percent so the solver's tolerances are meaningful.
const PCT: f64 = 100.0;

/// What the baselines see of one day `t` (a training sample's last window day or a test day).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayFeatures {
    /// The last row of the model's raw 60×21 input window ending at `t`.
    pub last: [f64; N_FEATURES],
    /// `c_t / c_{t−5} − 1` (0 when there is no such bar).
    pub momentum_5d: f64,
    /// `c_t / c_{t−20} − 1` (0 when there is no such bar).
    pub reversion_20d: f64,
}

impl DayFeatures {
    /// Only the last window day's features (the returns left 0): what the `linear` direction fit
    /// reads, for callers holding windows but not bars (the deploy gate).
    pub fn from_last_row(row: &[f32]) -> DayFeatures {
        let mut last = [0.0; N_FEATURES];
        for (dst, v) in last.iter_mut().zip(row) {
            *dst = f64::from(*v);
        }
        DayFeatures { last, momentum_5d: 0.0, reversion_20d: 0.0 }
    }

    /// Features of bar `t` of `bars` with the model's raw window ending there.
    pub fn new(bars: &[Bar], t: usize, window: &[f32]) -> DayFeatures {
        let ret = |k: usize| if t >= k { bars[t].close / bars[t - k].close - 1.0 } else { 0.0 };
        let mut last = [0.0; N_FEATURES];
        for (dst, v) in last.iter_mut().zip(&window[(SEQ_LEN - 1) * N_FEATURES..SEQ_LEN * N_FEATURES]) {
            *dst = f64::from(*v);
        }
        DayFeatures { last, momentum_5d: ret(5), reversion_20d: ret(20) }
    }
}

/// Which inputs a regression sees.
#[derive(Debug, Clone, Copy)]
pub(super) enum Inputs {
    /// The 5-day return.
    Momentum,
    /// The 20-day return.
    Reversion,
    /// The last window day's 21 features.
    All,
}

impl Inputs {
    fn row(self, d: &DayFeatures) -> Vec<f64> {
        match self {
            Inputs::Momentum => vec![d.momentum_5d],
            Inputs::Reversion => vec![d.reversion_20d],
            Inputs::All => d.last.to_vec(),
        }
    }
}

/// Logistic regression of the direction on standardised inputs; `None` = the fit failed (one
/// class only, solver error) and the training up share is answered instead.
#[derive(Debug, Clone)]
pub(super) struct DirectionFit {
    inputs: Inputs,
    scale: Vec<(f64, f64)>,
    logit: Option<FittedLogisticRegression<f64, bool>>,
    up_share: f64,
}

impl DirectionFit {
    /// Fits on training days and their realised direction.
    pub(super) fn fit(inputs: Inputs, days: &[DayFeatures], y_dir: &[bool]) -> DirectionFit {
        let scale = standardiser(inputs, days);
        let up_share = y_dir.iter().filter(|y| **y).count() as f64 / days.len().max(1) as f64;
        let one_class = up_share == 0.0 || up_share == 1.0;
        let logit = (!one_class)
            .then(|| {
                LogisticRegression::default()
                    .alpha(L2_PENALTY)
                    .max_iterations(200)
                    .fit(&Dataset::new(design(inputs, days, &scale), Array1::from_iter(y_dir.iter().copied())))
                    .map_err(|e| tracing::warn!(error = %e, "baseline logistic fit failed; using the base rate"))
                    .ok()
            })
            .flatten();
        DirectionFit { inputs, scale, logit, up_share }
    }

    /// `P(up)` for every day.
    pub(super) fn prob_up(&self, days: &[DayFeatures]) -> Vec<f64> {
        match &self.logit {
            Some(_) if days.is_empty() => Vec::new(),
            // linfa's "positive" class is the more frequent one, not `true`.
            Some(l) if l.labels().pos.class => l.predict_probabilities(&design(self.inputs, days, &self.scale)).to_vec(),
            Some(l) => l.predict_probabilities(&design(self.inputs, days, &self.scale)).iter().map(|q| 1.0 - q).collect(),
            None => vec![self.up_share; days.len()],
        }
    }
}

#[derive(Debug)]
struct LinearFit {
    direction: DirectionFit,
    ridge: Vec<Option<TweedieRegressor<f64>>>,
}

#[derive(Debug)]
enum Kind {
    BaseRate,
    Linear(Box<LinearFit>),
    Zero,
}

/// One fitted baseline.
#[derive(Debug)]
pub struct Baseline {
    /// Its name (one of [`BASELINES`]).
    pub name: &'static str,
    kind: Kind,
    /// Training share of up-moves (the fallback probability).
    up_share: f64,
    /// Training mean of each forecast day's return (the fallback magnitudes).
    mean_mag: [f64; FORECAST_DAYS],
}

fn design(inputs: Inputs, days: &[DayFeatures], scale: &[(f64, f64)]) -> Array2<f64> {
    let k = scale.len();
    let mut x = Array2::zeros((days.len(), k));
    for (i, d) in days.iter().enumerate() {
        for (j, v) in inputs.row(d).into_iter().enumerate() {
            x[[i, j]] = (v - scale[j].0) / scale[j].1;
        }
    }
    x
}

fn standardiser(inputs: Inputs, days: &[DayFeatures]) -> Vec<(f64, f64)> {
    let rows: Vec<Vec<f64>> = days.iter().map(|d| inputs.row(d)).collect();
    let k = rows.first().map_or(0, Vec::len);
    let n = rows.len().max(1) as f64;
    (0..k)
        .map(|j| {
            let m = rows.iter().map(|r| r[j]).sum::<f64>() / n;
            let s = (rows.iter().map(|r| (r[j] - m).powi(2)).sum::<f64>() / n).sqrt();
            (m, if s > 1e-12 { s } else { 1.0 })
        })
        .collect()
}

fn fit_linear(inputs: Inputs, days: &[DayFeatures], y_dir: &[bool], y_mag: &[[f64; FORECAST_DAYS]]) -> LinearFit {
    let direction = DirectionFit::fit(inputs, days, y_dir);
    let x = design(inputs, days, &direction.scale);
    let ridge = (0..FORECAST_DAYS)
        .map(|k| {
            let yk = Array1::from_iter(y_mag.iter().map(|m| m[k] * PCT));
            TweedieRegressor::params()
                .power(0.0)
                .link(Link::Identity)
                .alpha(L2_PENALTY)
                .tol(1e-8)
                .max_iter(200)
                .fit(&Dataset::new(x.clone(), yk))
                .map_err(|e| tracing::warn!(error = %e, "baseline ridge fit failed; using the mean"))
                .ok()
        })
        .collect();
    LinearFit { direction, ridge }
}

/// Fits every baseline of [`BASELINES`] on training days with their realised direction
/// (`c_{t+5} > c_t`) and 5 daily returns.
pub fn fit_all(days: &[DayFeatures], y_dir: &[bool], y_mag: &[[f64; FORECAST_DAYS]]) -> Vec<Baseline> {
    let n = days.len().max(1) as f64;
    let up_share = y_dir.iter().filter(|y| **y).count() as f64 / n;
    let mut mean_mag = [0.0; FORECAST_DAYS];
    for m in y_mag {
        for k in 0..FORECAST_DAYS {
            mean_mag[k] += m[k] / n;
        }
    }
    let make = |name, kind| Baseline { name, kind, up_share, mean_mag };
    vec![
        make("base_rate", Kind::BaseRate),
        make("momentum_5d", Kind::Linear(Box::new(fit_linear(Inputs::Momentum, days, y_dir, y_mag)))),
        make("reversion_20d", Kind::Linear(Box::new(fit_linear(Inputs::Reversion, days, y_dir, y_mag)))),
        make("linear", Kind::Linear(Box::new(fit_linear(Inputs::All, days, y_dir, y_mag)))),
        make("zero_return", Kind::Zero),
    ]
}

fn cumulative(m: &[f64]) -> f64 {
    m.iter().fold(1.0, |acc, r| acc * (1.0 + r)) - 1.0
}

impl Baseline {
    /// `(prob_up per day or None, predicted 5-day cumulative return per day)`.
    pub fn answer(&self, days: &[DayFeatures]) -> (Option<Vec<f64>>, Vec<f64>) {
        let n = days.len();
        match &self.kind {
            Kind::BaseRate => (Some(vec![self.up_share; n]), vec![cumulative(&self.mean_mag); n]),
            Kind::Zero => (None, vec![0.0; n]),
            Kind::Linear(fit) => {
                let x = design(fit.direction.inputs, days, &fit.direction.scale);
                let p = fit.direction.prob_up(days);
                let per_day: Vec<Vec<f64>> = fit
                    .ridge
                    .iter()
                    .enumerate()
                    .map(|(k, r)| match r {
                        Some(r) => r.predict(&x).iter().map(|v| v / PCT).collect(),
                        None => vec![self.mean_mag[k]; n],
                    })
                    .collect();
                let cum = (0..n).map(|i| cumulative(&per_day.iter().map(|d| d[i]).collect::<Vec<_>>())).collect();
                (Some(p), cum)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: f64) -> DayFeatures {
        DayFeatures { last: [0.0; N_FEATURES], momentum_5d: m, reversion_20d: -m }
    }

    #[test]
    fn momentum_fit_follows_a_planted_sign_and_base_rate_is_the_share() {
        // Up iff the 5-day return was positive; magnitudes follow it.
        let days: Vec<DayFeatures> = (0..200).map(|i| day(((i * 7919) % 101) as f64 / 1000.0 - 0.05)).collect();
        let y: Vec<bool> = days.iter().map(|d| d.momentum_5d > 0.0).collect();
        let mag: Vec<[f64; 5]> = days.iter().map(|d| [d.momentum_5d / 5.0; 5]).collect();
        let fitted = fit_all(&days, &y, &mag);
        let names: Vec<&str> = fitted.iter().map(|b| b.name).collect();
        assert_eq!(names, BASELINES);
        let test = [day(0.04), day(-0.04)];
        let (p, cum) = fitted[1].answer(&test);
        let p = p.unwrap();
        assert!(p[0] > 0.7 && p[1] < 0.3, "{p:?}");
        assert!(cum[0] > 0.0 && cum[1] < 0.0, "{cum:?}");
        // Reversion sees the mirrored feature: it learns a negative slope.
        let (p, _) = fitted[2].answer(&test);
        assert!(p.unwrap()[0] > 0.7);
        let share = y.iter().filter(|v| **v).count() as f64 / 200.0;
        assert_eq!(fitted[0].answer(&test).0.unwrap(), vec![share; 2]);
        assert_eq!(fitted[4].answer(&test), (None, vec![0.0, 0.0]));
    }
}
