//! The pooled run (SPEC §14.3, seed 002): one network trained on the windows of several symbols
//! over the same date span, each member standardised on its own training part, then calibrated,
//! validated and given a deploy decision on its own days.
//!
//! The split is by **date**, the same cut for every member: the first member (the request's
//! `symbol`) is split as a single-symbol run is (`[fit | gap | calibration] | gap | holdout`),
//! and each other member takes the samples whose end dates fall in the same parts. A member also
//! keeps its own [`PURGE_GAP`] samples before its calibration and holdout parts, so no trained
//! target of any member reaches a bar dated on or after the holdout's first day (a bar after the
//! cut changes no training sample: tested). Pooled runs take the fixed hyper-parameters of
//! SPEC §6: a CV search over pooled samples is refused. Feature importance is not computed.
use super::final_fit::Fitted;
use super::split::Split;
use super::validation::Checked;
use super::{check_samples, min_samples, CurrentModel, PipelineOutcome, PipelineRun, MIN_TRAIN_SAMPLES};
use crate::baselines::BaselineScore;
use crate::evaluation::{DeployDecision, HoldoutMetrics, PURGE_GAP};
use crate::features::Samples;
use crate::key::check_symbol;
use crate::model::{Pool, PoolMember};
use crate::training::calibrate::{CalibrationSplit, MIN_INNER_VAL};
use crate::training::config::PipelineConfig;
use crate::training::events::{stage, TrainEvent};
use crate::training::session::Session;
use crate::{Error, Result};
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Most members one pooled run may have.
pub const MAX_POOL_MEMBERS: usize = 64;
/// Fewest holdout samples a member must have on the pool's holdout days.
pub const MIN_MEMBER_HOLDOUT: usize = 10;

/// One member of a pooled run.
#[derive(Debug, Clone, Copy)]
pub struct PoolInput<'a> {
    /// Its ticker.
    pub symbol: &'a str,
    /// Its samples (raw features, chronological).
    pub samples: &'a Samples,
    /// The version current for its key, to compare with.
    pub current: Option<CurrentModel<'a>>,
}

/// What a pooled run found for one member.
#[derive(Debug, Clone)]
pub struct MemberOutcome {
    /// The member's ticker.
    pub symbol: String,
    /// Whether the pooled version becomes current for this member, and why.
    pub deploy: DeployDecision,
    /// Holdout metrics of the pooled version and of the member's current version.
    pub validation: Option<(HoldoutMetrics, Option<HoldoutMetrics>)>,
    /// Baselines on the member's holdout.
    pub baselines: Vec<BaselineScore>,
    /// The member's holdout metrics (flat, as stored in its [`PoolMember`]).
    pub metrics: BTreeMap<String, f64>,
    /// Samples of the member.
    pub n_samples: usize,
}

/// Everything a pooled run produced: one version (its metadata carry the [`Pool`]; the
/// outcome's deploy, validation and metrics are the first member's) and each member's findings,
/// the first member first.
#[derive(Debug, Clone)]
pub struct PooledOutcome {
    /// The version, described as for the first member.
    pub outcome: PipelineOutcome,
    /// Each member's deploy decision and holdout findings.
    pub members: Vec<MemberOutcome>,
}

/// How a pooled run standardises its members' features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolNormalisation {
    /// Each member on statistics of its own training part (SPEC §14.3; what the service does).
    #[default]
    PerMember,
    /// One set of statistics over every member's training part: the cross-asset "scale
    /// pollution" seed 002 warns of, kept only to measure it.
    Shared,
}

