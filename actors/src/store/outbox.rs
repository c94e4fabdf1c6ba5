//! `deliveries`, `delivery_attempts`, `delivery_keys`: the outbox and the delivery log.
//!
//! A delivery is accepted once its row is committed; from then on it survives a crash and is
//! sent after a restart. Rows are written in batches by the outbox writer
//! ([`crate::outbox::OutboxWriter`]), already claimed (`claimed_until`, a lease) because the
//! caller dispatches them from memory; [`Store::claim_due`] is only for recovery and due
//! retries. This file holds the types, claims, the release of held rows and the backlog; the
//! batch write is in `outbox_write.rs`, the log and its retry in `deliveries.rs`, retention in
//! `retention.rs`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::rows::parse_column;
use super::{
    Backend, CrmContextId, DeliveryId, DeliveryStatus, MappingId, Store, StoreResult, Timestamp,
    UserId, XelionContextId, XelionEvent,
};

/// The longest answer excerpt an attempt keeps, in bytes.
pub const EXCERPT_MAX: usize = 512;
/// The longest error or reason text kept, in bytes.
pub const ATTEMPT_TEXT_MAX: usize = 1024;

/// `next_attempt_at` of a held row: never due until released.
pub(super) const NEVER: i64 = i64::MAX;

/// A call event's fields as Xelion sent them, shared by every delivery the event makes (and
/// never copied on the way from the socket to the CRM).
pub type EventFields = Arc<Map<String, Value>>;

/// A delivery to accept: one mapping of one event for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub xelion_context_id: XelionContextId,
    pub crm_context_id: CrmContextId,
    pub user_id: UserId,
    pub mapping_id: MappingId,
    pub xelion_event: XelionEvent,
    /// The event's `callId`. Empty: the delivery has no dedupe key and is always accepted.
    pub call_id: String,
    /// The CallEvent's fields as Xelion sent them.
    pub event: EventFields,
}

/// The dedupe key of an event: (crm context, user, event type, callId).
pub(super) type Key = (CrmContextId, UserId, XelionEvent, String);

impl NewDelivery {
    /// Its dedupe key, if it has a call id.
    pub(super) fn key(&self) -> Option<Key> {
        (!self.call_id.is_empty()).then(|| {
            (
                self.crm_context_id,
                self.user_id,
                self.xelion_event,
                self.call_id.clone(),
            )
        })
    }
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub xelion_context_id: XelionContextId,
    pub crm_context_id: CrmContextId,
    pub user_id: UserId,
    pub mapping_id: MappingId,
    pub xelion_event: XelionEvent,
    pub call_id: String,
    pub event: EventFields,
    pub status: DeliveryStatus,
    /// Attempts recorded so far.
    pub attempts: u32,
    /// When it is due (pending, retrying); `None` for held, delivered and failed rows.
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Why it failed or is held.
    pub reason: Option<String>,
    /// When the retry endpoint queued it again after it failed, if it did.
    pub requeued_at: Option<Timestamp>,
}

impl Delivery {
    /// Where its time-to-live counts from: its creation, or its last manual retry.
    pub fn ttl_from(&self) -> Timestamp {
        self.requeued_at
            .map_or(self.created_at, |r| r.max(self.created_at))
    }
}

/// One request to the CRM and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// When it was sent.
    pub at: Timestamp,
    /// The CRM's HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// The start of the answer's body (cut to [`EXCERPT_MAX`] bytes when stored). Never a token.
    pub excerpt: Option<String>,
    /// What went wrong (a timeout, a refused connection), cut to [`ATTEMPT_TEXT_MAX`] bytes.
    pub error: Option<String>,
}

/// What dispatch learned about a delivery. A delivered row is final: later updates of it
/// only add their attempt to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusUpdate {
    /// The CRM answered 2xx.
    Delivered { id: DeliveryId, attempt: Attempt },
    /// Refused for now: send again at `at` (the recovery poll claims it then).
    RetryAt {
        id: DeliveryId,
        attempt: Attempt,
        at: Timestamp,
    },
    /// Not attempted: the user's credentials must be updated ([`Store::release_held`]).
    Held { id: DeliveryId, reason: String },
    /// Given up, with the reason (and the attempt that decided it, if any).
    Failed {
        id: DeliveryId,
        attempt: Option<Attempt>,
        reason: String,
    },
}

