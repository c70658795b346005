//! Optional gRPC TLS (`--tls-cert` / `--tls-key`) on both services: a TLS client that trusts the
//! certificate gets answers, a plaintext client does not, and a half configuration is refused.
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

/// A self-signed certificate for `localhost`, written as PEM files into `dir`.
fn self_signed(dir: &std::path::Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf, String)> {
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])?.self_signed(&key)?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    Ok((cert_path, key_path, cert.pem()))
}

async fn tls_channel(addr: std::net::SocketAddr, ca_pem: &str) -> anyhow::Result<Channel> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls)?;
    for _ in 0..100 {
        if let Ok(ch) = endpoint.connect().await {
            return Ok(ch);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("no TLS connection to {addr}")
}

async fn status(channel: Channel, service: &str) -> anyhow::Result<i32> {
    let resp = HealthClient::new(channel)
        .check(HealthCheckRequest { service: service.into() })
        .await?;
    Ok(resp.into_inner().status)
}

/// Polls health over TLS until SERVING (the predictor turns SERVING once the registry answers).
async fn wait_serving(addr: std::net::SocketAddr, ca_pem: &str, service: &str) -> anyhow::Result<()> {
    let channel = tls_channel(addr, ca_pem).await?;
    for _ in 0..100 {
        if status(channel.clone(), service).await? == ServingStatus::Serving as i32 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{service} on {addr} never became SERVING over TLS")
}

/// A plaintext HTTP/2 client must not get a gRPC answer from a TLS port.
async fn plaintext_fails(addr: std::net::SocketAddr) {
    let plain = async {
        let ch = Endpoint::from_shared(format!("http://{addr}"))?.connect().await?;
        status(ch, "").await
    };
    let outcome = tokio::time::timeout(Duration::from_secs(5), plain).await;
    assert!(!matches!(outcome, Ok(Ok(_))), "a plaintext client was answered by a TLS server");
}

#[tokio::test]
async fn trainer_and_predictor_serve_grpc_over_tls() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (cert, key, ca_pem) = self_signed(dir.path())?;
    let db_url = format!("sqlite://{}/registry.db", dir.path().display());
    let stop = CancellationToken::new();

    let mut trainer_cfg = trainer_svc::ServeConfig::defaults(db_url.clone());
    trainer_cfg.tls_cert = Some(cert.clone());
    trainer_cfg.tls_key = Some(key.clone());
    let trainer_listener = TcpListener::bind("127.0.0.1:0").await?;
    let trainer_addr = trainer_listener.local_addr()?;
    let s = stop.clone();
    let trainer = tokio::spawn(trainer_svc::serve_with_metrics(trainer_listener, None, trainer_cfg, async move {
        s.cancelled().await
    }));
    wait_serving(trainer_addr, &ca_pem, "lstm.v1.Trainer").await?;

    let mut predictor_cfg = predictor_svc::Config::for_database(&db_url);
    predictor_cfg.health_poll_ms = 100;
    predictor_cfg.tls_cert = Some(cert);
    predictor_cfg.tls_key = Some(key);
    let predictor_listener = TcpListener::bind("127.0.0.1:0").await?;
    let predictor_addr = predictor_listener.local_addr()?;
    let s = stop.clone();
    let predictor = tokio::spawn(predictor_svc::serve_with_metrics(predictor_listener, None, predictor_cfg, async move {
        s.cancelled().await
    }));
    wait_serving(predictor_addr, &ca_pem, "lstm.v1.Predictor").await?;

    plaintext_fails(trainer_addr).await;
    plaintext_fails(predictor_addr).await;

    stop.cancel();
    trainer.await??;
    predictor.await??;
    Ok(())
}

#[tokio::test]
async fn a_certificate_without_its_key_is_refused_at_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (cert, _, _) = self_signed(dir.path())?;
    let mut cfg = trainer_svc::ServeConfig::defaults(format!("sqlite://{}/r.db", dir.path().display()));
    cfg.tls_cert = Some(cert);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let err = trainer_svc::serve_with_metrics(listener, None, cfg, std::future::pending())
        .await
        .expect_err("half a TLS configuration must not start");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.to_string().contains("both --tls-cert and --tls-key"), "{err}");
    Ok(())
}
