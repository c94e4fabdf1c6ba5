//! The control API under `/_sim/`, served on both listeners: tenants, users, calls, faults,
//! counters, OAuth clients and tokens, recorded CRM requests.

use std::time::{Duration, SystemTime};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use crate::api::{
    Affected, CrmSettings, DropSockets, ExpireAccessTokens, ExpireSessions, FaultKind, FaultSpec,
    NewAccessToken, NewCall, NewClient, NewDeviceCode, NewRefreshToken, NewTenant, NewUser,
    TenantUpdate, TokenCreated, UserUpdate,
};
use crate::crm::{DeviceCode, DeviceState, RefreshState, RefreshToken};
use crate::xelion::random_token;
use crate::{lock, Shared};

/// Shared state as actix hands it to handlers.
type Data = web::Data<Shared>;

/// Registers every control route on an app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim")
            .route("/xelion/tenants", web::get().to(list_tenants))
            .route("/xelion/tenants", web::post().to(create_tenant))
            .route("/xelion/tenants/{tenant}", web::get().to(get_tenant))
            .route("/xelion/tenants/{tenant}", web::patch().to(update_tenant))
            .route("/xelion/tenants/{tenant}", web::delete().to(delete_tenant))
            .route("/xelion/tenants/{tenant}/users", web::get().to(list_users))
            .route(
                "/xelion/tenants/{tenant}/users",
                web::post().to(create_user),
            )
            .route(
                "/xelion/tenants/{tenant}/users/{user}",
                web::patch().to(update_user),
            )
            .route("/xelion/tenants/{tenant}/calls", web::post().to(place_call))
            .route(
                "/xelion/tenants/{tenant}/sessions/expire",
                web::post().to(expire_sessions),
            )
            .route(
                "/xelion/tenants/{tenant}/sockets/drop",
                web::post().to(drop_sockets),
            )
            .route("/xelion/counters", web::get().to(xelion_counters))
            .route("/xelion/faults", web::get().to(xelion_faults))
            .route("/xelion/faults", web::post().to(add_xelion_fault))
            .route("/xelion/faults", web::delete().to(clear_xelion_faults))
            .route("/xelion/faults/{id}", web::delete().to(remove_xelion_fault))
            .route("/crm/clients", web::get().to(list_clients))
            .route("/crm/clients", web::post().to(add_client))
            .route("/crm/refresh-tokens", web::post().to(add_refresh_token))
            .route(
                "/crm/refresh-tokens/{token}/revoke",
                web::post().to(revoke_refresh_token),
            )
            .route("/crm/device-codes", web::post().to(add_device_code))
            .route(
                "/crm/device-codes/{code}/approve",
                web::post().to(approve_device_code),
            )
            .route(
                "/crm/device-codes/{code}/deny",
                web::post().to(deny_device_code),
            )
            .route("/crm/access-tokens", web::post().to(add_access_token))
            .route(
                "/crm/access-tokens/expire",
                web::post().to(expire_access_tokens),
            )
            .route("/crm/settings", web::get().to(get_settings))
            .route("/crm/settings", web::patch().to(update_settings))
            .route("/crm/requests", web::get().to(list_requests))
            .route("/crm/requests", web::delete().to(clear_requests))
            .route("/crm/counters", web::get().to(crm_counters))
            .route("/crm/faults", web::get().to(crm_faults))
            .route("/crm/faults", web::post().to(add_crm_fault))
            .route("/crm/faults", web::delete().to(clear_crm_faults))
            .route("/crm/faults/{id}", web::delete().to(remove_crm_fault))
            .default_service(web::to(unknown_route)),
    );
}

/// A control API error: `{"error": "<what is wrong>"}`.
fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.into() }))
}

/// 400 with a message.
fn bad(message: impl Into<String>) -> HttpResponse {
    error(StatusCode::BAD_REQUEST, message)
}