impl StatusUpdate {
    /// The delivery it is about.
    pub fn id(&self) -> DeliveryId {
        match self {
            StatusUpdate::Delivered { id, .. }
            | StatusUpdate::RetryAt { id, .. }
            | StatusUpdate::Held { id, .. }
            | StatusUpdate::Failed { id, .. } => *id,
        }
    }
}

/// The clock of one accepting batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepting {
    /// `created_at` of the rows and keys.
    pub now: Timestamp,
    /// The lease of the rows: the caller dispatches them from memory until then.
    pub claimed_until: Timestamp,
    /// Keys older than this no longer make a duplicate.
    pub dedupe_since: Timestamp,
}

impl Accepting {
    /// Now, with a lease and a dedupe window.
    pub fn at(now: Timestamp, lease: Duration, dedupe_window: Duration) -> Accepting {
        Accepting {
            now,
            claimed_until: now.plus(lease),
            dedupe_since: now.minus(dedupe_window),
        }
    }
}

/// Open work, for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub pending: u64,
    pub retrying: u64,
    pub held: u64,
    /// `created_at` of the oldest open row.
    pub oldest_created_at: Option<Timestamp>,
}

impl Backlog {
    /// Pending, retrying and held rows together.
    pub fn total(&self) -> u64 {
        self.pending + self.retrying + self.held
    }
}

// The column list, as a macro so that `concat!` builds `&'static str` queries from it.
macro_rules! delivery_cols {
    () => {
        "id, xelion_context_id, crm_context_id, user_id, mapping_id, xelion_event, call_id, \
         event, status, attempts, next_attempt_at, created_at, updated_at, reason, requeued_at"
    };
}
pub(super) use delivery_cols;

// One statement per backend: PostgreSQL skips rows another claimer holds.
/// SQLite would rather walk the whole table in id order than sort the few open rows: the
/// index of open rows is named (each poll would otherwise read every row ever kept).
const CLAIM_SQLITE: &str = concat!(
    "UPDATE deliveries SET claimed_until = $1 WHERE id IN (SELECT id FROM deliveries \
     INDEXED BY deliveries_open WHERE status IN ('pending', 'retrying', 'held') AND status <> 'held' \
     AND next_attempt_at <= $2 AND claimed_until <= $2 ORDER BY id LIMIT $3) RETURNING ",
    delivery_cols!()
);
const CLAIM_POSTGRES: &str = concat!(
    "UPDATE deliveries SET claimed_until = $1 WHERE id IN (SELECT id FROM deliveries \
     WHERE status IN ('pending', 'retrying', 'held') AND status <> 'held' \
     AND next_attempt_at <= $2 AND claimed_until <= $2 ORDER BY id LIMIT $3 \
     FOR UPDATE SKIP LOCKED) RETURNING ",
    delivery_cols!()
);

