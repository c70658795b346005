//! Training runs, their streamed events and plots, and training failures.
use sqlx::any::AnyRow;

use super::rows::{self, now_ms};
use super::{
    check_id, check_symbol, check_years, unique_as, FailureRecord, LockName, NewRun, Registry,
    RunRecord, RunStatus,
};
use crate::error::{Error, Result};

pub(super) const RUN_COLUMNS: &str = "run_id, symbol, years, mode, status, config_json, requested_by, \
     started_at_ms, finished_at_ms, duration_seconds, version_id, error";

pub(super) fn run_from_row(r: &AnyRow) -> Result<RunRecord> {
    Ok(RunRecord {
        run_id: rows::text(r, 0)?,
        symbol: rows::text(r, 1)?,
        years: rows::years(r, 2)?,
        mode: rows::text(r, 3)?,
        status: rows::text(r, 4)?.parse()?,
        config_json: rows::text(r, 5)?,
        requested_by: rows::text(r, 6)?,
        started_at: rows::ts(r, 7)?,
        finished_at: rows::opt_ts(r, 8)?,
        duration_seconds: rows::opt_float(r, 9)?,
        version_id: rows::opt_text(r, 10)?,
        error: rows::opt_text(r, 11)?,
    })
}

fn run_not_found(run_id: &str) -> Error {
    Error::not_found(format!(
        "training run '{run_id}' not found; list runs with GetTrainingRuns"
    ))
}

impl Registry {
    /// Records a new run with status `queued`, started now.
    pub async fn create_run(&self, run: NewRun) -> Result<()> {
        check_id("run_id", &run.run_id, 128)?;
        check_symbol(&run.symbol)?;
        check_years(run.years)?;
        let q = self.sql(
            "INSERT INTO training_runs (run_id, symbol, years, mode, status, config_json, \
             requested_by, started_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(&run.run_id)
            .bind(&run.symbol)
            .bind(run.years as i64)
            .bind(&run.mode)
            .bind(RunStatus::Queued.as_str())
            .bind(&run.config_json)
            .bind(&run.requested_by)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(unique_as(|| {
                format!("training run {} already exists", run.run_id)
            }))?;
        Ok(())
    }

    /// Changes the status of a run (`NotFound` when unknown).
    pub async fn set_run_status(&self, run_id: &str, status: RunStatus) -> Result<()> {
        let q = self.sql("UPDATE training_runs SET status = ? WHERE run_id = ?");
        let done = sqlx::query(&q)
            .bind(status.as_str())
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(run_not_found(run_id));
        }
        Ok(())
    }

