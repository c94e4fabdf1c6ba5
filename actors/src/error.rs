//! The error every command of the admin API answers with, in Xelion's shape.
//!
//! Codes follow Xelion's numbering where Xelion has one (10000 not authenticated, 10100 not
//! found, 10202 bad payload, 10400 too many requests, 11000 server error) and extend it where
//! the router needs more; README.md holds the table.

use crate::outbound::OutboundError;
use crate::store::StoreError;
use crate::xelion::XelionError;

/// An error of the admin API: HTTP status, Xelion-style code and a message saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Xelion-style `errorCode`.
    pub code: u32,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The error codes of the admin API.
pub mod codes {
    /// No or invalid `Authorization: xelion <token>`.
    pub const NOT_AUTHENTICATED: u32 = 10000;
    /// Xelion refused the credentials.
    pub const WRONG_CREDENTIALS: u32 = 10004;
    /// The Xelion user is not an administrator.
    pub const NOT_ADMINISTRATOR: u32 = 10101;
    /// The object does not exist (or belongs to another tenant).
    pub const NOT_FOUND: u32 = 10100;
    /// The request body is empty.
    pub const EMPTY_PAYLOAD: u32 = 10200;
    /// The request body is malformed or has a wrong field.
    pub const BAD_PAYLOAD: u32 = 10202;
    /// A template does not parse.
    pub const BAD_TEMPLATE: u32 = 10203;
    /// A PUT of mappings does not carry as many elements as exist.
    pub const MAPPING_COUNT: u32 = 10204;
    /// A path or query parameter is invalid.
    pub const BAD_PARAMETER: u32 = 10205;
    /// An outgoing address is refused by the outbound rule.
    pub const OUTBOUND_BLOCKED: u32 = 10206;
    /// The object already exists.
    pub const CONFLICT: u32 = 10300;
    /// Xelion does not know the user.
    pub const UNKNOWN_XELION_USER: u32 = 10301;
    /// Too many login attempts.
    pub const TOO_MANY_REQUESTS: u32 = 10400;
    /// Xelion could not be reached or failed.
    pub const XELION_UNAVAILABLE: u32 = 10500;
    /// The server is busy or shutting down.
    pub const UNAVAILABLE: u32 = 10600;
    /// An internal failure.
    pub const SERVER_ERROR: u32 = 11000;
}

impl ApiError {
    /// Any error.
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400, bad payload.
    pub fn bad_payload(message: impl Into<String>) -> Self {
        Self::new(400, codes::BAD_PAYLOAD, message)
    }
    /// 400, bad path or query parameter.
    pub fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(400, codes::BAD_PARAMETER, message)
    }
    /// 401, not authenticated.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401, codes::NOT_AUTHENTICATED, message)
    }
    /// 404, not found.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(404, codes::NOT_FOUND, format!("{} not found", what.into()))
    }
    /// 409, conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, codes::CONFLICT, message)
    }
    /// 500, with nothing internal in the message (the detail goes to the log).
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "{context}");
        Self::new(
            500,
            codes::SERVER_ERROR,
            format!("internal error while {context}; see the server log"),
        )
    }
    /// 503, the actor system is unavailable.
    pub fn unavailable() -> Self {
        Self::new(
            503,
            codes::UNAVAILABLE,
            "the server is busy or restarting; try again",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("object"),
            StoreError::Conflict(what) => ApiError::conflict(format!("already exists: {what}")),
            other => ApiError::internal("accessing the database", other),
        }
    }
}

impl From<OutboundError> for ApiError {
    fn from(e: OutboundError) -> Self {
        ApiError::new(400, codes::OUTBOUND_BLOCKED, e.to_string())
    }
}

/// Maps a Xelion failure during an admin login or check.
pub fn xelion_error(e: XelionError) -> ApiError {
    match e {
        XelionError::Api {
            status: 401 | 403,
            message,
            ..
        } => ApiError::new(
            401,
            codes::WRONG_CREDENTIALS,
            format!("Xelion refused the login: {message}"),
        ),
        XelionError::Blocked(b) => b.into(),
        other => ApiError::new(502, codes::XELION_UNAVAILABLE, other.to_string()),
    }
}
