//! Control API bodies of the CRM simulator: OAuth clients, tokens, device codes, settings,
//! recorded requests, counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// What the resource server keeps of a request: `full` (everything, see
    /// `/_sim/crm/requests`) or `arrivals` (path, status and arrival time only, see
    /// `/_sim/crm/arrivals`: cheap enough for benchmarks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordMode>,
}

/// What the resource server keeps of each request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecordMode {
    /// The whole request (method, path, query, headers, body, token).
    #[default]
    Full,
    /// Its path, status and arrival time.
    Arrivals,
}

/// One request as `arrivals` recording keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arrival {
    /// Path, as received.
    pub path: String,
    /// Status answered; null when a fault dropped the connection.
    pub status: Option<u16>,
    /// Unix time of its arrival, microseconds.
    pub at_micros: u64,
}

/// `GET /_sim/crm/arrivals`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arrivals {
    /// The arrivals kept, oldest first.
    pub arrivals: Vec<Arrival>,
    /// Arrivals not kept because the limit was reached (they are counted only).
    pub dropped: u64,
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
