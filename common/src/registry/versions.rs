//! Model versions, the current pointer per `(symbol, years)`, promotions, retention.
//!
//! A pooled version (SPEC §14.3) is stored once, under its first member's key, with its member
//! symbols in `version_members`; it may be made current for any member's key, and it is listed
//! under every member. Retention counts it under its own key only, and never removes a version
//! that is current for any key.
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::rows::{self, fmt_date, now_ms};
use super::{
    check_id, check_symbol, check_years, unique_as, LockName, NewVersion, Promotion,
    PromotionRecord, Registry, VersionInfo, VersionRecord,
};
use crate::error::{Error, Result};

/// Columns of `model_versions` read into a [`VersionInfo`], plus whether any key's current
/// pointer names it (a pooled version may be current for several keys: a join would repeat it).
const INFO_COLUMNS: &str = "v.version_id, v.symbol, v.years, v.created_at_ms, v.training_seconds, \
     v.data_start, v.data_end, v.model_kind, \
     (SELECT MIN(cc.version_id) FROM current_versions cc WHERE cc.version_id = v.version_id), \
     v.metrics_json, v.weights_sha256, v.weights_bytes, v.note";
const INFO_FROM: &str = "FROM model_versions v";

fn info_from_row(r: &AnyRow) -> Result<VersionInfo> {
    let version_id = rows::text(r, 0)?;
    let metrics_json = rows::text(r, 9)?;
    let metrics: BTreeMap<String, f64> = serde_json::from_str(&metrics_json).map_err(|e| {
        Error::Corrupt(format!(
            "version {version_id}: stored metrics are not JSON: {e}"
        ))
    })?;
    Ok(VersionInfo {
        symbol: rows::text(r, 1)?,
        years: rows::years(r, 2)?,
        created_at: rows::ts(r, 3)?,
        training_seconds: rows::float(r, 4)?,
        data_start: rows::date(r, 5)?,
        data_end: rows::date(r, 6)?,
        model_kind: rows::text(r, 7)?,
        is_current: rows::opt_text(r, 8)?.is_some(),
        metrics,
        weights_sha256: rows::text(r, 10)?,
        weights_bytes: rows::int(r, 11)? as u64,
        note: rows::text(r, 12)?,
        pool_symbols: Vec::new(),
        version_id,
    })
}

/// Checks the member list of a version to store: empty, or at least two distinct valid symbols
/// that include the version's own.
fn check_pool(v: &NewVersion) -> Result<()> {
    if v.pool_symbols.is_empty() {
        return Ok(());
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in &v.pool_symbols {
        check_symbol(s)?;
        if !seen.insert(s.as_str()) {
            return Err(Error::invalid(format!("pool member {s} is listed twice")));
        }
    }
    if seen.len() < 2 || !seen.contains(v.symbol.as_str()) {
        return Err(Error::invalid(format!(
            "a pooled version needs at least two member symbols including its own ({}), got {}",
            v.symbol,
            v.pool_symbols.join(",")
        )));
    }
    Ok(())
}

/// Hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn check_promotion(p: &Promotion) -> Result<()> {
    if p.actor.trim().is_empty() {
        return Err(Error::invalid(
            "promotion actor must not be empty: say who makes the change",
        ));
    }
    Ok(())
}

impl Registry {
    /// Stores a version and, with `promote`, makes it current — one transaction that also
    /// applies retention (keep the newest `max_versions` non-current versions of the key).
    /// A failure at any step stores nothing.
    pub async fn save_version(&self, v: NewVersion, promote: Option<Promotion>) -> Result<VersionInfo> {
        self.save_version_fenced(v, promote, None).await
    }

    /// [`Registry::save_version`] for a training run: with a `fence`, the transaction also checks,
    /// under the leases lock, that the run still holds its symbol's lease; a lease that expired
    /// or was taken over refuses the write (`Aborted`) and nothing is stored.
    pub async fn save_version_fenced(
        &self,
        v: NewVersion,
        promote: Option<Promotion>,
        fence: Option<&super::LeaseFence>,
    ) -> Result<VersionInfo> {
        let promotions = promote.map(|p| vec![(v.symbol.clone(), p)]).unwrap_or_default();
        self.save_pooled_version(v, promotions, fence.map(std::slice::from_ref).unwrap_or_default()).await
    }

