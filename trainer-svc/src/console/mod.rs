//! The web console (SPEC §14.4): `trainer-svc serve --console-listen ADDR` (env `CONSOLE_ADDR`,
//! default `127.0.0.1:8080`, empty = off). Server-rendered pages over the trainer's own
//! registry and core — the same functions the RPCs call, no second copy of the business logic —
//! with one small inline script that refreshes the runs table from `/api/runs` every second.
//! No external asset is loaded, so it works in a cluster without internet.
//!
//! - `/` runs (filters `symbol`, `state`), `/runs/{id}` (events, loss curves, plots, backtest
//!   report), `/runs/{id}/plots/{name}` (the PNG), `/models/{symbol}/{years}` (versions with
//!   quality and live quality, promotion history), `/login`.
//! - State changes are POST forms: `/runs/{id}/cancel`, `/models/{symbol}/{years}/current`.
//!   Each needs the session's CSRF token and, when the server has an `AUTH_TOKEN`, a session that
//!   entered it at `/login` (kept server-side for the session; never in a URL or a log).
//!   Refused: 403 with the reason, nothing changed.
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::auth::Auth;
use common::Error;
use serde::Deserialize;

use crate::core::Core;

pub mod data;
pub mod session;
pub mod views;

use session::{set_cookie, Sessions};

/// Shared state of the console's handlers.
#[derive(Clone)]
pub struct Console {
    core: Arc<Core>,
    auth: Auth,
    sessions: Sessions,
}

impl Console {
    /// A console over `core`, guarded by `auth`.
    pub fn new(core: Arc<Core>, auth: Auth) -> Console {
        Console { core, auth, sessions: Sessions::default() }
    }

    /// The console's routes.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(runs_page))
            .route("/api/runs", get(runs_json))
            .route("/runs/{id}", get(run_page))
            .route("/runs/{id}/plots/{name}", get(plot))
            .route("/runs/{id}/cancel", post(cancel))
            .route("/models/{symbol}/{years}", get(model_page))
            .route("/models/{symbol}/{years}/current", post(set_current))
            .route("/login", get(login_page).post(login))
            .with_state(self)
    }
}

/// Serves the console on `listener` until `shutdown`.
pub async fn serve(listener: tokio::net::TcpListener, console: Console, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
    tracing::info!(addr = ?listener.local_addr().ok(), "console listening");
    if let Err(e) = axum::serve(listener, console.router()).with_graceful_shutdown(shutdown).await {
        tracing::warn!(error = %e, "console server failed");
    }
}

/// An error as a page with the status the gRPC mapping would give.
fn error_page(e: Error) -> Response {
    let status = match e.code() {
        tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::Unauthenticated => StatusCode::FORBIDDEN,
        tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        tonic::Code::FailedPrecondition | tonic::Code::Aborted => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Html(views::error(status.canonical_reason().unwrap_or("Error"), &common::text::cap_message(e.to_string())).into_string())).into_response()
}

fn page(markup: maud::Markup, cookie: Option<axum::http::HeaderValue>) -> Response {
    let mut resp = Html(markup.into_string()).into_response();
    set_cookie(resp.headers_mut(), cookie);
    resp
}

#[derive(Deserialize, Default)]
struct RunFilter {
    #[serde(default)]
    symbol: String,
    #[serde(default)]
    state: String,
}

async fn runs_page(State(c): State<Console>, headers: HeaderMap, Query(f): Query<RunFilter>) -> Response {
    let (_, cookie) = c.sessions.get_or_start(&headers);
    match data::runs(&c.core, &f.symbol, &f.state).await {
        Ok(rows) => page(views::runs(&rows, &f.symbol, &f.state), cookie),
        Err(e) => error_page(e),
    }
}

async fn runs_json(State(c): State<Console>, Query(f): Query<RunFilter>) -> Response {
    match data::runs(&c.core, &f.symbol, &f.state).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => error_page(e),
    }
}

