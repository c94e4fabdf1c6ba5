//! `POST /oauth2/token`: the refresh_token, device_code and client_credentials grants
//! (RFC 6749, RFC 8628), with RFC 6749 error bodies.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde_json::{json, Value};

use super::{CrmState, DeviceState, RefreshState, RefreshToken};
use crate::api::FaultKind;
use crate::random::random_token;
use crate::state::{lock, Data};

/// The grant type URN of RFC 8628.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How much `slow_down` adds to a device code's interval (RFC 8628 section 3.5).
const SLOW_DOWN_STEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Registers the token endpoint on an app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth2/token", web::post().to(token));
}

/// An OAuth error: its status, code and description.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

fn err(error: &'static str, description: impl Into<String>) -> OAuthError {
    let status = match error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    OAuthError {
        status,
        error,
        description: description.into(),
    }
}

/// `application/x-www-form-urlencoded` fields; later duplicates win.
fn form(req: &HttpRequest, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    if let Some(ct) = req.headers().get("content-type") {
        let ct = ct.to_str().unwrap_or("");
        if !ct.starts_with("application/x-www-form-urlencoded") {
            return Err(err(
                "invalid_request",
                format!("expected an application/x-www-form-urlencoded body, got `{ct}`"),
            ));
        }
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| err("invalid_request", format!("malformed form body: {e}")))?;
    Ok(pairs.into_iter().collect())
}

/// client_id and client_secret from HTTP Basic (form-urlencoded inside, RFC 6749 2.3.1) or
/// from the form.
fn client_credentials(
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> Result<(Option<String>, Option<String>), OAuthError> {
    if let Some(h) = req.headers().get("authorization") {
        let h = h.to_str().unwrap_or("");
        if let Some(b64) = h
            .strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
        {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| err("invalid_client", "Authorization: Basic is not valid base64"))?;
            let raw = String::from_utf8(raw)
                .map_err(|_| err("invalid_client", "Authorization: Basic is not UTF-8"))?;
            let Some((id, secret)) = raw.split_once(':') else {
                return Err(err("invalid_client", "Authorization: Basic lacks `:`"));
            };
            let decode = |s: &str| -> String {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()
                    .and_then(|mut v| v.pop())
                    .map(|(_, v)| v)
                    .unwrap_or_else(|| s.to_owned())
            };
            return Ok((Some(decode(id)), Some(decode(secret))));
        }
    }
    Ok((
        form.get("client_id").cloned(),
        form.get("client_secret").cloned(),
    ))
}

/// Authenticates the client; returns its id.
fn authenticate_client(
    st: &CrmState,
    id: Option<String>,
    secret: Option<String>,
) -> Result<String, OAuthError> {
    let Some(id) = id else {
        return Err(err(
            "invalid_client",
            "no client_id (form field or HTTP Basic)",
        ));
    };
    match st.clients.get(&id) {
        None => Err(err("invalid_client", format!("unknown client `{id}`"))),
        Some(Some(expected)) if secret.as_deref() != Some(expected.as_str()) => {
            Err(err("invalid_client", "wrong client_secret"))
        }
        Some(_) => Ok(id),
    }
}

/// A required form field.
fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err("invalid_request", format!("missing `{name}`")))
}

