//! `crm_contexts`: the CRMs a xelion context feeds, with their OAuth token endpoint.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::{
    CrmContextId, NewIntegration, Store, StoreError, StoreResult, Tx, UserId, XelionContextId,
};

/// A CRM fed by a Xelion context (`crmContext`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmContext {
    pub id: CrmContextId,
    pub xelion_context_id: XelionContextId,
    pub authorization_server_uri: String,
    pub authorization_header_prefix: String,
    pub created_at: String,
}

// The column list, as a macro so that `concat!` builds `&'static str` queries from it.
macro_rules! crm_cols {
    () => {
        "id, xelion_context_id, authorization_server_uri, authorization_header_prefix, created_at"
    };
}

impl Store {
    /// The crm contexts of a xelion context, oldest first.
    pub async fn crm_contexts(
        &self,
        xelion_context_id: XelionContextId,
    ) -> StoreResult<Vec<CrmContext>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            crm_cols!(),
            " FROM crm_contexts WHERE xelion_context_id = $1 ORDER BY id"
        ))
        .bind(xelion_context_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(crm_row).collect()
    }

    /// One crm context, only if it belongs to that xelion context.
    pub async fn crm_context(
        &self,
        xelion_context_id: XelionContextId,
        crm_context_id: CrmContextId,
    ) -> StoreResult<Option<CrmContext>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            crm_cols!(),
            " FROM crm_contexts WHERE id = $1 AND xelion_context_id = $2"
        ))
        .bind(crm_context_id)
        .bind(xelion_context_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(crm_row).transpose()
    }
}

impl Store {
    /// Replaces the fields of a crm context of that xelion context. `NotFound` if there is
    /// none; `CrmContextExists(id)` if another crm context of the xelion context already has
    /// these fields. A new token endpoint forgets which client authentication the old one took.
    pub async fn update_crm_context(
        &self,
        xelion_context_id: XelionContextId,
        crm_context_id: CrmContextId,
        authorization_server_uri: &str,
        authorization_header_prefix: &str,
    ) -> StoreResult<CrmContext> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(concat!(
            "UPDATE crm_contexts SET token_auth_method = CASE WHEN authorization_server_uri = $1 \
             THEN token_auth_method ELSE NULL END, authorization_server_uri = $1, \
             authorization_header_prefix = $2 WHERE id = $3 AND xelion_context_id = $4 RETURNING ",
            crm_cols!()
        ))
        .bind(authorization_server_uri)
        .bind(authorization_header_prefix)
        .bind(crm_context_id)
        .bind(xelion_context_id)
        .fetch_optional(&mut *tx)
        .await;
        let row = match updated {
            Ok(Some(row)) => row,
            Ok(None) => return Err(StoreError::NotFound),
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(self
                    .identical_or(
                        e,
                        xelion_context_id,
                        authorization_server_uri,
                        authorization_header_prefix,
                    )
                    .await);
            }
        };
        let crm = crm_row(&row)?;
        tx.commit().await?;
        Ok(crm)
    }

    /// Deletes a crm context of that xelion context with everything under it (its users with
    /// their deliveries, its mappings: the foreign keys cascade) and answers the ids of the
    /// users it had. `NotFound` if there is none.
    pub async fn delete_crm_context(
        &self,
        xelion_context_id: XelionContextId,
        crm_context_id: CrmContextId,
    ) -> StoreResult<Vec<UserId>> {
        let mut tx = self.begin().await?;
        let users = sqlx::query("SELECT id FROM user_credentials WHERE crm_context_id = $1")
            .bind(crm_context_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<Vec<UserId>, _>>()?;
        let done = sqlx::query("DELETE FROM crm_contexts WHERE id = $1 AND xelion_context_id = $2")
            .bind(crm_context_id)
            .bind(xelion_context_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(users)
    }

    /// The id of the crm context of a xelion context with exactly these fields, if any.
    async fn identical_crm_context(
        &self,
        xelion_context_id: XelionContextId,
        authorization_server_uri: &str,
        authorization_header_prefix: &str,
    ) -> StoreResult<Option<CrmContextId>> {
        let row = sqlx::query(
            "SELECT id FROM crm_contexts WHERE xelion_context_id = $1 \
             AND authorization_server_uri = $2 AND authorization_header_prefix = $3",
        )
        .bind(xelion_context_id)
        .bind(authorization_server_uri)
        .bind(authorization_header_prefix)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// A failed write of a crm context's fields (after its transaction ended): a unique
    /// violation becomes `CrmContextExists` with the id of the row that has them.
    pub(super) async fn identical_or(
        &self,
        e: sqlx::Error,
        xelion_context_id: XelionContextId,
        authorization_server_uri: &str,
        authorization_header_prefix: &str,
    ) -> StoreError {
        let unique = matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation());
        if !unique {
            return StoreError::Database(e);
        }
        match self
            .identical_crm_context(
                xelion_context_id,
                authorization_server_uri,
                authorization_header_prefix,
            )
            .await
        {
            Ok(Some(id)) => StoreError::CrmContextExists(id),
            // Deleted again meanwhile: a conflict all the same, without an id to name.
            Ok(None) => StoreError::Conflict("an identical crm context".into()),
            Err(e) => e,
        }
    }
}

/// Inserts the crm context of a new integration, inside `tx`.
pub(super) async fn insert_crm_context(
    tx: &mut Tx,
    xelion_context_id: XelionContextId,
    new: &NewIntegration,
    now: &str,
) -> StoreResult<CrmContext> {
    let row = sqlx::query(concat!(
        "INSERT INTO crm_contexts (xelion_context_id, authorization_server_uri, \
         authorization_header_prefix, created_at) VALUES ($1, $2, $3, $4) RETURNING ",
        crm_cols!()
    ))
    .bind(xelion_context_id)
    .bind(&new.authorization_server_uri)
    .bind(&new.authorization_header_prefix)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    crm_row(&row)
}

/// Whether the crm context exists and belongs to the xelion context, read inside `tx`.
pub(super) async fn crm_context_belongs(
    tx: &mut Tx,
    xelion_context_id: XelionContextId,
    crm_context_id: CrmContextId,
) -> StoreResult<bool> {
    let row = sqlx::query("SELECT id FROM crm_contexts WHERE id = $1 AND xelion_context_id = $2")
        .bind(crm_context_id)
        .bind(xelion_context_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

fn crm_row(r: &AnyRow) -> StoreResult<CrmContext> {
    Ok(CrmContext {
        id: r.try_get("id")?,
        xelion_context_id: r.try_get("xelion_context_id")?,
        authorization_server_uri: r.try_get("authorization_server_uri")?,
        authorization_header_prefix: r.try_get("authorization_header_prefix")?,
        created_at: r.try_get("created_at")?,
    })
}
