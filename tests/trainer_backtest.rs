//! The Backtest RPC end to end on a real server: the event stream, the stored run (mode
//! `backtest`, report + plots, AttachRun, GetTrainingRuns), cancellation mid-fold leaving no
//! report, bad input; and `trainer-svc import` / IngestBars on a real file with calendar fills.
use std::time::Duration;

use common::pb::{self, backtest_event::Event as B, backtest_fold_progress::Progress};
use system_tests::trainer_harness::{market, pb_bars, TrainerHarness};
use tonic::Code;

fn request(days: usize, folds: u32, horizon: u32, max_epochs: u32) -> pb::BacktestRequest {
    pb::BacktestRequest {
        symbol: "BT".into(),
        years: Some(1),
        use_enhanced_model: Some(false),
        do_cv_tune: Some(false),
        max_epochs: Some(max_epochs),
        seed: Some(3),
        device: "cpu".into(),
        bars: pb_bars(&market(9, days)),
        folds: Some(folds),
        horizon_days: Some(horizon),
        ..Default::default()
    }
}

async fn collect(
    call: Result<tonic::Response<tonic::Streaming<pb::BacktestEvent>>, tonic::Status>,
) -> (Vec<pb::BacktestEvent>, Option<tonic::Status>) {
    let mut s = match call {
        Ok(s) => s.into_inner(),
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut out = Vec::new();
    loop {
        match s.message().await {
            Ok(Some(e)) => out.push(e),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_streams_folds_and_stores_its_report_with_the_run() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    // A recipe field of SPEC 13.2 travels to every fold's fit, as in Train.
    let req = pb::BacktestRequest { calibration: "temperature".into(), ..request(400, 2, 20, 1) };
    let (events, status) = collect(c.backtest(req).await).await;
    assert!(status.is_none(), "{status:?}");
    let run_id = events[0].run_id.clone();
    let started = events.iter().find_map(|e| match &e.event { Some(B::Started(s)) => Some(s.clone()), _ => None });
    assert_eq!(started.expect("started").mode, "backtest");
    let count = |f: fn(&B) -> bool| events.iter().filter(|e| e.event.as_ref().is_some_and(f)).count();
    assert_eq!(count(|e| matches!(e, B::FoldStarted(_))), 2);
    assert_eq!(count(|e| matches!(e, B::FoldResult(_))), 2);
    assert!(count(|e| matches!(e, B::FoldProgress(p) if matches!(p.progress, Some(Progress::Epoch(_))))) >= 2);
    let Some(B::Completed(done)) = &events.last().unwrap().event else { panic!("last event is completed") };
    let report: serde_json::Value = serde_json::from_str(&done.report_json)?;
    assert_eq!(report["models"]["lstm"]["n"], 40);
    assert_eq!(report["models"]["lstm"]["per_fold"].as_array().unwrap().len(), 2);
    assert!(report["ci"]["lstm"]["hit_rate"].is_array());
    assert!(report["models"]["base_rate"]["hit_rate"].is_number());
    assert_eq!(report["recipe"]["calibration"], "temperature", "{}", report["recipe"]);

    let runs = c.get_training_runs(pb::GetTrainingRunsRequest { run_id: run_id.clone(), ..Default::default() }).await?.into_inner().runs;
    assert_eq!((runs[0].mode.as_str(), runs[0].status.as_str()), ("backtest", "succeeded"));
    let mut names: Vec<String> = runs[0].plots.iter().map(|p| p.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["predicted_vs_realised.png", "reliability.png", "report.json", "rolling.png"]);
    let stored = c.get_run_plot(pb::GetRunPlotRequest { run_id: run_id.clone(), name: "report.json".into() }).await?.into_inner();
    assert_eq!(stored.content_type, "application/json");
    assert_eq!(String::from_utf8(stored.png)?, done.report_json);

    // AttachRun replays the finished run and ends with its report.
    let mut attached = c.attach_run(pb::AttachRunRequest { run_id: run_id.clone() }).await?.into_inner();
    let mut last = None;
    while let Some(ev) = attached.message().await? {
        last = Some(ev);
    }
    match last.and_then(|e| e.event) {
        Some(pb::train_event::Event::BacktestCompleted(b)) => assert_eq!(b.report_json, done.report_json),
        other => panic!("attach ended with {other:?}"),
    }
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_fold_leaves_no_report_and_bad_input_is_refused() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;

    let e = c.backtest(pb::BacktestRequest { folds: Some(0), ..request(400, 1, 20, 1) }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("folds"), "{}", e.message());
    // The recipe fields are validated exactly as Train validates them.
    let e = c.backtest(pb::BacktestRequest { calibration: "isotonic".into(), ..request(400, 1, 20, 1) }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("calibration"), "{}", e.message());
    let e = c.backtest(pb::BacktestRequest { n_trials: Some(5), ..request(400, 1, 20, 1) }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "n_trials without search = tpe: {e:?}");
    let (_, status) = collect(c.backtest(request(300, 6, 60, 1)).await).await;
    let status = status.expect("horizon too long fails");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("trading days are missing"), "{}", status.message());
    let e = c.backtest(pb::BacktestRequest { bars: vec![], symbol: "NOPE".into(), ..request(10, 1, 20, 1) }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Cancel once the first fold is training.
    let slow = pb::BacktestRequest { use_enhanced_model: Some(true), ..request(400, 4, 20, 200) };
    let mut s = c.backtest(slow).await?.into_inner();
    let mut run_id = String::new();
    while let Some(ev) = s.message().await? {
        run_id = ev.run_id.clone();
        if let Some(B::FoldProgress(p)) = &ev.event {
            if matches!(p.progress, Some(Progress::Epoch(_))) {
                break;
            }
        }
    }
    let mut c2 = h.client().await?;
    let r = c2.cancel_run(pb::CancelRunRequest { run_id: run_id.clone() }).await?.into_inner();
    assert_eq!(r.status, "cancelling");
    let mut ended = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(60), s.message()).await? {
            Ok(Some(ev)) => {
                assert!(!matches!(ev.event, Some(B::Completed(_))), "a cancelled backtest completed");
                if let Some(B::Failed(f)) = ev.event {
                    ended = Some(f.code);
                }
            }
            Ok(None) => break,
            Err(st) => {
                assert_eq!(st.code(), Code::Cancelled);
                break;
            }
        }
    }
    assert_eq!(ended.as_deref(), Some("CANCELLED"));
    let runs = c.get_training_runs(pb::GetTrainingRunsRequest { run_id, ..Default::default() }).await?.into_inner().runs;
    assert_eq!(runs[0].status, "cancelled");
    assert!(runs[0].plots.is_empty(), "no report or plot of a cancelled backtest: {:?}", runs[0].plots);
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_drops_calendar_fills_of_a_real_file_unless_kept() -> anyhow::Result<()> {
    let Some(path) = common::data::reference::real_csv("yahoo_stock.csv") else { return Ok(()) };
    let csv = std::fs::read_to_string(path)?;
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    let r = c.ingest_bars(pb::IngestBarsRequest { symbol: "SPX".into(), csv: csv.clone(), ..Default::default() }).await?.into_inner();
    assert!(r.dropped_repeats > 500, "{}", r.dropped_repeats);
    assert_eq!(r.dropped_repeat_dates.len(), r.dropped_repeats as usize);
    assert!(r.dropped_repeat_dates.contains(&"2015-11-28".to_string()));
    assert_eq!(r.received as usize + r.dropped_repeats as usize, csv.lines().filter(|l| !l.trim().is_empty()).count() - 1);
    let kept = c
        .ingest_bars(pb::IngestBarsRequest { symbol: "SPXALL".into(), csv, keep_repeated_bars: Some(true), ..Default::default() })
        .await?
        .into_inner();
    assert_eq!((kept.dropped_repeats, kept.received), (0, r.received + r.dropped_repeats));
    h.stop().await
}
