//! The outbox's batch write: many accepted events and status updates in one transaction,
//! with multi-row statements.
//!
//! Dedupe is the database's: each event's key goes into `delivery_keys`; a key that is already
//! there (and younger than the window) conflicts, and the event's deliveries are dropped. Rows
//! are split into chunks of a few fixed sizes, so that only a handful of distinct statements
//! exist and each stays in the connection's statement cache.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use sqlx::{AssertSqlSafe, Row as _};

use super::outbox::{bounded, Key, NEVER};
use super::rows::parse_column;
use super::{
    Accepting, Attempt, Delivery, DeliveryId, DeliveryStatus, MappingId, NewDelivery, StatusUpdate,
    Store, StoreError, StoreResult, Timestamp, Tx, UserId, ATTEMPT_TEXT_MAX, EXCERPT_MAX,
};

/// Chunk sizes: a batch of n rows runs as statements of these sizes, largest first.
const CHUNKS: [usize; 5] = [256, 64, 16, 4, 1];

/// What a batch write inserted: per job, the index in the job and the id of each new row, in
/// id order. Deliveries left out were duplicates.
pub(crate) type Inserted = Vec<Vec<(usize, DeliveryId)>>;

impl Store {
    /// Writes one batch in one transaction: the accepted events of each job (a job is one
    /// caller's list of deliveries; deliveries sharing a key are one event's, one per
    /// mapping), then the status updates. New rows are claimed until `at.claimed_until`.
    pub(crate) async fn write_outbox(
        &self,
        jobs: &[Vec<NewDelivery>],
        updates: &[StatusUpdate],
        at: Accepting,
    ) -> StoreResult<Inserted> {
        let mut tx = self.begin().await?;
        let inserted = insert_jobs(&mut tx, jobs, &at).await?;
        apply_updates(&mut tx, updates, at.now).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Accepts one caller's deliveries in their own transaction (what the outbox writer does
    /// for many callers at once) and answers those newly inserted, claimed until
    /// `at.claimed_until`; duplicates are left out.
    pub async fn accept_deliveries(
        &self,
        batch: Vec<NewDelivery>,
        at: Accepting,
    ) -> StoreResult<Vec<Delivery>> {
        let jobs = vec![batch];
        let mut inserted = self.write_outbox(&jobs, &[], at).await?;
        let ids = inserted.pop().unwrap_or_default();
        Ok(take_inserted(
            jobs.into_iter().next().unwrap_or_default(),
            ids,
            &at,
        ))
    }

    /// Applies status updates in one transaction. Updates of rows that no longer exist (their
    /// integration was deleted) are skipped.
    pub async fn record_updates(
        &self,
        updates: &[StatusUpdate],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        apply_updates(&mut tx, updates, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The deliveries a job's new rows are, moved out of the job.
pub(crate) fn take_inserted(
    job: Vec<NewDelivery>,
    ids: Vec<(usize, DeliveryId)>,
    at: &Accepting,
) -> Vec<Delivery> {
    let mut slots: Vec<Option<NewDelivery>> = job.into_iter().map(Some).collect();
    ids.into_iter()
        .filter_map(|(i, id)| {
            let d = slots.get_mut(i)?.take()?;
            Some(accepted(id, d, at))
        })
        .collect()
}

/// Splits `n` into [`CHUNKS`] sizes.
fn chunk_sizes(mut n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for size in CHUNKS {
        while n >= size {
            out.push(size);
            n -= size;
        }
    }
    out
}

/// `rows` groups of `width` placeholders numbered from `first`, each group wrapped by
/// `template` (which receives the group's first number).
fn values(
    rows: usize,
    first: usize,
    width: usize,
    template: impl Fn(&mut String, usize),
) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        template(&mut sql, first + i * width);
    }
    sql
}

/// Which deliveries of the jobs may be new: a key another job of this batch brought first is
/// a duplicate, and so is a second delivery of one job for the same key and mapping. Returns
/// the keys to insert, in order, and a keep flag per delivery.
fn plan_keys(jobs: &[Vec<NewDelivery>]) -> (Vec<Key>, Vec<Vec<bool>>) {
    let mut owner: HashMap<Key, usize> = HashMap::new();
    let mut keys = Vec::new();
    let mut keep = Vec::with_capacity(jobs.len());
    for (j, job) in jobs.iter().enumerate() {
        let mut seen = HashSet::new();
        let mut flags = Vec::with_capacity(job.len());
        for d in job {
            let ok = match d.key() {
                None => true,
                Some(key) => match owner.get(&key) {
                    Some(&o) if o != j => false,
                    Some(_) => seen.insert((key, d.mapping_id)),
                    None => {
                        owner.insert(key.clone(), j);
                        seen.insert((key.clone(), d.mapping_id));
                        keys.push(key);
                        true
                    }
                },
            };
            flags.push(ok);
        }
        keep.push(flags);
    }
    (keys, keep)
}

/// Inserts the keys; answers those that are new (or replaced an expired one).
async fn insert_keys(tx: &mut Tx, keys: &[Key], at: &Accepting) -> StoreResult<HashSet<Key>> {
    let mut fresh = HashSet::with_capacity(keys.len());
    let mut rest = keys;
    for size in chunk_sizes(keys.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = format!(
            "INSERT INTO delivery_keys (crm_context_id, user_id, xelion_event, call_id, created_at) \
             VALUES {} ON CONFLICT (crm_context_id, user_id, xelion_event, call_id) DO UPDATE \
             SET created_at = excluded.created_at WHERE delivery_keys.created_at < $2 \
             RETURNING crm_context_id, user_id, xelion_event, call_id",
            values(size, 3, 4, |s, n| {
                let _ = write!(s, "(${n},${},${},${},$1)", n + 1, n + 2, n + 3);
            })
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(at.now.millis())
            .bind(at.dedupe_since.millis());
        for (crm, user, event, call) in chunk {
            query = query
                .bind(*crm)
                .bind(*user)
                .bind(event.as_str())
                .bind(super::rows::storable(call));
        }
        for row in query.fetch_all(&mut **tx).await? {
            fresh.insert((
                row.try_get("crm_context_id")?,
                row.try_get("user_id")?,
                parse_column(&row, "xelion_event")?,
                row.try_get("call_id")?,
            ));
        }
    }
    Ok(fresh)
}

/// Inserts the new deliveries of every job, in job order (so ids follow the order events were
/// accepted in).
async fn insert_jobs(
    tx: &mut Tx,
    jobs: &[Vec<NewDelivery>],
    at: &Accepting,
) -> StoreResult<Inserted> {
    let (keys, keep) = plan_keys(jobs);
    let fresh = insert_keys(tx, &keys, at).await?;
    let mut rows: Vec<(usize, usize, &NewDelivery)> = Vec::new();
    for (j, (job, flags)) in jobs.iter().zip(&keep).enumerate() {
        for (i, (d, ok)) in job.iter().zip(flags).enumerate() {
            if *ok && d.key().is_none_or(|k| fresh.contains(&k)) {
                rows.push((j, i, d));
            }
        }
    }
    // Every job gets its list, even one whose deliveries were all duplicates.
    let mut out: Inserted = Vec::new();
    out.resize_with(jobs.len(), Vec::new);
    let mut rest = rows.as_slice();
    for size in chunk_sizes(rows.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = format!(
            "INSERT INTO deliveries (xelion_context_id, crm_context_id, user_id, mapping_id, \
             xelion_event, call_id, event, status, attempts, next_attempt_at, claimed_until, \
             created_at, updated_at) VALUES {} RETURNING id, user_id, mapping_id",
            values(size, 3, 7, |s, n| {
                let _ = write!(
                    s,
                    "(${n},${},${},${},${},${},${},'pending',0,$1,$2,$1,$1)",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6
                );
            })
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(at.now.millis())
            .bind(at.claimed_until.millis());
        for (_, _, d) in chunk {
            query = query
                .bind(d.xelion_context_id)
                .bind(d.crm_context_id)
                .bind(d.user_id)
                .bind(d.mapping_id)
                .bind(d.xelion_event.as_str())
                .bind(super::rows::storable(&d.call_id))
                .bind(serde_json::to_string(&d.event).unwrap_or_else(|_| "{}".to_string()));
        }
        let mut ids = Vec::with_capacity(size);
        for row in query.fetch_all(&mut **tx).await? {
            ids.push((
                row.try_get::<DeliveryId, _>("id")?,
                row.try_get::<UserId, _>("user_id")?,
                row.try_get::<MappingId, _>("mapping_id")?,
            ));
        }
        // Ids grow in the order of the VALUES rows; check the pairing rather than trust it.
        ids.sort_by_key(|(id, _, _)| *id);
        if ids.len() != chunk.len() {
            return Err(StoreError::Outbox(format!(
                "{} rows inserted, {} returned",
                chunk.len(),
                ids.len()
            )));
        }
        for ((id, user, mapping), (j, i, d)) in ids.into_iter().zip(chunk) {
            if user != d.user_id || mapping != d.mapping_id {
                return Err(StoreError::Outbox(
                    "inserted ids do not follow the order of the rows".to_string(),
                ));
            }
            out[*j].push((*i, id));
        }
    }
    Ok(out)
}

/// The delivery a new row is.
fn accepted(id: DeliveryId, d: NewDelivery, at: &Accepting) -> Delivery {
    Delivery {
        id,
        xelion_context_id: d.xelion_context_id,
        crm_context_id: d.crm_context_id,
        user_id: d.user_id,
        mapping_id: d.mapping_id,
        xelion_event: d.xelion_event,
        call_id: d.call_id,
        event: d.event,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(at.now),
        created_at: at.now,
        updated_at: at.now,
        reason: None,
    }
}

/// Applies status updates: the per-row ones in order, then every `Delivered` in one statement
/// per chunk (delivered is final), then the attempts of rows that still exist.
async fn apply_updates(tx: &mut Tx, updates: &[StatusUpdate], now: Timestamp) -> StoreResult<()> {
    let now = now.millis();
    let mut delivered = Vec::new();
    let mut attempts: Vec<(DeliveryId, &Attempt)> = Vec::new();
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
                .execute(&mut **tx)
                .await?;
                attempts.push((*id, attempt));
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
                .execute(&mut **tx)
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
                .execute(&mut **tx)
                .await?;
                if let Some(attempt) = attempt {
                    attempts.push((*id, attempt));
                }
            }
        }
    }
    let mut rest = delivered.as_slice();
    for size in chunk_sizes(delivered.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = format!(
            "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, \
             claimed_until = 0, reason = NULL, updated_at = $1 WHERE id IN ({})",
            values(size, 2, 1, |s, n| {
                let _ = write!(s, "${n}");
            })
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut **tx).await?;
    }
    insert_attempts(tx, &attempts).await
}

/// Adds attempts to the log, leaving out those of rows that are gone.
async fn insert_attempts(tx: &mut Tx, attempts: &[(DeliveryId, &Attempt)]) -> StoreResult<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<DeliveryId> = attempts.iter().map(|(id, _)| *id).collect();
    ids.sort();
    ids.dedup();
    let mut existing = HashSet::with_capacity(ids.len());
    let mut rest = ids.as_slice();
    for size in chunk_sizes(ids.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = format!(
            "SELECT id FROM deliveries WHERE id IN ({})",
            values(size, 1, 1, |s, n| {
                let _ = write!(s, "${n}");
            })
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            existing.insert(row.try_get::<DeliveryId, _>("id")?);
        }
    }
    let kept: Vec<&(DeliveryId, &Attempt)> = attempts
        .iter()
        .filter(|(id, _)| existing.contains(id))
        .collect();
    let mut rest = kept.as_slice();
    for size in chunk_sizes(kept.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql =
            format!(
            "INSERT INTO delivery_attempts (delivery_id, at, status, duration_ms, excerpt, error) \
             VALUES {}",
            values(size, 1, 6, |s, n| {
                let _ = write!(s, "(${n},${},${},${},${},${})", n + 1, n + 2, n + 3, n + 4, n + 5);
            })
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (id, a) in chunk {
            query = query
                .bind(*id)
                .bind(a.at.millis())
                .bind(a.status.map(i64::from))
                .bind(i64::try_from(a.duration_ms).unwrap_or(i64::MAX))
                .bind(a.excerpt.as_deref().map(|e| bounded(e, EXCERPT_MAX)))
                .bind(a.error.as_deref().map(|e| bounded(e, ATTEMPT_TEXT_MAX)));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CrmContextId, XelionContextId, XelionEvent};

    #[test]
    fn chunks_cover_every_row_with_few_sizes() {
        for n in [0, 1, 3, 5, 17, 255, 256, 257, 1000, 4097] {
            let sizes = chunk_sizes(n);
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}");
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
        }
        assert_eq!(chunk_sizes(1000), [256, 256, 256, 64, 64, 64, 16, 16, 4, 4]);
    }

    #[test]
    fn placeholders_are_numbered_per_row() {
        let sql = values(2, 3, 2, |s, n| {
            let _ = write!(s, "(${n},${})", n + 1);
        });
        assert_eq!(sql, "($3,$4),($5,$6)");
    }

    fn d(user: i64, mapping: i64, call: &str) -> NewDelivery {
        NewDelivery {
            xelion_context_id: XelionContextId(1),
            crm_context_id: CrmContextId(1),
            user_id: UserId(user),
            mapping_id: MappingId(mapping),
            xelion_event: XelionEvent::CallHungUp,
            call_id: call.to_string(),
            event: serde_json::Map::new(),
        }
    }

    #[test]
    fn a_key_belongs_to_the_first_job_that_brings_it() {
        let jobs = vec![
            // one event, two mappings, and the same event again inside the job
            vec![d(1, 10, "c1"), d(1, 11, "c1"), d(1, 10, "c1")],
            // the transfer duplicate from another caller
            vec![d(1, 10, "c1"), d(2, 10, "c1")],
            // no call id: never a duplicate
            vec![d(3, 10, ""), d(3, 10, "")],
        ];
        let (keys, keep) = plan_keys(&jobs);
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keep,
            vec![vec![true, true, false], vec![false, true], vec![true, true]]
        );
    }
}
