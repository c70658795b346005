//! Hostile sizes and broken models as a client sees them (issue 12.7, 12.9): quoted input is cut
//! in every message, so `grpc-message` stays small; a version whose metadata holds a `null`
//! metric still loads; a version that fails to load is not fetched again on every request.
use std::collections::BTreeMap;

use common::pb;
use common::registry::NewVersion;
use system_tests::predictor_harness::{self as ph, RunningPredictor, TestRegistry};
use system_tests::trainer_harness::{self as th, TrainerHarness};
use tonic::Code;

/// Largest status message the tests accept (C-core's default limit on all metadata is 8 KB).
const SMALL: usize = 512;

fn assert_small(e: &tonic::Status, what: &str) {
    let head: String = e.message().chars().take(200).collect();
    assert!(e.message().len() <= SMALL, "{what}: {} bytes: {head}…", e.message().len());
}

/// 100 KB of pseudo-random bytes read as text, the way a binary file sent as `csv` arrives.
fn binary_file() -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_inputs_are_quoted_briefly_by_the_trainer() -> anyhow::Result<()> {
    let server = TrainerHarness::start().await?;
    let mut c = server.client().await?;
    let long = "A".repeat(10_000);
    let ingest = |symbol: &str, csv: String| pb::IngestBarsRequest { symbol: symbol.into(), bars: Vec::new(), csv, ..Default::default() };

    let e = c.ingest_bars(ingest(&long, "date,open,high,low,close,volume\n".into())).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_small(&e, "10 000-character symbol");
    assert!(e.message().contains("…(10000 chars)"), "{}", e.message());

    let e = c.ingest_bars(ingest("BIN", binary_file())).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    assert_small(&e, "binary CSV");

    let header = format!("{},open\n2024-01-02,1\n", "x".repeat(10_000));
    let e = c.ingest_bars(ingest("HDR", header)).await.unwrap_err();
    assert_small(&e, "10 000-character header");

    let cell = format!("date,open,high,low,close,volume\n2024-01-02,1,1,1,{},1\n", "9".repeat(5_000) + "x");
    let e = c.ingest_bars(ingest("CELL", cell)).await.unwrap_err();
    assert_small(&e, "5 000-character cell");
    assert!(e.message().contains("row 1") && e.message().contains("close"), "{}", e.message());

    let date = format!("date,open,high,low,close,volume\n{},1,1,1,1,1\n", "2".repeat(10_000));
    let e = c.ingest_bars(ingest("DATE", date)).await.unwrap_err();
    assert_small(&e, "10 000-character date");

    // Impossible bars are refused at ingest with row and field (issue 12.4).
    let far = "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n9999-12-31,1,1,1,1,1\n";
    let e = c.ingest_bars(ingest("FAR", far.into())).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("row 2") && e.message().contains("field date"), "{}", e.message());
    let huge = "date,open,high,low,close,volume\n2024-01-02,1,1e300,1,1,1\n";
    let e = c.ingest_bars(ingest("HUGE", huge.into())).await.unwrap_err();
    assert!(e.message().contains("row 1") && e.message().contains("field high"), "{}", e.message());

    let train = pb::TrainRequest { symbol: long.clone(), ..th::quick_train("X") };
    let e = c.train(train).await.unwrap_err();
    assert_small(&e, "Train with a 10 000-character symbol");
    let e = c.get_training_runs(pb::GetTrainingRunsRequest { run_id: long.clone(), ..Default::default() }).await;
    if let Err(e) = e {
        assert_small(&e, "GetTrainingRuns with a 10 000-character run id");
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_inputs_are_quoted_briefly_by_the_predictor() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    let mut c = server.client().await?;
    let long = "B".repeat(10_000);
    let e = c.predict(ph::predict_request(&long, 1)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_small(&e, "Predict with a 10 000-character symbol");
    assert!(e.message().contains("…(10000 chars)"), "{}", e.message());
    let e = c
        .get_model_status(pb::GetModelStatusRequest { symbol: long.clone(), years: Some(1) })
        .await
        .unwrap_err();
    assert_small(&e, "GetModelStatus with a 10 000-character symbol");
    let bad_date = pb::Bar { date: "7".repeat(10_000), open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0, amount: None };
    let inline = pb::PredictRequest { bars: vec![bad_date], ..ph::predict_request("INL", 1) };
    let e = c.predict(inline).await.unwrap_err();
    assert_small(&e, "inline bar with a 10 000-character date");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_metric_in_stored_metadata_does_not_make_the_version_unloadable() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let bars = ph::market(51, 300);
    reg.registry.upsert_bars("NAN", &bars).await?;
    let (mut metadata, weights) = ph::build_artifact("NAN", 1, ph::tiny(8), 1, &bars)?;
    // Written by this build: a NaN metric is left out instead of becoming `null`.
    metadata.metrics.insert("holdout_ic".into(), f64::NAN);
    metadata.metrics.insert("holdout_mse".into(), 0.01);
    let json = serde_json::to_string(&metadata)?;
    assert!(!json.contains("holdout_ic") && json.contains("holdout_mse"), "{json}");
    // Written by an older build: the `null` is in the stored JSON.
    let mut value: serde_json::Value = serde_json::from_str(&json)?;
    value["metrics"]["holdout_ic"] = serde_json::Value::Null;
    let v = NewVersion {
        version_id: "nan-v1".into(),
        symbol: "NAN".into(),
        years: 1,
        model_kind: metadata.architecture.kind.to_string(),
        data_start: metadata.data_start.unwrap(),
        data_end: metadata.data_end.unwrap(),
        training_seconds: 0.0,
        metadata_json: value.to_string(),
        metrics: BTreeMap::new(),
        weights,
        note: "older build".into(),
        pool_symbols: Vec::new(),
    };
    let promotion = common::registry::Promotion { actor: "test".into(), reason: "null metric".into() };
    reg.registry.save_version(v, Some(promotion)).await?;
    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    let mut c = server.client().await?;
    let p = c.predict(ph::predict_request("NAN", 1)).await?.into_inner();
    assert_eq!(p.version_id, "nan-v1");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_fails_to_load_is_not_fetched_on_every_request() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let bars = ph::market(52, 300);
    reg.registry.upsert_bars("BRK", &bars).await?;
    let (metadata, _) = ph::build_artifact("BRK", 1, ph::tiny(8), 1, &bars)?;
    // Weights that are not a safetensors file: every load fails with DATA_LOSS.
    ph::store_version(&reg.registry, "brk-v1", (metadata, b"not weights".to_vec()), true).await?;
    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    let mut c = server.client().await?;
    for i in 0..5 {
        let e = c.predict(ph::predict_request("BRK", 1)).await.unwrap_err();
        assert_eq!(e.code(), Code::DataLoss, "request {i}: {e:?}");
    }
    let m = server.metrics_text().await?;
    let failed = ph::metric_value(&m, "predictor_model_loads_total", "outcome=\"failed\"");
    assert_eq!(failed, 1.0, "5 requests within the backoff fetched the broken version {failed} times");
    // After the backoff (1 s) the next request tries again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(c.predict(ph::predict_request("BRK", 1)).await.unwrap_err().code(), Code::DataLoss);
    let m = server.metrics_text().await?;
    assert_eq!(ph::metric_value(&m, "predictor_model_loads_total", "outcome=\"failed\""), 2.0);
    server.stop().await
}
