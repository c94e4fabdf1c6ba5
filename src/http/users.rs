//! `api/users/{userId}`: read, change, delete a registered user, and replace one of its
//! OAuth 2.0 credentials.

use actix_web::{web, HttpResponse};
use cti_actors::api::{UpdateValueRequest, UserUpdateRequest, UserView};
use cti_actors::domain::{CredentialKind, UserId};
use cti_actors::messages::{DeleteUser, GetUser, UpdateUser, UpdateUserCredential};
use cti_actors::ApiError;

use super::{ok_json, Call, ErrorBody, HttpError};

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/users/{userId}", web::get().to(get_user))
        .route("/api/users/{userId}", web::put().to(update_user))
        .route("/api/users/{userId}", web::delete().to(delete_user))
        .route(
            "/api/users/{userId}/{oauthCredentialsType}/update",
            web::post().to(update_credential),
        );
}

/// A user, without any secret.
#[utoipa::path(get, path = "/api/users/{userId}", tag = "users",
    params(("userId" = i64, Path)), security(("xelion" = [])),
    responses((status = 200, body = UserView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_user(call: Call, path: web::Path<UserId>) -> Result<HttpResponse, HttpError> {
    let user = call
        .send(GetUser {
            token: call.token.clone(),
            user_id: path.into_inner(),
        })
        .await?;
    Ok(ok_json(&user))
}

/// Changes a user's Xelion name (and oid; looked up in Xelion when omitted).
#[utoipa::path(put, path = "/api/users/{userId}", tag = "users",
    params(("userId" = i64, Path)), request_body = UserUpdateRequest, security(("xelion" = [])),
    responses((status = 200, body = UserView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_user(
    call: Call,
    path: web::Path<UserId>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    let req: UserUpdateRequest = call.json(&body)?;
    let user = call
        .send(UpdateUser {
            token: call.token.clone(),
            user_id: path.into_inner(),
            req,
        })
        .await?;
    Ok(ok_json(&user))
}

/// Deletes a user.
#[utoipa::path(delete, path = "/api/users/{userId}", tag = "users",
    params(("userId" = i64, Path)), security(("xelion" = [])),
    responses((status = 200, description = "deleted"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_user(call: Call, path: web::Path<UserId>) -> Result<HttpResponse, HttpError> {
    call.send(DeleteUser {
        token: call.token.clone(),
        user_id: path.into_inner(),
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// Replaces one OAuth 2.0 credential of a user.
///
/// `oauthCredentialsType` is `clientid`, `clientsecret`, `refreshtoken` or `devicecode`; any
/// update un-parks the user.
#[utoipa::path(post, path = "/api/users/{userId}/{oauthCredentialsType}/update", tag = "users",
    params(("userId" = i64, Path),
        ("oauthCredentialsType" = String, Path, description = "clientid | clientsecret | refreshtoken | devicecode")),
    request_body = UpdateValueRequest, security(("xelion" = [])),
    responses((status = 200, description = "updated"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn update_credential(
    call: Call,
    path: web::Path<(UserId, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    let (user_id, kind) = path.into_inner();
    let req: UpdateValueRequest = call.json(&body)?;
    let kind: CredentialKind = kind
        .parse()
        .map_err(|e| call.error(ApiError::bad_parameter(format!("{e}"))))?;
    call.send(UpdateUserCredential {
        token: call.token.clone(),
        user_id,
        kind,
        value: req.value,
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}
