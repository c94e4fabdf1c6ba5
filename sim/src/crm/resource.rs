//! The resource server: any path and method outside `/_sim/` and `/oauth2/token`; checks the
//! access token, records the request, answers `{"ok":true,"id":n}`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::api::{Arrival, FaultKind, FaultSpec, RecordMode, RecordedRequest};
use crate::state::{lock, Data};
use crate::time::xelion_date;

/// The answer of a `status` fault: its raw body or body, or an error JSON that fits the
/// status; with its headers.
pub fn fault_answer(spec: &FaultSpec) -> HttpResponse {
    let status = spec.status.unwrap_or(503);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut resp = HttpResponse::build(code);
    if let Some(secs) = spec.retry_after {
        resp.insert_header(("retry-after", secs.to_string()));
    }
    if status == 401 {
        resp.insert_header(("www-authenticate", "Bearer error=\"invalid_token\""));
    }
    let headers = spec.headers.clone().unwrap_or_default();
    for (name, value) in &headers {
        resp.insert_header((name.as_str(), value.as_str()));
    }
    if let Some(raw) = &spec.raw_body {
        if !headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            resp.insert_header(("content-type", "text/plain; charset=utf-8"));
        }
        return resp.body(raw.clone());
    }
    let body = spec.body.clone().unwrap_or_else(|| match status {
        401 => json!({"error": "invalid_token"}),
        429 => json!({"error": "rate_limited"}),
        _ => json!({"error": format!("simulated {status}")}),
    });
    resp.json(body)
}

/// The token in `Authorization`: after `Bearer ` or any one-word prefix, or the bare value.
/// Returns the token and its subject if it is a valid access token.
fn bearer(req: &HttpRequest, data: &Data) -> (Option<String>, Option<String>) {
    let Some(h) = req.headers().get("authorization") else {
        return (None, None);
    };
    let raw = String::from_utf8_lossy(h.as_bytes()).trim().to_owned();
    let after_prefix = raw.split_once(' ').map(|(_, t)| t.trim().to_owned());
    let st = lock(&data.crm);
    // The prefix is whatever the integration configured, so try both readings.
    for candidate in after_prefix.iter().chain(std::iter::once(&raw)) {
        if let Some(subject) = st.subject_of(candidate) {
            return (Some(candidate.clone()), Some(subject));
        }
    }
    (after_prefix.or(Some(raw)).filter(|t| !t.is_empty()), None)
}

/// Request headers with lower-case names; repeated ones joined with `, `.
fn headers(req: &HttpRequest) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

/// The body as JSON if it parses, else as a string; null when empty.
fn body_value(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// Every request the other routes do not take.
pub async fn resource(data: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if req.path().starts_with("/_sim/") || req.path() == "/_sim" {
        return HttpResponse::NotFound().json(json!({
            "error": format!("no control API route {} {}", req.method(), req.path())
        }));
    }
    let now = SystemTime::now();
    let outcome = {
        let mut st = lock(&data.crm);
        st.counters.resource_requests += 1;
        let out = st.faults.check(req.method().as_str(), req.path(), None);
        if out.hit() {
            st.counters.faults_applied += 1;
        }
        out
    };
    if !outcome.latency.is_zero() {
        tokio::time::sleep(outcome.latency).await;
    }
    let (token, subject) = bearer(&req, &data);
    let mut st = lock(&data.crm);
    st.next_request_id += 1;
    let id = st.next_request_id;
    let (status, response) = match outcome.action.map(|s| (s.kind, s)) {
        Some((FaultKind::Drop, _)) => {
            crate::conn::drop_connection(&req);
            (None, HttpResponse::InternalServerError().finish())
        }
        Some((FaultKind::Status | FaultKind::RefuseWebsocket, spec)) => {
            let r = fault_answer(&spec);
            (Some(r.status().as_u16()), r)
        }
        _ if subject.is_none() => {
            st.counters.unauthorized += 1;
            let r = HttpResponse::Unauthorized()
                .insert_header(("www-authenticate", "Bearer error=\"invalid_token\""))
                .json(json!({"error": "invalid_token"}));
            (Some(401), r)
        }
        _ => (
            Some(200),
            HttpResponse::Ok().json(json!({"ok": true, "id": id})),
        ),
    };
    if st.record_mode == RecordMode::Arrivals {
        st.arrive(Arrival {
            path: req.path().to_owned(),
            status,
            at_micros: crate::time::unix_micros(now),
        });
        return response;
    }
    let received_at = xelion_date(now);
    st.record(RecordedRequest {
        id,
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers: headers(&req),
        body: body_value(&body),
        subject,
        token,
        status,
        received_at,
    });
    response
}
