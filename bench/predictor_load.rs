//! Load generator for predictor-svc (not a test): a real server on loopback, tonic clients, and
//! an independent reference in the same run.
//!
//! Measures, in one run on one machine, with the default enhanced model (untrained weights:
//! speed does not depend on training) and the service's default threads (`--torch-threads`,
//! overridable with `BENCH_TORCH_THREADS`):
//! 0. the reference: eager PyTorch's forward of the same network (`bench/predictor_torch.py`,
//!    written from SPEC §4) at batch 1 and 64 with the same intra-op threads, in a child process
//!    asked for a measurement at a checkpoint before and after each phase (each phase is
//!    compared with the faster of its two checkpoints: strict, and robust to a load that
//!    changes during the run);
//! 1. the raw in-process forward (`LoadedModel::forecast`, batch 1 and 64) on its own OS thread
//!    like a model lane, at the same checkpoints — goal ≤ 1.1 × PyTorch batch 1 (median of the
//!    ratios paired per checkpoint);
//! 2. Predict latency with 1 client — goals p50 ≤ 1.5 × and p99 ≤ 3 × PyTorch batch 1;
//! 3. throughput with 64 concurrent clients — goal ≥ 70 % of 64 / PyTorch batch-64 time;
//! 4. p99 of 8 clients with and without hot swaps (another version promoted mid-run, then rolled
//!    back) — goal: p99 during swaps ≤ 2 × normal p99;
//! 5. p99 of 1 client while 1 000-item PredictBatch calls run back to back — goal ≤ 2 × its
//!    unloaded p99, measured in windows interleaved with the loaded ones.
//!
//! Against the whole machine (issue 26): a second PyTorch reference at as many intra-op threads
//! as there are cores, at batch 1 (the 1-client goals use PyTorch's best thread count) and batch
//! 64 (goal: 64 clients ≥ 70 % of its rate); the server's and the clients' CPU seconds from
//! `/proc/self/task` (the clients run on their own runtime, threads `bench-client`; goal: the
//! server busy on ≥ 1.7 cores), PyTorch's CPU per window from `/proc/PID/stat`; the clients'
//! ceiling on a trivial RPC (ListModels, 64 clients); and 64 clients spread over 16 models (goal:
//! no slower than on one). `BENCH_FORWARD_THREADS=N` sets `--forward-threads` (default: auto).
//!
//! Run with `bench/run_predictor_bench.sh` (or `cargo bench -p predictor-svc --bench
//! predictor_load --profile dev -- [--quick]`). Bounded: about a minute in total.
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::data::{generate, SyntheticConfig};
use common::features::{latest_window, FeatureConfig, N_FEATURES};
use common::model::{Architecture, LoadedModel};
use common::pb::predictor_client::PredictorClient;
use common::pb::{ListModelsRequest, PredictBatchRequest, PredictRequest};
use common::registry::Registry;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
#[path = "support.rs"]
mod support;
use support::{artifact, loadavg, ms, pct, store, AnyResult};


struct Run {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
    fn p(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        pct(&l, p)
    }
}

/// `clients` concurrent clients, each on its own connection, for `duration` (or until each has
/// sent `max_per_client` requests). `during` runs alongside (e.g. promotions).
async fn load(
    url: String,
    clients: usize,
    duration: Duration,
    max_per_client: usize,
    call: Call,
    during: impl std::future::Future<Output = ()>,
) -> AnyResult<Run> {
    let lat: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(PredictorClient::connect(url.clone()).await?);
    }
    let start = Instant::now();
    let end = start + duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let lat = lat.clone();
            let errors = errors.clone();
            let call = call.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while Instant::now() < end && mine.len() < max_per_client {
                    let t = Instant::now();
                    let r = match &call {
                        Call::Predict(symbols) => {
                            let symbol = symbols[i % symbols.len()].clone();
                            c.predict(PredictRequest { symbol, ..bench_request() }).await.map(|_| ())
                        }
                        Call::ListModels => c.list_models(ListModelsRequest::default()).await.map(|_| ()),
                    };
                    match r {
                        Ok(_) => mine.push(t.elapsed()),
                        Err(e) => {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            eprintln!("request failed: {e}");
                        }
                    }
                }
                lat.lock().await.extend(mine);
            })
        })
        .collect();
    during.await;
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed();
    let latencies = std::mem::take(&mut *lat.lock().await);
    Ok(Run { latencies, errors: errors.load(std::sync::atomic::Ordering::Relaxed), elapsed })
}

