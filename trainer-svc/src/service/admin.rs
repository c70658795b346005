//! Handlers of the registry and trigger RPCs: IngestBars, ListVersions, GetVersion,
//! SetCurrentVersion, DeleteVersion, GetRunPlot, CheckTriggers, GetTrainingSpec.
use common::pb;
use common::triggers::{check_triggers, TriggerKind};
use common::Error;
use tonic::{Request, Status};

use super::{peer, required, TrainerService};
use crate::convert;
use crate::requests::{as_of_or_today, IngestJob};

impl TrainerService {
    pub(super) async fn check_triggers_impl(
        &self,
        req: Request<pb::CheckTriggersRequest>,
    ) -> Result<pb::CheckTriggersResponse, Error> {
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
            &self.core.settings().live_rule,
        )
        .await?;
        Ok(pb::CheckTriggersResponse {
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
            live_quality: rep.live_quality,
            live_brier_skill: rep.live.as_ref().and_then(|l| l.brier_skill),
            live_n_scored: rep.live.as_ref().map_or(0, |l| l.n_scored as u32),
            live_reason: rep.live.map(|l| l.reason).unwrap_or_default(),
        })
    }

    pub(super) fn training_spec_impl(
        &self,
        req: Request<pb::GetTrainingSpecRequest>,
    ) -> Result<pb::GetTrainingSpecResponse, Error> {
        let pb::GetTrainingSpecRequest {} = req.into_inner();
        Ok(pb::GetTrainingSpecResponse {
            json: serde_json::to_string_pretty(&common::spec::training_spec())?,
            markdown: common::spec::training_spec_markdown(),
        })
    }

    pub(super) async fn ingest_bars_impl(
        &self,
        req: Request<pb::IngestBarsRequest>,
    ) -> Result<pb::IngestBarsResponse, Status> {
        self.auth.check("IngestBars", req.metadata())?;
        let job = IngestJob::try_from(req.into_inner())?;
        let stats = self.core.registry.upsert_bars(&job.symbol, &job.bars).await?;
        tracing::info!(symbol = %job.symbol, inserted = stats.inserted, updated = stats.updated, dropped_repeats = job.dropped_repeats.len(), bad_rows_skipped = job.bad_rows.len(), "bars ingested");
        Ok(pb::IngestBarsResponse {
            symbol: job.symbol,
            received: job.bars.len() as u32,
            inserted: stats.inserted as u32,
            updated: stats.updated as u32,
            first_date: job.bars.first().map(|b| b.date.to_string()).unwrap_or_default(),
            last_date: job.bars.last().map(|b| b.date.to_string()).unwrap_or_default(),
            total_bars: stats.total,
            dropped_repeats: job.dropped_repeats.len() as u32,
            dropped_repeat_dates: job.dropped_repeats.iter().map(|d| d.to_string()).collect(),
            bad_rows: crate::convert::listed_bad_rows(&job.bad_rows),
            bad_rows_skipped: job.bad_rows.len() as u32,
            ignored_columns: job.ignored_columns,
        })
    }

    pub(super) async fn list_versions_impl(
        &self,
        req: Request<pb::ListVersionsRequest>,
    ) -> Result<pb::ListVersionsResponse, Error> {
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
        Ok(pb::ListVersionsResponse {
            versions: versions.iter().map(convert::version_to_pb).collect(),
        })
    }

    pub(super) async fn get_version_impl(
        &self,
        req: Request<pb::GetVersionRequest>,
    ) -> Result<pb::GetVersionResponse, Error> {
        let pb::GetVersionRequest { version_id } = req.into_inner();
        let id = required("version_id", &version_id)?;
        let rec = self.core.registry.version(&id).await?;
        Ok(pb::GetVersionResponse {
            version: Some(convert::version_to_pb(&rec.info)),
            metadata_json: rec.metadata_json,
        })
    }

    pub(super) async fn set_current_impl(
        &self,
        req: Request<pb::SetCurrentVersionRequest>,
    ) -> Result<pb::SetCurrentVersionResponse, Status> {
        self.auth.check("SetCurrentVersion", req.metadata())?;
        let by = peer(&req);
        let pb::SetCurrentVersionRequest { symbol, years, version_id, reason } = req.into_inner();
        let id = required("version_id", &version_id)?;
        let reason = if reason.trim().is_empty() { "set by SetCurrentVersion".to_string() } else { reason };
        let rec = self.core.set_current_version(&symbol, years, &id, &by, &reason).await?;
        Ok(pb::SetCurrentVersionResponse {
            previous_version_id: rec.from_version.unwrap_or_default(),
            current_version_id: rec.to_version,
        })
    }

    pub(super) async fn delete_version_impl(
        &self,
        req: Request<pb::DeleteVersionRequest>,
    ) -> Result<pb::DeleteVersionResponse, Status> {
        self.auth.check("DeleteVersion", req.metadata())?;
        let pb::DeleteVersionRequest { version_id } = req.into_inner();
        let id = required("version_id", &version_id)?;
        self.core.registry.delete_version(&id).await?;
        Ok(pb::DeleteVersionResponse { version_id: id })
    }

    pub(super) async fn run_plot_impl(
        &self,
        req: Request<pb::GetRunPlotRequest>,
    ) -> Result<pb::GetRunPlotResponse, Error> {
        let pb::GetRunPlotRequest { run_id, name } = req.into_inner();
        let id = required("run_id", &run_id)?;
        let name = required("name", &name)?;
        let png = self.core.registry.plot(&id, &name).await?;
        let json = name.ends_with(".json"); // a backtest's report.json
        Ok(pb::GetRunPlotResponse {
            content_type: if json { "application/json" } else { "image/png" }.into(),
            png,
        })
    }
}
