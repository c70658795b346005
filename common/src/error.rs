//! The one error type of the core, and its single mapping onto gRPC status codes (SPEC §9).
//!
//! Every message says what was wrong and, where it helps, what the caller can do about it.

/// Result alias used across the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core, classified by what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field or an input file is malformed (bad symbol, years, date, CSV row, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// The symbol, version, run or model asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Fewer bars than a sample needs.
    #[error("insufficient data: need at least {need} trading days, got {got}")]
    InsufficientData {
        /// Bars required.
        need: usize,
        /// Bars available.
        got: usize,
    },
    /// The system is not in a state that allows the operation (e.g. no current model for
    /// incremental training, deleting the current version).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Waiting for a per-symbol training lease timed out.
    #[error("{0}")]
    LeaseTimeout(String),
    /// The operation lost a race it cannot win by waiting (e.g. a training run whose symbol
    /// lease was lost to another replica); retry it as a new operation.
    #[error("aborted: {0}")]
    Aborted(String),
    /// The registry database cannot be reached.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    /// The registry's storage is out of space (SQLite "database or disk is full", PostgreSQL
    /// `53100 disk_full`, MySQL "table is full" / "disk full", `ENOSPC`). Nothing was half
    /// written (the write's transaction rolled back); free space, then retry.
    #[error("registry storage is full: {0}; free space on the database's disk (or raise its quota), then retry")]
    StorageFull(String),
    /// Stored data failed verification (sha256 mismatch, unreadable weights).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The RPC needs a bearer token and the request has none, a malformed one or a wrong one.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller cancelled the operation or went away.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// A bug or an unexpected failure of a dependency (libtorch, filesystem, ...).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(msg: impl Into<String>) -> Self {
        Error::NotFound(msg.into())
    }
    /// Shorthand for [`Error::Internal`].
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Error::Internal(msg.to_string())
    }
    /// The gRPC status code this error maps to.
    pub fn code(&self) -> tonic::Code {
        // Exhaustive on purpose: a new variant must decide its status code here.
        match self {
            Error::InvalidArgument(_) => tonic::Code::InvalidArgument,
            Error::NotFound(_) => tonic::Code::NotFound,
            Error::InsufficientData { .. } => tonic::Code::FailedPrecondition,
            Error::FailedPrecondition(_) => tonic::Code::FailedPrecondition,
            Error::LeaseTimeout(_) => tonic::Code::Aborted,
            Error::Aborted(_) => tonic::Code::Aborted,
            Error::Unavailable(_) => tonic::Code::Unavailable,
            Error::StorageFull(_) => tonic::Code::ResourceExhausted,
            Error::Corrupt(_) => tonic::Code::DataLoss,
            Error::Cancelled(_) => tonic::Code::Cancelled,
            Error::Unauthenticated(_) => tonic::Code::Unauthenticated,
            Error::Internal(_) => tonic::Code::Internal,
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        tonic::Status::new(err.code(), crate::text::cap_message(err.to_string()))
    }
}