/// 404 with a message.
fn missing(message: impl Into<String>) -> HttpResponse {
    error(StatusCode::NOT_FOUND, message)
}

/// 200 with a JSON body.
fn ok<T: Serialize>(v: &T) -> HttpResponse {
    HttpResponse::Ok().json(v)
}

/// A JSON body; an empty body reads as `{}` so optional-only bodies may be left out.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))
}

async fn unknown_route(req: HttpRequest) -> HttpResponse {
    missing(format!(
        "no control API route {} {} (see the cti-sim README)",
        req.method(),
        req.path()
    ))
}

async fn list_tenants(data: Data) -> HttpResponse {
    let st = lock(&data.xelion);
    let list: Vec<_> = st.tenants.values().map(|t| t.info()).collect();
    ok(&list)
}

async fn create_tenant(data: Data, body: web::Bytes) -> HttpResponse {
    let new: NewTenant = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    match lock(&data.xelion).add_tenant(&new.name, new.session_lifetime_seconds) {
        Ok(info) => HttpResponse::Created().json(info),
        Err(e) if e.contains("already exists") => error(StatusCode::CONFLICT, e),
        Err(e) => bad(e),
    }
}

async fn get_tenant(data: Data, tenant: web::Path<String>) -> HttpResponse {
    match lock(&data.xelion).tenants.get(tenant.as_str()) {
        Some(t) => ok(&t.info()),
        None => missing(format!("tenant `{tenant}` does not exist")),
    }
}

async fn update_tenant(data: Data, tenant: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let upd: TenantUpdate = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let mut st = lock(&data.xelion);
    let Some(t) = st.tenants.get_mut(tenant.as_str()) else {
        return missing(format!("tenant `{tenant}` does not exist"));
    };
    if let Some(s) = upd.session_lifetime_seconds {
        t.session_lifetime = Duration::from_secs(s);
    }
    ok(&t.info())
}

async fn delete_tenant(data: Data, tenant: web::Path<String>) -> HttpResponse {
    crate::xelion::ws::drop_sockets(&data, &tenant, None, crate::api::DropMode::Abrupt);
    let mut st = lock(&data.xelion);
    st.tickets.retain(|_, t| t.tenant != tenant.as_str());
    match st.tenants.remove(tenant.as_str()) {
        Some(_) => HttpResponse::NoContent().finish(),
        None => missing(format!("tenant `{tenant}` does not exist")),
    }
}

async fn list_users(data: Data, tenant: web::Path<String>) -> HttpResponse {
    match lock(&data.xelion).tenants.get(tenant.as_str()) {
        Some(t) => ok(&t.info().users),
        None => missing(format!("tenant `{tenant}` does not exist")),
    }
}

async fn create_user(data: Data, tenant: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let new: NewUser = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let mut st = lock(&data.xelion);
    if !st.tenants.contains_key(tenant.as_str()) {
        return missing(format!("tenant `{tenant}` does not exist"));
    }
    match st.add_user(&tenant, new) {
        Ok(u) => HttpResponse::Created().json(u),
        Err(e) if e.contains("already exists") => error(StatusCode::CONFLICT, e),
        Err(e) => bad(e),
    }
}

async fn update_user(
    data: Data,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (tenant, user) = path.into_inner();
    let upd: UserUpdate = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let mut st = lock(&data.xelion);
    let Some(t) = st.tenants.get_mut(&tenant) else {
        return missing(format!("tenant `{tenant}` does not exist"));
    };
    let Some(u) = t.users.values_mut().find(|u| u.user_name == user) else {
        return missing(format!("user `{user}` does not exist in tenant `{tenant}`"));
    };
    if let Some(p) = upd.password {
        u.password = p;
    }
    if let Some(a) = upd.is_administrator {
        u.is_admin = a;
    }
    if let Some(a) = upd.active {
        u.active = a;
    }
    if let Some(c) = upd.common_name {
        u.common_name = c;
    }
    if let Some(p) = upd.phone_number {
        u.phone_number = p;
    }
    ok(&u.info())
}

