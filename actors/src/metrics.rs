//! The server's Prometheus metrics, registered in one place.
//!
//! One [`Metrics`] per server (cheap to clone): the tenants, dispatch and the token actors
//! update its counters where things happen, the HTTP layer its request histogram; gauges of
//! state kept in the database or the tenants (outbox backlog, parked users, sockets by state)
//! are set just before each scrape. Labels are bounded: tenants appear only as their xelion
//! context id, never a call id or a user.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::domain::{XelionContextId, XelionEvent};
use crate::store::{Attempt, Backlog, StatusUpdate};

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type Labels<const N: usize> = [(&'static str, String); N];
type HistogramFamily<const N: usize> = Family<Labels<N>, Histogram, fn() -> Histogram>;

/// The metrics of one server.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    events: Family<Labels<2>, Counter>,
    reconnects: Family<Labels<1>, Counter>,
    deliveries: Family<Labels<2>, Counter>,
    attempts: Family<Labels<1>, Counter>,
    grants: Family<Labels<1>, Counter>,
    backlog: Family<Labels<1>, Gauge>,
    oldest_pending: Gauge,
    parked_users: Gauge,
    sockets: Family<Labels<1>, Gauge>,
    http: HistogramFamily<3>,
    render: Histogram,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("xcti");
        let events = Family::default();
        registry.register(
            "events_received",
            "Call events received from Xelion, by tenant (xelion context id) and event type",
            events.clone(),
        );
        let reconnects = Family::default();
        registry.register(
            "tenant_reconnects",
            "Websocket reconnects after a tenant's socket was lost, by tenant",
            reconnects.clone(),
        );
        let deliveries = Family::default();
        registry.register(
            "deliveries",
            "Delivery outcomes (delivered, retry, failed, held) by the CRM's status class",
            deliveries.clone(),
        );
        let attempts = Family::default();
        registry.register(
            "delivery_attempts",
            "Requests sent to CRMs, by the CRM's status class (none: no answer)",
            attempts.clone(),
        );
        let grants = Family::default();
        registry.register(
            "token_grants",
            "OAuth token grants by outcome",
            grants.clone(),
        );
        let backlog = Family::default();
        registry.register(
            "outbox_backlog",
            "Open deliveries in the outbox by state (pending, retrying, held)",
            backlog.clone(),
        );
        let oldest_pending = Gauge::default();
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest open delivery (0 when there is none)",
            oldest_pending.clone(),
        );
        let parked_users = Gauge::default();
        registry.register(
            "parked_users",
            "Users whose CRM credentials need re-authorisation",
            parked_users.clone(),
        );
        let sockets = Family::default();
        registry.register(
            "tenant_sockets",
            "Tenants by the state of their Xelion event socket",
            sockets.clone(),
        );
        let http: HistogramFamily<3> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP requests by route pattern, method and status",
            http.clone(),
        );
        let render = Histogram::new(exponential_buckets(0.00001, 4.0, 10));
        registry.register(
            "template_render_duration_seconds",
            "Time to render a mapping's URI and payload for one delivery",
            render.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                events,
                reconnects,
                deliveries,
                attempts,
                grants,
                backlog,
                oldest_pending,
                parked_users,
                sockets,
                http,
                render,
            }),
        }
    }

    /// A call event arrived on a tenant's socket.
    pub fn event_received(&self, tenant: XelionContextId, event: XelionEvent) {
        self.inner
            .events
            .get_or_create(&[
                ("tenant", tenant.to_string()),
                ("event", event.as_str().to_string()),
            ])
            .inc();
    }

    /// A tenant's socket is subscribed again after it was lost.
    pub fn reconnected(&self, tenant: XelionContextId) {
        self.inner
            .reconnects
            .get_or_create(&[("tenant", tenant.to_string())])
            .inc();
    }

    /// Dispatch recorded an outcome.
    pub fn delivery_update(&self, update: &StatusUpdate) {
        let (outcome, attempt) = match update {
            StatusUpdate::Delivered { attempt, .. } => ("delivered", Some(attempt)),
            StatusUpdate::RetryAt { attempt, .. } => ("retry", Some(attempt)),
            StatusUpdate::Failed { attempt, .. } => ("failed", attempt.as_ref()),
            StatusUpdate::Held { .. } => ("held", None),
        };
        let class = status_class(attempt);
        if attempt.is_some() {
            self.inner
                .attempts
                .get_or_create(&[("status_class", class.to_string())])
                .inc();
        }
        self.inner
            .deliveries
            .get_or_create(&[
                ("outcome", outcome.to_string()),
                ("status_class", class.to_string()),
            ])
            .inc();
    }

    /// A token grant ended (`granted`, `parked`, `transient`, ...).
    pub fn token_grant(&self, outcome: &'static str) {
        self.inner
            .grants
            .get_or_create(&[("outcome", outcome.to_string())])
            .inc();
    }

    /// A mapping was rendered for a delivery.
    pub fn template_rendered(&self, took: Duration) {
        self.inner.render.observe(took.as_secs_f64());
    }

    /// An HTTP request was answered. `route` is the matched pattern (never the raw path).
    pub fn http_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.inner
            .http
            .get_or_create(&[
                ("route", route.to_string()),
                ("method", method.to_string()),
                ("status", status.to_string()),
            ])
            .observe(took.as_secs_f64());
    }

    /// Sets the outbox gauges; `now_millis` is the current unix time in milliseconds.
    pub fn set_backlog(&self, backlog: &Backlog, now_millis: i64) {
        for (state, n) in [
            ("pending", backlog.pending),
            ("retrying", backlog.retrying),
            ("held", backlog.held),
        ] {
            self.inner
                .backlog
                .get_or_create(&[("state", state.to_string())])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let age = backlog
            .oldest_created_at
            .map_or(0, |t| (now_millis - t.millis()).max(0) / 1000);
        self.inner.oldest_pending.set(age);
    }

    /// Sets the number of users needing re-authorisation.
    pub fn set_parked_users(&self, n: u64) {
        self.inner
            .parked_users
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Sets the tenants by socket state (states absent from `counts` are dropped).
    pub fn set_tenant_sockets<'a>(&self, counts: impl IntoIterator<Item = (&'a str, usize)>) {
        self.inner.sockets.clear();
        for (state, n) in counts {
            self.inner
                .sockets
                .get_or_create(&[("state", state.to_string())])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The registry in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.inner.registry);
        out
    }
}

fn status_class(attempt: Option<&Attempt>) -> &'static str {
    match attempt.and_then(|a| a.status) {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
        None => "none",
    }
}
