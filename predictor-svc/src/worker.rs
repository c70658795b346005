//! One model, one OS thread: the model worker that owns a (non-`Sync`) tch model and runs
//! batched forward passes for the requests that reach it through a channel.
//!
//! The pattern of text-embeddings-inference's backend thread: async request handlers send a
//! [`Job`] down a channel and await a oneshot reply; the worker thread takes every job that is
//! already queued (up to `max_batch`) and runs them as **one** forward pass. While a batch runs,
//! new requests queue up and form the next batch, so batching costs no latency when the service
//! is idle. Under load (the previous batch held more than one job) the worker additionally waits
//! up to `max_wait` for stragglers before running a partial batch.
//!
//! Dropping every [`ModelWorker`] clone closes the channel; the thread finishes the jobs already
//! queued and exits, releasing the model. Requests that hold an `Arc` of an old worker therefore
//! complete on the old model during a hot swap.
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::features::{N_FEATURES, SEQ_LEN};
use common::model::{Forecast, LoadedModel};
use common::{Error, Result};
use tokio::sync::oneshot;

/// Something that forecasts a batch of raw windows (`n × 60 × 21`, row-major). Implemented by
/// [`LoadedModel`]; the trait keeps the batching machinery independent of tch.
pub trait BatchForward: Send + 'static {
    /// Forecasts `n` windows laid out back to back in `windows`.
    fn forward_batch(&self, windows: &[f32], n: usize) -> Result<Vec<Forecast>>;
}

impl BatchForward for LoadedModel {
    fn forward_batch(&self, windows: &[f32], n: usize) -> Result<Vec<Forecast>> {
        self.forecast(windows, n)
    }
}

/// How a worker forms batches and runs libtorch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchConfig {
    /// Largest number of windows in one forward pass (>= 1).
    pub max_batch: usize,
    /// How long a worker under load waits for more requests before running a partial batch.
    pub max_wait: Duration,
    /// libtorch intra-op threads of the worker thread; 0 keeps libtorch's default.
    pub torch_threads: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { max_batch: 64, max_wait: Duration::from_millis(2), torch_threads: 0 }
    }
}

/// A forecast and the size of the forward pass that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchedForecast {
    /// The forecast of this request's window.
    pub forecast: Forecast,
    /// Windows in the forward pass this request was part of.
    pub batch_size: usize,
}

struct Job {
    window: Vec<f32>,
    reply: oneshot::Sender<Result<BatchedForecast>>,
}

/// Handle on a model worker thread. Cheap to clone; the thread lives until every clone is dropped.
#[derive(Clone)]
pub struct ModelWorker {
    tx: mpsc::Sender<Job>,
    name: Arc<str>,
}

impl std::fmt::Debug for ModelWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelWorker").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ModelWorker {
    /// Starts a thread named `name` that owns `model` and serves forecasts in batches.
    /// `on_batch` is called with the size of every forward pass (metrics).
    pub fn spawn<M: BatchForward>(
        name: &str,
        model: M,
        cfg: BatchConfig,
        on_batch: impl Fn(usize) + Send + 'static,
    ) -> Result<ModelWorker> {
        let (tx, rx) = mpsc::channel::<Job>();
        let cfg = BatchConfig { max_batch: cfg.max_batch.max(1), ..cfg };
        std::thread::Builder::new()
            .name(thread_name(name))
            .spawn(move || {
                if cfg.torch_threads > 0 {
                    // libtorch's intra-op thread count is per calling thread with OpenMP.
                    tch::set_num_threads(cfg.torch_threads as i32);
                }
                run_worker(&model, &rx, cfg, &on_batch);
            })
            .map_err(|e| Error::internal(format!("cannot start model worker thread: {e}")))?;
        Ok(ModelWorker { tx, name: name.into() })
    }

    /// The name the worker was started with (also its thread name, truncated).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Forecasts one raw 60×21 window, batched with whatever else reaches the worker together.
    pub async fn forecast(&self, window: Vec<f32>) -> Result<BatchedForecast> {
        let expected = SEQ_LEN * N_FEATURES;
        if window.len() != expected {
            return Err(Error::invalid(format!(
                "a forecast window has {expected} values ({SEQ_LEN} days × {N_FEATURES} \
                 features), got {}",
                window.len()
            )));
        }
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { window, reply }).map_err(|_| {
            Error::Unavailable(format!("model worker {} has stopped; retry the request", self.name))
        })?;
        rx.await.map_err(|_| {
            Error::internal(format!("model worker {} dropped a request without answering", self.name))
        })?
    }
}

