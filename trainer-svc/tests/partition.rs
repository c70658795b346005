//! A network partition, not a crash: two real trainer-svc replicas on PostgreSQL, replica A in
//! its own network namespace (a veth pair to this host), reaching the database only through a
//! forwarder on the host side of that pair. Mid-run, A's packets to and from the database are
//! dropped silently (nftables `drop` inside A's namespace: no RST, no ICMP) for longer than the
//! lease ttl, while replica B is asked to train the same symbol. The test asserts that
//! - A stops its run on its own before its lease can expire (its `trainer_active_runs` gauge
//!   falls to 0 before the expiry A last wrote), not when the partition heals;
//! - at no moment do two runs hold the symbol (the lease row is sampled throughout: B's lease
//!   starts after A's last expiry, and after A stopped), and only B stores a version;
//! - B's run completes; the tables are whole afterwards (no run left open, every succeeded run's
//!   version exists, no lease or queue entry left behind, A's run closed without a version);
//! - A recovers without a restart once the path returns: health SERVING, and it trains again.
//!
//! Needs root (network namespaces, nftables), `ip` and `nft` (scripts/test.sh installs nftables)
//! and PostgreSQL (`TEST_POSTGRES_URL`); without them it skips with a printed notice.
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::data::{generate, SyntheticConfig};
use common::pb::{self, train_event::Event};
use common::test_ports::free_port;
use sqlx::{Connection, Row};
use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_check_response::ServingStatus;

mod support;
use support::trainer::{Launch, Trainer};
use support::{postgres_db, server_addr, tcp_proxy};

/// Lease timing of both replicas: A must give up by `TTL - RENEW` after its last renewal.
const TTL_SECONDS: u64 = 9;
const RENEW_SECONDS: u64 = 3;
/// Deadline of each registry call of the replicas.
const REGISTRY_TIMEOUT_MS: u64 = 1000;
const SYMBOL: &str = "SPLIT";

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

fn run(cmd: &str, args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new(cmd).args(args).output()
}

fn ok(cmd: &str, args: &[&str]) {
    let out = run(cmd, args).unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Why this machine cannot run the test, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let uid = run("id", &["-u"]).ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        return Some("not root: network namespaces and nftables need root".into());
    }
    for tool in ["ip", "nft"] {
        if run(tool, &["--version"]).is_err() {
            return Some(format!("`{tool}` not found (scripts/test.sh installs nftables with apt)"));
        }
    }
    None
}

/// A network namespace joined to this host by a veth pair (`host_ip` here, `ns_ip` there);
/// deleted, with its link, when dropped.
struct Netns {
    name: String,
    host_ip: Ipv4Addr,
    ns_ip: Ipv4Addr,
}