/// Runs the pooled pipeline on `members` (the first is the version's own symbol), each member
/// standardised on its own statistics. Blocking.
pub fn run_pooled(
    members: &[PoolInput<'_>],
    cfg: &PipelineConfig,
    events: &mut dyn FnMut(TrainEvent),
    cancel: &CancellationToken,
) -> Result<PooledOutcome> {
    run_pooled_with(members, cfg, PoolNormalisation::PerMember, events, cancel)
}

/// [`run_pooled`] with the normalisation chosen.
pub fn run_pooled_with(
    members: &[PoolInput<'_>],
    cfg: &PipelineConfig,
    normalisation: PoolNormalisation,
    events: &mut dyn FnMut(TrainEvent),
    cancel: &CancellationToken,
) -> Result<PooledOutcome> {
    let started = Instant::now();
    cfg.validate()?;
    check_members(members, cfg)?;
    let need = min_samples(cfg.do_post_training_validation);
    for m in members {
        check_samples(m.samples, need).map_err(|e| Error::invalid(format!("pool member {}: {e}", m.symbol)))?;
    }
    let session = Session::start(cfg.device, cfg.seed, cfg.cpu_threads)?;
    let mut run = PipelineRun { cfg, session, events, cancel, started };
    let first = run.split(members[0].samples)?;
    let cut = DateCut::of(&first);
    let mut splits = vec![first];
    for m in &members[1..] {
        splits.push(cut.split(m.symbol, m.samples)?);
    }
    run.announce(members, &splits, &cut);
    let tuning = run.tune(&splits[0])?;
    let shared = normalisation == PoolNormalisation::Shared;
    let mut fitted = run.final_fit(&splits.iter().collect::<Vec<_>>(), &tuning, shared)?;
    let mut pool = Vec::with_capacity(members.len());
    let mut outcomes = Vec::with_capacity(members.len());
    let mut first_checked = None;
    for (i, (m, split)) in members.iter().zip(&splits).enumerate() {
        let (member, outcome, view, checked) = run.member(i, m, split, &fitted)?;
        pool.push(member);
        outcomes.push(outcome);
        if i == 0 {
            fitted.model = view;
            first_checked = Some(checked);
        }
    }
    let checked = first_checked.expect("a pool has members");
    run.stage(stage::IMPORTANCE, "skipped: feature importance is not computed for pooled versions");
    let plots = run.plots(&splits[0], &fitted.report, &checked)?;
    let n_total: usize = splits.iter().map(|s| s.n).sum();
    let first = splits.swap_remove(0);
    let mut outcome = run.finish(first, tuning, fitted, checked, Vec::new(), plots)?;
    outcome.n_samples = n_total;
    outcome.metadata.diagnostics["pool_members"] = serde_json::json!(outcomes
        .iter()
        .map(|o: &MemberOutcome| serde_json::json!({"symbol": o.symbol, "n_samples": o.n_samples, "deploy": o.deploy.deploy}))
        .collect::<Vec<_>>());
    outcome.metadata.pool = Some(Pool { members: pool });
    Ok(PooledOutcome { outcome, members: outcomes })
}

/// Refuses pools that cannot be trained: fewer than two members, repeats, invalid symbols,
/// too many members, a CV search.
fn check_members(members: &[PoolInput<'_>], cfg: &PipelineConfig) -> Result<()> {
    if members.len() < 2 {
        return Err(Error::invalid("a pool needs at least two member symbols; train one symbol without pool_symbols"));
    }
    if members.len() > MAX_POOL_MEMBERS {
        return Err(Error::invalid(format!("a pool may have at most {MAX_POOL_MEMBERS} members, got {}", members.len())));
    }
    let mut seen = BTreeSet::new();
    for m in members {
        check_symbol(m.symbol)?;
        if !seen.insert(m.symbol) {
            return Err(Error::invalid(format!("pool member {} is listed twice", m.symbol)));
        }
    }
    if cfg.runs_cv() {
        return Err(Error::invalid(
            "a pooled run takes the fixed hyper-parameters: set do_cv_tune false (or use improved training with search \"grid\")",
        ));
    }
    Ok(())
}

/// The first member's split as dates, applied to every other member.
#[derive(Debug, Clone, Copy)]
struct DateCut {
    /// Last end date the fit trains on.
    fit_last: NaiveDate,
    /// First end date of the calibration part, when there is one.
    cal_first: Option<NaiveDate>,
    /// Last end date of the training part.
    train_last: NaiveDate,
    /// First end date of the holdout, with post-training validation.
    holdout_first: Option<NaiveDate>,
    /// How the calibration part was chosen (`inner_validation`, ...).
    source: &'static str,
}

impl DateCut {
    fn of(first: &Split) -> DateCut {
        let dates = &first.train.end_dates;
        DateCut {
            fit_last: dates[first.cal.fit.end - 1],
            cal_first: first.cal.cal.as_ref().map(|r| dates[r.start]),
            train_last: dates[dates.len() - 1],
            holdout_first: first.holdout.as_ref().map(|h| h.end_dates[0]),
            source: first.cal.source,
        }
    }

    /// `samples` cut at the same dates, with a [`PURGE_GAP`] of the member's own samples before
    /// its calibration and holdout parts.
    fn split(&self, symbol: &str, samples: &Samples) -> Result<Split> {
        let d = &samples.end_dates;
        let n = d.len();
        let upto = |date: NaiveDate| d.partition_point(|x| *x <= date);
        let from = |date: NaiveDate| d.partition_point(|x| *x < date);
        let (train_end, holdout) = match self.holdout_first {
            Some(h) => {
                let start = from(h);
                (upto(self.train_last).min(start.saturating_sub(PURGE_GAP)), Some(start..n))
            }
            None => (upto(self.train_last), None),
        };
        let (fit_end, cal) = match self.cal_first {
            Some(c) => {
                let start = from(c).min(train_end);
                (upto(self.fit_last).min(start.saturating_sub(PURGE_GAP)), Some(start..train_end))
            }
            None => (upto(self.fit_last).min(train_end), None),
        };
        let short = |part: &str, got: usize, need: usize| {
            Error::invalid(format!(
                "pool member {symbol} has {got} {part} samples on the pool's dates (need {need}); its bars \
                 must cover the first member's span — import them or leave it out of the pool"
            ))
        };
        if fit_end < MIN_TRAIN_SAMPLES {
            return Err(short("training", fit_end, MIN_TRAIN_SAMPLES));
        }
        if let Some(c) = &cal {
            if c.len() < MIN_INNER_VAL {
                return Err(short("calibration", c.len(), MIN_INNER_VAL));
            }
        }
        if let Some(h) = &holdout {
            if h.len() < MIN_MEMBER_HOLDOUT {
                return Err(short("holdout", h.len(), MIN_MEMBER_HOLDOUT));
            }
        }
        let train = samples.subset(0..train_end);
        let fit = train.subset(0..fit_end);
        Ok(Split {
            n,
            holdout: holdout.map(|r| samples.subset(r)),
            cal: CalibrationSplit { fit: 0..fit_end, cal, source: self.source },
            train,
            fit,
        })
    }
}

impl PipelineRun<'_> {
    /// Names the members and their parts in one stage event.
    fn announce(&mut self, members: &[PoolInput<'_>], splits: &[Split], cut: &DateCut) {
        let parts: Vec<String> = members
            .iter()
            .zip(splits)
            .map(|(m, s)| {
                let cal = s.cal.cal.as_ref().map_or(0, |r| r.len());
                format!("{} {}/{}/{}", m.symbol, s.fit.len(), cal, s.holdout.as_ref().map_or(0, Samples::len))
            })
            .collect();
        let holdout = cut.holdout_first.map(|d| format!(", holdout from {d}")).unwrap_or_default();
        self.stage(
            stage::FEATURES,
            format!(
                "pool of {} members (fit/calibration/holdout samples): {}; fit up to {}{holdout}",
                members.len(),
                parts.join(", "),
                cut.fit_last
            ),
        );
    }

    /// Calibrates and validates member `i` on its own days with the pooled network.
    fn member(
        &mut self,
        i: usize,
        m: &PoolInput<'_>,
        split: &Split,
        fitted: &Fitted,
    ) -> Result<(PoolMember, MemberOutcome, crate::model::LoadedModel, Checked)> {
        let mut md = fitted.model.metadata().clone();
        md.symbol = m.symbol.to_string();
        md.norm = fitted.norms[i].clone();
        md.data_start = split.train.end_dates.first().copied();
        md.data_end = split.train.end_dates.last().copied();
        if md.architecture.symbol_embedding_dim > 0 {
            md.member_index = i;
        }
        let mut view = fitted.model.with_metadata(md)?;
        self.stage(stage::CALIBRATION, format!("pool member {} ({} of {})", m.symbol, i + 1, fitted.norms.len()));
        let calibration = self.calibrate(split, &view)?;
        let checked = self.validate(split, &mut view, calibration, m.current)?;
        let mut metrics = checked.metrics();
        metrics.retain(|_, v| v.is_finite());
        let md = view.metadata();
        let member = PoolMember {
            symbol: m.symbol.to_string(),
            norm: md.norm.clone(),
            calibration: md.calibration.clone(),
            data_start: md.data_start,
            data_end: md.data_end,
            metrics: metrics.clone(),
        };
        let outcome = MemberOutcome {
            symbol: m.symbol.to_string(),
            deploy: checked.deploy.clone(),
            validation: checked.validation.clone(),
            baselines: checked.baselines.clone(),
            metrics,
            n_samples: split.n,
        };
        Ok((member, outcome, view, checked))
    }
}