/// What the load's clients call: Predict (client `i` on `symbols[i % len]`), or ListModels (a
/// trivial RPC: the clients' and the transport's own ceiling).
#[derive(Debug, Clone)]
enum Call {
    Predict(Arc<Vec<String>>),
    ListModels,
}

fn one_model() -> Call {
    Call::Predict(Arc::new(vec!["BENCH".into()]))
}

/// CPU seconds so far of this process's threads, split into (server, clients): the clients run
/// on their own runtime whose threads are named `bench-client`; the raw-forward reference
/// thread (`bench-raw`) counts in neither.
fn thread_cpu_seconds() -> (f64, f64) {
    let tick = clock_ticks();
    let (mut server, mut clients) = (0.0, 0.0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return (0.0, 0.0) };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = &stat[open + 1..close];
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // After the name: state is field 3 of stat(5), utime 14 and stime 15.
        let cpu = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0);
        if name.starts_with("bench-client") {
            clients += cpu / tick;
        } else if !name.starts_with("bench-raw") {
            server += cpu / tick;
        }
    }
    (server, clients)
}

/// CPU seconds so far of process `pid` (user + system).
fn process_cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let Some(close) = stat.rfind(')') else { return 0.0 };
    let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let v = |i: usize| f.get(i).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0);
    (v(11) + v(12)) / clock_ticks()
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 where it cannot be asked).
fn clock_ticks() -> f64 {
    static TICK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn bench_request() -> PredictRequest {
    PredictRequest { symbol: "BENCH".into(), years: Some(1), bars: Vec::new(), version_id: String::new() }
}

/// p50/p99 of one batch size of the PyTorch reference.
#[derive(Debug, Clone, Copy, Default)]
struct RefTimes {
    p50: Duration,
    p99: Duration,
    /// CPU seconds the reference process spent per window in this measurement.
    cpu_per_window: f64,
}

/// `bench/predictor_torch.py --serve` (eager PyTorch, same network, same intra-op threads) as a
/// child process, asked for one measurement at a time.
struct PyTorch {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl PyTorch {
    fn start(threads: usize) -> AnyResult<PyTorch> {
        use std::process::{Command, Stdio};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let python =
            std::env::var("PYTHON").map(Into::into).unwrap_or_else(|_| root.join(".venv/bin/python"));
        let mut child = Command::new(&python)
            .arg(root.join("bench/predictor_torch.py"))
            .args(["--serve", "--threads", &threads.to_string()])
            .env("OMP_NUM_THREADS", threads.to_string())
            .env("MKL_NUM_THREADS", threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {} bench/predictor_torch.py: {e}", python.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(PyTorch { child, stdin, stdout })
    }

    fn measure(&mut self, batch: usize, seconds: f64, gap: Duration) -> AnyResult<RefTimes> {
        use std::io::{BufRead, Write};
        let cpu0 = process_cpu_seconds(self.child.id());
        writeln!(self.stdin, "{batch} {seconds} {}", ms(gap))?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| format!("predictor_torch.py answered {line:?}: {e}"))?;
        let b = batch.to_string();
        let ms = |k: &str| v["batches"][&b][k].as_f64().ok_or_else(|| format!("no batches.{b}.{k} in {v}"));
        // The warm-up's 10 passes count too (they are in the CPU time).
        let windows = (ms("iters")? + 10.0) * batch as f64;
        Ok(RefTimes {
            p50: Duration::from_secs_f64(ms("p50_ms")? / 1e3),
            p99: Duration::from_secs_f64(ms("p99_ms")? / 1e3),
            cpu_per_window: (process_cpu_seconds(self.child.id()) - cpu0) / windows,
        })
    }
}

impl Drop for PyTorch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Idle time between the batch-1 reference passes, like a client's round trip between its
/// Predicts: on a busy machine the scheduler favours a thread that sleeps between bursts (the
/// model lane) over one that computes back to back, so a gap-free reference would be slower
/// than the service for reasons that have nothing to do with it.
const GAP: Duration = Duration::from_millis(2);

/// One checkpoint between load phases: PyTorch's and the raw forward's batch-1 times, measured
/// back to back.
#[derive(Debug, Clone)]
struct Checkpoint {
    py: RefTimes,
    raw: Vec<Duration>,
}


/// The raw forward, measured on its own OS thread (like a model lane) on request.
struct RawForward {
    tx: std::sync::mpsc::Sender<(usize, Duration, std::sync::mpsc::Sender<Vec<Duration>>)>,
    thread: std::thread::JoinHandle<()>,
}

impl RawForward {
    fn start(model: LoadedModel, window: Vec<f32>, threads: usize, budget: Duration) -> RawForward {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Duration, std::sync::mpsc::Sender<Vec<Duration>>)>();
        let thread = std::thread::Builder::new().name("bench-raw".into()).spawn(move || {
            if threads > 0 {
                tch::set_num_threads(threads as i32);
            }
            for (batch, gap, reply) in rx {
                let input: Vec<f32> = window.iter().copied().cycle().take(window.len() * batch).collect();
                for _ in 0..10 {
                    let _ = model.forecast(&input, batch);
                }
                let mut out = Vec::new();
                let deadline = Instant::now() + budget;
                while out.len() < 300 && Instant::now() < deadline {
                    let t = Instant::now();
                    let _ = model.forecast(&input, batch);
                    out.push(t.elapsed());
                    std::thread::sleep(gap);
                }
                out.sort();
                let _ = reply.send(out);
            }
        }).expect("the raw-forward thread starts");
        RawForward { tx, thread }
    }

    fn measure(&self, batch: usize, gap: Duration) -> AnyResult<Vec<Duration>> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.tx.send((batch, gap, tx))?;
        Ok(rx.recv()?)
    }
}

