//! What the tables share: turning a statement's outcome into a [`StoreError`].

use super::{StoreError, StoreResult};

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
