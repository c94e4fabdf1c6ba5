//! The SQLite write-ahead log, checkpointed off the commit path.
//!
//! SQLite's own checkpoint runs inside whichever commit finds the log past 1,000 pages and
//! syncs the database file there: that commit, and every delivery waiting on it, takes tens of
//! milliseconds. The pool's connections turn that off (`wal_autocheckpoint = 0`,
//! `connect.rs`) and the outbox writer runs a checkpointer beside its commits instead: a
//! passive checkpoint now and then, which copies what it can without holding up a writer, and a
//! restart when the log has grown past a bound, which waits for the writer once so that the
//! log starts again from its beginning (under steady writes a passive checkpoint never catches
//! up with the end of the log, and the file would only grow).

use sqlx::Row as _;

use super::{Store, StoreResult};

/// How thoroughly to checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointMode {
    /// Copy what can be copied without waiting for anyone.
    Passive,
    /// Wait for the writer, copy everything, and have the log start again.
    Restart,
}

impl Store {
    /// Whether this database has a log to checkpoint (a SQLite file).
    pub fn has_wal(&self) -> bool {
        self.wal
    }

    /// Checkpoints the log and answers its size in pages; `None` when there is none
    /// (PostgreSQL, an in-memory SQLite).
    pub async fn checkpoint(&self, mode: CheckpointMode) -> StoreResult<Option<i64>> {
        if !self.wal {
            return Ok(None);
        }
        let sql = match mode {
            CheckpointMode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
            CheckpointMode::Restart => "PRAGMA wal_checkpoint(RESTART)",
        };
        // One row: busy, pages in the log, pages of it copied into the file.
        let row = sqlx::query(sql).fetch_one(self.pool()).await?;
        Ok(Some(row.try_get(1)?))
    }
}
