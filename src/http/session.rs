//! `POST /api/session/login` and `POST /api/session/logout`.

use actix_web::{web, HttpResponse};
use cti_actors::api::{SessionLoginRequest, SessionLoginResponse};
use cti_actors::messages::{Login, Logout};

use super::{ok_json, Call, ErrorBody, HttpError};

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/session/login", web::post().to(login))
        .route("/api/session/logout", web::post().to(logout));
}

/// Logs in as a Xelion administrator of a tenant and returns an API token scoped to it.
#[utoipa::path(post, path = "/api/session/login", tag = "session",
    request_body = SessionLoginRequest,
    responses(
        (status = 200, body = SessionLoginResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn login(call: Call, body: web::Bytes) -> Result<HttpResponse, HttpError> {
    let req: SessionLoginRequest = call.json(&body)?;
    let source = call.source.clone();
    let resp = call.send(Login { req, source }).await?;
    Ok(ok_json(&resp))
}

/// Ends the session of the presented token.
#[utoipa::path(post, path = "/api/session/logout", tag = "session",
    security(("xelion" = [])),
    responses((status = 200, description = "logged out"), (status = 401, body = ErrorBody)))]
pub async fn logout(call: Call) -> Result<HttpResponse, HttpError> {
    call.send(Logout {
        token: call.token.clone(),
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}
