//! `/ui`: the status page. Rendered on the server from `templates/` (handlebars, compiled
//! into the binary), behind the admin session of the API: the login form runs the same
//! command as `POST /api/session/login`, and the API token lives in an HttpOnly,
//! SameSite=Strict cookie for `/ui`. Every POST is checked for its Origin (or Referer) and
//! for the session's CSRF value. No script; every value is HTML-escaped; no secret is shown.
//!
//! - `GET /ui`: the login form, or the page of the logged-in tenant;
//! - `POST /ui/login`, `POST /ui/logout`;
//! - `POST /ui/integrations/{xelionContextId}/deliveries/{deliveryId}/retry`: the delivery
//!   log's retry;
//! - `POST /ui/preview`: the mapping preview for a sample event.

mod guard;
mod page;
mod render;

use actix::Addr;
use actix_web::http::header::{HeaderValue, LOCATION, RETRY_AFTER, SET_COOKIE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use cti_actors::api::{EventUriMappingRequest, MappingPreviewRequest, SessionLoginRequest};
use cti_actors::domain::{CrmContextId, DeliveryId, HttpMethod, Protocol, XelionContextId};
use cti_actors::messages::{Login, Logout, PreviewMappings, RetryDelivery};
use cti_actors::{ApiError, Supervisor};
use serde::Serialize;
use serde_json::{json, Value};

use guard::{Form, CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE};
use page::{ask, StatusData};

/// The routes of the status page (also listed in `fallback.rs`, for 405).
pub const ROUTES: [(&str, &str); 5] = [
    ("/ui", "GET"),
    ("/ui/login", "POST"),
    ("/ui/logout", "POST"),
    ("/ui/preview", "POST"),
    (
        "/ui/integrations/{xelionContextId}/deliveries/{deliveryId}/retry",
        "POST",
    ),
];

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(ROUTES[0].0, web::get().to(status_page))
        .route(ROUTES[1].0, web::post().to(login))
        .route(ROUTES[2].0, web::post().to(logout))
        .route(ROUTES[3].0, web::post().to(preview))
        .route(ROUTES[4].0, web::post().to(retry));
}

type Sup = web::Data<Addr<Supervisor>>;

/// The login form's fields, kept when a login fails (never the password).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginData {
    csrf: String,
    admin_username: String,
    host: String,
    tenant: String,
    protocol: String,
    error: Option<String>,
    notice: Option<String>,
}

/// The login page, with a login CSRF cookie (the one sent, or a new one).
fn login_page(req: &HttpRequest, mut data: LoginData, status: StatusCode) -> HttpResponse {
    let mut resp = render::builder(status);
    match guard::cookie(req, LOGIN_COOKIE) {
        Some(existing) => data.csrf = existing,
        None => {
            data.csrf = guard::new_login_csrf();
            resp.append_header((SET_COOKIE, guard::set_cookie(req, LOGIN_COOKIE, &data.csrf)));
        }
    }
    if guard::cookie(req, SESSION_COOKIE).is_some() {
        // A session that is over: the browser forgets it.
        resp.append_header((SET_COOKIE, guard::clear_cookie(req, SESSION_COOKIE)));
    }
    render::page(resp, "login", &data)
}

/// A page that says what happened, with a way back.
fn message_page(req: &HttpRequest, status: StatusCode, title: &str, message: &str) -> HttpResponse {
    tracing::debug!(status = status.as_u16(), path = req.path(), "{message}");
    render::page(
        render::builder(status),
        "message",
        &json!({"title": title, "message": message}),
    )
}

/// The page for a command's error: the login form for a session that is over, else the
/// message with the error's status (logged as the API logs it).
fn error_page(req: &HttpRequest, err: ApiError) -> HttpResponse {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = err.to_string();
    let is_login = matches!(err, ApiError::NotAuthenticated(_));
    super::http_error(req, err).log();
    if is_login {
        return login_page(
            req,
            LoginData {
                notice: Some("The session is over; log in again.".into()),
                ..LoginData::default()
            },
            StatusCode::UNAUTHORIZED,
        );
    }
    message_page(req, status, "That did not work", &message)
}

fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut resp = render::builder(StatusCode::SEE_OTHER);
    resp.insert_header((LOCATION, location.to_string()));
    resp
}

