//! Support shared by the process-level tests of this crate (`faults.rs`, `partition.rs`): the
//! trainer-svc child process ([`trainer`]), a scratch PostgreSQL database and a TCP proxy in
//! front of it that a test can stop.
#![allow(dead_code)] // each test binary uses its own part

pub mod trainer;

use std::net::SocketAddr;

use sqlx::Connection;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// A fresh PostgreSQL database `<prefix>_<pid>_<time>_<n>` on the server of
/// `TEST_POSTGRES_URL`: its URL, or `None` with a NOTICE (`why` says what is skipped).
pub async fn postgres_db(prefix: &str, why: &str) -> Option<String> {
    let Ok(server) = std::env::var("TEST_POSTGRES_URL") else {
        common::test_skip::notice(format_args!("TEST_POSTGRES_URL not set — {why}"));
        return None;
    };
    sqlx::any::install_default_drivers();
    let mut admin = match sqlx::AnyConnection::connect(&server).await {
        Ok(c) => c,
        Err(e) => {
            common::test_skip::notice(format_args!("PostgreSQL at {server} does not answer ({e})"));
            return None;
        }
    };
    // Tests of one file run concurrently in one process: a counter keeps their databases apart.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("{prefix}_{}_{}_{n}", std::process::id(), chrono::Utc::now().timestamp_micros());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create db");
    let base = server.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(server);
    Some(format!("{base}/{name}"))
}

/// The server address of a `postgres://user@host:port/db` URL.
pub async fn server_addr(url: &str) -> SocketAddr {
    let after = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let after = after.rsplit_once('@').map(|(_, r)| r).unwrap_or(after);
    let host_port = after.split_once('/').map(|(hp, _)| hp).unwrap_or(after);
    tokio::net::lookup_host(host_port).await.expect("resolve the database host").next().expect("an address")
}

/// A TCP proxy on `listen` to `target` until the token is cancelled; then new connections are
/// refused and open ones cut, as when the database host goes away. Returns the bound address.
pub async fn tcp_proxy(listen: SocketAddr, target: SocketAddr) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind the proxy");
    let addr = listener.local_addr().expect("the proxy's address");
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = tokio::select! {
                c = listener.accept() => match c { Ok(c) => c, Err(_) => continue },
                _ = s.cancelled() => return,
            };
            let s = s.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = s.cancelled() => {
                        let _ = inbound.shutdown().await;
                    }
                }
            });
        }
    });
    (addr, stop)
}
