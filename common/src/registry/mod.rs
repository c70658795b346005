//! The model registry (SPEC §7): bars, model versions and the current pointer per
//! `(symbol, years)`, promotion history, training runs with events and plots, failures, served
//! predictions and per-symbol training leases — in SQLite, PostgreSQL or MySQL/MariaDB.
//!
//! One API over the three backends: the registry talks to an [`sqlx::AnyPool`] and writes
//! portable SQL with `?` placeholders (rewritten to `$n` for PostgreSQL). Dates are stored as
//! `YYYY-MM-DD` text, timestamps as UTC epoch milliseconds (`BIGINT`), blobs as
//! `BLOB`/`BYTEA`/`LONGBLOB`. The schema comes from per-backend migrations
//! (`common/migrations/{sqlite,postgres,mysql}`) run on connect.
//!
//! Every multi-statement write starts by updating a row of `registry_locks`. That first write
//! serialises the transaction against others of its kind on every backend (a row lock in
//! PostgreSQL and InnoDB, the database write lock in SQLite, waited for via `busy_timeout`), so
//! read-then-write logic such as promotions, retention and lease acquisition is atomic across
//! processes and replicas. See `docs/registry.md`.
//!
//! No SQL exists outside this module.
mod abandoned;
mod bars;
mod cancel_requests;
mod health;
mod leases;
mod migrations;
mod predictions;
mod rows;
mod runs;
mod types;
mod versions;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyConnection;
use sqlx::{AnyPool, Executor};

use crate::error::{Error, Result};

pub use types::{
    Backend, FailureRecord, LeaseAttempt, NewPrediction, NewRun, NewVersion, Promotion,
    LeaseFence, PromotionRecord, RunRecord, RunStatus, UpsertStats, VersionInfo, VersionRecord,
};

/// Default number of non-current versions kept per `(symbol, years)` (SPEC §7 `MAX_VERSIONS`).
pub const DEFAULT_MAX_VERSIONS: usize = 1;

/// How to open a [`Registry`].
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Non-current versions kept per `(symbol, years)` besides the current one.
    pub max_versions: usize,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long to wait for a connection (also the connect timeout, for every backend) before
    /// `Unavailable`. A refused connection is retried with backoff within this time.
    pub acquire_timeout: Duration,
    /// SQLite `busy_timeout`: how long a writer waits for another process's write lock.
    pub sqlite_busy_timeout: Duration,
    /// Deadline of one call wrapped in [`Registry::bounded`] (the predictor's request path, the
    /// trainer's run path): a database that accepts connections but never answers is
    /// `Unavailable` after this long instead of hanging. `None` = no deadline. On PostgreSQL it
    /// also sets `idle_in_transaction_session_timeout` to half of it, so a client partitioned away
    /// mid-transaction cannot hold its locks for longer.
    pub query_timeout: Option<Duration>,
}

impl RegistryOptions {
    /// Options for a request path that must fail fast: connect/acquire and every bounded call
    /// give up after `timeout` (the predictor uses 1 s).
    pub fn fail_fast(timeout: Duration) -> RegistryOptions {
        RegistryOptions {
            acquire_timeout: timeout,
            query_timeout: Some(timeout),
            ..RegistryOptions::default()
        }
    }
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            max_versions: DEFAULT_MAX_VERSIONS,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(10),
            query_timeout: None,
        }
    }
}

/// Handle on the registry database. Cheap to clone (the pool is shared); `Send + Sync`.
#[derive(Clone)]
pub struct Registry {
    pool: AnyPool,
    backend: Backend,
    max_versions: usize,
    query_timeout: Option<Duration>,
    /// The database file of a file-backed SQLite registry (health checks its filesystem).
    sqlite_file: Option<Arc<PathBuf>>,
    fail_next_promotion: Arc<AtomicBool>,
}

/// The registry's change counters, read together by [`Registry::generations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generations {
    /// Moves on every change of a current pointer and every deletion of versions.
    pub versions: i64,
    /// Moves on every write transaction on bars (ingest; also prediction resolution).
    pub bars: i64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("backend", &self.backend)
            .field("max_versions", &self.max_versions)
            .finish_non_exhaustive()
    }
}

/// Names of the rows in `registry_locks` that serialise writers of one kind.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LockName {
    Bars,
    Versions,
    Leases,
    Runs,
}

impl LockName {
    fn as_str(self) -> &'static str {
        match self {
            LockName::Bars => "bars",
            LockName::Versions => "versions",
            LockName::Leases => "leases",
            LockName::Runs => "runs",
        }
    }
}

