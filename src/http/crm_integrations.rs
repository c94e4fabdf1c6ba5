//! `api/crm-integrations`: create (with an implicit login), read, delete, and the
//! `user-credentials` of a crm context.

use actix_web::{web, HttpResponse};
use cti_actors::api::{
    CrmContextRequest, CrmContextView, CrmIntegrationRequest, CrmIntegrationResponse,
    UserCredentialsRequest, UserCredentialsView,
};
use cti_actors::domain::{CrmContextId, XelionContextId};
use cti_actors::messages::{
    AddUsers, CreateIntegration, DeleteCrmContext, DeleteIntegration, GetIntegration, ListUsers,
    UpdateCrmContext,
};
use cti_actors::ApiError;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::{ok_json, Call, ErrorBody, HttpError};

const CRM_CONTEXT_PATH: &str =
    "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}";

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/crm-integrations", web::get().to(get_integration))
        .route("/api/crm-integrations", web::post().to(create_integration))
        .route(
            "/api/crm-integrations/{xelionContextId}",
            web::delete().to(delete_integration),
        )
        .route(CRM_CONTEXT_PATH, web::put().to(update_crm_context))
        .route(CRM_CONTEXT_PATH, web::delete().to(delete_crm_context))
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
#[into_params(parameter_in = Query)]
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

/// Creates an integration, or adds a crm context to the tenant's.
///
/// Logs in with the admin credentials of the payload (no token needed), resolves the users in
/// Xelion, validates the templates, stores it all and starts the tenant. A second one for the
/// same host and tenant adds a crm context. A crm context identical to one the tenant has
/// (the same `authorizationServerUri` and `authorizationHeaderPrefix`, compared exactly after
/// trimming the URI and defaulting the prefix to `Bearer `) is not stored again: 409 with the
/// existing one's id in `crmContextId`, also when identical requests arrive at once.
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

/// Replaces a crm context's fields.
///
/// The token endpoint and the header prefix are checked as `POST /api/crm-integrations`
/// checks its `crmContext`; a left-out `authorizationHeaderPrefix` is `Bearer `. The users and
/// mappings stay; the next delivery uses the new fields, and a new token endpoint is asked for
/// the users' next token. Another crm context of the xelion context with the same fields
/// answers 409 with its id in `crmContextId`.
#[utoipa::path(put,
    path = "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}",
    tag = "crm-integrations",
    params(("xelionContextId" = i64, Path), ("crmContextId" = i64, Path)),
    request_body(content = CrmContextRequest, example = json!({
        "authorizationServerUri": "https://crm.example.org/oauth/token",
        "authorizationHeaderPrefix": "Bearer "})),
    security(("xelion" = [])),
    responses((status = 200, body = CrmContextView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "another crm context of the xelion context has these fields; `crmContextId` names it", body = ErrorBody)))]
pub async fn update_crm_context(
    call: Call,
    path: web::Path<(XelionContextId, CrmContextId)>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    let (xid, cid) = path.into_inner();
    let req: CrmContextRequest = call.json(&body)?;
    let view = call
        .send(UpdateCrmContext {
            token: call.token.clone(),
            xelion_context_id: xid,
            crm_context_id: cid,
            req,
        })
        .await?;
    Ok(ok_json(&view))
}

/// Deletes a crm context with its users, mappings and deliveries.
///
/// Its users' deliveries, also those not sent yet, go with it; the tenant stops delivering to
/// it at once. The xelion context and its other crm contexts stay.
#[utoipa::path(delete,
    path = "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}",
    tag = "crm-integrations",
    params(("xelionContextId" = i64, Path), ("crmContextId" = i64, Path)),
    security(("xelion" = [])),
    responses((status = 200, description = "deleted; empty body"),
        (status = 404, body = ErrorBody)))]
pub async fn delete_crm_context(
    call: Call,
    path: web::Path<(XelionContextId, CrmContextId)>,
) -> Result<HttpResponse, HttpError> {
    let (xid, cid) = path.into_inner();
    call.send(DeleteCrmContext {
        token: call.token.clone(),
        xelion_context_id: xid,
        crm_context_id: cid,
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// Filters of `GET .../user-credentials`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Exact Xelion user name.
    username: Option<String>,
    /// Exact Xelion oid.
    oid: Option<String>,
}

/// `POST .../user-credentials` takes one user or several (the document: only the shape).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum UsersBody {
    /// One user.
    One(UserCredentialsRequest),
    /// Several users, at least one.
    Many(Vec<UserCredentialsRequest>),
}

/// `POST .../user-credentials` answers one user as an object, several as an array.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum UsersAnswer {
    /// One user registered.
    One(UserCredentialsView),
    /// Several users registered, in the order sent.
    Many(Vec<UserCredentialsView>),
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

/// Registers users: one object, or an array of them.
///
/// One object answers one object; an array answers an array (of one element for an array of
/// one), in the order sent.
#[utoipa::path(post,
    path = "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/user-credentials",
    tag = "user-credentials",
    params(("xelionContextId" = i64, Path), ("crmContextId" = i64, Path)),
    request_body(content = UsersBody, example = json!([{
        "xelionUsername": "alice", "clientId": "client-id",
        "clientSecret": "client-secret", "refreshToken": "refresh-token"}])),
    security(("xelion" = [])),
    responses((status = 200, body = UsersAnswer,
            description = "one registered user as an object, several as an array"),
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
