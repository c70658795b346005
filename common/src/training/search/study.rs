//! The trial loop shared by the grid and the TPE search: ask a point, evaluate it fold by fold,
//! prune hopeless trials (median rule), tell the objective, keep the best; stop after
//! `n_trials` or when the time budget is spent.
use std::time::{Duration, Instant};

use serde::Serialize;

use super::objective::{CvMetric, FoldScores};
use super::pruner::MedianPruner;
use crate::Result;

/// Where the points of a study come from.
pub trait Proposer {
    /// One point of the search.
    type Point: Clone + std::fmt::Debug;
    /// The next point to evaluate.
    fn ask(&mut self) -> Self::Point;
    /// `point` scored `objective` (higher is better; a pruned trial's objective covers the folds
    /// it ran).
    fn tell(&mut self, point: &Self::Point, objective: f64) -> Result<()>;
}

/// How a study runs.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// Trials to run (fewer when the time budget ends the study first).
    pub n_trials: usize,
    /// No new trial starts once this much time has passed (a started trial finishes; the first
    /// trial always runs).
    pub time_budget: Option<Duration>,
    /// Folds per trial.
    pub n_folds: usize,
    /// Early stopping of hopeless trials; `None` runs every trial to its last fold.
    pub pruner: Option<MedianPruner>,
    /// What is maximised.
    pub metric: CvMetric,
}

/// State of a trial.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Folds still to run.
    Running,
    /// Ran every fold.
    Complete,
    /// Stopped early by the median rule.
    Pruned,
}

/// One trial, as far as it got.
#[derive(Serialize, Clone, Debug)]
pub struct TrialRecord<P> {
    /// 1-based trial number.
    pub number: usize,
    /// Its hyper-parameters.
    pub params: P,
    /// Scores of the folds it ran, in order.
    pub folds: Vec<FoldScores>,
    /// Objective over the first `k + 1` folds, for each fold `k` it ran.
    pub running: Vec<f64>,
    /// Objective over the folds it ran.
    pub objective: f64,
    /// Running, complete or pruned.
    pub state: TrialState,
    /// Best objective of the complete trials so far (this one included once it is complete);
    /// `None` before any trial completed.
    pub best_so_far: Option<f64>,
    /// Number of the trial holding `best_so_far`.
    pub best_trial: Option<usize>,
    /// Wall time of the trial so far.
    pub seconds: f64,
}

/// Why a study stopped.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All `n_trials` ran.
    NTrials,
    /// The time budget was spent.
    TimeBudget,
}

/// Every trial and the best complete one.
#[derive(Serialize, Clone, Debug)]
pub struct StudyOutcome<P> {
    /// Every trial in the order it ran.
    pub trials: Vec<TrialRecord<P>>,
    /// Index into `trials` of the best complete trial (the first on ties).
    pub best: usize,
    /// Why the study stopped.
    pub stopped_by: StopReason,
}

impl<P> StudyOutcome<P> {
    /// The best complete trial.
    pub fn best_trial(&self) -> &TrialRecord<P> {
        &self.trials[self.best]
    }

    /// Numbers of the pruned trials.
    pub fn pruned(&self) -> Vec<usize> {
        self.trials.iter().filter(|t| t.state == TrialState::Pruned).map(|t| t.number).collect()
    }
}

/// `eval_fold(trial_number, params, fold)` of [`run_study`].
pub type FoldEvaluator<'a, P> = dyn FnMut(usize, &P, usize) -> Result<FoldScores> + 'a;

/// Runs a study. `eval_fold(trial_number, params, fold)` trains and scores one fold (0-based);
/// `on_fold` sees the trial after each of its folds (its state tells whether it goes on).
/// Errors of `eval_fold` (cancellation included) end the study.
pub fn run_study<P: Proposer>(
    proposer: &mut P,
    opts: &StudyOptions,
    eval_fold: &mut FoldEvaluator<'_, P::Point>,
    on_fold: &mut dyn FnMut(&TrialRecord<P::Point>),
) -> Result<StudyOutcome<P::Point>> {
    let started = Instant::now();
    let mut trials: Vec<TrialRecord<P::Point>> = Vec::new();
    // Running objectives of the complete trials, for the median rule.
    let mut finished: Vec<Vec<f64>> = Vec::new();
    let mut best: Option<(f64, usize)> = None;
    let mut stopped_by = StopReason::NTrials;
    for number in 1..=opts.n_trials {
        if number > 1 && opts.time_budget.is_some_and(|b| started.elapsed() >= b) {
            stopped_by = StopReason::TimeBudget;
            break;
        }
        let trial_started = Instant::now();
        let params = proposer.ask();
        let mut rec = TrialRecord {
            number,
            params,
            folds: Vec::new(),
            running: Vec::new(),
            objective: f64::NAN,
            state: TrialState::Running,
            best_so_far: best.map(|b| b.0),
            best_trial: best.map(|b| trials[b.1].number),
            seconds: 0.0,
        };
        for fold in 0..opts.n_folds {
            let scores = eval_fold(number, &rec.params, fold)?;
            rec.folds.push(scores);
            rec.objective = opts.metric.objective(&rec.folds);
            rec.running.push(rec.objective);
            let done = fold + 1;
            if done == opts.n_folds {
                rec.state = TrialState::Complete;
                if best.is_none_or(|(b, _)| rec.objective > b) {
                    best = Some((rec.objective, trials.len()));
                    rec.best_so_far = Some(rec.objective);
                    rec.best_trial = Some(number);
                }
            } else if opts.pruner.is_some_and(|p| p.should_prune(&finished, done, opts.n_folds, rec.objective)) {
                rec.state = TrialState::Pruned;
            }
            rec.seconds = trial_started.elapsed().as_secs_f64();
            on_fold(&rec);
            if rec.state != TrialState::Running {
                break;
            }
        }
        proposer.tell(&rec.params, rec.objective)?;
        if rec.state == TrialState::Complete {
            finished.push(rec.running.clone());
        }
        trials.push(rec);
    }
    let best = match best {
        Some((_, i)) => i,
        // Unreachable with a pruner that waits for finished trials; kept total anyway.
        None => (0..trials.len())
            .max_by(|&a, &b| trials[a].objective.total_cmp(&trials[b].objective))
            .ok_or_else(|| crate::Error::invalid("the search ran no trial: n_trials must be at least 1"))?,
    };
    Ok(StudyOutcome { trials, best, stopped_by })
}
