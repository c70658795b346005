//! Served predictions and their realised outcomes, for decay monitoring (SPEC §8).
use chrono::NaiveDate;
use sqlx::AnyConnection;

use super::rows::{self, fmt_date, now_ms};
use super::{check_id, check_symbol, check_years, NewPrediction, Registry};
use crate::error::{Error, Result};

impl Registry {
    /// Records a prediction served to a caller; it is resolved once 5 more bars exist. Recording
    /// an `entry_id` that is already stored changes nothing (retries are idempotent).
    pub async fn record_prediction(&self, p: NewPrediction) -> Result<()> {
        check_symbol(&p.symbol)?;
        check_years(p.years)?;
        check_id("version_id", &p.version_id, 128)?;
        check_id("entry_id", &p.entry_id, 64)?;
        if !p.predicted_cumulative_return.is_finite() || !p.prob_up.is_finite() {
            return Err(Error::invalid("prediction values must be finite numbers"));
        }
        if p.magnitudes.iter().any(|m| !m.is_finite()) {
            return Err(Error::invalid(
                "prediction magnitudes must be finite numbers",
            ));
        }
        let bounds = [p.interval_80, p.interval_95];
        if bounds.iter().flatten().any(|(lo, hi)| !lo.is_finite() || !hi.is_finite()) {
            return Err(Error::invalid("prediction intervals must be finite numbers"));
        }
        let q = self.sql(
            "INSERT INTO predictions (entry_id, symbol, years, version_id, as_of, \
             predicted_cumulative_return, prob_up, magnitudes_json, created_at_ms, inline_bars, \
             lo80, hi80, lo95, hi95) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let written = sqlx::query(&q)
            .bind(&p.entry_id)
            .bind(&p.symbol)
            .bind(p.years as i64)
            .bind(&p.version_id)
            .bind(fmt_date(p.as_of))
            .bind(p.predicted_cumulative_return)
            .bind(p.prob_up)
            .bind(serde_json::to_string(&p.magnitudes)?)
            .bind(now_ms())
            .bind(p.inline_bars as i64)
            .bind(p.interval_80.map(|b| b.0))
            .bind(p.interval_80.map(|b| b.1))
            .bind(p.interval_95.map(|b| b.0))
            .bind(p.interval_95.map(|b| b.1))
            .execute(&self.pool)
            .await;
        match written {
            Ok(_) => Ok(()),
            // The same entry again: an earlier attempt reached the database after all.
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Fills the realised 5-day cumulative return `close[as_of + 5 bars] / close[as_of] - 1` and
    /// the absolute error of every unresolved prediction of `symbol` whose outcome is now in the
    /// bars table. Returns how many were resolved. [`Registry::upsert_bars`] calls it too.
    pub async fn resolve_predictions(&self, symbol: &str) -> Result<u64> {
        check_symbol(symbol)?;
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx, super::LockName::Bars).await?;
        let n = self.resolve_in(&mut tx, symbol).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The prediction log of `(symbol, years)` as live scoring reads it (every answer, in log
    /// order; `version_id` narrows it to one version).
    pub async fn logged_forecasts(
        &self,
        symbol: &str,
        years: u32,
        version_id: Option<&str>,
    ) -> Result<Vec<crate::live::LoggedForecast>> {
        check_symbol(symbol)?;
        check_years(years)?;
        let mut q = String::from(
            "SELECT id, version_id, as_of, prob_up, predicted_cumulative_return, lo80, hi80, lo95, hi95, \
             inline_bars FROM predictions WHERE symbol = ? AND years = ?",
        );
        if version_id.is_some() {
            q.push_str(" AND version_id = ?");
        }
        q.push_str(" ORDER BY id");
        let q = self.sql(&q);
        let mut query = sqlx::query(&q).bind(symbol).bind(years as i64);
        if let Some(v) = version_id {
            query = query.bind(v);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let pair = |lo: Option<f64>, hi: Option<f64>| lo.zip(hi);
                Ok(crate::live::LoggedForecast {
                    id: rows::int(r, 0)?,
                    version_id: rows::text(r, 1)?,
                    as_of: rows::date(r, 2)?,
                    prob_up: rows::float(r, 3)?,
                    predicted_return: rows::float(r, 4)?,
                    interval_80: pair(rows::opt_float(r, 5)?, rows::opt_float(r, 6)?),
                    interval_95: pair(rows::opt_float(r, 7)?, rows::opt_float(r, 8)?),
                    inline_bars: rows::int(r, 9)? != 0,
                })
            })
            .collect()
    }

    /// Deletes the answers served before `served_before` (the log's retention: by when they
    /// were served, not by their `as_of`, so a replay of old bars keeps its log); returns how
    /// many.
    pub async fn prune_predictions(&self, served_before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let q = self.sql("DELETE FROM predictions WHERE created_at_ms < ?");
        let cut = served_before.timestamp_millis();
        Ok(sqlx::query(&q).bind(cut).execute(&self.pool).await?.rows_affected())
    }

    /// Absolute errors of resolved predictions, oldest `as_of` first.
    pub async fn resolved_errors(&self, symbol: &str, years: Option<u32>) -> Result<Vec<f64>> {
        let mut q = String::from(
            "SELECT abs_error FROM predictions WHERE symbol = ? AND abs_error IS NOT NULL",
        );
        if years.is_some() {
            q.push_str(" AND years = ?");
        }
        q.push_str(" ORDER BY as_of, id");
        let q = self.sql(&q);
        let mut query = sqlx::query(&q).bind(symbol);
        if let Some(y) = years {
            query = query.bind(y as i64);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| rows::float(r, 0))
            .collect()
    }

    /// [`Registry::resolve_predictions`] inside the caller's transaction.
    pub(crate) async fn resolve_in(&self, conn: &mut AnyConnection, symbol: &str) -> Result<u64> {
        let q = self.sql(
            "SELECT id, as_of, predicted_cumulative_return FROM predictions \
             WHERE symbol = ? AND resolved_at_ms IS NULL ORDER BY as_of",
        );
        let pending: Vec<(i64, NaiveDate, f64)> = sqlx::query(&q)
            .bind(symbol)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((rows::int(r, 0)?, rows::date(r, 1)?, rows::float(r, 2)?)))
            .collect::<Result<_>>()?;
        let Some(first) = pending.first().map(|p| p.1) else {
            return Ok(0);
        };
        // Bars from a little before the oldest as_of (its base bar may be on an earlier date).
        let start = first - chrono::Duration::days(14);
        let q =
            self.sql("SELECT date, close FROM bars WHERE symbol = ? AND date >= ? ORDER BY date");
        let bars: Vec<(NaiveDate, f64)> = sqlx::query(&q)
            .bind(symbol)
            .bind(fmt_date(start))
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((rows::date(r, 0)?, rows::float(r, 1)?)))
            .collect::<Result<_>>()?;
        let update = self.sql(
            "UPDATE predictions SET realized_return = ?, abs_error = ?, resolved_at_ms = ? \
             WHERE id = ?",
        );
        let now = now_ms();
        let mut resolved = 0;
        for (id, as_of, predicted) in pending {
            // The outcome rule lives with live scoring (one rule for both).
            let Some(realized) = crate::live::realised_return(&bars, as_of) else {
                continue;
            };
            sqlx::query(&update)
                .bind(realized)
                .bind((predicted - realized).abs())
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            resolved += 1;
        }
        Ok(resolved)
    }
}
