//! The TPE search space (SPEC §13.3): ranges and choice lists of the five tuned
//! hyper-parameters, their defaults, their validation, and one sampled point ([`TrialParams`]).
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// A closed interval `[lo, hi]`; `lo == hi` fixes the value.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Interval<T> {
    /// Lower bound (inclusive).
    pub lo: T,
    /// Upper bound (inclusive).
    pub hi: T,
}

impl<T: PartialOrd + Copy> Interval<T> {
    /// `[lo, hi]`.
    pub fn new(lo: T, hi: T) -> Self {
        Interval { lo, hi }
    }

    /// True when `v` lies in `[lo, hi]`.
    pub fn contains(&self, v: T) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// Where the TPE search looks. `Default` is the space of the issue: lr log-uniform in
/// `[1e-4, 3e-3]`, hidden `{32, 64, 128}`, epochs `20..=60`, dropout `[0, 0.5]`, batch
/// `{16, 32, 64}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SearchSpace {
    /// Learning rate, sampled log-uniformly.
    pub lr: Interval<f64>,
    /// LSTM hidden sizes to choose from.
    pub hidden_size: Vec<i64>,
    /// Epochs, a uniform integer.
    pub epochs: Interval<u32>,
    /// Dropout probability of the network, uniform.
    pub dropout: Interval<f64>,
    /// Mini-batch sizes to choose from.
    pub batch_size: Vec<usize>,
}

impl Default for SearchSpace {
    fn default() -> Self {
        SearchSpace {
            lr: Interval::new(1e-4, 3e-3),
            hidden_size: vec![32, 64, 128],
            epochs: Interval::new(20, 60),
            dropout: Interval::new(0.0, 0.5),
            batch_size: vec![16, 32, 64],
        }
    }
}

/// One point of a [`SearchSpace`]: the hyper-parameters of one trial.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct TrialParams {
    /// Learning rate.
    pub lr: f64,
    /// LSTM hidden size.
    pub hidden_size: i64,
    /// Epochs (before any `max_epochs` cap).
    pub epochs: u32,
    /// Dropout probability.
    pub dropout: f64,
    /// Mini-batch size.
    pub batch_size: usize,
}

fn interval_error(name: &str, lo: impl std::fmt::Display, hi: impl std::fmt::Display) -> Error {
    Error::invalid(format!(
        "search_space.{name}: lo {lo} is above hi {hi}; give lo <= hi (lo == hi fixes the value)"
    ))
}

impl SearchSpace {
    /// Rejects empty choice lists, `lo > hi` and values outside what the trainer accepts
    /// (lr in (0, 1), hidden 2..=1024, epochs 1..=1000, dropout in [0, 1), batch 1..=4096).
    pub fn validate(&self) -> Result<()> {
        let Interval { lo, hi } = self.lr;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi < 1.0) {
            return Err(Error::invalid(format!(
                "search_space.lr: [{lo}, {hi}] must lie in (0, 1) (it is sampled log-uniformly)"
            )));
        }
        if lo > hi {
            return Err(interval_error("lr", lo, hi));
        }
        let Interval { lo, hi } = self.epochs;
        if lo > hi {
            return Err(interval_error("epochs", lo, hi));
        }
        if lo < 1 || hi > 1000 {
            return Err(Error::invalid(format!("search_space.epochs: [{lo}, {hi}] must lie in 1..=1000")));
        }
        let Interval { lo, hi } = self.dropout;
        if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && hi < 1.0) {
            return Err(Error::invalid(format!("search_space.dropout: [{lo}, {hi}] must lie in [0, 1)")));
        }
        if lo > hi {
            return Err(interval_error("dropout", lo, hi));
        }
        if self.hidden_size.is_empty() {
            return Err(Error::invalid(
                "search_space.hidden_size: the list is empty; list at least one size (or leave it unset for {32, 64, 128})",
            ));
        }
        if let Some(h) = self.hidden_size.iter().find(|h| !(2..=1024).contains(*h)) {
            return Err(Error::invalid(format!("search_space.hidden_size: {h} must be in 2..=1024")));
        }
        if self.batch_size.is_empty() {
            return Err(Error::invalid(
                "search_space.batch_size: the list is empty; list at least one size (or leave it unset for {16, 32, 64})",
            ));
        }
        if let Some(b) = self.batch_size.iter().find(|b| !(1..=4096).contains(*b)) {
            return Err(Error::invalid(format!("search_space.batch_size: {b} must be in 1..=4096")));
        }
        Ok(())
    }

    /// True when `p` lies inside the space.
    pub fn contains(&self, p: &TrialParams) -> bool {
        self.lr.contains(p.lr)
            && self.hidden_size.contains(&p.hidden_size)
            && self.epochs.contains(p.epochs)
            && self.dropout.contains(p.dropout)
            && self.batch_size.contains(&p.batch_size)
    }
}