/// `GET /ui`.
async fn status_page(req: HttpRequest, supervisor: Sup) -> HttpResponse {
    let Some(token) = guard::cookie(&req, SESSION_COOKIE) else {
        return login_page(&req, LoginData::default(), StatusCode::OK);
    };
    let csrf = guard::csrf_for_session(&token);
    match page::gather(&supervisor, &token, csrf).await {
        Ok(mut data) => {
            data.notice = retried_notice(req.query_string());
            if let Some(i) = data.integration.as_mut() {
                i.preview = Some(preview_form(i, &Form::empty(), None));
            }
            render::page(render::builder(StatusCode::OK), "status", &data)
        }
        Err(e) => error_page(&req, e),
    }
}

/// The notice after a retry (`?retried=ID`).
fn retried_notice(query: &str) -> Option<String> {
    let form = Form::parse(query.as_bytes()).ok()?;
    let id: i64 = form.get("retried")?.parse().ok()?;
    Some(format!(
        "Delivery {id} is pending again; it is sent within a few seconds."
    ))
}

/// `POST /ui/login`: the API's login; the token goes into the session cookie.
async fn login(req: HttpRequest, supervisor: Sup, body: web::Bytes) -> HttpResponse {
    if let Err(why) = guard::same_origin(&req) {
        return message_page(&req, StatusCode::FORBIDDEN, "Refused", &why);
    }
    let form = match Form::parse(&body) {
        Ok(f) => f,
        Err(why) => return message_page(&req, StatusCode::BAD_REQUEST, "Bad form", &why),
    };
    let sent = form.text(CSRF_FIELD);
    if !guard::cookie(&req, LOGIN_COOKIE).is_some_and(|c| guard::same_secret(&c, sent)) {
        return message_page(
            &req,
            StatusCode::FORBIDDEN,
            "Refused",
            "the login form is not this browser's or has expired; open /ui and log in again",
        );
    }
    let mut kept = LoginData {
        admin_username: form.text("adminUsername").to_string(),
        host: form.text("host").to_string(),
        tenant: form.text("tenant").to_string(),
        protocol: form.text("protocol").to_string(),
        ..LoginData::default()
    };
    let protocol = match kept.protocol.as_str() {
        "" => None,
        "http" => Some(Protocol::Http),
        "https" => Some(Protocol::Https),
        other => {
            kept.error = Some(format!(
                "protocol: `{}` is neither http nor https",
                page::shorten(other, 20)
            ));
            return login_page(&req, kept, StatusCode::BAD_REQUEST);
        }
    };
    let request = SessionLoginRequest {
        admin_username: kept.admin_username.clone(),
        admin_password: form.text("adminPassword").to_string(),
        host: kept.host.clone(),
        tenant: kept.tenant.clone(),
        protocol,
    };
    let source = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    match ask(
        &supervisor,
        Login {
            req: request,
            source,
        },
    )
    .await
    {
        Ok(session) => see_other("/ui")
            .append_header((
                SET_COOKIE,
                guard::set_cookie(&req, SESSION_COOKIE, &session.authentication),
            ))
            .append_header((SET_COOKIE, guard::clear_cookie(&req, LOGIN_COOKIE)))
            .finish(),
        Err(err) => {
            let status =
                StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let retry_after = match err {
                ApiError::RateLimited { retry_after } => Some(retry_after),
                _ => None,
            };
            kept.error = Some(err.to_string());
            super::http_error(&req, err).log();
            let mut resp = login_page(&req, kept, status);
            if let Some(v) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
                resp.headers_mut().insert(RETRY_AFTER, v);
            }
            resp
        }
    }
}

/// The checks of a POST of a logged-in page: its origin, the session cookie and the form's
/// CSRF value. Answers the session's token and the form, or the refusal.
fn checked_post(req: &HttpRequest, body: &[u8]) -> Result<(String, Form), Box<HttpResponse>> {
    guard::same_origin(req)
        .map_err(|why| Box::new(message_page(req, StatusCode::FORBIDDEN, "Refused", &why)))?;
    let form = Form::parse(body)
        .map_err(|why| Box::new(message_page(req, StatusCode::BAD_REQUEST, "Bad form", &why)))?;
    let Some(token) = guard::cookie(req, SESSION_COOKIE) else {
        return Err(Box::new(login_page(
            req,
            LoginData {
                notice: Some("Log in first.".into()),
                ..LoginData::default()
            },
            StatusCode::UNAUTHORIZED,
        )));
    };
    let expected = guard::csrf_for_session(&token);
    if !guard::same_secret(&expected, form.text(CSRF_FIELD)) {
        return Err(Box::new(message_page(
            req,
            StatusCode::FORBIDDEN,
            "Refused",
            "the form's CSRF value is missing or wrong; reload /ui and try again",
        )));
    }
    Ok((token, form))
}

