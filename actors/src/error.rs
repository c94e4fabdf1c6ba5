//! The error every command of the admin API answers with, in Xelion's shape.
//!
//! An [`ApiError`] says what went wrong; [`ApiError::spec`] is the one place that gives each
//! kind its HTTP status and Xelion-style code. Codes follow Xelion's numbering where Xelion
//! has one (10000 not authenticated, 10100 not found, 10202 bad payload, 10400 too many
//! requests, 11000 server error) and extend it where the router needs more; README.md holds
//! the table, and a test below keeps the two in step. Nothing is logged here: the HTTP layer
//! logs an error where it becomes a response.

use std::fmt;

use crate::domain::{CrmContextId, DeliveryId, MappingId, UserId, XelionContextId};
use crate::outbound::OutboundError;
use crate::store::StoreError;
use crate::xelion::XelionError;

/// An error of the admin API: what went wrong, with a message (its `Display`) saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No, unknown or expired `Authorization: xelion <token>`.
    #[error("{0}")]
    NotAuthenticated(String),
    /// Xelion refused the admin login; the text is Xelion's message.
    #[error("Xelion refused the login: {0}")]
    WrongCredentials(String),
    /// The Xelion user logged in but is not an administrator of the tenant.
    #[error("`{user}` is not an administrator of tenant `{tenant}` at {host}")]
    NotAdministrator {
        /// The user name that logged in.
        user: String,
        /// The tenant.
        tenant: String,
        /// The Xelion host.
        host: String,
    },
    /// The object does not exist (or belongs to another tenant).
    #[error("{}", .0.message())]
    NotFound(What),
    /// The request body is malformed or has a wrong field; the text names the field path.
    #[error("{0}")]
    BadPayload(String),
    /// The request carries nothing to work on; the text says what to send.
    #[error("{0}")]
    EmptyPayload(&'static str),
    /// A template does not parse; the text names the field path and column.
    #[error("{0}")]
    BadTemplate(String),
    /// A PUT of mappings does not carry as many elements as exist.
    #[error("the request has {sent} mappings but crm context {crm_context} has {stored}; send exactly as many elements as GET returns")]
    MappingCount {
        /// Elements in the request.
        sent: usize,
        /// Mappings stored.
        stored: usize,
        /// The crm context.
        crm_context: CrmContextId,
    },
    /// A path or query parameter is invalid.
    #[error("{0}")]
    BadParameter(String),
    /// An outgoing address is refused by the outbound rule.
    #[error(transparent)]
    OutboundBlocked(#[from] OutboundError),
    /// A URL of the request names an address the outbound rule refuses.
    #[error("{field}: {error}")]
    TargetBlocked {
        /// The field path of the URL.
        field: String,
        /// What the rule refused.
        error: OutboundError,
    },
    /// The object already exists; the text says which.
    #[error("{0}")]
    Conflict(String),
    /// The xelion context has a crm context with the same fields (answered with its id as
    /// `crmContextId`).
    #[error("crm context {0} of this xelion context already has this authorizationServerUri and authorizationHeaderPrefix; use it (its id is in crmContextId) or change it with PUT")]
    CrmContextExists(CrmContextId),
    /// Xelion does not know a user name of the request.
    #[error("{field}: Xelion tenant `{tenant}` has no user `{name}`")]
    UnknownXelionUser {
        /// The field path of the name.
        field: String,
        /// The tenant asked.
        tenant: String,
        /// The name.
        name: String,
    },
    /// Too many login attempts.
    #[error("too many login attempts; wait a minute and try again")]
    RateLimited {
        /// Seconds until the window that refused the attempt ends.
        retry_after: u64,
    },
    /// The request body is larger than the server accepts.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Xelion could not be reached or failed.
    #[error("{0}")]
    XelionUnavailable(String),
    /// The caller is known but may not do this; the text says why.
    #[error("{0}")]
    Forbidden(String),
    /// An external service (or its token endpoint) could not be reached, failed, or answered
    /// more than the server reads; the text says which.
    #[error("{0}")]
    ExternalUnavailable(String),
    /// An external service did not answer in time.
    #[error("{0}")]
    ExternalTimeout(String),
    /// The actor system is busy or shutting down.
    #[error("the server is busy or restarting; try again")]
    Unavailable,
    /// The database cannot be reached (down, restarting, out of connections): the request
    /// may succeed later. The detail goes to the log only.
    #[error("the database is unavailable; try again later (the cause is in the server log)")]
    DatabaseUnavailable {
        /// The cause, for the log only.
        detail: String,
    },
    /// The path exists, the method does not.
    #[error("{method} is not allowed here; allowed: {allowed}")]
    MethodNotAllowed {
        /// The method of the request.
        method: String,
        /// The methods the path answers, comma-separated (also in `Allow`).
        allowed: String,
    },
    /// An internal failure: the answer names what the server was doing, the log gets `detail`.
    #[error("internal error while {context}; see the server log")]
    Internal {
        /// What the server was doing.
        context: &'static str,
        /// The cause, for the log only: never in an answer.
        detail: String,
    },
}

/// What was not found, as the message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A row the storage layer did not find.
    Object,
    /// `xelion context 3`.
    XelionContext(XelionContextId),
    /// `crm context 7 of xelion context 3`.
    CrmContext(CrmContextId, XelionContextId),
    /// `user 5`.
    User(UserId),
    /// `mapping 4 of crm context 7`.
    Mapping(MappingId, CrmContextId),
    /// `delivery 9 of xelion context 3`.
    Delivery(DeliveryId, XelionContextId),
    /// The integration of a host and tenant.
    Integration {
        /// Xelion host.
        host: String,
        /// Xelion tenant.
        tenant: String,
    },
    /// A route the server does not have.
    Endpoint {
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
    },
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Object => f.write_str("object"),
            What::XelionContext(id) => write!(f, "xelion context {id}"),
            What::CrmContext(cid, xid) => write!(f, "crm context {cid} of xelion context {xid}"),
            What::User(id) => write!(f, "user {id}"),
            What::Mapping(id, cid) => write!(f, "mapping {id} of crm context {cid}"),
            What::Delivery(id, xid) => write!(f, "delivery {id} of xelion context {xid}"),
            What::Integration { host, tenant } => write!(f, "crm integration for {host}/{tenant}"),
            What::Endpoint { method, path } => write!(f, "endpoint {method} {path}"),
        }
    }
}

