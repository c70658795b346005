//! One model, two OS threads: the model worker that owns a (non-`Sync`) tch model and runs
//! batched forward passes for the requests that reach it through a channel.
//!
//! The pattern of text-embeddings-inference's backend thread: async request handlers send a
//! [`Job`] down a channel and await a oneshot reply; the worker thread takes every job that is
//! already queued (up to `max_batch`) and runs them as **one** forward pass. While a batch runs,
//! new requests queue up and form the next batch, so batching costs no latency when the service
//! is idle. Under load (the previous batch held more than one job) the worker additionally waits
//! up to `max_wait` for stragglers before running a partial batch.
//!
//! Each model has two lanes ([`Lane`]), with threads that each hold their own handle on the same
//! weights ([`BatchForward::replica`]; the parameters are shared, not copied): the
//! **interactive** lane serves single Predicts and small batches first come first served; the
//! **bulk** lane serves the items of large PredictBatch calls, round-robin between calls
//! ([`crate::fair::FairQueue`]). A forward pass cannot be interrupted, so a 1 000-item batch on
//! the interactive lane would make every other caller wait for its ~16 full forward passes; on
//! its own lane it only shares the CPU.
//!
//! The interactive lane has [`BatchConfig::forward_threads`] threads (one per core of the pod by
//! default) draining one queue: a thread takes the queue, gathers a batch, lets the queue go and
//! runs its forward pass, so while one thread computes, the next one is already gathering. A hot
//! model is thereby served by every core, and an idle one costs only blocked threads.
//!
//! Dropping every [`ModelWorker`] clone closes the channels; the threads finish the jobs already
//! queued and exit, releasing the model. Requests that hold an `Arc` of an old worker therefore
//! complete on the old model during a hot swap.
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::features::{N_FEATURES, SEQ_LEN};
use common::model::{Forecast, LoadedModel};
use common::{Error, Result};
use tokio::sync::oneshot;

use crate::fair::FairQueue;

/// Something that forecasts a batch of raw windows (`n × 60 × 21`, row-major). Implemented by
/// [`LoadedModel`]; the trait keeps the batching machinery independent of tch.
pub trait BatchForward: Send + 'static {
    /// Forecasts `n` windows laid out back to back in `windows`.
    fn forward_batch(&self, windows: &[f32], n: usize) -> Result<Vec<Forecast>>;
    /// A second handle on the same model for another thread (sharing the weights).
    fn replica(&self) -> Result<Self>
    where
        Self: Sized;
}

impl BatchForward for LoadedModel {
    fn forward_batch(&self, windows: &[f32], n: usize) -> Result<Vec<Forecast>> {
        self.forecast(windows, n)
    }
    fn replica(&self) -> Result<Self> {
        LoadedModel::replica(self)
    }
}

/// Which of a model's queues a forecast waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Single Predicts and small batches: the interactive thread, first come first served.
    Interactive,
    /// The items of one large PredictBatch call (an id from [`Lane::new_bulk`]): the bulk
    /// thread, round-robin between calls.
    Bulk(u64),
}

impl Lane {
    /// A bulk lane for a new caller (ids are unique within the process).
    pub fn new_bulk() -> Lane {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Lane::Bulk(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// `interactive` | `bulk` (metric label).
    pub fn label(&self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Bulk(_) => "bulk",
        }
    }
}

/// What a worker reports about each forward pass (metrics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchInfo {
    /// `interactive` | `bulk`.
    pub lane: &'static str,
    /// Which of the lane's threads ran the pass (0 on the bulk lane).
    pub thread: usize,
    /// Windows in the forward pass.
    pub size: usize,
    /// How long the oldest of them waited in the queue before the pass started.
    pub oldest_wait: Duration,
}

