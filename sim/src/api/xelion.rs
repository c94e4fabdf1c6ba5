//! Control API bodies of the Xelion simulator: tenants, users, calls, sessions, sockets,
//! counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /_sim/xelion/tenants`: a tenant to create.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTenant {
    /// Tenant name, the `{tenant}` of `/api/v1/{tenant}/...`.
    pub name: String,
    /// Lifetime of the sessions `me/login` creates (default: the simulator's setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_lifetime_seconds: Option<u64>,
}

/// `PATCH /_sim/xelion/tenants/{tenant}`: settings to change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantUpdate {
    /// New lifetime of sessions created from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_lifetime_seconds: Option<u64>,
}

/// A tenant as the control API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    /// Tenant name.
    pub name: String,
    /// Lifetime of new sessions.
    pub session_lifetime_seconds: u64,
    /// Its users, by ascending oid.
    pub users: Vec<UserInfo>,
}

/// `POST /_sim/xelion/tenants/{tenant}/users`: a user to create.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    /// Login name, unique in the tenant.
    pub user_name: String,
    /// Password for `me/login` (and `me/renew`).
    pub password: String,
    /// Administrators receive the admin-only call events.
    #[serde(default)]
    pub is_administrator: bool,
    /// Display name (default: the user name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// The user's phone number in call events (default: a generated `+3110100xxxx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Inactive users get 10006 on login (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl NewUser {
    /// A user with a password and admin flag; other fields default.
    pub fn new(user_name: &str, password: &str, is_administrator: bool) -> Self {
        Self {
            user_name: user_name.into(),
            password: password.into(),
            is_administrator,
            ..Self::default()
        }
    }
}

impl NewCall {
    /// A call between two parties (userNames or phone numbers) with a scenario.
    pub fn new(from: &str, to: &str, scenario: Scenario) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            scenario,
            ..Self::default()
        }
    }
}

/// `PATCH /_sim/xelion/tenants/{tenant}/users/{userName}`: fields to change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserUpdate {
    /// New password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// New administrator flag (affects websocket URLs issued afterwards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_administrator: Option<bool>,
    /// New active flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// New phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// A Xelion user as the control API shows it (the REST API shows a subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// Object id: a string of digits, as in Xelion.
    pub oid: String,
    /// Login name.
    pub user_name: String,
    /// Display name.
    pub common_name: String,
    /// Administrator flag.
    pub is_administrator: bool,
    /// Active flag.
    pub active: bool,
    /// Phone number used in call events.
    pub phone_number: String,
}

/// The script of a simulated call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// new -> connected -> channel hung up -> hung up.
    #[default]
    Answered,
    /// new -> missed.
    Missed,
    /// Attended transfer: the A->B hang-up arrives twice with the same callId.
    Transfer,
}

/// `POST /_sim/xelion/tenants/{tenant}/calls`: a call to place.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCall {
    /// Caller: a userName of the tenant or an external phone number (`+316...`).
    pub from: String,
    /// Callee: a userName of the tenant or an external phone number.
    pub to: String,
    /// What happens (default answered).
    #[serde(default)]
    pub scenario: Scenario,
    /// Transfer target for `transfer` (a userName or a number; default `+31201234567`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_to: Option<String>,
    /// Talk time of the answered call (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
    /// Ringing time before answer or miss (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_seconds: Option<u64>,
}

/// The answer to a placed call: every frame has been written to the subscribed sockets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacedCall {
    /// callId of the (first) call.
    pub call_id: String,
    /// The frames, in order: `{"notificationType","notification"}`.
    pub events: Vec<Value>,
    /// How many frames were written to sockets in total.
    pub pushed: u64,
}

/// `POST /_sim/xelion/tenants/{tenant}/sessions/expire`: which sessions to expire.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpireSessions {
    /// Only this user's sessions (default: all sessions of the tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

/// `POST /_sim/xelion/tenants/{tenant}/sockets/send`: a raw text frame to write.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendFrame {
    /// The frame's text, written verbatim (it need not be JSON).
    pub text: String,
    /// Only this user's sockets (default: every open socket of the tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