impl From<tch::TchError> for Error {
    fn from(err: tch::TchError) -> Self {
        Error::Internal(format!("libtorch: {err}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::Internal(format!("json: {err}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::StorageFull {
            return Error::StorageFull(err.to_string());
        }
        Error::Internal(format!("io: {err}"))
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => Error::NotFound("no such row in the registry".into()),
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => Error::StorageFull(io.to_string()),
            // SQLITE_FULL (13), PostgreSQL disk_full; MySQL ER_RECORD_FILE_FULL / ER_DISK_FULL by
            // error number (its `code()` is the SQLSTATE, HY000 for both).
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("13" | "53100"))
                    || db
                        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                        .is_some_and(|m| matches!(m.number(), 1114 | 1021)) =>
            {
                Error::StorageFull(db.message().to_string())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Error::Unavailable(format!(
                "{err}; check DATABASE_URL and that the database is running"
            )),
            // The server refuses or dropped the session: SQLSTATE class 08 (connection
            // exception), 57P01-03 (shutting down, starting up: "not currently accepting
            // connections"), 53300 (too many connections), MySQL 08S01. Retry later.
            sqlx::Error::Database(db) if db.code().as_deref().is_some_and(unavailable_sqlstate) => {
                Error::Unavailable(format!(
                    "the database refused the session: {}; retry when it is back",
                    db.message()
                ))
            }
            // Contention that outlasted the wait (SQLite busy/locked codes, SQLSTATE 40001
            // serialization failure / MySQL deadlock, 40P01 PostgreSQL deadlock): transient.
            sqlx::Error::Database(db)
                if matches!(
                    db.code().as_deref(),
                    Some("5" | "6" | "261" | "517" | "40001" | "40P01")
                ) =>
            {
                Error::Unavailable(format!(
                    "registry busy: {}; another writer held the lock too long, retry",
                    db.message()
                ))
            }
            // SQLite READONLY (8), IOERR (10) and CANTOPEN (14), with their extended codes: the
            // database's disk or mount refuses the write (read-only remount after a filesystem
            // error, a failing volume). Not the caller's fault, and over once the disk is fixed.
            sqlx::Error::Database(db)
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                    && db.code().as_deref().is_some_and(sqlite_disk_refused) =>
            {
                Error::Unavailable(format!(
                    "the registry's disk refused the write: {}; check the database's volume \
                     (read-only, failing), then retry",
                    db.message()
                ))
            }
            other => Error::Internal(format!("registry: {other}")),
        }
    }
}

/// SQLite result codes (primary or extended) of a disk that refuses writes (other backends'
/// numeric codes would collide: MySQL 1032 & 0xff = 8).
fn sqlite_disk_refused(code: &str) -> bool {
    code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 8 | 10 | 14))
}

/// SQLSTATEs that mean "the server is not taking sessions now" rather than a bad statement.
fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_each_kind_to_the_spec_status_code() {
        let cases = [
            (Error::invalid("bad years"), tonic::Code::InvalidArgument),
            (Error::not_found("no model"), tonic::Code::NotFound),
            (Error::InsufficientData { need: 65, got: 40 }, tonic::Code::FailedPrecondition),
            (Error::LeaseTimeout("AAPL".into()), tonic::Code::Aborted),
            (Error::Unavailable("db".into()), tonic::Code::Unavailable),
            (Error::StorageFull("database or disk is full".into()), tonic::Code::ResourceExhausted),
            (Error::from(std::io::Error::from(std::io::ErrorKind::StorageFull)), tonic::Code::ResourceExhausted),
        ];
        for (err, code) in cases {
            assert_eq!(tonic::Status::from(err).code(), code);
        }
    }

    #[test]
    fn server_refusals_are_unavailable() {
        for code in ["57P03", "57P01", "08006", "08S01", "53300"] {
            assert!(unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "40001"] {
            assert!(!unavailable_sqlstate(code), "{code}");
        }
        assert_eq!(Error::from(sqlx::Error::WorkerCrashed).code(), tonic::Code::Unavailable);
    }

    #[test]
    fn sqlite_disk_refusals_are_recognised_by_primary_code() {
        // SQLITE_READONLY, SQLITE_IOERR_WRITE (778), SQLITE_CANTOPEN, SQLITE_READONLY_DBMOVED.
        for code in ["8", "778", "14", "1032"] {
            assert!(sqlite_disk_refused(code), "{code}");
        }
        // SQLITE_FULL, SQLITE_BUSY, SQLITE_CONSTRAINT_UNIQUE (2067), a SQLSTATE.
        for code in ["13", "5", "2067", "23505"] {
            assert!(!sqlite_disk_refused(code), "{code}");
        }
    }

    #[test]
    fn insufficient_data_message_is_the_documented_one() {
        let e = Error::InsufficientData { need: 65, got: 40 };
        assert_eq!(e.to_string(), "insufficient data: need at least 65 trading days, got 40");
    }
}
