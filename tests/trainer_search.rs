//! The TPE search through the real trainer-svc over gRPC: bad search spaces are
//! INVALID_ARGUMENT with a message that says what to fix; a TPE run streams one CvFold event
//! per fold (a trial's last one with its result and the best so far), a CvSummary, and a
//! report listing every trial; holdout AUC reaches the validation event and the version.
use common::pb::{self, train_event::Event};
use system_tests::trainer_harness::*;
use tonic::Code;

fn tpe_train(symbol: &str) -> pb::TrainRequest {
    pb::TrainRequest {
        do_cv_tune: Some(true),
        do_shap: Some(false),
        do_plot: Some(false),
        max_epochs: Some(1),
        search: "tpe".into(),
        ..quick_train(symbol)
    }
}

fn space(f: impl FnOnce(&mut pb::SearchSpace)) -> Option<pb::SearchSpace> {
    let mut s = pb::SearchSpace::default();
    f(&mut s);
    Some(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_search_spaces_and_fields_are_invalid_arguments() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    ingest(&mut c, "SRCH", 3, 300).await?;
    let cases = [
        (
            pb::TrainRequest {
                search_space: space(|s| s.lr = Some(pb::DoubleRange { lo: 3e-3, hi: 1e-4 })),
                ..tpe_train("SRCH")
            },
            "search_space.lr: lo 0.003 is above hi 0.0001; give lo <= hi",
        ),
        (
            pb::TrainRequest {
                search_space: space(|s| s.epochs = Some(pb::UintRange { lo: 60, hi: 20 })),
                ..tpe_train("SRCH")
            },
            "search_space.epochs: lo 60 is above hi 20",
        ),
        (
            pb::TrainRequest {
                search_space: space(|s| s.hidden_size = Some(pb::UintChoices { values: vec![] })),
                ..tpe_train("SRCH")
            },
            "search_space.hidden_size: the list is empty",
        ),
        (
            pb::TrainRequest {
                search_space: space(|s| s.batch_size = Some(pb::UintChoices { values: vec![] })),
                ..tpe_train("SRCH")
            },
            "search_space.batch_size: the list is empty",
        ),
        (
            pb::TrainRequest {
                n_trials: Some(0),
                ..tpe_train("SRCH")
            },
            "n_trials 0 must be in 1..=1000",
        ),
        (
            pb::TrainRequest {
                n_trials: Some(5),
                search: String::new(),
                ..tpe_train("SRCH")
            },
            "n_trials only apply to search \"tpe\"",
        ),
        (
            pb::TrainRequest {
                do_cv_tune: Some(false),
                ..tpe_train("SRCH")
            },
            "do_cv_tune is false",
        ),
        (
            pb::TrainRequest {
                cv_metric: "precision".into(),
                ..tpe_train("SRCH")
            },
            "use score or auc",
        ),
        (
            pb::TrainRequest {
                search: "bayes".into(),
                ..tpe_train("SRCH")
            },
            "use grid or tpe",
        ),
    ];
    for (req, needle) in cases {
        let (events, s) = collect(c.train(req).await).await;
        let s = s.expect("an error");
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert!(s.message().contains(needle), "{:?} !~ {needle:?}", s.message());
        assert!(events.is_empty(), "rejected before the run starts: {events:?}");
    }
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tpe_run_streams_every_trial_and_reports_auc() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    ingest(&mut c, "TPEX", 5, 320).await?;
    let req = pb::TrainRequest {
        n_trials: Some(3),
        search_space: space(|s| {
            s.hidden_size = Some(pb::UintChoices { values: vec![8, 16] });
            s.epochs = Some(pb::UintRange { lo: 1, hi: 2 });
        }),
        ..tpe_train("TPEX")
    };
    let (events, status) = collect(c.train(req).await).await;
    assert!(status.is_none(), "train failed: {status:?}");
    let folds: Vec<pb::CvFold> = events
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::CvFold(f)) => Some(f.clone()),
            _ => None,
        })
        .collect();
    // 3 trials × 3 folds (fast_training), no pruning before 5 complete trials
    assert_eq!(folds.len(), 9, "{folds:?}");
    for f in &folds {
        assert_eq!((f.combinations, f.folds), (3, 3));
        assert!([8, 16].contains(&f.hidden_size) && (1..=2).contains(&f.epochs), "{f:?}");
        assert!((1e-4..=3e-3).contains(&f.lr) && (0.0..=0.5).contains(&f.dropout), "{f:?}");
        assert!([16, 32, 64].contains(&f.batch_size), "{f:?}");
        // the last fold of each trial carries the trial's result
        assert_eq!(f.trial.is_some(), f.fold == 3, "{f:?}");
    }
    let ends: Vec<&pb::CvTrialResult> = folds.iter().filter_map(|f| f.trial.as_ref()).collect();
    assert!(ends.iter().all(|t| t.state == "complete" && t.fold_objectives.len() == 3));
    let best_objectives: Vec<f64> = ends.iter().map(|t| t.best_objective.expect("a best after a complete trial")).collect();
    assert!(best_objectives.windows(2).all(|w| w[1] >= w[0]), "{best_objectives:?}");
    let summary = events
        .iter()
        .find_map(|e| match &e.event {
            Some(Event::CvSummary(s)) => Some(s.clone()),
            _ => None,
        })
        .expect("a cv_summary event");
    assert_eq!((summary.search.as_str(), summary.cv_metric.as_str(), summary.trials_run), ("tpe", "auc", 3));
    assert_eq!(summary.best_objective, *best_objectives.last().unwrap());
    assert_eq!(summary.stopped_by, "n_trials");

    let result = completed(&events).expect("completed");
    let report: serde_json::Value = serde_json::from_str(&result.cross_validation_json)?;
    assert_eq!(report["trials"].as_array().map(Vec::len), Some(3));
    assert_eq!(report["best_trial"].as_u64(), Some(u64::from(summary.best_trial)));
    let hp: serde_json::Value = serde_json::from_str(&result.hyperparameters_json)?;
    assert_eq!(hp["search"], "tpe");
    assert_eq!(hp["lr"].as_f64(), Some(summary.best_lr));
    assert_eq!(hp["batch_size"].as_u64(), Some(u64::from(summary.best_batch_size)));
    assert_eq!(hp["dropout"].as_f64(), summary.best_dropout);
    // holdout AUC in the validation decision and in the version's metrics
    let cand = result.validation.and_then(|v| v.candidate).expect("validation ran");
    let auc = cand.auc.expect("a two-class holdout has an AUC");
    assert!((0.0..=1.0).contains(&auc));
    assert_eq!(result.metrics.get("holdout_auc"), Some(&auc));
    let m = h.metrics_text().await?;
    assert!(m.contains("trainer_cv_trials_total{state=\"complete\"} 3"), "{m}");
    h.stop().await
}
