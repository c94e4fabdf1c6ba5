//! `.../crm-integrations/{xelionContextId}/deliveries`: the delivery log of a tenant, and
//! sending a failed delivery again.

use serde_json::Value;

use super::{Admin, Scope};
use crate::api::{AttemptView, DeliveryPage, DeliveryQuery, DeliveryView};
use crate::clock::Timestamp;
use crate::domain::{DeliveryId, DeliveryStatus, UserId, XelionContextId, XelionEvent};
use crate::error::{ApiError, What};
use crate::store::{DeliveryFilter, DeliveryWithAttempts, StoreError};

/// Page size when the query gives none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
pub const MAX_LIMIT: u32 = 500;

impl Admin {
    /// `GET .../deliveries`: newest first, filtered, a page at a time. The query is checked
    /// before anything is looked up.
    pub async fn list_deliveries(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        query: DeliveryQuery,
    ) -> Result<DeliveryPage, ApiError> {
        let (filter, cursor, limit) = parse_query(&query)?;
        self.scoped_context(scope, xid).await?;
        let page = self.store.deliveries(xid, &filter, cursor, limit).await?;
        Ok(DeliveryPage {
            deliveries: page.items.into_iter().map(delivery_view).collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        })
    }

    /// `POST .../deliveries/{id}/retry`: a failed delivery goes back to pending, due now (the
    /// recovery poll sends it); answers it. Not failed: 409; unknown or another tenant's: 404.
    pub async fn retry_delivery(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        id: DeliveryId,
    ) -> Result<DeliveryView, ApiError> {
        self.scoped_context(scope, xid).await?;
        let not_found = || ApiError::NotFound(What::Delivery(id, xid));
        match self.store.retry_delivery(xid, id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        }
        let retried = self.store.delivery(xid, id).await?.ok_or_else(not_found)?;
        Ok(delivery_view(retried))
    }
}

/// The filters, cursor and page size of a query; a bad value is a 400 naming its parameter.
pub fn parse_query(
    q: &DeliveryQuery,
) -> Result<(DeliveryFilter, Option<DeliveryId>, u32), ApiError> {
    let bad = |message: String| ApiError::bad_parameter(message);
    let status = q
        .status
        .as_deref()
        .map(|s| s.parse::<DeliveryStatus>())
        .transpose()
        .map_err(|e| bad(format!("status: {e}")))?;
    let user_id = q
        .user_id
        .as_deref()
        .map(|s| positive(s).map(UserId))
        .transpose()
        .map_err(|s| bad(format!("userId: `{s}` is not a user id")))?;
    let xelion_event = q
        .xelion_event
        .as_deref()
        .map(|s| s.parse::<XelionEvent>())
        .transpose()
        .map_err(|e| bad(format!("xelionEvent: {e}")))?;
    let call_id = match q.call_id.as_deref() {
        Some("") => return Err(bad("callId: must not be empty".into())),
        other => other.map(str::to_string),
    };
    let time = |name: &str, value: Option<&str>| {
        value
            .map(|s| {
                Timestamp::parse(s).ok_or_else(|| {
                    bad(format!(
                        "{name}: `{s}` is not a time; write yyyy-MM-ddTHH:mm:ss with optional \
                         fractional seconds (UTC)"
                    ))
                })
            })
            .transpose()
    };
    let since = time("since", q.since.as_deref())?;
    let until = time("until", q.until.as_deref())?;
    if let (Some(s), Some(u)) = (since, until) {
        if u <= s {
            return Err(bad("until: must be later than since".into()));
        }
    }
    let cursor = q
        .cursor
        .as_deref()
        .map(|s| positive(s).map(DeliveryId))
        .transpose()
        .map_err(|s| {
            bad(format!(
                "cursor: `{s}` is not a cursor; pass the nextCursor of a page"
            ))
        })?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "limit: `{s}` is not a number from 1 to {MAX_LIMIT}"
                ))
            })?,
    };
    Ok((
        DeliveryFilter {
            status,
            user_id,
            xelion_event,
            call_id,
            since,
            until,
        },
        cursor,
        limit,
    ))
}

/// A positive integer, or the text back.
fn positive(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| s.to_string())
}

/// A stored delivery as the API shows it.
fn delivery_view(d: DeliveryWithAttempts) -> DeliveryView {
    let DeliveryWithAttempts { delivery, attempts } = d;
    DeliveryView {
        id: delivery.id,
        crm_context_id: delivery.crm_context_id,
        user_id: delivery.user_id,
        mapping_id: delivery.mapping_id,
        xelion_event: delivery.xelion_event,
        call_id: delivery.call_id,
        status: delivery.status,
        next_attempt_at: delivery.next_attempt_at.map(Timestamp::as_created_at),
        reason: delivery.reason,
        created_at: delivery.created_at.as_created_at(),
        updated_at: delivery.updated_at.as_created_at(),
        event: Value::Object(std::sync::Arc::unwrap_or_clone(delivery.event)),
        attempts: attempts
            .into_iter()
            .map(|a| AttemptView {
                at: a.at.as_created_at(),
                status: a.status,
                duration_ms: a.duration_ms,
                excerpt: a.excerpt,
                error: a.error,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query as the HTTP layer decodes it.
    fn query(pairs: &[(&str, &str)]) -> DeliveryQuery {
        let map: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        serde_json::from_value(Value::Object(map)).unwrap()
    }

    fn message(q: DeliveryQuery) -> String {
        let err = parse_query(&q).unwrap_err();
        assert_eq!(err.status(), 400);
        err.to_string()
    }

    #[test]
    fn a_full_query_parses() {
        let (f, cursor, limit) = parse_query(&query(&[
            ("status", "failed"),
            ("userId", "7"),
            ("xelionEvent", "callHungUpEvent"),
            ("callId", "186ba647df1ef222"),
            ("since", "2026-01-01T00:00:00"),
            ("until", "2026-01-02 00:00:00.5"),
            ("cursor", "120"),
            ("limit", "500"),
        ]))
        .unwrap();
        assert_eq!(f.status, Some(DeliveryStatus::Failed));
        assert_eq!(f.user_id, Some(UserId(7)));
        assert_eq!(f.xelion_event, Some(XelionEvent::CallHungUp));
        assert_eq!(f.call_id.as_deref(), Some("186ba647df1ef222"));
        assert_eq!(
            f.until.unwrap().millis() - f.since.unwrap().millis(),
            86_400_500
        );
        assert_eq!((cursor, limit), (Some(DeliveryId(120)), 500));
        let (f, cursor, limit) = parse_query(&DeliveryQuery::default()).unwrap();
        assert_eq!(
            (f, cursor, limit),
            (DeliveryFilter::default(), None, DEFAULT_LIMIT)
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (key, value) in [
            ("status", "done"),
            ("userId", "alice"),
            ("userId", "0"),
            ("xelionEvent", "ringing"),
            ("callId", ""),
            ("since", "yesterday"),
            ("until", "2026-13-01T00:00:00"),
            ("cursor", "-3"),
            ("limit", "0"),
            ("limit", "501"),
            ("limit", "ten"),
        ] {
            let msg = message(query(&[(key, value)]));
            assert!(msg.starts_with(&format!("{key}: ")), "{key}={value}: {msg}");
        }
        let msg = message(query(&[
            ("since", "2026-01-02T00:00:00"),
            ("until", "2026-01-01T00:00:00"),
        ]));
        assert!(msg.starts_with("until: "), "{msg}");
    }
}
