//! Runs whose owner is gone: the heartbeat of a run is its symbol lease (renewed by the
//! trainer that runs it) or, while it waits, its lease-queue entry. A `queued` / `running` run
//! older than the grace period with neither alive has no owner left; any replica may close it
//! as `abandoned`.
use super::rows::{self, now_ms};
use super::runs::{run_from_row, RUN_COLUMNS};
use super::{Registry, RunRecord, RunStatus};
use crate::error::Result;

impl Registry {
    /// `queued` / `running` runs started more than `grace_ms` ago whose lease and queue entry
    /// (holder = run id) are both missing or expired.
    pub async fn ownerless_runs(&self, grace_ms: i64) -> Result<Vec<RunRecord>> {
        let now = now_ms();
        let cols = RUN_COLUMNS
            .split(", ")
            .map(|c| format!("r.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let q = self.sql(&format!(
            "SELECT {cols} FROM training_runs r \
             WHERE r.status IN ('queued', 'running') AND r.started_at_ms < ? \
             AND NOT EXISTS (SELECT 1 FROM training_leases l \
                 WHERE l.holder = r.run_id AND l.expires_at_ms >= ?) \
             AND NOT EXISTS (SELECT 1 FROM lease_queue q \
                 WHERE q.holder = r.run_id AND q.expires_at_ms >= ?) \
             ORDER BY r.started_at_ms LIMIT 100"
        ));
        sqlx::query(&q)
            .bind(now - grace_ms)
            .bind(now)
            .bind(now)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(run_from_row)
            .collect()
    }

    /// Whether run `run_id` has no owner now (see [`Registry::ownerless_runs`], no grace).
    pub async fn run_is_ownerless(&self, run_id: &str) -> Result<bool> {
        let now = now_ms();
        let q = self.sql(
            "SELECT COUNT(*) FROM training_runs r \
             WHERE r.run_id = ? AND r.status IN ('queued', 'running') \
             AND NOT EXISTS (SELECT 1 FROM training_leases l \
                 WHERE l.holder = r.run_id AND l.expires_at_ms >= ?) \
             AND NOT EXISTS (SELECT 1 FROM lease_queue q \
                 WHERE q.holder = r.run_id AND q.expires_at_ms >= ?)",
        );
        let row = sqlx::query(&q)
            .bind(run_id)
            .bind(now)
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(rows::int(&row, 0)? > 0)
    }

    /// Ends a run that is still `queued` / `running` with `status` and `reason`; `false` when
    /// it had already ended (its owner, or another replica, was first).
    pub async fn close_unfinished_run(
        &self,
        run_id: &str,
        status: RunStatus,
        reason: &str,
    ) -> Result<bool> {
        let now = now_ms();
        let q = self.sql(
            "UPDATE training_runs SET status = ?, finished_at_ms = ?, \
             duration_seconds = (? - started_at_ms) / 1000.0, error = ? \
             WHERE run_id = ? AND status IN ('queued', 'running')",
        );
        let done = sqlx::query(&q)
            .bind(status.as_str())
            .bind(now)
            .bind(now)
            .bind(reason)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The highest stored event `seq` of a run (0 when none).
    pub async fn last_event_seq(&self, run_id: &str) -> Result<u64> {
        let q = self.sql("SELECT MAX(seq) FROM run_events WHERE run_id = ?");
        let row = sqlx::query(&q).bind(run_id).fetch_one(&self.pool).await?;
        Ok(rows::opt_int(&row, 0)?.unwrap_or(0).max(0) as u64)
    }
}
