//! The search machinery without any network training: the TPE sampler against random search on
//! a known objective, seeded repeatability, the median pruner, the trial loop (pruned trials
//! reported, time budget), and the validation of search spaces and request fields.
use std::time::Duration;

use common::pb;
use common::training::search::{
    run_study, CvMetric, Dim, FoldScores, Interval, MedianPruner, Proposer, Sampler, SearchConfig, SearchFields,
    SearchMode, SearchSpace, StopReason, StudyOptions, TrialRecord, TrialState,
};
use common::Error;

/// A known 2-parameter objective on `[-5, 5]²`, maximal (0) at `(1.5, -2)`.
fn bowl(x: f64, y: f64) -> f64 {
    -((x - 1.5).powi(2) + (y + 2.0).powi(2))
}

const BOWL_DIMS: [Dim; 2] = [Dim::Float { lo: -5.0, hi: 5.0, log: false }, Dim::Float { lo: -5.0, hi: 5.0, log: false }];

/// First trial (1-based) whose point lies within 0.5 of the optimum (`bowl ≥ −0.25`), or
/// `budget + 1` when none does.
fn trials_to_optimum(startup: usize, seed: u64, budget: usize) -> usize {
    let mut s = Sampler::new(&BOWL_DIMS, startup, seed).unwrap();
    for t in 1..=budget {
        let p = s.ask();
        let v = bowl(p[0], p[1]);
        if v >= -0.25 {
            return t;
        }
        s.tell(&p, v).unwrap();
    }
    budget + 1
}

fn median(mut v: Vec<usize>) -> usize {
    v.sort_unstable();
    v[v.len() / 2]
}

#[test]
fn tpe_reaches_the_optimum_of_a_known_objective_faster_than_random_search() {
    // Random search hits the disc of radius 0.5 with probability π·0.25/100 ≈ 0.8 % per trial
    // (≈ 127 trials expected).
    let budget = 200;
    let seeds = 0..15u64;
    let tpe: Vec<usize> = seeds.clone().map(|s| trials_to_optimum(10, s, budget)).collect();
    let random: Vec<usize> = seeds.map(|s| trials_to_optimum(usize::MAX, s, budget)).collect();
    let (mt, mr) = (median(tpe.clone()), median(random.clone()));
    eprintln!("median trials to the optimum over 15 seeds: tpe {mt} vs random {mr}");
    assert!(mt < mr, "median trials to the optimum: tpe {mt} ({tpe:?}) vs random {mr} ({random:?})");
    assert!(mt <= budget / 2, "tpe needed {mt} trials (median of {tpe:?})");
}

#[test]
fn seeded_samplers_repeat_exactly_and_seeds_differ() {
    let run = |seed| {
        let dims = [
            Dim::Float { lo: 1e-4, hi: 3e-3, log: true },
            Dim::Choice(3),
            Dim::Int { lo: 20, hi: 60 },
            Dim::Float { lo: 0.0, hi: 0.5, log: false },
        ];
        let mut s = Sampler::new(&dims, 5, seed).unwrap();
        let mut points = Vec::new();
        for _ in 0..30 {
            let p = s.ask();
            s.tell(&p, -(p[0].ln() + 7.0).powi(2) + p[1] - (p[2] - 33.0).abs() / 10.0 + p[3]).unwrap();
            points.push(p);
        }
        points
    };
    let a = run(11);
    assert_eq!(a, run(11), "same seed, same points (bit for bit)");
    assert_ne!(a, run(12), "another seed, other points");
}

