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
);
const POSTGRES: &[File] = files!("postgres":
    (20261121000001, "registry", "20261121000001_registry.sql"),
    (20261201000001, "run cancel requests", "20261201000001_run_cancel_requests.sql"),
    (20261201000002, "health probe", "20261201000002_health_probe.sql"),
);
const MYSQL: &[File] = files!("mysql":
    (20261121000001, "registry", "20261121000001_registry.sql"),
    (20261201000001, "run cancel requests", "20261201000001_run_cancel_requests.sql"),
    (20261201000002, "health probe", "20261201000002_health_probe.sql"),
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
    Migrator::new(Embedded(files))
        .await
        .map_err(|e| Error::Internal(format!("embedded registry migrations: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of each migrations directory is embedded, under the version and description
    /// sqlx derives from its name, with its exact content — so adding a file without listing it
    /// here fails, and checksums match what `migrate!` stored in existing databases.
    #[test]
    fn the_embedded_lists_are_the_directories() {
        for (dir, files) in [("sqlite", SQLITE), ("postgres", POSTGRES), ("mysql", MYSQL)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
            let mut on_disk: Vec<(i64, String, String)> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "sql"))
                .map(|p| {
                    let name = p.file_stem().unwrap().to_str().unwrap().to_string();
                    let (version, description) = name.split_once('_').unwrap();
                    (version.parse().unwrap(), description.replace('_', " "), std::fs::read_to_string(&p).unwrap())
                })
                .collect();
            on_disk.sort();
            let embedded: Vec<(i64, String, String)> =
                files.iter().map(|&(v, d, sql)| (v, d.to_string(), sql.to_string())).collect();
            assert_eq!(embedded, on_disk, "migrations/{dir} and the embedded list differ");
        }
    }
}
