//! `api/crm-integrations`: create (with an implicit login), read, delete, and the
//! `user-credentials` of a crm context.

use actix_web::{web, HttpResponse};
use cti_actors::api::{
    CrmIntegrationRequest, CrmIntegrationResponse, UserCredentialsRequest, UserCredentialsView,
};
use cti_actors::domain::{CrmContextId, XelionContextId};
use cti_actors::messages::{
    AddUsers, CreateIntegration, DeleteIntegration, GetIntegration, ListUsers,
};
use cti_actors::ApiError;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::{ok_json, Call, ErrorBody, HttpError};

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/crm-integrations", web::get().to(get_integration))
        .route("/api/crm-integrations", web::post().to(create_integration))
        .route(
            "/api/crm-integrations/{xelionContextId}",
            web::delete().to(delete_integration),
        )
        .route(
            "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/user-credentials",
            web::get().to(list_users),
        )
        .route(
            "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/user-credentials",
            web::post().to(add_users),
        );
}

/// Query of `GET /api/crm-integrations`: both optional, the token already names the host
/// and tenant.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationQuery {
    /// The Xelion host (as stored, with its port if any); default: the token's.
    #[serde(default)]
    xelion_host: Option<String>,
    /// The Xelion tenant; default: the token's.
    #[serde(default)]
    xelion_tenant: Option<String>,
}

/// The integration of a Xelion host and tenant: its first crm context, and all of them.
#[utoipa::path(get, path = "/api/crm-integrations", tag = "crm-integrations",
    params(IntegrationQuery), security(("xelion" = [])),
    responses((status = 200, body = CrmIntegrationResponse),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_integration(
    call: Call,
    q: web::Query<IntegrationQuery>,
) -> Result<HttpResponse, HttpError> {
    let q = q.into_inner();
    let resp = call
        .send(GetIntegration {
            token: call.token.clone(),
            host: q.xelion_host,
            tenant: q.xelion_tenant,
        })
        .await?;
    Ok(ok_json(&resp))
}

/// Creates an integration: logs in with the admin credentials of the payload (no token
/// needed), resolves the users in Xelion, validates the templates, stores it all and starts
/// the tenant. A second one for the same host and tenant adds a crm context.
#[utoipa::path(post, path = "/api/crm-integrations", tag = "crm-integrations",
    request_body = CrmIntegrationRequest,
    responses((status = 200, body = CrmIntegrationResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "a user Xelion does not know", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
pub async fn create_integration(call: Call, body: web::Bytes) -> Result<HttpResponse, HttpError> {
    let req: CrmIntegrationRequest = call.json(&body)?;
    let source = call.source.clone();
    let resp = call.send(CreateIntegration { req, source }).await?;
    Ok(ok_json(&resp))
}

/// Deletes a xelion context and everything under it, and stops its tenant.
#[utoipa::path(delete, path = "/api/crm-integrations/{xelionContextId}", tag = "crm-integrations",
    params(("xelionContextId" = i64, Path)), security(("xelion" = [])),
    responses((status = 200, description = "deleted"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_integration(
    call: Call,
    path: web::Path<XelionContextId>,
) -> Result<HttpResponse, HttpError> {
    call.send(DeleteIntegration {
        token: call.token.clone(),
        xelion_context_id: path.into_inner(),
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// Filters of `GET .../user-credentials`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct UserFilter {
    /// Exact Xelion user name.
    username: Option<String>,
    /// Exact Xelion oid.
    oid: Option<String>,
}

/// The users of a crm context, optionally filtered.
#[utoipa::path(get,
    path = "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/user-credentials",
    tag = "user-credentials",
    params(("xelionContextId" = i64, Path), ("crmContextId" = i64, Path), UserFilter),
    security(("xelion" = [])),
    responses((status = 200, body = Vec<UserCredentialsView>),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_users(
    call: Call,
    path: web::Path<(XelionContextId, CrmContextId)>,
    q: web::Query<UserFilter>,
) -> Result<HttpResponse, HttpError> {
    let (xid, cid) = path.into_inner();
    let q = q.into_inner();
    let users = call
        .send(ListUsers {
            token: call.token.clone(),
            xelion_context_id: xid,
            crm_context_id: cid,
            username: q.username,
            oid: q.oid,
        })
        .await?;
    Ok(ok_json(&users))
}

/// Registers users (an array, or one object). One user answers the documented single
/// object; several answer an array.
#[utoipa::path(post,
    path = "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/user-credentials",
    tag = "user-credentials",
    params(("xelionContextId" = i64, Path), ("crmContextId" = i64, Path)),
    request_body = Vec<UserCredentialsRequest>, security(("xelion" = [])),
    responses((status = 200, body = UserCredentialsView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "a user Xelion does not know", body = ErrorBody)))]
pub async fn add_users(
    call: Call,
    path: web::Path<(XelionContextId, CrmContextId)>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    let (xid, cid) = path.into_inner();
    let raw: Value = call.json(&body)?;
    let users: Vec<UserCredentialsRequest> = match raw {
        Value::Array(_) => call.json(&body)?,
        Value::Object(_) => vec![call.json(&body)?],
        _ => {
            return Err(call.error(ApiError::bad_payload(
                "the body must be an array of user credentials (or one object)",
            )))
        }
    };
    let mut added = call
        .send(AddUsers {
            token: call.token.clone(),
            xelion_context_id: xid,
            crm_context_id: cid,
            users,
        })
        .await?;
    if added.len() == 1 {
        if let Some(one) = added.pop() {
            return Ok(ok_json(&one));
        }
    }
    Ok(ok_json(&added))
}