impl Store {
    /// Claims up to `limit` due rows (pending or retrying, `next_attempt_at <= now`, no live
    /// lease) for `lease`, ordered by id: recovery after a restart and due retries. On
    /// PostgreSQL rows another instance is claiming are skipped (`FOR UPDATE SKIP LOCKED`), so
    /// two claimers never get the same row.
    pub async fn claim_due(
        &self,
        now: Timestamp,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<Delivery>> {
        let sql = match self.backend {
            Backend::Sqlite => CLAIM_SQLITE,
            Backend::Postgres => CLAIM_POSTGRES,
        };
        let mut tx = self.begin().await?;
        let rows = sqlx::query(sql)
            .bind(now.plus(lease).millis())
            .bind(now.millis())
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut claimed = rows
            .iter()
            .map(delivery_row)
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    /// Ends every lease on open rows: at the start of the only instance a SQLite file has,
    /// whatever the previous process held in memory is due again at once.
    pub async fn release_claims(&self) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE deliveries SET claimed_until = 0 \
             WHERE status IN ('pending', 'retrying', 'held') AND claimed_until > 0",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// A user's held rows become pending and due now (their credentials were updated);
    /// returns how many.
    pub async fn release_held(&self, user_id: UserId) -> StoreResult<u64> {
        let now = Timestamp::now().millis();
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $2, claimed_until = 0, \
             reason = NULL, updated_at = $2 WHERE user_id = $1 AND status = 'held'",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Open rows by status and the age of the oldest, for readiness.
    pub async fn outbox_backlog(&self) -> StoreResult<Backlog> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM deliveries \
             WHERE status IN ('pending', 'retrying', 'held') GROUP BY status",
        )
        .fetch_all(self.pool())
        .await?;
        let mut backlog = Backlog::default();
        for row in &rows {
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
            let oldest = Timestamp(row.try_get("oldest")?);
            match parse_column::<DeliveryStatus>(row, "status")? {
                DeliveryStatus::Pending => backlog.pending = n,
                DeliveryStatus::Retrying => backlog.retrying = n,
                DeliveryStatus::Held => backlog.held = n,
                DeliveryStatus::Delivered | DeliveryStatus::Failed => continue,
            }
            backlog.oldest_created_at = Some(match backlog.oldest_created_at {
                Some(o) => o.min(oldest),
                None => oldest,
            });
        }
        Ok(backlog)
    }

    /// Users whose credentials the token endpoint refused (parked until new ones are stored),
    /// for readiness and metrics.
    pub async fn parked_users(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_credentials WHERE parked_error IS NOT NULL",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// A `deliveries` row read back; a column that does not decode is an error, not a panic.
pub(super) fn delivery_row(r: &AnyRow) -> StoreResult<Delivery> {
    let status: DeliveryStatus = parse_column(r, "status")?;
    let next: i64 = r.try_get("next_attempt_at")?;
    let event_text: String = r.try_get("event")?;
    let event = match serde_json::from_str::<Value>(&event_text) {
        Ok(Value::Object(map)) => map,
        Ok(_) => Map::new(),
        Err(e) => {
            return Err(sqlx::Error::ColumnDecode {
                index: "event".to_string(),
                source: Box::new(e),
            }
            .into())
        }
    };
    Ok(Delivery {
        id: r.try_get("id")?,
        xelion_context_id: r.try_get("xelion_context_id")?,
        crm_context_id: r.try_get("crm_context_id")?,
        user_id: r.try_get("user_id")?,
        mapping_id: r.try_get("mapping_id")?,
        xelion_event: parse_column(r, "xelion_event")?,
        call_id: r.try_get("call_id")?,
        event: Arc::new(event),
        status,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: matches!(status, DeliveryStatus::Pending | DeliveryStatus::Retrying)
            .then_some(Timestamp(next))
            .filter(|t| t.0 != NEVER),
        created_at: Timestamp(r.try_get("created_at")?),
        updated_at: Timestamp(r.try_get("updated_at")?),
        reason: r.try_get("reason")?,
        requeued_at: Some(Timestamp(r.try_get("requeued_at")?)).filter(|t| t.0 > 0),
    })
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub(super) fn bounded(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    super::rows::storable(&text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every second's claim reads only open rows: a table of delivered rows kept for days
    /// must not be walked each time (it stalled every accept behind it).
    #[actix::test]
    async fn the_claim_reads_only_open_rows() {
        let cipher = crate::secrets::Cipher::from_key([7; 32]);
        let store = Store::open("sqlite::memory:", cipher).await.unwrap();
        let explain = CLAIM_SQLITE.replace("UPDATE", "EXPLAIN QUERY PLAN UPDATE");
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(explain))
            .bind(1_i64)
            .bind(1_i64)
            .bind(10_i64)
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect();
        assert!(
            plan.iter()
                .any(|p| p.contains("USING INDEX deliveries_open")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|p| p.starts_with("SCAN deliveries")),
            "{plan:?}"
        );
    }

    #[test]
    fn texts_are_cut_at_character_boundaries() {
        assert_eq!(bounded("abc", 5), "abc");
        assert_eq!(bounded("abcdef", 3), "abc");
        // `é` is two bytes: never cut in half.
        assert_eq!(bounded("aé", 2), "a");
        // NUL (from a CRM's answer) cannot be stored on PostgreSQL.
        assert_eq!(bounded("a\0b", 9), "a\u{FFFD}b");
    }

    #[test]
    fn a_delivery_without_call_id_has_no_key() {
        let d = NewDelivery {
            xelion_context_id: XelionContextId(1),
            crm_context_id: CrmContextId(2),
            user_id: UserId(3),
            mapping_id: MappingId(4),
            xelion_event: XelionEvent::CallHungUp,
            call_id: String::new(),
            event: EventFields::default(),
        };
        assert_eq!(d.key(), None);
        let d = NewDelivery {
            call_id: "c1".into(),
            ..d
        };
        assert_eq!(
            d.key(),
            Some((
                CrmContextId(2),
                UserId(3),
                XelionEvent::CallHungUp,
                "c1".to_string()
            ))
        );
    }
}
