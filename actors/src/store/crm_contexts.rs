//! `crm_contexts`: the CRMs a xelion context feeds, with their OAuth token endpoint.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::{CrmContextId, NewIntegration, Store, StoreResult, Tx, XelionContextId};

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
