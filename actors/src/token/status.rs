//! What a user's token shows of itself: `GET /api/users/{userId}/status`. No secret.

use serde::Serialize;

use crate::domain::UserId;

/// Where a user's token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum TokenState {
    /// Nothing under way: the cached token is handed out, or one grant is made on the next
    /// request.
    Ok,
    /// A grant is under way.
    Refreshing,
    /// A device code waits for the user's approval; polled every `devicePollIntervalMs`.
    AwaitingApproval,
    /// Parked: the token endpoint refused the credentials (`error`); no grant is tried until
    /// they are updated through the API.
    NeedsReauthorisation,
    /// The last grant failed in a way that may pass (`error`); retried after a pause.
    BackingOff,
}

/// The token status of one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenStatus {
    /// The user.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub user_id: UserId,
    /// Where the token stands.
    pub state: TokenState,
    /// Parked: the OAuth error code; backing off: what failed.
    pub error: Option<String>,
    /// When that happened (`yyyy-MM-dd HH:mm:ss` UTC).
    pub error_at: Option<String>,
    /// When the cached access token expires, if there is one.
    pub access_token_expires_at: Option<String>,
    /// The last successful grant.
    pub last_refresh_at: Option<String>,
    /// Successful grants made for this user.
    pub grants: u64,
    /// Awaiting approval: the time between device code polls, in milliseconds (it grows by
    /// each `slow_down`).
    pub device_poll_interval_ms: Option<u64>,
}
