//! Errors of the control API: the variant decides the status, the text says what is wrong.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Why a control API request (or a change to the simulated world) was refused.
///
/// Answered as `{"error": "<text>"}` with the variant's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// 400: malformed, or asks for something meaningless.
    Invalid(String),
    /// 404: the tenant, user, token, code or fault does not exist.
    NotFound(String),
    /// 409: the thing exists already, or no longer allows the change.
    Conflict(String),
}

impl ControlError {
    /// A 400 with this text.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// A 404 with this text.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// A 409 with this text.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// The 404 of a tenant that does not exist.
    pub fn no_tenant(tenant: &str) -> Self {
        Self::NotFound(format!("tenant `{tenant}` does not exist"))
    }

    /// The 404 of a user that does not exist in a tenant.
    pub fn no_user(tenant: &str, user: &str) -> Self {
        Self::NotFound(format!("user `{user}` does not exist in tenant `{tenant}`"))
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m) | Self::NotFound(m) | Self::Conflict(m) => m,
        }
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ControlError {}

impl ResponseError for ControlError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(json!({ "error": self.message() }))
    }
}
