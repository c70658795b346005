//! Daily bars per symbol, upserted by `(symbol, date)`.
use std::collections::HashSet;

use chrono::NaiveDate;

use super::rows::{self, fmt_date};
use super::{check_symbol, LockName, Registry, UpsertStats};
use crate::data::Bar;
use crate::error::{Error, Result};

/// Rows per multi-row `INSERT` (PostgreSQL allows 65535 parameters, SQLite 32766).
const INSERT_CHUNK: usize = 200;

impl Registry {
    /// Inserts new bars and replaces stored bars of the same dates, in one transaction, then
    /// resolves served predictions that the new bars complete.
    ///
    /// Bars must be finite with positive prices and non-negative volume, and dates must not
    /// repeat; otherwise nothing is stored (`InvalidArgument` naming the date).
    pub async fn upsert_bars(&self, symbol: &str, bars: &[Bar]) -> Result<UpsertStats> {
        check_symbol(symbol)?;
        let mut seen = HashSet::with_capacity(bars.len());
        for b in bars {
            check_bar(b)?;
            if !seen.insert(b.date) {
                return Err(Error::invalid(format!(
                    "duplicate bar date {} for {symbol}: send each date once",
                    b.date
                )));
            }
        }
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx, LockName::Bars).await?;
        let mut stats = UpsertStats::default();
        if let (Some(min), Some(max)) = (
            bars.iter().map(|b| b.date).min(),
            bars.iter().map(|b| b.date).max(),
        ) {
            let q = self.sql("SELECT date FROM bars WHERE symbol = ? AND date >= ? AND date <= ?");
            let existing: HashSet<String> = sqlx::query(&q)
                .bind(symbol)
                .bind(fmt_date(min))
                .bind(fmt_date(max))
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| rows::text(r, 0))
                .collect::<Result<_>>()?;
            let (old, new): (Vec<&Bar>, Vec<&Bar>) = bars
                .iter()
                .partition(|b| existing.contains(&fmt_date(b.date)));
            let update = self.sql(
                "UPDATE bars SET open = ?, high = ?, low = ?, close = ?, volume = ?, amount = ? \
                 WHERE symbol = ? AND date = ?",
            );
            for b in &old {
                sqlx::query(&update)
                    .bind(b.open)
                    .bind(b.high)
                    .bind(b.low)
                    .bind(b.close)
                    .bind(b.volume)
                    .bind(b.amount)
                    .bind(symbol)
                    .bind(fmt_date(b.date))
                    .execute(&mut *tx)
                    .await?;
            }
            for chunk in new.chunks(INSERT_CHUNK) {
                let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
                let q = self.sql(&format!(
                    "INSERT INTO bars (symbol, date, open, high, low, close, volume, amount) \
                     VALUES {values}"
                ));
                let mut query = sqlx::query(&q);
                for b in chunk {
                    query = query
                        .bind(symbol)
                        .bind(fmt_date(b.date))
                        .bind(b.open)
                        .bind(b.high)
                        .bind(b.low)
                        .bind(b.close)
                        .bind(b.volume)
                        .bind(b.amount);
                }
                query.execute(&mut *tx).await?;
            }
            stats.inserted = new.len() as u64;
            stats.updated = old.len() as u64;
            self.resolve_in(&mut tx, symbol).await?;
        }
        let q = self.sql("SELECT COUNT(*) FROM bars WHERE symbol = ?");
        let (total,): (i64,) = sqlx::query_as(&q).bind(symbol).fetch_one(&mut *tx).await?;
        stats.total = total as u64;
        tx.commit().await?;
        Ok(stats)
    }

    /// Bars of `symbol` in ascending date order, `from..=to` when given. Empty when unknown.
    pub async fn bars(
        &self,
        symbol: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<Bar>> {
        check_symbol(symbol)?;
        let mut q = String::from(
            "SELECT date, open, high, low, close, volume, amount FROM bars WHERE symbol = ?",
        );
        if from.is_some() {
            q.push_str(" AND date >= ?");
        }
        if to.is_some() {
            q.push_str(" AND date <= ?");
        }
        q.push_str(" ORDER BY date");
        let q = self.sql(&q);
        let mut query = sqlx::query(&q).bind(symbol);
        if let Some(f) = from {
            query = query.bind(fmt_date(f));
        }
        if let Some(t) = to {
            query = query.bind(fmt_date(t));
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Bar {
                    date: rows::date(r, 0)?,
                    open: rows::float(r, 1)?,
                    high: rows::float(r, 2)?,
                    low: rows::float(r, 3)?,
                    close: rows::float(r, 4)?,
                    volume: rows::float(r, 5)?,
                    amount: rows::opt_float(r, 6)?,
                })
            })
            .collect()
    }

    /// Symbols that have bars, sorted.
    pub async fn symbols(&self) -> Result<Vec<String>> {
        sqlx::query("SELECT DISTINCT symbol FROM bars ORDER BY symbol")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| rows::text(r, 0))
            .collect()
    }
}

fn check_bar(b: &Bar) -> Result<()> {
    let prices = [
        ("open", b.open),
        ("high", b.high),
        ("low", b.low),
        ("close", b.close),
    ];
    for (name, v) in prices {
        if !v.is_finite() || v <= 0.0 {
            return Err(Error::invalid(format!(
                "bar {}: {name} must be a positive finite price, got {v}",
                b.date
            )));
        }
    }
    if !b.volume.is_finite() || b.volume < 0.0 {
        return Err(Error::invalid(format!(
            "bar {}: volume must be finite and >= 0, got {}",
            b.date, b.volume
        )));
    }
    if let Some(a) = b.amount {
        if !a.is_finite() || a < 0.0 {
            return Err(Error::invalid(format!(
                "bar {}: amount must be finite and >= 0, got {a}",
                b.date
            )));
        }
    }
    crate::data::validate::check_plausible(b)
        .map_err(|(field, what)| Error::invalid(format!("bar {}: field {field}: {what}", b.date)))
}