#[test]
fn sampled_points_stay_inside_their_dimensions() {
    let dims = [
        Dim::Float { lo: 2e-4, hi: 4e-4, log: true },
        Dim::Int { lo: 3, hi: 5 },
        Dim::Choice(2),
        Dim::Float { lo: 0.25, hi: 0.25, log: false },
        Dim::Int { lo: 7, hi: 7 },
        Dim::Choice(1),
    ];
    let mut s = Sampler::new(&dims, 4, 3).unwrap();
    let mut ints_seen = std::collections::BTreeSet::new();
    for i in 0..300 {
        let p = s.ask();
        assert!((2e-4..=4e-4).contains(&p[0]), "lr {}", p[0]);
        assert!(p[1] == p[1].floor() && (3.0..=5.0).contains(&p[1]), "int {}", p[1]);
        assert!(p[2] == 0.0 || p[2] == 1.0, "choice {}", p[2]);
        assert_eq!((p[3], p[4], p[5]), (0.25, 7.0, 0.0), "fixed dimensions stay fixed");
        ints_seen.insert(p[1] as i64);
        s.tell(&p, (i % 7) as f64).unwrap();
    }
    assert_eq!(ints_seen.into_iter().collect::<Vec<_>>(), [3, 4, 5], "both ends of an integer range are reachable");
}

#[test]
fn median_rule() {
    let p = MedianPruner { startup_trials: 3, min_folds: 2 };
    let finished = vec![vec![0.6, 0.6, 0.6], vec![0.5, 0.5, 0.5], vec![0.7, 0.4, 0.55]];
    // after fold 2 the finished trials had 0.6, 0.5, 0.4 → median 0.5
    assert!(p.should_prune(&finished, 2, 3, 0.49));
    assert!(!p.should_prune(&finished, 2, 3, 0.5), "equal to the median goes on");
    assert!(!p.should_prune(&finished, 1, 3, 0.0), "before min_folds nothing is pruned");
    assert!(!p.should_prune(&finished, 3, 3, 0.0), "after the last fold nothing is pruned");
    assert!(!p.should_prune(&finished[..2], 2, 3, 0.0), "fewer finished trials than startup_trials");
    assert!(p.should_prune(&finished, 2, 3, f64::NAN), "a NaN objective is hopeless");
    // even count: median of 0.6, 0.5 = 0.55
    let p2 = MedianPruner { startup_trials: 2, min_folds: 1 };
    assert!(p2.should_prune(&finished[..2], 1, 3, 0.549));
    assert!(!p2.should_prune(&finished[..2], 1, 3, 0.55));
}

/// One real parameter `x ∈ [0, 1]` proposed by TPE.
struct OneDim(Sampler);

impl Proposer for OneDim {
    type Point = f64;
    fn ask(&mut self) -> f64 {
        self.0.ask()[0]
    }
    fn tell(&mut self, x: &f64, objective: f64) -> common::Result<()> {
        self.0.tell(&[*x], objective)
    }
}

/// Fold `k`'s AUC for parameter `x`: `x` plus a fixed per-fold wobble.
fn fold_auc(x: f64, k: usize) -> FoldScores {
    let wobble = [0.02, -0.01, 0.015, -0.02, 0.0][k];
    FoldScores { f1: 0.5, mse: 1e-4, accuracy: 0.5, auc: Some(0.4 + 0.3 * x + wobble) }
}

