//! The `lstm.v1.Trainer` gRPC service: thin handlers that check auth, convert the request,
//! call the core or the registry, and convert back. Errors become `Status` in one place
//! (`impl From<common::Error> for tonic::Status`).
use std::pin::Pin;
use std::sync::Arc;

use common::pb::{self, trainer_server::Trainer};
use common::triggers::{check_triggers, TriggerKind};
use common::Error;
use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::auth::Auth;
use crate::convert;
use crate::core::{Core, RunSpec, Work};
use crate::requests::{
    as_of_or_today, shard_symbols, IncrementalJob, IngestJob, TrainAllJob, TrainJob, TriggeredJob,
};

/// A boxed response stream.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Buffered events per response stream; a slower client applies back-pressure to its run.
const STREAM_BUFFER: usize = 64;

/// Implements `lstm.v1.Trainer` over a [`Core`].
#[derive(Debug, Clone)]
pub struct TrainerService {
    core: Arc<Core>,
    auth: Auth,
}

fn peer<T>(req: &Request<T>) -> String {
    req.remote_addr()
        .map(|a| format!("grpc:{a}"))
        .unwrap_or_else(|| "grpc".into())
}

/// Runs `job` with a bounded channel whose receiver becomes the response stream; a dropped
/// stream (client cancel / disconnect) cancels the job's token.
fn spawn_stream<T, F, Fut>(core: &Core, job: F) -> BoxStream<T>
where
    T: Send + 'static,
    F: FnOnce(mpsc::Sender<Result<T, Status>>, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
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
    let fut = job(tx, token.clone());
    tokio::spawn(async move {
        fut.await;
        // Ends the watcher (and with it the last sender): the stream completes.
        token.cancel();
    });
    Box::pin(ReceiverStream::new(rx))
}

impl TrainerService {
    /// A service over `core`, requiring `auth` on mutating RPCs.
    pub fn new(core: Arc<Core>, auth: Auth) -> TrainerService {
        TrainerService { core, auth }
    }

    fn observe<T>(&self, method: &str, r: Result<T, Status>) -> Result<T, Status> {
        self.core.metrics.rpc(method, &r);
        r
    }

    fn pipeline_spec(job: &TrainJob, years: u32, mode: &str, requested_by: &str) -> RunSpec {
        let mut config = job.pipeline.clone();
        config.symbol = job.symbol.clone();
        config.years = years;
        RunSpec {
            symbol: job.symbol.clone(),
            years,
            mode: mode.into(),
            requested_by: requested_by.into(),
            lease_timeout: job.lease_timeout,
            inline_bars: job.inline_bars.clone(),
            work: Work::Pipeline {
                config,
                range: job.range,
                keep_rejected: job.keep_rejected,
            },
        }
    }

