//! The TPE CV search inside the real pipeline (base network, plain Adam, few epochs): on
//! synthetic data with a planted effect its best CV AUC reaches the grid's; seeded runs repeat
//! exactly; every trial stays inside the given space; the events and the report list every
//! trial, pruned ones included.
use common::data::synthetic::{generate, SyntheticConfig};
use common::features::{build_samples, FeatureConfig, Samples};
use common::training::search::{Interval, SearchConfig, SearchSpace, TrialParams};
use common::training::{run_pipeline, DeviceChoice, PipelineConfig, TrainEvent};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn samples(days: usize, seed: u64) -> Samples {
    let bars = generate(&SyntheticConfig { seed, days, ..SyntheticConfig::default() });
    build_samples(&bars, &FeatureConfig::default()).unwrap()
}

/// Plain training with CV (3 folds), base model, no holdout / importance / plots.
fn cv_cfg(search: SearchConfig, max_epochs: u32, seed: u64) -> PipelineConfig {
    PipelineConfig {
        do_cv_tune: true,
        use_improved_training: false,
        use_enhanced_model: false,
        fast_training: true,
        do_post_training_validation: false,
        do_shap: false,
        do_plot: false,
        max_epochs: Some(max_epochs),
        seed: Some(seed),
        device: DeviceChoice::Cpu,
        cpu_threads: Some(1),
        search,
        ..PipelineConfig::default()
    }
}

fn run(s: &Samples, cfg: &PipelineConfig) -> (Value, Vec<TrainEvent>) {
    let mut events = Vec::new();
    let out = run_pipeline(s, cfg, None, &mut |e| events.push(e), &CancellationToken::new()).unwrap();
    (out.cross_validation.expect("the run did CV"), events)
}

/// The report without wall times (the only part that differs between identical runs).
fn without_times(mut v: Value) -> Value {
    for t in v["trials"].as_array_mut().unwrap() {
        t.as_object_mut().unwrap().remove("seconds");
    }
    v
}

#[test]
fn tpe_best_cv_auc_reaches_the_grids_on_a_planted_effect() {
    let s = samples(504, 21);
    // the default grid (8 combinations), judged by the same AUC
    let grid = SearchConfig { metric: common::training::CvMetric::Auc, ..SearchConfig::default() };
    let (g, _) = run(&s, &cv_cfg(grid, 3, 5));
    let grid_best = g["results"].as_array().unwrap().iter().map(|r| r["avg_auc"].as_f64().unwrap()).fold(f64::MIN, f64::max);
    assert_eq!(g["best_objective"].as_f64().unwrap(), grid_best);
    // TPE, 8 trials over the default space
    let tpe = SearchConfig { n_trials: 8, ..SearchConfig::tpe() };
    let (t, _) = run(&s, &cv_cfg(tpe, 3, 5));
    let tpe_best = t["best_objective"].as_f64().unwrap();
    eprintln!("best CV AUC: tpe {tpe_best:.4} vs grid {grid_best:.4}");
    assert!(tpe_best >= grid_best, "tpe {tpe_best} < grid {grid_best}\ntpe: {t:#}");
    assert!(tpe_best > 0.5, "the planted effect is learnable: {tpe_best}");
}

#[test]
fn seeded_tpe_runs_repeat_stay_inside_the_given_space_and_report_every_trial() {
    let s = samples(300, 8);
    let space = SearchSpace {
        lr: Interval::new(5e-4, 2e-3),
        hidden_size: vec![8, 16],
        epochs: Interval::new(1, 2),
        dropout: Interval::new(0.1, 0.2),
        batch_size: vec![32, 64],
    };
    let search = SearchConfig { n_trials: 7, space: space.clone(), ..SearchConfig::tpe() };
    let cfg = cv_cfg(search, 2, 17);
    let (a, events) = run(&s, &cfg);
    let (b, _) = run(&s, &cfg);
    assert_eq!(without_times(a.clone()), without_times(b), "same seed, same trials and scores");

    let trials = a["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 7);
    assert_eq!(a["search"], "tpe");
    assert_eq!(a["cv_metric"], "auc");
    for t in trials {
        let p: TrialParams = serde_json::from_value(t["params"].clone()).unwrap();
        assert!(space.contains(&p), "trial {} left the space: {p:?}", t["trial"]);
        let state = t["state"].as_str().unwrap();
        let folds = t["folds"].as_array().unwrap().len();
        assert!(state == "complete" && folds == 3 || state == "pruned" && folds == 2, "{t}");
    }
    let pruned: Vec<u64> = trials.iter().filter(|t| t["state"] == "pruned").map(|t| t["trial"].as_u64().unwrap()).collect();
    assert_eq!(a["pruned_trials"], serde_json::json!(pruned));

    // one CvFold event per fold run; each trial's last one carries its result
    let fold_events: Vec<&TrainEvent> = events.iter().filter(|e| matches!(e, TrainEvent::CvFold { .. })).collect();
    let folds_run: usize = trials.iter().map(|t| t["folds_run"].as_u64().unwrap() as usize).sum();
    assert_eq!(fold_events.len(), folds_run);
    let ends: Vec<(u32, bool)> = fold_events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::CvFold { combination, trial: Some(t), .. } => Some((*combination, t.pruned)),
            _ => None,
        })
        .collect();
    let expected: Vec<(u32, bool)> = trials.iter().map(|t| (t["trial"].as_u64().unwrap() as u32, t["state"] == "pruned")).collect();
    assert_eq!(ends, expected);
    let summary = events.iter().find_map(|e| match e {
        TrainEvent::CvSummary { search, best_trial, trials_run, pruned_trials, best_dropout, .. } => {
            Some((search.clone(), *best_trial, *trials_run, pruned_trials.clone(), *best_dropout))
        }
        _ => None,
    });
    let (search, best_trial, trials_run, pruned_trials, best_dropout) = summary.expect("a CvSummary event");
    assert_eq!((search.as_str(), trials_run), ("tpe", 7));
    assert_eq!(pruned_trials.iter().map(|&n| u64::from(n)).collect::<Vec<_>>(), pruned);
    assert_eq!(u64::from(best_trial), a["best_trial"].as_u64().unwrap());
    assert!(best_dropout.is_some_and(|d| space.dropout.contains(d)));
}
