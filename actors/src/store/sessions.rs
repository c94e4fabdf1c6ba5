//! `api_sessions`: admin API sessions, keyed by the SHA-256 of their token.

use sqlx::Row as _;

use super::rows::conflict_or;
use super::{Store, StoreResult};
use crate::clock;

/// An admin API session (the token itself is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSession {
    pub host: String,
    pub tenant: String,
    pub username: String,
    /// Unix seconds.
    pub valid_until: i64,
}

impl Store {
    /// Stores a session under the SHA-256 hex of its token.
    pub async fn create_session(&self, token_hash: &str, session: &ApiSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_sessions (token_hash, host, tenant, username, valid_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(&session.host)
        .bind(&session.tenant)
        .bind(&session.username)
        .bind(session.valid_until)
        .bind(clock::created_at_now())
        .execute(self.pool())
        .await
        .map_err(|e| conflict_or(e, || "session token".to_string()))?;
        Ok(())
    }

    /// A session that has not expired (`now` in unix seconds; valid while `now < valid_until`).
    pub async fn find_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<ApiSession>> {
        let row = sqlx::query(
            "SELECT host, tenant, username, valid_until FROM api_sessions \
             WHERE token_hash = $1 AND valid_until > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(ApiSession {
                host: r.try_get("host")?,
                tenant: r.try_get("tenant")?,
                username: r.try_get("username")?,
                valid_until: r.try_get("valid_until")?,
            })
        })
        .transpose()
    }

    /// Ends one session (no error if there is none).
    pub async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM api_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of a host+tenant (after an environment change); host compared
    /// case-insensitively.
    pub async fn delete_sessions_for(&self, host: &str, tenant: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM api_sessions WHERE lower(host) = $1 AND tenant = $2")
            .bind(host.to_ascii_lowercase())
            .bind(tenant)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_sessions(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM api_sessions WHERE valid_until <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
