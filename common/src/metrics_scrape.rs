//! Reading a service's `/metrics` page the way Prometheus would, for the tests and benches that
//! check what a running server exports: one plain HTTP/1.0 `GET /metrics`, read until the
//! server closes the connection.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The body of `GET /metrics` (Prometheus text format) from the metrics listener at `addr`,
/// without the status line and headers; the status is not checked (a caller looks for the series
/// it wants). An error when the connection fails or the answer has no end of headers.
pub async fn fetch_metrics(addr: SocketAddr) -> std::io::Result<String> {
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await?;
    match answer.split_once("\r\n\r\n") {
        Some((_, body)) => Ok(body.to_string()),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("GET /metrics on {addr}: no end of headers in {} bytes", answer.len()),
        )),
    }
}
