//! Console sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie, a CSRF token per
//! session that every form carries, and — when the server has an `AUTH_TOKEN` — whether the
//! session has entered it. The token itself is never stored in the cookie, a URL or a log.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "lstm_console";
/// Most sessions kept (oldest dropped first): a console is used by a few operators.
const MAX_SESSIONS: usize = 10_000;

/// One browser session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The id in the cookie.
    pub id: String,
    /// The token forms must send back.
    pub csrf: String,
    /// Whether the bearer token was entered in this session.
    pub authenticated: bool,
}

/// The sessions of one console.
#[derive(Debug, Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, (u64, Session)>>>);

fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Session)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session of the request's cookie, if it names a live one.
    pub fn find(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, COOKIE_NAME)?;
        self.lock().get(&id).map(|(_, s)| s.clone())
    }

    /// The request's session, or a new one and the `Set-Cookie` header that starts it.
    pub fn get_or_start(&self, headers: &HeaderMap) -> (Session, Option<HeaderValue>) {
        if let Some(s) = self.find(headers) {
            return (s, None);
        }
        let s = Session { id: random_id(), csrf: random_id(), authenticated: false };
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        let at = map.values().map(|(at, _)| *at).max().unwrap_or(0) + 1;
        map.insert(s.id.clone(), (at, s.clone()));
        let value = format!("{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict", s.id);
        (s, HeaderValue::from_str(&value).ok())
    }

    /// Marks a session as having entered the token.
    pub fn authenticate(&self, id: &str) {
        if let Some((_, s)) = self.lock().get_mut(id) {
            s.authenticated = true;
        }
    }
}

/// Adds `Set-Cookie` to a response's headers when a session was started.
pub fn set_cookie(headers: &mut HeaderMap, cookie: Option<HeaderValue>) {
    if let Some(c) = cookie {
        headers.insert(SET_COOKIE, c);
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_again_by_its_cookie_only() {
        let sessions = Sessions::default();
        let (s, cookie) = sessions.get_or_start(&HeaderMap::new());
        let cookie = cookie.unwrap().to_str().unwrap().to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(&format!("other=1; {COOKIE_NAME}={}", s.id)).unwrap());
        let again = sessions.find(&h).unwrap();
        assert_eq!((again.csrf.as_str(), again.authenticated), (s.csrf.as_str(), false));
        sessions.authenticate(&s.id);
        assert!(sessions.find(&h).unwrap().authenticated);
        let mut forged = HeaderMap::new();
        forged.insert(COOKIE, HeaderValue::from_static("lstm_console=guess"));
        assert!(sessions.find(&forged).is_none());
    }
}
