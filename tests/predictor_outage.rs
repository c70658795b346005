//! A registry outage as a client of predictor-svc sees it (issue 12.1), with real faults: the
//! predictor talks to a private PostgreSQL database through a TCP proxy that first refuses
//! connections, then accepts them and never answers. Loaded models keep answering from held bars
//! and say how old they are; keys never loaded get UNAVAILABLE once the registry timeout passes; health says
//! what is degraded; forecasts served meanwhile reach the prediction log afterwards, and what did
//! not fit its queue is counted. Skipped with a NOTICE without `TEST_POSTGRES_URL`.
use std::time::{Duration, Instant};

use common::pb;
use common::registry::Registry;
use system_tests::fault_proxy::{FaultMode, FaultProxy};
use system_tests::pg::PgDatabase;
use system_tests::predictor_harness::*;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type Health = HealthClient<tonic::transport::Channel>;

async fn status(h: &mut Health, service: &str) -> anyhow::Result<i32> {
    Ok(h.check(HealthCheckRequest { service: service.into() }).await?.into_inner().status)
}

/// Waits for `service` to report `want`: up to 30 s, a liveness guard (the registry probe needs one
/// health poll plus at most one registry timeout, ~3 s here).
async fn wait_health(h: &mut Health, service: &str, want: ServingStatus) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = status(h, service).await?;
        if st == want as i32 {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{service:?} is {st}, never became {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The predictor's registry timeout in this test (ms).
const REGISTRY_TIMEOUT_MS: u64 = 2_500;

/// Liveness guard for "a key never loaded fails fast with UNAVAILABLE": 10x the registry timeout
/// (typical: the timeout itself). It tells a configured timeout from sqlx's 30 s acquire timeout
/// or a TCP stall of minutes without being a tight clock bound (issue 30).
const FAIL_FAST_BOUND: Duration = Duration::from_millis(10 * REGISTRY_TIMEOUT_MS);

/// An answer from held bars must not wait for the registry: below the registry timeout (typical
/// ~2-5 ms, so the bound is ~500x the usual value).
const HELD_BARS_BOUND: Duration = Duration::from_millis(REGISTRY_TIMEOUT_MS);

/// Predicts `symbol`/1y, returning the answer and how long it took.
async fn timed(
    c: &mut pb::predictor_client::PredictorClient<tonic::transport::Channel>,
    symbol: &str,
) -> (Result<pb::Prediction, tonic::Status>, Duration) {
    let t = Instant::now();
    let r = c.predict(predict_request(symbol, 1)).await.map(|r| r.into_inner());
    (r, t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loaded_models_answer_through_a_postgres_outage_and_new_keys_fail_fast() -> anyhow::Result<()> {
    let Some(db) = PgDatabase::create("the predictor outage test").await? else { return Ok(()) };
    let registry = Registry::connect(&db.url).await?.with_max_versions(10);
    let bars = market(41, 300);
    let (served, later) = bars.split_at(295);
    seed_key(&registry, "OUT", 1, "out-v1", served, 1).await?;
    seed_key(&registry, "NEWA", 1, "newa-v1", served, 2).await?;
    seed_key(&registry, "NEWB", 1, "newb-v1", served, 3).await?;

    let proxy = FaultProxy::start(db.server).await?;
    let capacity = 4;
    let server = RunningPredictor::start(&db.url_via(proxy.addr), |c| {
        c.prediction_log_capacity = capacity;
        // Longer than the default 1 s, so that "an answer from held bars did not wait for the
        // registry" can be told apart from scheduler noise on a loaded machine.
        c.registry_timeout_ms = REGISTRY_TIMEOUT_MS;
    })
    .await?;
    let mut c = server.client().await?;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))?.connect().await?;
    let mut h = HealthClient::new(channel);
    wait_health(&mut h, "lstm.v1.Predictor", ServingStatus::Serving).await?;
    wait_health(&mut h, "lstm.v1.Predictor/registry", ServingStatus::Serving).await?;

    // Healthy: the first answer reads the registry, later ones use the held copy.
    let first = c.predict(predict_request("OUT", 1)).await?.into_inner();
    assert_eq!(first.bars_source, "registry");
    assert!(first.bars_age_seconds < 1.0, "{}", first.bars_age_seconds);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let held = c.predict(predict_request("OUT", 1)).await?.into_inner();
    assert_eq!(held.bars_source, "memory", "after a poll the held copy is current");
    assert_eq!((held.as_of.as_str(), held.prob_up), (first.as_of.as_str(), first.prob_up));
    let mut served_ok = 2;

    // 1. Refused connections (the server's port is closed, sessions cut).
    proxy.set(FaultMode::Refuse);
    let outage_start = Instant::now();
    let (new_a, took) = timed(&mut c, "NEWA").await;
    let e = new_a.expect_err("a key never loaded cannot be served without the registry");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(took < FAIL_FAST_BOUND, "UNAVAILABLE took {took:?}");
    let mut last_age = 0.0;
    for _ in 0..6 {
        let (p, took) = timed(&mut c, "OUT").await;
        let p = p.map_err(|e| anyhow::anyhow!("a loaded model stopped answering: {e:?}"))?;
        served_ok += 1;
        assert!(took < HELD_BARS_BOUND, "answer from held bars took {took:?}");
        assert_eq!(p.bars_source, "memory:stale");
        assert_eq!((p.as_of.as_str(), p.prob_up), (first.as_of.as_str(), first.prob_up));
        assert!(p.bars_age_seconds >= last_age, "age went back: {} < {last_age}", p.bars_age_seconds);
        assert!(!p.bars_as_of.is_empty());
        last_age = p.bars_age_seconds;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(last_age >= 0.5, "bars age should grow during the outage, got {last_age}");
    wait_health(&mut h, "lstm.v1.Predictor/registry", ServingStatus::NotServing).await?;
    assert_eq!(status(&mut h, "lstm.v1.Predictor").await?, ServingStatus::Serving as i32,
        "a predictor with a loaded model still answers: readiness stays SERVING");
    assert_eq!(status(&mut h, "").await?, ServingStatus::Serving as i32);

    // 2. Connections accepted but never answered (established sessions stall too).
    proxy.set(FaultMode::Blackhole);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (new_b, took) = timed(&mut c, "NEWB").await;
    let e = new_b.expect_err("a key never loaded cannot be served without the registry");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(took < FAIL_FAST_BOUND, "UNAVAILABLE from an unreachable registry took {took:?}");
    let mut outage_age = 0.0;
    for _ in 0..3 {
        let (p, took) = timed(&mut c, "OUT").await;
        let p = p.map_err(|e| anyhow::anyhow!("a loaded model stopped answering: {e:?}"))?;
        served_ok += 1;
        assert!(took < HELD_BARS_BOUND, "answer from held bars took {took:?}");
        assert_eq!(p.bars_source, "memory:stale");
        assert!(p.bars_age_seconds >= outage_start.elapsed().as_secs_f64() - 0.5);
        outage_age = p.bars_age_seconds;
    }
    let m = server.metrics_text().await?;
    assert_eq!(metric_value(&m, "predictor_registry_up", ""), 0.0, "{m}");

    // 3. Back: health recovers, new keys load, held bars are current again, and the forecasts
    // served during the outage reach the log (all but what overflowed its queue, counted).
    proxy.set(FaultMode::Forward);
    wait_health(&mut h, "lstm.v1.Predictor/registry", ServingStatus::Serving).await?;
    // Deadlines of the waits below are liveness guards (~100x the usual wait of one poll).
    let deadline = Instant::now() + Duration::from_secs(30);
    let p = loop {
        match c.predict(predict_request("NEWA", 1)).await {
            Ok(p) => break p.into_inner(),
            // The failure of the outage backs off for a moment; the recovery clears it.
            Err(e) if e.code() == Code::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => anyhow::bail!("NEWA after the outage: {e:?}"),
        }
    };
    served_ok += 1;
    assert_eq!(p.version_id, "newa-v1");
    // The held bars are confirmed current again by the next change poll after the recovery.
    let deadline = Instant::now() + Duration::from_secs(30);
    let p = loop {
        let p = c.predict(predict_request("OUT", 1)).await?.into_inner();
        served_ok += 1;
        if p.bars_source != "memory:stale" || Instant::now() >= deadline {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(p.bars_source == "memory" || p.bars_source == "registry", "{}", p.bars_source);
    // Confirmed again: the age restarted from the recovery, it no longer counts from the outage.
    assert!(p.bars_age_seconds < outage_age, "{} vs {outage_age} during the outage", p.bars_age_seconds);

    let m = server.metrics_text().await?;
    let dropped = metric_value(&m, "predictor_prediction_log_dropped_total", "");
    assert!(dropped >= 1.0, "{served_ok} forecasts in a queue of {capacity}: some must be dropped ({m})");
    assert!(metric_value(&m, "predictor_prediction_log_retries_total", "") >= 1.0, "{m}");
    server.stop().await?;
    registry.upsert_bars("OUT", later).await?;
    registry.upsert_bars("NEWA", later).await?;
    let logged = registry.resolved_errors("OUT", None).await?.len()
        + registry.resolved_errors("NEWA", None).await?.len();
    assert_eq!(
        logged as f64,
        served_ok as f64 - dropped,
        "served {served_ok}, dropped {dropped}: the rest must be in the log"
    );
    Ok(())
}
