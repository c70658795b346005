//! The registry's schema migrations (`common/migrations/{sqlite,postgres,mysql}`), embedded in
//! the binary with `include_str!` and handed to sqlx's `Migrator` as a [`MigrationSource`].
//!
//! sqlx's `migrate!` macro does the same at compile time, but needs sqlx's `macros` feature,
//! whose proc-macro crate compiles the SQLite, PostgreSQL and MySQL drivers (and rustls, tokio)
//! a second time for the host: ~170 s of a ~1 400 CPU-second cold build (issue 13). Versions,
//! descriptions and checksums are what `migrate!` produced (description = the file name after
//! the version with `_` as spaces; checksum = SHA-384 of the file), so databases migrated by
//! earlier builds are recognised; a test checks the list against the directories.
use std::borrow::Cow;

use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use super::Backend;
use crate::error::{Error, Result};

/// One migration file: version, description, SQL.
type File = (i64, &'static str, &'static str);

macro_rules! files {
    ($dir:literal: $(($version:literal, $description:literal, $file:literal)),* $(,)?) => {
        &[$(($version, $description, include_str!(concat!("../../migrations/", $dir, "/", $file)))),*]
    };
}

const SQLITE: &[File] = files!("sqlite":
    (20261121000001, "registry", "20261121000001_registry.sql"),
    (20261201000001, "run cancel requests", "20261201000001_run_cancel_requests.sql"),
    (20261201000002, "health probe", "20261201000002_health_probe.sql"),
    (20261202000001, "prediction entry ids", "20261202000001_prediction_entry_ids.sql"),
    (20261202000002, "prediction scoring", "20261202000002_prediction_scoring.sql"),
    (20261203000001, "pooled versions", "20261203000001_pooled_versions.sql"),
);
const POSTGRES: &[File] = files!("postgres":
    (20261121000001, "registry", "20261121000001_registry.sql"),
    (20261201000001, "run cancel requests", "20261201000001_run_cancel_requests.sql"),
    (20261201000002, "health probe", "20261201000002_health_probe.sql"),
    (20261202000001, "prediction entry ids", "20261202000001_prediction_entry_ids.sql"),
    (20261202000002, "prediction scoring", "20261202000002_prediction_scoring.sql"),
    (20261203000001, "pooled versions", "20261203000001_pooled_versions.sql"),
);
const MYSQL: &[File] = files!("mysql":
    (20261121000001, "registry", "20261121000001_registry.sql"),
    (20261201000001, "run cancel requests", "20261201000001_run_cancel_requests.sql"),
    (20261201000002, "health probe", "20261201000002_health_probe.sql"),
    (20261202000001, "prediction entry ids", "20261202000001_prediction_entry_ids.sql"),
    (20261202000002, "prediction scoring", "20261202000002_prediction_scoring.sql"),
    (20261203000001, "pooled versions", "20261203000001_pooled_versions.sql"),
);

/// The embedded migrations of one backend.
#[derive(Debug, Clone, Copy)]
struct Embedded(&'static [File]);

impl Embedded {
    fn migrations(self) -> Vec<Migration> {
        self.0
            .iter()
            .map(|&(version, description, sql)| {
                // sqlx's own rule: a file starting with this comment runs outside a transaction.
                let no_tx = sql.starts_with("-- no-transaction");
                Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, Cow::Borrowed(sql), no_tx)
            })
            .collect()
    }
}

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, std::result::Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move { Ok(self.migrations()) })
    }
}

/// The migrator of `backend`'s schema.
pub(super) async fn migrator(backend: Backend) -> Result<Migrator> {
    let files = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
        Backend::MySql => MYSQL,
    };
    let mut migrator = Migrator::new(Embedded(files))
        .await
        .map_err(|e| Error::Internal(format!("embedded registry migrations: {e}")))?;
    // Schema changes are additive: a build that finds migrations newer than its own (a rolling
    // upgrade, a rollback) runs on the schema it knows instead of refusing to start.
    migrator.set_ignore_missing(true);
    Ok(migrator)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of each migrations directory is embedded, exactly as sqlx's own directory
    /// resolver (what `migrate!` runs at compile time) reads it: same versions, descriptions,
    /// types, checksums and `no_tx` — so adding a file without listing it here fails, and
    /// databases migrated by `migrate!` builds are recognised.
    #[test]
    fn the_embedded_lists_are_what_sqlx_resolves_from_the_directories() {
        for (dir, files) in [("sqlite", SQLITE), ("postgres", POSTGRES), ("mysql", MYSQL)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
            let key = |m: &Migration| {
                (m.version, m.description.to_string(), format!("{:?}", m.migration_type), m.checksum.to_vec(), m.no_tx)
            };
            let resolved: Vec<_> =
                sqlx::migrate::resolve_blocking(&path).unwrap().iter().map(|(m, _)| key(m)).collect();
            let embedded: Vec<_> = Embedded(files).migrations().iter().map(key).collect();
            assert_eq!(embedded, resolved, "migrations/{dir} and the embedded list differ");
        }
    }
}