impl What {
    /// `<what> not found`; an unknown route reads `no such endpoint: <method> <path>`.
    fn message(&self) -> String {
        match self {
            What::Endpoint { method, path } => format!("no such endpoint: {method} {path}"),
            other => format!("{other} not found"),
        }
    }
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
    /// The path exists but not with this method.
    pub const METHOD_NOT_ALLOWED: u32 = 10102;
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
    /// An external service could not be reached or failed.
    pub const EXTERNAL_UNAVAILABLE: u32 = 10501;
    /// An external service did not answer in time.
    pub const EXTERNAL_TIMEOUT: u32 = 10502;
    /// The server is busy or shutting down.
    pub const UNAVAILABLE: u32 = 10600;
    /// An internal failure.
    pub const SERVER_ERROR: u32 = 11000;
}

/// How a kind of error is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The kind's name, for logs.
    pub kind: &'static str,
    /// HTTP status.
    pub status: u16,
    /// Xelion-style `errorCode`.
    pub code: u32,
}

impl ApiError {
    /// The kind, HTTP status and code of this error: the one table of the API's answers.
    pub fn spec(&self) -> Spec {
        use codes::*;
        let (kind, status, code) = match self {
            ApiError::NotAuthenticated(_) => ("not_authenticated", 401, NOT_AUTHENTICATED),
            ApiError::WrongCredentials(_) => ("wrong_credentials", 401, WRONG_CREDENTIALS),
            ApiError::NotAdministrator { .. } => ("not_administrator", 403, NOT_ADMINISTRATOR),
            ApiError::NotFound(_) => ("not_found", 404, NOT_FOUND),
            ApiError::BadPayload(_) => ("bad_payload", 400, BAD_PAYLOAD),
            ApiError::EmptyPayload(_) => ("empty_payload", 400, EMPTY_PAYLOAD),
            ApiError::BadTemplate(_) => ("bad_template", 400, BAD_TEMPLATE),
            ApiError::MappingCount { .. } => ("mapping_count", 400, MAPPING_COUNT),
            ApiError::BadParameter(_) => ("bad_parameter", 400, BAD_PARAMETER),
            ApiError::OutboundBlocked(_) | ApiError::TargetBlocked { .. } => {
                ("outbound_blocked", 400, OUTBOUND_BLOCKED)
            }
            ApiError::Conflict(_) => ("conflict", 409, CONFLICT),
            ApiError::CrmContextExists(_) => ("crm_context_exists", 409, CONFLICT),
            ApiError::UnknownXelionUser { .. } => ("unknown_xelion_user", 422, UNKNOWN_XELION_USER),
            ApiError::RateLimited { .. } => ("rate_limited", 429, TOO_MANY_REQUESTS),
            ApiError::PayloadTooLarge { .. } => ("payload_too_large", 413, BAD_PAYLOAD),
            ApiError::XelionUnavailable(_) => ("xelion_unavailable", 502, XELION_UNAVAILABLE),
            ApiError::Forbidden(_) => ("forbidden", 403, NOT_ADMINISTRATOR),
            ApiError::ExternalUnavailable(_) => ("external_unavailable", 502, EXTERNAL_UNAVAILABLE),
            ApiError::ExternalTimeout(_) => ("external_timeout", 504, EXTERNAL_TIMEOUT),
            ApiError::Unavailable => ("unavailable", 503, UNAVAILABLE),
            ApiError::DatabaseUnavailable { .. } => ("database_unavailable", 503, UNAVAILABLE),
            ApiError::MethodNotAllowed { .. } => ("method_not_allowed", 405, METHOD_NOT_ALLOWED),
            ApiError::Internal { .. } => ("internal", 500, SERVER_ERROR),
        };
        Spec { kind, status, code }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.spec().status
    }

