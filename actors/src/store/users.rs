//! `user_credentials`: the Xelion users of a crm context and their OAuth credentials, the
//! secrets among them sealed per row.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::crm_contexts::crm_context_belongs;
use super::rows::{conflict_or, found};
use super::{
    CredentialKind, CrmContextId, Store, StoreError, StoreResult, Tx, UserId, XelionContextId,
};
use crate::clock;
use crate::secrets::Secret;

/// A Xelion user registered for a CRM context, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCredentials {
    pub id: UserId,
    pub xelion_context_id: XelionContextId,
    pub crm_context_id: CrmContextId,
    pub xelion_username: String,
    pub xelion_oid: String,
    pub client_id: Option<String>,
    pub created_at: String,
}

/// A user whose CRM credentials the token endpoint refused, parked until new ones are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedUser {
    pub id: UserId,
    pub crm_context_id: CrmContextId,
    pub xelion_username: String,
    /// The OAuth error code that parked the user.
    pub error: String,
    /// When (unix seconds).
    pub since: Option<i64>,
}

/// The decrypted OAuth secrets of one user.
#[derive(Debug, Clone, Default)]
pub struct UserSecrets {
    pub client_secret: Option<Secret>,
    pub device_code: Option<Secret>,
    pub refresh_token: Option<Secret>,
    pub access_token: Option<Secret>,
}

/// A user to register.
#[derive(Debug, Clone)]
pub struct NewUserCredentials {
    pub xelion_username: String,
    pub xelion_oid: String,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub device_code: Option<Secret>,
    pub refresh_token: Option<Secret>,
}

// The column list, as a macro so that `concat!` builds `&'static str` queries from it.
macro_rules! user_cols {
    () => {
        "id, xelion_context_id, crm_context_id, xelion_username, xelion_oid, client_id, created_at"
    };
}

// Associated data of each encrypted column: `<table>.<column>:<row id>`.
pub(super) const U_CLIENT_SECRET: &str = "user_credentials.client_secret";
pub(super) const U_DEVICE_CODE: &str = "user_credentials.device_code";
pub(super) const U_REFRESH_TOKEN: &str = "user_credentials.refresh_token";
pub(super) const U_ACCESS_TOKEN: &str = "user_credentials.access_token";

