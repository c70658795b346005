//! The search fields of a request (`TrainRequest` 23–26 and 28; a `BacktestRequest` carrying the
//! same fields converts through here too) as a validated [`SearchConfig`].
use super::config::{SearchConfig, SearchMode};
use super::objective::CvMetric;
use super::space::{Interval, SearchSpace};
use crate::pb;
use crate::{Error, Result};

/// The search fields of a request, as the protocol carries them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchFields {
    /// `grid` | `tpe`; empty = `grid`.
    pub search: String,
    /// TPE trials; `None` = 20.
    pub n_trials: Option<u32>,
    /// `score` | `auc`; empty = `score` for the grid, `auc` for TPE.
    pub cv_metric: String,
    /// TPE space; unset parts take the defaults.
    pub search_space: Option<pb::SearchSpace>,
    /// TPE time budget in seconds.
    pub time_budget_seconds: Option<u32>,
}

fn double_range(name: &str, r: Option<pb::DoubleRange>, default: Interval<f64>) -> Result<Interval<f64>> {
    Ok(match r {
        None => default,
        Some(pb::DoubleRange { lo, hi }) => {
            if lo > hi {
                return Err(Error::invalid(format!(
                    "search_space.{name}: lo {lo} is above hi {hi}; give lo <= hi (lo == hi fixes the value)"
                )));
            }
            Interval::new(lo, hi)
        }
    })
}

fn choices<T>(c: Option<pb::UintChoices>, default: Vec<T>, convert: impl Fn(u32) -> T) -> Vec<T> {
    match c {
        None => default,
        // Set but empty stays empty, and validation says so.
        Some(pb::UintChoices { values }) => values.into_iter().map(convert).collect(),
    }
}

/// The space of a request: unset parts take [`SearchSpace::default`]'s.
fn space(s: Option<pb::SearchSpace>) -> Result<SearchSpace> {
    let d = SearchSpace::default();
    let Some(pb::SearchSpace { lr, hidden_size, epochs, dropout, batch_size }) = s else {
        return Ok(d);
    };
    Ok(SearchSpace {
        lr: double_range("lr", lr, d.lr)?,
        hidden_size: choices(hidden_size, d.hidden_size, i64::from),
        epochs: epochs.map_or(d.epochs, |pb::UintRange { lo, hi }| Interval::new(lo, hi)),
        dropout: double_range("dropout", dropout, d.dropout)?,
        batch_size: choices(batch_size, d.batch_size, |b| b as usize),
    })
}

impl TryFrom<SearchFields> for SearchConfig {
    type Error = Error;
    /// Parses and validates the fields. The TPE-only fields (`n_trials`, `search_space`, the
    /// time budget) with the grid are an error rather than silently ignored.
    fn try_from(f: SearchFields) -> Result<SearchConfig> {
        let SearchFields { search, n_trials, cv_metric, search_space, time_budget_seconds } = f;
        let mode: SearchMode = search.parse()?;
        let metric = if cv_metric.trim().is_empty() {
            match mode {
                SearchMode::Grid => CvMetric::Score,
                SearchMode::Tpe => CvMetric::Auc,
            }
        } else {
            cv_metric.parse()?
        };
        if mode == SearchMode::Grid {
            let given: Vec<&str> = [
                n_trials.map(|_| "n_trials"),
                search_space.as_ref().map(|_| "search_space"),
                time_budget_seconds.map(|_| "search_time_budget_seconds"),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !given.is_empty() {
                return Err(Error::invalid(format!(
                    "{} only apply to search \"tpe\"; set search to \"tpe\" or leave them unset (the grid uses param_grid)",
                    given.join(", ")
                )));
            }
        }
        let d = SearchConfig::default();
        let cfg = SearchConfig {
            mode,
            metric,
            n_trials: n_trials.unwrap_or(d.n_trials),
            time_budget_seconds,
            space: space(search_space)?,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}
