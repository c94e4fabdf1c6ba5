//! The CRM simulator: an OAuth 2.0 token endpoint and a resource server that records.

pub mod resource;
pub mod token;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use crate::api::{Arrival, CrmCounters, RecordMode, RecordedRequest};
use crate::fault::FaultBook;

/// Recorded requests kept before the oldest are forgotten (bounds memory in benchmarks).
pub const MAX_RECORDED: usize = 100_000;

/// Arrivals kept in `arrivals` recording before further ones are only counted.
pub const MAX_ARRIVALS: usize = 1_000_000;

/// Where a refresh token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshState {
    /// Usable.
    Active,
    /// Revoked through the control API.
    Revoked,
    /// Replaced by a newer one (rotation).
    Rotated,
}

/// A refresh token the token endpoint accepts.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    /// The only client allowed to use it (None: any).
    pub client_id: Option<String>,
    /// Whose it is.
    pub subject: String,
    /// Usable or not, and why.
    pub state: RefreshState,
}

/// An access token the resource server accepts until it expires.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// Whose it is.
    pub subject: String,
    /// When it stops working.
    pub expires_at: SystemTime,
}

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// The user has not acted yet.
    Pending,
    /// Approved: the next poll gets tokens.
    Approved,
    /// Denied: `access_denied`.
    Denied,
    /// Tokens were issued; the code is spent.
    Used,
}

/// A device code registered through the control API.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    /// The only client allowed to poll it (None: any).
    pub client_id: Option<String>,
    /// Who approves it.
    pub subject: String,
    /// Minimum time between polls; grows by 5 s on each `slow_down`, as RFC 8628 says.
    pub interval: Duration,
    /// After this: `expired_token`.
    pub expires_at: SystemTime,
    /// Time of the previous poll, for `slow_down`.
    pub last_poll: Option<Instant>,
    /// Where it stands.
    pub state: DeviceState,
}

/// The whole CRM simulator state.
pub struct CrmState {
    /// client_id -> client_secret (None: public client).
    pub clients: HashMap<String, Option<String>>,
    /// Refresh tokens by value.
    pub refresh_tokens: HashMap<String, RefreshToken>,
    /// Access tokens by value.
    pub access_tokens: HashMap<String, AccessToken>,
    /// Device codes by value.
    pub device_codes: HashMap<String, DeviceCode>,
    /// `expires_in` of new access tokens.
    pub access_token_lifetime: Duration,
    /// Whether refresh_token grants rotate the refresh token.
    pub rotate_refresh_tokens: bool,
    /// Requests received by the resource server, oldest first.
    pub requests: VecDeque<RecordedRequest>,
    /// Id of the next recorded request.
    pub next_request_id: u64,
    /// What is kept of a request.
    pub record_mode: RecordMode,
    /// Requests kept in `arrivals` recording, oldest first.
    pub arrivals: Vec<Arrival>,
    /// Arrivals counted but not kept (beyond [`MAX_ARRIVALS`]).
    pub arrivals_dropped: u64,
    /// Injected faults.
    pub faults: FaultBook,
    /// Counters.
    pub counters: CrmCounters,
}

impl CrmState {
    /// An empty CRM.
    pub fn new(access_token_lifetime: Duration, rotate_refresh_tokens: bool) -> Self {
        Self {
            clients: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            device_codes: HashMap::new(),
            access_token_lifetime,
            rotate_refresh_tokens,
            requests: VecDeque::new(),
            next_request_id: 0,
            record_mode: RecordMode::Full,
            arrivals: Vec::new(),
            arrivals_dropped: 0,
            faults: FaultBook::default(),
            counters: CrmCounters::default(),
        }
    }

    /// Issues an access token for a subject.
    pub fn issue_access_token(
        &mut self,
        subject: &str,
        lifetime: Option<Duration>,
    ) -> (String, u64) {
        let lifetime = lifetime.unwrap_or(self.access_token_lifetime);
        let token = format!("at-{}", crate::random::random_token(32));
        self.access_tokens.insert(
            token.clone(),
            AccessToken {
                subject: subject.to_owned(),
                expires_at: SystemTime::now() + lifetime,
            },
        );
        (token, lifetime.as_secs())
    }

    /// The subject of a currently valid access token.
    pub fn subject_of(&self, token: &str) -> Option<String> {
        self.access_tokens
            .get(token)
            .filter(|t| t.expires_at > SystemTime::now())
            .map(|t| t.subject.clone())
    }

    /// Keeps an arrival, or counts it beyond [`MAX_ARRIVALS`].
    pub fn arrive(&mut self, a: Arrival) {
        if self.arrivals.len() >= MAX_ARRIVALS {
            self.arrivals_dropped += 1;
        } else {
            self.arrivals.push(a);
        }
    }

    /// Stores a recorded request, forgetting the oldest beyond [`MAX_RECORDED`].
    pub fn record(&mut self, r: RecordedRequest) {
        if self.requests.len() >= MAX_RECORDED {
            self.requests.pop_front();
        }
        self.requests.push_back(r);
    }
}
