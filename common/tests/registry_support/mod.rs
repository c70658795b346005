//! Fresh, isolated registry databases for the conformance suite.
//!
//! SQLite: a file in a temporary directory. PostgreSQL / MariaDB: a database with a random name
//! created on the server named by `TEST_POSTGRES_URL` / `TEST_MYSQL_URL` and dropped again when
//! the test ends (also when it panics), so parallel tests and CI runs sharing a server never see
//! each other's rows.
#![allow(dead_code)]

use common::registry::{Backend, Registry, RegistryOptions};
use sqlx::Connection;

/// A registry on its own database, removed on drop.
pub struct TestDb {
    /// The registry under test.
    pub reg: Registry,
    /// URL of the test database (connect again to simulate another process).
    pub url: String,
    server_url: Option<String>,
    db_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn random_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("regtest_{}_{}", std::process::id(), &id[..12])
}

/// Replaces the database name (the URL path) of a server URL.
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut url = format!("{}/{}", &base[..host_end], name);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

impl TestDb {
    /// A fresh SQLite registry in a temporary directory (parent directories created on connect).
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/nested/dir/registry.db", dir.path().display());
        let reg = Registry::connect(&url).await.expect("open sqlite registry");
        assert_eq!(reg.backend(), Backend::Sqlite);
        TestDb {
            reg,
            url,
            server_url: None,
            db_name: None,
            _dir: Some(dir),
        }
    }

    /// A fresh database on the server in `env_var`, or `None` (with a NOTICE) when it is unset.
    pub async fn server(env_var: &str, label: &str) -> Option<TestDb> {
        let Ok(server_url) = std::env::var(env_var) else {
            common::test_skip::notice(format_args!("{env_var} not set — no {label} registry conformance"));
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = random_name();
        let mut admin = sqlx::AnyConnection::connect(&server_url)
            .await
            .unwrap_or_else(|e| panic!("{env_var}={server_url} does not answer: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = with_database(&server_url, &name);
        let reg = Registry::connect_with(&url, RegistryOptions::default())
            .await
            .expect("open server registry");
        Some(TestDb {
            reg,
            url,
            server_url: Some(server_url),
            db_name: Some(name),
            _dir: None,
        })
    }

    /// PostgreSQL from `TEST_POSTGRES_URL`.
    pub async fn postgres() -> Option<TestDb> {
        let db = Self::server("TEST_POSTGRES_URL", "PostgreSQL").await?;
        assert_eq!(db.reg.backend(), Backend::Postgres);
        Some(db)
    }

    /// MariaDB / MySQL from `TEST_MYSQL_URL`.
    pub async fn mysql() -> Option<TestDb> {
        let db = Self::server("TEST_MYSQL_URL", "MySQL/MariaDB").await?;
        assert_eq!(db.reg.backend(), Backend::MySql);
        Some(db)
    }

    /// A second, independent registry on the same database (another "process").
    pub async fn reconnect(&self) -> Registry {
        Registry::connect(&self.url)
            .await
            .expect("reconnect")
            .with_max_versions(self.reg.max_versions())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (Some(server), Some(name)) = (self.server_url.take(), self.db_name.take()) else {
            return;
        };
        let postgres = self.reg.backend() == Backend::Postgres;
        // Drop from a separate thread and runtime: this may run while a test runtime unwinds.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            // Bounded: MySQL's DROP DATABASE waits for the metadata locks of every open
            // transaction on it (lock_wait_timeout defaults to a year), and one test run once
            // hung here; a database left behind only costs a warning.
            let shown = name.clone();
            rt.block_on(async move {
                tokio::time::timeout(std::time::Duration::from_secs(30), async move {
                    let mut admin = sqlx::AnyConnection::connect(&server).await?;
                    let sql = if postgres {
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    } else {
                        sqlx::query("SET SESSION lock_wait_timeout = 20").execute(&mut admin).await?;
                        format!("DROP DATABASE IF EXISTS {name}")
                    };
                    sqlx::query(&sql).execute(&mut admin).await?;
                    admin.close().await?;
                    Ok::<_, anyhow::Error>(())
                })
                .await
                .map_err(|_| anyhow::anyhow!("DROP DATABASE {shown} took over 30 s"))?
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database: {done:?}");
        }
    }
}