    /// Ends a run: status, finish time, duration, the version it produced or its error.
    pub async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        version_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        if !status.is_terminal() {
            return Err(Error::invalid(format!(
                "finish_run needs succeeded, failed, cancelled or abandoned, got {status}"
            )));
        }
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx, LockName::Runs).await?;
        let q = self.sql("SELECT started_at_ms FROM training_runs WHERE run_id = ?");
        let row = sqlx::query(&q)
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| run_not_found(run_id))?;
        let started = rows::int(&row, 0)?;
        let finished = now_ms().max(started);
        let q = self.sql(
            "UPDATE training_runs SET status = ?, finished_at_ms = ?, duration_seconds = ?, \
             version_id = ?, error = ? WHERE run_id = ?",
        );
        sqlx::query(&q)
            .bind(status.as_str())
            .bind(finished)
            .bind((finished - started) as f64 / 1000.0)
            .bind(version_id)
            .bind(error)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores event `seq` (JSON) of a run. Each `seq` is stored once.
    pub async fn append_run_event(&self, run_id: &str, seq: u64, event_json: &str) -> Result<()> {
        let seq = i64::try_from(seq).map_err(|_| Error::invalid("event seq is too large"))?;
        let q =
            self.sql("INSERT INTO run_events (run_id, seq, event_json, at_ms) VALUES (?, ?, ?, ?)");
        sqlx::query(&q)
            .bind(run_id)
            .bind(seq)
            .bind(event_json)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => {
                    Error::invalid(format!("event {seq} of run {run_id} is already stored"))
                }
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => run_not_found(run_id),
                _ => Error::from(e),
            })?;
        Ok(())
    }

    /// Events of a run in `seq` order, only those after `after_seq` when given.
    pub async fn run_events(
        &self,
        run_id: &str,
        after_seq: Option<u64>,
    ) -> Result<Vec<(u64, String)>> {
        let after = after_seq
            .map(|s| i64::try_from(s).unwrap_or(i64::MAX))
            .unwrap_or(-1);
        let q = self.sql(
            "SELECT seq, event_json FROM run_events WHERE run_id = ? AND seq > ? ORDER BY seq",
        );
        sqlx::query(&q)
            .bind(run_id)
            .bind(after)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((rows::int(r, 0)? as u64, rows::text(r, 1)?)))
            .collect()
    }

    /// Runs, newest first, optionally of one symbol or one run id, at most `limit` (0 = 100).
    pub async fn runs(
        &self,
        symbol: Option<&str>,
        run_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>> {
        let limit = if limit == 0 { 100 } else { limit.min(10_000) };
        let mut q = format!("SELECT {RUN_COLUMNS} FROM training_runs WHERE 1 = 1");
        if symbol.is_some() {
            q.push_str(" AND symbol = ?");
        }
        if run_id.is_some() {
            q.push_str(" AND run_id = ?");
        }
        q.push_str(&format!(
            " ORDER BY started_at_ms DESC, run_id DESC LIMIT {limit}"
        ));
        let q = self.sql(&q);
        let mut query = sqlx::query(&q);
        if let Some(s) = symbol {
            query = query.bind(s);
        }
        if let Some(r) = run_id {
            query = query.bind(r);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(run_from_row)
            .collect()
    }

    /// Stores (or replaces) a PNG plot of a run.
    pub async fn save_plot(&self, run_id: &str, name: &str, png: &[u8]) -> Result<()> {
        check_id("plot name", name, 200)?;
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx, LockName::Runs).await?;
        let q = self.sql("DELETE FROM run_plots WHERE run_id = ? AND name = ?");
        sqlx::query(&q)
            .bind(run_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let q = self.sql(
            "INSERT INTO run_plots (run_id, name, png, bytes, created_at_ms) VALUES (?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(run_id)
            .bind(name)
            .bind(png.to_vec())
            .bind(png.len() as i64)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => run_not_found(run_id),
                _ => Error::from(e),
            })?;
        tx.commit().await?;
        Ok(())
    }

    /// The PNG bytes of a plot.
    pub async fn plot(&self, run_id: &str, name: &str) -> Result<Vec<u8>> {
        let q = self.sql("SELECT png FROM run_plots WHERE run_id = ? AND name = ?");
        let row = sqlx::query(&q)
            .bind(run_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::not_found(format!("run {run_id} has no plot named '{name}'")))?;
        rows::blob(&row, 0)
    }

    /// `(name, bytes)` of the plots of a run, by name.
    pub async fn plot_names(&self, run_id: &str) -> Result<Vec<(String, u64)>> {
        let q = self.sql("SELECT name, bytes FROM run_plots WHERE run_id = ? ORDER BY name");
        sqlx::query(&q)
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((rows::text(r, 0)?, rows::int(r, 1)? as u64)))
            .collect()
    }

    /// Records a training failure.
    pub async fn record_failure(
        &self,
        symbol: &str,
        years: u32,
        run_id: Option<&str>,
        error: &str,
    ) -> Result<()> {
        check_symbol(symbol)?;
        let q = self.sql(
            "INSERT INTO training_failures (symbol, years, run_id, error, at_ms) \
             VALUES (?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(symbol)
            .bind(years as i64)
            .bind(run_id)
            .bind(error)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Failures, newest first, optionally of one symbol, at most `limit` (0 = 100).
    pub async fn failures(&self, symbol: Option<&str>, limit: u32) -> Result<Vec<FailureRecord>> {
        let limit = if limit == 0 { 100 } else { limit.min(10_000) };
        let mut q =
            String::from("SELECT id, symbol, years, run_id, error, at_ms FROM training_failures");
        if symbol.is_some() {
            q.push_str(" WHERE symbol = ?");
        }
        q.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
        let q = self.sql(&q);
        let mut query = sqlx::query(&q);
        if let Some(s) = symbol {
            query = query.bind(s);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(FailureRecord {
                    id: rows::int(r, 0)?,
                    symbol: rows::text(r, 1)?,
                    years: rows::years(r, 2)?,
                    run_id: rows::opt_text(r, 3)?,
                    error: rows::text(r, 4)?,
                    at: rows::ts(r, 5)?,
                })
            })
            .collect()
    }
}