/// Keeps a SQLite connection only if it comes back to the pool outside any transaction. A
/// write that failed mid-transaction — SQLITE_FULL on a full disk, an I/O error — can leave the
/// connection inside its transaction when the automatic rollback fails too (found by the
/// full-disk fault test: every later write then waited out `busy_timeout` and failed "database
/// is locked", even after space was freed). `ROLLBACK` ends such a transaction; a connection
/// that cannot even roll back is closed, which releases its locks.
async fn release_sqlite_connection(conn: &mut sqlx::AnyConnection) -> std::result::Result<bool, sqlx::Error> {
    match conn.execute("ROLLBACK").await {
        Ok(_) => {
            tracing::warn!("a registry connection came back inside a transaction (after a failed write); rolled back");
            Ok(true)
        }
        Err(e) if e.to_string().contains("no transaction is active") => Ok(true),
        Err(e) => {
            tracing::warn!(error = %e, "closing a registry connection stuck in a transaction");
            Ok(false)
        }
    }
}

impl Registry {
    /// Opens the registry at `url` with default options and brings its schema up to date.
    ///
    /// `sqlite://PATH` creates the file and its parent directory when missing. A malformed or
    /// unsupported URL is `InvalidArgument`; a database that cannot be reached is `Unavailable`.
    pub async fn connect(url: &str) -> Result<Registry> {
        Self::connect_with(url, RegistryOptions::default()).await
    }

    /// [`Registry::connect`] with explicit options.
    pub async fn connect_with(url: &str, opts: RegistryOptions) -> Result<Registry> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let shown = types::redact_url(url);
        let mut url = url.to_string();
        let mut max_connections = opts.max_connections.max(1);
        let mut sqlite_file = None;
        if backend == Backend::Sqlite {
            let (u, file) = prepare_sqlite_url(&url)?;
            url = u;
            if file.is_none() {
                // Every connection to `:memory:` is its own database: keep exactly one.
                max_connections = 1;
            }
            sqlite_file = file;
        }
        let busy_ms = opts.sqlite_busy_timeout.as_millis();
        let mut pool_opts = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(opts.acquire_timeout);
        if let (Backend::Postgres, Some(limit)) = (backend, opts.query_timeout) {
            // A client cut off mid-transaction (a partition) would hold its row locks (the
            // `leases` lock among them) until the server notices the dead connection, hours
            // later: the server ends such a transaction after half the client's own deadline,
            // so a waiting replica's bounded call gets the lock in time.
            let idle_ms = (limit.as_millis() / 2).max(100);
            pool_opts = pool_opts.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    let set = format!("SET idle_in_transaction_session_timeout = {idle_ms}");
                    conn.execute(set.as_str()).await?;
                    Ok(())
                })
            });
        }
        if backend == Backend::Sqlite {
            pool_opts = pool_opts.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute(format!("PRAGMA busy_timeout = {busy_ms}").as_str())
                        .await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            });
            pool_opts = pool_opts.after_release(|conn, _meta| Box::pin(release_sqlite_connection(conn)));
        }
        let pool = pool_opts
            .connect(&url)
            .await
            .map_err(|e| connect_error(&shown, e))?;
        let migrator = migrations::migrator(backend).await?;
        migrator.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => connect_error(&shown, inner),
            other => Error::Internal(format!(
                "registry migrations failed on {shown}: {other}; the database schema was changed \
                 outside this program or by a newer build"
            )),
        })?;
        tracing::debug!(backend = %backend, url = %shown, "registry connected");
        Ok(Registry {
            pool,
            backend,
            max_versions: opts.max_versions,
            query_timeout: opts.query_timeout,
            sqlite_file: sqlite_file.map(Arc::new),
            fail_next_promotion: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Which database this registry uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Non-current versions kept per `(symbol, years)`.
    pub fn max_versions(&self) -> usize {
        self.max_versions
    }

    /// The same registry with a different retention (`MAX_VERSIONS`).
    pub fn with_max_versions(mut self, max_versions: usize) -> Registry {
        self.max_versions = max_versions;
        self
    }

    /// Checks the database answers (health checks); bounded like [`Registry::bounded`].
    pub async fn ping(&self) -> Result<()> {
        self.bounded("a ping", async {
            sqlx::query("SELECT 1")
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(|e| Error::Unavailable(format!("registry ping failed: {e}")))
        })
        .await
    }

    /// Runs `call` under the registry's query deadline ([`RegistryOptions::query_timeout`]):
    /// past it the call is dropped (its connection is closed, not reused) and the answer is
    /// `Unavailable` naming `what`. Without a deadline it simply runs `call`.
    pub async fn bounded<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let Some(limit) = self.query_timeout else { return call.await };
        match tokio::time::timeout(limit, call).await {
            Ok(r) => r,
            Err(_) => Err(Error::Unavailable(format!(
                "the registry did not answer {what} within {} ms; the database is unreachable \
                 or overloaded, retry later",
                limit.as_millis()
            ))),
        }
    }

    /// Closes the pool; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Increases on every change of a current pointer (promotion, rollback) and every deletion
    /// of versions. A single-row read, cheap enough to poll every few hundred milliseconds.
    pub async fn change_counter(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT change_counter FROM registry_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Both change counters in one read: the versions counter of [`Registry::change_counter`]
    /// and the bars writer-lock counter (bumped by every bars write transaction). Pollers use
    /// the second to refresh bars they hold in memory.
    pub async fn generations(&self) -> Result<Generations> {
        let (versions, bars): (i64, i64) = sqlx::query_as(
            "SELECT s.change_counter, l.bumps FROM registry_state s, registry_locks l \
             WHERE s.id = 1 AND l.name = 'bars'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Generations { versions, bars })
    }

    /// Rewrites `?` placeholders for the backend (`$1, $2, …` on PostgreSQL).
    pub(crate) fn sql(&self, q: &str) -> String {
        match self.backend {
            Backend::Postgres => numbered_placeholders(q),
            Backend::Sqlite | Backend::MySql => q.to_string(),
        }
    }

    /// Takes the writer lock `name` inside a transaction (must be its first statement).
    pub(crate) async fn lock(&self, conn: &mut AnyConnection, name: LockName) -> Result<i64> {
        let q = self.sql("UPDATE registry_locks SET bumps = bumps + 1 WHERE name = ?");
        sqlx::query(&q)
            .bind(name.as_str())
            .execute(&mut *conn)
            .await?;
        let q = self.sql("SELECT bumps FROM registry_locks WHERE name = ?");
        let (n,): (i64,) = sqlx::query_as(&q)
            .bind(name.as_str())
            .fetch_one(&mut *conn)
            .await?;
        Ok(n)
    }

    /// Bumps the change counter inside the caller's transaction.
    pub(crate) async fn bump_counter(&self, conn: &mut AnyConnection) -> Result<()> {
        sqlx::query("UPDATE registry_state SET change_counter = change_counter + 1 WHERE id = 1")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Test hook: makes the promotion step of the next `save_version(.., Some(_))` fail after the
    /// version row was written, to prove the transaction leaves nothing behind.
    #[doc(hidden)]
    pub fn __fail_next_promotion_for_test(&self) {
        self.fail_next_promotion.store(true, Ordering::SeqCst);
    }

    pub(crate) fn take_injected_promotion_failure(&self) -> bool {
        self.fail_next_promotion.swap(false, Ordering::SeqCst)
    }
}

/// Turns `sqlite://path` into a URL that creates the file, creating the parent directory too;
/// also returns the file's path (`None` for an in-memory database).
fn prepare_sqlite_url(url: &str) -> Result<(String, Option<PathBuf>)> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let in_memory = path.is_empty()
        || path == ":memory:"
        || query.is_some_and(|q| q.split('&').any(|kv| kv == "mode=memory"));
    if path.is_empty() && !in_memory {
        return Err(Error::invalid(
            "sqlite URL has no path: use sqlite://data/registry.db",
        ));
    }
    if in_memory {
        return Ok((url.to_string(), None));
    }
    if let Some(parent) = Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::Unavailable(format!(
                    "cannot create directory {} for the SQLite registry: {e}",
                    parent.display()
                ))
            })?;
        }
    }
    let has_mode = query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("mode=")));
    let url = match (query, has_mode) {
        (_, true) => url.to_string(),
        (Some(_), false) => format!("{url}&mode=rwc"),
        (None, false) => format!("{url}?mode=rwc"),
    };
    Ok((url, Some(PathBuf::from(path))))
}