/// How a worker forms batches and runs libtorch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchConfig {
    /// Largest number of windows in one forward pass (>= 1).
    pub max_batch: usize,
    /// How long a worker under load waits for more requests before running a partial batch.
    pub max_wait: Duration,
    /// libtorch intra-op threads of each lane's thread; 0 keeps libtorch's default.
    pub torch_threads: usize,
    /// Threads of the interactive lane (>= 1), each running forward passes on its own replica.
    pub forward_threads: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { max_batch: 64, max_wait: Duration::from_millis(2), torch_threads: 1, forward_threads: 1 }
    }
}

/// The interactive lane's thread count when none is configured: the CPUs this process may use.
/// `std::thread::available_parallelism` honours the cgroup CPU quota (a Kubernetes CPU limit)
/// and the affinity mask, so a pod limited to 2 CPUs on a 64-core node gets 2.
pub fn default_forward_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// A forecast and the size of the forward pass that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchedForecast {
    /// The forecast of this request's window.
    pub forecast: Forecast,
    /// Windows in the forward pass this request was part of.
    pub batch_size: usize,
    /// How long this request's window waited in its lane's queue before its pass started.
    pub queued: Duration,
    /// Wall time of that forward pass (input assembly included).
    pub forward: Duration,
}

struct Job {
    window: Vec<f32>,
    reply: oneshot::Sender<Result<BatchedForecast>>,
    /// Bulk caller id (0 on the interactive lane).
    source: u64,
    queued_at: Instant,
}

/// Handle on a model's worker threads. Cheap to clone; the threads live until every clone is
/// dropped.
#[derive(Clone)]
pub struct ModelWorker {
    interactive: mpsc::Sender<Job>,
    bulk: mpsc::Sender<Job>,
    name: Arc<str>,
    alive: Arc<AtomicBool>,
}

/// Clears the worker's `alive` flag when its thread ends, normally or by a panic.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for ModelWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelWorker").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ModelWorker {
    /// Starts the interactive lane's threads (named after `name`; the first owns `model`, the
    /// others replicas of it) and the bulk thread that owns another replica. `on_batch` is called
    /// for every forward pass (metrics).
    pub fn spawn<M: BatchForward>(
        name: &str,
        model: M,
        cfg: BatchConfig,
        on_batch: impl Fn(BatchInfo) + Send + Sync + 'static,
    ) -> Result<ModelWorker> {
        let bulk_model = model.replica()?;
        let threads = cfg.forward_threads.max(1);
        let mut models = Vec::with_capacity(threads);
        for _ in 1..threads {
            models.push(model.replica()?);
        }
        models.insert(0, model);
        let cfg = BatchConfig { max_batch: cfg.max_batch.max(1), forward_threads: threads, ..cfg };
        let on_batch = Arc::new(on_batch);
        let alive = Arc::new(AtomicBool::new(true));
        let (interactive, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for (thread, model) in models.into_iter().enumerate() {
            let (rx, observe) = (rx.clone(), on_batch.clone());
            let guard = AliveGuard(alive.clone());
            let prefix = if threads == 1 { "mdl".to_string() } else { format!("mdl{thread}") };
            spawn_lane(thread_name(&prefix, name), cfg, move || {
                let _guard = guard;
                if thread > 0 {
                    // The first pass allocates; the cache warms thread 0 through the queue.
                    let _ = forward_guarded(&model, &[0.0; SEQ_LEN * N_FEATURES], 1);
                }
                run_interactive(&model, thread, &rx, cfg, &*observe)
            })?;
        }
        let (bulk, rx) = mpsc::channel::<Job>();
        let guard = AliveGuard(alive.clone());
        spawn_lane(thread_name("blk", name), cfg, move || {
            let _guard = guard;
            run_bulk(&bulk_model, &rx, cfg, &*on_batch)
        })?;
        Ok(ModelWorker { interactive, bulk, name: name.into(), alive })
    }

    /// A worker whose threads have already ended (tests of what holds a dead worker).
    #[doc(hidden)]
    pub fn dead_for_test(name: &str) -> ModelWorker {
        let (interactive, _rx) = mpsc::channel::<Job>();
        let (bulk, _rx) = mpsc::channel::<Job>();
        ModelWorker { interactive, bulk, name: name.into(), alive: Arc::new(AtomicBool::new(false)) }
    }

    /// Whether both lane threads are still running (false once either ended or panicked; the
    /// cache then drops the model instead of serving errors from it).
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// The name the worker was started with (also its threads' names, truncated).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Forecasts one raw 60×21 window on the interactive lane.
    pub async fn forecast(&self, window: Vec<f32>) -> Result<BatchedForecast> {
        self.forecast_in(window, Lane::Interactive).await
    }

    /// Forecasts one raw 60×21 window on `lane`, batched with whatever else reaches that lane
    /// together.
    pub async fn forecast_in(&self, window: Vec<f32>, lane: Lane) -> Result<BatchedForecast> {
        let expected = SEQ_LEN * N_FEATURES;
        if window.len() != expected {
            return Err(Error::invalid(format!(
                "a forecast window has {expected} values ({SEQ_LEN} days × {N_FEATURES} \
                 features), got {}",
                window.len()
            )));
        }
        let (reply, rx) = oneshot::channel();
        let (tx, source) = match lane {
            Lane::Interactive => (&self.interactive, 0),
            Lane::Bulk(id) => (&self.bulk, id),
        };
        tx.send(Job { window, reply, source, queued_at: Instant::now() }).map_err(|_| {
            Error::Unavailable(format!("model worker {} has stopped; retry the request", self.name))
        })?;
        rx.await.map_err(|_| {
            Error::internal(format!("model worker {} dropped a request without answering", self.name))
        })?
    }
}

