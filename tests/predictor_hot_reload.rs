//! Hot reload of predictor-svc against a real registry: promotion under load, a corrupt
//! version refused while the old one keeps serving, bad metadata refused, rollback.
use std::sync::Arc;
use std::time::{Duration, Instant};

use system_tests::predictor_harness::*;
use tokio::sync::Mutex;

/// Polls GetModelStatus until `pred` holds or `timeout` passes; returns the last status.
async fn wait_status(
    server: &RunningPredictor,
    symbol: &str,
    years: u32,
    timeout: Duration,
    pred: impl Fn(&common::pb::ModelStatus) -> bool,
) -> anyhow::Result<common::pb::ModelStatus> {
    let mut c = server.client().await?;
    let deadline = Instant::now() + timeout;
    loop {
        let s = c
            .get_model_status(common::pb::GetModelStatusRequest {
                symbol: symbol.into(),
                years: Some(years),
            })
            .await?
            .into_inner();
        if pred(&s) || Instant::now() > deadline {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn served_version(server: &RunningPredictor, symbol: &str) -> anyhow::Result<String> {
    let mut c = server.client().await?;
    Ok(c.predict(predict_request(symbol, 1)).await?.into_inner().version_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn promotion_while_clients_hammer_predict_fails_nothing_and_serves_v2_soon() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let bars = market(11, 300);
    seed_key(&reg.registry, "HOT", 1, "hot-v1", &bars, 1).await?;
    let v2 = build_artifact("HOT", 1, tiny(8), 2, &bars)?;
    store_version(&reg.registry, "hot-v2", v2, false).await?;
    // Three threads on the model's interactive lane: the swap must fail nothing while several
    // threads of the old worker are mid-pass (issue 26).
    let server = RunningPredictor::start(&reg.url, |c| c.forward_threads = 3).await?;
    assert_eq!(served_version(&server, "HOT").await?, "hot-v1");

    // (sent, received, Ok(version) | Err(status))
    type Outcome = (Instant, Instant, Result<String, tonic::Status>);
    let results: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let end = Instant::now() + Duration::from_millis(3500);
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut c = server.client().await?;
        let results = results.clone();
        clients.push(tokio::spawn(async move {
            while Instant::now() < end {
                let sent = Instant::now();
                let r = c.predict(predict_request("HOT", 1)).await;
                let out = (sent, Instant::now(), r.map(|p| p.into_inner().version_id));
                results.lock().await.push(out);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let promoted_at = Instant::now();
    reg.registry.set_current("HOT", 1, "hot-v2", "system-test", "promote under load").await?;
    for c in clients {
        c.await?;
    }

    let results = results.lock().await;
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().err().map(|s| format!("{:?}: {}", s.code(), s.message())))
        .collect();
    assert!(failures.is_empty(), "{} of {} requests failed: {:?}", failures.len(), results.len(), &failures[..failures.len().min(5)]);
    assert!(results.len() >= 50, "only {} requests were made", results.len());
    let first_v2 = results
        .iter()
        .filter(|(_, _, r)| r.as_deref().ok() == Some("hot-v2"))
        .map(|(_, received, _)| *received)
        .min()
        .expect("v2 was never served");
    let delay = first_v2.saturating_duration_since(promoted_at);
    // A liveness guard, not a speed target: the reload poll is 100 ms here, so v2 usually serves
    // within ~0.1-0.3 s; 5 s is ~20x that and holds on a loaded machine (issue 30).
    assert!(delay < Duration::from_secs(5), "v2 first served {delay:?} after the promotion");
    // Once v2 is in, requests sent afterwards never see v1 again.
    let stale = results
        .iter()
        .filter(|(sent, _, r)| *sent > first_v2 && r.as_deref().ok() == Some("hot-v1"))
        .count();
    assert_eq!(stale, 0, "{stale} requests sent after the swap were served by v1");
    let v1_count = results.iter().filter(|(_, _, r)| r.as_deref().ok() == Some("hot-v1")).count();
    assert!(v1_count > 0, "v1 never served during the run");

    let s = wait_status(&server, "HOT", 1, Duration::from_secs(1), |_| true).await?;
    assert_eq!(s.loaded_version_id, "hot-v2");
    assert_eq!(s.current_version_id, "hot-v2");
    assert_eq!(s.reloads_ok, 1);
    assert_eq!(s.state, "loaded");
    let m = server.metrics_text().await?;
    assert_eq!(metric_value(&m, "predictor_reloads_total", r#"outcome="ok""#), 1.0, "{m}");
    eprintln!(
        "{} requests, 0 failed, v2 served {:?} after promotion",
        results.len(),
        delay
    );
    drop(results);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_unloadable_version_is_refused_and_the_old_one_keeps_serving() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let bars = market(12, 300);
    seed_key(&reg.registry, "BAD", 1, "bad-v1", &bars, 1).await?;
    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    assert_eq!(served_version(&server, "BAD").await?, "bad-v1");

    // v2: weights altered after the sha256 was recorded.
    store_version(&reg.registry, "bad-v2", build_artifact("BAD", 1, tiny(8), 2, &bars)?, false).await?;
    reg.registry.__corrupt_weights_for_test("bad-v2").await?;
    reg.registry.set_current("BAD", 1, "bad-v2", "system-test", "promote a corrupt blob").await?;
    let s = wait_status(&server, "BAD", 1, Duration::from_secs(5), |s| s.reloads_failed >= 1).await?;
    assert_eq!(s.reloads_failed, 1, "{s:?}");
    assert_eq!(s.loaded_version_id, "bad-v1");
    assert_eq!(s.current_version_id, "bad-v2");
    assert_eq!(s.state, "loaded");
    assert!(s.last_error.contains("bad-v2") && s.last_error.contains("sha256"), "{}", s.last_error);
    // The failure is not retried on every poll, and v1 answers meanwhile.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..5 {
        assert_eq!(served_version(&server, "BAD").await?, "bad-v1");
    }
    let s = wait_status(&server, "BAD", 1, Duration::ZERO, |_| true).await?;
    assert_eq!(s.reloads_failed, 1);
    let m = server.metrics_text().await?;
    assert_eq!(metric_value(&m, "predictor_reloads_total", r#"outcome="failed""#), 1.0);

    // v3: intact weights, but metadata whose normalisation stats do not fit the network.
    let (mut md, w) = build_artifact("BAD", 1, tiny(8), 3, &bars)?;
    md.norm.mean.pop();
    store_version(&reg.registry, "bad-v3", (md, w), true).await?;
    let s = wait_status(&server, "BAD", 1, Duration::from_secs(5), |s| s.reloads_failed >= 2).await?;
    assert_eq!(s.loaded_version_id, "bad-v1");
    assert!(s.last_error.contains("bad-v3") && s.last_error.contains("normalisation"), "{}", s.last_error);
    assert_eq!(served_version(&server, "BAD").await?, "bad-v1");

    // A good v4 is picked up, and a rollback to v1 is picked up the same way.
    store_version(&reg.registry, "bad-v4", build_artifact("BAD", 1, tiny(8), 4, &bars)?, true).await?;
    let s = wait_status(&server, "BAD", 1, Duration::from_secs(5), |s| s.loaded_version_id == "bad-v4").await?;
    assert_eq!(s.loaded_version_id, "bad-v4");
    assert_eq!(s.last_error, "", "a successful reload clears the error");
    assert_eq!(served_version(&server, "BAD").await?, "bad-v4");
    reg.registry.set_current("BAD", 1, "bad-v1", "system-test", "rollback").await?;
    let s = wait_status(&server, "BAD", 1, Duration::from_secs(5), |s| s.loaded_version_id == "bad-v1").await?;
    assert_eq!(s.loaded_version_id, "bad-v1");
    assert_eq!(s.reloads_ok, 2);
    assert_eq!(served_version(&server, "BAD").await?, "bad-v1");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_current_version_fails_the_first_load_with_data_loss() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let bars = market(13, 300);
    seed_key(&reg.registry, "CRPT", 1, "crpt-v1", &bars, 1).await?;
    reg.registry.__corrupt_weights_for_test("crpt-v1").await?;
    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    let mut c = server.client().await?;
    let err = c.predict(predict_request("CRPT", 1)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::DataLoss, "{err:?}");
    assert!(err.message().contains("sha256"), "{}", err.message());
    let s = wait_status(&server, "CRPT", 1, Duration::ZERO, |_| true).await?;
    assert_eq!(s.state, "failed");
    assert!(s.last_error.contains("sha256"), "{}", s.last_error);
    server.stop().await
}
