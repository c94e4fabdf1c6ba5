//! The delivery log of a tenant: listing with filters and cursor paging, each delivery with
//! its attempts, and sending a failed one again.

use std::collections::HashMap;
use std::fmt::Write as _;

use sqlx::{AssertSqlSafe, Row as _};

use super::outbox::{delivery_cols, delivery_row};
use super::{
    Attempt, Delivery, DeliveryId, DeliveryStatus, Store, StoreError, StoreResult, Timestamp,
    UserId, XelionContextId, XelionEvent,
};

/// What to list; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub user_id: Option<UserId>,
    pub xelion_event: Option<XelionEvent>,
    pub call_id: Option<String>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Created before.
    pub until: Option<Timestamp>,
}

/// A delivery and its attempts, oldest attempt first.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryWithAttempts {
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
}

/// One page of a listing, newest first; `next_cursor` continues it (older rows), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<DeliveryId>,
}

/// A bind value of a listing query.
enum Arg {
    Int(i64),
    Text(String),
}

impl Store {
    /// The deliveries of a xelion context that pass `filter`, newest first, `limit` at most,
    /// older than `cursor` when given.
    pub async fn deliveries(
        &self,
        xelion_context_id: XelionContextId,
        filter: &DeliveryFilter,
        cursor: Option<DeliveryId>,
        limit: u32,
    ) -> StoreResult<Page<DeliveryWithAttempts>> {
        let mut sql = String::from(concat!(
            "SELECT ",
            delivery_cols!(),
            " FROM deliveries WHERE xelion_context_id = $1"
        ));
        let mut args = vec![Arg::Int(xelion_context_id.0)];
        let mut cond = |column: &str, op: &str, arg: Arg| {
            args.push(arg);
            let _ = write!(sql, " AND {column} {op} ${}", args.len());
        };
        if let Some(status) = filter.status {
            cond("status", "=", Arg::Text(status.as_str().to_string()));
        }
        if let Some(user) = filter.user_id {
            cond("user_id", "=", Arg::Int(user.0));
        }
        if let Some(event) = filter.xelion_event {
            cond("xelion_event", "=", Arg::Text(event.as_str().to_string()));
        }
        if let Some(call) = &filter.call_id {
            cond("call_id", "=", Arg::Text(call.clone()));
        }
        if let Some(since) = filter.since {
            cond("created_at", ">=", Arg::Int(since.millis()));
        }
        if let Some(until) = filter.until {
            cond("created_at", "<", Arg::Int(until.millis()));
        }
        if let Some(cursor) = cursor {
            cond("id", "<", Arg::Int(cursor.0));
        }
        // One more than asked: whether another page exists.
        let _ = write!(sql, " ORDER BY id DESC LIMIT {}", u64::from(limit) + 1);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for arg in args {
            query = match arg {
                Arg::Int(i) => query.bind(i),
                Arg::Text(t) => query.bind(t),
            };
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut deliveries = rows
            .iter()
            .map(delivery_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let more = deliveries.len() > limit as usize;
        deliveries.truncate(limit as usize);
        let next_cursor = more.then(|| deliveries.last().map(|d| d.id)).flatten();
        let items = self.with_attempts(deliveries).await?;
        Ok(Page { items, next_cursor })
    }

    /// One delivery of a xelion context, with its attempts.
    pub async fn delivery(
        &self,
        xelion_context_id: XelionContextId,
        id: DeliveryId,
    ) -> StoreResult<Option<DeliveryWithAttempts>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            delivery_cols!(),
            " FROM deliveries WHERE id = $1 AND xelion_context_id = $2"
        ))
        .bind(id)
        .bind(xelion_context_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(self.with_attempts(vec![delivery_row(&row)?]).await?.pop())
    }

    /// A failed delivery goes back to pending, due now, and is answered. `NotFound` for an
    /// unknown id or one of another xelion context; `WrongState` when it is not failed.
    pub async fn retry_delivery(
        &self,
        xelion_context_id: XelionContextId,
        id: DeliveryId,
    ) -> StoreResult<Delivery> {
        let now = Timestamp::now().millis();
        let mut tx = self.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $3, claimed_until = 0, \
             reason = NULL, updated_at = $3, requeued_at = $3 WHERE id = $1 AND xelion_context_id = $2 \
             AND status = 'failed' RETURNING ",
            delivery_cols!()
        ))
        .bind(id)
        .bind(xelion_context_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row {
            tx.commit().await?;
            return delivery_row(&row);
        }
        let status: Option<String> =
            sqlx::query("SELECT status FROM deliveries WHERE id = $1 AND xelion_context_id = $2")
                .bind(id)
                .bind(xelion_context_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("status"))
                .transpose()?;
        match status {
            None => Err(StoreError::NotFound),
            Some(status) => Err(StoreError::WrongState(format!(
                "delivery {id} is {status}; only a failed delivery can be sent again"
            ))),
        }
    }

    /// The attempts of each delivery, oldest first.
    async fn with_attempts(
        &self,
        deliveries: Vec<Delivery>,
    ) -> StoreResult<Vec<DeliveryWithAttempts>> {
        let mut by_id: HashMap<DeliveryId, Vec<Attempt>> = HashMap::new();
        if !deliveries.is_empty() {
            let mut sql = String::from(
                "SELECT delivery_id, at, status, duration_ms, excerpt, error \
                 FROM delivery_attempts WHERE delivery_id IN (",
            );
            for i in 0..deliveries.len() {
                let _ = write!(sql, "{}${}", if i == 0 { "" } else { "," }, i + 1);
            }
            sql.push_str(") ORDER BY id");
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for d in &deliveries {
                query = query.bind(d.id);
            }
            for row in query.fetch_all(self.pool()).await? {
                let status: Option<i64> = row.try_get("status")?;
                by_id
                    .entry(row.try_get("delivery_id")?)
                    .or_default()
                    .push(Attempt {
                        at: Timestamp(row.try_get("at")?),
                        status: status.and_then(|s| u16::try_from(s).ok()),
                        duration_ms: u64::try_from(row.try_get::<i64, _>("duration_ms")?)
                            .unwrap_or(0),
                        excerpt: row.try_get("excerpt")?,
                        error: row.try_get("error")?,
                    });
            }
        }
        Ok(deliveries
            .into_iter()
            .map(|delivery| DeliveryWithAttempts {
                attempts: by_id.remove(&delivery.id).unwrap_or_default(),
                delivery,
            })
            .collect())
    }
}
