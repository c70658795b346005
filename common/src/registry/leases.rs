//! Per-symbol training leases with expiry and a FIFO queue of waiting holders.
//!
//! A lease row `(symbol, holder, expires_at_ms)` says who may train a symbol. Holders that cannot
//! get it are queued with a ticket; a queue entry carries its own expiry, refreshed each time the
//! waiter calls [`Registry::try_acquire_lease`] again (its heartbeat), and is dropped when stale.
//! When the lease is free or expired, only the oldest live queue entry (or anyone, when the queue
//! is empty) may take it. Every step runs in one transaction serialised by the `leases` lock
//! row, so it is atomic across processes on all three backends. Expiry uses the callers' clocks
//! (UTC epoch ms); keep replicas NTP-synchronised and TTLs well above clock skew.
use std::time::Duration;

use sqlx::AnyConnection;

use super::rows::{self, now_ms};
use super::{check_id, check_symbol, LeaseAttempt, LockName, Registry};
use crate::error::{Error, Result};

fn ttl_ms(ttl: Duration) -> Result<i64> {
    let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    if ms <= 0 {
        return Err(Error::invalid("lease ttl must be at least 1 ms"));
    }
    Ok(ms.min(365 * 24 * 3600 * 1000))
}

impl Registry {
    /// Tries to take the training lease of `symbol` for `ttl`.
    ///
    /// `Acquired` when it was free (or expired) and nobody is ahead in the queue, or when
    /// `holder` already holds it (the expiry is extended). Otherwise the caller is queued (or its
    /// queue entry refreshed for another `ttl`) and gets `Waiting { position, holder }`; call
    /// again to keep the place, and [`Registry::leave_lease_queue`] to give it up.
    pub async fn try_acquire_lease(
        &self,
        symbol: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseAttempt> {
        check_symbol(symbol)?;
        check_id("lease holder", holder, 255)?;
        let ttl = ttl_ms(ttl)?;
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx, LockName::Leases).await?;
        let now = now_ms();
        let q = self.sql("DELETE FROM lease_queue WHERE symbol = ? AND expires_at_ms < ?");
        sqlx::query(&q)
            .bind(symbol)
            .bind(now)
            .execute(&mut *tx)
            .await?;

        let q = self.sql("SELECT holder, expires_at_ms FROM training_leases WHERE symbol = ?");
        let lease = match sqlx::query(&q)
            .bind(symbol)
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(r) => Some((rows::text(&r, 0)?, rows::int(&r, 1)?)),
            None => None,
        };
        let q = self.sql("SELECT holder FROM lease_queue WHERE symbol = ? ORDER BY ticket");
        let queue: Vec<String> = sqlx::query(&q)
            .bind(symbol)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| rows::text(r, 0))
            .collect::<Result<_>>()?;

        let outcome = match &lease {
            Some((h, exp)) if h == holder && *exp >= now => {
                let q = self.sql(
                    "UPDATE training_leases SET expires_at_ms = ? WHERE symbol = ? AND holder = ?",
                );
                sqlx::query(&q)
                    .bind(now + ttl)
                    .bind(symbol)
                    .bind(holder)
                    .execute(&mut *tx)
                    .await?;
                LeaseAttempt::Acquired
            }
            Some((h, exp)) if *exp >= now => {
                let position = self
                    .enqueue(&mut tx, symbol, holder, &queue, now, ttl)
                    .await?;
                LeaseAttempt::Waiting {
                    position,
                    holder: h.clone(),
                }
            }
            _ => match queue.first() {
                Some(head) if head != holder => {
                    let position = self
                        .enqueue(&mut tx, symbol, holder, &queue, now, ttl)
                        .await?;
                    LeaseAttempt::Waiting {
                        position,
                        holder: head.clone(),
                    }
                }
                _ => {
                    if let Some((old, _)) = &lease {
                        tracing::info!(symbol, expired_holder = %old, new_holder = holder,
                            "training lease expired; taking it over");
                    }
                    let q = self.sql("DELETE FROM training_leases WHERE symbol = ?");
                    sqlx::query(&q).bind(symbol).execute(&mut *tx).await?;
                    let q = self.sql(
                        "INSERT INTO training_leases (symbol, holder, acquired_at_ms, \
                         expires_at_ms) VALUES (?, ?, ?, ?)",
                    );
                    sqlx::query(&q)
                        .bind(symbol)
                        .bind(holder)
                        .bind(now)
                        .bind(now + ttl)
                        .execute(&mut *tx)
                        .await?;
                    let q = self.sql("DELETE FROM lease_queue WHERE symbol = ? AND holder = ?");
                    sqlx::query(&q)
                        .bind(symbol)
                        .bind(holder)
                        .execute(&mut *tx)
                        .await?;
                    LeaseAttempt::Acquired
                }
            },
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Extends a lease the caller still holds; `false` when it expired or someone else has it.
    pub async fn renew_lease(&self, symbol: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let ttl = ttl_ms(ttl)?;
        let now = now_ms();
        let q = self.sql(
            "UPDATE training_leases SET expires_at_ms = ? \
             WHERE symbol = ? AND holder = ? AND expires_at_ms >= ?",
        );
        let done = sqlx::query(&q)
            .bind(now + ttl)
            .bind(symbol)
            .bind(holder)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives the lease back (if `holder` has it) and leaves the queue.
    pub async fn release_lease(&self, symbol: &str, holder: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx, LockName::Leases).await?;
        let q = self.sql("DELETE FROM training_leases WHERE symbol = ? AND holder = ?");
        sqlx::query(&q)
            .bind(symbol)
            .bind(holder)
            .execute(&mut *tx)
            .await?;
        let q = self.sql("DELETE FROM lease_queue WHERE symbol = ? AND holder = ?");
        sqlx::query(&q)
            .bind(symbol)
            .bind(holder)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Leaves the queue of `symbol` (e.g. the waiter gave up or was cancelled).
    pub async fn leave_lease_queue(&self, symbol: &str, holder: &str) -> Result<()> {
        let q = self.sql("DELETE FROM lease_queue WHERE symbol = ? AND holder = ?");
        sqlx::query(&q)
            .bind(symbol)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Queues `holder` (or refreshes its entry) and returns its 1-based position.
    async fn enqueue(
        &self,
        conn: &mut AnyConnection,
        symbol: &str,
        holder: &str,
        queue: &[String],
        now: i64,
        ttl: i64,
    ) -> Result<u32> {
        if let Some(i) = queue.iter().position(|h| h == holder) {
            let q = self
                .sql("UPDATE lease_queue SET expires_at_ms = ? WHERE symbol = ? AND holder = ?");
            sqlx::query(&q)
                .bind(now + ttl)
                .bind(symbol)
                .bind(holder)
                .execute(&mut *conn)
                .await?;
            return Ok(i as u32 + 1);
        }
        let q = self.sql("SELECT MAX(ticket) FROM lease_queue WHERE symbol = ?");
        let last: Option<i64> = sqlx::query(&q)
            .bind(symbol)
            .fetch_one(&mut *conn)
            .await
            .map(|r| rows::opt_int(&r, 0))??;
        let q = self.sql(
            "INSERT INTO lease_queue (symbol, holder, ticket, enqueued_at_ms, expires_at_ms) \
             VALUES (?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(symbol)
            .bind(holder)
            .bind(last.unwrap_or(0) + 1)
            .bind(now)
            .bind(now + ttl)
            .execute(&mut *conn)
            .await?;
        Ok(queue.len() as u32 + 1)
    }
}
