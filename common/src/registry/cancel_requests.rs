//! Cancellation across replicas: CancelRun on one trainer replica of a run that another replica
//! is running (it holds the run's lease or queue place) stores a request here; the owner reads
//! it with its lease renewal (or each queue poll) and cancels the run as if CancelRun had
//! reached it directly.
use super::rows::{self, now_ms};
use super::{check_id, Registry};
use crate::error::Result;

impl Registry {
    /// Asks the owner of `run_id` to cancel it. Idempotent: a second request keeps the first.
    /// Requests older than a day are deleted on the way (their runs have long ended: an owner
    /// reads its request within one lease renewal period).
    pub async fn request_run_cancel(&self, run_id: &str) -> Result<()> {
        check_id("run id", run_id, 255)?;
        let q = self.sql("DELETE FROM run_cancel_requests WHERE requested_at_ms < ?");
        sqlx::query(&q).bind(now_ms() - 24 * 3600 * 1000).execute(&self.pool).await?;
        let q = self.sql("INSERT INTO run_cancel_requests (run_id, requested_at_ms) VALUES (?, ?)");
        match sqlx::query(&q).bind(run_id).bind(now_ms()).execute(&self.pool).await {
            Ok(_) => Ok(()),
            // Already requested (a retried CancelRun, another replica).
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether cancellation of `run_id` was requested ([`Registry::request_run_cancel`]).
    pub async fn run_cancel_requested(&self, run_id: &str) -> Result<bool> {
        let q = self.sql("SELECT COUNT(*) FROM run_cancel_requests WHERE run_id = ?");
        let row = sqlx::query(&q).bind(run_id).fetch_one(&self.pool).await?;
        Ok(rows::int(&row, 0)? > 0)
    }
}
