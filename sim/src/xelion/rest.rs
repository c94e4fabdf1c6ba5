//! The Xelion REST API v1: `me/login`, `me/renew`, `me/logout`, `me/info`, `me/websocket`,
//! `users`, `users/{oid}`, with Xelion's error bodies and codes.

use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use rand::Rng;
use serde_json::{json, Value};

use super::{random_token, Ticket, User, XSession};
use crate::api::FaultKind;
use crate::time::xelion_date;
use crate::{lock, Shared};

/// Shared state as actix hands it to handlers.
type Data = web::Data<Shared>;

/// Registers the REST routes on an app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/{tenant}")
            .route("/me/login", web::post().to(login))
            .route("/me/renew", web::post().to(renew))
            .route("/me/logout", web::post().to(logout))
            .route("/me/info", web::get().to(info))
            .route("/me/websocket", web::post().to(websocket_url))
            .route("/me/websocket/", web::post().to(websocket_url))
            .route("/users", web::get().to(users))
            .route("/users/{oid}", web::get().to(user))
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
fn json_body(body: &[u8]) -> Result<Value, XErr> {
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
fn authenticate(
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

/// The string field `name` of a JSON object, if present and a string.
fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The answer to a login or renewal.
fn session_answer(req: &HttpRequest, tenant: &str, user: &str, token: &str, s: &XSession) -> Value {
    json!({
        "authentication": token,
        "renewalToken": s.renewal_token,
        "validUntil": xelion_date(s.valid_until),
        "version": "1.0",
        "serverVersion": "6.5.2",
        "buildNumber": "6.5.2.20250101",
        "brand": "Xelion",
        "host": req.connection_info().host().to_owned(),
        "tenant": tenant,
        "userName": user,
    })
}

/// `POST me/login`.
async fn login(
    data: Data,
    req: HttpRequest,
    tenant: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let tenant = tenant.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    let result = do_login(&data, &req, &tenant, &body);
    let mut st = lock(&data.xelion);
    let c = st.counts_mut(&tenant);
    match result {
        Ok(answer) => {
            c.logins += 1;
            HttpResponse::Ok().json(answer)
        }
        Err(r) => {
            c.login_failures += 1;
            r.respond(&req)
        }
    }
}

/// The checks and session creation of `me/login`.
fn do_login(data: &Data, req: &HttpRequest, tenant: &str, body: &[u8]) -> Result<Value, XErr> {
    let v = json_body(body)?;
    if !v.is_object() {
        return Err(XErr::new(400, 10202, "Bad payload: expected a JSON object"));
    }
    let Some(user_name) = str_field(&v, "userName") else {
        return Err(XErr::new(400, 10002, "No user name given"));
    };
    let Some(password) = str_field(&v, "password") else {
        return Err(XErr::new(400, 10003, "No password given"));
    };
    let Some(user_space) = str_field(&v, "userSpace") else {
        return Err(XErr::new(401, 10011, "No userSpace given"));
    };
    // An Authorization header on login names the old session to replace.
    let presented = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("xelion "))
        .map(|t| t.trim().to_owned());
    let mut st = lock(&data.xelion);
    let Some(t) = st.tenants.get_mut(tenant) else {
        return Err(XErr::new(401, 10004, "Wrong user name, password or tenant"));
    };
    let Some(user) = t.user_by_name(user_name).cloned() else {
        return Err(XErr::new(401, 10004, "Wrong user name, password or tenant"));
    };
    if user.password != password {
        return Err(XErr::new(401, 10004, "Wrong user name, password or tenant"));
    }
    if !user.active {
        return Err(XErr::new(401, 10006, "Account is disabled"));
    }
    let now = SystemTime::now();
    t.sessions.retain(|_, s| s.valid_until > now);
    let existing = t
        .sessions
        .iter()
        .find(|(_, s)| s.oid == user.oid && s.user_space == user_space)
        .map(|(token, _)| token.clone());
    if let Some(old) = existing {
        if presented.as_deref() == Some(old.as_str()) {
            t.sessions.remove(&old);
        } else {
            return Err(XErr::new(
                401,
                10005,
                "User is already logged in with this userSpace",
            ));
        }
    }
    let token = random_token(40);
    let session = XSession {
        oid: user.oid,
        user_space: user_space.to_owned(),
        renewal_token: random_token(40),
        valid_until: now + t.session_lifetime,
    };
    let answer = session_answer(req, tenant, &user.user_name, &token, &session);
    t.sessions.insert(token, session);
    Ok(answer)
}

/// `POST me/renew`: the body is a bare JSON string, the renewal token or the password.
async fn renew(
    data: Data,
    req: HttpRequest,
    tenant: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let tenant = tenant.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    let result = do_renew(&data, &req, &tenant, &body);
    let mut st = lock(&data.xelion);
    let c = st.counts_mut(&tenant);
    match result {
        Ok(answer) => {
            c.renewals += 1;
            HttpResponse::Ok().json(answer)
        }
        Err(r) => {
            c.renewal_failures += 1;
            r.respond(&req)
        }
    }
}

/// The checks of `me/renew`; the old token stops working, the session keeps its userSpace.
fn do_renew(data: &Data, req: &HttpRequest, tenant: &str, body: &[u8]) -> Result<Value, XErr> {
    let (old_token, session, user) = authenticate(data, req, tenant)?;
    let v = json_body(body)?;
    let Some(secret) = v.as_str() else {
        return Err(XErr::new(
            400,
            10202,
            "Bad payload: expected a JSON string (renewal token or password)",
        ));
    };
    if secret != session.renewal_token && secret != user.password {
        return Err(XErr::new(401, 10004, "Wrong renewal token or password"));
    }
    let mut st = lock(&data.xelion);
    let Some(t) = st.tenants.get_mut(tenant) else {
        return Err(XErr::new(401, 10020, "Invalid authentication token"));
    };
    if t.sessions.remove(&old_token).is_none() {
        // Logged out or renewed by a concurrent request in the meantime.
        return Err(XErr::new(401, 10020, "Invalid authentication token"));
    }
    let token = random_token(40);
    let renewed = XSession {
        renewal_token: random_token(40),
        valid_until: SystemTime::now() + t.session_lifetime,
        ..session
    };
    let answer = session_answer(req, tenant, &user.user_name, &token, &renewed);
    t.sessions.insert(token, renewed);
    Ok(answer)
}

/// `POST me/logout`: ends the session (open websockets stay open).
async fn logout(data: Data, req: HttpRequest, tenant: web::Path<String>) -> HttpResponse {
    let tenant = tenant.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    let token = match authenticate(&data, &req, &tenant) {
        Ok((token, _, _)) => token,
        Err(r) => return r.respond(&req),
    };
    let mut st = lock(&data.xelion);
    if let Some(t) = st.tenants.get_mut(&tenant) {
        t.sessions.remove(&token);
        t.counts.logouts += 1;
    }
    HttpResponse::Ok().finish()
}

/// The REST representation of a user.
fn user_object(u: &User) -> Value {
    json!({
        "oid": u.oid.to_string(),
        "objectType": "User",
        "userName": u.user_name,
        "commonName": u.common_name,
        "active": u.active,
        "isAdministrator": u.is_admin,
    })
}

/// The `links` of a user object.
fn user_links(tenant: &str, u: &User) -> Value {
    json!([{"rel": "self", "href": format!("/api/v1/{tenant}/users/{}", u.oid)}])
}

/// `GET me/info`: the logged-in user, wrapped in `{"object":...}`.
async fn info(data: Data, req: HttpRequest, tenant: web::Path<String>) -> HttpResponse {
    let tenant = tenant.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    match authenticate(&data, &req, &tenant) {
        Ok((_, _, u)) => HttpResponse::Ok().json(json!({
            "object": user_object(&u),
            "links": user_links(&tenant, &u),
        })),
        Err(r) => r.respond(&req),
    }
}

/// `POST me/websocket`: a single-use URL built from the Host the client used.
async fn websocket_url(data: Data, req: HttpRequest, tenant: web::Path<String>) -> HttpResponse {
    let tenant = tenant.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    let (_, _, user) = match authenticate(&data, &req, &tenant) {
        Ok(x) => x,
        Err(r) => return r.respond(&req),
    };
    let (a, b, c) = {
        let mut rng = rand::thread_rng();
        (
            rng.gen_range(1000..10_000u32),
            rng.gen_range(100_000..1_000_000u32),
            rng.gen_range(100_000..1_000_000u32),
        )
    };
    let path = format!("{a}/{b}/{c}/{}", random_token(32));
    let url = format!("ws://{}/websocket/{path}", req.connection_info().host());
    let mut st = lock(&data.xelion);
    st.tickets.insert(
        path,
        Ticket {
            tenant: tenant.clone(),
            oid: user.oid,
            user_name: user.user_name.clone(),
            is_admin: user.is_admin,
        },
    );
    st.counts_mut(&tenant).websocket_urls += 1;
    HttpResponse::Ok().json(json!({ "object": url }))
}

/// Query parameters of `GET users`.
fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, XErr> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| XErr::new(400, 10202, format!("Bad query string: {e}")))
}