    /// Stores a version (pooled or not) and makes it current for each `(member symbol, promotion)`
    /// of `promotions` (same `years`), in one transaction with retention. Every lease of
    /// `fences` must still be held by its run, else `Aborted` and nothing is stored.
    pub async fn save_pooled_version(
        &self,
        v: NewVersion,
        promotions: Vec<(String, Promotion)>,
        fences: &[super::LeaseFence],
    ) -> Result<VersionInfo> {
        check_id("version_id", &v.version_id, 128)?;
        check_symbol(&v.symbol)?;
        check_years(v.years)?;
        if v.model_kind.is_empty() || v.model_kind.len() > 64 {
            return Err(Error::invalid("model_kind must be 1 to 64 characters"));
        }
        if v.data_start > v.data_end {
            return Err(Error::invalid(format!(
                "data_start {} is after data_end {}",
                v.data_start, v.data_end
            )));
        }
        if !v.training_seconds.is_finite() || v.training_seconds < 0.0 {
            return Err(Error::invalid("training_seconds must be finite and >= 0"));
        }
        if let Some((k, x)) = v.metrics.iter().find(|(_, x)| !x.is_finite()) {
            return Err(Error::invalid(format!(
                "metric {k} is {x}: metrics must be finite numbers"
            )));
        }
        if v.weights.is_empty() {
            return Err(Error::invalid(format!(
                "version {} has no weights",
                v.version_id
            )));
        }
        check_pool(&v)?;
        for (member, p) in &promotions {
            check_promotion(p)?;
            if member != &v.symbol && !v.pool_symbols.contains(member) {
                return Err(Error::invalid(format!("version {} does not serve {member}: it cannot become current there", v.version_id)));
            }
        }
        let metrics_json = serde_json::to_string(&v.metrics)?;
        let sha = sha256_hex(&v.weights);
        let created = now_ms();

        let mut tx = self.pool.begin().await?;
        let seq = self.lock(&mut tx, LockName::Versions).await?;
        if !fences.is_empty() {
            // Versions, then leases: no other path takes them the other way round.
            self.lock(&mut tx, LockName::Leases).await?;
        }
        for f in fences {
            let q = self.sql("SELECT holder, expires_at_ms FROM training_leases WHERE symbol = ?");
            let lease = sqlx::query(&q).bind(&f.symbol).fetch_optional(&mut *tx).await?;
            let (holder, expires) = match &lease {
                Some(r) => (rows::text(r, 0)?, rows::int(r, 1)?),
                None => (String::new(), 0),
            };
            if holder != f.holder || expires < now_ms() {
                let who = if holder.is_empty() || holder == f.holder { "nobody holds it now".to_string() } else { format!("run {holder} holds it now") };
                return Err(Error::Aborted(format!(
                    "run {} no longer holds the training lease of {} ({who}): its version {} is not stored",
                    f.holder, f.symbol, v.version_id
                )));
            }
        }
        let q = self.sql(
            "INSERT INTO model_versions (version_id, symbol, years, model_kind, created_at_ms, \
             seq, training_seconds, data_start, data_end, metadata_json, metrics_json, weights, \
             weights_sha256, weights_bytes, note) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(&v.version_id)
            .bind(&v.symbol)
            .bind(v.years as i64)
            .bind(&v.model_kind)
            .bind(created)
            .bind(seq)
            .bind(v.training_seconds)
            .bind(fmt_date(v.data_start))
            .bind(fmt_date(v.data_end))
            .bind(&v.metadata_json)
            .bind(&metrics_json)
            .bind(&v.weights)
            .bind(&sha)
            .bind(v.weights.len() as i64)
            .bind(&v.note)
            .execute(&mut *tx)
            .await
            .map_err(unique_as(|| {
                format!(
                    "version {} already exists: use a new version_id",
                    v.version_id
                )
            }))?;
        let q = self.sql("INSERT INTO version_members (version_id, symbol, years) VALUES (?, ?, ?)");
        for member in &v.pool_symbols {
            sqlx::query(&q).bind(&v.version_id).bind(member).bind(v.years as i64).execute(&mut *tx).await?;
        }
        for (member, p) in &promotions {
            if self.take_injected_promotion_failure() {
                return Err(Error::Internal(format!(
                    "injected failure while promoting {} (test hook)",
                    v.version_id
                )));
            }
            self.promote_in(&mut tx, member, v.years, &v.version_id, &p.actor, &p.reason).await?;
        }
        self.retain_in(&mut tx, &v.symbol, v.years).await?;
        for (member, _) in promotions.iter().filter(|(m, _)| m != &v.symbol) {
            self.retain_in(&mut tx, member, v.years).await?;
        }
        let q = self.sql(&format!(
            "SELECT {INFO_COLUMNS} {INFO_FROM} WHERE v.version_id = ?"
        ));
        let row = sqlx::query(&q)
            .bind(&v.version_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut info = info_from_row(&row)?;
        info.pool_symbols = v.pool_symbols.clone();
        tx.commit().await?;
        Ok(info)
    }

    /// Metadata and weights of a version, after checking the weights' sha256
    /// (`Corrupt` on mismatch — the bytes are never returned then).
    pub async fn version(&self, version_id: &str) -> Result<VersionRecord> {
        let q = self.sql(&format!(
            "SELECT {INFO_COLUMNS}, v.metadata_json, v.weights {INFO_FROM} WHERE v.version_id = ?"
        ));
        let row = sqlx::query(&q)
            .bind(version_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| version_not_found(version_id))?;
        let mut info = info_from_row(&row)?;
        info.pool_symbols = self.members_of(&self.pool, version_id).await?;
        let metadata_json = rows::text(&row, 13)?;
        let weights = rows::blob(&row, 14)?;
        let actual = sha256_hex(&weights);
        if actual != info.weights_sha256 || weights.len() as u64 != info.weights_bytes {
            return Err(Error::Corrupt(format!(
                "version {version_id}: weights sha256 mismatch (stored {}, computed {actual}, \
                 {} bytes); the blob was altered — make another version current or retrain",
                info.weights_sha256,
                weights.len()
            )));
        }
        Ok(VersionRecord {
            info,
            metadata_json,
            weights,
        })
    }

    /// Metadata of a version, without the weights.
    pub async fn version_info(&self, version_id: &str) -> Result<VersionInfo> {
        let q = self.sql(&format!(
            "SELECT {INFO_COLUMNS} {INFO_FROM} WHERE v.version_id = ?"
        ));
        let row = sqlx::query(&q)
            .bind(version_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| version_not_found(version_id))?;
        let mut info = info_from_row(&row)?;
        info.pool_symbols = self.members_of(&self.pool, version_id).await?;
        Ok(info)
    }

    /// Versions, newest first, optionally of one symbol (pooled versions it is a member of
    /// included; `is_current` then means current for that symbol's key) and/or one `years`.
    pub async fn list_versions(
        &self,
        symbol: Option<&str>,
        years: Option<u32>,
    ) -> Result<Vec<VersionInfo>> {
        let mut q = format!("SELECT {INFO_COLUMNS} {INFO_FROM} WHERE 1 = 1");
        if symbol.is_some() {
            q.push_str(
                " AND (v.symbol = ? OR v.version_id IN \
                 (SELECT m.version_id FROM version_members m WHERE m.symbol = ?))",
            );
        }
        if years.is_some() {
            q.push_str(" AND v.years = ?");
        }
        q.push_str(" ORDER BY v.seq DESC");
        let q = self.sql(&q);
        let mut query = sqlx::query(&q);
        if let Some(s) = symbol {
            query = query.bind(s).bind(s);
        }
        if let Some(y) = years {
            query = query.bind(y as i64);
        }
        let mut infos: Vec<VersionInfo> =
            query.fetch_all(&self.pool).await?.iter().map(info_from_row).collect::<Result<_>>()?;
        self.fill_members(&mut infos).await?;
        if let Some(s) = symbol {
            // Listed for one symbol: "current" means current for that symbol's key (a pooled
            // version may be current for another member only).
            let q = self.sql("SELECT years, version_id FROM current_versions WHERE symbol = ?");
            let current: Vec<(u32, String)> = sqlx::query(&q)
                .bind(s)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((rows::years(r, 0)?, rows::text(r, 1)?)))
                .collect::<Result<_>>()?;
            for info in &mut infos {
                info.is_current = current.iter().any(|(y, id)| *y == info.years && *id == info.version_id);
            }
        }
        Ok(infos)
    }

    /// Member symbols of `version_id` (empty for a single-symbol version), sorted.
    async fn members_of<'c, E>(&self, conn: E, version_id: &str) -> Result<Vec<String>>
    where
        E: sqlx::Executor<'c, Database = sqlx::Any>,
    {
        let q = self.sql("SELECT symbol FROM version_members WHERE version_id = ? ORDER BY symbol");
        sqlx::query(&q).bind(version_id).fetch_all(conn).await?.iter().map(|r| rows::text(r, 0)).collect()
    }

    /// Fills `pool_symbols` of the pooled versions among `infos` (one query; pooled versions are
    /// few, bounded by retention).
    async fn fill_members(&self, infos: &mut [VersionInfo]) -> Result<()> {
        let rows = sqlx::query("SELECT version_id, symbol FROM version_members ORDER BY version_id, symbol")
            .fetch_all(&self.pool)
            .await?;
        let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &rows {
            members.entry(rows::text(r, 0)?).or_default().push(rows::text(r, 1)?);
        }
        for info in infos.iter_mut() {
            if let Some(m) = members.get(&info.version_id) {
                info.pool_symbols = m.clone();
            }
        }
        Ok(())
    }

    /// The current version of a key, if any (a pooled version it is a member of, possibly).
    pub async fn current_version(&self, symbol: &str, years: u32) -> Result<Option<VersionInfo>> {
        let q = self.sql(&format!(
            "SELECT {INFO_COLUMNS} FROM current_versions c JOIN model_versions v \
             ON v.version_id = c.version_id WHERE c.symbol = ? AND c.years = ?"
        ));
        let row = sqlx::query(&q).bind(symbol).bind(years as i64).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let mut info = info_from_row(&row)?;
        info.pool_symbols = self.members_of(&self.pool, &info.version_id).await?;
        Ok(Some(info))
    }

    /// Makes `version_id` current for `(symbol, years)` — a promotion, or a rollback when it is
    /// older — in one transaction with a history row and a change-counter bump.
    pub async fn set_current(
        &self,
        symbol: &str,
        years: u32,
        version_id: &str,
        actor: &str,
        reason: &str,
    ) -> Result<PromotionRecord> {
        check_symbol(symbol)?;
        check_years(years)?;
        check_promotion(&Promotion {
            actor: actor.into(),
            reason: reason.into(),
        })?;
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx, LockName::Versions).await?;
        let rec = self
            .promote_in(&mut tx, symbol, years, version_id, actor, reason)
            .await?;
        self.retain_in(&mut tx, symbol, years).await?;
        tx.commit().await?;
        Ok(rec)
    }

