//! `xelion_contexts`: the Xelion tenants the server works for, with their admin credentials.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::rows::{conflict_or, found};
use super::{NewIntegration, Protocol, Store, StoreError, StoreResult, Tx, XelionContextId};
use crate::secrets::Secret;

/// A Xelion tenant the server works for (`xelionContext`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XelionContext {
    pub id: XelionContextId,
    pub host: String,
    pub tenant: String,
    pub protocol: Protocol,
    pub admin_username: String,
    pub created_at: String,
}

// The column list, as a macro so that `concat!` builds `&'static str` queries from it.
macro_rules! xc_cols {
    () => {
        "id, host, tenant, protocol, admin_username, created_at"
    };
}

/// Associated data of the encrypted column: `<table>.<column>:<row id>`.
const XC_ADMIN_PASSWORD: &str = "xelion_contexts.admin_password";

impl Store {
    /// All xelion contexts (for starting tenants), by id.
    pub async fn list_xelion_contexts(&self) -> StoreResult<Vec<XelionContext>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            xc_cols!(),
            " FROM xelion_contexts ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(xelion_row).collect()
    }

    /// One xelion context by id.
    pub async fn xelion_context(&self, id: XelionContextId) -> StoreResult<Option<XelionContext>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            xc_cols!(),
            " FROM xelion_contexts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(xelion_row).transpose()
    }

    /// The xelion context of a host and tenant (host compared case-insensitively).
    pub async fn find_xelion_context(
        &self,
        host: &str,
        tenant: &str,
    ) -> StoreResult<Option<XelionContext>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            xc_cols!(),
            " FROM xelion_contexts WHERE lower(host) = $1 AND tenant = $2"
        ))
        .bind(host.to_ascii_lowercase())
        .bind(tenant)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(xelion_row).transpose()
    }

    /// The xelion context of a new integration, inside `tx`: created, or updated with the new
    /// admin credentials and protocol if host+tenant exists. `Conflict("<host>/<tenant>")` only
    /// if a concurrent request created and deleted that xelion context meanwhile.
    pub(super) async fn upsert_xelion_context(
        &self,
        tx: &mut Tx,
        new: &NewIntegration,
        now: &str,
    ) -> StoreResult<XelionContext> {
        // Insert the xelion context unless host+tenant exists; `ON CONFLICT DO NOTHING` also
        // settles a race with a concurrent first integration of the same tenant (PostgreSQL
        // waits for the other transaction, then finds its row below).
        let inserted = sqlx::query(
            "INSERT INTO xelion_contexts (host, tenant, protocol, admin_username, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&new.host)
        .bind(&new.tenant)
        .bind(new.protocol.as_str())
        .bind(&new.admin_username)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let xc_id: XelionContextId = match inserted {
            Some(row) => row.try_get("id")?,
            None => {
                let row = sqlx::query(
                    "UPDATE xelion_contexts SET protocol = $1, admin_username = $2 \
                     WHERE lower(host) = $3 AND tenant = $4 RETURNING id",
                )
                .bind(new.protocol.as_str())
                .bind(&new.admin_username)
                .bind(new.host.to_ascii_lowercase())
                .bind(&new.tenant)
                .fetch_optional(&mut **tx)
                .await?
                // deleted again in between: let the caller retry
                .ok_or_else(|| StoreError::Conflict(format!("{}/{}", new.host, new.tenant)))?;
                row.try_get("id")?
            }
        };
        let sealed = self.seal(XC_ADMIN_PASSWORD, xc_id, &new.admin_password)?;
        let row = sqlx::query(concat!(
            "UPDATE xelion_contexts SET admin_password = $1 WHERE id = $2 RETURNING ",
            xc_cols!()
        ))
        .bind(sealed)
        .bind(xc_id)
        .fetch_one(&mut **tx)
        .await?;
        xelion_row(&row)
    }

    /// Deletes a xelion context and everything under it. `NotFound` if absent.
    pub async fn delete_xelion_context(&self, id: XelionContextId) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // The foreign keys cascade to crm contexts, users and mappings.
        let done = sqlx::query("DELETE FROM xelion_contexts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Changes host, tenant and protocol. `NotFound` if absent; `Conflict("<host>/<tenant>")`
    /// if another context has that host+tenant.
    pub async fn update_xelion_environment(
        &self,
        id: XelionContextId,
        host: &str,
        tenant: &str,
        protocol: Protocol,
    ) -> StoreResult<XelionContext> {
        let row = sqlx::query(concat!(
            "UPDATE xelion_contexts SET host = $1, tenant = $2, protocol = $3 WHERE id = $4 RETURNING ",
            xc_cols!()
        ))
        .bind(host)
        .bind(tenant)
        .bind(protocol.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| conflict_or(e, || format!("{host}/{tenant}")))?;
        match row {
            Some(row) => Ok(xelion_row(&row)?),
            None => Err(StoreError::NotFound),
        }
    }

    /// Replaces the admin username. `NotFound` if absent.
    pub async fn update_admin_username(
        &self,
        id: XelionContextId,
        username: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query("UPDATE xelion_contexts SET admin_username = $1 WHERE id = $2")
            .bind(username)
            .bind(id)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())
    }

    /// Replaces the admin password. `NotFound` if absent.
    pub async fn update_admin_password(
        &self,
        id: XelionContextId,
        password: &Secret,
    ) -> StoreResult<()> {
        let sealed = self.seal(XC_ADMIN_PASSWORD, id, password)?;
        let done = sqlx::query("UPDATE xelion_contexts SET admin_password = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())
    }

    /// The decrypted admin password of a context. `NotFound` if absent.
    pub async fn admin_password(&self, id: XelionContextId) -> StoreResult<Secret> {
        let row = sqlx::query("SELECT admin_password FROM xelion_contexts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        let stored: Option<String> = row.try_get("admin_password")?;
        self.open_sealed(XC_ADMIN_PASSWORD, id, stored)?
            .ok_or_else(|| {
                StoreError::Crypto(format!("{XC_ADMIN_PASSWORD}:{id}: no password stored"))
            })
    }
}

fn xelion_row(r: &AnyRow) -> StoreResult<XelionContext> {
    Ok(XelionContext {
        id: r.try_get("id")?,
        host: r.try_get("host")?,
        tenant: r.try_get("tenant")?,
        protocol: Protocol::from_stored(&r.try_get::<String, _>("protocol")?),
        admin_username: r.try_get("admin_username")?,
        created_at: r.try_get("created_at")?,
    })
}
