//! `app_contexts`: a Xelion app user's OAuth 2.0 credentials for one external service
//! (`POST /api/cti-app-context`), what a call needs to let its caller in
//! (`POST /api/external-api-endpoint/call`), and the token actor's reads and writes of them.

use sqlx::Row as _;

use super::rows::found;
use super::tokens::{GrantWrite, TokenEndpointId, TokenRecord};
use super::{Store, StoreError, StoreResult};
use crate::clock;
use crate::domain::{AppContextId, TokenOwner};
use crate::secrets::{token_hash, Secret};

// Associated data of each encrypted column: `<table>.<column>:<row id>`.
const A_CLIENT_SECRET: &str = "app_contexts.client_secret";
const A_REFRESH_TOKEN: &str = "app_contexts.refresh_token";
const A_ACCESS_TOKEN: &str = "app_contexts.access_token";

/// An app context to register (or to replace the one with the same key).
#[derive(Debug, Clone)]
pub struct NewAppContext {
    /// The Xelion host, lower-cased.
    pub host: String,
    /// The Xelion tenant.
    pub tenant: String,
    /// The Xelion user, lower-cased.
    pub xelion_username: String,
    /// The token endpoint, exactly as given (calls name it the same way).
    pub authorization_server_uri: String,
    /// Put verbatim before the access token in `Authorization`.
    pub authorization_header_prefix: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub refresh_token: Secret,
    pub access_token: Secret,
}

/// What a call needs of an app context before any secret is opened: how to check the token
/// its caller presents, and the header prefix.
#[derive(Debug, Clone)]
pub struct AppContextAccess {
    pub id: AppContextId,
    pub authorization_header_prefix: String,
    /// SHA-256 (hex) of the current access token.
    pub access_token_hash: Option<String>,
    /// SHA-256 (hex) of the access token the last refresh replaced.
    pub previous_access_token_hash: Option<String>,
    /// Until when (unix milliseconds) the previous token is accepted.
    pub previous_access_token_until: Option<i64>,
}