async fn run_page(State(c): State<Console>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (s, cookie) = c.sessions.get_or_start(&headers);
    match data::run(&c.core, &id).await {
        Ok(p) => page(views::run(&p, &s.csrf, c.auth.enabled() && !s.authenticated), cookie),
        Err(e) => error_page(e),
    }
}

async fn plot(State(c): State<Console>, Path((id, name)): Path<(String, String)>) -> Response {
    match c.core.registry.plot(&id, &name).await {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "private, max-age=3600")], png).into_response(),
        Err(e) => error_page(e),
    }
}

async fn model_page(State(c): State<Console>, headers: HeaderMap, Path((symbol, years)): Path<(String, u32)>) -> Response {
    let (s, cookie) = c.sessions.get_or_start(&headers);
    match data::model(&c.core, &symbol, years).await {
        Ok(p) => page(views::model(&p, &s.csrf, c.auth.enabled() && !s.authenticated), cookie),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version_id: String,
    #[serde(default)]
    token: String,
}

/// The session of a form's request when the form carries that session's CSRF token.
fn form_session(c: &Console, headers: &HeaderMap, form: &CsrfForm, action: &str) -> Result<session::Session, Error> {
    let Some(s) = c.sessions.find(headers) else {
        return Err(Error::Unauthenticated(format!("{action}: no console session; open the page again and resubmit")));
    };
    if !common::auth::constant_time_eq(form.csrf.as_bytes(), s.csrf.as_bytes()) {
        return Err(Error::Unauthenticated(format!("{action}: the form's CSRF token does not match this session; reload the page")));
    }
    Ok(s)
}

/// The session of a state-changing request, when its CSRF token matches and, with a server
/// token, it has signed in. `action` names the action in the refusal.
fn allowed(c: &Console, headers: &HeaderMap, form: &CsrfForm, action: &str) -> Result<String, Error> {
    let s = form_session(c, headers, form, action)?;
    if c.auth.enabled() && !s.authenticated {
        return Err(Error::Unauthenticated(format!("{action} changes server state and this server requires its bearer token: sign in at /login first")));
    }
    Ok(format!("console:{}", &s.id[..8]))
}

async fn cancel(State(c): State<Console>, headers: HeaderMap, Path(id): Path<String>, Form(form): Form<CsrfForm>) -> Response {
    if let Err(e) = allowed(&c, &headers, &form, "cancelling a run") {
        return error_page(e);
    }
    match c.core.cancel_run(&id).await {
        Ok(_) => Redirect::to(&format!("/runs/{}", urlencode(&id))).into_response(),
        Err(e) => error_page(e),
    }
}

async fn set_current(State(c): State<Console>, headers: HeaderMap, Path((symbol, years)): Path<(String, u32)>, Form(form): Form<CsrfForm>) -> Response {
    let by = match allowed(&c, &headers, &form, "setting the current version") {
        Ok(by) => by,
        Err(e) => return error_page(e),
    };
    match c.core.set_current_version(&symbol, years, form.version_id.trim(), &by, "set in the console").await {
        Ok(rec) => Redirect::to(&format!("/models/{}/{}", urlencode(&rec.symbol), rec.years)).into_response(),
        Err(e) => error_page(e),
    }
}

async fn login_page(State(c): State<Console>, headers: HeaderMap) -> Response {
    let (s, cookie) = c.sessions.get_or_start(&headers);
    let note = (!c.auth.enabled()).then_some("This server has no AUTH_TOKEN: every action is open.");
    page(views::login(&s.csrf, note), cookie)
}

async fn login(State(c): State<Console>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    let s = match form_session(&c, &headers, &form, "signing in") {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    if !c.auth.accepts(&form.token) {
        tracing::info!("console sign-in refused: wrong token");
        return (StatusCode::FORBIDDEN, Html(views::login(&s.csrf, Some("That is not the server's token.")).into_string())).into_response();
    }
    c.sessions.authenticate(&s.id);
    Redirect::to("/").into_response()
}

/// Percent-encodes a path segment (ids and symbols are `[A-Za-z0-9._-]` already; this keeps any
/// other byte out of the redirect as it is).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
