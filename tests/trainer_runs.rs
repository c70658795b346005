//! Runs that meet each other: the per-symbol lease queue, lease timeouts, cancellation (CancelRun
//! and a dropped client stream), AttachRun following a live run, and TrainAll.
use std::time::{Duration, Instant};

use common::pb::{self, train_event::Event};
use system_tests::trainer_harness::*;
use tonic::Code;

/// A run long enough to overlap with another (many epochs of the base model).
/// (Plain training with a fixed 1000 epochs: no early stopping ends it by itself.)
fn long_train(symbol: &str) -> pb::TrainRequest {
    pb::TrainRequest {
        use_improved_training: Some(false),
        do_cv_tune: Some(false),
        param_grid: Some(pb::ParamGrid {
            epochs: vec![1000],
            ..Default::default()
        }),
        max_epochs: None,
        do_shap: Some(false),
        do_plot: Some(false),
        ..quick_train(symbol)
    }
}

async fn wait_for_status(h: &TrainerHarness, run_id: &str, want: &str) -> anyhow::Result<()> {
    let reg = h.registry().await?;
    let start = Instant::now();
    loop {
        let runs = reg.runs(None, Some(run_id), 1).await?;
        if runs.first().is_some_and(|r| r.status.as_str() == want) {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(60),
            "run {run_id} never became {want}: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_train_for_the_same_symbol_queues_then_runs() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    ingest(&mut c, "QUEUE", 21, 300).await?;
    let mut first = c.train(long_train("QUEUE")).await?.into_inner();
    let started = first.message().await?.expect("first event");
    assert!(
        matches!(started.event, Some(Event::Started(_))),
        "{started:?}"
    );
    let first_run = started.run_id.clone();

    let mut c2 = h.client().await?;
    let mut second = c2
        .train(pb::TrainRequest {
            max_epochs: Some(1),
            ..quick_train("QUEUE")
        })
        .await?
        .into_inner();
    let queued = second.message().await?.expect("queued event");
    let Some(Event::Queued(q)) = &queued.event else {
        panic!("expected queued, got {queued:?}")
    };
    assert_eq!(
        (q.position, q.holder_run_id.as_str()),
        (1, first_run.as_str())
    );
    assert_ne!(queued.run_id, first_run);
    let runs = h
        .registry()
        .await?
        .runs(None, Some(&queued.run_id), 1)
        .await?;
    assert_eq!(runs[0].status.as_str(), "queued");

    // The holder ends (cancelled); the queued run gets the lease and trains to completion.
    c.cancel_run(pb::CancelRunRequest {
        run_id: first_run.clone(),
    })
    .await?;
    let mut events = vec![queued];
    loop {
        match second.message().await {
            Ok(Some(ev)) => events.push(ev),
            Ok(None) => break,
            Err(s) => panic!("second run failed: {s:?} after {:?}", kinds(&events)),
        }
    }
    let k = kinds(&events);
    assert!(
        pos(&k, "started") > 0 && k.last().map(String::as_str) == Some("completed"),
        "{k:?}"
    );
    assert!(completed(&events).unwrap().deployed);
    while first.message().await.is_ok_and(|m| m.is_some()) {}
    let m = h.metrics_text().await?;
    assert!(m.contains("trainer_queue_wait_seconds_count 2"), "{m}");
    h.stop().await
}

fn pos(k: &[String], s: &str) -> usize {
    k.iter()
        .position(|x| x == s)
        .unwrap_or_else(|| panic!("no {s} in {k:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_timeout_aborts_and_cancel_run_stops_the_holder_without_a_version(
) -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    ingest(&mut c, "LOCK", 22, 300).await?;
    let mut holder = c.train(long_train("LOCK")).await?.into_inner();
    let started = holder.message().await?.expect("first event");
    let holder_run = started.run_id.clone();
    // Wait until it trains.
    loop {
        let ev = holder.message().await?.expect("event");
        if matches!(ev.event, Some(Event::Epoch(_))) {
            break;
        }
    }

    let mut c2 = h.client().await?;
    let t0 = Instant::now();
    let (events, status) = collect(
        c2.train(pb::TrainRequest {
            lease_timeout_seconds: Some(1),
            ..quick_train("LOCK")
        })
        .await,
    )
    .await;
    let s = status.expect("aborted");
    assert_eq!(s.code(), Code::Aborted, "{s:?}");
    assert!(
        s.message().contains(&holder_run) && s.message().contains("lease_timeout_seconds"),
        "{}",
        s.message()
    );
    assert!(t0.elapsed() < Duration::from_secs(15));
    assert_eq!(kinds(&events)[0], "queued");

    // AttachRun follows the live run until it ends.
    let mut c3 = h.client().await?;
    let attach = tokio::spawn(async move {
        collect(
            c3.attach_run(pb::AttachRunRequest {
                run_id: holder_run.clone(),
            })
            .await,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let cancel = c
        .cancel_run(pb::CancelRunRequest {
            run_id: started.run_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(cancel.status, "cancelling");
    let t1 = Instant::now();
    let mut tail = Vec::new();
    let end = loop {
        match holder.message().await {
            Ok(Some(ev)) => tail.push(ev),
            Ok(None) => break None,
            Err(s) => break Some(s),
        }
    };
    let end = end.expect("cancelled status");
    assert_eq!(end.code(), Code::Cancelled, "{end:?}");
    assert!(
        t1.elapsed() < Duration::from_secs(20),
        "stops within a batch, took {:?}",
        t1.elapsed()
    );
    assert!(
        matches!(tail.last().and_then(|e| e.event.clone()), Some(Event::Failed(f)) if f.code == "CANCELLED")
    );
    wait_for_status(&h, &started.run_id, "cancelled").await?;
    let versions = c
        .list_versions(pb::ListVersionsRequest {
            symbol: "LOCK".into(),
            years: None,
        })
        .await?
        .into_inner()
        .versions;
    assert!(
        versions.is_empty(),
        "a cancelled run creates no version: {versions:?}"
    );

    let (followed, s) = tokio::time::timeout(Duration::from_secs(30), attach).await??;
    assert!(s.is_none(), "{s:?}");
    assert_eq!(followed.first().map(|e| e.seq), Some(1));
    assert!(
        matches!(followed.last().and_then(|e| e.event.clone()), Some(Event::Failed(f)) if f.code == "CANCELLED")
    );
    let seqs: Vec<u64> = followed.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=followed.len() as u64).collect::<Vec<_>>(),
        "no gaps, no duplicates"
    );

    // The lease was released: the symbol trains again at once.
    let (_, s) = collect(
        c.train(pb::TrainRequest {
            max_epochs: Some(1),
            lease_timeout_seconds: Some(2),
            ..quick_train("LOCK")
        })
        .await,
    )
    .await;
    assert!(s.is_none(), "{s:?}");
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_cancels_the_run() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    ingest(&mut c, "DROP", 23, 300).await?;
    let mut stream = c.train(long_train("DROP")).await?.into_inner();
    let run_id = stream.message().await?.expect("event").run_id;
    loop {
        if matches!(
            stream.message().await?.expect("event").event,
            Some(Event::Epoch(_))
        ) {
            break;
        }
    }
    drop(stream);
    drop(c);
    wait_for_status(&h, &run_id, "cancelled").await?;
    let mut c = h.client().await?;
    assert!(c
        .list_versions(pb::ListVersionsRequest {
            symbol: "DROP".into(),
            years: None
        })
        .await?
        .into_inner()
        .versions
        .is_empty());
    let m = h.metrics_text().await?;
    assert!(
        m.contains("trainer_runs_finished_total{mode=\"train\",outcome=\"cancelled\"} 1"),
        "{m}"
    );
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_all_reports_every_symbol_and_survives_failures() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    ingest(&mut c, "AAA", 31, 260).await?;
    ingest(&mut c, "BBB", 32, 260).await?;
    ingest(&mut c, "SHORT", 33, 50).await?;
    let req = pb::TrainAllRequest {
        symbols: vec!["BBB".into(), "AAA".into(), "SHORT".into(), "GHOST".into()],
        do_cv_tune: Some(false),
        do_shap: Some(false),
        do_plot: Some(false),
        max_epochs: Some(1),
        seed: Some(1),
        device: "cpu".into(),
        concurrency: Some(2),
        ..Default::default()
    };
    let mut stream = c.train_all(req).await?.into_inner();
    let mut results = Vec::new();
    let mut summary = None;
    while let Some(ev) = stream.message().await? {
        match ev.event {
            Some(pb::train_all_event::Event::Result(r)) => results.push(r),
            Some(pb::train_all_event::Event::Summary(s)) => summary = Some(s),
            None => {}
        }
    }
    let s = summary.expect("summary");
    assert_eq!((s.total, s.success_count, s.fail_count), (4, 2, 2));
    assert_eq!(results.len(), 4);
    let names: Vec<_> = s
        .results
        .iter()
        .map(|r| (r.symbol.as_str(), r.ok))
        .collect();
    assert_eq!(
        names,
        vec![
            ("AAA", true),
            ("BBB", true),
            ("GHOST", false),
            ("SHORT", false)
        ]
    );
    let short = s.results.iter().find(|r| r.symbol == "SHORT").unwrap();
    assert!(
        short.error.contains("insufficient data") && !short.run_id.is_empty(),
        "{short:?}"
    );
    assert!(s
        .results
        .iter()
        .find(|r| r.symbol == "GHOST")
        .unwrap()
        .error
        .contains("unknown symbol"));
    assert!(s
        .results
        .iter()
        .filter(|r| r.ok)
        .all(|r| r.deployed && !r.version_id.is_empty()));

    // Sharding: shard 1 of 2 of the stored universe [AAA, BBB, SHORT] is just BBB.
    let mut stream = c
        .train_all(pb::TrainAllRequest {
            shard_index: 1,
            shard_count: 2,
            do_cv_tune: Some(false),
            do_shap: Some(false),
            do_plot: Some(false),
            max_epochs: Some(1),
            device: "cpu".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut last = None;
    while let Some(ev) = stream.message().await? {
        last = ev.event;
    }
    let Some(pb::train_all_event::Event::Summary(s)) = last else {
        panic!("no summary")
    };
    assert_eq!(
        s.results
            .iter()
            .map(|r| r.symbol.as_str())
            .collect::<Vec<_>>(),
        vec!["BBB"]
    );
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_running_training_and_records_it() -> anyhow::Result<()> {
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    ingest(&mut c, "STOP", 24, 300).await?;
    let mut stream = c.train(long_train("STOP")).await?.into_inner();
    let run_id = stream.message().await?.expect("event").run_id;
    loop {
        if matches!(
            stream.message().await?.expect("event").event,
            Some(Event::Epoch(_))
        ) {
            break;
        }
    }
    let db_url = h.db_url.clone();
    let t0 = Instant::now();
    let stopper = tokio::spawn(h.stop_keep_dir());
    // The stream ends with the cancellation, well before the run's 1000 epochs.
    let mut last = None;
    let end = loop {
        match stream.message().await {
            Ok(Some(ev)) => last = ev.event,
            Ok(None) => break None,
            Err(s) => break Some(s),
        }
    };
    assert!(
        matches!(last, Some(Event::Failed(ref f)) if f.code == "CANCELLED"),
        "{last:?} / {end:?}"
    );
    // A call cut by shutdown (SIGTERM) ends UNAVAILABLE: what client retry policies retry.
    let end = end.expect("a final status");
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    assert!(end.message().contains("shutting down"), "{end:?}");
    let _dir = stopper.await??;
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    let reg = common::registry::Registry::connect(&db_url).await?;
    let runs = reg.runs(None, Some(&run_id), 1).await?;
    assert_eq!(runs[0].status.as_str(), "cancelled", "{runs:?}");
    assert!(reg.list_versions(Some("STOP"), None).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_loses_its_lease_is_abandoned_without_a_version() -> anyhow::Result<()> {
    // Another replica taking the lease over (here: the lease row vanishing under the holder)
    // must stop this run: two trainers must never race to write versions of one symbol.
    let h = TrainerHarness::start().await?;
    let mut c = h.client().await?;
    ingest(&mut c, "LOST", 29, 300).await?;
    let mut stream = c.train(long_train("LOST")).await?.into_inner();
    let run_id = stream.message().await?.expect("event").run_id;
    loop {
        if matches!(stream.message().await?.expect("event").event, Some(Event::Epoch(_))) {
            break;
        }
    }
    h.registry().await?.release_lease("LOST", &run_id).await?;
    // The renewal (every second in the harness) notices and cancels the run within a batch.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.message().await {
                Ok(Some(ev)) if matches!(ev.event, Some(Event::Completed(_))) => {
                    anyhow::bail!("the run completed although it had lost its lease")
                }
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(None),
                Err(status) => return Ok(Some(status)),
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the run kept training after losing its lease"))??;
    // Recorded as abandoned (lease lost), not as a caller's cancellation.
    let status = ended.expect("a final status");
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert!(status.message().contains("lease of LOST was lost"), "{status:?}");
    wait_for_status(&h, &run_id, "abandoned").await?;
    let run = h.registry().await?.runs(None, Some(&run_id), 1).await?.remove(0);
    assert!(run.error.as_deref().unwrap_or("").contains("lease"), "{run:?}");
    let versions = c
        .list_versions(pb::ListVersionsRequest { symbol: "LOST".into(), years: None })
        .await?
        .into_inner()
        .versions;
    assert!(versions.is_empty(), "{versions:?}");
    h.stop().await
}
