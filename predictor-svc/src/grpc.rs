//! The `lstm.v1.Predictor` gRPC service: thin handlers that validate, convert, call the
//! [`Engine`] and convert back, with one metrics/tracing wrapper per RPC, which also checks the
//! bearer token when one is configured (SPEC §14.5).
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use common::auth::Auth;
use common::pb;
use common::pb::predictor_server::Predictor;
use common::{Error, Result};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::engine::{Engine, PredictInput, BULK_BATCH_REQUESTS, BULK_IN_FLIGHT, MAX_BATCH_REQUESTS};
use crate::metrics::{outcome_label, Metrics};
use crate::worker::Lane;

/// gRPC front of the [`Engine`].
#[derive(Debug, Clone)]
pub struct PredictorService {
    engine: Arc<Engine>,
    metrics: Metrics,
    auth: Auth,
}

impl PredictorService {
    /// A service over `engine`; `auth` is checked on every RPC before any work.
    pub fn new(engine: Arc<Engine>, metrics: Metrics, auth: Auth) -> PredictorService {
        PredictorService { engine, metrics, auth }
    }

    /// Checks the bearer token of `req`, then runs `f`, counting its outcome and latency under
    /// `method`, mapping errors to statuses. A refused token is counted as `unauthenticated`.
    async fn observed<T>(
        &self,
        method: &'static str,
        metadata: &MetadataMap,
        f: impl Future<Output = Result<T>>,
    ) -> Result<Response<T>, Status> {
        let start = Instant::now();
        let result = match self.auth.check(method, metadata) {
            Ok(()) => f.await,
            Err(e) => Err(e),
        };
        self.metrics.request_seconds.with_label_values(&[method]).observe(start.elapsed().as_secs_f64());
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(e) => e.code(),
        };
        self.metrics.requests.with_label_values(&[method, outcome_label(code)]).inc();
        match result {
            Ok(v) => Ok(Response::new(v)),
            Err(e) => {
                if matches!(code, tonic::Code::Internal | tonic::Code::DataLoss | tonic::Code::Unavailable) {
                    tracing::warn!(method, error = %e, "request failed");
                } else {
                    tracing::debug!(method, error = %e, "request rejected");
                }
                Err(Status::from(e))
            }
        }
    }
}

/// The canonical upper-case name of a gRPC code (`NOT_FOUND`), for PredictBatch item errors.
pub fn code_name(code: tonic::Code) -> String {
    outcome_label(code).to_ascii_uppercase()
}

#[tonic::async_trait]
impl Predictor for PredictorService {
    #[instrument(skip_all, fields(symbol = %common::text::clip(&req.get_ref().symbol), years = ?req.get_ref().years))]
    async fn predict(&self, req: Request<pb::PredictRequest>) -> Result<Response<pb::Prediction>, Status> {
        let engine = self.engine.clone();
        let metrics = self.metrics.clone();
        let (metadata, _, msg) = req.into_parts();
        self.observed("Predict", &metadata, async move {
            let input = PredictInput::try_from(msg)?;
            let p = engine.predict(input).await?;
            metrics.bars_served.with_label_values(&[p.bars_source]).inc();
            Ok(pb::Prediction::from(p))
        })
        .await
    }

    #[instrument(skip_all, fields(n = req.get_ref().requests.len()))]
    async fn predict_batch(
        &self,
        req: Request<pb::PredictBatchRequest>,
    ) -> Result<Response<pb::PredictBatchResponse>, Status> {
        let engine = self.engine.clone();
        let metrics = self.metrics.clone();
        let (metadata, _, msg) = req.into_parts();
        self.observed("PredictBatch", &metadata, async move {
            let pb::PredictBatchRequest { requests } = msg;
            if requests.len() > MAX_BATCH_REQUESTS {
                return Err(Error::invalid(format!(
                    "PredictBatch takes at most {MAX_BATCH_REQUESTS} requests, got {}; split the call",
                    requests.len()
                )));
            }
            // Items run concurrently: those for the same model share forward passes. A large
            // call queues on the bulk lanes so that it does not stall other callers.
            let lane =
                if requests.len() >= BULK_BATCH_REQUESTS { Lane::new_bulk() } else { Lane::Interactive };
            let items = requests.into_iter().map(|r| {
                let engine = engine.clone();
                let metrics = metrics.clone();
                async move {
                    let result = async {
                        let input = PredictInput::try_from(r)?;
                        engine.predict_in(input, lane).await
                    }
                    .await;
                    let code = result.as_ref().map_or_else(|e| e.code(), |_| tonic::Code::Ok);
                    metrics.requests.with_label_values(&["PredictBatch.item", outcome_label(code)]).inc();
                    let outcome = match result {
                        Ok(p) => {
                            metrics.bars_served.with_label_values(&[p.bars_source]).inc();
                            pb::predict_batch_item::Outcome::Prediction(p.into())
                        }
                        Err(e) => pb::predict_batch_item::Outcome::Error(pb::PredictError {
                            code: code_name(e.code()),
                            message: e.to_string(),
                        }),
                    };
                    pb::PredictBatchItem { outcome: Some(outcome) }
                }
            });
            // A large call keeps only enough items in flight to fill the bulk lane's next passes:
            // its features are computed as the lane consumes them, not in one burst that would
            // hold a runtime thread (and other callers' requests) for hundreds of ms.
            let in_flight = match lane {
                Lane::Bulk(_) => BULK_IN_FLIGHT,
                Lane::Interactive => usize::MAX,
            };
            use futures::StreamExt;
            let items = futures::stream::iter(items).buffered(in_flight).collect().await;
            Ok(pb::PredictBatchResponse { items })
        })
        .await
    }

    #[instrument(skip_all, fields(symbol = %common::text::clip(&req.get_ref().symbol), years = ?req.get_ref().years))]
    async fn get_model_status(
        &self,
        req: Request<pb::GetModelStatusRequest>,
    ) -> Result<Response<pb::ModelStatus>, Status> {
        let engine = self.engine.clone();
        let (metadata, _, msg) = req.into_parts();
        self.observed("GetModelStatus", &metadata, async move {
            let pb::GetModelStatusRequest { symbol, years } = msg;
            let symbol = common::config::validate_symbol(&symbol)?;
            let years = common::config::validate_years(years)?;
            Ok(engine.status(&symbol, years).await?.into())
        })
        .await
    }

    #[instrument(skip_all)]
    async fn list_models(
        &self,
        req: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let engine = self.engine.clone();
        let (metadata, _, msg) = req.into_parts();
        self.observed("ListModels", &metadata, async move {
            let pb::ListModelsRequest {} = msg;
            let models = engine.list().await?.into_iter().map(pb::ModelStatus::from).collect();
            Ok(pb::ListModelsResponse { models })
        })
        .await
    }

    #[instrument(skip_all, fields(symbol = %common::text::clip(&req.get_ref().symbol), years = ?req.get_ref().years))]
    async fn get_live_quality(
        &self,
        req: Request<pb::GetLiveQualityRequest>,
    ) -> Result<Response<pb::GetLiveQualityResponse>, Status> {
        let engine = self.engine.clone();
        let (metadata, _, msg) = req.into_parts();
        self.observed("GetLiveQuality", &metadata, async move {
            let query = crate::live::LiveQuery::try_from(msg)?;
            let versions = crate::live::get(&engine, &query).await?;
            Ok(pb::GetLiveQualityResponse { versions: versions.iter().map(crate::live::live_to_pb).collect() })
        })
        .await
    }
}
