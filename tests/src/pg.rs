//! A private database on the PostgreSQL server named by `TEST_POSTGRES_URL` (never the server
//! itself: faults are injected with [`crate::fault_proxy`]), dropped again on drop.
use std::net::SocketAddr;

use sqlx::Connection;

/// A fresh database on the test server; dropped (WITH FORCE) when this value is.
pub struct PgDatabase {
    /// URL of the database, straight to the server.
    pub url: String,
    /// The server's socket address (for a proxy in front of it).
    pub server: SocketAddr,
    server_url: String,
    name: String,
}

impl PgDatabase {
    /// A new database, or `None` with a NOTICE when `TEST_POSTGRES_URL` is unset.
    pub async fn create(label: &str) -> anyhow::Result<Option<PgDatabase>> {
        let Ok(server_url) = std::env::var("TEST_POSTGRES_URL") else {
            common::test_skip::notice(format_args!("TEST_POSTGRES_URL not set — {label} needs PostgreSQL"));
            return Ok(None);
        };
        sqlx::any::install_default_drivers();
        let opts: sqlx::postgres::PgConnectOptions = server_url.parse()?;
        let host = if opts.get_host().starts_with('/') { "127.0.0.1" } else { opts.get_host() };
        let server = tokio::net::lookup_host((host, opts.get_port()))
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("cannot resolve {host}"))?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("outage_{}_{}", std::process::id(), &id[..12]);
        let mut admin = sqlx::AnyConnection::connect(&server_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
        admin.close().await.ok();
        let url = with_path(&server_url, &name);
        Ok(Some(PgDatabase { url, server, server_url, name }))
    }

    /// The database URL with its host and port replaced by `addr` (e.g. a proxy).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        let scheme_end = self.url.find("://").map_or(0, |i| i + 3);
        let rest = &self.url[scheme_end..];
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        let auth_end = rest[..rest.find('/').unwrap_or(rest.len())].rfind('@').map(|i| i + 1);
        let auth = auth_end.map_or("", |i| &rest[..i]);
        format!("{}{auth}{addr}{path}", &self.url[..scheme_end])
    }
}

fn with_path(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| i + scheme_end);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        // A separate thread and runtime: this may run while a test runtime unwinds.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async move {
                let mut admin = sqlx::AnyConnection::connect(&server_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}: {done:?}", self.name);
        }
    }
}
