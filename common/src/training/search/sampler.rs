//! The sampler of the TPE search: random start-up trials, then one `tpe::TpeOptimizer` per
//! dimension (the tpe crate, repository sile/tpe: Parzen estimators for numbers, histograms for
//! choices, γ = 0.1, 24 candidates per ask — the independent TPE of Optuna's default sampler).
//!
//! Everything is drawn from one ChaCha8 generator seeded by the caller, so the same seed and the
//! same told values give the same points.
use rand_tpe::rngs::ChaCha8Rng;
use rand_tpe::{RngExt, SeedableRng};
use tpe::{categorical_range, histogram_estimator, parzen_estimator, range, TpeOptimizer};

use crate::{Error, Result};

/// One dimension of a search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dim {
    /// A real number in `[lo, hi]`, uniform in `ln x` when `log` (needs `lo > 0`).
    Float {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
        /// Sample the logarithm uniformly.
        log: bool,
    },
    /// An integer in `lo..=hi`.
    Int {
        /// Lower bound.
        lo: i64,
        /// Upper bound.
        hi: i64,
    },
    /// An index into `n` choices (`0..n`).
    Choice(usize),
}

impl Dim {
    /// The half-open internal interval the optimiser works on; `None` for a fixed value.
    fn internal(&self) -> Option<(f64, f64)> {
        match *self {
            Dim::Float { lo, hi, .. } if lo >= hi => None,
            Dim::Float { lo, hi, log: true } => Some((lo.ln(), hi.ln())),
            Dim::Float { lo, hi, log: false } => Some((lo, hi)),
            Dim::Int { lo, hi } if lo >= hi => None,
            Dim::Int { lo, hi } => Some((lo as f64, hi as f64 + 1.0)),
            Dim::Choice(n) if n <= 1 => None,
            Dim::Choice(n) => Some((0.0, n as f64)),
        }
    }

    /// The value of internal coordinate `t`, clamped into the dimension.
    fn value(&self, t: f64) -> f64 {
        match *self {
            Dim::Float { lo, hi, log } => (if log { t.exp() } else { t }).clamp(lo, hi),
            Dim::Int { lo, hi } => t.floor().clamp(lo as f64, hi as f64),
            Dim::Choice(n) => t.floor().clamp(0.0, n.saturating_sub(1) as f64),
        }
    }

    /// The value a fixed dimension always takes.
    fn fixed(&self) -> f64 {
        match *self {
            Dim::Float { lo, .. } => lo,
            Dim::Int { lo, .. } => lo as f64,
            Dim::Choice(_) => 0.0,
        }
    }

    /// The internal coordinate of `v` (what the optimiser is told).
    fn coordinate(&self, v: f64) -> f64 {
        match *self {
            Dim::Float { log: true, .. } => v.ln(),
            _ => v,
        }
    }
}

/// One dimension's optimiser (`None` when the dimension is fixed).
struct Axis {
    dim: Dim,
    optimizer: Option<(TpeOptimizer, f64, f64)>,
}

/// Proposes points to evaluate and learns from their objective values (higher is better).
pub struct Sampler {
    axes: Vec<Axis>,
    startup: usize,
    told: usize,
    rng: ChaCha8Rng,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler").field("dims", &self.axes.len()).field("told", &self.told).finish()
    }
}

impl Sampler {
    /// A TPE sampler over `dims` whose first `startup` points are uniformly random (TPE needs a
    /// few observations before its densities mean anything). `startup = usize::MAX` gives pure
    /// random search, the baseline TPE is compared with.
    pub fn new(dims: &[Dim], startup: usize, seed: u64) -> Result<Sampler> {
        let axes = dims
            .iter()
            .map(|&dim| {
                let optimizer = match dim.internal() {
                    None => None,
                    Some((a, b)) => {
                        let r = match dim {
                            Dim::Choice(n) => categorical_range(n),
                            _ => range(a, b),
                        }
                        .map_err(|e| Error::invalid(format!("search dimension {dim:?}: {e}")))?;
                        let est = if matches!(dim, Dim::Choice(_)) { histogram_estimator() } else { parzen_estimator() };
                        Some((TpeOptimizer::new(est, r), a, b))
                    }
                };
                Ok(Axis { dim, optimizer })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Sampler { axes, startup, told: 0, rng: ChaCha8Rng::seed_from_u64(seed) })
    }

    /// The next point, one value per dimension: the real value, the integer, or the choice
    /// index (as `f64`).
    pub fn ask(&mut self) -> Vec<f64> {
        let random = self.told < self.startup;
        let rng = &mut self.rng;
        self.axes
            .iter_mut()
            .map(|axis| match &mut axis.optimizer {
                None => axis.dim.fixed(),
                Some((opt, a, b)) => {
                    let t = if random {
                        rng.random_range(*a..*b)
                    } else {
                        // The default estimators cannot fail (their error type is Infallible).
                        opt.ask(rng).unwrap_or(*a)
                    };
                    axis.dim.value(t)
                }
            })
            .collect()
    }

    /// Records that `point` (as returned by [`Sampler::ask`]) scored `objective`. A non-finite
    /// objective is told as very bad rather than dropped.
    pub fn tell(&mut self, point: &[f64], objective: f64) -> Result<()> {
        if point.len() != self.axes.len() {
            return Err(Error::internal(format!(
                "told a point of {} values to a {}-dimensional sampler",
                point.len(),
                self.axes.len()
            )));
        }
        // tpe minimises.
        let loss = if objective.is_finite() { -objective } else { f64::MAX };
        for (axis, &v) in self.axes.iter_mut().zip(point) {
            if let Some((opt, a, b)) = &mut axis.optimizer {
                // Clamped values (e.g. `exp(ln hi)` rounding to `hi`) must stay inside `[a, b)`.
                let c = axis.dim.coordinate(v).clamp(*a, *b - (*b - *a) * 1e-12);
                opt.tell(c, loss).map_err(Error::internal)?;
            }
        }
        self.told += 1;
        Ok(())
    }
}
