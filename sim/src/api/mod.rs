//! JSON bodies of the control API (`/_sim/...`), shared by the servers and the Rust client.
//!
//! Field names are camelCase on the wire, like the Xelion API the simulator imitates. The
//! bodies of each simulator live in their own file; faults and counts of affected things are
//! common to both.

mod crm;
mod xelion;

pub use self::crm::*;
pub use self::xelion::*;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// CRM only: a body answered byte for byte instead (`text/plain` unless `headers` set
    /// `content-type`), for answers that are not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<String>,
    /// CRM only: headers added to the answer (e.g. `location` for a redirect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
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
            raw_body: None,
            headers: None,
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