impl Store {
    /// Users of a crm context, optionally filtered by exact username and/or oid, by id.
    pub async fn users(
        &self,
        crm_context_id: CrmContextId,
        username: Option<&str>,
        oid: Option<&str>,
    ) -> StoreResult<Vec<UserCredentials>> {
        let query = match (username, oid) {
            (None, None) => sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM user_credentials WHERE crm_context_id = $1 ORDER BY id"
            ))
            .bind(crm_context_id),
            (Some(u), None) => sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM user_credentials WHERE crm_context_id = $1 AND xelion_username = $2 ORDER BY id"
            ))
            .bind(crm_context_id)
            .bind(u),
            (None, Some(o)) => sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM user_credentials WHERE crm_context_id = $1 AND xelion_oid = $2 ORDER BY id"
            ))
            .bind(crm_context_id)
            .bind(o),
            (Some(u), Some(o)) => sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM user_credentials WHERE crm_context_id = $1 AND xelion_username = $2 \
                 AND xelion_oid = $3 ORDER BY id"
            ))
            .bind(crm_context_id)
            .bind(u)
            .bind(o),
        };
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(user_row).collect()
    }

    /// Adds users in one transaction. `NotFound` if the crm context does not exist or does not
    /// belong to the xelion context; `Conflict(username)` if one exists in that crm context
    /// (or appears twice in `users`); nothing is stored then.
    pub async fn add_users(
        &self,
        xelion_context_id: XelionContextId,
        crm_context_id: CrmContextId,
        users: Vec<NewUserCredentials>,
    ) -> StoreResult<Vec<UserCredentials>> {
        let now = clock::created_at_now();
        let mut tx = self.begin().await?;
        if !crm_context_belongs(&mut tx, xelion_context_id, crm_context_id).await? {
            return Err(StoreError::NotFound);
        }
        let mut added = Vec::with_capacity(users.len());
        for user in &users {
            added.push(
                self.insert_user(&mut tx, xelion_context_id, crm_context_id, user, &now)
                    .await?,
            );
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Inserts one user, then seals its secrets with the row id now known.
    pub(super) async fn insert_user(
        &self,
        tx: &mut Tx,
        xelion_context_id: XelionContextId,
        crm_context_id: CrmContextId,
        user: &NewUserCredentials,
        now: &str,
    ) -> StoreResult<UserCredentials> {
        let row = sqlx::query(concat!(
            "INSERT INTO user_credentials (xelion_context_id, crm_context_id, xelion_username, \
             xelion_oid, client_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            user_cols!()
        ))
        .bind(xelion_context_id)
        .bind(crm_context_id)
        .bind(&user.xelion_username)
        .bind(&user.xelion_oid)
        .bind(user.client_id.as_deref())
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| conflict_or(e, || user.xelion_username.clone()))?;
        let created = user_row(&row)?;
        if user.client_secret.is_some()
            || user.device_code.is_some()
            || user.refresh_token.is_some()
        {
            let id = created.id;
            sqlx::query(
                "UPDATE user_credentials SET client_secret = $1, device_code = $2, refresh_token = $3 \
                 WHERE id = $4",
            )
            .bind(self.seal_opt(U_CLIENT_SECRET, id, user.client_secret.as_ref())?)
            .bind(self.seal_opt(U_DEVICE_CODE, id, user.device_code.as_ref())?)
            .bind(self.seal_opt(U_REFRESH_TOKEN, id, user.refresh_token.as_ref())?)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        }
        Ok(created)
    }

    /// The parked users of a xelion context, by id.
    pub async fn parked_users_of(
        &self,
        xelion_context_id: XelionContextId,
    ) -> StoreResult<Vec<ParkedUser>> {
        let rows = sqlx::query(
            "SELECT id, crm_context_id, xelion_username, parked_error, parked_at \
             FROM user_credentials WHERE xelion_context_id = $1 AND parked_error IS NOT NULL \
             ORDER BY id",
        )
        .bind(xelion_context_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ParkedUser {
                    id: r.try_get("id")?,
                    crm_context_id: r.try_get("crm_context_id")?,
                    xelion_username: r.try_get("xelion_username")?,
                    error: r
                        .try_get::<Option<String>, _>("parked_error")?
                        .unwrap_or_default(),
                    since: r.try_get("parked_at")?,
                })
            })
            .collect()
    }

    /// One user by id.
    pub async fn user(&self, id: UserId) -> StoreResult<Option<UserCredentials>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM user_credentials WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// Changes a user's username and oid, and un-parks it. `NotFound` if absent;
    /// `Conflict(username)` on a duplicate username in its crm context.
    pub async fn update_user_identity(
        &self,
        id: UserId,
        username: &str,
        oid: &str,
    ) -> StoreResult<UserCredentials> {
        let row = sqlx::query(concat!(
            "UPDATE user_credentials SET xelion_username = $1, xelion_oid = $2, parked_error = NULL, \
             parked_at = NULL WHERE id = $3 RETURNING ",
            user_cols!()
        ))
        .bind(username)
        .bind(oid)
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| conflict_or(e, || username.to_string()))?;
        match row {
            Some(row) => Ok(user_row(&row)?),
            None => Err(StoreError::NotFound),
        }
    }

    /// Deletes a user. `NotFound` if absent.
    pub async fn delete_user(&self, id: UserId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM user_credentials WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())
    }

    /// Replaces one credential (client id in clear; the others encrypted). `NotFound` if absent.
    /// Setting a refresh token or device code clears the stored access token. Any update
    /// un-parks the user and bumps its credentials version (see `store/tokens.rs`).
    pub async fn update_user_credential(
        &self,
        id: UserId,
        kind: CredentialKind,
        value: &Secret,
    ) -> StoreResult<()> {
        let query = match kind {
            CredentialKind::ClientId => sqlx::query(
                "UPDATE user_credentials SET client_id = $1, parked_error = NULL, parked_at = NULL, \
                 credentials_version = credentials_version + 1 WHERE id = $2",
            )
            .bind(value.expose().to_string()),
            CredentialKind::ClientSecret => sqlx::query(
                "UPDATE user_credentials SET client_secret = $1, parked_error = NULL, \
                 parked_at = NULL, credentials_version = credentials_version + 1 WHERE id = $2",
            )
            .bind(self.seal(U_CLIENT_SECRET, id, value)?),
            CredentialKind::RefreshToken => sqlx::query(
                "UPDATE user_credentials SET refresh_token = $1, access_token = NULL, \
                 access_token_expires_at = NULL, parked_error = NULL, parked_at = NULL, \
                 credentials_version = credentials_version + 1 WHERE id = $2",
            )
            .bind(self.seal(U_REFRESH_TOKEN, id, value)?),
            CredentialKind::DeviceCode => sqlx::query(
                "UPDATE user_credentials SET device_code = $1, access_token = NULL, \
                 access_token_expires_at = NULL, parked_error = NULL, parked_at = NULL, \
                 credentials_version = credentials_version + 1 WHERE id = $2",
            )
            .bind(self.seal(U_DEVICE_CODE, id, value)?),
        };
        let done = query.bind(id).execute(self.pool()).await?;
        found(done.rows_affected())
    }

    /// The decrypted secrets of a user. `NotFound` if absent.
    pub async fn user_secrets(&self, id: UserId) -> StoreResult<UserSecrets> {
        let row = sqlx::query(
            "SELECT client_secret, device_code, refresh_token, access_token FROM user_credentials WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(UserSecrets {
            client_secret: self.open_sealed(U_CLIENT_SECRET, id, row.try_get("client_secret")?)?,
            device_code: self.open_sealed(U_DEVICE_CODE, id, row.try_get("device_code")?)?,
            refresh_token: self.open_sealed(U_REFRESH_TOKEN, id, row.try_get("refresh_token")?)?,
            access_token: self.open_sealed(U_ACCESS_TOKEN, id, row.try_get("access_token")?)?,
        })
    }

    /// Stores tokens obtained from the CRM (a rotated refresh token when given). `NotFound` if absent.
    pub async fn store_user_tokens(
        &self,
        id: UserId,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> StoreResult<()> {
        let access = self.seal(U_ACCESS_TOKEN, id, access_token)?;
        let done = match refresh_token {
            Some(refresh) => sqlx::query(
                "UPDATE user_credentials SET access_token = $1, refresh_token = $2 WHERE id = $3",
            )
            .bind(access)
            .bind(self.seal(U_REFRESH_TOKEN, id, refresh)?)
            .bind(id)
            .execute(self.pool())
            .await?,
            None => {
                sqlx::query("UPDATE user_credentials SET access_token = $1 WHERE id = $2")
                    .bind(access)
                    .bind(id)
                    .execute(self.pool())
                    .await?
            }
        };
        found(done.rows_affected())
    }
}

fn user_row(r: &AnyRow) -> StoreResult<UserCredentials> {
    Ok(UserCredentials {
        id: r.try_get("id")?,
        xelion_context_id: r.try_get("xelion_context_id")?,
        crm_context_id: r.try_get("crm_context_id")?,
        xelion_username: r.try_get("xelion_username")?,
        xelion_oid: r.try_get("xelion_oid")?,
        client_id: r.try_get("client_id")?,
        created_at: r.try_get("created_at")?,
    })
}