impl Netns {
    fn create() -> Option<Netns> {
        let id = std::process::id() % 100_000;
        let name = format!("lstm-part-{id}");
        let (host_if, ns_if) = (format!("lp{id}h"), format!("lp{id}n"));
        let net = 16 + (id % 200) as u8;
        let (host_ip, ns_ip) = (Ipv4Addr::new(10, 231, net, 1), Ipv4Addr::new(10, 231, net, 2));
        let _ = run("ip", &["netns", "del", &name]);
        if let Err(e) = run("ip", &["netns", "add", &name]).map_err(|e| e.to_string()).and_then(|o| {
            if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) }
        }) {
            common::test_skip::notice(format_args!("cannot create a network namespace here ({})", e.trim()));
            return None;
        }
        let ns = Netns { name, host_ip, ns_ip };
        ok("ip", &["link", "add", &host_if, "type", "veth", "peer", "name", &ns_if, "netns", &ns.name]);
        ok("ip", &["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
        ok("ip", &["link", "set", &host_if, "up"]);
        ok("ip", &["-n", &ns.name, "addr", "add", &format!("{ns_ip}/30"), "dev", &ns_if]);
        ok("ip", &["-n", &ns.name, "link", "set", &ns_if, "up"]);
        ok("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
        Some(ns)
    }

    /// Drops, silently and in both directions, A's packets to and from `port` on the host side.
    fn cut(&self, port: u16) {
        let p = port.to_string();
        let host = self.host_ip.to_string();
        let nft = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &self.name, "nft"];
            all.extend_from_slice(args);
            ok("ip", &all);
        };
        nft(&["add", "table", "inet", "partition"]);
        nft(&["add", "chain", "inet", "partition", "out", "{ type filter hook output priority 0; }"]);
        nft(&["add", "chain", "inet", "partition", "in", "{ type filter hook input priority 0; }"]);
        nft(&["add", "rule", "inet", "partition", "out", "ip", "daddr", &host, "tcp", "dport", &p, "drop"]);
        nft(&["add", "rule", "inet", "partition", "in", "ip", "saddr", &host, "tcp", "sport", &p, "drop"]);
    }

    /// Lets the packets through again.
    fn heal(&self) {
        ok("ip", &["netns", "exec", &self.name, "nft", "delete", "table", "inet", "partition"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// A replica of this test (inside `netns` when given) on `addr`, its metrics on `metrics`, with
/// the lease timing above; returned once its health reads SERVING.
async fn start_trainer(netns: Option<&str>, addr: SocketAddr, metrics: SocketAddr, db_url: &str) -> Trainer {
    let (metrics, ttl, renew, timeout) =
        (metrics.to_string(), TTL_SECONDS.to_string(), RENEW_SECONDS.to_string(), REGISTRY_TIMEOUT_MS.to_string());
    let flags = [
        "--metrics-listen", &metrics, "--lease-ttl-seconds", &ttl, "--lease-renew-seconds", &renew,
        "--registry-timeout-ms", &timeout, "--shutdown-grace-seconds", "5",
    ];
    let ready = Some(ServingStatus::Serving);
    Trainer::start(Launch { netns, addr, db_url, flags: &flags, envs: &[], ready }).await
}

/// `trainer_active_runs` from the /metrics of the replica whose metrics listen on `metrics`.
async fn active_runs(metrics: SocketAddr) -> anyhow::Result<i64> {
    let body = common::metrics_scrape::fetch_metrics(metrics).await?;
    let line = body
        .lines()
        .find(|l| l.starts_with("trainer_active_runs "))
        .ok_or_else(|| anyhow::anyhow!("no trainer_active_runs in /metrics"))?;
    Ok(line.rsplit(' ').next().unwrap_or("").parse::<f64>()? as i64)
}

fn train(epochs: u32) -> pb::TrainRequest {
    pb::TrainRequest {
        symbol: SYMBOL.into(),
        years: Some(1),
        use_enhanced_model: Some(false),
        use_improved_training: Some(false),
        do_cv_tune: Some(false),
        do_shap: Some(false),
        do_plot: Some(false),
        param_grid: Some(pb::ParamGrid { epochs: vec![epochs], ..Default::default() }),
        seed: Some(7),
        device: "cpu".into(),
        lease_timeout_seconds: Some(120),
        ..Default::default()
    }
}

/// Reads a Train stream to its end: the run id, whether it completed, and the last event.
async fn finish(mut stream: tonic::Streaming<pb::TrainEvent>) -> (String, bool, Option<Event>, Option<tonic::Status>) {
    let (mut run_id, mut completed, mut last) = (String::new(), false, None);
    loop {
        match tokio::time::timeout(Duration::from_secs(120), stream.message()).await.expect("the stream ends") {
            Ok(Some(ev)) => {
                run_id = ev.run_id.clone();
                completed |= matches!(ev.event, Some(Event::Completed(_)));
                last = ev.event.or(last);
            }
            Ok(None) => return (run_id, completed, last, None),
            Err(s) => return (run_id, completed, last, Some(s)),
        }
    }
}

/// One sample of the symbol's lease row: (sampled at ms, holder, acquired ms, expires ms).
type LeaseSample = (i64, String, i64, i64);

/// Samples the lease row of [`SYMBOL`] every 50 ms until `stop`.
fn sample_leases(db_url: String, stop: CancellationToken) -> Arc<Mutex<Vec<LeaseSample>>> {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let out = samples.clone();
    tokio::spawn(async move {
        let mut conn = sqlx::AnyConnection::connect(&db_url).await.expect("sampler connects");
        while !stop.is_cancelled() {
            let row = sqlx::query("SELECT holder, acquired_at_ms, expires_at_ms FROM training_leases WHERE symbol = $1")
                .bind(SYMBOL)
                .fetch_optional(&mut conn)
                .await
                .expect("sample the lease");
            if let Some(r) = row {
                let s = (now_ms(), r.get::<String, _>(0), r.get::<i64, _>(1), r.get::<i64, _>(2));
                out.lock().unwrap().push(s);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_replica_stops_before_its_lease_expires_and_recovers() -> anyhow::Result<()> {
    if let Some(why) = missing_prerequisite() {
        common::test_skip::notice(why);
        return Ok(());
    }
    let Some(db_url) = postgres_db("trainer_partition", "the partition test needs PostgreSQL").await else { return Ok(()) };
    let pg = server_addr(&db_url).await;
    let Some(ns) = Netns::create() else { return Ok(()) };

    // A reaches PostgreSQL only through the forwarder on the host end of its veth pair.
    let fwd = SocketAddr::from((ns.host_ip, free_port().port()));
    let _forwarder = tcp_proxy(fwd, pg).await.1.drop_guard();
    let via_fwd = {
        let (scheme_user, rest) = db_url.rsplit_once('@').expect("user@host in TEST_POSTGRES_URL");
        let db = rest.split_once('/').expect("a database name").1;
        format!("{scheme_user}@{fwd}/{db}")
    };
    let a_metrics = SocketAddr::from((ns.ns_ip, 9100));
    let a = start_trainer(Some(&ns.name), SocketAddr::from((ns.ns_ip, 50051)), a_metrics, &via_fwd).await;
    let b = start_trainer(None, free_port(), free_port(), &db_url).await;
    let (mut ca, mut cb) = (a.client().await?, b.client().await?);
    let bars: Vec<pb::Bar> = generate(&SyntheticConfig { seed: 11, days: 300, ..SyntheticConfig::default() })
        .iter()
        .map(trainer_svc::requests::bar_to_pb)
        .collect();
    cb.ingest_bars(pb::IngestBarsRequest { symbol: SYMBOL.into(), bars, ..Default::default() }).await?;

    // A's long run is under way (its lease renewed) before the cut.
    let mut a_stream = ca.train(train(1000)).await?.into_inner();
    let a_run = loop {
        let ev = a_stream.message().await?.expect("A's run streams events");
        if matches!(ev.event, Some(Event::Epoch(_))) {
            break ev.run_id;
        }
    };
    let stop_sampling = CancellationToken::new();
    let samples = sample_leases(db_url.clone(), stop_sampling.clone());
    tokio::time::sleep(Duration::from_secs(RENEW_SECONDS + 1)).await;
    assert_eq!(active_runs(a_metrics).await?, 1, "A trains before the cut");

    ns.cut(fwd.port());
    let cut_ms = now_ms();
    let cut = Instant::now();
    // B is asked for the same symbol: it queues behind A's lease until that expires.
    let b_run = tokio::spawn(async move {
        let stream = cb.train(train(2)).await.expect("B accepts the Train").into_inner();
        finish(stream).await
    });

    // A gives up on its own, before its lease can expire (a liveness bound of 3 ttls).
    let a_stopped_ms = loop {
        if active_runs(a_metrics).await? == 0 {
            break now_ms();
        }
        assert!(cut.elapsed() < Duration::from_secs(3 * TTL_SECONDS), "A still trains {:?} after the cut", cut.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The partition lasts well past the ttl: B takes the symbol over and completes meanwhile.
    let (b_run_id, b_completed, b_last, b_status) = tokio::time::timeout(Duration::from_secs(120), b_run).await??;
    assert!(b_completed && b_status.is_none(), "B's run must complete: {b_last:?} {b_status:?}");
    let held = Duration::from_secs(3 * TTL_SECONDS).saturating_sub(cut.elapsed());
    tokio::time::sleep(held).await;
    assert_eq!(a.serving().await.ok(), Some(ServingStatus::NotServing), "A's health tells it cannot write");
    let partition_ms = now_ms() - cut_ms;
    ns.heal();
    stop_sampling.cancel();

    // A's own stream ends with the run's failure (the lease could not be confirmed).
    let (_, a_completed, a_last, a_status) = finish(a_stream).await;
    assert!(!a_completed, "A's run must not complete");
    let a_failed = matches!(&a_last, Some(Event::Failed(f)) if f.code == "ABORTED") || a_status.is_some();
    assert!(a_failed, "A's run ends failed: {a_last:?} {a_status:?}");

    // The lease's history: A, then B, never both; B's starts after A's last expiry and after A
    // had stopped training.
    let samples = samples.lock().unwrap().clone();
    let a_expiry = samples.iter().filter(|s| s.1 == a_run).map(|s| s.3).max().expect("A's lease was sampled");
    let b_acquired = samples.iter().find(|s| s.1 == b_run_id).map(|s| s.2).expect("B's lease was sampled");
    let holders: Vec<&str> = samples.iter().map(|s| s.1.as_str()).fold(Vec::new(), |mut v, h| {
        if v.last() != Some(&h) {
            v.push(h);
        }
        v
    });
    assert_eq!(holders, [a_run.as_str(), b_run_id.as_str()], "the holders in order");
    assert!(b_acquired >= a_expiry, "B took the lease at {b_acquired} before A's expiry {a_expiry}");
    assert!(a_stopped_ms < a_expiry, "A stopped at {a_stopped_ms}, after its lease's expiry {a_expiry}");
    eprintln!(
        "partition {partition_ms} ms: A stopped {} ms after the cut, {} ms before its lease expired; \
         B took the lease {} ms after that expiry",
        a_stopped_ms - cut_ms,
        a_expiry - a_stopped_ms,
        b_acquired - a_expiry
    );

    // The tables: only B's version; A's run closed without one; nothing left open.
    let reg = common::registry::Registry::connect(&db_url).await?;
    let versions = reg.list_versions(Some(SYMBOL), Some(1)).await?;
    assert_eq!(versions.len(), 1, "B's version only: {versions:?}");
    let b_version = versions[0].version_id.clone();
    let runs = reg.runs(Some(SYMBOL), None, 10).await?;
    let a_rec = runs.iter().find(|r| r.run_id == a_run).expect("A's run is recorded");
    assert!(a_rec.version_id.is_none() && a_rec.finished_at.is_some(), "{a_rec:?}");
    assert_ne!(a_rec.status.as_str(), "succeeded");
    let b_rec = runs.iter().find(|r| r.run_id == b_run_id).expect("B's run is recorded");
    assert_eq!((b_rec.status.as_str(), b_rec.version_id.as_deref()), ("succeeded", Some(b_version.as_str())));
    integrity(&db_url).await?;

    // A recovers without a restart: SERVING again, and it trains the symbol.
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.serving().await.ok() != Some(ServingStatus::Serving) {
        assert!(Instant::now() < deadline, "A did not recover after the partition healed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, again, last, status) = finish(ca.train(train(2)).await?.into_inner()).await;
    assert!(again, "A trains again after the partition: {last:?} {status:?}");
    assert_eq!(reg.list_versions(Some(SYMBOL), Some(1)).await?.len(), 2);
    integrity(&db_url).await?;
    drop(ns);
    Ok(())
}

/// Whole tables: no run left open, every succeeded run's version stored, every stored version
/// from a succeeded run, and no lease or queue entry left behind.
async fn integrity(db_url: &str) -> anyhow::Result<()> {
    let mut c = sqlx::AnyConnection::connect(db_url).await?;
    let open: i64 = sqlx::query("SELECT COUNT(*) FROM training_runs WHERE status IN ('queued', 'running')")
        .fetch_one(&mut c)
        .await?
        .get(0);
    assert_eq!(open, 0, "runs left open");
    let dangling: i64 = sqlx::query(
        "SELECT COUNT(*) FROM training_runs r WHERE r.status = 'succeeded' AND r.version_id IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM model_versions v WHERE v.version_id = r.version_id)",
    )
    .fetch_one(&mut c)
    .await?
    .get(0);
    assert_eq!(dangling, 0, "succeeded runs whose version is missing");
    let orphans: i64 = sqlx::query(
        "SELECT COUNT(*) FROM model_versions v WHERE NOT EXISTS \
         (SELECT 1 FROM training_runs r WHERE r.version_id = v.version_id AND r.status = 'succeeded')",
    )
    .fetch_one(&mut c)
    .await?
    .get(0);
    assert_eq!(orphans, 0, "versions no succeeded run produced");
    for table in ["training_leases", "lease_queue"] {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut c).await?.get(0);
        assert_eq!(n, 0, "{table} left behind");
    }
    Ok(())
}
