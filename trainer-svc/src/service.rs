//! The `lstm.v1.Trainer` gRPC service: thin handlers that check auth, convert the request,
//! call the core or the registry, and convert back ([`runs`]: the run RPCs; [`admin`]: the
//! registry and trigger RPCs). Errors become `Status` in one place
//! (`impl From<common::Error> for tonic::Status`).
use std::pin::Pin;
use std::sync::Arc;

use common::pb::{self, trainer_server::Trainer};
use common::Error;
use futures::Stream;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::auth::Auth;
use crate::core::Core;

mod admin;
mod runs;

pub use runs::backtest_stream;

/// A boxed response stream.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

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

fn required(field: &str, value: &str) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() {
        Err(Error::invalid(format!("{field} is required")))
    } else {
        Ok(v.to_string())
    }
}

impl TrainerService {
    /// A service over `core`, requiring `auth` on mutating RPCs.
    pub fn new(core: Arc<Core>, auth: Auth) -> TrainerService {
        TrainerService { core, auth }
    }

    /// Counts the call in `trainer_rpc_requests_total` and wraps the answer.
    fn observe<T, E: Into<Status>>(&self, method: &str, r: Result<T, E>) -> Result<Response<T>, Status> {
        let r = r.map(Response::new).map_err(Into::into);
        self.core.metrics.rpc(method, &r);
        r
    }
}

#[tonic::async_trait]
impl Trainer for TrainerService {
    type TrainStream = BoxStream<pb::TrainEvent>;
    type TrainAllStream = BoxStream<pb::TrainAllEvent>;
    type IncrementalTrainStream = BoxStream<pb::TrainEvent>;
    type RunTriggeredTrainingStream = BoxStream<pb::TrainEvent>;
    type AttachRunStream = BoxStream<pb::TrainEvent>;
    type BacktestStream = BoxStream<pb::BacktestEvent>;

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, years = ?req.get_ref().years))]
    async fn backtest(&self, req: Request<pb::BacktestRequest>) -> Result<Response<Self::BacktestStream>, Status> {
        self.observe("Backtest", self.backtest_impl(req).await)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, all_years = req.get_ref().all_years))]
    async fn train(&self, req: Request<pb::TrainRequest>) -> Result<Response<Self::TrainStream>, Status> {
        self.observe("Train", self.train_impl(req).await)
    }

    #[instrument(skip_all, fields(symbols = req.get_ref().symbols.len()))]
    async fn train_all(&self, req: Request<pb::TrainAllRequest>) -> Result<Response<Self::TrainAllStream>, Status> {
        self.observe("TrainAll", self.train_all_impl(req).await)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol))]
    async fn incremental_train(
        &self,
        req: Request<pb::IncrementalTrainRequest>,
    ) -> Result<Response<Self::IncrementalTrainStream>, Status> {
        self.observe("IncrementalTrain", self.incremental_impl(req).await)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, as_of = %req.get_ref().as_of))]
    async fn check_triggers(
        &self,
        req: Request<pb::CheckTriggersRequest>,
    ) -> Result<Response<pb::CheckTriggersResponse>, Status> {
        self.observe("CheckTriggers", self.check_triggers_impl(req).await)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, trigger = %req.get_ref().trigger_type))]
    async fn run_triggered_training(
        &self,
        req: Request<pb::RunTriggeredTrainingRequest>,
    ) -> Result<Response<Self::RunTriggeredTrainingStream>, Status> {
        self.observe("RunTriggeredTraining", self.triggered_impl(req).await)
    }

    #[instrument(skip_all)]
    async fn get_training_spec(
        &self,
        req: Request<pb::GetTrainingSpecRequest>,
    ) -> Result<Response<pb::GetTrainingSpecResponse>, Status> {
        self.observe("GetTrainingSpec", self.training_spec_impl(req))
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, bars = req.get_ref().bars.len(), csv_bytes = req.get_ref().csv.len()))]
    async fn ingest_bars(
        &self,
        req: Request<pb::IngestBarsRequest>,
    ) -> Result<Response<pb::IngestBarsResponse>, Status> {
        self.observe("IngestBars", self.ingest_bars_impl(req).await)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol))]
    async fn list_versions(
        &self,
        req: Request<pb::ListVersionsRequest>,
    ) -> Result<Response<pb::ListVersionsResponse>, Status> {
        self.observe("ListVersions", self.list_versions_impl(req).await)
    }

    #[instrument(skip_all, fields(version_id = %req.get_ref().version_id))]
    async fn get_version(
        &self,
        req: Request<pb::GetVersionRequest>,
    ) -> Result<Response<pb::GetVersionResponse>, Status> {
        self.observe("GetVersion", self.get_version_impl(req).await)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, version_id = %req.get_ref().version_id))]
    async fn set_current_version(
        &self,
        req: Request<pb::SetCurrentVersionRequest>,
    ) -> Result<Response<pb::SetCurrentVersionResponse>, Status> {
        self.observe("SetCurrentVersion", self.set_current_impl(req).await)
    }

    #[instrument(skip_all, fields(version_id = %req.get_ref().version_id))]
    async fn delete_version(
        &self,
        req: Request<pb::DeleteVersionRequest>,
    ) -> Result<Response<pb::DeleteVersionResponse>, Status> {
        self.observe("DeleteVersion", self.delete_version_impl(req).await)
    }

    #[instrument(skip_all, fields(symbol = %req.get_ref().symbol, run_id = %req.get_ref().run_id))]
    async fn get_training_runs(
        &self,
        req: Request<pb::GetTrainingRunsRequest>,
    ) -> Result<Response<pb::GetTrainingRunsResponse>, Status> {
        self.observe("GetTrainingRuns", self.training_runs_impl(req).await)
    }

    #[instrument(skip_all, fields(run_id = %req.get_ref().run_id))]
    async fn attach_run(
        &self,
        req: Request<pb::AttachRunRequest>,
    ) -> Result<Response<Self::AttachRunStream>, Status> {
        self.observe("AttachRun", self.attach_impl(req).await)
    }

    #[instrument(skip_all, fields(run_id = %req.get_ref().run_id))]
    async fn cancel_run(
        &self,
        req: Request<pb::CancelRunRequest>,
    ) -> Result<Response<pb::CancelRunResponse>, Status> {
        self.observe("CancelRun", self.cancel_run_impl(req).await)
    }

    #[instrument(skip_all, fields(run_id = %req.get_ref().run_id, name = %req.get_ref().name))]
    async fn get_run_plot(
        &self,
        req: Request<pb::GetRunPlotRequest>,
    ) -> Result<Response<pb::GetRunPlotResponse>, Status> {
        self.observe("GetRunPlot", self.run_plot_impl(req).await)
    }
}
