//! The OAuth token state of `user_credentials` and the client authentication of
//! `crm_contexts`: what a token actor loads, and the writes of its grants.
//!
//! Every write of a grant is guarded by the user's `credentials_version`: a credential update
//! through the API bumps it, so a grant that ran on the old credentials cannot overwrite the
//! new ones (the write then touches no row and answers `NotFound`).

use sqlx::Row as _;

use super::rows::found;
use super::users::{U_ACCESS_TOKEN, U_CLIENT_SECRET, U_DEVICE_CODE, U_REFRESH_TOKEN};
use super::{CrmContextId, Store, StoreError, StoreResult, UserId};
use crate::secrets::Secret;

/// Everything a token actor works from: the user's credentials, its token state and its crm
/// context's token endpoint.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub user_id: UserId,
    pub crm_context_id: CrmContextId,
    /// The crm context's `authorizationServerUri`.
    pub token_url: String,
    /// `form` or `basic`, once a token endpoint answer told which works.
    pub auth_method: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub refresh_token: Option<Secret>,
    pub device_code: Option<Secret>,
    pub access_token: Option<Secret>,
    /// Unix seconds.
    pub access_token_expires_at: Option<i64>,
    /// The OAuth error code that parked the user.
    pub parked_error: Option<String>,
    /// Unix seconds.
    pub parked_at: Option<i64>,
    /// Unix seconds of the last successful grant.
    pub last_refresh_at: Option<i64>,
    /// Successful grants so far.
    pub grants: i64,
    /// Bumped by every credential update.
    pub credentials_version: i64,
}

/// The outcome of a successful grant, to store before the access token is used.
#[derive(Debug)]
pub struct GrantWrite<'a> {
    pub access_token: &'a Secret,
    /// Unix seconds.
    pub expires_at: i64,
    /// A rotated refresh token, or the first one a device code yielded.
    pub refresh_token: Option<&'a Secret>,
    /// The grant spent the device code: it is cleared.
    pub device_code_used: bool,
    /// Unix seconds.
    pub now: i64,
}

impl Store {
    /// The token record of a user. `NotFound` if the user does not exist.
    pub async fn token_record(&self, id: UserId) -> StoreResult<TokenRecord> {
        let row = sqlx::query(
            "SELECT u.crm_context_id, c.authorization_server_uri, c.token_auth_method, \
             u.client_id, u.client_secret, u.refresh_token, u.device_code, u.access_token, \
             u.access_token_expires_at, u.parked_error, u.parked_at, u.last_refresh_at, u.grants, \
             u.credentials_version \
             FROM user_credentials u JOIN crm_contexts c ON c.id = u.crm_context_id \
             WHERE u.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(TokenRecord {
            user_id: id,
            crm_context_id: row.try_get("crm_context_id")?,
            token_url: row.try_get("authorization_server_uri")?,
            auth_method: row.try_get("token_auth_method")?,
            client_id: row.try_get("client_id")?,
            client_secret: self.open_sealed(U_CLIENT_SECRET, id, row.try_get("client_secret")?)?,
            refresh_token: self.open_sealed(U_REFRESH_TOKEN, id, row.try_get("refresh_token")?)?,
            device_code: self.open_sealed(U_DEVICE_CODE, id, row.try_get("device_code")?)?,
            access_token: self.open_sealed(U_ACCESS_TOKEN, id, row.try_get("access_token")?)?,
            access_token_expires_at: row.try_get("access_token_expires_at")?,
            parked_error: row.try_get("parked_error")?,
            parked_at: row.try_get("parked_at")?,
            last_refresh_at: row.try_get("last_refresh_at")?,
            grants: row.try_get("grants")?,
            credentials_version: row.try_get("credentials_version")?,
        })
    }

    /// Stores the outcome of a grant in one statement: the access token and its expiry, a new
    /// refresh token when there is one, the time and the count of grants; un-parks the user.
    /// `NotFound` if the user is gone or its credentials changed since `version`: the token
    /// must not be used then.
    pub async fn store_grant(
        &self,
        id: UserId,
        version: i64,
        grant: &GrantWrite<'_>,
    ) -> StoreResult<()> {
        let access = self.seal(U_ACCESS_TOKEN, id, grant.access_token)?;
        let refresh = self.seal_opt(U_REFRESH_TOKEN, id, grant.refresh_token)?;
        let sql = match (&refresh, grant.device_code_used) {
            (None, _) => {
                "UPDATE user_credentials SET access_token = $1, access_token_expires_at = $2, \
                 last_refresh_at = $3, grants = grants + 1, parked_error = NULL, parked_at = NULL \
                 WHERE id = $4 AND credentials_version = $5"
            }
            (Some(_), false) => {
                "UPDATE user_credentials SET access_token = $1, access_token_expires_at = $2, \
                 last_refresh_at = $3, grants = grants + 1, parked_error = NULL, parked_at = NULL, \
                 refresh_token = $6 WHERE id = $4 AND credentials_version = $5"
            }
            (Some(_), true) => {
                "UPDATE user_credentials SET access_token = $1, access_token_expires_at = $2, \
                 last_refresh_at = $3, grants = grants + 1, parked_error = NULL, parked_at = NULL, \
                 refresh_token = $6, device_code = NULL WHERE id = $4 AND credentials_version = $5"
            }
        };
        let mut query = sqlx::query(sql)
            .bind(access)
            .bind(grant.expires_at)
            .bind(grant.now)
            .bind(id)
            .bind(version);
        if let Some(refresh) = refresh {
            query = query.bind(refresh);
        }
        let done = query.execute(self.pool()).await?;
        found(done.rows_affected())
    }

    /// Parks a user: `error` is the OAuth error code, `at` unix seconds. `NotFound` if the user
    /// is gone or its credentials changed since `version`.
    pub async fn park_user(
        &self,
        id: UserId,
        version: i64,
        error: &str,
        at: i64,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE user_credentials SET parked_error = $1, parked_at = $2 \
             WHERE id = $3 AND credentials_version = $4",
        )
        .bind(super::rows::storable(error))
        .bind(at)
        .bind(id)
        .bind(version)
        .execute(self.pool())
        .await?;
        found(done.rows_affected())
    }

    /// Remembers which client authentication (`form` or `basic`) a crm context's token endpoint
    /// takes. `NotFound` if the crm context is gone.
    pub async fn set_token_auth_method(
        &self,
        crm_context_id: CrmContextId,
        method: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query("UPDATE crm_contexts SET token_auth_method = $1 WHERE id = $2")
            .bind(method)
            .bind(crm_context_id)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())
    }
}
