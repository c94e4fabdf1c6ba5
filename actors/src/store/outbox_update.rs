//! Status updates of the outbox and the attempts they record, applied in the writer's
//! transaction (or alone, [`Store::record_updates`]).

use std::collections::HashSet;

use sqlx::{AnyConnection, Row as _};

use super::outbox::{bounded, NEVER};
use super::outbox_write::{chunk_sizes, statement, text, INT};
use super::{
    Attempt, Backend, DeliveryId, StatusUpdate, Store, StoreResult, Timestamp, ATTEMPT_TEXT_MAX,
    EXCERPT_MAX,
};

impl Store {
    /// Applies status updates in one transaction. Updates of rows that no longer exist (their
    /// integration was deleted) are skipped.
    pub async fn record_updates(
        &self,
        updates: &[StatusUpdate],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        apply_updates(&mut tx, self.backend, updates, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Applies status updates: the per-row ones in order, then every `Delivered` in one statement
/// per chunk (delivered is final), then the attempts of rows that still exist (those the
/// delivered statement returned, others looked up). A delivered row is never changed again;
/// a late update of one only adds its attempt.
pub(super) async fn apply_updates(
    tx: &mut AnyConnection,
    backend: Backend,
    updates: &[StatusUpdate],
    now: Timestamp,
) -> StoreResult<()> {
    let now = now.millis();
    let mut delivered = Vec::new();
    let mut attempts: Vec<(DeliveryId, &Attempt)> = Vec::new();
    // Rows known to exist (the delivered statement says which), and those to look up.
    let mut existing = HashSet::new();
    let mut unknown = Vec::new();
    for update in updates {
        match update {
            StatusUpdate::Delivered { id, attempt } => {
                delivered.push(*id);
                attempts.push((*id, attempt));
            }
            StatusUpdate::RetryAt { id, attempt, at } => {
                sqlx::query(
                    "UPDATE deliveries SET status = 'retrying', attempts = attempts + 1, \
                     next_attempt_at = $2, claimed_until = 0, reason = NULL, updated_at = $3 \
                     WHERE id = $1 AND status <> 'delivered'",
                )
                .bind(*id)
                .bind(at.millis())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                attempts.push((*id, attempt));
                unknown.push(*id);
            }
            StatusUpdate::Held { id, reason } => {
                sqlx::query(
                    "UPDATE deliveries SET status = 'held', next_attempt_at = $2, \
                     claimed_until = 0, reason = $3, updated_at = $4 \
                     WHERE id = $1 AND status <> 'delivered'",
                )
                .bind(*id)
                .bind(NEVER)
                .bind(bounded(reason, ATTEMPT_TEXT_MAX))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            StatusUpdate::Failed {
                id,
                attempt,
                reason,
            } => {
                sqlx::query(
                    "UPDATE deliveries SET status = 'failed', attempts = attempts + $2, \
                     claimed_until = 0, reason = $3, updated_at = $4 \
                     WHERE id = $1 AND status <> 'delivered'",
                )
                .bind(*id)
                .bind(i64::from(attempt.is_some()))
                .bind(bounded(reason, ATTEMPT_TEXT_MAX))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if let Some(attempt) = attempt {
                    attempts.push((*id, attempt));
                    unknown.push(*id);
                }
            }
        }
    }
    let mut rest = delivered.as_slice();
    for size in chunk_sizes(backend, &vec![INT; delivered.len()]) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = statement("delivered", size, backend, |marks| {
            let updated_at = marks.one();
            format!(
                "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, \
                 claimed_until = 0, reason = NULL, updated_at = {updated_at} WHERE id IN ({}) \
                 RETURNING id",
                marks.rows(size, "@")
            )
        });
        let mut query = sqlx::query(sql).bind(now);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *tx).await? {
            existing.insert(row.try_get::<DeliveryId, _>("id")?);
        }
    }
    unknown.retain(|id| !existing.contains(id));
    look_up(tx, backend, unknown, &mut existing).await?;
    let kept: Vec<&(DeliveryId, &Attempt)> = attempts
        .iter()
        .filter(|(id, _)| existing.contains(id))
        .collect();
    insert_attempts(tx, backend, &kept).await
}

/// Adds the ids among `ids` whose rows exist to `existing`.
async fn look_up(
    tx: &mut AnyConnection,
    backend: Backend,
    mut ids: Vec<DeliveryId>,
    existing: &mut HashSet<DeliveryId>,
) -> StoreResult<()> {
    ids.sort();
    ids.dedup();
    let mut rest = ids.as_slice();
    for size in chunk_sizes(backend, &vec![INT; ids.len()]) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = statement("exist", size, backend, |marks| {
            format!(
                "SELECT id FROM deliveries WHERE id IN ({})",
                marks.rows(size, "@")
            )
        });
        let mut query = sqlx::query(sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *tx).await? {
            existing.insert(row.try_get::<DeliveryId, _>("id")?);
        }
    }
    Ok(())
}

/// Adds attempts to the log.
async fn insert_attempts(
    tx: &mut AnyConnection,
    backend: Backend,
    kept: &[&(DeliveryId, &Attempt)],
) -> StoreResult<()> {
    let bytes: Vec<usize> = kept
        .iter()
        .map(|(_, a)| {
            4 * INT
                + a.excerpt
                    .as_deref()
                    .map_or(4, |e| text(&bounded(e, EXCERPT_MAX)))
                + a.error
                    .as_deref()
                    .map_or(4, |e| text(&bounded(e, ATTEMPT_TEXT_MAX)))
        })
        .collect();
    let mut rest = kept;
    for size in chunk_sizes(backend, &bytes) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = statement("attempts", size, backend, |marks| {
            format!(
                "INSERT INTO delivery_attempts (delivery_id, at, status, duration_ms, excerpt, \
                 error) VALUES {}",
                marks.rows(size, "(@,@,@,@,@,@)")
            )
        });
        let mut query = sqlx::query(sql);
        for (id, a) in chunk {
            query = query
                .bind(*id)
                .bind(a.at.millis())
                .bind(a.status.map(i64::from))
                .bind(i64::try_from(a.duration_ms).unwrap_or(i64::MAX))
                .bind(a.excerpt.as_deref().map(|e| bounded(e, EXCERPT_MAX)))
                .bind(a.error.as_deref().map(|e| bounded(e, ATTEMPT_TEXT_MAX)));
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}