    /// Xelion-style `errorCode`.
    pub fn code(&self) -> u32 {
        self.spec().code
    }

    /// The kind's name, for logs.
    pub fn kind(&self) -> &'static str {
        self.spec().kind
    }

    /// One error of every kind, for the code table (and its check against README.md).
    pub fn table() -> Vec<Spec> {
        [
            ApiError::EmptyPayload(""),
            ApiError::BadPayload(String::new()),
            ApiError::BadTemplate(String::new()),
            ApiError::MappingCount {
                sent: 0,
                stored: 0,
                crm_context: CrmContextId(0),
            },
            ApiError::BadParameter(String::new()),
            ApiError::OutboundBlocked(OutboundError::InvalidUrl(String::new())),
            ApiError::NotAuthenticated(String::new()),
            ApiError::WrongCredentials(String::new()),
            ApiError::NotAdministrator {
                user: String::new(),
                tenant: String::new(),
                host: String::new(),
            },
            ApiError::NotFound(What::Object),
            ApiError::Conflict(String::new()),
            ApiError::CrmContextExists(CrmContextId(0)),
            ApiError::PayloadTooLarge { limit: 0 },
            ApiError::UnknownXelionUser {
                field: String::new(),
                tenant: String::new(),
                name: String::new(),
            },
            ApiError::RateLimited { retry_after: 0 },
            ApiError::Internal {
                context: "",
                detail: String::new(),
            },
            ApiError::XelionUnavailable(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::ExternalUnavailable(String::new()),
            ApiError::ExternalTimeout(String::new()),
            ApiError::Unavailable,
            ApiError::DatabaseUnavailable {
                detail: String::new(),
            },
            ApiError::MethodNotAllowed {
                method: String::new(),
                allowed: String::new(),
            },
        ]
        .iter()
        .map(ApiError::spec)
        .collect()
    }

    /// 400, bad payload.
    pub fn bad_payload(message: impl Into<String>) -> Self {
        ApiError::BadPayload(message.into())
    }

    /// 400, bad path or query parameter.
    pub fn bad_parameter(message: impl Into<String>) -> Self {
        ApiError::BadParameter(message.into())
    }

    /// 401, not authenticated.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::NotAuthenticated(message.into())
    }

    /// 500: `context` says what the server was doing; `detail` goes to the log when the
    /// error is answered, never into the answer.
    pub fn internal(context: &'static str, detail: impl fmt::Display) -> Self {
        ApiError::Internal {
            context,
            detail: detail.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound(What::Object),
            StoreError::Conflict(what) => ApiError::Conflict(format!("already exists: {what}")),
            StoreError::CrmContextExists(id) => ApiError::CrmContextExists(id),
            StoreError::WrongState(why) => ApiError::Conflict(why),
            StoreError::Database(e) if crate::store::is_unavailable(&e) => {
                ApiError::DatabaseUnavailable {
                    detail: e.to_string(),
                }
            }
            other => ApiError::internal("accessing the database", other),
        }
    }
}

impl From<XelionError> for ApiError {
    /// A Xelion failure during an admin login or check.
    fn from(e: XelionError) -> Self {
        match e {
            XelionError::Api {
                status: 401 | 403,
                message,
                ..
            } => ApiError::WrongCredentials(message),
            XelionError::Blocked(b) => b.into(),
            other => ApiError::XelionUnavailable(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `(status, code)` rows of README.md's error table.
    fn readme_rows() -> Vec<(u16, u32)> {
        let readme = include_str!("../../README.md");
        let mut lines = readme
            .lines()
            .skip_while(|l| !l.starts_with("| HTTP | errorCode |"))
            .skip(2);
        let mut rows = Vec::new();
        for line in lines.by_ref() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 4 {
                break;
            }
            rows.push((
                cells[1].parse().expect("status"),
                cells[2].parse().expect("code"),
            ));
        }
        rows
    }

    #[test]
    fn readme_code_table_matches_the_kinds() {
        let mut readme = readme_rows();
        let mut kinds: Vec<(u16, u32)> = ApiError::table()
            .iter()
            .map(|s| (s.status, s.code))
            .collect();
        readme.sort();
        kinds.sort();
        kinds.dedup();
        assert!(!readme.is_empty(), "README.md has no error table");
        assert_eq!(
            readme, kinds,
            "README.md's error table and ApiError::spec differ"
        );
    }

    #[test]
    fn messages_name_the_object() {
        assert_eq!(
            ApiError::NotFound(What::CrmContext(CrmContextId(7), XelionContextId(3))).to_string(),
            "crm context 7 of xelion context 3 not found"
        );
        assert_eq!(
            ApiError::NotFound(What::XelionContext(XelionContextId(3))).to_string(),
            "xelion context 3 not found"
        );
        let internal = ApiError::internal("reading", "secret detail");
        assert!(!internal.to_string().contains("secret detail"));
        assert_eq!(internal.status(), 500);
    }
}