async fn place_call(data: Data, tenant: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let call: NewCall = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    if !lock(&data.xelion).tenants.contains_key(tenant.as_str()) {
        return missing(format!("tenant `{tenant}` does not exist"));
    }
    match crate::xelion::calls::place(&data, &tenant, call).await {
        Ok(placed) => ok(&placed),
        Err(e) => bad(e),
    }
}

async fn expire_sessions(data: Data, tenant: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let req: ExpireSessions = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let mut st = lock(&data.xelion);
    let Some(t) = st.tenants.get_mut(tenant.as_str()) else {
        return missing(format!("tenant `{tenant}` does not exist"));
    };
    let only = match &req.user_name {
        Some(name) => match t.user_by_name(name) {
            Some(u) => Some(u.oid),
            None => return missing(format!("user `{name}` does not exist in tenant `{tenant}`")),
        },
        None => None,
    };
    let past = SystemTime::now() - Duration::from_secs(1);
    let mut affected = 0;
    for s in t.sessions.values_mut() {
        if only.is_none_or(|oid| oid == s.oid) {
            s.valid_until = s.valid_until.min(past);
            affected += 1;
        }
    }
    ok(&Affected { affected })
}

async fn drop_sockets(data: Data, tenant: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let req: DropSockets = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    if !lock(&data.xelion).tenants.contains_key(tenant.as_str()) {
        return missing(format!("tenant `{tenant}` does not exist"));
    }
    let affected =
        crate::xelion::ws::drop_sockets(&data, &tenant, req.user_name.as_deref(), req.mode);
    ok(&Affected { affected })
}

async fn xelion_counters(data: Data) -> HttpResponse {
    ok(&lock(&data.xelion).counters())
}

async fn xelion_faults(data: Data) -> HttpResponse {
    ok(&lock(&data.xelion).faults.list())
}

async fn add_xelion_fault(data: Data, body: web::Bytes) -> HttpResponse {
    let mut spec: FaultSpec = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    if let Err(e) = check_fault(&spec) {
        return bad(e);
    }
    if spec.kind == FaultKind::RefuseWebsocket && spec.path.is_none() {
        spec.path = Some("me/websocket".into());
    }
    HttpResponse::Created().json(lock(&data.xelion).faults.add(spec))
}

async fn clear_xelion_faults(data: Data) -> HttpResponse {
    lock(&data.xelion).faults.clear();
    HttpResponse::NoContent().finish()
}

async fn remove_xelion_fault(data: Data, id: web::Path<String>) -> HttpResponse {
    let Ok(id) = id.parse::<u64>() else {
        return bad(format!("`{id}` is not a fault id"));
    };
    if lock(&data.xelion).faults.remove(id) {
        HttpResponse::NoContent().finish()
    } else {
        missing(format!("no fault {id}"))
    }
}

/// What makes a fault meaningless.
fn check_fault(spec: &FaultSpec) -> Result<(), String> {
    if let Some(s) = spec.status {
        if !(100..=999).contains(&s) {
            return Err(format!("status: {s} is not an HTTP status"));
        }
    }
    if spec.kind == FaultKind::Latency && spec.latency_ms.is_none() {
        return Err("latencyMs: required for a latency fault".into());
    }
    if spec.kind == FaultKind::Status && spec.status.is_none() {
        return Err("status: required for a status fault".into());
    }
    if spec.count == Some(0) {
        return Err("count: must be at least 1 (leave it out for a lasting fault)".into());
    }
    Ok(())
}

async fn list_clients(data: Data) -> HttpResponse {
    let st = lock(&data.crm);
    let mut list: Vec<NewClient> = st
        .clients
        .iter()
        .map(|(id, secret)| NewClient {
            client_id: id.clone(),
            client_secret: secret.clone(),
        })
        .collect();
    list.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    ok(&list)
}