fn connect_error(shown_url: &str, e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Configuration(msg) => {
            Error::invalid(format!("bad database URL '{shown_url}': {msg}"))
        }
        other => Error::Unavailable(format!(
            "cannot open the registry at {shown_url}: {other}; check DATABASE_URL and that the \
             database server is running"
        )),
    }
}

/// `?` → `$1, $2, …`, leaving quoted text alone.
fn numbered_placeholders(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 16);
    let mut n = 0;
    let mut quote: Option<char> = None;
    for c in q.chars() {
        match (quote, c) {
            (Some(open), c) if c == open => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'') | (None, '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            (None, c) => out.push(c),
        }
    }
    out
}

/// The key rules of [`crate::key`], checked on the exact string the registry is given.
pub(crate) use crate::key::{check_symbol, check_years};

/// Checks an id (version, run, holder) is non-empty and short enough for every backend.
pub(crate) fn check_id(what: &str, id: &str, max: usize) -> Result<()> {
    if id.is_empty() || id.len() > max {
        return Err(Error::invalid(format!(
            "{what} must be 1 to {max} characters, got {} characters",
            id.len()
        )));
    }
    Ok(())
}

/// Maps a unique-key violation to `InvalidArgument(msg)`, other errors as usual.
pub(crate) fn unique_as(msg: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::invalid(msg()),
        _ => Error::from(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2"
        );
    }

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("mysql://root@h/db").unwrap(),
            Backend::MySql
        );
        let err = Backend::from_url("redis://u:secret@h").unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn sqlite_url_gets_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/a/b/reg.db", dir.path().display());
        let (u, file) = prepare_sqlite_url(&url).unwrap();
        assert_eq!(file.unwrap(), dir.path().join("a/b/reg.db"));
        assert!(u.ends_with("?mode=rwc"));
        assert!(dir.path().join("a/b").is_dir());
        assert!(prepare_sqlite_url("sqlite::memory:").unwrap().1.is_none());
    }
}
