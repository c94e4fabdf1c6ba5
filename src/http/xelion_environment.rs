//! `api/xelion-environment/{xelionContextId}`: where the tenant lives and its admin login.

use actix_web::{web, HttpResponse};
use cti_actors::api::{AdminPasswordUpdate, AdminUsernameUpdate, XelionEnvironment};
use cti_actors::domain::XelionContextId;
use cti_actors::messages::{
    GetEnvironment, PutEnvironment, UpdateAdminPassword, UpdateAdminUsername,
};
use cti_actors::supervisor::GetTenantStatus;
use cti_actors::ApiError;
use serde_json::Value;

use super::{ok_json, Call, ErrorBody, HttpError};

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/xelion-environment/{xelionContextId}",
        web::get().to(get_environment),
    )
    .route(
        "/api/xelion-environment/{xelionContextId}",
        web::put().to(put_environment),
    )
    .route(
        "/api/xelion-environment/{xelionContextId}/status",
        web::get().to(get_status),
    )
    .route(
        "/api/xelion-environment/{xelionContextId}/admin/password/update",
        web::post().to(update_password),
    )
    .route(
        "/api/xelion-environment/{xelionContextId}/admin/username/update",
        web::post().to(update_username),
    );
}

/// Host, protocol and tenant of a xelion context.
#[utoipa::path(get, path = "/api/xelion-environment/{xelionContextId}", tag = "xelion-environment",
    params(("xelionContextId" = i64, Path)), security(("xelion" = [])),
    responses((status = 200, body = XelionEnvironment),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_environment(
    call: Call,
    path: web::Path<XelionContextId>,
) -> Result<HttpResponse, HttpError> {
    let env = call
        .send(GetEnvironment {
            token: call.token.clone(),
            xelion_context_id: path.into_inner(),
        })
        .await?;
    Ok(ok_json(&env))
}

/// The tenant's live Xelion event session.
///
/// Socket state (`connecting`, `subscribed`, `backingOff`, `credentialsRejected`, `stopped`),
/// since when, the subscribed event types, events received, reconnects, the last error and the
/// time of the last event.
#[utoipa::path(get, path = "/api/xelion-environment/{xelionContextId}/status", tag = "xelion-environment",
    params(("xelionContextId" = i64, Path)), security(("xelion" = [])),
    responses((status = 200, description = "the tenant's event session", body = Object),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_status(
    call: Call,
    path: web::Path<XelionContextId>,
) -> Result<HttpResponse, HttpError> {
    let status = call
        .send(GetTenantStatus {
            token: call.token.clone(),
            xelion_context_id: path.into_inner(),
        })
        .await?;
    Ok(ok_json(&status))
}

/// Moves a xelion context to another host, tenant or protocol.
///
/// Verified by an admin login there. Sessions of the old host and tenant end; the tenant
/// reconnects.
#[utoipa::path(put, path = "/api/xelion-environment/{xelionContextId}", tag = "xelion-environment",
    params(("xelionContextId" = i64, Path)), request_body = XelionEnvironment,
    security(("xelion" = [])),
    responses((status = 200, description = "updated"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
pub async fn put_environment(
    call: Call,
    path: web::Path<XelionContextId>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    let env: XelionEnvironment = call.json(&body)?;
    call.send(PutEnvironment {
        token: call.token.clone(),
        xelion_context_id: path.into_inner(),
        env,
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// A body sent to the wrong one of the two admin updates gets a 400 naming the right one.
fn check_kind(
    call: &Call,
    body: &[u8],
    expected: &str,
    other: &str,
    other_path: &str,
) -> Result<(), HttpError> {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        if map.contains_key(other) && !map.contains_key(expected) {
            return Err(call.error(ApiError::bad_payload(format!(
                "this body (`{other}`) belongs to POST /api/xelion-environment/{{xelionContextId}}/{other_path}"
            ))));
        }
    }
    Ok(())
}

/// Replaces the stored admin password, verified by a Xelion login.
#[utoipa::path(post, path = "/api/xelion-environment/{xelionContextId}/admin/password/update",
    tag = "xelion-environment",
    params(("xelionContextId" = i64, Path)), request_body = AdminPasswordUpdate,
    security(("xelion" = [])),
    responses((status = 200, description = "updated"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn update_password(
    call: Call,
    path: web::Path<XelionContextId>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    check_kind(
        &call,
        &body,
        "oldPassword",
        "oldUsername",
        "admin/username/update",
    )?;
    let req: AdminPasswordUpdate = call.json(&body)?;
    call.send(UpdateAdminPassword {
        token: call.token.clone(),
        xelion_context_id: path.into_inner(),
        req,
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// Replaces the stored admin username, verified by a Xelion login.
#[utoipa::path(post, path = "/api/xelion-environment/{xelionContextId}/admin/username/update",
    tag = "xelion-environment",
    params(("xelionContextId" = i64, Path)), request_body = AdminUsernameUpdate,
    security(("xelion" = [])),
    responses((status = 200, description = "updated"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn update_username(
    call: Call,
    path: web::Path<XelionContextId>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    check_kind(
        &call,
        &body,
        "oldUsername",
        "oldPassword",
        "admin/password/update",
    )?;
    let req: AdminUsernameUpdate = call.json(&body)?;
    call.send(UpdateAdminUsername {
        token: call.token.clone(),
        xelion_context_id: path.into_inner(),
        req,
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}