async fn add_client(data: Data, body: web::Bytes) -> HttpResponse {
    let new: NewClient = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    if new.client_id.is_empty() {
        return bad("clientId: must not be empty");
    }
    lock(&data.crm)
        .clients
        .insert(new.client_id.clone(), new.client_secret.clone());
    HttpResponse::Created().json(new)
}

async fn add_refresh_token(data: Data, body: web::Bytes) -> HttpResponse {
    let new: NewRefreshToken = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let token = new
        .token
        .unwrap_or_else(|| format!("rt-{}", random_token(32)));
    if token.is_empty() {
        return bad("token: must not be empty");
    }
    lock(&data.crm).refresh_tokens.insert(
        token.clone(),
        RefreshToken {
            client_id: new.client_id,
            subject: new.subject.clone(),
            state: RefreshState::Active,
        },
    );
    HttpResponse::Created().json(TokenCreated {
        token,
        subject: new.subject,
    })
}

async fn revoke_refresh_token(data: Data, token: web::Path<String>) -> HttpResponse {
    match lock(&data.crm).refresh_tokens.get_mut(token.as_str()) {
        Some(rt) => {
            rt.state = RefreshState::Revoked;
            HttpResponse::NoContent().finish()
        }
        None => missing(format!("no refresh token `{token}`")),
    }
}

async fn add_device_code(data: Data, body: web::Bytes) -> HttpResponse {
    let new: NewDeviceCode = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let code = new
        .device_code
        .unwrap_or_else(|| format!("dc-{}", random_token(32)));
    if code.is_empty() {
        return bad("deviceCode: must not be empty");
    }
    lock(&data.crm).device_codes.insert(
        code.clone(),
        DeviceCode {
            client_id: new.client_id,
            subject: new.subject.clone(),
            interval: Duration::from_secs(new.interval_seconds.unwrap_or(5)),
            expires_at: SystemTime::now()
                + Duration::from_secs(new.expires_in_seconds.unwrap_or(600)),
            last_poll: None,
            state: DeviceState::Pending,
        },
    );
    HttpResponse::Created().json(TokenCreated {
        token: code,
        subject: new.subject,
    })
}

/// Moves a pending device code to `to`.
fn decide_device_code(data: &Data, code: &str, to: DeviceState) -> HttpResponse {
    let mut st = lock(&data.crm);
    let Some(dc) = st.device_codes.get_mut(code) else {
        return missing(format!("no device code `{code}`"));
    };
    if dc.state != DeviceState::Pending {
        return error(
            StatusCode::CONFLICT,
            format!("device code `{code}` is no longer pending"),
        );
    }
    dc.state = to;
    HttpResponse::NoContent().finish()
}

async fn approve_device_code(data: Data, code: web::Path<String>) -> HttpResponse {
    decide_device_code(&data, &code, DeviceState::Approved)
}

async fn deny_device_code(data: Data, code: web::Path<String>) -> HttpResponse {
    decide_device_code(&data, &code, DeviceState::Denied)
}

async fn add_access_token(data: Data, body: web::Bytes) -> HttpResponse {
    let new: NewAccessToken = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let mut st = lock(&data.crm);
    let lifetime = new.expires_in_seconds.map(Duration::from_secs);
    let token = match new.token {
        Some(t) if t.is_empty() => return bad("token: must not be empty"),
        Some(t) => {
            let expires_at = SystemTime::now() + lifetime.unwrap_or(st.access_token_lifetime);
            st.access_tokens.insert(
                t.clone(),
                crate::crm::AccessToken {
                    subject: new.subject.clone(),
                    expires_at,
                },
            );
            t
        }
        None => st.issue_access_token(&new.subject, lifetime).0,
    };
    HttpResponse::Created().json(TokenCreated {
        token,
        subject: new.subject,
    })
}

