//! `api/cti-app-context` and `api/external-api-endpoint/call`: Xelion app users register OAuth
//! 2.0 credentials for an external service and call it through the server.
//!
//! Neither takes an admin API token: registration carries the user's own Xelion session token
//! (`Authorization: xelion <token>`), a call the app context's access token
//! (`Authorization: xelion_cti <token>`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use cti_actors::external::{
    CtiAppRequest, ExternalAnswer, ExternalApiRequest, ExternalApiResponse,
};
use cti_actors::supervisor::{CallExternalApi, RegisterAppContext};
use cti_actors::ApiError;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{Call, ErrorBody, HttpError};

/// The OpenAPI description of these endpoints, merged into `/api/openapi.json`.
#[derive(OpenApi)]
#[openapi(paths(register, call_external), components(schemas(ErrorBody)), modifiers(&XelionCtiAuth))]
pub struct ExternalApiDoc;

/// `Authorization: xelion_cti <access token>`.
struct XelionCtiAuth;

impl Modify for XelionCtiAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "xelion_cti",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`xelion_cti <access token>`: the app context's access token",
            ))),
        );
    }
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/cti-app-context", web::post().to(register))
        .route(
            "/api/external-api-endpoint/call",
            web::post().to(call_external),
        );
}

/// The token after `<scheme> ` in `Authorization` (scheme compared case-insensitively).
fn credentials(req: &HttpRequest, scheme: &str) -> Option<String> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let (given, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (given.eq_ignore_ascii_case(scheme) && !token.is_empty()).then(|| token.to_string())
}

/// Registers a Xelion app user's OAuth 2.0 credentials for an external service.
///
/// Replaces those of the same host, tenant, user and `authorizationServerUri`. The Xelion token
/// must be a session token of `appUserContext.xelionUsername` (asked of Xelion with `me/info`).
#[utoipa::path(post, path = "/api/cti-app-context", tag = "external API",
    request_body = CtiAppRequest, security(("xelion" = [])),
    responses((status = 200, description = "stored; empty body"),
        (status = 400, body = ErrorBody),
        (status = 401, description = "no token, or Xelion does not accept it", body = ErrorBody),
        (status = 403, description = "the token is another user's", body = ErrorBody),
        (status = 502, description = "Xelion could not be reached", body = ErrorBody)))]
pub async fn register(
    call: Call,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let Some(xelion_token) = credentials(&req, "xelion") else {
        return Err(call.error(ApiError::unauthenticated(
            "missing `Authorization: xelion <token>`: a Xelion session token of \
             appUserContext.xelionUsername",
        )));
    };
    let body: CtiAppRequest = call.json(&body)?;
    call.send(RegisterAppContext {
        xelion_token: Some(xelion_token),
        req: body,
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// Calls an external service's endpoint as a registered app user.
///
/// Calls `endpointUri` with `method`, `payload` as JSON and `Authorization:
/// <authorizationHeaderPrefix><access token>`; on 401 refreshes the token once and calls
/// again. A 2xx answers `{"accessToken","payload"}` with the service's status (200 for 204);
/// any other status (redirects too, not followed) passes through with the service's body and
/// `Content-Type`, `Location`, `Retry-After`, `WWW-Authenticate`.
#[utoipa::path(post, path = "/api/external-api-endpoint/call", tag = "external API",
    request_body = ExternalApiRequest, security(("xelion_cti" = [])),
    responses((status = 200, body = ExternalApiResponse),
        (status = 400, description = "a bad request, or the service's 400 as received", body = ErrorBody),
        (status = 401, description = "not the app context's access token (or the service's 401 after a refresh, as received)", body = ErrorBody),
        (status = 502, description = "the service could not be reached or answered too much", body = ErrorBody),
        (status = 504, description = "the service did not answer in time", body = ErrorBody),
        (status = "default", description = "any other status of the service, passed through with its body")))]
pub async fn call_external(
    call: Call,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let call = call.with_own_scheme();
    let Some(access_token) = credentials(&req, "xelion_cti") else {
        return Err(call.error(ApiError::unauthenticated(
            "missing `Authorization: xelion_cti <access token>`",
        )));
    };
    let body: ExternalApiRequest = call.json(&body)?;
    let answer = call
        .send(CallExternalApi {
            access_token: Some(access_token),
            req: body,
        })
        .await?;
    Ok(match answer {
        ExternalAnswer::Success { status, body } => {
            HttpResponse::build(status_code(status)).json(body)
        }
        ExternalAnswer::PassThrough {
            status,
            headers,
            body,
        } => {
            let mut resp = HttpResponse::build(status_code(status));
            for (name, value) in headers {
                resp.insert_header((name, value));
            }
            resp.body(body)
        }
    })
}

/// The service's status; one outside 100-999 (which HTTP cannot carry) as 502.
fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)
}