    /// Deletes a non-current version. Deleting the current one is `FailedPrecondition`.
    pub async fn delete_version(&self, version_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.lock(&mut tx, LockName::Versions).await?;
        let q = self.sql("SELECT symbol, years FROM current_versions WHERE version_id = ?");
        if let Some(r) = sqlx::query(&q)
            .bind(version_id)
            .fetch_optional(&mut *tx)
            .await?
        {
            let (sym, y) = (rows::text(&r, 0)?, rows::years(&r, 1)?);
            return Err(Error::FailedPrecondition(format!(
                "version {version_id} is current for {sym}/{y}y; make another version current \
                 first (SetCurrentVersion) and then delete it"
            )));
        }
        let q = self.sql("DELETE FROM version_members WHERE version_id = ?");
        sqlx::query(&q).bind(version_id).execute(&mut *tx).await?;
        let q = self.sql("DELETE FROM model_versions WHERE version_id = ?");
        let done = sqlx::query(&q).bind(version_id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(version_not_found(version_id));
        }
        self.bump_counter(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Promotions and rollbacks of a key, oldest first.
    pub async fn promotion_history(
        &self,
        symbol: &str,
        years: u32,
    ) -> Result<Vec<PromotionRecord>> {
        let q = self.sql(
            "SELECT symbol, years, from_version, to_version, actor, reason, at_ms \
             FROM promotion_history WHERE symbol = ? AND years = ? ORDER BY id",
        );
        sqlx::query(&q)
            .bind(symbol)
            .bind(years as i64)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(PromotionRecord {
                    symbol: rows::text(r, 0)?,
                    years: rows::years(r, 1)?,
                    from_version: rows::opt_text(r, 2)?,
                    to_version: rows::text(r, 3)?,
                    actor: rows::text(r, 4)?,
                    reason: rows::text(r, 5)?,
                    at: rows::ts(r, 6)?,
                })
            })
            .collect()
    }