    async fn train_impl(
        &self,
        req: Request<pb::TrainRequest>,
    ) -> Result<BoxStream<pb::TrainEvent>, Status> {
        self.auth.check("Train", req.metadata())?;
        let by = peer(&req);
        let job = TrainJob::try_from(req.into_inner())?;
        if job.inline_bars.is_none() {
            self.core.ensure_symbol(&job.symbol).await?;
        }
        let core = self.core.clone();
        Ok(spawn_stream(&self.core, move |tx, token| async move {
            for &years in &job.years {
                let spec = Self::pipeline_spec(&job, years, "train", &by);
                if let Err(e) = core.run(spec, Some(tx.clone()), token.child_token()).await {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            }
        }))
    }

    async fn incremental_impl(
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
        let core = self.core.clone();
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
        Ok(spawn_stream(&self.core, move |tx, token| async move {
            if let Err(e) = core.run(spec, Some(tx.clone()), token.child_token()).await {
                let _ = tx.send(Err(e.into())).await;
            }
        }))
    }

    async fn triggered_impl(
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
                Status::from(Error::FailedPrecondition(format!(
                    "no trigger fires for {} on {} (not a Friday, month or quarter end, and no \
                 performance decay); pass trigger_type to force one",
                    job.symbol, job.as_of
                )))
            })?;
        let core = self.core.clone();
        Ok(spawn_stream(&self.core, move |tx, token| async move {
            if let Err(e) = core.run(spec, Some(tx.clone()), token.child_token()).await {
                let _ = tx.send(Err(e.into())).await;
            }
        }))
    }

    async fn train_all_impl(
        &self,
        req: Request<pb::TrainAllRequest>,
    ) -> Result<BoxStream<pb::TrainAllEvent>, Status> {
        self.auth.check("TrainAll", req.metadata())?;
        let by = peer(&req);
        let job = TrainAllJob::try_from(req.into_inner())?;
        let universe = if job.symbols.is_empty() {
            self.core.registry.symbols().await.map_err(Status::from)?
        } else {
            job.symbols.clone()
        };
        let symbols = shard_symbols(universe, job.shard);
        let core = self.core.clone();
        Ok(spawn_stream(&self.core, move |tx, token| async move {
            let results = futures::stream::iter(symbols.into_iter().map(|symbol| {
                let (core, job, by, token) = (core.clone(), job.clone(), by.clone(), token.clone());
                async move {
                    let mut config = job.pipeline.clone();
                    config.symbol = symbol.clone();
                    let spec = RunSpec {
                        symbol: symbol.clone(),
                        years: job.years,
                        mode: "train_all".into(),
                        requested_by: by,
                        lease_timeout: None,
                        inline_bars: None,
                        work: Work::Pipeline {
                            config,
                            range: job.range,
                            keep_rejected: true,
                        },
                    };
                    let (run_id, outcome) = match core.ensure_symbol(&symbol).await {
                        Ok(()) => core.run_tracked(spec, None, token.child_token()).await,
                        Err(e) => (String::new(), Err(e)),
                    };
                    match outcome {
                        Ok(r) => pb::SymbolResult {
                            symbol,
                            ok: true,
                            version_id: r.version_id,
                            deployed: r.deployed,
                            error: String::new(),
                            run_id,
                        },
                        Err(e) => pb::SymbolResult {
                            symbol,
                            ok: false,
                            error: e.to_string(),
                            run_id,
                            ..Default::default()
                        },
                    }
                }
            }))
            .buffer_unordered(job.concurrency);
            futures::pin_mut!(results);
            let mut all = Vec::new();
            while let Some(r) = results.next().await {
                all.push(r.clone());
                let ev = pb::TrainAllEvent {
                    event: Some(pb::train_all_event::Event::Result(r)),
                };
                if tx.send(Ok(ev)).await.is_err() {
                    return; // the caller went away; the token cancels the remaining runs
                }
            }
            all.sort_by(|a, b| a.symbol.cmp(&b.symbol));
            let success = all.iter().filter(|r| r.ok).count() as u32;
            let summary = pb::TrainAllSummary {
                total: all.len() as u32,
                success_count: success,
                fail_count: all.len() as u32 - success,
                results: all,
            };
            let _ = tx
                .send(Ok(pb::TrainAllEvent {
                    event: Some(pb::train_all_event::Event::Summary(summary)),
                }))
                .await;
        }))
    }

    async fn attach_impl(
        &self,
        req: Request<pb::AttachRunRequest>,
    ) -> Result<BoxStream<pb::TrainEvent>, Status> {
        let pb::AttachRunRequest { run_id } = req.into_inner();
        let run_id = run_id.trim().to_string();
        if run_id.is_empty() {
            return Err(Error::invalid("run_id is required").into());
        }
        // Subscribe before replaying so no event falls between the two.
        let live = self.core.live.get(&run_id).map(|r| r.events.subscribe());
        if live.is_none()
            && self
                .core
                .registry
                .runs(None, Some(&run_id), 1)
                .await?
                .is_empty()
        {
            return Err(Error::not_found(format!(
                "training run {} not found; list runs with GetTrainingRuns",
                common::text::clip(&run_id)
            ))
            .into());
        }
        let registry = self.core.registry.clone();
        Ok(spawn_stream(&self.core, move |tx, token| async move {
            let mut last = 0u64;
            let replay = |after: u64| {
                let registry = registry.clone();
                let run_id = run_id.clone();
                async move {
                    registry
                        .run_events(&run_id, (after > 0).then_some(after))
                        .await
                }
            };
            let mut ended = false;
            match replay(0).await {
                Ok(events) => {
                    for (seq, json) in events {
                        match convert::event_from_json(&json) {
                            Ok(ev) => {
                                last = seq;
                                ended |= convert::is_terminal(&ev);
                                if tx.send(Ok(ev)).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(Err(e.into())).await;
                                return;
                            }
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            }
            let Some(mut live) = live else { return };
            while !ended {
                let next = tokio::select! {
                    r = live.recv() => r,
                    _ = token.cancelled() => return,
                };
                match next {
                    Ok(ev) if ev.seq > last => {
                        last = ev.seq;
                        ended = convert::is_terminal(&ev);
                        if tx.send(Ok(ev)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind: catch up from the stored events.
                        if let Ok(events) = replay(last).await {
                            for (seq, json) in events {
                                if let Ok(ev) = convert::event_from_json(&json) {
                                    last = seq;
                                    ended |= convert::is_terminal(&ev);
                                    if tx.send(Ok(ev)).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }))
    }
}

#[tonic::async_trait]
impl Trainer for TrainerService {
    type TrainStream = BoxStream<pb::TrainEvent>;
    type TrainAllStream = BoxStream<pb::TrainAllEvent>;
    type IncrementalTrainStream = BoxStream<pb::TrainEvent>;
    type RunTriggeredTrainingStream = BoxStream<pb::TrainEvent>;
    type AttachRunStream = BoxStream<pb::TrainEvent>;

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, all_years = req.get_ref().all_years))]
    async fn train(
        &self,
        req: Request<pb::TrainRequest>,
    ) -> Result<Response<Self::TrainStream>, Status> {
        let r = self.train_impl(req).await.map(Response::new);
        self.observe("Train", r)
    }

    #[instrument(skip_all, fields(symbols = req.get_ref().symbols.len()))]
    async fn train_all(
        &self,
        req: Request<pb::TrainAllRequest>,
    ) -> Result<Response<Self::TrainAllStream>, Status> {
        let r = self.train_all_impl(req).await.map(Response::new);
        self.observe("TrainAll", r)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol))]
    async fn incremental_train(
        &self,
        req: Request<pb::IncrementalTrainRequest>,
    ) -> Result<Response<Self::IncrementalTrainStream>, Status> {
        let r = self.incremental_impl(req).await.map(Response::new);
        self.observe("IncrementalTrain", r)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, as_of = %req.get_ref().as_of))]
    async fn check_triggers(
        &self,
        req: Request<pb::CheckTriggersRequest>,
    ) -> Result<Response<pb::CheckTriggersResponse>, Status> {
        let r = async {
            let pb::CheckTriggersRequest {
                symbol,
                as_of,
                years,
            } = req.into_inner();
            let symbol = common::config::validate_symbol(&symbol)?;
            let as_of = as_of_or_today(&as_of)?;
            let years = years
                .map(|y| common::config::validate_years(Some(y)))
                .transpose()?;
            self.core.ensure_symbol(&symbol).await?;
            let rep = check_triggers(
                &self.core.registry,
                &self.core.calendar,
                &symbol,
                as_of,
                years,
            )
            .await?;
            Ok::<_, Error>(pb::CheckTriggersResponse {
                weekly: rep.weekly,
                monthly: rep.monthly,
                quarterly: rep.quarterly,
                performance_decay: rep.performance_decay,
                performance_recent_avg: rep.recent_avg,
                performance_historical_avg: rep.historical_avg,
                selected: rep
                    .selected
                    .map(TriggerKind::as_str)
                    .unwrap_or_default()
                    .to_string(),
                as_of: rep.as_of.to_string(),
            })
        }
        .await
        .map(Response::new)
        .map_err(Status::from);
        self.observe("CheckTriggers", r)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, trigger = %req.get_ref().trigger_type))]
    async fn run_triggered_training(
        &self,
        req: Request<pb::RunTriggeredTrainingRequest>,
    ) -> Result<Response<Self::RunTriggeredTrainingStream>, Status> {
        let r = self.triggered_impl(req).await.map(Response::new);
        self.observe("RunTriggeredTraining", r)
    }

    #[instrument(skip_all)]
    async fn get_training_spec(
        &self,
        req: Request<pb::GetTrainingSpecRequest>,
    ) -> Result<Response<pb::GetTrainingSpecResponse>, Status> {
        let pb::GetTrainingSpecRequest {} = req.into_inner();
        let r = serde_json::to_string_pretty(&common::spec::training_spec())
            .map(|json| {
                Response::new(pb::GetTrainingSpecResponse {
                    json,
                    markdown: common::spec::training_spec_markdown(),
                })
            })
            .map_err(|e| Status::from(Error::from(e)));
        self.observe("GetTrainingSpec", r)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, bars = req.get_ref().bars.len(), csv_bytes = req.get_ref().csv.len()))]
    async fn ingest_bars(
        &self,
        req: Request<pb::IngestBarsRequest>,
    ) -> Result<Response<pb::IngestBarsResponse>, Status> {
        let r = async {
            self.auth.check("IngestBars", req.metadata())?;
            let job = IngestJob::try_from(req.into_inner())?;
            let stats = self.core.registry.upsert_bars(&job.symbol, &job.bars).await?;
            tracing::info!(symbol = %job.symbol, inserted = stats.inserted, updated = stats.updated, "bars ingested");
            Ok::<_, Status>(Response::new(pb::IngestBarsResponse {
                symbol: job.symbol,
                received: job.bars.len() as u32,
                inserted: stats.inserted as u32,
                updated: stats.updated as u32,
                first_date: job.bars.first().map(|b| b.date.to_string()).unwrap_or_default(),
                last_date: job.bars.last().map(|b| b.date.to_string()).unwrap_or_default(),
                total_bars: stats.total,
            }))
        }
        .await;
        self.observe("IngestBars", r)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol))]
    async fn list_versions(
        &self,
        req: Request<pb::ListVersionsRequest>,
    ) -> Result<Response<pb::ListVersionsResponse>, Status> {
        let r = async {
            let pb::ListVersionsRequest { symbol, years } = req.into_inner();
            let symbol = if symbol.trim().is_empty() {
                None
            } else {
                Some(common::config::validate_symbol(&symbol)?)
            };
            let years = years
                .map(|y| common::config::validate_years(Some(y)))
                .transpose()?;
            let versions = self
                .core
                .registry
                .list_versions(symbol.as_deref(), years)
                .await?;
            Ok::<_, Error>(Response::new(pb::ListVersionsResponse {
                versions: versions.iter().map(convert::version_to_pb).collect(),
            }))
        }
        .await
        .map_err(Status::from);
        self.observe("ListVersions", r)
    }

    #[instrument(skip_all, fields(version_id = %req.get_ref().version_id))]
    async fn get_version(
        &self,
        req: Request<pb::GetVersionRequest>,
    ) -> Result<Response<pb::GetVersionResponse>, Status> {
        let r = async {
            let pb::GetVersionRequest { version_id } = req.into_inner();
            let id = required("version_id", &version_id)?;
            let rec = self.core.registry.version(&id).await?;
            Ok::<_, Error>(Response::new(pb::GetVersionResponse {
                version: Some(convert::version_to_pb(&rec.info)),
                metadata_json: rec.metadata_json,
            }))
        }
        .await
        .map_err(Status::from);
        self.observe("GetVersion", r)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, version_id = %req.get_ref().version_id))]
    async fn set_current_version(
        &self,
        req: Request<pb::SetCurrentVersionRequest>,
    ) -> Result<Response<pb::SetCurrentVersionResponse>, Status> {
        let r = async {
            self.auth.check("SetCurrentVersion", req.metadata())?;
            let by = peer(&req);
            let pb::SetCurrentVersionRequest { symbol, years, version_id, reason } = req.into_inner();
            let id = required("version_id", &version_id)?;
            let info = self.core.registry.version_info(&id).await?;
            if !symbol.trim().is_empty() && symbol.trim() != info.symbol {
                return Err(Error::invalid(format!("version {id} belongs to {}, not {}", info.symbol, symbol.trim())).into());
            }
            if years != 0 && years != info.years {
                return Err(Error::invalid(format!("version {id} is a {}-year model, not {years}-year", info.years)).into());
            }
            let reason = if reason.trim().is_empty() { "set by SetCurrentVersion".to_string() } else { reason };
            let rec = self.core.registry.set_current(&info.symbol, info.years, &id, &by, &reason).await?;
            tracing::info!(symbol = %info.symbol, years = info.years, from = ?rec.from_version, to = %rec.to_version, "current version changed");
            Ok::<_, Status>(Response::new(pb::SetCurrentVersionResponse {
                previous_version_id: rec.from_version.unwrap_or_default(),
                current_version_id: rec.to_version,
            }))
        }
        .await;
        self.observe("SetCurrentVersion", r)
    }

    #[instrument(skip_all, fields(version_id = %req.get_ref().version_id))]
    async fn delete_version(
        &self,
        req: Request<pb::DeleteVersionRequest>,
    ) -> Result<Response<pb::DeleteVersionResponse>, Status> {
        let r = async {
            self.auth.check("DeleteVersion", req.metadata())?;
            let pb::DeleteVersionRequest { version_id } = req.into_inner();
            let id = required("version_id", &version_id)?;
            self.core.registry.delete_version(&id).await?;
            Ok::<_, Status>(Response::new(pb::DeleteVersionResponse { version_id: id }))
        }
        .await;
        self.observe("DeleteVersion", r)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, run_id = %req.get_ref().run_id))]
    async fn get_training_runs(
        &self,
        req: Request<pb::GetTrainingRunsRequest>,
    ) -> Result<Response<pb::GetTrainingRunsResponse>, Status> {
        let r = async {
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
            Ok(Response::new(pb::GetTrainingRunsResponse { runs: out }))
        }
        .await
        .map_err(Status::from);
        self.observe("GetTrainingRuns", r)
    }

    #[instrument(skip_all, fields(run_id = %req.get_ref().run_id))]
    async fn attach_run(
        &self,
        req: Request<pb::AttachRunRequest>,
    ) -> Result<Response<Self::AttachRunStream>, Status> {
        let r = self.attach_impl(req).await.map(Response::new);
        self.observe("AttachRun", r)
    }

    #[instrument(skip_all, fields(run_id = %req.get_ref().run_id))]
    async fn cancel_run(
        &self,
        req: Request<pb::CancelRunRequest>,
    ) -> Result<Response<pb::CancelRunResponse>, Status> {
        let r = async {
            self.auth.check("CancelRun", req.metadata())?;
            let pb::CancelRunRequest { run_id } = req.into_inner();
            let id = required("run_id", &run_id)?;
            if let Some(run) = self.core.live.get(&id) {
                run.cancel.cancel();
                tracing::info!(run_id = %id, "run cancellation requested");
                return Ok(Response::new(pb::CancelRunResponse { run_id: id, status: "cancelling".into() }));
            }
            let runs = self.core.registry.runs(None, Some(&id), 1).await?;
            let Some(run) = runs.first() else {
                return Err(Error::not_found(format!(
                    "training run {} not found; list runs with GetTrainingRuns",
                    common::text::clip(&id)
                ))
                .into());
            };
            if run.status.is_terminal() {
                Ok(Response::new(pb::CancelRunResponse { run_id: id, status: run.status.as_str().into() }))
            } else {
                Err(Error::FailedPrecondition(format!(
                    "run {id} is {} but not on this trainer replica; cancel it on the replica that runs it",
                    run.status
                ))
                .into())
            }
        }
        .await;
        self.observe("CancelRun", r)
    }

    #[instrument(skip_all, fields(run_id = %req.get_ref().run_id, name = %req.get_ref().name))]
    async fn get_run_plot(
        &self,
        req: Request<pb::GetRunPlotRequest>,
    ) -> Result<Response<pb::GetRunPlotResponse>, Status> {
        let r = async {
            let pb::GetRunPlotRequest { run_id, name } = req.into_inner();
            let id = required("run_id", &run_id)?;
            let name = required("name", &name)?;
            let png = self.core.registry.plot(&id, &name).await?;
            Ok::<_, Error>(Response::new(pb::GetRunPlotResponse {
                content_type: "image/png".into(),
                png,
            }))
        }
        .await
        .map_err(Status::from);
        self.observe("GetRunPlot", r)
    }
}

fn required(field: &str, value: &str) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() {
        Err(Error::invalid(format!("{field} is required")))
    } else {
        Ok(v.to_string())
    }
}
