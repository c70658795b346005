//! Optional TLS for the gRPC ports of both services (`--tls-cert` / `--tls-key`).
use std::path::Path;

use tonic::transport::{Identity, ServerTlsConfig};

use crate::{Error, Result};

/// Builds the server TLS configuration from a PEM certificate chain and its PEM private key.
/// Both absent means plaintext (`Ok(None)`); only one of them is a configuration error.
pub fn server_tls_config(cert: Option<&Path>, key: Option<&Path>) -> Result<Option<ServerTlsConfig>> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let read = |path: &Path, what: &str| {
                std::fs::read(path).map_err(|e| {
                    Error::invalid(format!("cannot read the TLS {what} {}: {e}", path.display()))
                })
            };
            let (cert_pem, key_pem) = (read(cert, "certificate")?, read(key, "private key")?);
            if !cert_pem.windows(11).any(|w| w == b"-----BEGIN ") || !key_pem.windows(11).any(|w| w == b"-----BEGIN ") {
                return Err(Error::invalid(format!(
                    "TLS certificate {} and key {} must both be PEM files",
                    cert.display(),
                    key.display()
                )));
            }
            Ok(Some(ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem))))
        }
        _ => Err(Error::invalid(
            "TLS needs both --tls-cert and --tls-key (PEM files); give both or neither",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_without_files_and_errors_for_half_or_bad_config() {
        assert!(server_tls_config(None, None).unwrap().is_none());
        let err = server_tls_config(Some(Path::new("/x.pem")), None).unwrap_err();
        assert!(err.to_string().contains("both --tls-cert and --tls-key"), "{err}");
        let err = server_tls_config(Some(Path::new("/nope/cert.pem")), Some(Path::new("/nope/key.pem"))).unwrap_err();
        assert!(err.to_string().contains("cannot read the TLS certificate /nope/cert.pem"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&c, "not pem").unwrap();
        std::fs::write(&k, "not pem").unwrap();
        let err = server_tls_config(Some(&c), Some(&k)).unwrap_err();
        assert!(err.to_string().contains("must both be PEM files"), "{err}");
    }
}