async fn expire_access_tokens(data: Data, body: web::Bytes) -> HttpResponse {
    let req: ExpireAccessTokens = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let mut st = lock(&data.crm);
    let past = SystemTime::now() - Duration::from_secs(1);
    let mut affected = 0;
    for t in st.access_tokens.values_mut() {
        if req.subject.as_ref().is_none_or(|s| *s == t.subject) && t.expires_at > past {
            t.expires_at = past;
            affected += 1;
        }
    }
    ok(&Affected { affected })
}

/// The settings as the control API shows them.
fn settings(data: &Data) -> CrmSettings {
    let st = lock(&data.crm);
    CrmSettings {
        access_token_lifetime_seconds: Some(st.access_token_lifetime.as_secs()),
        rotate_refresh_tokens: Some(st.rotate_refresh_tokens),
    }
}

async fn get_settings(data: Data) -> HttpResponse {
    ok(&settings(&data))
}

async fn update_settings(data: Data, body: web::Bytes) -> HttpResponse {
    let upd: CrmSettings = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    {
        let mut st = lock(&data.crm);
        if let Some(s) = upd.access_token_lifetime_seconds {
            st.access_token_lifetime = Duration::from_secs(s);
        }
        if let Some(r) = upd.rotate_refresh_tokens {
            st.rotate_refresh_tokens = r;
        }
    }
    ok(&settings(&data))
}

/// `GET /_sim/crm/requests?path=&subject=&status=&method=`: filters are exact matches.
async fn list_requests(data: Data, req: HttpRequest) -> HttpResponse {
    let filters: Vec<(String, String)> = match serde_urlencoded::from_str(req.query_string()) {
        Ok(v) => v,
        Err(e) => return bad(format!("bad query string: {e}")),
    };
    for (k, _) in &filters {
        if !["path", "subject", "status", "method"].contains(&k.as_str()) {
            return bad(format!(
                "unknown filter `{k}` (path, subject, status, method)"
            ));
        }
    }
    let st = lock(&data.crm);
    let list: Vec<_> = st
        .requests
        .iter()
        .filter(|r| {
            filters.iter().all(|(k, v)| match k.as_str() {
                "path" => r.path == *v,
                "subject" => r.subject.as_deref() == Some(v.as_str()),
                "status" => r.status.map(|s| s.to_string()).as_deref() == Some(v.as_str()),
                _ => r.method.eq_ignore_ascii_case(v),
            })
        })
        .collect();
    ok(&list)
}

async fn clear_requests(data: Data) -> HttpResponse {
    lock(&data.crm).requests.clear();
    HttpResponse::NoContent().finish()
}

async fn crm_counters(data: Data) -> HttpResponse {
    ok(&lock(&data.crm).counters)
}

async fn crm_faults(data: Data) -> HttpResponse {
    ok(&lock(&data.crm).faults.list())
}

async fn add_crm_fault(data: Data, body: web::Bytes) -> HttpResponse {
    let spec: FaultSpec = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    if let Err(e) = check_fault(&spec) {
        return bad(e);
    }
    if spec.kind == FaultKind::RefuseWebsocket {
        return bad("kind: refuseWebsocket is a Xelion fault");
    }
    if spec.tenant.is_some() || spec.error_code.is_some() {
        return bad("tenant and errorCode are Xelion fault fields");
    }
    HttpResponse::Created().json(lock(&data.crm).faults.add(spec))
}

async fn clear_crm_faults(data: Data) -> HttpResponse {
    lock(&data.crm).faults.clear();
    HttpResponse::NoContent().finish()
}

async fn remove_crm_fault(data: Data, id: web::Path<String>) -> HttpResponse {
    let Ok(id) = id.parse::<u64>() else {
        return bad(format!("`{id}` is not a fault id"));
    };
    if lock(&data.crm).faults.remove(id) {
        HttpResponse::NoContent().finish()
    } else {
        missing(format!("no fault {id}"))
    }
}