impl Store {
    /// Registers an app context, or replaces the credentials of the one with the same (host,
    /// tenant, user, token endpoint), in one transaction. A replaced context is un-parked, its
    /// token state starts again from the given access token, and its credentials version is
    /// bumped (so a grant under way on the old credentials is not stored).
    pub async fn upsert_app_context(&self, ctx: &NewAppContext) -> StoreResult<AppContextId> {
        let now = clock::created_at_now();
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO app_contexts (host, tenant, xelion_username, authorization_server_uri, \
             authorization_header_prefix, client_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (host, tenant, xelion_username, authorization_server_uri) DO UPDATE SET \
             authorization_header_prefix = excluded.authorization_header_prefix, \
             client_id = excluded.client_id, updated_at = excluded.updated_at \
             RETURNING id",
        )
        .bind(&ctx.host)
        .bind(&ctx.tenant)
        .bind(&ctx.xelion_username)
        .bind(&ctx.authorization_server_uri)
        .bind(&ctx.authorization_header_prefix)
        .bind(&ctx.client_id)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let id: AppContextId = row.try_get("id")?;
        sqlx::query(
            "UPDATE app_contexts SET client_secret = $1, refresh_token = $2, access_token = $3, \
             access_token_hash = $4, access_token_expires_at = NULL, \
             previous_access_token_hash = NULL, previous_access_token_until = NULL, \
             parked_error = NULL, parked_at = NULL, \
             credentials_version = credentials_version + 1 WHERE id = $5",
        )
        .bind(self.seal_opt(A_CLIENT_SECRET, id, ctx.client_secret.as_ref())?)
        .bind(self.seal(A_REFRESH_TOKEN, id, &ctx.refresh_token)?)
        .bind(self.seal(A_ACCESS_TOKEN, id, &ctx.access_token)?)
        .bind(token_hash(ctx.access_token.expose()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The app context with this key (host and user lower-cased, the token endpoint exactly as
    /// registered), if there is one.
    pub async fn find_app_context(
        &self,
        host: &str,
        tenant: &str,
        xelion_username: &str,
        authorization_server_uri: &str,
    ) -> StoreResult<Option<AppContextAccess>> {
        let row = sqlx::query(
            "SELECT id, authorization_header_prefix, access_token_hash, \
             previous_access_token_hash, previous_access_token_until \
             FROM app_contexts WHERE host = $1 AND tenant = $2 AND xelion_username = $3 \
             AND authorization_server_uri = $4",
        )
        .bind(host)
        .bind(tenant)
        .bind(xelion_username)
        .bind(authorization_server_uri)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(AppContextAccess {
                id: r.try_get("id")?,
                authorization_header_prefix: r.try_get("authorization_header_prefix")?,
                access_token_hash: r.try_get("access_token_hash")?,
                previous_access_token_hash: r.try_get("previous_access_token_hash")?,
                previous_access_token_until: r.try_get("previous_access_token_until")?,
            })
        })
        .transpose()
    }

    /// The token record of an app context. `NotFound` if it does not exist.
    pub(super) async fn app_token_record(&self, id: AppContextId) -> StoreResult<TokenRecord> {
        let row = sqlx::query(
            "SELECT authorization_server_uri, token_auth_method, client_id, client_secret, \
             refresh_token, access_token, access_token_expires_at, parked_error, parked_at, \
             last_refresh_at, grants, credentials_version FROM app_contexts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(TokenRecord {
            owner: TokenOwner::App(id),
            endpoint: TokenEndpointId::AppContext(id),
            token_url: row.try_get("authorization_server_uri")?,
            auth_method: row.try_get("token_auth_method")?,
            client_id: row.try_get("client_id")?,
            client_secret: self.open_sealed(A_CLIENT_SECRET, id, row.try_get("client_secret")?)?,
            refresh_token: self.open_sealed(A_REFRESH_TOKEN, id, row.try_get("refresh_token")?)?,
            device_code: None,
            access_token: self.open_sealed(A_ACCESS_TOKEN, id, row.try_get("access_token")?)?,
            access_token_expires_at: row.try_get("access_token_expires_at")?,
            parked_error: row.try_get("parked_error")?,
            parked_at: row.try_get("parked_at")?,
            last_refresh_at: row.try_get("last_refresh_at")?,
            grants: row.try_get("grants")?,
            credentials_version: row.try_get("credentials_version")?,
        })
    }

    /// A grant's outcome for an app context, in one statement: the token it replaces becomes
    /// the previous one (its hash, accepted until `previous_valid_until`).
    pub(super) async fn store_app_grant(
        &self,
        id: AppContextId,
        version: i64,
        grant: &GrantWrite<'_>,
    ) -> StoreResult<()> {
        let access = self.seal(A_ACCESS_TOKEN, id, grant.access_token)?;
        let refresh = self.seal_opt(A_REFRESH_TOKEN, id, grant.refresh_token)?;
        // SET expressions read the row as it was: the previous hash is the replaced token's.
        let sql = match &refresh {
            None => {
                "UPDATE app_contexts SET previous_access_token_hash = access_token_hash, \
                 previous_access_token_until = $1, access_token = $2, access_token_hash = $3, \
                 access_token_expires_at = $4, last_refresh_at = $5, grants = grants + 1, \
                 parked_error = NULL, parked_at = NULL WHERE id = $6 AND credentials_version = $7"
            }
            Some(_) => {
                "UPDATE app_contexts SET previous_access_token_hash = access_token_hash, \
                 previous_access_token_until = $1, access_token = $2, access_token_hash = $3, \
                 access_token_expires_at = $4, last_refresh_at = $5, grants = grants + 1, \
                 parked_error = NULL, parked_at = NULL, refresh_token = $8 \
                 WHERE id = $6 AND credentials_version = $7"
            }
        };
        let mut query = sqlx::query(sql)
            .bind(grant.previous_valid_until)
            .bind(access)
            .bind(token_hash(grant.access_token.expose()))
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
