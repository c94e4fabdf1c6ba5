//! Retention of the outbox: delivered rows go after a while, failed ones later, dedupe keys
//! once their window has passed. Ages count from `created_at`; pending, retrying and held rows
//! are never pruned.
//!
//! Work is done in chunks, each its own short transaction, so that pruning a large backlog
//! never holds the write lock for long: a [`PrunePlan`] fixes the cut-offs once, then
//! [`Store::prune_step`] deletes one chunk of each kind until nothing is left.

use std::time::Duration;

use sqlx::Row as _;

use super::{DeliveryId, Store, StoreResult, Timestamp};

/// How long rows are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Delivered rows (default 7 days).
    pub delivered: Duration,
    /// Failed rows (default 30 days).
    pub failed: Duration,
    /// The dedupe window: keys older than this are deleted (default 24 h).
    pub dedupe_window: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            delivered: Duration::from_secs(7 * 86_400),
            failed: Duration::from_secs(30 * 86_400),
            dedupe_window: Duration::from_secs(86_400),
        }
    }
}

/// The cut-offs of one prune: rows below these ids (created before the age limit) go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrunePlan {
    /// Delivered rows with a smaller id are old enough.
    pub delivered_below: DeliveryId,
    /// Failed rows with a smaller id are old enough.
    pub failed_below: DeliveryId,
    /// Keys created before this are past the window.
    pub keys_before: Timestamp,
}

/// What a prune deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub delivered: u64,
    pub failed: u64,
    pub keys: u64,
}

impl Pruned {
    /// Nothing at all.
    pub fn is_empty(&self) -> bool {
        self.delivered + self.failed + self.keys == 0
    }

    fn add(&mut self, other: Pruned) {
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.keys += other.keys;
    }
}

impl Store {
    /// Fixes the cut-offs of a prune at `now`. Ids grow with `created_at`, so the first row
    /// young enough to keep bounds the rows to look at: found by walking the old rows only.
    pub async fn prune_plan(
        &self,
        now: Timestamp,
        retention: &Retention,
    ) -> StoreResult<PrunePlan> {
        Ok(PrunePlan {
            delivered_below: self.first_id_since(now.minus(retention.delivered)).await?,
            failed_below: self.first_id_since(now.minus(retention.failed)).await?,
            keys_before: now.minus(retention.dedupe_window),
        })
    }

    /// The id of the first row created at or after `t` (one past the last id when none is).
    async fn first_id_since(&self, t: Timestamp) -> StoreResult<DeliveryId> {
        let first =
            sqlx::query("SELECT id FROM deliveries WHERE created_at >= $1 ORDER BY id LIMIT 1")
                .bind(t.millis())
                .fetch_optional(self.pool())
                .await?;
        Ok(match first {
            Some(row) => row.try_get("id")?,
            None => {
                let last: Option<i64> = sqlx::query("SELECT MAX(id) AS id FROM deliveries")
                    .fetch_one(self.pool())
                    .await?
                    .try_get("id")?;
                DeliveryId(last.unwrap_or(0).saturating_add(1))
            }
        })
    }

    /// Deletes at most `chunk` rows of each kind the plan names; empty when done.
    pub async fn prune_step(&self, plan: &PrunePlan, chunk: u32) -> StoreResult<Pruned> {
        let chunk = i64::from(chunk.max(1));
        let mut tx = self.begin().await?;
        let delivered = sqlx::query(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
             WHERE id < $1 AND status = 'delivered' ORDER BY id LIMIT $2)",
        )
        .bind(plan.delivered_below)
        .bind(chunk)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let failed = sqlx::query(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
             WHERE id < $1 AND status = 'failed' ORDER BY id LIMIT $2)",
        )
        .bind(plan.failed_below)
        .bind(chunk)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // The `chunk`-th oldest expired key bounds this step's share of keys.
        let bound: Option<i64> = sqlx::query(
            "SELECT created_at FROM delivery_keys WHERE created_at < $1 \
             ORDER BY created_at LIMIT 1 OFFSET $2",
        )
        .bind(plan.keys_before.millis())
        .bind(chunk - 1)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("created_at"))
        .transpose()?;
        let keys = match bound {
            Some(t) => sqlx::query("DELETE FROM delivery_keys WHERE created_at <= $1")
                .bind(t)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
            None => sqlx::query("DELETE FROM delivery_keys WHERE created_at < $1")
                .bind(plan.keys_before.millis())
                .execute(&mut *tx)
                .await?
                .rows_affected(),
        };
        tx.commit().await?;
        Ok(Pruned {
            delivered,
            failed,
            keys,
        })
    }

    /// A whole prune at `now`: plan, then steps of `chunk` until nothing is left.
    pub async fn prune_outbox(
        &self,
        now: Timestamp,
        retention: &Retention,
        chunk: u32,
    ) -> StoreResult<Pruned> {
        let plan = self.prune_plan(now, retention).await?;
        let mut total = Pruned::default();
        loop {
            let step = self.prune_step(&plan, chunk).await?;
            if step.is_empty() {
                return Ok(total);
            }
            total.add(step);
        }
    }
}
