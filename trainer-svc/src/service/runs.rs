//! Handlers of the run RPCs: Train, IncrementalTrain, RunTriggeredTraining, TrainAll,
//! AttachRun, CancelRun, GetTrainingRuns. Each validates, calls the core, converts.
use common::pb;
use common::Error;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Status};

use super::{peer, required, BoxStream, TrainerService};
use crate::convert;
use crate::core::{attach, train_all, Core, RunSpec, Work};
use crate::requests::{BacktestJob, IncrementalJob, TrainAllJob, TrainJob, TriggeredJob};

/// Buffered events per response stream; a slower client applies back-pressure to its run.
const STREAM_BUFFER: usize = 64;

/// Spawns `job` with a bounded channel whose receiver becomes the response stream; an error
/// the job returns is sent as the stream's last item (a job cancelled by shutdown ends with
/// UNAVAILABLE). A dropped stream (client cancel or
/// disconnect) cancels the job's token; the stream ends when the job does.
fn spawn_stream<T, F, Fut>(core: &Core, job: F) -> BoxStream<T>
where
    T: Send + 'static,
    F: FnOnce(mpsc::Sender<Result<T, Status>>, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    let token = core.shutdown.child_token();
    let (watch_tx, watch_token) = (tx.clone(), token.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = watch_tx.closed() => watch_token.cancel(),
            _ = watch_token.cancelled() => {}
        }
    });
    let fut = job(tx.clone(), token.clone());
    let shutdown = core.shutdown.clone();
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            let status = match e {
                // Cut by SIGTERM: UNAVAILABLE is what client retry policies retry.
                Error::Cancelled(msg) if shutdown.is_cancelled() => Status::unavailable(format!(
                    "trainer-svc is shutting down ({msg}); retry, another replica will serve it"
                )),
                e => e.into(),
            };
            let _ = tx.send(Err(status)).await;
        }
        drop(tx);
        // Ends the watcher (and with it the last sender): the stream completes.
        token.cancel();
    });
    Box::pin(ReceiverStream::new(rx))
}

/// The stream of runs `specs`, one after the other, stopping at the first error.
fn stream_runs(core: &std::sync::Arc<Core>, specs: Vec<RunSpec>) -> BoxStream<pb::TrainEvent> {
    let core2 = core.clone();
    spawn_stream(core, move |tx, token| async move {
        for spec in specs {
            core2.run(spec, Some(tx.clone()), token.child_token()).await.result?;
        }
        Ok(())
    })
}

/// The Backtest stream of `job`'s run: the run's events converted to `BacktestEvent`s (kinds a
/// backtest never emits are left out), through the same [`spawn_stream`] as Train, so a
/// dropped stream cancels the run and a shutdown ends it UNAVAILABLE. `trainer-svc backtest`
/// reads the same stream.
pub fn backtest_stream(core: &std::sync::Arc<Core>, job: BacktestJob, requested_by: &str) -> BoxStream<pb::BacktestEvent> {
    let core2 = core.clone();
    let spec = job.run_spec(requested_by);
    spawn_stream(core, move |tx, token| async move {
        let (events, mut rx) = mpsc::channel(STREAM_BUFFER);
        let forward = async {
            while let Some(item) = rx.recv().await {
                let item = match item {
                    Ok(ev) => match convert::to_backtest_event(ev) {
                        Some(ev) => Ok(ev),
                        None => continue,
                    },
                    Err(status) => Err(status),
                };
                if tx.send(item).await.is_err() {
                    break;
                }
            }
        };
        let (run, ()) = tokio::join!(core2.run(spec, Some(events), token), forward);
        run.result.map(|_| ())
    })
}

impl TrainerService {
    pub(super) async fn backtest_impl(
        &self,
        req: Request<pb::BacktestRequest>,
    ) -> Result<BoxStream<pb::BacktestEvent>, Status> {
        self.auth.check("Backtest", req.metadata())?;
        let by = peer(&req);
        let job = BacktestJob::try_from(req.into_inner())?;
        if job.inline_bars.is_none() {
            self.core.ensure_symbol(&job.symbol).await?;
        }
        Ok(backtest_stream(&self.core, job, &by))
    }

    pub(super) async fn train_impl(
        &self,
        req: Request<pb::TrainRequest>,
    ) -> Result<BoxStream<pb::TrainEvent>, Status> {
        self.auth.check("Train", req.metadata())?;
        let by = peer(&req);
        let job = TrainJob::try_from(req.into_inner())?;
        if job.inline_bars.is_none() {
            self.core.ensure_symbol(&job.symbol).await?;
        }
        let specs = job
            .years
            .iter()
            .map(|&years| RunSpec::train(&job, years, "train", &by))
            .collect();
        Ok(stream_runs(&self.core, specs))
    }

