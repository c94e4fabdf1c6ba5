//! The control API under `/_sim/`, served on both listeners: tenants, users, calls, sockets,
//! faults and counters of the Xelion simulator (`xelion.rs`); OAuth clients and tokens,
//! settings, recorded requests, faults and counters of the CRM simulator (`crm.rs`).
//!
//! Handlers take their JSON body through [`Body`] and answer `Result<_, ControlError>`, so a
//! bad body, an unknown thing and a conflict each look the same on every route.

mod crm;
mod xelion;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{FaultKind, FaultSpec};
use crate::error::ControlError;

/// Largest control request body: `sockets/send` carries frames of a MiB and more.
const MAX_BODY: usize = 16 << 20;

/// What a control handler answers.
type Reply = Result<HttpResponse, ControlError>;

/// Registers every control route on an app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let scope = web::scope("/_sim").app_data(web::PayloadConfig::new(MAX_BODY));
    cfg.service(crm::routes(xelion::routes(scope)).default_service(web::to(unknown_route)));
}

/// A JSON request body. An empty body reads as `{}`, so bodies whose fields are all optional
/// may be left out; one that does not parse is a 400 naming the problem.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            Ok(Body(parse(&bytes)?))
        })
    }
}

/// The JSON of a body, `{}` when it is empty or blank.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ControlError::invalid(format!("invalid request body: {e}")))
}

/// 200 with a JSON body.
fn ok<T: Serialize>(v: &T) -> Reply {
    Ok(HttpResponse::Ok().json(v))
}

/// 201 with a JSON body.
fn created<T: Serialize>(v: &T) -> Reply {
    Ok(HttpResponse::Created().json(v))
}

/// 204.
fn no_content() -> Reply {
    Ok(HttpResponse::NoContent().finish())
}

/// The `{id}` of `DELETE .../faults/{id}`.
fn fault_id(id: &str) -> Result<u64, ControlError> {
    id.parse()
        .map_err(|_| ControlError::invalid(format!("`{id}` is not a fault id")))
}

/// What makes a fault meaningless, for either simulator.
fn check_fault(spec: &FaultSpec) -> Result<(), ControlError> {
    if let Some(s) = spec.status {
        if !(100..=999).contains(&s) {
            return Err(ControlError::invalid(format!(
                "status: {s} is not an HTTP status"
            )));
        }
    }
    if spec.kind == FaultKind::Latency && spec.latency_ms.is_none() {
        return Err(ControlError::invalid(
            "latencyMs: required for a latency fault",
        ));
    }
    if spec.kind == FaultKind::Status && spec.status.is_none() {
        return Err(ControlError::invalid("status: required for a status fault"));
    }
    if spec.count == Some(0) {
        return Err(ControlError::invalid(
            "count: must be at least 1 (leave it out for a lasting fault)",
        ));
    }
    Ok(())
}

/// Anything under `/_sim/` that no route takes.
async fn unknown_route(req: HttpRequest) -> Reply {
    Err(ControlError::not_found(format!(
        "no control API route {} {} (see the cti-sim README)",
        req.method(),
        req.path()
    )))
}
