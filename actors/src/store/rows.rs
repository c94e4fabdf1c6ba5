//! What the tables share: turning a statement's outcome into a [`StoreError`], reading
//! typed columns.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::{StoreError, StoreResult};

/// A text column holding a domain value; one that does not parse is a decode error, not a panic.
pub(super) fn parse_column<T>(row: &AnyRow, column: &str) -> Result<T, sqlx::Error>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e: T::Err| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: Box::new(e),
    })
}

/// Text that came from outside the API (a CRM's answer, a Xelion event) as a text column can
/// hold it: NUL, which PostgreSQL refuses, becomes U+FFFD. The API refuses NUL where it comes
/// in; this keeps what others send from failing a write.
pub(super) fn storable(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// `NotFound` when an update or delete touched no row.
pub(super) fn found(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// A unique violation becomes `Conflict(what)` (never the SQL text); anything else stays a
/// database error.
pub(super) fn conflict_or(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what()),
        _ => StoreError::Database(e),
    }
}