/// The faster (by p50) of two sorted samples.
fn faster(a: Vec<Duration>, b: Vec<Duration>) -> Vec<Duration> {
    if pct(&a, 0.5) <= pct(&b, 0.5) { a } else { b }
}

/// Runs `f` on the clients' runtime (its threads are counted as the clients' CPU).
async fn on<T: Send + 'static>(
    clients: &tokio::runtime::Handle,
    f: impl std::future::Future<Output = AnyResult<T>> + Send + 'static,
) -> AnyResult<T> {
    clients.spawn(f).await?
}

/// Symbols of the many-models phase.
const MANY_MODELS: usize = 16;

/// `(sum, count)` of each `predictor_predict_stage_seconds{stage}` series and of
/// `predictor_request_seconds{method="Predict"}` (as stage `handler`), from the server's /metrics.
async fn stage_sums(metrics: std::net::SocketAddr) -> AnyResult<std::collections::BTreeMap<String, (f64, f64)>> {
    let body = common::metrics_scrape::fetch_metrics(metrics).await?;
    let mut out = std::collections::BTreeMap::new();
    for line in body.lines() {
        let (series, value) = match line.rsplit_once(' ') {
            Some((s, v)) => (s, v.parse::<f64>().unwrap_or(f64::NAN)),
            None => continue,
        };
        let stage = if let Some(rest) = series.strip_prefix("predictor_predict_stage_seconds_") {
            rest.split_once("{stage=\"").map(|(kind, l)| (kind, l.trim_end_matches("\"}").to_string()))
        } else if let Some(rest) = series.strip_prefix("predictor_request_seconds_") {
            rest.split_once("{method=\"Predict\"}").map(|(kind, _)| (kind, "handler".to_string()))
        } else {
            None
        };
        if let Some((kind, stage)) = stage {
            let e = out.entry(stage).or_insert((0.0, 0.0));
            match kind {
                "sum" => e.0 = value,
                "count" => e.1 = value,
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Where one answer of the 1-client phase spent its time: the mean of each stage inside the
/// service, the handler's own rest, and what lies outside the handler (transport, HTTP/2,
/// decoding, encoding and the client), against the client's mean latency.
fn print_stages(
    before: &std::collections::BTreeMap<String, (f64, f64)>,
    after: &std::collections::BTreeMap<String, (f64, f64)>,
    one: &Run,
) {
    let mean = |stage: &str| -> f64 {
        let (a, b) = (before.get(stage).copied().unwrap_or_default(), after.get(stage).copied().unwrap_or_default());
        let n = b.1 - a.1;
        if n > 0.0 { 1e3 * (b.0 - a.0) / n } else { 0.0 }
    };
    let client_mean = 1e3 * one.latencies.iter().map(Duration::as_secs_f64).sum::<f64>() / one.latencies.len().max(1) as f64;
    println!();
    println!("One Predict by stage (1 client, mean over {} answers; client mean {client_mean:.3} ms):", one.latencies.len());
    println!("| stage | mean ms | share of the client's mean |");
    println!("|---|---|---|");
    let stages = ["model", "bars", "features", "queue", "forward", "calibration", "assemble", "log"];
    for stage in stages {
        println!("| {stage} | {:.3} | {:.0} % |", mean(stage), 100.0 * mean(stage) / client_mean);
    }
    // `model` and `bars` run concurrently: the longer of the two counts.
    let inside = mean("model").max(mean("bars"))
        + stages[2..].iter().map(|s| mean(s)).sum::<f64>();
    let handler = mean("handler");
    println!(
        "| rest of the handler (auth, request and response conversion, metrics) | {:.3} | {:.0} % |",
        handler - inside,
        100.0 * (handler - inside) / client_mean
    );
    println!(
        "| outside the handler (receive, HTTP/2, decode, encode, the client) | {:.3} | {:.0} % |",
        client_mean - handler,
        100.0 * (client_mean - handler) / client_mean
    );
}

fn goal(name: &str, ratio: f64, met: bool) -> bool {
    println!("goal {name}: {ratio:.2}x {}", if met { "MET" } else { "MISSED" });
    met
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    common::telemetry::init_tracing(common::telemetry::LogFormat::Text);
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 0.3 } else { 1.0 };
    let secs = |s: f64| Duration::from_secs_f64(s * scale);
    let load_start = loadavg();

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/registry.db", dir.path().display());
    let reg = Registry::connect(&url).await?.with_max_versions(10);
    let bars = generate(&SyntheticConfig { seed: 7, days: 400, ..SyntheticConfig::default() });
    reg.upsert_bars("BENCH", &bars).await?;
    let arch = Architecture::enhanced(N_FEATURES as i64, 128);
    let a1 = artifact(arch, 1, &bars)?;
    let a2 = artifact(arch, 2, &bars)?;
    let raw_model = LoadedModel::from_artifact(&a1.0, &a1.1, tch::Device::Cpu)?;
    store(&reg, "bench-v1", a1, true).await?;
    store(&reg, "bench-v2", a2, false).await?;
    let many_symbols: Vec<String> = (0..MANY_MODELS).map(|i| format!("BENCH{i:02}")).collect();
    for (i, symbol) in many_symbols.iter().enumerate() {
        reg.upsert_bars(symbol, &bars).await?;
        let (mut md, weights) = artifact(arch, 10 + i as i64, &bars)?;
        md.symbol = symbol.clone();
        store(&reg, &format!("bench-{symbol}"), (md, weights), true).await?;
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // The clients get a runtime (and threads) of their own, so their CPU is told apart.
    let clients_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("bench-client")
        .enable_all()
        .build()?;
    let client = clients_rt.handle().clone();

    let mut config = predictor_svc::Config::for_database(&url);
    if let Some(t) = std::env::var("BENCH_TORCH_THREADS").ok().and_then(|s| s.parse().ok()) {
        config.model.torch_threads = t;
    }
    if let Some(t) = std::env::var("BENCH_FORWARD_THREADS").ok().and_then(|s| s.parse().ok()) {
        config.forward_threads = t;
    }
    let threads = config.model.torch_threads;
    let ref_threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };

    // 0. + 1. References: PyTorch and the raw forward at batch 1 at every checkpoint between
    //    phases (each phase is compared with the faster of the checkpoints around it), batch 64
    //    around the 64-client phase.
    let mut py = PyTorch::start(ref_threads)?;
    // The whole machine: PyTorch at as many intra-op threads as there are cores.
    let mut py_all = PyTorch::start(cores)?;
    let window = latest_window(&bars[bars.len() - 200..], &FeatureConfig::default())?;
    let raw = RawForward::start(raw_model, window, threads, secs(1.5));
    let ref_secs = 1.5 * scale.max(0.5);
    let checkpoint = |py: &mut PyTorch, raw: &RawForward| -> AnyResult<Checkpoint> {
        Ok(Checkpoint { py: py.measure(1, ref_secs, GAP)?, raw: raw.measure(1, GAP)? })
    };
    let mut cps = vec![checkpoint(&mut py, &raw)?];
    // The server, in this process, on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let metrics_addr = metrics_listener.local_addr()?;
    let stop = CancellationToken::new();
    let s = stop.clone();
    let server = tokio::spawn(predictor_svc::serve_with_metrics(listener, Some(metrics_listener), config.clone(), async move {
        s.cancelled().await
    }));
    let grpc = format!("http://{addr}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Warm-up: loads the model, warms connections.
    on(&client, load(grpc.clone(), 4, secs(2.0), 50, one_model(), async {})).await?;

    // 2. One client, between batch-1 references at the service's threads and at all cores.
    cps.push(checkpoint(&mut py, &raw)?);
    let py_all1_before = py_all.measure(1, ref_secs, GAP)?;
    let stages_before = stage_sums(metrics_addr).await?;
    let one = on(&client, load(grpc.clone(), 1, secs(8.0), 1000, one_model(), async {})).await?;
    let stages_after = stage_sums(metrics_addr).await?;
    cps.push(checkpoint(&mut py, &raw)?);
    let py_all1_after = py_all.measure(1, ref_secs, GAP)?;
    // 3. 64 clients, between two batch-64 references at the service's threads and at all cores;
    //    the server's and the clients' CPU seconds counted from /proc.
    let py64_before = py.measure(64, 2.0 * ref_secs, Duration::ZERO)?;
    let py_all64_before = py_all.measure(64, 2.0 * ref_secs, Duration::ZERO)?;
    let raw64_before = raw.measure(64, Duration::ZERO)?;
    let cpu0 = thread_cpu_seconds();
    let many = on(&client, load(grpc.clone(), 64, secs(8.0), usize::MAX, one_model(), async {})).await?;
    let cpu1 = thread_cpu_seconds();
    let py64_after = py.measure(64, 2.0 * ref_secs, Duration::ZERO)?;
    let py_all64_after = py_all.measure(64, 2.0 * ref_secs, Duration::ZERO)?;
    // 3b. The clients' own ceiling: 64 clients on a trivial RPC (ListModels).
    let trivial = on(&client, load(grpc.clone(), 64, secs(4.0), usize::MAX, Call::ListModels, async {})).await?;
    // 3c. 64 clients spread over 16 models (each loaded first).
    // Its reference: with 64 clients over 16 models a pass holds at most 4 windows.
    let py_all4 = py_all.measure(64 / MANY_MODELS, ref_secs, Duration::ZERO)?;
    let spread = Call::Predict(Arc::new(many_symbols.clone()));
    on(&client, load(grpc.clone(), MANY_MODELS, secs(2.0), 20, spread.clone(), async {})).await?;
    let cpu2 = thread_cpu_seconds();
    let many16 = on(&client, load(grpc.clone(), 64, secs(8.0), usize::MAX, spread, async {})).await?;
    let cpu3 = thread_cpu_seconds();
    let raw64 = faster(raw64_before, raw.measure(64, Duration::ZERO)?);
    let py64 = if py64_before.p50 <= py64_after.p50 { py64_before } else { py64_after };
    // 4. p99 with 8 clients, without and with hot swaps.
    let normal = on(&client, load(grpc.clone(), 8, secs(6.0), usize::MAX, one_model(), async {})).await?;
    let reg2 = reg.clone();
    let swap_every = secs(2.0);
    let swapped = on(&client, load(grpc.clone(), 8, secs(6.0), usize::MAX, one_model(), async move {
        tokio::time::sleep(swap_every).await;
        let _ = reg2.set_current("BENCH", 1, "bench-v2", "bench", "swap").await;
        tokio::time::sleep(swap_every).await;
        let _ = reg2.set_current("BENCH", 1, "bench-v1", "bench", "swap back").await;
    })).await?;
    // 5. One client alone, then while 1 000-item PredictBatch calls run back to back, then
    //    alone again, twice: the unloaded and loaded samples interleave in time.
    let mut alone = Vec::new();
    let mut during = Run { latencies: Vec::new(), errors: 0, elapsed: Duration::ZERO };
    let mut batch_runs = Vec::new();
    for _ in 0..2 {
        alone.extend(on(&client, load(grpc.clone(), 1, secs(2.0), 1000, one_model(), async {})).await?.latencies);
        let mut bulk = PredictorClient::connect(grpc.clone()).await?.max_decoding_message_size(64 << 20);
        let bulk_stop = CancellationToken::new();
        let bs = bulk_stop.clone();
        let batches = tokio::spawn(async move {
            let mut took = Vec::new();
            while !bs.is_cancelled() {
                let t = Instant::now();
                let r = bulk.predict_batch(PredictBatchRequest { requests: vec![bench_request(); 1000] }).await;
                let ok = r.map(|r| r.into_inner().items.len() == 1000).unwrap_or(false);
                took.push((t.elapsed(), ok));
            }
            took
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let d = on(&client, load(grpc.clone(), 1, secs(4.0), 1000, one_model(), async {})).await?;
        bulk_stop.cancel();
        batch_runs.extend(batches.await?);
        during.latencies.extend(d.latencies);
        during.errors += d.errors;
    }
    alone.extend(on(&client, load(grpc.clone(), 1, secs(2.0), 1000, one_model(), async {})).await?.latencies);
    let alone = Run { latencies: alone, errors: 0, elapsed: Duration::from_secs(1) };

    let mut status = PredictorClient::connect(grpc.clone()).await?;
    let st = status
        .get_model_status(common::pb::GetModelStatusRequest { symbol: "BENCH".into(), years: Some(1) })
        .await?
        .into_inner();
    stop.cancel();
    server.await??;
    cps.push(checkpoint(&mut py, &raw)?);
    drop(py);
    drop(py_all);
    drop(raw.tx);
    let _ = raw.thread.join();
    let load_end = loadavg();
    clients_rt.shutdown_background();
    // The reference of the 1-client phase: the faster PyTorch batch-1 p50 of its two checkpoints.
    let py1 = if cps[1].py.p50 <= cps[2].py.p50 { cps[1].py } else { cps[2].py };
    // Raw forward vs PyTorch, paired per checkpoint (measured back to back): the median ratio.
    let mut raw_ratios: Vec<f64> =
        cps.iter().map(|c| ms(pct(&c.raw, 0.5)) / ms(c.py.p50)).collect();
    raw_ratios.sort_by(|a, b| a.total_cmp(b));
    let raw_ratio = raw_ratios[raw_ratios.len() / 2];
    let raw1 = cps.iter().map(|c| c.raw.clone()).reduce(faster).unwrap_or_default();

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let r = |d: Duration| ms(d) / ms(py1.p50);
    let better = |a: RefTimes, b: RefTimes| if a.p50 <= b.p50 { a } else { b };
    let py_all1 = better(py_all1_before, py_all1_after);
    let py_all64 = better(py_all64_before, py_all64_after);
    // PyTorch's batch-1 forward at its best thread count on this machine.
    let py_best1 = better(py1, py_all1);
    let all_core_rate = 64.0 / py_all64.p50.as_secs_f64();
    let cores_used = |a: (f64, f64), b: (f64, f64), run: &Run| {
        let t = run.elapsed.as_secs_f64();
        ((b.0 - a.0) / t, (b.1 - a.1) / t, (b.0 - a.0) / run.latencies.len().max(1) as f64)
    };
    let (server_cores, client_cores, server_cpu_per_answer) = cores_used(cpu0, cpu1, &many);
    let (server_cores16, client_cores16, _) = cores_used(cpu2, cpu3, &many16);
    println!(
        "machine: {cpu}, {cores} cores; model: LSTMDualHeadEnhanced hidden 128 (untrained); \
         --torch-threads {threads}, --forward-threads {} (PyTorch reference: {ref_threads} intra-op threads)",
        config.batch().forward_threads
    );
    println!("load average (1/5/15 min) at the start: {load_start}; at the end: {load_end}");
    println!("| measurement | value | ratio to PyTorch batch-1 p50 |");
    println!("|---|---|---|");
    let cp_list = |f: &dyn Fn(&Checkpoint) -> f64| -> String {
        cps.iter().map(|c| format!("{:.2}", f(c))).collect::<Vec<_>>().join(" / ")
    };
    println!(
        "| PyTorch eager forward, batch 1, p50 / p99 (around the 1-client phase) | {:.2} ms / {:.2} ms | 1.00 |",
        ms(py1.p50), ms(py1.p99)
    );
    println!("| PyTorch batch-1 p50 at the {} checkpoints | {} ms | |", cps.len(), cp_list(&|c| ms(c.py.p50)));
    println!(
        "| PyTorch eager forward, batch 64 (p50 / p99; before / after the 64-client phase) | {:.1} ms / {:.1} ms; {:.1} / {:.1} ms = {:.0} windows/s | {:.1} |",
        ms(py64.p50), ms(py64.p99), ms(py64_before.p50), ms(py64_after.p50), 64.0 / py64.p50.as_secs_f64(), r(py64.p50)
    );
    println!("| raw `LoadedModel::forecast` batch-1 p50 at the checkpoints | {} ms | |", cp_list(&|c| ms(pct(&c.raw, 0.5))));
    println!(
        "| raw `LoadedModel::forecast`, batch 1: best p50 / its p99; median paired ratio | {:.2} ms / {:.2} ms | {:.2} (paired: {}) |",
        ms(pct(&raw1, 0.5)), ms(pct(&raw1, 0.99)), raw_ratio,
        raw_ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "| raw `LoadedModel::forecast`, batch 64 (p50) | {:.1} ms (PyTorch {:.1} ms: {:.2}x) | {:.1} |",
        ms(pct(&raw64, 0.5)), ms(py64.p50), ms(pct(&raw64, 0.5)) / ms(py64.p50), r(pct(&raw64, 0.5))
    );
    println!(
        "| Predict, 1 client (p50 / p99, rate) | {:.2} ms / {:.2} ms, {:.0} req/s | {:.2} / {:.2} |",
        ms(one.p(0.5)), ms(one.p(0.99)), one.rate(), r(one.p(0.5)), r(one.p(0.99))
    );
    let kernel_limit = 64.0 / py64.p50.as_secs_f64();
    println!(
        "| Predict, 64 clients (p50 / p99, rate) | {:.1} ms / {:.1} ms, {:.0} req/s ({:.0} % of PyTorch's {:.0} windows/s at batch 64) | {:.1} / {:.1} |",
        ms(many.p(0.5)), ms(many.p(0.99)), many.rate(), 100.0 * many.rate() / kernel_limit, kernel_limit, r(many.p(0.5)), r(many.p(0.99))
    );
    println!("| Predict, 8 clients, no swap (p99) | {:.1} ms ({} requests) | {:.1} |", ms(normal.p(0.99)), normal.latencies.len(), r(normal.p(0.99)));
    println!(
        "| Predict, 8 clients, 2 hot swaps (p99) | {:.1} ms ({} requests, reloads_ok {}) | {:.1} |",
        ms(swapped.p(0.99)), swapped.latencies.len(), st.reloads_ok, r(swapped.p(0.99))
    );
    let mut batch_times: Vec<Duration> = batch_runs.iter().map(|(d, _)| *d).collect();
    batch_times.sort();
    let failed_batches = batch_runs.iter().filter(|(_, ok)| !ok).count();
    println!(
        "| Predict, 1 client alone, interleaved with the batch phases (p50 / p99) | {:.2} ms / {:.2} ms ({} requests) | {:.2} / {:.2} |",
        ms(alone.p(0.5)), ms(alone.p(0.99)), alone.latencies.len(), r(alone.p(0.5)), r(alone.p(0.99))
    );
    println!(
        "| Predict, 1 client during 1 000-item PredictBatch calls (p50 / p99) | {:.2} ms / {:.2} ms ({} requests; {} batches, median {:.2} s = {:.0} items/s) | {:.2} / {:.2} |",
        ms(during.p(0.5)), ms(during.p(0.99)), during.latencies.len(), batch_runs.len(),
        pct(&batch_times, 0.5).as_secs_f64(), 1000.0 / pct(&batch_times, 0.5).as_secs_f64(),
        r(during.p(0.5)), r(during.p(0.99))
    );
    println!(
        "| PyTorch at all {cores} cores: batch 1 p50 / p99; batch 64 p50 (best of before / after) | {:.2} ms / {:.2} ms; {:.1} ms = {:.0} windows/s, {:.2} ms CPU per window | |",
        ms(py_all1.p50), ms(py_all1.p99), ms(py_all64.p50), all_core_rate, 1e3 * py_all64.cpu_per_window
    );
    println!(
        "| Predict, 64 clients on one model: server cores busy / clients' cores; server CPU per answer | {server_cores:.2} / {client_cores:.2} cores; {:.2} ms CPU per answer ({:.0} % of the all-core PyTorch rate) | |",
        1e3 * server_cpu_per_answer, 100.0 * many.rate() / all_core_rate
    );
    println!(
        "| ListModels, 64 clients (the clients' and transport's ceiling) | {:.0} req/s, p50 {:.2} ms | |",
        trivial.rate(), ms(trivial.p(0.5))
    );
    println!(
        "| Predict, 64 clients over {MANY_MODELS} models (p50 / p99, rate; server / clients' cores) | {:.1} ms / {:.1} ms, {:.0} req/s; {server_cores16:.2} / {client_cores16:.2} cores (all-core PyTorch at batch {}: {:.1} ms = {:.0} windows/s) | |",
        ms(many16.p(0.5)), ms(many16.p(0.99)), many16.rate(), 64 / MANY_MODELS, ms(py_all4.p50),
        (64 / MANY_MODELS) as f64 / py_all4.p50.as_secs_f64()
    );
    let errors = many16.errors + trivial.errors + one.errors + many.errors + normal.errors + swapped.errors + during.errors + failed_batches;
    print_stages(&stages_before, &stages_after, &one);
    println!();
    goal("raw forecast p50 <= 1.1 x PyTorch batch 1 (median paired ratio)", raw_ratio, raw_ratio <= 1.1);
    let best = |d: Duration| ms(d) / ms(py_best1.p50);
    goal("p50(1 client) <= 1.5 x PyTorch batch 1 at its best thread count", best(one.p(0.5)), best(one.p(0.5)) <= 1.5);
    goal("p99(1 client) <= 3 x PyTorch batch-1 p50 at its best thread count", best(one.p(0.99)), best(one.p(0.99)) <= 3.0);
    let share = many.rate() / kernel_limit;
    println!("(for comparison with earlier runs: rate(64 clients) / the service-thread PyTorch batch-64 rate = {share:.2})");
    let share_all = many.rate() / all_core_rate;
    goal("rate(64 clients) >= 0.7 x the all-core PyTorch batch-64 rate", share_all, share_all >= 0.7);
    goal("server cores busy with 64 clients >= 1.7 (as a multiple of 1.7)", server_cores / 1.7, server_cores >= 1.7);
    let spread_ratio = many16.rate() / many.rate();
    goal("rate(64 clients over 16 models) >= rate(64 clients on one model)", spread_ratio, spread_ratio >= 1.0);
    let swap = ms(swapped.p(0.99)) / ms(normal.p(0.99));
    goal("p99(swap) <= 2 x p99(normal)", swap, swap <= 2.0);
    let fair = ms(during.p(0.99)) / ms(alone.p(0.99));
    goal("p99(1 client during 1 000-item batches) <= 2 x p99(1 client alone, interleaved)", fair, fair <= 2.0);
    println!("failed requests: {errors}");
    Ok(())
}