    /// `(symbol, years, version_id)` of every key with a current version, sorted by key.
    pub async fn current_versions(&self) -> Result<Vec<(String, u32, String)>> {
        sqlx::query("SELECT symbol, years, version_id FROM current_versions ORDER BY symbol, years")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((rows::text(r, 0)?, rows::years(r, 1)?, rows::text(r, 2)?)))
            .collect()
    }

    /// Test hook: flips one byte of a stored weights blob (without touching its sha256), to
    /// prove that [`Registry::version`] refuses corrupt weights.
    #[doc(hidden)]
    pub async fn __corrupt_weights_for_test(&self, version_id: &str) -> Result<()> {
        let q = self.sql("SELECT weights FROM model_versions WHERE version_id = ?");
        let row = sqlx::query(&q)
            .bind(version_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| version_not_found(version_id))?;
        let mut w = rows::blob(&row, 0)?;
        if let Some(b) = w.first_mut() {
            *b ^= 0xFF;
        }
        let q = self.sql("UPDATE model_versions SET weights = ? WHERE version_id = ?");
        sqlx::query(&q)
            .bind(w)
            .bind(version_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Points `(symbol, years)` at `version_id` inside the caller's locked transaction.
    async fn promote_in(
        &self,
        conn: &mut AnyConnection,
        symbol: &str,
        years: u32,
        version_id: &str,
        actor: &str,
        reason: &str,
    ) -> Result<PromotionRecord> {
        let q = self.sql("SELECT symbol, years FROM model_versions WHERE version_id = ?");
        let row = sqlx::query(&q)
            .bind(version_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| version_not_found(version_id))?;
        let (vs, vy) = (rows::text(&row, 0)?, rows::years(&row, 1)?);
        let member = vy == years && (vs == symbol || self.members_of(&mut *conn, version_id).await?.iter().any(|m| m == symbol));
        if !member {
            return Err(Error::invalid(format!(
                "version {version_id} belongs to {vs}/{vy}y, not {symbol}/{years}y: pick a \
                 version of {symbol}/{years}y (ListVersions)"
            )));
        }
        let at = now_ms();
        let q = self.sql("SELECT version_id FROM current_versions WHERE symbol = ? AND years = ?");
        let from = match sqlx::query(&q)
            .bind(symbol)
            .bind(years as i64)
            .fetch_optional(&mut *conn)
            .await?
        {
            Some(r) => Some(rows::text(&r, 0)?),
            None => None,
        };
        if from.is_some() {
            let q = self.sql(
                "UPDATE current_versions SET version_id = ?, updated_at_ms = ? \
                 WHERE symbol = ? AND years = ?",
            );
            sqlx::query(&q)
                .bind(version_id)
                .bind(at)
                .bind(symbol)
                .bind(years as i64)
                .execute(&mut *conn)
                .await?;
        } else {
            let q = self.sql(
                "INSERT INTO current_versions (symbol, years, version_id, updated_at_ms) \
                 VALUES (?, ?, ?, ?)",
            );
            sqlx::query(&q)
                .bind(symbol)
                .bind(years as i64)
                .bind(version_id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
        }
        let q = self.sql(
            "INSERT INTO promotion_history (symbol, years, from_version, to_version, actor, \
             reason, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(symbol)
            .bind(years as i64)
            .bind(from.clone())
            .bind(version_id)
            .bind(actor)
            .bind(reason)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        self.bump_counter(conn).await?;
        Ok(PromotionRecord {
            symbol: symbol.to_string(),
            years,
            from_version: from,
            to_version: version_id.to_string(),
            actor: actor.to_string(),
            reason: reason.to_string(),
            at: rows::from_ms(at)?,
        })
    }

    /// Deletes non-current versions of a key beyond the newest `max_versions`.
    async fn retain_in(&self, conn: &mut AnyConnection, symbol: &str, years: u32) -> Result<()> {
        let q = self.sql(
            "SELECT v.version_id FROM model_versions v LEFT JOIN current_versions c \
             ON c.version_id = v.version_id \
             WHERE v.symbol = ? AND v.years = ? AND c.version_id IS NULL ORDER BY v.seq DESC",
        );
        let stale: Vec<String> = sqlx::query(&q)
            .bind(symbol)
            .bind(years as i64)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .skip(self.max_versions)
            .map(|r| rows::text(r, 0))
            .collect::<Result<_>>()?;
        if stale.is_empty() {
            return Ok(());
        }
        let members = self.sql("DELETE FROM version_members WHERE version_id = ?");
        let q = self.sql("DELETE FROM model_versions WHERE version_id = ?");
        for id in &stale {
            sqlx::query(&members).bind(id).execute(&mut *conn).await?;
            sqlx::query(&q).bind(id).execute(&mut *conn).await?;
        }
        tracing::info!(symbol, years, removed = ?stale, "retention removed old versions");
        self.bump_counter(conn).await?;
        Ok(())
    }
}

fn version_not_found(version_id: &str) -> Error {
    Error::not_found(format!(
        "model version '{}' not found; list them with ListVersions",
        crate::text::clip(version_id)
    ))
}