/// `POST /ui/logout`: ends the API session and forgets the cookie.
async fn logout(req: HttpRequest, supervisor: Sup, body: web::Bytes) -> HttpResponse {
    let (token, _) = match checked_post(&req, &body) {
        Ok(checked) => checked,
        Err(refused) => return *refused,
    };
    match ask(&supervisor, Logout { token: Some(token) }).await {
        Ok(()) | Err(ApiError::NotAuthenticated(_)) => see_other("/ui")
            .append_header((SET_COOKIE, guard::clear_cookie(&req, SESSION_COOKIE)))
            .finish(),
        Err(e) => error_page(&req, e),
    }
}

/// `POST /ui/integrations/{xelionContextId}/deliveries/{deliveryId}/retry`.
async fn retry(
    req: HttpRequest,
    supervisor: Sup,
    path: web::Path<(XelionContextId, DeliveryId)>,
    body: web::Bytes,
) -> HttpResponse {
    let (token, _) = match checked_post(&req, &body) {
        Ok(checked) => checked,
        Err(refused) => return *refused,
    };
    let (xid, id) = path.into_inner();
    match ask(
        &supervisor,
        RetryDelivery {
            token: Some(token),
            xelion_context_id: xid,
            delivery_id: id,
        },
    )
    .await
    {
        Ok(_) => see_other(&format!("/ui?retried={}", id.0)).finish(),
        Err(e) => error_page(&req, e),
    }
}

/// `POST /ui/preview`: the page again, with what the picked mapping (or the given templates)
/// would send for the sample event.
async fn preview(req: HttpRequest, supervisor: Sup, body: web::Bytes) -> HttpResponse {
    let (token, form) = match checked_post(&req, &body) {
        Ok(checked) => checked,
        Err(refused) => return *refused,
    };
    let csrf = guard::csrf_for_session(&token);
    let mut data: StatusData = match page::gather(&supervisor, &token, csrf).await {
        Ok(d) => d,
        Err(e) => return error_page(&req, e),
    };
    let Some(integration) = data.integration.as_mut() else {
        return message_page(
            &req,
            StatusCode::NOT_FOUND,
            "No integration",
            "this tenant has no integration yet, so there are no mappings to preview",
        );
    };
    let (result, status) = run_preview(&supervisor, &token, integration, &form).await;
    integration.preview = Some(preview_form(integration, &form, Some(result)));
    render::page(render::builder(status), "status", &data)
}

/// What the preview form asks for.
enum Wanted {
    Stored {
        crm: CrmContextId,
        mapping: i64,
        event: String,
    },
    Given {
        crm: CrmContextId,
        mapping: EventUriMappingRequest,
    },
}

/// Reads the preview form into a request; a bad field is a message naming it.
fn wanted(integration: &page::IntegrationData, form: &Form) -> Result<Wanted, String> {
    let picked = form.text("mapping");
    if let Some(rest) = picked.strip_prefix("stored:") {
        let row = integration
            .mappings
            .iter()
            .find(|m| m.value == picked)
            .ok_or_else(|| {
                format!(
                    "mapping: `{}` is not a stored mapping of this tenant",
                    page::shorten(rest, 40)
                )
            })?;
        return Ok(Wanted::Stored {
            crm: row.crm_context_id,
            mapping: row.view.id.0,
            event: row.view.xelion_event.as_str().to_string(),
        });
    }
    let crm = form
        .text("crmContextId")
        .parse::<i64>()
        .ok()
        .map(CrmContextId)
        .filter(|c| integration.crm_contexts.contains(c))
        .ok_or("crmContextId: pick one of the crm contexts")?;
    let event = form
        .text("xelionEvent")
        .parse()
        .map_err(|e| format!("xelionEvent: {e}"))?;
    let payload = match form.text("crmResourcePayload").trim() {
        "" => None,
        text => Some(serde_json::from_str::<Value>(text).map_err(|e| {
            format!("crmResourcePayload: not JSON ({e}); leave it empty to send no body")
        })?),
    };
    Ok(Wanted::Given {
        crm,
        mapping: EventUriMappingRequest {
            id: None,
            xelion_event: event,
            crm_resource_uri: form.text("crmResourceUri").to_string(),
            crm_resource_payload: payload,
            method: Some(form.text("method").to_string()).filter(|m| !m.is_empty()),
            headers: None,
            created_at: None,
        },
    })
}

