//! `event_uri_mappings`: what a crm context does with each Xelion event, as templates.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::rows::parse_column;
use super::{CrmContextId, HttpMethod, MappingId, Store, StoreError, StoreResult, Tx, XelionEvent};

/// An event URI mapping of a CRM context.
#[derive(Debug, Clone, PartialEq)]
pub struct EventUriMapping {
    pub id: MappingId,
    pub crm_context_id: CrmContextId,
    pub xelion_event: XelionEvent,
    pub crm_resource_uri: String,
    /// `None` means the request carries no body.
    pub crm_resource_payload: Option<Value>,
    /// HTTP method, `POST` unless the mapping says otherwise.
    pub method: HttpMethod,
    /// Extra headers (a JSON object of strings), if any.
    pub headers: Option<Value>,
    /// `yyyy-MM-ddTHH:mm:ss.fffffffff` (UTC), as in the CTI API document.
    pub created_at: String,
}

/// A mapping to store. `id` names the existing mapping it replaces (PUT), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMapping {
    pub xelion_event: XelionEvent,
    pub crm_resource_uri: String,
    pub crm_resource_payload: Option<Value>,
    pub method: HttpMethod,
    pub headers: Option<Value>,
}

// The column list, as a macro so that `concat!` builds `&'static str` queries from it.
macro_rules! mapping_cols {
    () => {
        "id, crm_context_id, xelion_event, crm_resource_uri, crm_resource_payload, method, headers, created_at"
    };
}

impl Store {
    /// Mappings of a crm context, by id.
    pub async fn mappings(
        &self,
        crm_context_id: CrmContextId,
    ) -> StoreResult<Vec<EventUriMapping>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            mapping_cols!(),
            " FROM event_uri_mappings WHERE crm_context_id = $1 ORDER BY id"
        ))
        .bind(crm_context_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(mapping_row).collect()
    }

    /// Replaces the given mappings (by id, each must belong to the crm context) in one transaction
    /// and returns all mappings of the context. `NotFound` (and nothing changed) if an id is not
    /// a mapping of that crm context. A replaced mapping keeps its id and `created_at`.
    pub async fn replace_mappings(
        &self,
        crm_context_id: CrmContextId,
        changes: Vec<(MappingId, NewMapping)>,
    ) -> StoreResult<Vec<EventUriMapping>> {
        let mut tx = self.begin().await?;
        for (id, m) in &changes {
            let done = sqlx::query(
                "UPDATE event_uri_mappings SET xelion_event = $1, crm_resource_uri = $2, \
                 crm_resource_payload = $3, method = $4, headers = $5 WHERE id = $6 AND crm_context_id = $7",
            )
            .bind(m.xelion_event.as_str())
            .bind(&m.crm_resource_uri)
            .bind(json_text(m.crm_resource_payload.as_ref()))
            .bind(m.method.as_str())
            .bind(json_text(m.headers.as_ref()))
            .bind(*id)
            .bind(crm_context_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            mapping_cols!(),
            " FROM event_uri_mappings WHERE crm_context_id = $1 ORDER BY id"
        ))
        .bind(crm_context_id)
        .fetch_all(&mut *tx)
        .await?;
        let all = rows
            .iter()
            .map(mapping_row)
            .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await?;
        Ok(all)
    }
}

impl Store {
    /// Adds one mapping to a crm context and answers it as stored.
    pub async fn add_mapping(
        &self,
        crm_context_id: CrmContextId,
        m: &NewMapping,
    ) -> StoreResult<EventUriMapping> {
        let row = sqlx::query(concat!(
            "INSERT INTO event_uri_mappings (crm_context_id, xelion_event, crm_resource_uri, \
             crm_resource_payload, method, headers, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING ",
            mapping_cols!()
        ))
        .bind(crm_context_id)
        .bind(m.xelion_event.as_str())
        .bind(&m.crm_resource_uri)
        .bind(json_text(m.crm_resource_payload.as_ref()))
        .bind(m.method.as_str())
        .bind(json_text(m.headers.as_ref()))
        .bind(crate::clock::created_at_now())
        .fetch_one(self.pool())
        .await?;
        mapping_row(&row)
    }

    /// Deletes one mapping of a crm context. `NotFound` if that crm context has no such
    /// mapping.
    pub async fn delete_mapping(
        &self,
        crm_context_id: CrmContextId,
        id: MappingId,
    ) -> StoreResult<()> {
        let done =
            sqlx::query("DELETE FROM event_uri_mappings WHERE id = $1 AND crm_context_id = $2")
                .bind(id)
                .bind(crm_context_id)
                .execute(self.pool())
                .await?;
        super::rows::found(done.rows_affected())
    }
}

/// Inserts one mapping of a crm context, inside `tx`.
pub(super) async fn insert_mapping(
    tx: &mut Tx,
    crm_context_id: CrmContextId,
    m: &NewMapping,
    now: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO event_uri_mappings (crm_context_id, xelion_event, crm_resource_uri, \
         crm_resource_payload, method, headers, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(crm_context_id)
    .bind(m.xelion_event.as_str())
    .bind(&m.crm_resource_uri)
    .bind(json_text(m.crm_resource_payload.as_ref()))
    .bind(m.method.as_str())
    .bind(json_text(m.headers.as_ref()))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// JSON as stored: `None` and JSON `null` are both SQL NULL.
fn json_text(value: Option<&Value>) -> Option<String> {
    value.filter(|v| !v.is_null()).map(Value::to_string)
}

/// A JSON column read back; text that is not JSON is a decode error, not a panic.
fn json_value(row: &AnyRow, column: &str) -> Result<Option<Value>, sqlx::Error> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_string(),
            source: Box::new(e),
        })
    })
    .transpose()
}

fn mapping_row(r: &AnyRow) -> StoreResult<EventUriMapping> {
    Ok(EventUriMapping {
        id: r.try_get("id")?,
        crm_context_id: r.try_get("crm_context_id")?,
        xelion_event: parse_column(r, "xelion_event")?,
        crm_resource_uri: r.try_get("crm_resource_uri")?,
        crm_resource_payload: json_value(r, "crm_resource_payload")?,
        method: parse_column(r, "method")?,
        headers: json_value(r, "headers")?,
        created_at: r.try_get("created_at")?,
    })
}
