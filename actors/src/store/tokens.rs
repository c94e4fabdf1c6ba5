//! The OAuth token state a token actor works from, whoever owns it: a user of a crm context
//! (`user_credentials`, its token endpoint on `crm_contexts`) or an app context
//! (`app_contexts`, see `app_contexts.rs`). What a token actor loads, and the writes of its
//! grants.
//!
//! Every write of a grant is guarded by the owner's `credentials_version`: a credential update
//! through the API bumps it, so a grant that ran on the old credentials cannot overwrite the
//! new ones (the write then touches no row and answers `NotFound`).

use sqlx::Row as _;

use super::rows::found;
use super::users::{U_ACCESS_TOKEN, U_CLIENT_SECRET, U_DEVICE_CODE, U_REFRESH_TOKEN};
use super::{CrmContextId, Store, StoreError, StoreResult, UserId};
use crate::domain::{AppContextId, TokenOwner};
use crate::secrets::Secret;

/// A configured token endpoint, by what configures it: the client authentication it takes is
/// remembered per endpoint (every user of a crm context shares one; an app context has its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenEndpointId {
    /// The `authorizationServerUri` of a crm context.
    CrmContext(CrmContextId),
    /// The `authorizationServerUri` of an app context.
    AppContext(AppContextId),
}

impl std::fmt::Display for TokenEndpointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenEndpointId::CrmContext(id) => write!(f, "crm context {id}"),
            TokenEndpointId::AppContext(id) => write!(f, "app context {id}"),
        }
    }
}

/// Everything a token actor works from: the owner's credentials, its token state and its
/// token endpoint.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub owner: TokenOwner,
    /// Whose `authorizationServerUri` it is.
    pub endpoint: TokenEndpointId,
    /// The `authorizationServerUri`.
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
    /// The OAuth error code that parked the owner.
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
    /// App contexts: until when (unix milliseconds) callers may still present the access
    /// token this grant replaces.
    pub previous_valid_until: i64,
}

impl Store {
    /// The token record of an owner. `NotFound` if it does not exist.
    pub async fn token_record(&self, owner: TokenOwner) -> StoreResult<TokenRecord> {
        match owner {
            TokenOwner::User(id) => self.user_token_record(id).await,
            TokenOwner::App(id) => self.app_token_record(id).await,
        }
    }

    /// Stores the outcome of a grant in one statement: the access token and its expiry, a new
    /// refresh token when there is one, the time and the count of grants; un-parks the owner.
    /// `NotFound` if the owner is gone or its credentials changed since `version`: the token
    /// must not be used then.
    pub async fn store_grant(
        &self,
        owner: TokenOwner,
        version: i64,
        grant: &GrantWrite<'_>,
    ) -> StoreResult<()> {
        match owner {
            TokenOwner::User(id) => self.store_user_grant(id, version, grant).await,
            TokenOwner::App(id) => self.store_app_grant(id, version, grant).await,
        }
    }

    /// Parks an owner: `error` is the OAuth error code, `at` unix seconds. `NotFound` if the
    /// owner is gone or its credentials changed since `version`.
    pub async fn park(
        &self,
        owner: TokenOwner,
        version: i64,
        error: &str,
        at: i64,
    ) -> StoreResult<()> {
        let error = super::rows::storable(error);
        let query = match owner {
            TokenOwner::User(id) => sqlx::query(
                "UPDATE user_credentials SET parked_error = $1, parked_at = $2 \
                 WHERE id = $3 AND credentials_version = $4",
            )
            .bind(error.clone())
            .bind(at)
            .bind(id),
            TokenOwner::App(id) => sqlx::query(
                "UPDATE app_contexts SET parked_error = $1, parked_at = $2 \
                 WHERE id = $3 AND credentials_version = $4",
            )
            .bind(error.clone())
            .bind(at)
            .bind(id),
        };
        let done = query.bind(version).execute(self.pool()).await?;
        found(done.rows_affected())
    }

    /// Remembers which client authentication (`form` or `basic`) a token endpoint takes.
    /// `NotFound` if what configures it is gone.
    pub async fn set_token_auth_method(
        &self,
        endpoint: TokenEndpointId,
        method: &str,
    ) -> StoreResult<()> {
        let query = match endpoint {
            TokenEndpointId::CrmContext(id) => {
                sqlx::query("UPDATE crm_contexts SET token_auth_method = $1 WHERE id = $2")
                    .bind(method)
                    .bind(id)
            }
            TokenEndpointId::AppContext(id) => {
                sqlx::query("UPDATE app_contexts SET token_auth_method = $1 WHERE id = $2")
                    .bind(method)
                    .bind(id)
            }
        };
        let done = query.execute(self.pool()).await?;
        found(done.rows_affected())
    }

    async fn user_token_record(&self, id: UserId) -> StoreResult<TokenRecord> {
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
            owner: TokenOwner::User(id),
            endpoint: TokenEndpointId::CrmContext(row.try_get("crm_context_id")?),
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

    async fn store_user_grant(
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
}
