//! The `predictor-svc` binary as an operator runs it: `predict` prints JSON, errors exit non-zero
//! with the message; `serve` answers health and Predict, and stops on SIGTERM.
use std::collections::BTreeMap;
use std::process::Command;

use chrono::Utc;
use common::data::{generate, SyntheticConfig};
use common::features::{build_samples, FeatureConfig, NormStats, FEATURES, N_FEATURES};
use common::model::{safetensors_io, Architecture, ModelMetadata, Network, FORMAT_VERSION};
use common::registry::{NewVersion, Promotion, Registry};
use common::test_ports::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_predictor-svc");

async fn registry_with_model(dir: &std::path::Path) -> (String, common::data::Bar) {
    let url = format!("sqlite://{}/registry.db", dir.display());
    let reg = Registry::connect(&url).await.unwrap();
    let bars = generate(&SyntheticConfig { seed: 3, days: 250, ..SyntheticConfig::default() });
    reg.upsert_bars("CLI", &bars).await.unwrap();
    let samples = build_samples(&bars, &FeatureConfig::default()).unwrap();
    let arch = Architecture::base(N_FEATURES as i64, 8);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _net = Network::new(&vs.root(), &arch).unwrap();
    let md = ModelMetadata {
        format_version: FORMAT_VERSION,
        architecture: arch,
        feature_names: FEATURES.iter().map(|f| f.name.to_string()).collect(),
        norm: NormStats::fit(&samples.x),
        hyperparameters: serde_json::json!({}),
        metrics: BTreeMap::new(),
        diagnostics: serde_json::json!({}),
        feature_importance: Vec::new(),
        symbol: "CLI".into(),
        years: 2,
        data_start: samples.end_dates.first().copied(),
        data_end: samples.end_dates.last().copied(),
        trained_at: Utc::now(),
        calibration: None,
        pool: None,
        member_index: 0,
    };
    reg.save_version(
        NewVersion {
            version_id: "cli-v1".into(),
            symbol: "CLI".into(),
            years: 2,
            model_kind: md.architecture.kind.to_string(),
            data_start: md.data_start.unwrap(),
            data_end: md.data_end.unwrap(),
            training_seconds: 0.0,
            metadata_json: serde_json::to_string(&md).unwrap(),
            metrics: BTreeMap::new(),
            weights: safetensors_io::to_safetensors(&vs).unwrap(),
            note: String::new(),
            pool_symbols: Vec::new(),
        },
        Some(Promotion { actor: "cli-test".into(), reason: "setup".into() }),
    )
    .await
    .unwrap();
    (url, *bars.last().unwrap())
}

