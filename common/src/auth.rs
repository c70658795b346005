//! Optional bearer-token check (`AUTH_TOKEN`): the trainer asks it on every RPC that changes
//! state, the predictor on every `lstm.v1.Predictor` RPC (SPEC §14.5). Health and reflection are
//! never checked. The token is trimmed (a Secret file's trailing newline is not part of it),
//! compared in constant time and never logged.
use tonic::metadata::MetadataMap;

use crate::{Error, Result};

/// The configured token, if any. Never logged or printed (`Debug` redacts it).
#[derive(Clone, Default)]
pub struct Auth {
    token: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("enabled", &self.token.is_some())
            .finish()
    }
}

impl Auth {
    /// `token` empty or `None` disables the check. Surrounding whitespace is not part of the
    /// token (a Kubernetes Secret file often ends with a newline).
    pub fn new(token: Option<String>) -> Auth {
        Auth {
            token: token
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
        }
    }

    /// Whether a token is required.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `given` (trimmed) is the configured token, compared in constant time; true when no
    /// token is configured. For front ends that take the token in a form (the web console).
    pub fn accepts(&self, given: &str) -> bool {
        match &self.token {
            None => true,
            Some(expected) => constant_time_eq(given.trim().as_bytes(), expected.as_bytes()),
        }
    }

    /// Checks `authorization: Bearer <token>` on the RPC named `method`
    /// ([`Error::Unauthenticated`] when it is missing, malformed or wrong).
    pub fn check(&self, method: &str, metadata: &MetadataMap) -> Result<()> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let Some(value) = metadata.get("authorization") else {
            return Err(Error::Unauthenticated(format!(
                "{method} requires a bearer token on this server: send metadata \
                 `authorization: Bearer <AUTH_TOKEN>` (grpcurl: -H 'authorization: Bearer ...')"
            )));
        };
        let given = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        match given {
            Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => Ok(()),
            Some(_) => Err(Error::Unauthenticated(format!(
                "{method}: the bearer token is wrong; use the server's AUTH_TOKEN"
            ))),
            None => Err(Error::Unauthenticated(format!(
                "{method}: the authorization metadata must look like `Bearer <AUTH_TOKEN>`"
            ))),
        }
    }
}

/// Whether `a == b`, in time that depends on their lengths only (for tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(v: Option<&str>) -> MetadataMap {
        let mut m = MetadataMap::new();
        if let Some(v) = v {
            m.insert("authorization", v.parse().unwrap());
        }
        m
    }

    #[test]
    fn checks_the_token_only_when_configured() {
        assert!(Auth::new(None).check("Train", &md(None)).is_ok());
        assert!(Auth::new(Some(String::new()))
            .check("Train", &md(None))
            .is_ok());
        let a = Auth::new(Some("s3cret".into()));
        assert!(a.check("Train", &md(Some("Bearer s3cret"))).is_ok());
        let e = tonic::Status::from(a.check("Train", &md(None)).unwrap_err());
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert!(
            e.message().contains("authorization: Bearer"),
            "{}",
            e.message()
        );
        let e = a.check("DeleteVersion", &md(Some("Bearer nope"))).unwrap_err().to_string();
        assert!(e.contains("wrong"));
        assert!(!e.contains("s3cret"));
        assert!(a.check("Train", &md(Some("s3cret"))).is_err());
        // A token read from a Secret file with its trailing newline is the token.
        let a = Auth::new(Some("s3cret\n".into()));
        assert!(a.check("Train", &md(Some("Bearer s3cret"))).is_ok());
        assert!(Auth::new(Some(" \n".into())).check("Train", &md(None)).is_ok());
        assert!(!format!("{a:?}").contains("s3cret"));
    }
}