/// A numeric query parameter, or the Xelion error naming it.
fn num_param(name: &str, value: &str) -> Result<u64, XErr> {
    value.parse().map_err(|_| {
        XErr::new(
            400,
            10202,
            format!("Bad query parameter {name}: `{value}` is not a number"),
        )
    })
}

/// `GET users`: `where=userName=<name>` (or `commonName=`), paged with `limit`, `after`, `before`.
async fn users(data: Data, req: HttpRequest, tenant: web::Path<String>) -> HttpResponse {
    let tenant = tenant.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    if let Err(r) = authenticate(&data, &req, &tenant) {
        return r.respond(&req);
    }
    match list_users(&data, &req, &tenant) {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(r) => r.respond(&req),
    }
}

/// The filtering and paging of `GET users`.
fn list_users(data: &Data, req: &HttpRequest, tenant: &str) -> Result<Value, XErr> {
    let mut limit = 15u64;
    let mut after = None;
    let mut before = None;
    let mut filter: Option<(String, String)> = None;
    for (k, v) in query_pairs(req)? {
        match k.as_str() {
            "limit" => limit = num_param("limit", &v)?.clamp(1, 1000),
            "after" => after = Some(num_param("after", &v)?),
            "before" => before = Some(num_param("before", &v)?),
            "where" => {
                let Some((field, value)) = v.split_once('=') else {
                    return Err(XErr::new(
                        400,
                        10202,
                        "Bad where clause: expected `field=value`",
                    ));
                };
                if field != "userName" && field != "commonName" {
                    return Err(XErr::new(
                        400,
                        10202,
                        format!(
                            "Bad where clause: cannot filter on `{field}` (userName, commonName)"
                        ),
                    ));
                }
                filter = Some((field.to_owned(), value.to_owned()));
            }
            _ => {}
        }
    }
    let st = lock(&data.xelion);
    let Some(t) = st.tenants.get(tenant) else {
        return Err(XErr::new(404, 10100, "Not found"));
    };
    let matching: Vec<&User> = t
        .users
        .values()
        .filter(|u| match &filter {
            Some((f, v)) if f == "userName" => u.user_name.eq_ignore_ascii_case(v),
            Some((_, v)) => u.common_name.eq_ignore_ascii_case(v),
            None => true,
        })
        .filter(|u| after.is_none_or(|a| u.oid > a))
        .filter(|u| before.is_none_or(|b| u.oid < b))
        .collect();
    let limit = usize::try_from(limit).unwrap_or(15);
    // With `before` the page is the one just before that id, like scrolling back.
    let page: Vec<&User> = if before.is_some() && after.is_none() {
        let skip = matching.len().saturating_sub(limit);
        matching[skip..].to_vec()
    } else {
        matching.into_iter().take(limit).collect()
    };
    let items: Vec<Value> = page
        .iter()
        .map(|u| json!({"object": user_object(u), "links": user_links(tenant, u)}))
        .collect();
    let mut meta = json!({
        "links": [{"rel": "self", "href": format!("{}?{}", req.path(), req.query_string())}],
    });
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        meta["paging"] = json!({
            "previousId": first.oid.to_string(),
            "nextId": last.oid.to_string(),
        });
    }
    Ok(json!({ "data": items, "meta": meta }))
}

/// `GET users/{oid}`.
async fn user(data: Data, req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    let (tenant, oid) = path.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    if let Err(r) = authenticate(&data, &req, &tenant) {
        return r.respond(&req);
    }
    let st = lock(&data.xelion);
    let found = oid
        .parse::<u64>()
        .ok()
        .and_then(|o| st.tenants.get(&tenant)?.users.get(&o));
    match found {
        Some(u) => HttpResponse::Ok().json(json!({
            "object": user_object(u),
            "links": user_links(&tenant, u),
        })),
        None => xerr(&req, 404, 10100, "Not found"),
    }
}

/// Anything else under `/api/v1/{tenant}/`.
async fn not_found(req: HttpRequest) -> HttpResponse {
    xerr(&req, 404, 10100, "Not found")
}