#[tokio::test]
async fn predict_prints_the_forecast_as_snake_case_json() {
    let dir = tempfile::tempdir().unwrap();
    let (url, last) = registry_with_model(dir.path()).await;
    let out = Command::new(BIN)
        .args(["predict", "--symbol", "CLI", "--years", "2", "--database-url", &url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version_id"], "cli-v1");
    assert_eq!(v["symbol"], "CLI");
    assert_eq!(v["years"], 2);
    assert_eq!(v["as_of"], last.date.to_string());
    assert!(v["prob_up"].as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)));
    assert_eq!(v["magnitudes"].as_array().unwrap().len(), 5);
    assert_eq!(v["predicted_closes"].as_array().unwrap().len(), 5);
    assert_eq!(v["forecast_dates"].as_array().unwrap().len(), 5);
    assert!(v["direction"] == "UP" || v["direction"] == "DOWN");
    assert!(v["cumulative_return"].is_number());
    // Quality, intervals and signal are printed too; this version predates calibration and says so.
    assert_eq!(v["quality"]["calibrated"], false);
    assert!(v["quality"]["note"].as_str().unwrap().contains("trained before calibration"));
    assert_eq!(v["intervals"].as_array().unwrap().len(), 2);
    assert_eq!(v["intervals"][0]["available"], false);
    assert_eq!(v["signal"], "NONE");
    assert_eq!(v["prob_up_raw"], v["prob_up"]);

    let out = Command::new(BIN)
        .args(["predict", "--symbol", "NOPE", "--database-url", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no current model for NOPE/1y"), "{err}");
}

#[tokio::test]
async fn live_quality_prints_what_get_live_quality_computes() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = registry_with_model(dir.path()).await;
    let reg = Registry::connect(&url).await.unwrap();
    let bars = reg.bars("CLI", None, None).await.unwrap();
    // 30 first answers of a day (and a repeat of each), the last 5 days still pending.
    for (i, b) in bars[bars.len() - 30..].iter().enumerate() {
        for _ in 0..2 {
            let p = common::registry::NewPrediction {
                entry_id: common::registry::NewPrediction::new_entry_id(),
                symbol: "CLI".into(),
                years: 2,
                version_id: "cli-v1".into(),
                as_of: b.date,
                predicted_cumulative_return: 0.001 * i as f64,
                prob_up: 0.4 + 0.01 * i as f64,
                magnitudes: vec![0.0; 5],
                inline_bars: false,
                interval_80: Some((-0.02, 0.02)),
                interval_95: Some((-0.05, 0.05)),
            };
            reg.record_prediction(p).await.unwrap();
        }
    }
    let out = Command::new(BIN)
        .args(["live-quality", "--symbol", "CLI", "--years", "2", "--database-url", &url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gamma = common::calibration::adaptive::DEFAULT_GAMMA;
    let want = common::live::live_quality(&reg, "CLI", 2, 60, None, gamma).await.unwrap();
    // Field by field; numbers to 1e-12 (serde_json's float parsing may differ in the last bit).
    let want_json = serde_json::to_value(&want).unwrap();
    for (k, w) in want_json[0].as_object().unwrap() {
        let got = &printed["versions"][0][k];
        match (w.as_f64(), got.as_f64()) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{k}: {a} vs {b}"),
            _ => assert_eq!(got, w, "{k}"),
        }
    }
    assert_eq!((want[0].n_scored, want[0].n_pending), (25, 5));
    assert!(printed["versions"][0]["coverage_80"].as_f64().is_some());
    // A bad key is refused with the reason, exit non-zero.
    let out = Command::new(BIN).args(["live-quality", "--symbol", "C L I", "--database-url", &url]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("symbol"));
}

#[tokio::test]
async fn serve_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = registry_with_model(dir.path()).await;
    // Pick free ports, then let the binary bind them.
    let (grpc, metrics) = (free_port(), free_port());
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--listen", &grpc.to_string(), "--metrics-listen", &metrics.to_string()])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut client = None;
    for _ in 0..100 {
        if let Ok(c) =
            common::pb::predictor_client::PredictorClient::connect(format!("http://{grpc}")).await
        {
            client = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut client = client.expect("server did not start");
    let p = client
        .predict(common::pb::PredictRequest {
            symbol: "CLI".into(),
            years: Some(2),
            bars: Vec::new(),
            version_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.version_id, "cli-v1");
    // A Health/Watch client that never hangs up (as a sidecar or a mesh proxy may hold one).
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}")).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let mut watch = health
        .watch(tonic_health::pb::HealthCheckRequest { service: "lstm.v1.Predictor".into() })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().expect("first watch answer");
    assert_eq!(first.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    // The watcher is told NOT_SERVING, then its stream ends: it does not hold the shutdown.
    let seen = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        let mut seen = Vec::new();
        while let Ok(Some(m)) = watch.message().await {
            seen.push(m.status);
        }
        seen
    })
    .await
    .expect("the Health/Watch stream did not end within 15 s of SIGTERM");
    assert!(
        seen.contains(&(tonic_health::pb::health_check_response::ServingStatus::NotServing as i32)),
        "watcher saw {seen:?}"
    );
    let status = tokio::time::timeout(std::time::Duration::from_secs(15), child.wait())
        .await
        .expect("server did not stop within 15 s of SIGTERM while a Health/Watch stream was open")
        .unwrap();
    assert!(status.success(), "exit status {status}");
}