/// Runs a grant against the state; returns the success body and the grant's counter name.
fn grant(
    st: &mut CrmState,
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> Result<(Value, &'static str), OAuthError> {
    let grant_type = field(form, "grant_type")?.to_owned();
    let (id, secret) = client_credentials(req, form)?;
    let client = authenticate_client(st, id, secret)?;
    match grant_type.as_str() {
        "refresh_token" => refresh(st, form, &client).map(|v| (v, "refresh_token")),
        DEVICE_CODE_GRANT => device_code(st, form, &client).map(|v| (v, "device_code")),
        "client_credentials" => {
            if st.clients.get(&client).is_some_and(Option::is_none) {
                return Err(err(
                    "unauthorized_client",
                    "client_credentials needs a confidential client (one with a secret)",
                ));
            }
            let (access, expires_in) = st.issue_access_token(&client, None);
            Ok((token_body(&access, expires_in, None), "client_credentials"))
        }
        other => Err(err(
            "unsupported_grant_type",
            format!("grant_type `{other}` is not supported (refresh_token, {DEVICE_CODE_GRANT}, client_credentials)"),
        )),
    }
}

/// The success body of RFC 6749 section 5.1.
fn token_body(access: &str, expires_in: u64, refresh: Option<&str>) -> Value {
    let mut v = json!({"access_token": access, "token_type": "Bearer", "expires_in": expires_in});
    if let Some(r) = refresh {
        v["refresh_token"] = json!(r);
    }
    v
}

/// Whether a token bound to `owner` may be used by `client`.
fn client_allowed(owner: Option<&String>, client: &str) -> bool {
    owner.is_none_or(|o| o == client)
}

/// The refresh_token grant, rotating the refresh token when the setting says so.
fn refresh(
    st: &mut CrmState,
    form: &HashMap<String, String>,
    client: &str,
) -> Result<Value, OAuthError> {
    let presented = field(form, "refresh_token")?.to_owned();
    let Some(rt) = st.refresh_tokens.get(&presented).cloned() else {
        return Err(err("invalid_grant", "unknown refresh token"));
    };
    match rt.state {
        RefreshState::Revoked => return Err(err("invalid_grant", "refresh token revoked")),
        RefreshState::Rotated => {
            return Err(err(
                "invalid_grant",
                "refresh token already used and rotated",
            ))
        }
        RefreshState::Active => {}
    }
    if !client_allowed(rt.client_id.as_ref(), client) {
        return Err(err(
            "invalid_grant",
            "refresh token was issued to another client",
        ));
    }
    let (access, expires_in) = st.issue_access_token(&rt.subject, None);
    if !st.rotate_refresh_tokens {
        return Ok(token_body(&access, expires_in, None));
    }
    let next = format!("rt-{}", random_token(32));
    if let Some(old) = st.refresh_tokens.get_mut(&presented) {
        old.state = RefreshState::Rotated;
    }
    st.refresh_tokens.insert(
        next.clone(),
        RefreshToken {
            state: RefreshState::Active,
            ..rt
        },
    );
    Ok(token_body(&access, expires_in, Some(&next)))
}

/// The device_code grant of RFC 8628 section 3.4/3.5.
fn device_code(
    st: &mut CrmState,
    form: &HashMap<String, String>,
    client: &str,
) -> Result<Value, OAuthError> {
    let code = field(form, "device_code")?.to_owned();
    let Some(dc) = st.device_codes.get_mut(&code) else {
        return Err(err("invalid_grant", "unknown device code"));
    };
    if !client_allowed(dc.client_id.as_ref(), client) {
        return Err(err(
            "invalid_grant",
            "device code was issued to another client",
        ));
    }
    if dc.expires_at <= SystemTime::now() && dc.state != DeviceState::Used {
        return Err(err("expired_token", "the device code has expired"));
    }
    let now = Instant::now();
    let previous = dc.last_poll.replace(now);
    match dc.state {
        DeviceState::Pending => {
            if previous.is_some_and(|p| now.duration_since(p) < dc.interval) {
                dc.interval += SLOW_DOWN_STEP;
                return Err(err(
                    "slow_down",
                    format!(
                        "polling too fast; wait {} s between polls",
                        dc.interval.as_secs()
                    ),
                ));
            }
            Err(err(
                "authorization_pending",
                "the user has not approved yet",
            ))
        }
        DeviceState::Denied => Err(err("access_denied", "the user denied the authorization")),
        DeviceState::Used => Err(err("invalid_grant", "device code already used")),
        DeviceState::Approved => {
            dc.state = DeviceState::Used;
            let subject = dc.subject.clone();
            let owner = dc.client_id.clone();
            let (access, expires_in) = st.issue_access_token(&subject, None);
            let refresh = format!("rt-{}", random_token(32));
            st.refresh_tokens.insert(
                refresh.clone(),
                RefreshToken {
                    client_id: owner.or_else(|| Some(client.to_owned())),
                    subject,
                    state: RefreshState::Active,
                },
            );
            Ok(token_body(&access, expires_in, Some(&refresh)))
        }
    }
}

/// `POST /oauth2/token`.
async fn token(data: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let outcome = {
        let mut st = lock(&data.crm);
        st.counters.token_requests += 1;
        let out = st
            .faults
            .check_with(req.method().as_str(), req.path(), None, true);
        if out.hit() {
            st.counters.faults_applied += 1;
        }
        out
    };
    if !outcome.latency.is_zero() {
        tokio::time::sleep(outcome.latency).await;
    }
    if let Some(spec) = outcome.action {
        match spec.kind {
            FaultKind::Drop => {
                crate::conn::drop_connection(&req);
                return HttpResponse::InternalServerError().finish();
            }
            FaultKind::Status | FaultKind::RefuseWebsocket => {
                return super::resource::fault_answer(&spec);
            }
            FaultKind::Latency => {}
        }
    }
    let result = form(&req, &body).and_then(|f| {
        let mut st = lock(&data.crm);
        grant(&mut st, &req, &f)
    });
    let mut st = lock(&data.crm);
    match result {
        Ok((body, grant_type)) => {
            *st.counters.grants.entry(grant_type.to_owned()).or_default() += 1;
            HttpResponse::Ok()
                .insert_header(("cache-control", "no-store"))
                .insert_header(("pragma", "no-cache"))
                .json(body)
        }
        Err(e) => {
            *st.counters
                .token_errors
                .entry(e.error.to_owned())
                .or_default() += 1;
            let mut resp = HttpResponse::build(e.status);
            resp.insert_header(("cache-control", "no-store"));
            if e.status == StatusCode::UNAUTHORIZED {
                resp.insert_header(("www-authenticate", "Basic realm=\"cti-sim\""));
            }
            resp.json(json!({"error": e.error, "error_description": e.description}))
        }
    }
}
