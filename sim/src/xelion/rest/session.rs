//! The session calls: `me/login`, `me/renew`, `me/logout`, `me/websocket`.

use std::time::SystemTime;

use actix_web::{web, HttpRequest, HttpResponse};
use rand::Rng;
use serde_json::{json, Value};

use super::{apply_faults, authenticate, json_body, XErr, ALREADY_LOGGED_IN};
use crate::random::random_token;
use crate::state::{lock, Data};
use crate::time::xelion_date;
use crate::xelion::{Ticket, XSession};

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

/// Counts a `me/login` as in flight while it lives: dropped when the handler ends, also when
/// the client goes away and actix drops the handler mid-way.
struct LoginInFlight(Data);

impl LoginInFlight {
    fn enter(data: &Data) -> Self {
        lock(&data.xelion).login_started();
        Self(data.clone())
    }
}

impl Drop for LoginInFlight {
    fn drop(&mut self) {
        lock(&self.0.xelion).login_ended();
    }
}

/// `POST me/login`.
pub(super) async fn login(
    data: Data,
    req: HttpRequest,
    tenant: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    // Entered before the faults, so injected latency counts as time in flight.
    let _in_flight = LoginInFlight::enter(&data);
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
            if r.code() == ALREADY_LOGGED_IN {
                c.login_conflicts += 1;
            }
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
                ALREADY_LOGGED_IN,
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
pub(super) async fn renew(
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
pub(super) async fn logout(
    data: Data,
    req: HttpRequest,
    tenant: web::Path<String>,
) -> HttpResponse {
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

/// `POST me/websocket`: a single-use URL built from the Host the client used.
pub(super) async fn websocket_url(
    data: Data,
    req: HttpRequest,
    tenant: web::Path<String>,
) -> HttpResponse {
    let tenant = tenant.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    let (_, session, user) = match authenticate(&data, &req, &tenant) {
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
            user_space: session.user_space,
            is_admin: user.is_admin,
        },
    );
    st.counts_mut(&tenant).websocket_urls += 1;
    HttpResponse::Ok().json(json!({ "object": url }))
}
