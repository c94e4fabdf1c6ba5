//! JSON bodies of the control API (`/_sim/...`), shared by the servers and the Rust client.
//!
//! Field names are camelCase on the wire, like the Xelion API the simulator imitates.

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

/// How many things an action affected.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Affected {
    /// The count.
    pub affected: u64,
}

/// The kind of an injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    /// Answer with `status` (Xelion: its error body; CRM: `body` or a JSON error).
    Status,
    /// Only wait `latencyMs`, then serve normally.
    Latency,
    /// Close the TCP connection without an answer.
    Drop,
    /// Xelion only: `me/websocket` answers `status` (default 503).
    RefuseWebsocket,
}

/// `POST /_sim/{xelion|crm}/faults`: a fault to inject.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// What happens.
    pub kind: FaultKind,
    /// Requests it applies to: equal to the path, ending with it (`me/login`), or a prefix
    /// when it ends with `*`. Default: every request except the control API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only this HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Xelion only: only this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Only the next N matching requests (default: until removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Status for `status` faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Xelion only: errorCode of the body (default from the status: 429 -> 10400, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// CRM only: `Retry-After` seconds on the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// CRM only: the body to answer with instead of the default error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Delay before the outcome (any kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

impl FaultSpec {
    /// A fault of this kind with nothing else set; chain the `with_*`-style field updates.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            path: None,
            method: None,
            tenant: None,
            count: None,
            status: None,
            error_code: None,
            retry_after: None,
            body: None,
            latency_ms: None,
        }
    }

    /// A `status` fault.
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::new(FaultKind::Status)
        }
    }

    /// A `latency` fault.
    pub fn latency(ms: u64) -> Self {
        Self {
            latency_ms: Some(ms),
            ..Self::new(FaultKind::Latency)
        }
    }

    /// Restricts the fault to a path (see [`FaultSpec::path`]).
    pub fn on_path(mut self, path: &str) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// Restricts the fault to the next `n` matching requests.
    pub fn times(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }
}

/// An injected fault as listed by `GET /_sim/{xelion|crm}/faults`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultInfo {
    /// Id, for `DELETE /_sim/.../faults/{id}`.
    pub id: u64,
    /// How many requests it has hit so far.
    pub hits: u64,
    /// The fault as injected (`count` shows what is left).
    #[serde(flatten)]
    pub spec: FaultSpec,
}

/// Per-tenant (and total) Xelion counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XelionCounts {
    /// Successful `me/login`.
    pub logins: u64,
    /// Refused `me/login` (any error code).
    pub login_failures: u64,
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
    /// Per tenant.
    pub tenants: BTreeMap<String, XelionCounts>,
    /// The open sockets.
    pub sockets: Vec<SocketInfo>,
}

/// `POST /_sim/crm/clients`: an OAuth client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewClient {
    /// client_id.
    pub client_id: String,
    /// client_secret; absent for a public client (client_id alone authenticates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// `POST /_sim/crm/refresh-tokens`: a refresh token to accept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRefreshToken {
    /// The token (default: generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The only client allowed to use it (default: any authenticated client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Whose token it is: recorded with every request its access tokens authorise.
    pub subject: String,
}

/// `POST /_sim/crm/device-codes`: a device authorization to poll.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDeviceCode {
    /// The device code (default: generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_code: Option<String>,
    /// The only client allowed to poll it (default: any authenticated client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Who approves it.
    pub subject: String,
    /// Minimum seconds between polls before `slow_down` (default 5, RFC 8628).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u64>,
    /// Seconds until `expired_token` (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
}

/// `POST /_sim/crm/access-tokens`: an access token minted directly.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAccessToken {
    /// The token (default: generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Whose token it is.
    pub subject: String,
    /// Lifetime (default: the access-token lifetime setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
}

/// A token created through the control API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCreated {
    /// The token or device code.
    pub token: String,
    /// Its subject.
    pub subject: String,
}

/// `POST /_sim/crm/access-tokens/expire`: which access tokens to expire.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpireAccessTokens {
    /// Only this subject's tokens (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// `GET|PATCH /_sim/crm/settings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CrmSettings {
    /// `expires_in` of new access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime_seconds: Option<u64>,
    /// Whether a refresh_token grant replaces the refresh token (the old one then gets
    /// `invalid_grant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_refresh_tokens: Option<bool>,
}

/// One request the CRM resource server received.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// Sequence number, also the `id` of the `{"ok":true,"id":n}` answer.
    pub id: u64,
    /// HTTP method.
    pub method: String,
    /// Path, as received (percent-encoding kept).
    pub path: String,
    /// Query string without `?`, as received (percent-encoding kept); empty if none.
    pub query: String,
    /// Headers, lower-case names; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// Body: JSON if it parses, else a string; null when empty.
    pub body: Value,
    /// Whose access token authorised it (null when refused).
    pub subject: Option<String>,
    /// The token found in `Authorization`, if any.
    pub token: Option<String>,
    /// Status answered; null when the connection was dropped by a fault.
    pub status: Option<u16>,
    /// When it arrived (Xelion date format, UTC).
    pub received_at: String,
}

/// `GET /_sim/crm/counters`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmCounters {
    /// Requests to the token endpoint.
    pub token_requests: u64,
    /// Successful grants by grant type (`refresh_token`, `device_code`, `client_credentials`).
    pub grants: BTreeMap<String, u64>,
    /// Token endpoint errors by OAuth error code.
    pub token_errors: BTreeMap<String, u64>,
    /// Requests to the resource server.
    pub resource_requests: u64,
    /// Resource requests refused with 401 for a missing or bad token.
    pub unauthorized: u64,
    /// Requests answered by an injected fault.
    pub faults_applied: u64,
}