/// Linux limits thread names to 15 bytes; keep the most telling prefix.
fn thread_name(name: &str) -> String {
    let mut s: String = format!("mdl-{name}").chars().filter(|c| c.is_ascii()).collect();
    s.truncate(15);
    s
}

fn run_worker<M: BatchForward>(
    model: &M,
    rx: &mpsc::Receiver<Job>,
    cfg: BatchConfig,
    on_batch: &impl Fn(usize),
) {
    let mut previous_batch = 0usize;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let deadline = Instant::now() + cfg.max_wait;
        let mut disconnected = false;
        while jobs.len() < cfg.max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    jobs.push(job);
                    continue;
                }
                Err(TryRecvError::Disconnected) => {
                    disconnected = true;
                    break;
                }
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
                Err(RecvTimeoutError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            }
        }
        previous_batch = jobs.len();
        run_batch(model, jobs, on_batch);
        if disconnected {
            // Every sender is gone and the queue is drained.
            break;
        }
    }
}

fn run_batch<M: BatchForward>(model: &M, jobs: Vec<Job>, on_batch: &impl Fn(usize)) {
    // Callers that went away (cancelled RPCs) need no forward pass.
    let jobs: Vec<Job> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
    if jobs.is_empty() {
        return;
    }
    let n = jobs.len();
    on_batch(n);
    let mut input = Vec::with_capacity(n * SEQ_LEN * N_FEATURES);
    for j in &jobs {
        input.extend_from_slice(&j.window);
    }
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| model.forward_batch(&input, n)))
        .unwrap_or_else(|panic| {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(Error::internal(format!("model forward pass panicked: {msg}")))
        });
    match result {
        Ok(out) if out.len() == n => {
            for (job, forecast) in jobs.into_iter().zip(out) {
                let _ = job.reply.send(Ok(BatchedForecast { forecast, batch_size: n }));
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
                    let r = model.forward_batch(&job.window, 1).and_then(|mut v| {
                        v.pop().ok_or_else(|| Error::internal("model returned no forecast"))
                    });
                    let _ = job.reply.send(r.map(|forecast| BatchedForecast { forecast, batch_size: 1 }));
                }
            } else if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
    }
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
        Error::Corrupt(m) => Error::Corrupt(m.clone()),
        Error::Cancelled(m) => Error::Cancelled(m.clone()),
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
        let cfg = BatchConfig { max_batch: 8, max_wait: Duration::from_millis(5), torch_threads: 0 };
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

    #[tokio::test]
    async fn an_idle_worker_runs_a_single_request_without_waiting() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let echo = Echo { sizes, delay: Duration::ZERO };
        let cfg = BatchConfig { max_batch: 64, max_wait: Duration::from_secs(5), torch_threads: 0 };
        let w = ModelWorker::spawn("idle", echo, cfg, |_| {}).unwrap();
        let t = Instant::now();
        w.forecast(window(0.25)).await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(1), "waited for a batch: {:?}", t.elapsed());
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

    #[tokio::test]
    async fn wrong_window_size_is_invalid_argument() {
        let echo = Echo { sizes: Arc::default(), delay: Duration::ZERO };
        let w = ModelWorker::spawn("size", echo, BatchConfig::default(), |_| {}).unwrap();
        let err = w.forecast(vec![0.0; 10]).await.unwrap_err();
        assert!(err.to_string().contains("got 10"), "{err}");
    }
}