#[test]
fn hopeless_trials_are_pruned_by_the_median_rule_and_reported() {
    let opts = StudyOptions {
        n_trials: 30,
        time_budget: None,
        n_folds: 5,
        pruner: Some(MedianPruner::default()),
        metric: CvMetric::Auc,
    };
    let mut seen: Vec<(usize, usize, TrialState)> = Vec::new();
    // random proposals, so about half of the trials fall below the median
    let mut proposer = OneDim(Sampler::new(&[Dim::Float { lo: 0.0, hi: 1.0, log: false }], usize::MAX, 99).unwrap());
    let outcome = run_study(
        &mut proposer,
        &opts,
        &mut |_, x, k| Ok(fold_auc(*x, k)),
        &mut |t: &TrialRecord<f64>| seen.push((t.number, t.folds.len(), t.state)),
    )
    .unwrap();
    assert_eq!(outcome.trials.len(), 30);
    assert_eq!(outcome.stopped_by, StopReason::NTrials);
    let pruned = outcome.pruned();
    assert!(!pruned.is_empty(), "with 30 trials some fall below the median");
    let mut complete_so_far: Vec<&TrialRecord<f64>> = Vec::new();
    for t in &outcome.trials {
        match t.state {
            TrialState::Pruned => {
                assert!(pruned.contains(&t.number));
                let k = t.folds.len();
                assert!((2..5).contains(&k), "trial {} pruned after {k} folds", t.number);
                assert!(complete_so_far.len() >= 5, "trial {} pruned before 5 trials completed", t.number);
                let mut at: Vec<f64> = complete_so_far.iter().map(|c| c.running[k - 1]).collect();
                at.sort_by(f64::total_cmp);
                let m = if at.len() % 2 == 1 { at[at.len() / 2] } else { (at[at.len() / 2 - 1] + at[at.len() / 2]) / 2.0 };
                assert!(t.objective < m, "trial {}: {} is not below the median {m}", t.number, t.objective);
            }
            TrialState::Complete => {
                assert_eq!(t.folds.len(), 5);
                complete_so_far.push(t);
            }
            TrialState::Running => panic!("trial {} still running after the study", t.number),
        }
        // the callback saw every fold, the last one with the final state
        let events: Vec<_> = seen.iter().filter(|e| e.0 == t.number).collect();
        assert_eq!(events.len(), t.folds.len());
        assert!(events[..events.len() - 1].iter().all(|e| e.2 == TrialState::Running));
        assert_eq!(events.last().unwrap().2, t.state);
    }
    // the best is the first complete trial with the highest objective
    let best = outcome.best_trial();
    assert_eq!(best.state, TrialState::Complete);
    let top = complete_so_far.iter().map(|t| t.objective).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(best.objective, top);
    assert_eq!(best.best_so_far, Some(top));
    // running best never decreases
    let bests: Vec<f64> = outcome.trials.iter().filter_map(|t| t.best_so_far).collect();
    assert!(bests.windows(2).all(|w| w[1] >= w[0]), "{bests:?}");
}

