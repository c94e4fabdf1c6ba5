//! The Xelion REST API v1 with Xelion's error bodies and codes: the session calls
//! (`me/login`, `me/renew`, `me/logout`, `me/websocket`) in `session.rs`, the user calls
//! (`me/info`, `users`, `users/{oid}`) in `users.rs`, and here what every call shares:
//! routing, errors, fault injection, authentication.

mod session;
mod users;

use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{User, XSession};
use crate::api::FaultKind;
use crate::state::{lock, Data};

/// errorCode of a login whose userName + userSpace is already logged in.
pub const ALREADY_LOGGED_IN: i64 = 10005;

/// Registers the REST routes on an app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/{tenant}")
            .route("/me/login", web::post().to(session::login))
            .route("/me/renew", web::post().to(session::renew))
            .route("/me/logout", web::post().to(session::logout))
            .route("/me/info", web::get().to(users::info))
            .route("/me/websocket", web::post().to(session::websocket_url))
            .route("/me/websocket/", web::post().to(session::websocket_url))
            .route("/users", web::get().to(users::users))
            .route("/users/{oid}", web::get().to(users::user))
            .default_service(web::to(not_found)),
    );
}

/// A Xelion error before it becomes an answer (the request supplies the `info`).
#[derive(Debug)]
pub struct XErr {
    status: u16,
    code: i64,
    message: String,
}

impl XErr {
    /// An error with a status, an errorCode and a message.
    pub fn new(status: u16, code: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The errorCode.
    pub fn code(&self) -> i64 {
        self.code
    }

    /// The answer to `req`.
    pub fn respond(&self, req: &HttpRequest) -> HttpResponse {
        xerr(req, self.status, self.code, &self.message)
    }
}

/// A Xelion error answer: `{"errorCode","message","info":"resource=METHOD /path"}`.
pub fn xerr(req: &HttpRequest, status: u16, code: i64, message: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(json!({
        "errorCode": code,
        "message": message,
        "info": format!("resource={} {}", req.method(), req.path()),
    }))
}

/// The errorCode Xelion uses for a status when a fault does not say.
fn default_code(status: u16) -> i64 {
    match status {
        400 => 10202,
        401 => 10020,
        403 => 10101,
        404 => 10100,
        429 => 10400,
        _ => 11000,
    }
}

/// The message that goes with an errorCode chosen by a fault.
fn default_message(code: i64) -> &'static str {
    match code {
        10020 => "Invalid authentication token",
        10101 => "No permission",
        10100 => "Not found",
        10202 => "Bad payload",
        10400 => "Too many concurrent requests",
        _ => "Internal server error",
    }
}

/// Counts the request and applies the injected faults; `Err` is the answer to give instead.
pub async fn apply_faults(
    data: &Data,
    req: &HttpRequest,
    tenant: Option<&str>,
) -> Result<(), XErr> {
    let outcome = {
        let mut st = lock(&data.xelion);
        if let Some(t) = tenant {
            st.counts_mut(t).requests += 1;
        }
        let out = st.faults.check(req.method().as_str(), req.path(), tenant);
        if out.hit() {
            match tenant {
                Some(t) => st.counts_mut(t).faults_applied += 1,
                None => st.unknown_tenant_counts.faults_applied += 1,
            }
        }
        out
    };
    if !outcome.latency.is_zero() {
        tokio::time::sleep(outcome.latency).await;
    }
    let Some(spec) = outcome.action else {
        return Ok(());
    };
    match spec.kind {
        FaultKind::Latency => Ok(()),
        FaultKind::Drop => {
            crate::conn::drop_connection(req);
            Err(XErr::new(500, 11000, "Connection dropped by the simulator"))
        }
        FaultKind::Status | FaultKind::RefuseWebsocket => {
            let default_status = if spec.kind == FaultKind::Status {
                500
            } else {
                503
            };
            let status = spec.status.unwrap_or(default_status);
            let code = spec.error_code.unwrap_or_else(|| default_code(status));
            Err(XErr::new(status, code, default_message(code)))
        }
    }
}

/// A parsed JSON body, or the Xelion error for an empty or malformed one.
pub(super) fn json_body(body: &[u8]) -> Result<Value, XErr> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(XErr::new(400, 10200, "Empty payload"));
    }
    serde_json::from_slice(body).map_err(|e| XErr::new(400, 10202, format!("Bad payload: {e}")))
}

/// The token of `Authorization: xelion <token>`, or the Xelion error.
fn auth_token(req: &HttpRequest) -> Result<String, XErr> {
    let Some(value) = req.headers().get("authorization") else {
        return Err(XErr::new(403, 10000, "No Authorization header"));
    };
    let value = value.to_str().unwrap_or("");
    match value.strip_prefix("xelion ") {
        Some(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
        _ => Err(XErr::new(
            401,
            10000,
            "Not authenticated: expected `Authorization: xelion <token>`",
        )),
    }
}

/// The session and user behind a request, or the Xelion error (403/401).
pub(super) fn authenticate(
    data: &Data,
    req: &HttpRequest,
    tenant: &str,
) -> Result<(String, XSession, User), XErr> {
    let token = auth_token(req)?;
    let st = lock(&data.xelion);
    let Some(t) = st.tenants.get(tenant) else {
        return Err(XErr::new(401, 10020, "Invalid authentication token"));
    };
    let Some(session) = t.sessions.get(&token) else {
        return Err(XErr::new(401, 10020, "Invalid authentication token"));
    };
    if session.valid_until <= SystemTime::now() {
        return Err(XErr::new(401, 10021, "Session expired"));
    }
    let Some(user) = t.users.get(&session.oid) else {
        return Err(XErr::new(401, 10020, "Invalid authentication token"));
    };
    Ok((token, session.clone(), user.clone()))
}

/// Anything else under `/api/v1/{tenant}/`.
async fn not_found(req: HttpRequest) -> HttpResponse {
    xerr(&req, 404, 10100, "Not found")
}