/// Starts one lane's thread with its libtorch thread setting.
fn spawn_lane(name: String, cfg: BatchConfig, run: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            if cfg.torch_threads > 0 {
                // libtorch's intra-op thread count is per calling thread with OpenMP.
                tch::set_num_threads(cfg.torch_threads as i32);
            }
            run();
        })
        .map(|_| ())
        .map_err(|e| Error::internal(format!("cannot start model worker thread: {e}")))
}

/// Linux limits thread names to 15 bytes; keep the most telling prefix.
fn thread_name(prefix: &str, name: &str) -> String {
    let mut s: String = format!("{prefix}-{name}").chars().filter(|c| c.is_ascii()).collect();
    s.truncate(15);
    s
}

/// Runs `jobs` as one forward pass, reporting it as a pass of `lane`.
fn run_lane_batch<M: BatchForward>(
    model: &M,
    lane: &'static str,
    jobs: Vec<Job>,
    on_batch: &dyn Fn(BatchInfo),
    thread: usize,
) {
    let oldest_wait = jobs.iter().map(|j| j.queued_at.elapsed()).max().unwrap_or_default();
    run_batch(model, jobs, &|size| on_batch(BatchInfo { lane, thread, size, oldest_wait }));
}

/// One thread of the interactive lane: FIFO, adaptive batching (an idle model never waits).
/// The thread holds the shared queue only while it gathers a batch, and runs the forward pass
/// after letting it go, so the lane's other threads gather and compute meanwhile.
fn run_interactive<M: BatchForward>(
    model: &M,
    thread: usize,
    rx: &Mutex<mpsc::Receiver<Job>>,
    cfg: BatchConfig,
    on_batch: &dyn Fn(BatchInfo),
) {
    let mut previous_batch = 0usize;
    loop {
        let (jobs, disconnected) = {
            // A panic cannot happen while the queue is held (only channel calls run then), but a
            // poisoned lock must not stop the lane either.
            let rx = rx.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match rx.recv() {
                Ok(first) => gather(&rx, first, previous_batch, cfg),
                // Every sender is gone and the queue is drained.
                Err(_) => break,
            }
        };
        previous_batch = jobs.len();
        run_lane_batch(model, "interactive", jobs, on_batch, thread);
        if disconnected {
            break;
        }
    }
}

