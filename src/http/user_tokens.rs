//! `api/users/{userId}/status` and `api/users/{userId}/verify`: where a user's CRM access
//! token stands, and making sure it has one now.

use actix_web::{web, HttpResponse};
use cti_actors::domain::UserId;
use cti_actors::supervisor::{GetUserStatus, VerifyUser};
use cti_actors::token::TokenStatus;

use super::{ok_json, Call, ErrorBody, HttpError};

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/users/{userId}/status", web::get().to(get_status))
        .route("/api/users/{userId}/verify", web::post().to(verify));
}

/// The state of a user's CRM access token, without any secret.
///
/// `ok`, `refreshing`, `awaitingApproval`, `needsReauthorisation` (with the OAuth error code
/// and time) or `backingOff`; access token expiry, last refresh, grants.
#[utoipa::path(get, path = "/api/users/{userId}/status", tag = "users",
    params(("userId" = i64, Path)), security(("xelion" = [])),
    responses((status = 200, body = TokenStatus),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_status(call: Call, path: web::Path<UserId>) -> Result<HttpResponse, HttpError> {
    let status = call
        .send(GetUserStatus {
            token: call.token.clone(),
            user_id: path.into_inner(),
        })
        .await?;
    Ok(ok_json(&status))
}

/// Makes sure the user has a valid access token now, then answers its state.
///
/// One grant at once if needed, even while backing off; the state is answered whatever the
/// grant's outcome: what to run right after adding a user or updating its credentials.
#[utoipa::path(post, path = "/api/users/{userId}/verify", tag = "users",
    params(("userId" = i64, Path)), security(("xelion" = [])),
    responses((status = 200, body = TokenStatus),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn verify(call: Call, path: web::Path<UserId>) -> Result<HttpResponse, HttpError> {
    let status = call
        .send(VerifyUser {
            token: call.token.clone(),
            user_id: path.into_inner(),
        })
        .await?;
    Ok(ok_json(&status))
}
