//! Harness for the predictor-svc system tests: a fresh SQLite registry with synthetic bars,
//! small real model versions built with `common::model`, and a real predictor-svc server on
//! ephemeral loopback ports.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use common::data::{generate, Bar, SyntheticConfig};
use common::features::{build_samples, FeatureConfig, NormStats, FEATURES, N_FEATURES};
use common::model::{safetensors_io, Architecture, ModelMetadata, Network, FORMAT_VERSION};
use common::pb::predictor_client::PredictorClient;
use common::registry::{NewVersion, Promotion, Registry, VersionInfo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use predictor_svc::Config as PredictorConfig;

/// A registry in a temporary directory (deleted on drop).
pub struct TestRegistry {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// `sqlite://…/registry.db`.
    pub url: String,
    /// A connection of the test's own (the server opens another).
    pub registry: Registry,
}

impl TestRegistry {
    /// A fresh, migrated SQLite registry that keeps up to 10 non-current versions per key (so
    /// rollback targets survive retention).
    pub async fn new() -> anyhow::Result<TestRegistry> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}/registry.db", dir.path().display());
        let registry = Registry::connect(&url).await?.with_max_versions(10);
        Ok(TestRegistry { dir, url, registry })
    }
}

/// `days` synthetic bars (seeded), ending wherever the generator's calendar takes them.
pub fn market(seed: u64, days: usize) -> Vec<Bar> {
    generate(&SyntheticConfig { seed, days, ..SyntheticConfig::default() })
}

/// Architecture of the tiny test models: the base network with `hidden` units.
pub fn tiny(hidden: i64) -> Architecture {
    Architecture::base(N_FEATURES as i64, hidden)
}

/// A model version built directly (random initial weights from `seed`) with normalisation
/// statistics fitted on `bars`' samples: `(metadata, safetensors weights)`.
pub fn build_artifact(
    symbol: &str,
    years: u32,
    arch: Architecture,
    seed: i64,
    bars: &[Bar],
) -> anyhow::Result<(ModelMetadata, Vec<u8>)> {
    let samples = build_samples(bars, &FeatureConfig::default())?;
    let norm = NormStats::fit(&samples.x);
    tch::manual_seed(seed);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _net = Network::new(&vs.root(), &arch)?;
    let weights = safetensors_io::to_safetensors(&vs)?;
    let metadata = ModelMetadata {
        format_version: FORMAT_VERSION,
        architecture: arch,
        feature_names: FEATURES.iter().map(|f| f.name.to_string()).collect(),
        norm,
        hyperparameters: serde_json::json!({ "seed": seed, "test_model": true }),
        metrics: BTreeMap::new(),
        diagnostics: serde_json::json!({}),
        feature_importance: Vec::new(),
        symbol: symbol.to_string(),
        years,
        data_start: samples.end_dates.first().copied(),
        data_end: samples.end_dates.last().copied(),
        trained_at: Utc::now(),
        calibration: None,
        pool: None,
        member_index: 0,
    };
    Ok((metadata, weights))
}

/// Stores a version built by [`build_artifact`]; `promote` makes it current.
pub async fn store_version(
    registry: &Registry,
    version_id: &str,
    (metadata, weights): (ModelMetadata, Vec<u8>),
    promote: bool,
) -> anyhow::Result<VersionInfo> {
    let day = |d: Option<NaiveDate>| d.unwrap_or_else(|| NaiveDate::from_ymd_opt(2020, 1, 1).unwrap());
    let v = NewVersion {
        version_id: version_id.to_string(),
        symbol: metadata.symbol.clone(),
        years: metadata.years,
        model_kind: metadata.architecture.kind.to_string(),
        data_start: day(metadata.data_start),
        data_end: day(metadata.data_end),
        training_seconds: 0.0,
        metadata_json: serde_json::to_string(&metadata)?,
        metrics: BTreeMap::new(),
        weights,
        note: "system test model".into(),
        pool_symbols: Vec::new(),
    };
    let promotion =
        promote.then(|| Promotion { actor: "system-test".into(), reason: "test setup".into() });
    Ok(registry.save_version(v, promotion).await?)
}

/// Stores `bars` for `symbol` and a tiny current model `version_id` for `(symbol, years)`.
pub async fn seed_key(
    registry: &Registry,
    symbol: &str,
    years: u32,
    version_id: &str,
    bars: &[Bar],
    seed: i64,
) -> anyhow::Result<VersionInfo> {
    registry.upsert_bars(symbol, bars).await?;
    let art = build_artifact(symbol, years, tiny(8), seed, bars)?;
    store_version(registry, version_id, art, true).await
}

/// A predictor-svc server running in this process.
pub struct RunningPredictor {
    /// gRPC address.
    pub addr: SocketAddr,
    /// `/metrics` address.
    pub metrics_addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<common::Result<()>>,
}

impl RunningPredictor {
    /// Starts `predictor_svc::serve_with_metrics` for `registry_url` on 127.0.0.1:0; `tweak` may
    /// change the configuration first. Waits until the gRPC port accepts connections.
    pub async fn start(
        registry_url: &str,
        tweak: impl FnOnce(&mut PredictorConfig),
    ) -> anyhow::Result<RunningPredictor> {
        let mut config = PredictorConfig::for_database(registry_url);
        config.reload_poll_ms = 100;
        config.health_poll_ms = 200;
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let metrics = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let metrics_addr = metrics.local_addr()?;
        let stop = CancellationToken::new();
        let s = stop.clone();
        let task = tokio::spawn(predictor_svc::serve_with_metrics(
            listener,
            Some(metrics),
            config,
            async move { s.cancelled().await },
        ));
        let server = RunningPredictor { addr, metrics_addr, stop, task };
        server.client().await.context("predictor did not start")?;
        Ok(server)
    }

    /// A new client connection.
    pub async fn client(&self) -> anyhow::Result<PredictorClient<Channel>> {
        let url = format!("http://{}", self.addr);
        for _ in 0..100 {
            if let Ok(c) = PredictorClient::connect(url.clone()).await {
                return Ok(c);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("cannot connect to predictor at {url}")
    }

    /// The `/metrics` page.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        Ok(common::metrics_scrape::fetch_metrics(self.metrics_addr).await?)
    }

    /// Signals shutdown (like SIGTERM) without waiting; [`RunningPredictor::stop`] waits.
    pub fn signal_stop(&self) {
        self.stop.cancel();
    }

    /// Signals shutdown and waits for the server to finish (drain + prediction-log flush).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await??;
        Ok(())
    }
}

/// Value of a metric line `name{labels} value` (labels given exactly as Prometheus prints them,
/// or empty for an unlabelled metric); 0 when absent.
pub fn metric_value(text: &str, name: &str, labels: &str) -> f64 {
    let prefix = if labels.is_empty() { format!("{name} ") } else { format!("{name}{{{labels}}} ") };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Converts bars to the protocol type (for inline-bar requests).
pub fn pb_bars(bars: &[Bar]) -> Vec<common::pb::Bar> {
    bars.iter()
        .map(|b| common::pb::Bar {
            date: b.date.format("%Y-%m-%d").to_string(),
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            amount: b.amount,
        })
        .collect()
}

/// A Predict request for the current model of `(symbol, years)` on the registry's bars.
pub fn predict_request(symbol: &str, years: u32) -> common::pb::PredictRequest {
    common::pb::PredictRequest {
        symbol: symbol.to_string(),
        years: Some(years),
        bars: Vec::new(),
        version_id: String::new(),
    }
}
