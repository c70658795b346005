//! The two operator actions that change state outside a run: cancelling a run (on any replica)
//! and setting a key's current version (promotion or rollback). `CancelRun`, `SetCurrentVersion`
//! and the web console call these, so both front ends behave alike.
use common::registry::PromotionRecord;
use common::{Error, Result};

use super::{abandoned, Core};

impl Core {
    /// Cancels run `id`: a run of this process at once (`cancelling`); a run whose trainer is
    /// gone is closed as `cancelled`; a run of another replica gets a cancel request it picks up
    /// at its next lease renewal (`cancelling`, or its end if it ended meanwhile). A run that has
    /// already ended answers its status. Returns the status word.
    pub async fn cancel_run(&self, id: &str) -> Result<String> {
        if let Some(run) = self.live.get(id) {
            run.cancel.cancel();
            tracing::info!(run_id = %id, "run cancellation requested");
            return Ok("cancelling".into());
        }
        let runs = self.registry.runs(None, Some(id), 1).await?;
        let Some(run) = runs.first() else {
            return Err(Error::not_found(format!(
                "training run {} not found; list runs with GetTrainingRuns",
                common::text::clip(id)
            )));
        };
        if run.status.is_terminal() {
            return Ok(run.status.as_str().into());
        }
        if let Some(status) = abandoned::cancel_elsewhere(self, run).await? {
            return Ok(status.as_str().into());
        }
        // Another replica runs it: it picks the request up at its next lease renewal.
        self.registry.request_run_cancel(id).await?;
        tracing::info!(run_id = %id, "run cancellation requested for another replica");
        // It may have ended meanwhile: then its end is the answer.
        let now = self.registry.runs(None, Some(id), 1).await?;
        Ok(match now.first() {
            Some(run) if run.status.is_terminal() => run.status.as_str().to_string(),
            _ => "cancelling".to_string(),
        })
    }

    /// Makes `version_id` current for its key — or, for a pooled version, for the member
    /// `symbol` names (empty = the version's own symbol). `symbol` / `years`, when given
    /// (non-empty / non-0), must be the version's or a member's: a typo must not promote another
    /// key's model. `by` is who asked (recorded in the promotion history with `reason`).
    pub async fn set_current_version(
        &self,
        symbol: &str,
        years: u32,
        version_id: &str,
        by: &str,
        reason: &str,
    ) -> Result<PromotionRecord> {
        let info = self.registry.version_info(version_id).await?;
        let target = if symbol.trim().is_empty() { info.symbol.clone() } else { symbol.trim().to_string() };
        if !info.serves(&target, info.years) {
            let owner = if info.pool_symbols.is_empty() { info.symbol.clone() } else { format!("the pool {}", info.pool_symbols.join(",")) };
            return Err(Error::invalid(format!(
                "version {} belongs to {owner}, not {}",
                common::text::clip(version_id),
                common::text::clip(symbol.trim())
            )));
        }
        if years != 0 && years != info.years {
            return Err(Error::invalid(format!(
                "version {} is a {}-year model, not {years}-year",
                common::text::clip(version_id),
                info.years
            )));
        }
        let rec = self.registry.set_current(&target, info.years, version_id, by, reason).await?;
        tracing::info!(symbol = %target, years = info.years, from = ?rec.from_version, to = %rec.to_version, by, "current version changed");
        Ok(rec)
    }
}
