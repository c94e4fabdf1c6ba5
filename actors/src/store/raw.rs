//! Raw SQL beneath the interface, for tests that must read what a row really holds or tamper
//! with one (secrets at rest, moved ciphertext, pragmas, constraints). Feature `test-util`
//! only: the server has no way to run arbitrary SQL.

use sqlx::Row as _;

use super::{Id, Store, StoreResult};

impl Store {
    /// The first column of every row `sql` returns, as text.
    pub async fn raw_texts(&self, sql: &'static str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(sql).fetch_all(self.pool()).await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// The first column of the one row `sql` returns, as an integer (`COUNT(*)`, a pragma).
    pub async fn raw_i64(&self, sql: &'static str) -> StoreResult<i64> {
        Ok(sqlx::query(sql).fetch_one(self.pool()).await?.try_get(0)?)
    }

    /// Runs one statement with `ids` bound to `$1, $2…`; returns how many rows it touched.
    pub async fn raw_execute(&self, sql: &'static str, ids: &[Id]) -> StoreResult<u64> {
        let mut query = sqlx::query(sql);
        for id in ids {
            query = query.bind(*id);
        }
        Ok(query.execute(self.pool()).await?.rows_affected())
    }
}