#[test]
fn the_time_budget_stops_the_study_between_trials() {
    let opts = StudyOptions {
        n_trials: 50,
        time_budget: Some(Duration::from_millis(120)),
        n_folds: 2,
        pruner: None,
        metric: CvMetric::Score,
    };
    let mut proposer = OneDim(Sampler::new(&[Dim::Float { lo: 0.0, hi: 1.0, log: false }], 5, 1).unwrap());
    let outcome = run_study(
        &mut proposer,
        &opts,
        &mut |_, x, k| {
            std::thread::sleep(Duration::from_millis(20));
            Ok(fold_auc(*x, k))
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(outcome.stopped_by, StopReason::TimeBudget);
    let n = outcome.trials.len();
    assert!((2..50).contains(&n), "{n} trials in a 120 ms budget of 40 ms trials");
    assert!(outcome.trials.iter().all(|t| t.state == TrialState::Complete));
}

fn invalid(r: common::Result<SearchConfig>) -> String {
    match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

fn tpe_fields(space: pb::SearchSpace) -> SearchFields {
    SearchFields { search: "tpe".into(), search_space: Some(space), ..SearchFields::default() }
}

#[test]
fn request_fields_become_a_validated_search_config() {
    // defaults: grid on score; tpe on auc with 20 trials over the default space
    let grid = SearchConfig::try_from(SearchFields::default()).unwrap();
    assert_eq!((grid.mode, grid.metric), (SearchMode::Grid, CvMetric::Score));
    let tpe = SearchConfig::try_from(SearchFields { search: "TPE".into(), ..SearchFields::default() }).unwrap();
    assert_eq!(tpe, SearchConfig::tpe());
    assert_eq!((tpe.n_trials, tpe.metric), (20, CvMetric::Auc));
    assert_eq!(tpe.space, SearchSpace::default());
    assert_eq!(tpe.space.lr, Interval::new(1e-4, 3e-3));
    // a partial space keeps the other defaults; lo == hi fixes a value
    let partial = SearchConfig::try_from(tpe_fields(pb::SearchSpace {
        dropout: Some(pb::DoubleRange { lo: 0.1, hi: 0.1 }),
        hidden_size: Some(pb::UintChoices { values: vec![16] }),
        ..Default::default()
    }))
    .unwrap();
    assert_eq!(partial.space.dropout, Interval::new(0.1, 0.1));
    assert_eq!(partial.space.hidden_size, [16]);
    assert_eq!(partial.space.epochs, SearchSpace::default().epochs);
    // the grid can be scored by AUC
    let g = SearchConfig::try_from(SearchFields { cv_metric: "auc".into(), ..SearchFields::default() }).unwrap();
    assert_eq!((g.mode, g.metric), (SearchMode::Grid, CvMetric::Auc));
}

#[test]
fn bad_spaces_and_fields_are_invalid_arguments_that_say_what_to_fix() {
    let cases: Vec<(SearchFields, &str)> = vec![
        (tpe_fields(pb::SearchSpace { lr: Some(pb::DoubleRange { lo: 1e-2, hi: 1e-3 }), ..Default::default() }), "search_space.lr: lo 0.01 is above hi 0.001"),
        (tpe_fields(pb::SearchSpace { epochs: Some(pb::UintRange { lo: 40, hi: 20 }), ..Default::default() }), "search_space.epochs: lo 40 is above hi 20"),
        (tpe_fields(pb::SearchSpace { dropout: Some(pb::DoubleRange { lo: 0.5, hi: 0.1 }), ..Default::default() }), "search_space.dropout: lo 0.5 is above hi 0.1"),
        (tpe_fields(pb::SearchSpace { hidden_size: Some(pb::UintChoices { values: vec![] }), ..Default::default() }), "search_space.hidden_size: the list is empty"),
        (tpe_fields(pb::SearchSpace { batch_size: Some(pb::UintChoices { values: vec![] }), ..Default::default() }), "search_space.batch_size: the list is empty"),
        (tpe_fields(pb::SearchSpace { lr: Some(pb::DoubleRange { lo: 0.0, hi: 1e-3 }), ..Default::default() }), "must lie in (0, 1)"),
        (tpe_fields(pb::SearchSpace { dropout: Some(pb::DoubleRange { lo: 0.0, hi: 1.0 }), ..Default::default() }), "must lie in [0, 1)"),
        (tpe_fields(pb::SearchSpace { hidden_size: Some(pb::UintChoices { values: vec![1] }), ..Default::default() }), "hidden_size: 1 must be in 2..=1024"),
        (tpe_fields(pb::SearchSpace { epochs: Some(pb::UintRange { lo: 0, hi: 3 }), ..Default::default() }), "must lie in 1..=1000"),
        (SearchFields { search: "tpe".into(), n_trials: Some(0), ..SearchFields::default() }, "n_trials 0 must be in 1..=1000"),
        (SearchFields { search: "tpe".into(), time_budget_seconds: Some(0), ..SearchFields::default() }, "search_time_budget_seconds must be at least 1"),
        (SearchFields { search: "optuna".into(), ..SearchFields::default() }, "use grid or tpe"),
        (SearchFields { cv_metric: "f1".into(), ..SearchFields::default() }, "use score or auc"),
        (SearchFields { n_trials: Some(5), ..SearchFields::default() }, "n_trials only apply to search \"tpe\""),
        (
            SearchFields { search_space: Some(pb::SearchSpace::default()), time_budget_seconds: Some(9), ..SearchFields::default() },
            "search_space, search_time_budget_seconds only apply",
        ),
    ];
    for (fields, needle) in cases {
        let m = invalid(SearchConfig::try_from(fields.clone()));
        assert!(m.contains(needle), "{fields:?}: {m:?} !~ {needle:?}");
    }
}

#[test]
fn tpe_needs_the_cv_step() {
    let cfg = common::training::PipelineConfig {
        do_cv_tune: false,
        search: SearchConfig::tpe(),
        ..Default::default()
    };
    match cfg.validate() {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("do_cv_tune is false"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(common::training::PipelineConfig { search: SearchConfig::tpe(), ..Default::default() }.runs_cv());
    assert!(!common::training::PipelineConfig::default().runs_cv(), "the grid needs plain training");
}
