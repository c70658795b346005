//! trainer-svc end to end over gRPC: a real server on 127.0.0.1:0, a real client, assertions on
//! what a user sees (events, versions, runs, plots, status codes and messages).
use common::pb::{self, train_event::Event};
use system_tests::trainer_harness::*;
use tonic::Code;

fn pos(kinds: &[String], k: &str) -> usize {
    kinds
        .iter()
        .position(|x| x == k)
        .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_streams_progress_creates_a_current_version_and_manages_it() -> anyhow::Result<()> {
    // Keep older versions around for the rollback below (retention keeps 1 by default).
    let h = TrainerHarness::start_with(|c| c.registry.max_versions = 10).await?;
    let mut c = h.client().await?;
    let ing = ingest(&mut c, "SYNA", 11, 320).await?;
    assert_eq!(
        (ing.received, ing.inserted, ing.updated, ing.total_bars),
        (320, 320, 0, 320)
    );

    let (events, status) = collect(c.train(quick_train("SYNA")).await).await;
    assert!(status.is_none(), "train failed: {status:?}");
    let k = kinds(&events);
    // Order: started -> loading -> features -> training -> epochs -> validation -> completed.
    assert_eq!(k[0], "started", "{k:?}");
    let (load, feat, train) = (
        pos(&k, "stage:loading_data"),
        pos(&k, "stage:features"),
        pos(&k, "stage:training"),
    );
    let (epoch, val, done) = (
        pos(&k, "epoch"),
        pos(&k, "validation"),
        pos(&k, "completed"),
    );
    assert!(
        load < feat && feat < train && train < epoch && epoch < val && val < done,
        "{k:?}"
    );
    assert_eq!(done, k.len() - 1);
    assert!(
        k.contains(&"stage:importance".to_string()) && k.contains(&"stage:plotting".to_string()),
        "{k:?}"
    );
    let run_id = events[0].run_id.clone();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            (e.seq, e.run_id.as_str(), e.symbol.as_str(), e.years),
            (i as u64 + 1, run_id.as_str(), "SYNA", 1)
        );
    }
    let epochs: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::Epoch(x)) => Some(x.clone()),
            _ => None,
        })
        .collect();
    assert!(epochs
        .iter()
        .all(|e| e.max_epochs <= 2 && e.train_loss.is_finite() && e.train_loss > 0.0));
    let result = completed(&events).expect("completed result");
    assert!(
        result.deployed,
        "first model of a key is deployed: {}",
        result.decision_reason
    );
    assert!(!result.version_id.is_empty());
    assert_eq!(result.model_kind, "LSTMDualHead");
    assert_eq!(result.n_features, 21);
    assert_eq!(result.feature_importance.len(), 21);
    let validation = result.validation.clone().expect("validation");
    assert!(validation.candidate.is_some() && validation.current.is_none() && validation.deploy);
    assert!(!result.plots.is_empty());

    // Registry views.
    let versions = c
        .list_versions(pb::ListVersionsRequest {
            symbol: "SYNA".into(),
            years: Some(1),
        })
        .await?
        .into_inner()
        .versions;
    assert_eq!(versions.len(), 1);
    assert!(
        versions[0].is_current
            && versions[0].version_id == result.version_id
            && versions[0].weights_bytes > 0
    );
    let v = c
        .get_version(pb::GetVersionRequest {
            version_id: result.version_id.clone(),
        })
        .await?
        .into_inner();
    let md: serde_json::Value = serde_json::from_str(&v.metadata_json)?;
    assert!(
        md.get("norm").is_some(),
        "normalisation stats are stored with the version"
    );
    let runs = c
        .get_training_runs(pb::GetTrainingRunsRequest {
            symbol: "SYNA".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .runs;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (
            runs[0].status.as_str(),
            runs[0].version_id.as_str(),
            runs[0].mode.as_str()
        ),
        ("succeeded", result.version_id.as_str(), "train")
    );
    assert!(runs[0].duration_seconds > 0.0 && !runs[0].plots.is_empty());
    let plot = &result.plots[0];
    let png = c
        .get_run_plot(pb::GetRunPlotRequest {
            run_id: run_id.clone(),
            name: plot.name.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(png.content_type, "image/png");
    assert!(png.png.starts_with(b"\x89PNG"), "a PNG");
    assert_eq!(png.png.len() as u64, plot.size_bytes);

    // AttachRun after the end replays exactly what was streamed.
    let (replayed, status) = collect(
        c.attach_run(pb::AttachRunRequest {
            run_id: run_id.clone(),
        })
        .await,
    )
    .await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(replayed, events);
    // CancelRun of a finished run reports its final status.
    let cr = c
        .cancel_run(pb::CancelRunRequest {
            run_id: run_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(cr.status, "succeeded");

    // Deleting the current version is refused.
    let e = c
        .delete_version(pb::DeleteVersionRequest {
            version_id: result.version_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("is current"), "{}", e.message());

    // Incremental fine-tuning of the current model makes a new current version.
    let (events, status) = collect(
        c.incremental_train(pb::IncrementalTrainRequest {
            symbol: "SYNA".into(),
            years: Some(1),
            epochs: Some(2),
            seed: Some(3),
            device: "cpu".into(),
            ..Default::default()
        })
        .await,
    )
    .await;
    assert!(
        status.is_none(),
        "incremental failed: {status:?} {:?}",
        kinds(&events)
    );
    let inc = completed(&events).expect("incremental result");
    assert!(inc.deployed && inc.version_id != result.version_id);
    let k = kinds(&events);
    assert_eq!(
        events
            .iter()
            .find_map(|e| match &e.event {
                Some(Event::Started(s)) => Some(s.mode.clone()),
                _ => None,
            })
            .as_deref(),
        Some("incremental")
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.event, Some(Event::Epoch(x)) if x.phase == "incremental")),
        "{k:?}"
    );

    // Triggered training: Friday -> weekly -> incremental; forced monthly -> full pipeline with CV.
    let (events, status) = collect(
        c.run_triggered_training(pb::RunTriggeredTrainingRequest {
            symbol: "SYNA".into(),
            as_of: "2026-11-20".into(),
            seed: Some(5),
            device: "cpu".into(),
            ..Default::default()
        })
        .await,
    )
    .await;
    assert!(status.is_none(), "weekly trigger failed: {status:?}");
    let mode = |events: &[pb::TrainEvent]| {
        events.iter().find_map(|e| match &e.event {
            Some(Event::Started(s)) => Some(s.mode.clone()),
            _ => None,
        })
    };
    assert_eq!(mode(&events).as_deref(), Some("triggered:weekly"));
    assert!(completed(&events).is_some());
    let (events, status) = collect(
        c.run_triggered_training(pb::RunTriggeredTrainingRequest {
            symbol: "SYNA".into(),
            trigger_type: "monthly".into(),
            fast_training: Some(true),
            max_epochs: Some(1),
            seed: Some(5),
            device: "cpu".into(),
            ..Default::default()
        })
        .await,
    )
    .await;
    assert!(status.is_none(), "monthly trigger failed: {status:?}");
    let k = kinds(&events);
    assert_eq!(mode(&events).as_deref(), Some("triggered:monthly"));
    assert!(
        pos(&k, "stage:cross_validation") < pos(&k, "cv_fold")
            && pos(&k, "cv_summary") < pos(&k, "completed"),
        "{k:?}"
    );
    assert!(
        k.contains(&"stage:importance".to_string()) && k.contains(&"stage:plotting".to_string()),
        "{k:?}"
    );
    let monthly = completed(&events).unwrap();
    assert!(!monthly.cross_validation_json.is_empty());
    // Whether or not it won the validation, it is stored (kept with its reason when rejected).
    let v = c
        .get_version(pb::GetVersionRequest {
            version_id: monthly.version_id.clone(),
        })
        .await?
        .into_inner()
        .version
        .unwrap();
    assert_eq!(v.is_current, monthly.deployed);
    if !monthly.deployed {
        assert!(v.note.contains("not deployed"), "{}", v.note);
    }
    // Put the incremental version back as current for the rollback below.
    c.set_current_version(pb::SetCurrentVersionRequest {
        symbol: "SYNA".into(),
        years: 1,
        version_id: inc.version_id.clone(),
        reason: String::new(),
    })
    .await?;

    // Rollback to the first version, then delete the (now non-current) incremental one.
    let set = c
        .set_current_version(pb::SetCurrentVersionRequest {
            symbol: "SYNA".into(),
            years: 1,
            version_id: result.version_id.clone(),
            reason: "rollback test".into(),
        })
        .await?
        .into_inner();
    assert_eq!(
        (
            set.previous_version_id.as_str(),
            set.current_version_id.as_str()
        ),
        (inc.version_id.as_str(), result.version_id.as_str())
    );
    c.delete_version(pb::DeleteVersionRequest {
        version_id: inc.version_id.clone(),
    })
    .await?;
    let e = c
        .get_version(pb::GetVersionRequest {
            version_id: inc.version_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .set_current_version(pb::SetCurrentVersionRequest {
            symbol: "OTHER".into(),
            years: 1,
            version_id: result.version_id.clone(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    // Triggers: Friday 2026-11-20 is weekly; Monday 2026-11-30 is the month end.
    let t = c
        .check_triggers(pb::CheckTriggersRequest {
            symbol: "SYNA".into(),
            as_of: "2026-11-20".into(),
            years: Some(1),
        })
        .await?
        .into_inner();
    assert!(t.weekly && !t.monthly && !t.quarterly && !t.performance_decay);
    assert_eq!(t.selected, "weekly");
    let t = c
        .check_triggers(pb::CheckTriggersRequest {
            symbol: "SYNA".into(),
            as_of: "2026-11-30".into(),
            years: None,
        })
        .await?
        .into_inner();
    assert_eq!((t.monthly, t.selected.as_str()), (true, "monthly"));

    let m = h.metrics_text().await?;
    assert!(
        m.contains("trainer_runs_finished_total{mode=\"train\",outcome=\"succeeded\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("trainer_runs_finished_total{mode=\"incremental\",outcome=\"succeeded\"} 1"),
        "{m}"
    );
    assert!(m.contains("trainer_epoch_seconds_count"), "{m}");
    assert!(
        m.contains(
            "trainer_rpc_requests_total{code=\"FAILED_PRECONDITION\",method=\"DeleteVersion\"} 1"
        ),
        "{m}"
    );
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_rejects_bad_input_with_the_documented_code_and_message() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;

    // Unknown symbol.
    let (_, s) = collect(c.train(quick_train("NOPE")).await).await;
    let s = s.expect("error");
    assert_eq!(s.code(), Code::NotFound, "{s:?}");
    assert!(
        s.message().contains("unknown symbol NOPE") && s.message().contains("IngestBars"),
        "{}",
        s.message()
    );

    // Too little data: 40 bars.
    ingest(&mut c, "TINY", 5, 40).await?;
    let (events, s) = collect(c.train(quick_train("TINY")).await).await;
    let s = s.expect("error");
    assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
    assert_eq!(
        s.message(),
        "insufficient data: need at least 65 trading days, got 40"
    );
    let failed = events
        .iter()
        .find_map(|e| match &e.event {
            Some(Event::Failed(f)) => Some(f.clone()),
            _ => None,
        })
        .expect("failed event");
    assert_eq!(failed.code, "FAILED_PRECONDITION");
    let reg = h.registry().await?;
    let runs = reg.runs(Some("TINY"), None, 10).await?;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status.as_str(), "failed");
    let failures = reg.failures(Some("TINY"), 10).await?;
    assert_eq!(failures.len(), 1);
    assert!(failures[0].error.contains("got 40"));

    // Bad years, dates, loss, grid, device, symbol.
    for (req, needle) in [
        (
            pb::TrainRequest {
                years: Some(0),
                ..quick_train("TINY")
            },
            "years must be between 1 and 10, got 0",
        ),
        (
            pb::TrainRequest {
                years: Some(11),
                ..quick_train("TINY")
            },
            "got 11",
        ),
        (
            pb::TrainRequest {
                end: "2024-13-01".into(),
                ..quick_train("TINY")
            },
            "end `2024-13-01` is not a date",
        ),
        (
            pb::TrainRequest {
                start: "yesterday".into(),
                ..quick_train("TINY")
            },
            "start `yesterday`",
        ),
        (
            pb::TrainRequest {
                start: "2024-06-01".into(),
                end: "2024-01-01".into(),
                ..quick_train("TINY")
            },
            "must be before end",
        ),
        (
            pb::TrainRequest {
                reg_loss_type: "l1".into(),
                ..quick_train("TINY")
            },
            "use one of: mse, huber, volatility, full",
        ),
        (
            pb::TrainRequest {
                device: "gpu".into(),
                ..quick_train("TINY")
            },
            "auto, cpu or cuda:N",
        ),
        (
            pb::TrainRequest {
                symbol: "DROP TABLE".into(),
                ..quick_train("TINY")
            },
            "invalid",
        ),
        (
            pb::TrainRequest {
                all_years: true,
                ..quick_train("TINY")
            },
            "leave years unset",
        ),
    ] {
        let (_, s) = collect(c.train(req).await).await;
        let s = s.expect("error");
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert!(s.message().contains(needle), "{} !~ {needle}", s.message());
    }

    // Corrupt CSV: nothing stored.
    let csv = "date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,1000\n2024-01-03,10,10.2,9,10.8,1000\n";
    let e = c
        .ingest_bars(pb::IngestBarsRequest {
            symbol: "BADCSV".into(),
            bars: vec![],
            csv: csv.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("row 2") && e.message().contains("field high"),
        "{}",
        e.message()
    );
    let csv = "date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,1000\n2024-01-32,10,11,9,10.5,1000\n";
    let e = c
        .ingest_bars(pb::IngestBarsRequest {
            symbol: "BADCSV".into(),
            bars: vec![],
            csv: csv.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        e.message().contains("row 2") && e.message().contains("date"),
        "{}",
        e.message()
    );
    assert!(
        reg.bars("BADCSV", None, None).await?.is_empty(),
        "nothing stored"
    );
    let e = c
        .ingest_bars(pb::IngestBarsRequest {
            symbol: "BADCSV".into(),
            bars: vec![],
            csv: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(e.message().contains("no bars"), "{}", e.message());
    let mut bad = pb_bars(&market(1, 3));
    bad[1].volume = -1.0;
    let e = c
        .ingest_bars(pb::IngestBarsRequest {
            symbol: "BADBARS".into(),
            bars: bad,
            csv: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        e.message().contains("row 2") && e.message().contains("volume"),
        "{}",
        e.message()
    );
    assert!(reg.bars("BADBARS", None, None).await?.is_empty());

    // Incremental without a current model.
    let (_, s) = collect(
        c.incremental_train(pb::IncrementalTrainRequest {
            symbol: "TINY".into(),
            ..Default::default()
        })
        .await,
    )
    .await;
    let s = s.expect("error");
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(
        s.message(),
        "no current model for incremental training: TINY/1y"
    );

    // Unknown ids.
    let e = c
        .get_version(pb::GetVersionRequest {
            version_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .set_current_version(pb::SetCurrentVersionRequest {
            symbol: "TINY".into(),
            years: 1,
            version_id: "nope".into(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .delete_version(pb::DeleteVersionRequest {
            version_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .get_version(pb::GetVersionRequest {
            version_id: " ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .cancel_run(pb::CancelRunRequest {
            run_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let (_, s) = collect(
        c.attach_run(pb::AttachRunRequest {
            run_id: "nope".into(),
        })
        .await,
    )
    .await;
    assert_eq!(s.expect("error").code(), Code::NotFound);
    let e = c
        .get_run_plot(pb::GetRunPlotRequest {
            run_id: runs[0].run_id.clone(),
            name: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .get_training_runs(pb::GetTrainingRunsRequest {
            run_id: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Triggers.
    let e = c
        .check_triggers(pb::CheckTriggersRequest {
            symbol: "NOPE".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .check_triggers(pb::CheckTriggersRequest {
            symbol: "TINY".into(),
            as_of: "2026-02-30".into(),
            years: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let (_, s) = collect(
        c.run_triggered_training(pb::RunTriggeredTrainingRequest {
            symbol: "TINY".into(),
            trigger_type: "daily".into(),
            ..Default::default()
        })
        .await,
    )
    .await;
    assert_eq!(s.expect("error").code(), Code::InvalidArgument);
    let (_, s) = collect(
        c.run_triggered_training(pb::RunTriggeredTrainingRequest {
            symbol: "TINY".into(),
            as_of: "2026-11-19".into(),
            ..Default::default()
        })
        .await,
    )
    .await;
    let s = s.expect("error");
    assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
    assert!(s.message().contains("no trigger fires"), "{}", s.message());

    // TrainAll argument checks.
    let e = c
        .train_all(pb::TrainAllRequest {
            shard_index: 3,
            shard_count: 2,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_rpcs_need_the_bearer_token() -> anyhow::Result<()> {
    let h = TrainerHarness::start_with(|c| c.auth_token = Some("s3cret".into())).await?;
    let mut c = h.client().await?;
    let req = || pb::IngestBarsRequest {
        symbol: "AUTH".into(),
        bars: pb_bars(&market(2, 5)),
        csv: String::new(),
        ..Default::default()
    };
    let e = c.ingest_bars(req()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(
        e.message().contains("authorization: Bearer"),
        "{}",
        e.message()
    );
    let e = c.ingest_bars(authed(req(), "wrong")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(
        e.message().contains("wrong") && !e.message().contains("s3cret"),
        "{}",
        e.message()
    );
    c.ingest_bars(authed(req(), "s3cret")).await?;
    let (_, s) = collect(c.train(quick_train("AUTH")).await).await;
    assert_eq!(s.expect("error").code(), Code::Unauthenticated);
    for e in [
        c.delete_version(pb::DeleteVersionRequest {
            version_id: "x".into(),
        })
        .await
        .unwrap_err(),
        c.set_current_version(pb::SetCurrentVersionRequest {
            version_id: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err(),
        c.cancel_run(pb::CancelRunRequest { run_id: "x".into() })
            .await
            .unwrap_err(),
        c.train_all(pb::TrainAllRequest::default())
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    }
    // Reads stay open.
    c.list_versions(pb::ListVersionsRequest::default()).await?;
    c.get_training_runs(pb::GetTrainingRunsRequest::default())
        .await?;
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_years_trains_three_keys_and_inline_bars_are_not_stored() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    ingest(&mut c, "MULTI", 12, 800).await?;
    let req = pb::TrainRequest {
        all_years: true,
        years: None,
        max_epochs: Some(1),
        do_shap: Some(false),
        do_plot: Some(false),
        ..quick_train("MULTI")
    };
    let (events, status) = collect(c.train(req).await).await;
    assert!(status.is_none(), "{status:?}");
    let results: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::Completed(r)) => r.result.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        results.iter().map(|r| r.years).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(results.iter().all(|r| r.deployed));
    // Each key covers (end - years, end]: more years, more samples, same end.
    assert!(
        results[0].n_samples < results[1].n_samples && results[1].n_samples < results[2].n_samples
    );
    assert!(results.iter().all(|r| r.data_end == results[0].data_end));
    let runs: std::collections::BTreeSet<_> = events.iter().map(|e| e.run_id.clone()).collect();
    assert_eq!(runs.len(), 3, "one run per key");
    let versions = c
        .list_versions(pb::ListVersionsRequest {
            symbol: "MULTI".into(),
            years: None,
        })
        .await?
        .into_inner()
        .versions;
    assert_eq!(versions.iter().filter(|v| v.is_current).count(), 3);

    // Inline bars train a symbol the registry has never seen, and are not written to it.
    let req = pb::TrainRequest {
        bars: pb_bars(&market(13, 300)),
        do_shap: Some(false),
        do_plot: Some(false),
        ..quick_train("INLINE")
    };
    let (events, status) = collect(c.train(req).await).await;
    assert!(status.is_none(), "{status:?}");
    assert!(completed(&events).unwrap().deployed);
    assert!(h
        .registry()
        .await?
        .bars("INLINE", None, None)
        .await?
        .is_empty());
    // Inline bars are validated like IngestBars.
    let mut bad = pb_bars(&market(13, 100));
    bad[5].high = bad[5].low / 2.0;
    let (_, status) = collect(
        c.train(pb::TrainRequest {
            bars: bad,
            ..quick_train("INLINE")
        })
        .await,
    )
    .await;
    let s = status.expect("error");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message().contains("row 6") && s.message().contains("high"),
        "{}",
        s.message()
    );
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_gate_keeps_a_candidate_worse_than_the_base_rate_non_current() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    // A market rising 1 % a day: nearly every 5-day window is up, and a one-epoch model served
    // raw cannot beat the base rate.
    let bars = common::data::generate(&common::data::SyntheticConfig {
        seed: 7,
        days: 300,
        drift: 0.01,
        ..common::data::SyntheticConfig::default()
    });
    let req = pb::TrainRequest {
        bars: pb_bars(&bars),
        max_epochs: Some(1),
        do_shap: Some(false),
        do_plot: Some(false),
        calibration: "none".into(),
        require_beats_baseline: Some(true),
        ..quick_train("GATE")
    };
    let (events, status) = collect(c.train(req.clone()).await).await;
    assert!(status.is_none(), "{status:?}");
    let result = completed(&events).expect("completed");
    assert!(!result.deployed, "{}", result.decision_reason);
    assert!(result.decision_reason.contains("require_beats_baseline") && result.decision_reason.contains("lost by"), "{}", result.decision_reason);
    let v = result.validation.clone().unwrap();
    assert_eq!(v.baselines.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), ["base_rate", "linear"]);
    let q = v.quality.clone().unwrap();
    assert!(!q.beats_baseline && !q.calibrated && q.n_holdout > 0, "{q:?}");
    assert!(v.require_beats_baseline);
    for k in ["holdout_brier", "baseline_base_rate_brier", "baseline_linear_brier", "beats_baseline"] {
        assert!(result.metrics.contains_key(k), "{k} missing from {:?}", result.metrics.keys());
    }
    // The streamed validation event carries the same comparison.
    assert!(events.iter().any(|e| matches!(&e.event, Some(Event::Validation(x)) if x.baselines.len() == 2 && !x.deploy)));
    // Kept as a non-current version whose note gives the reason.
    let versions = c
        .list_versions(pb::ListVersionsRequest { symbol: "GATE".into(), years: Some(1) })
        .await?
        .into_inner()
        .versions;
    assert_eq!(versions.len(), 1);
    assert!(!versions[0].is_current && versions[0].note.contains("lost by"), "{:?}", versions[0]);
    // Without the gate the seed's rule decides: no current model → deployed.
    let free = pb::TrainRequest { require_beats_baseline: None, ..req.clone() };
    let (events, status) = collect(c.train(free).await).await;
    assert!(status.is_none(), "{status:?}");
    let result = completed(&events).unwrap();
    assert!(result.deployed && result.decision_reason.contains("baseline gate off"), "{}", result.decision_reason);
    let text = h.metrics_text().await?;
    assert!(text.contains("trainer_validation_baseline_total{result=\"loses\"} 2"), "{text}");
    // Bad values are refused before any work.
    for (bad, needle) in [
        (pb::TrainRequest { calibration: "isotonic".into(), ..req.clone() }, "temperature, platt, none"),
        (pb::TrainRequest { target_precision: Some(1.5), ..req.clone() }, "target_precision"),
    ] {
        let (_, status) = collect(c.train(bad).await).await;
        let s = status.expect("error");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains(needle), "{}", s.message());
    }
    h.stop().await
}
