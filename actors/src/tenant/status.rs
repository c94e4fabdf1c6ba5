//! What a tenant shows of itself: the status endpoint, readiness and the supervisor's list.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::clock::{now_unix, xelion_date};
use crate::domain::XelionContextId as Id;
use crate::domain::XelionEvent;

/// The state of a tenant's event socket (or of its actor, when that is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TenantState {
    /// Logging in, asking for a websocket URL, connecting or subscribing.
    Connecting,
    /// The socket is open and subscribed.
    Subscribed,
    /// Waiting before the next attempt after a failure.
    BackingOff,
    /// Xelion refused the admin credentials; retried only now and then.
    CredentialsRejected,
    /// Stopped on purpose (deleted, shutting down).
    Stopped,
    /// The actor is gone (the supervisor restarts it).
    Dead,
    /// The actor did not answer in time.
    Unresponsive,
}

impl TenantState {
    /// The name the API and the metrics use (`backingOff`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TenantState::Connecting => "connecting",
            TenantState::Subscribed => "subscribed",
            TenantState::BackingOff => "backingOff",
            TenantState::CredentialsRejected => "credentialsRejected",
            TenantState::Stopped => "stopped",
            TenantState::Dead => "dead",
            TenantState::Unresponsive => "unresponsive",
        }
    }

    /// False for an actor that is gone or stuck.
    pub fn is_running(self) -> bool {
        !matches!(self, TenantState::Dead | TenantState::Unresponsive)
    }
}

/// A tenant's status, as `GET /api/xelion-environment/{id}/status` answers it. No secret.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// The xelion context id.
    #[serde(rename = "xelionContextId")]
    pub id: Id,
    /// `host/tenant`.
    pub label: String,
    /// Mappings across its crm contexts.
    pub mappings: usize,
    /// The socket state.
    pub state: TenantState,
    /// When the state was entered (Xelion date format, UTC).
    pub since: Option<String>,
    /// The event types the open socket is subscribed to.
    pub subscribed_events: Vec<XelionEvent>,
    /// Call events received since the tenant started.
    pub events_received: u64,
    /// The same, by event type.
    pub events_by_type: BTreeMap<XelionEvent, u64>,
    /// Frames dropped, by reason (`malformed`, `unknownType`, `notACallEvent`, `oversized`).
    pub frames_rejected: BTreeMap<&'static str, u64>,
    /// Times the socket was opened again after the first time.
    pub reconnects: u64,
    /// The last failure (never a secret).
    pub last_error: Option<String>,
    /// When the last call event arrived.
    pub last_event_at: Option<String>,
    /// Events that involved no registered user or no mapping of their type.
    pub events_unrouted: u64,
    /// Deliveries committed to the outbox.
    pub deliveries_accepted: u64,
    /// Deliveries the outbox already had (the attended-transfer duplicate).
    pub duplicates_dropped: u64,
    /// Deliveries dropped because the database refused them for too long.
    pub deliveries_dropped: u64,
}

impl TenantStatus {
    /// The status of a tenant whose actor cannot answer.
    pub fn not_running(id: Id, state: TenantState) -> Self {
        TenantStatus {
            id,
            label: String::new(),
            mappings: 0,
            state,
            since: None,
            subscribed_events: Vec::new(),
            events_received: 0,
            events_by_type: BTreeMap::new(),
            frames_rejected: BTreeMap::new(),
            reconnects: 0,
            last_error: None,
            last_event_at: None,
            events_unrouted: 0,
            deliveries_accepted: 0,
            duplicates_dropped: 0,
            deliveries_dropped: 0,
        }
    }
}

/// The counters a tenant keeps.
#[derive(Debug, Clone)]
pub(super) struct Stats {
    pub state: TenantState,
    pub since: i64,
    pub subscribed: BTreeSet<XelionEvent>,
    pub events: u64,
    pub by_type: BTreeMap<XelionEvent, u64>,
    pub rejected: BTreeMap<&'static str, u64>,
    pub reconnects: u64,
    pub connected_once: bool,
    pub last_error: Option<String>,
    pub last_event_at: Option<i64>,
    /// Events that involved no registered user (or no mapping of their type).
    pub events_unrouted: u64,
    /// Deliveries committed to the outbox.
    pub deliveries_accepted: u64,
    /// Deliveries the outbox already had (the attended-transfer duplicate).
    pub duplicates_dropped: u64,
    /// Deliveries dropped because the database refused them for too long.
    pub deliveries_dropped: u64,
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            state: TenantState::Connecting,
            since: now_unix(),
            subscribed: BTreeSet::new(),
            events: 0,
            by_type: BTreeMap::new(),
            rejected: BTreeMap::new(),
            reconnects: 0,
            connected_once: false,
            last_error: None,
            last_event_at: None,
            events_unrouted: 0,
            deliveries_accepted: 0,
            duplicates_dropped: 0,
            deliveries_dropped: 0,
        }
    }

    /// Enters `state` (the time only moves when the state changes).
    pub fn enter(&mut self, state: TenantState) {
        if self.state != state {
            self.state = state;
            self.since = now_unix();
        }
        if state != TenantState::Subscribed {
            self.subscribed.clear();
        }
    }

    pub fn status(&self, id: Id, label: &str, mappings: usize) -> TenantStatus {
        TenantStatus {
            id,
            label: label.to_string(),
            mappings,
            state: self.state,
            since: Some(xelion_date(self.since)),
            subscribed_events: self.subscribed.iter().copied().collect(),
            events_received: self.events,
            events_by_type: self.by_type.clone(),
            frames_rejected: self.rejected.clone(),
            reconnects: self.reconnects,
            last_error: self.last_error.clone(),
            last_event_at: self.last_event_at.map(xelion_date),
            events_unrouted: self.events_unrouted,
            deliveries_accepted: self.deliveries_accepted,
            duplicates_dropped: self.duplicates_dropped,
            deliveries_dropped: self.deliveries_dropped,
        }
    }
}