/// Gathers a batch behind `first`: everything already queued, up to `max_batch`; under load
/// (the thread's previous batch had more than one job) it also waits up to `max_wait` for
/// stragglers. Returns the batch and whether the queue's senders are all gone.
fn gather(rx: &mpsc::Receiver<Job>, first: Job, previous_batch: usize, cfg: BatchConfig) -> (Vec<Job>, bool) {
    let mut jobs = vec![first];
    let deadline = Instant::now() + cfg.max_wait;
    while jobs.len() < cfg.max_batch {
        match rx.try_recv() {
            Ok(job) => {
                jobs.push(job);
                continue;
            }
            Err(TryRecvError::Disconnected) => return (jobs, true),
            Err(TryRecvError::Empty) => {}
        }
        // Idle service (last batch was a single request): run now, never add latency.
        if previous_batch <= 1 && jobs.len() == 1 {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(job) => jobs.push(job),
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => return (jobs, true),
        }
    }
    (jobs, false)
}

/// The bulk lane: every queued job joins its caller's queue; passes of up to `max_batch`
/// windows are taken round-robin across callers, after waiting up to `max_wait` to fill one.
fn run_bulk<M: BatchForward>(
    model: &M,
    rx: &mpsc::Receiver<Job>,
    cfg: BatchConfig,
    on_batch: &dyn Fn(BatchInfo),
) {
    let mut queue = FairQueue::default();
    let mut open = true;
    loop {
        if queue.is_empty() {
            if !open {
                return;
            }
            match rx.recv() {
                Ok(job) => queue.push(job.source, job),
                Err(_) => return,
            }
        }
        let deadline = Instant::now() + cfg.max_wait;
        while open {
            // Everything already queued joins the rotation (a later caller gets its turn now).
            match rx.try_recv() {
                Ok(job) => {
                    queue.push(job.source, job);
                    continue;
                }
                Err(TryRecvError::Disconnected) => open = false,
                Err(TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if queue.len() >= cfg.max_batch || now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(job) => queue.push(job.source, job),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        run_lane_batch(model, "bulk", queue.take(cfg.max_batch), on_batch, 0);
    }
}

fn run_batch<M: BatchForward>(model: &M, jobs: Vec<Job>, on_batch: &dyn Fn(usize)) {
    // Callers that went away (cancelled RPCs) need no forward pass.
    let jobs: Vec<Job> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
    if jobs.is_empty() {
        return;
    }
    let n = jobs.len();
    on_batch(n);
    let started = Instant::now();
    let mut input = Vec::with_capacity(n * SEQ_LEN * N_FEATURES);
    for j in &jobs {
        input.extend_from_slice(&j.window);
    }
    let result = forward_guarded(model, &input, n);
    let forward = started.elapsed();
    match result {
        Ok(out) if out.len() == n => {
            for (job, forecast) in jobs.into_iter().zip(out) {
                let queued = started.saturating_duration_since(job.queued_at);
                let _ = job.reply.send(Ok(BatchedForecast { forecast, batch_size: n, queued, forward }));
            }
        }
        Ok(out) => {
            let msg = format!("model returned {} forecasts for {n} windows", out.len());
            for job in jobs {
                let _ = job.reply.send(Err(Error::internal(&msg)));
            }
        }
        Err(e) => {
            // One bad window (non-finite values) must not fail its neighbours: retry one by one.
            if n > 1 {
                for job in jobs {
                    let alone = Instant::now();
                    let r = forward_guarded(model, &job.window, 1).and_then(|mut v| {
                        v.pop().ok_or_else(|| Error::internal("model returned no forecast"))
                    });
                    let (queued, forward) = (started.saturating_duration_since(job.queued_at), alone.elapsed());
                    let _ = job.reply.send(r.map(|forecast| BatchedForecast { forecast, batch_size: 1, queued, forward }));
                }
            } else if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
    }
}

/// One forward pass with a panic turned into an `Internal` error, so a panicking model (in the
/// batch or in the one-by-one retry) fails its requests instead of killing the worker thread.
fn forward_guarded<M: BatchForward>(model: &M, windows: &[f32], n: usize) -> Result<Vec<Forecast>> {
    std::panic::catch_unwind(AssertUnwindSafe(|| model.forward_batch(windows, n))).unwrap_or_else(
        |panic| {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(Error::internal(format!("model forward pass panicked: {msg}")))
        },
    )
}

/// `common::Error` is not `Clone`; rebuild the same variant with the same message.
pub(crate) fn clone_error(e: &Error) -> Error {
    match e {
        Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
        Error::NotFound(m) => Error::NotFound(m.clone()),
        Error::InsufficientData { need, got } => Error::InsufficientData { need: *need, got: *got },
        Error::FailedPrecondition(m) => Error::FailedPrecondition(m.clone()),
        Error::LeaseTimeout(m) => Error::LeaseTimeout(m.clone()),
        Error::Aborted(m) => Error::Aborted(m.clone()),
        Error::Unavailable(m) => Error::Unavailable(m.clone()),
        Error::StorageFull(m) => Error::StorageFull(m.clone()),
        Error::Corrupt(m) => Error::Corrupt(m.clone()),
        Error::Cancelled(m) => Error::Cancelled(m.clone()),
        Error::Unauthenticated(m) => Error::Unauthenticated(m.clone()),
        Error::Internal(m) => Error::Internal(m.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Forecasts the window's first value as `prob_up`; records the batch sizes it saw.
    struct Echo {
        sizes: Arc<Mutex<Vec<usize>>>,
        delay: Duration,
    }

    impl BatchForward for Echo {
        fn forward_batch(&self, windows: &[f32], n: usize) -> Result<Vec<Forecast>> {
            self.sizes.lock().unwrap().push(n);
            std::thread::sleep(self.delay);
            let w = SEQ_LEN * N_FEATURES;
            (0..n)
                .map(|i| {
                    let v = windows[i * w];
                    if v.is_nan() {
                        return Err(Error::invalid("window is not finite"));
                    }
                    Ok(Forecast { prob_up: f64::from(v), magnitudes: [0.0; 5] })
                })
                .collect()
        }
        fn replica(&self) -> Result<Self> {
            Ok(Echo { sizes: self.sizes.clone(), delay: self.delay })
        }
    }

    fn window(v: f32) -> Vec<f32> {
        vec![v; SEQ_LEN * N_FEATURES]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_forward_passes_and_get_their_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let batches = Arc::new(AtomicUsize::new(0));
        let b = batches.clone();
        let echo = Echo { sizes: sizes.clone(), delay: Duration::from_millis(20) };
        let cfg = BatchConfig { max_batch: 8, max_wait: Duration::from_millis(5), torch_threads: 0, forward_threads: 1 };
        let w = ModelWorker::spawn("echo", echo, cfg, move |_| {
            b.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        let futs: Vec<_> = (0..32).map(|i| {
            let w = w.clone();
            tokio::spawn(async move { (i, w.forecast(window(i as f32)).await.unwrap()) })
        }).collect();
        for f in futs {
            let (i, out) = f.await.unwrap();
            assert_eq!(out.forecast.prob_up, i as f64, "request {i} got someone else's answer");
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 32);
        assert!(sizes.iter().all(|&s| s <= 8), "max_batch exceeded: {sizes:?}");
        assert!(sizes.iter().any(|&s| s > 1), "no batching happened: {sizes:?}");
        assert_eq!(batches.load(Ordering::SeqCst), sizes.len());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_model_is_served_by_several_threads_of_its_lane() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let threads = Arc::new(Mutex::new(std::collections::BTreeMap::<usize, usize>::new()));
        let t = threads.clone();
        // Each pass sleeps 50 ms: while one thread is in its pass, the queue is free for another.
        let echo = Echo { sizes, delay: Duration::from_millis(50) };
        let cfg = BatchConfig { max_batch: 4, max_wait: Duration::from_millis(1), torch_threads: 0, forward_threads: 3 };
        let w = ModelWorker::spawn("lanes", echo, cfg, move |b| {
            assert_eq!(b.lane, "interactive");
            *t.lock().unwrap().entry(b.thread).or_default() += b.size;
        })
        .unwrap();
        let futs: Vec<_> = (0..40)
            .map(|i| {
                let w = w.clone();
                tokio::spawn(async move { (i, w.forecast(window(i as f32)).await.unwrap()) })
            })
            .collect();
        for f in futs {
            let (i, out) = f.await.unwrap();
            assert_eq!(out.forecast.prob_up, i as f64, "request {i} got someone else's answer");
            assert!(out.batch_size <= 4);
        }
        let threads = threads.lock().unwrap().clone();
        assert_eq!(threads.values().sum::<usize>(), 40, "{threads:?}");
        assert!(threads.len() > 1, "one thread served everything: {threads:?}");
        assert!(threads.keys().all(|&t| t < 3), "{threads:?}");
        assert!(w.is_alive());
    }

    #[tokio::test]
    async fn an_idle_worker_runs_a_single_request_without_waiting() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let echo = Echo { sizes, delay: Duration::ZERO };
        // max_wait far above the bound: an answer well before it did not wait for a batch.
        let cfg = BatchConfig { max_batch: 64, max_wait: Duration::from_secs(120), torch_threads: 0, forward_threads: 1 };
        let w = ModelWorker::spawn("idle", echo, cfg, |_| {}).unwrap();
        let t = Instant::now();
        w.forecast(window(0.25)).await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(30), "waited for a batch: {:?}", t.elapsed());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_window_fails_alone() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let echo = Echo { sizes, delay: Duration::from_millis(10) };
        let w = ModelWorker::spawn("bad", echo, BatchConfig::default(), |_| {}).unwrap();
        let futs: Vec<_> = (0..6)
            .map(|i| {
                let w = w.clone();
                let v = if i == 3 { f32::NAN } else { i as f32 };
                tokio::spawn(async move { (i, w.forecast(window(v)).await) })
            })
            .collect();
        for f in futs {
            let (i, r) = f.await.unwrap();
            if i == 3 {
                assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
            } else {
                assert_eq!(r.unwrap().forecast.prob_up, i as f64);
            }
        }
    }

    /// Panics on every forward pass that holds a negative window, in a batch or alone; each
    /// pass takes 50 ms so requests sent meanwhile form one batch.
    struct PanicsOnNegative;

    impl BatchForward for PanicsOnNegative {
        fn forward_batch(&self, windows: &[f32], n: usize) -> Result<Vec<Forecast>> {
            std::thread::sleep(Duration::from_millis(50));
            let w = SEQ_LEN * N_FEATURES;
            if (0..n).any(|i| windows[i * w] < 0.0) {
                panic!("negative window");
            }
            Ok((0..n).map(|i| Forecast { prob_up: f64::from(windows[i * w]), magnitudes: [0.0; 5] }).collect())
        }
        fn replica(&self) -> Result<Self> {
            Ok(PanicsOnNegative)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_in_the_one_by_one_retry_fails_that_request_and_the_worker_lives_on() {
        let cfg = BatchConfig { max_batch: 8, max_wait: Duration::from_millis(20), torch_threads: 0, forward_threads: 1 };
        let w = ModelWorker::spawn("panics", PanicsOnNegative, cfg, |_| {}).unwrap();
        // A first request keeps the worker busy so the next four queue up as one batch, whose
        // pass panics; the one-by-one retry then panics on the negative window again.
        let first = {
            let w = w.clone();
            tokio::spawn(async move { w.forecast(window(0.05)).await })
        };
        tokio::time::sleep(Duration::from_millis(15)).await;
        let futs: Vec<_> = [0.1f32, 0.2, -1.0, 0.3]
            .into_iter()
            .map(|v| {
                let w = w.clone();
                tokio::spawn(async move { (v, w.forecast(window(v)).await) })
            })
            .collect();
        assert!(first.await.unwrap().is_ok());
        for f in futs {
            let (v, r) = f.await.unwrap();
            if v < 0.0 {
                let e = r.unwrap_err();
                assert!(e.to_string().contains("panicked"), "{e}");
            } else {
                let out = r.unwrap_or_else(|e| panic!("window {v} failed with its neighbour: {e}"));
                assert!((out.forecast.prob_up - f64::from(v)).abs() < 1e-6);
            }
        }
        assert!(w.forecast(window(-2.0)).await.is_err());
        assert!(w.is_alive(), "the worker thread died");
        assert_eq!(w.forecast(window(0.5)).await.unwrap().forecast.prob_up, 0.5);
    }

    #[tokio::test]
    async fn a_worker_whose_thread_ended_reports_it() {
        let w = ModelWorker::spawn("ends", PanicsOnNegative, BatchConfig::default(), |_| {}).unwrap();
        assert!(w.is_alive());
        let alive = w.alive.clone();
        drop(w);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "thread never ended");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[tokio::test]
    async fn wrong_window_size_is_invalid_argument() {
        let echo = Echo { sizes: Arc::default(), delay: Duration::ZERO };
        let w = ModelWorker::spawn("size", echo, BatchConfig::default(), |_| {}).unwrap();
        let err = w.forecast(vec![0.0; 10]).await.unwrap_err();
        assert!(err.to_string().contains("got 10"), "{err}");
    }

    /// Spawns `lane` forecasts of windows `tag.0..` and records `tag` in `done` as each answers.
    fn submit(
        w: &ModelWorker,
        lane: Lane,
        tag: &'static str,
        n: usize,
        done: &Arc<Mutex<Vec<&'static str>>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..n)
            .map(|i| {
                let (w, done) = (w.clone(), done.clone());
                tokio::spawn(async move {
                    let out = w.forecast_in(window(i as f32), lane).await.unwrap();
                    assert_eq!(out.forecast.prob_up, i as f64, "{tag} {i} got someone else's answer");
                    done.lock().unwrap().push(tag);
                })
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_bulk_call_neither_blocks_interactive_requests_nor_a_later_bulk_call() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let echo = Echo { sizes: sizes.clone(), delay: Duration::from_millis(20) };
        let cfg = BatchConfig { max_batch: 4, max_wait: Duration::from_millis(5), torch_threads: 0, forward_threads: 1 };
        let w = ModelWorker::spawn("fair", echo, cfg, |_| {}).unwrap();
        let done = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = submit(&w, Lane::new_bulk(), "A", 40, &done);
        // Once A's first pass runs, a single request and a small second bulk call arrive.
        while sizes.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tasks.extend(submit(&w, Lane::new_bulk(), "B", 4, &done));
        w.forecast(window(7.0)).await.unwrap();
        let a_done = done.lock().unwrap().iter().filter(|t| **t == "A").count();
        assert!(a_done < 20, "the interactive request waited for {a_done} of A's 40 windows");
        for t in tasks {
            t.await.unwrap();
        }
        let order = done.lock().unwrap().clone();
        let last_b = order.iter().rposition(|t| *t == "B").unwrap();
        let a_before_last_b = order[..last_b].iter().filter(|t| **t == "A").count();
        // Round-robin: B's 4 windows share passes with A's, so B is done after a few passes.
        assert!(a_before_last_b <= 16, "B finished only after {a_before_last_b} of A's windows: {order:?}");
        assert!(sizes.lock().unwrap().iter().all(|&s| s <= 4));
    }
}
