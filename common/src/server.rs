//! The one gRPC server shell of both services: what every lstm.v1 server does around its own
//! service, so the trainer and the predictor cannot drift apart.
//!
//! - reflection v1 and v1alpha over exactly the services this server runs (the protocol's
//!   descriptor set holds both `lstm.v1.Trainer` and `lstm.v1.Predictor`; each server advertises
//!   only its own), plus health and reflection themselves;
//! - a request tonic cannot decode (e.g. invalid UTF-8 in a string field) is the client's
//!   input: INVALID_ARGUMENT, not tonic's INTERNAL;
//! - optional TLS; TCP_NODELAY on every accepted connection (tonic sets it only for listeners
//!   it binds itself, and with Nagle on a small answer waits ~40 ms for the delayed ACK);
//! - graceful shutdown: the caller's `signal` runs its shutdown sequence (health NOT_SERVING,
//!   cancel work, end Health/Watch streams); once it has finished, in-flight calls drain for at
//!   most `stop_after`, then the server stops regardless, so a stream that never ends by itself
//!   (a stuck client) cannot hold the process until the orchestrator's SIGKILL;
//! - the `/metrics` listener's bind, with one error message.
use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::codegen::http;
use tonic::service::Routes;
use tonic::transport::ServerTlsConfig;
use tracing::warn;

use crate::{Error, Result};

/// One gRPC server: its service's name (for reflection), the bound listener and its TLS.
pub struct GrpcServer {
    /// Fully qualified name of the one application service, e.g. `lstm.v1.Trainer`.
    pub service_name: &'static str,
    /// The bound gRPC listener.
    pub listener: TcpListener,
    /// `None` serves plaintext.
    pub tls: Option<ServerTlsConfig>,
    /// How long in-flight calls may drain after the shutdown sequence before the server stops.
    pub stop_after: Duration,
}

impl GrpcServer {
    /// Serves `routes` (the health service and the application service), reflection and the
    /// undecodable-request mapping, until `signal` has run and the calls drained (or
    /// [`GrpcServer::stop_after`] passed).
    pub async fn serve(self, routes: Routes, signal: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let (v1, v1alpha) = reflection(self.service_name)?;
        let routes = routes.add_service(v1).add_service(v1alpha);
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = self.tls {
            builder = builder
                .tls_config(tls)
                .map_err(|e| Error::invalid(format!("TLS configuration rejected: {e}")))?;
        }
        let (signalled, drained) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            signal.await;
            let _ = signalled.send(());
        };
        let incoming = tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true));
        let server = builder
            .layer(tower::util::MapResponseLayer::new(undecodable_is_invalid_argument))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, signal);
        let stop_after = self.stop_after;
        let forced = async move {
            if drained.await.is_err() {
                // The signal future was dropped unfinished: only the server ending ends this.
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(stop_after).await;
        };
        tokio::select! {
            served = server => served.map_err(|e| Error::Unavailable(format!("gRPC server failed: {e}"))),
            _ = forced => {
                warn!(
                    service = self.service_name,
                    stop_after_ms = stop_after.as_millis() as u64,
                    "open calls did not finish in time after shutdown; stopping anyway"
                );
                Ok(())
            }
        }
    }
}

/// Reflection v1 and v1alpha (grpcurl and older clients still ask for v1alpha) listing
/// `service_name`, health and reflection.
fn reflection(
    service_name: &'static str,
) -> Result<(
    tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
    tonic_reflection::server::v1alpha::ServerReflectionServer<impl tonic_reflection::server::v1alpha::ServerReflection>,
)> {
    let builder = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .include_reflection_service(false)
            .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET);
        for name in [
            service_name,
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ] {
            b = b.with_service_name(name);
        }
        b
    };
    let v1 = builder().build_v1().map_err(|e| Error::internal(format!("reflection service: {e}")))?;
    let v1alpha = builder().build_v1alpha().map_err(|e| Error::internal(format!("reflection service: {e}")))?;
    Ok((v1, v1alpha))
}

/// tonic answers a request it cannot decode with INTERNAL; it is the client's input, so the
/// answer becomes INVALID_ARGUMENT (same message).
fn undecodable_is_invalid_argument<B>(mut res: http::Response<B>) -> http::Response<B> {
    let headers = res.headers_mut();
    let internal = headers.get("grpc-status").is_some_and(|v| v.as_bytes() == b"13");
    let undecodable = headers.get("grpc-message").is_some_and(|v| {
        let m = v.as_bytes();
        m.starts_with(b"failed%20to%20decode%20Protobuf") || m.starts_with(b"failed to decode Protobuf")
    });
    if internal && undecodable {
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
    }
    res
}

/// Binds the `/metrics` listener at `addr`; `""` or `off` means none. `flag` names the option
/// in the error (e.g. `--metrics-listen`).
pub async fn bind_metrics(addr: &str, flag: &str) -> Result<Option<TcpListener>> {
    match addr.trim() {
        "" | "off" => Ok(None),
        addr => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|e| Error::invalid(format!("cannot listen for /metrics on {addr}: {e}; set {flag} (off disables it)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_undecodable_internal_answer_becomes_invalid_argument() {
        let answer = |status: &'static str, message: &'static str| {
            let mut r = http::Response::new(());
            r.headers_mut().insert("grpc-status", http::HeaderValue::from_static(status));
            r.headers_mut().insert("grpc-message", http::HeaderValue::from_static(message));
            undecodable_is_invalid_argument(r).headers()["grpc-status"].to_str().unwrap().to_string()
        };
        assert_eq!(answer("13", "failed%20to%20decode%20Protobuf%20message"), "3");
        assert_eq!(answer("13", "failed to decode Protobuf message: invalid utf-8"), "3");
        assert_eq!(answer("13", "model%20forward%20failed"), "13");
        assert_eq!(answer("14", "failed%20to%20decode%20Protobuf"), "14");
    }

    #[tokio::test]
    async fn metrics_off_binds_nothing_and_a_bad_address_names_the_flag() {
        assert!(bind_metrics("off", "--metrics-listen").await.unwrap().is_none());
        assert!(bind_metrics(" ", "--metrics-listen").await.unwrap().is_none());
        let l = bind_metrics("127.0.0.1:0", "--metrics-listen").await.unwrap();
        assert!(l.is_some());
        let e = bind_metrics("not-an-address", "--metrics-listen").await.unwrap_err().to_string();
        assert!(e.contains("--metrics-listen"), "{e}");
    }
}