    pub(super) async fn incremental_impl(
        &self,
        req: Request<pb::IncrementalTrainRequest>,
    ) -> Result<BoxStream<pb::TrainEvent>, Status> {
        self.auth.check("IncrementalTrain", req.metadata())?;
        let by = peer(&req);
        let job = IncrementalJob::try_from(req.into_inner())?;
        if job.inline_bars.is_none() {
            self.core.ensure_symbol(&job.symbol).await?;
        }
        self.core.ensure_current(&job.symbol, job.years).await?;
        let spec = RunSpec {
            symbol: job.symbol.clone(),
            years: job.years,
            mode: "incremental".into(),
            requested_by: by,
            lease_timeout: job.lease_timeout,
            inline_bars: job.inline_bars,
            work: Work::Incremental {
                config: job.config,
                months: job.months,
            },
        };
        Ok(stream_runs(&self.core, vec![spec]))
    }

    pub(super) async fn triggered_impl(
        &self,
        req: Request<pb::RunTriggeredTrainingRequest>,
    ) -> Result<BoxStream<pb::TrainEvent>, Status> {
        self.auth.check("RunTriggeredTraining", req.metadata())?;
        let by = peer(&req);
        let job = TriggeredJob::try_from(req.into_inner())?;
        self.core.ensure_symbol(&job.symbol).await?;
        let spec = crate::triggered::plan(&self.core, &job, &by)
            .await?
            .ok_or_else(|| {
                Error::FailedPrecondition(format!(
                    "no trigger fires for {} on {} (not a Friday, month or quarter end, and no \
                 performance decay); pass trigger_type to force one",
                    job.symbol, job.as_of
                ))
            })?;
        Ok(stream_runs(&self.core, vec![spec]))
    }

    pub(super) async fn train_all_impl(
        &self,
        req: Request<pb::TrainAllRequest>,
    ) -> Result<BoxStream<pb::TrainAllEvent>, Status> {
        self.auth.check("TrainAll", req.metadata())?;
        let by = peer(&req);
        let job = TrainAllJob::try_from(req.into_inner())?;
        let symbols = train_all::symbols(&self.core, &job).await?;
        let core = self.core.clone();
        Ok(spawn_stream(&self.core, move |tx, token| async move {
            train_all::run(core, job, symbols, by, tx, token).await;
            Ok(())
        }))
    }

    pub(super) async fn attach_impl(
        &self,
        req: Request<pb::AttachRunRequest>,
    ) -> Result<BoxStream<pb::TrainEvent>, Status> {
        let pb::AttachRunRequest { run_id } = req.into_inner();
        let run_id = run_id.trim().to_string();
        if run_id.is_empty() {
            return Err(Error::invalid("run_id is required").into());
        }
        let attachment = attach::attach(&self.core, &run_id).await?;
        Ok(spawn_stream(&self.core, move |tx, token| attachment.stream(tx, token)))
    }

    pub(super) async fn cancel_run_impl(
        &self,
        req: Request<pb::CancelRunRequest>,
    ) -> Result<pb::CancelRunResponse, Status> {
        self.auth.check("CancelRun", req.metadata())?;
        let pb::CancelRunRequest { run_id } = req.into_inner();
        let id = required("run_id", &run_id)?;
        let status = self.core.cancel_run(&id).await?;
        Ok(pb::CancelRunResponse { run_id: id, status })
    }

    pub(super) async fn training_runs_impl(
        &self,
        req: Request<pb::GetTrainingRunsRequest>,
    ) -> Result<pb::GetTrainingRunsResponse, Error> {
        let pb::GetTrainingRunsRequest {
            symbol,
            limit,
            run_id,
        } = req.into_inner();
        let symbol = if symbol.trim().is_empty() {
            None
        } else {
            Some(common::config::validate_symbol(&symbol)?)
        };
        let run_id = (!run_id.trim().is_empty()).then(|| run_id.trim().to_string());
        let limit = limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid(format!(
                "limit must be between 1 and 1000, got {limit}"
            )));
        }
        let runs = self
            .core
            .registry
            .runs(symbol.as_deref(), run_id.as_deref(), limit)
            .await?;
        if let (Some(id), true) = (&run_id, runs.is_empty()) {
            return Err(Error::not_found(format!(
                "training run {} not found",
                common::text::clip(id)
            )));
        }
        let mut out = Vec::with_capacity(runs.len());
        for run in &runs {
            let plots = self.core.registry.plot_names(&run.run_id).await?;
            let plots = plots
                .into_iter()
                .map(|(name, size)| pb::PlotRef {
                    run_id: run.run_id.clone(),
                    name,
                    size_bytes: size,
                })
                .collect();
            out.push(convert::run_to_pb(run, plots));
        }
        Ok(pb::GetTrainingRunsResponse { runs: out })
    }
}