/// Runs the preview; answers its result for the template and the page's status.
async fn run_preview(
    supervisor: &Addr<Supervisor>,
    token: &str,
    integration: &page::IntegrationData,
    form: &Form,
) -> (Value, StatusCode) {
    let failed = |message: String, status: StatusCode| (json!({ "message": message }), status);
    let wanted = match wanted(integration, form) {
        Ok(w) => w,
        Err(message) => return failed(message, StatusCode::BAD_REQUEST),
    };
    let event: Value = match serde_json::from_str(form.text("event")) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return failed(
                "event: must be a JSON object of the call event's fields".into(),
                StatusCode::BAD_REQUEST,
            )
        }
        Err(e) => return failed(format!("event: not JSON ({e})"), StatusCode::BAD_REQUEST),
    };
    let (crm, req, only) = match wanted {
        Wanted::Stored {
            crm,
            mapping,
            event: xelion_event,
        } => (
            crm,
            MappingPreviewRequest {
                event,
                xelion_event,
                event_uri_mappings: None,
            },
            Some(mapping),
        ),
        Wanted::Given { crm, mapping } => (
            crm,
            MappingPreviewRequest {
                event,
                xelion_event: mapping.xelion_event.as_str().to_string(),
                event_uri_mappings: Some(vec![mapping]),
            },
            None,
        ),
    };
    let answer = ask(
        supervisor,
        PreviewMappings {
            token: Some(token.to_string()),
            xelion_context_id: integration.xelion_context_id,
            crm_context_id: crm,
            req,
        },
    )
    .await;
    match answer {
        Ok(p) => {
            let items = page::preview_items(&p, only);
            (
                json!({ "items": items, "empty": items.is_empty() }),
                StatusCode::OK,
            )
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            failed(e.to_string(), status)
        }
    }
}

/// The preview form with its current values (what was sent, else the defaults: the first
/// stored mapping and a sample event).
fn preview_form(integration: &page::IntegrationData, form: &Form, result: Option<Value>) -> Value {
    let opt = |value: &str, label: &str, selected: bool| json!({"value": value, "label": label, "selected": selected});
    let default_mapping = integration
        .mappings
        .first()
        .map(|m| m.value.clone())
        .unwrap_or_else(|| "given".into());
    let picked = form.get("mapping").unwrap_or(&default_mapping);
    let mut mappings: Vec<Value> = integration
        .mappings
        .iter()
        .map(|m| opt(&m.value, &m.label, m.value == picked))
        .collect();
    mappings.push(opt("given", "the templates below", picked == "given"));
    let crm = form.text("crmContextId");
    let crms: Vec<Value> = integration
        .crm_contexts
        .iter()
        .map(|c| {
            let v = c.0.to_string();
            opt(&v, &format!("crm context {v}"), v == crm)
        })
        .collect();
    let event = form.get("xelionEvent").unwrap_or("newCallEvent");
    let events: Vec<Value> = page::event_names().map(|e| opt(e, e, e == event)).collect();
    let method = form.get("method").unwrap_or("POST");
    let methods: Vec<Value> = HttpMethod::ALL
        .iter()
        .map(|m| opt(m.as_str(), m.as_str(), m.as_str() == method))
        .collect();
    json!({
        "mappingOptions": mappings,
        "crmOptions": crms,
        "eventOptions": events,
        "methodOptions": methods,
        "uri": form.text("crmResourceUri"),
        "payload": form.text("crmResourcePayload"),
        "event": form.get("event").unwrap_or(page::SAMPLE_EVENT),
        "result": result,
    })
}
