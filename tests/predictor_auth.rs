//! Predictor authentication (SPEC §14.5): with `AUTH_TOKEN` set, every `lstm.v1.Predictor` RPC
//! answers UNAUTHENTICATED without the bearer token or with a wrong one, and serves with the right
//! one; health and reflection stay open; a refusal is counted and never echoes the token.
use common::pb::{self, predictor_client::PredictorClient};
use system_tests::predictor_harness::*;
use system_tests::trainer_harness::grpcurl;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

const TOKEN: &str = "s3cret-token";

/// `msg` with `authorization: <value>` (or none).
fn with<T>(msg: T, value: Option<&str>) -> Request<T> {
    let mut r = Request::new(msg);
    if let Some(v) = value {
        r.metadata_mut().insert("authorization", v.parse().unwrap());
    }
    r
}

/// Calls each Predictor RPC with `value` and returns their codes in order (Predict,
/// PredictBatch, GetModelStatus, ListModels, GetLiveQuality).
async fn codes(c: &mut PredictorClient<Channel>, value: Option<&str>) -> Vec<(&'static str, Code, String)> {
    let status = |r: Result<Code, tonic::Status>| match r {
        Ok(code) => (code, String::new()),
        Err(s) => (s.code(), s.message().to_string()),
    };
    let batch = pb::PredictBatchRequest { requests: vec![predict_request("AAA", 1)] };
    let model = pb::GetModelStatusRequest { symbol: "AAA".into(), years: Some(1) };
    let live = pb::GetLiveQualityRequest { symbol: "AAA".into(), years: Some(1), ..Default::default() };
    let (p, b, m, l, q) = (
        status(c.predict(with(predict_request("AAA", 1), value)).await.map(|_| Code::Ok)),
        status(c.predict_batch(with(batch, value)).await.map(|_| Code::Ok)),
        status(c.get_model_status(with(model, value)).await.map(|_| Code::Ok)),
        status(c.list_models(with(pb::ListModelsRequest {}, value)).await.map(|_| Code::Ok)),
        status(c.get_live_quality(with(live, value)).await.map(|_| Code::Ok)),
    );
    vec![
        ("Predict", p.0, p.1),
        ("PredictBatch", b.0, b.1),
        ("GetModelStatus", m.0, m.1),
        ("ListModels", l.0, l.1),
        ("GetLiveQuality", q.0, q.1),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_predictor_rpc_needs_the_token_and_health_and_reflection_stay_open() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    seed_key(&reg.registry, "AAA", 1, "aaa-v1", &market(5, 300), 2).await?;
    // The token as a Secret file gives it, with its trailing newline.
    let server = RunningPredictor::start(&reg.url, |c| c.auth_token = Some(format!("{TOKEN}\n"))).await?;
    let mut c = server.client().await?;

    for (value, why) in [(None, "no token"), (Some("Bearer wrong"), "a wrong token"), (Some(TOKEN), "no Bearer scheme")] {
        for (method, code, message) in codes(&mut c, value).await {
            assert_eq!(code, Code::Unauthenticated, "{method} with {why}: {message}");
            assert!(message.starts_with(method), "{method}: the message names the RPC: {message}");
            assert!(!message.contains(TOKEN), "{method}: the token is never echoed: {message}");
        }
    }
    let none = codes(&mut c, None).await;
    assert!(none[0].2.contains("authorization: Bearer <AUTH_TOKEN>"), "says what to send: {}", none[0].2);
    let right = format!("Bearer {TOKEN}");
    for (method, code, message) in codes(&mut c, Some(&right)).await {
        assert_eq!(code, Code::Ok, "{method} with the right token: {message}");
    }
    let p = c.predict(with(predict_request("AAA", 1), Some(&right))).await?.into_inner();
    assert_eq!(p.version_id, "aaa-v1");

    // Health is open: a kubelet probe carries no token.
    let channel = Channel::from_shared(format!("http://{}", server.addr))?.connect().await?;
    let health = HealthClient::new(channel)
        .check(HealthCheckRequest { service: "lstm.v1.Predictor".into() })
        .await;
    assert!(health.is_ok(), "health needs no token: {health:?}");

    // Refusals are counted like any other outcome.
    let metrics = server.metrics_text().await?;
    let refused = metric_value(&metrics, "predictor_requests_total", r#"method="Predict",outcome="unauthenticated""#);
    assert!(refused >= 4.0, "{refused}");

    // Reflection is open, and grpcurl reaches the service with -H.
    if let Some(bin) = grpcurl() {
        let addr = server.addr.to_string();
        let run = move |args: Vec<String>| std::process::Command::new(&bin).args(args).output();
        let list = run(vec!["-plaintext".into(), addr.clone(), "list".into()])?;
        assert!(String::from_utf8_lossy(&list.stdout).contains("lstm.v1.Predictor"), "{list:?}");
        let call = |header: Option<String>| {
            let mut args = vec!["-plaintext".to_string()];
            if let Some(h) = header {
                args.extend(["-H".into(), h]);
            }
            args.extend(["-d".into(), r#"{"symbol":"AAA","years":1}"#.into(), addr.clone(), "lstm.v1.Predictor/Predict".into()]);
            run(args)
        };
        let refused = call(None)?;
        assert!(String::from_utf8_lossy(&refused.stderr).contains("Unauthenticated"), "{refused:?}");
        let ok = call(Some(format!("authorization: Bearer {TOKEN}")))?;
        assert!(ok.status.success() && String::from_utf8_lossy(&ok.stdout).contains("aaa-v1"), "{ok:?}");
    } else {
        common::test_skip::notice(".venv/bin/grpcurl not found (run scripts/setup.sh): reflection and -H unchecked");
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_configured_the_predictor_is_open() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    seed_key(&reg.registry, "AAA", 1, "aaa-v1", &market(5, 300), 2).await?;
    for token in [None, Some(" \n".to_string())] {
        let server = RunningPredictor::start(&reg.url, |c| c.auth_token = token.clone()).await?;
        let mut c = server.client().await?;
        for (method, code, message) in codes(&mut c, None).await {
            assert_eq!(code, Code::Ok, "{method} with token {token:?}: {message}");
        }
        // A token sent to an open server is ignored, not an error.
        for (method, code, message) in codes(&mut c, Some("Bearer anything")).await {
            assert_eq!(code, Code::Ok, "{method}: {message}");
        }
        server.stop().await?;
    }
    Ok(())
}