/// How a socket is dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DropMode {
    /// TCP shutdown without a close frame, like a network failure.
    #[default]
    Abrupt,
    /// A websocket close frame (1001 going away).
    Close,
}

/// `POST /_sim/xelion/tenants/{tenant}/sockets/drop`: which sockets to drop.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DropSockets {
    /// Only this user's sockets (default: every socket of the tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Abrupt (default) or with a close frame.
    #[serde(default)]
    pub mode: DropMode,
}

/// Per-tenant (and total) Xelion counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XelionCounts {
    /// Successful `me/login`.
    pub logins: u64,
    /// Refused `me/login` (any error code).
    pub login_failures: u64,
    /// `me/login` refused with 10005: the same userName + userSpace was logged in and the
    /// request did not carry that session's `Authorization` (also counted in `loginFailures`).
    #[serde(default)]
    pub login_conflicts: u64,
    /// Successful `me/renew`.
    pub renewals: u64,
    /// Refused `me/renew`.
    pub renewal_failures: u64,
    /// `me/logout`.
    pub logouts: u64,
    /// Websocket URLs handed out.
    pub websocket_urls: u64,
    /// Websockets opened in total.
    pub sockets_opened: u64,
    /// Websockets open now.
    pub open_sockets: u64,
    /// Subscribed notification types summed over the open sockets.
    pub subscriptions: u64,
    /// Subscription messages received (each toggle counts).
    pub subscription_requests: u64,
    /// Event frames written to sockets.
    pub events_sent: u64,
    /// Calls placed through the control API.
    pub calls_placed: u64,
    /// REST requests received (control API excluded).
    pub requests: u64,
    /// Requests answered by an injected fault.
    pub faults_applied: u64,
}

/// One open websocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SocketInfo {
    /// Connection id.
    pub id: u64,
    /// Tenant.
    pub tenant: String,
    /// The user whose session asked for the URL.
    pub user_name: String,
    /// The userSpace of that session.
    #[serde(default)]
    pub user_space: String,
    /// Whether that user was an administrator then.
    pub is_administrator: bool,
    /// Subscribed notification types, sorted.
    pub subscriptions: Vec<String>,
}

/// `GET /_sim/xelion/counters`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XelionCounters {
    /// Totals over all tenants.
    #[serde(flatten)]
    pub total: XelionCounts,
    /// `me/login` requests being served now, over all tenants (from arrival to answer,
    /// injected latency included).
    #[serde(default)]
    pub logins_in_flight: u64,
    /// The most `me/login` requests ever served at the same time, over all tenants.
    #[serde(default)]
    pub logins_in_flight_max: u64,
    /// Per tenant.
    pub tenants: BTreeMap<String, XelionCounts>,
    /// The open sockets.
    pub sockets: Vec<SocketInfo>,
}

/// `POST /_sim/xelion/load`: calls generated in bulk over the tenants' sockets. Each call is
/// an incoming call from an outside number to a user (the tenant's non-administrators in
/// turn, the tenants in turn) and makes three frames: `newCallEvent`, `callConnectedEvent`,
/// `callHungUpEvent`. Every notification carries `simSentAtMicros`, the Unix time in
/// microseconds at which its frame was written, so that a template can pass it on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadSpec {
    /// The tenants (default: every tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<Vec<String>>,
    /// Calls to place (each three frames).
    pub calls: u64,
    /// Frames written per second, over all tenants (default: as fast as allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_per_second: Option<f64>,
    /// Stop after this many seconds even if calls remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Frames written and not yet answered by a request to the CRM simulator's resource
    /// server, at most: writing waits while there are more (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
}

/// The answer to a load, once its last frame has been written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadDone {
    /// Calls placed.
    pub calls: u64,
    /// Frames written to sockets (a frame reaches every subscribed administrator socket of
    /// its tenant).
    pub pushed: u64,
    /// Frames made (three per call), whether or not a socket took them.
    pub frames: u64,
    /// Unix time of the first frame, microseconds.
    pub started_at_micros: u64,
    /// Unix time after the last frame, microseconds.
    pub finished_at_micros: u64,
}
