//! The Xelion simulator: tenants, users, sessions, websockets and scripted calls.
//!
//! Everything lives in one [`XelionState`] behind a mutex that is never held across an
//! `.await` (see [`crate::state`]); handlers copy what they need out of it and then talk to
//! the network.

pub mod calls;
pub mod load;
pub mod rest;
pub mod ws;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;

use crate::api::{
    DropMode, NewUser, SocketInfo, TenantInfo, UserInfo, XelionCounters, XelionCounts,
};
use crate::error::ControlError;
use crate::fault::FaultBook;

pub use crate::random::random_token;

/// First oid handed out; Xelion oids are opaque digit strings of about this size.
const FIRST_OID: u64 = 1_650_938;

/// A user of a tenant.
#[derive(Debug, Clone)]
pub struct User {
    /// Object id (shown as a string of digits).
    pub oid: u64,
    /// Login name.
    pub user_name: String,
    /// Password for login and renew.
    pub password: String,
    /// Display name.
    pub common_name: String,
    /// Receives admin-only events and may log in to the router as admin.
    pub is_admin: bool,
    /// Inactive users cannot log in (10006).
    pub active: bool,
    /// The number that shows up in call events.
    pub phone_number: String,
}

impl User {
    /// The control API view of the user.
    pub fn info(&self) -> UserInfo {
        UserInfo {
            oid: self.oid.to_string(),
            user_name: self.user_name.clone(),
            common_name: self.common_name.clone(),
            is_administrator: self.is_admin,
            active: self.active,
            phone_number: self.phone_number.clone(),
        }
    }
}

/// A logged-in REST session.
#[derive(Debug, Clone)]
pub struct XSession {
    /// The oid of the user.
    pub oid: u64,
    /// Together with the user name, the identity of the session (10005 on a second login).
    pub user_space: String,
    /// Accepted by `me/renew` instead of the password.
    pub renewal_token: String,
    /// After this the token answers 401.
    pub valid_until: SystemTime,
}

/// One tenant of the simulated PBX.
#[derive(Debug)]
pub struct Tenant {
    /// Name in the URL.
    pub name: String,
    /// Lifetime of new sessions.
    pub session_lifetime: Duration,
    /// Users by oid (ascending oid is the paging order).
    pub users: BTreeMap<u64, User>,
    /// Sessions by authentication token.
    pub sessions: HashMap<String, XSession>,
    /// Counters of this tenant (open sockets and subscriptions are computed).
    pub counts: XelionCounts,
}

impl Tenant {
    /// The user with this login name.
    pub fn user_by_name(&self, name: &str) -> Option<&User> {
        self.users.values().find(|u| u.user_name == name)
    }

    /// The control API view of the tenant.
    pub fn info(&self) -> TenantInfo {
        TenantInfo {
            name: self.name.clone(),
            session_lifetime_seconds: self.session_lifetime.as_secs(),
            users: self.users.values().map(User::info).collect(),
        }
    }

    /// Moves the end of the sessions (of one user, or all) into the past; returns how many.
    pub fn expire_sessions(&mut self, user_name: Option<&str>) -> Result<u64, ControlError> {
        let only = match user_name {
            Some(name) => match self.user_by_name(name) {
                Some(u) => Some(u.oid),
                None => return Err(ControlError::no_user(&self.name, name)),
            },
            None => None,
        };
        let past = SystemTime::now() - Duration::from_secs(1);
        let mut affected = 0;
        for s in self.sessions.values_mut() {
            if only.is_none_or(|oid| oid == s.oid) {
                s.valid_until = s.valid_until.min(past);
                affected += 1;
            }
        }
        Ok(affected)
    }
}

/// A websocket URL handed out and not used yet.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// Tenant of the session that asked for it.
    pub tenant: String,
    /// User of that session.
    pub oid: u64,
    /// The user's name, for counters.
    pub user_name: String,
    /// The userSpace of that session, for counters.
    pub user_space: String,
    /// Decides which call events the socket may receive.
    pub is_admin: bool,
}

/// An open websocket.
pub struct Socket {
    /// Who opened it.
    pub ticket: Ticket,
    /// Subscribed notification types.
    pub subscriptions: BTreeSet<String>,
    /// Sender into the socket, used by call placement.
    pub session: actix_ws::Session,
    /// Tells the socket's task to go away (taken when used).
    pub kill: Option<oneshot::Sender<DropMode>>,
}

/// The whole Xelion simulator state.
pub struct XelionState {
    /// Tenants by name.
    pub tenants: BTreeMap<String, Tenant>,
    /// Unused websocket URLs by their path after `/websocket/`.
    pub tickets: HashMap<String, Ticket>,
    /// Open sockets by connection id.
    pub sockets: BTreeMap<u64, Socket>,
    /// Injected faults.
    pub faults: FaultBook,
    /// Counters of requests for tenants that do not exist.
    pub unknown_tenant_counts: XelionCounts,
    /// Session lifetime of tenants created without one.
    pub default_session_lifetime: Duration,
    /// `me/login` requests being served now, over all tenants.
    logins_in_flight: u64,
    /// The most `me/login` requests ever served at the same time.
    logins_in_flight_max: u64,
    next_oid: u64,
    next_socket: u64,
    next_flow: u64,
    next_phone: u64,
}

impl XelionState {
    /// An empty simulator.
    pub fn new(default_session_lifetime: Duration) -> Self {
        Self {
            tenants: BTreeMap::new(),
            tickets: HashMap::new(),
            sockets: BTreeMap::new(),
            faults: FaultBook::default(),
            unknown_tenant_counts: XelionCounts::default(),
            default_session_lifetime,
            logins_in_flight: 0,
            logins_in_flight_max: 0,
            next_oid: FIRST_OID,
            next_socket: 0,
            next_flow: 0,
            next_phone: 100,
        }
    }

    /// The tenant with this name.
    pub fn tenant(&self, name: &str) -> Result<&Tenant, ControlError> {
        self.tenants
            .get(name)
            .ok_or_else(|| ControlError::no_tenant(name))
    }

    /// The tenant with this name, to change.
    pub fn tenant_mut(&mut self, name: &str) -> Result<&mut Tenant, ControlError> {
        self.tenants
            .get_mut(name)
            .ok_or_else(|| ControlError::no_tenant(name))
    }

    /// Creates a tenant; refused if the name is invalid or taken.
    pub fn add_tenant(
        &mut self,
        name: &str,
        session_lifetime: Option<u64>,
    ) -> Result<TenantInfo, ControlError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(ControlError::invalid(format!(
                "name: `{name}` is not a valid tenant name (letters, digits, `-`, `_`, `.`)"
            )));
        }
        if self.tenants.contains_key(name) {
            return Err(ControlError::conflict(format!(
                "name: tenant `{name}` already exists"
            )));
        }
        let tenant = Tenant {
            name: name.to_owned(),
            session_lifetime: session_lifetime
                .map(Duration::from_secs)
                .unwrap_or(self.default_session_lifetime),
            users: BTreeMap::new(),
            sessions: HashMap::new(),
            counts: XelionCounts::default(),
        };
        let info = tenant.info();
        self.tenants.insert(name.to_owned(), tenant);
        Ok(info)
    }

    /// Adds a user to a tenant; refused if the tenant is unknown or the name empty or taken.
    pub fn add_user(&mut self, tenant: &str, new: NewUser) -> Result<UserInfo, ControlError> {
        let t = self.tenant(tenant)?;
        if new.user_name.is_empty() {
            return Err(ControlError::invalid("userName: must not be empty"));
        }
        if t.user_by_name(&new.user_name).is_some() {
            return Err(ControlError::conflict(format!(
                "userName: `{}` already exists in tenant `{tenant}`",
                new.user_name
            )));
        }
        let oid = self.next_oid;
        self.next_oid += 1;
        let phone = match new.phone_number {
            Some(p) => p,
            None => {
                self.next_phone += 1;
                format!("+31101{:06}", self.next_phone)
            }
        };
        let user = User {
            oid,
            common_name: new.common_name.unwrap_or_else(|| new.user_name.clone()),
            user_name: new.user_name,
            password: new.password,
            is_admin: new.is_administrator,
            active: new.active.unwrap_or(true),
            phone_number: phone,
        };
        let info = user.info();
        self.tenant_mut(tenant)?.users.insert(oid, user);
        Ok(info)
    }

    /// Counts a `me/login` that starts being served.
    pub fn login_started(&mut self) {
        self.logins_in_flight += 1;
        self.logins_in_flight_max = self.logins_in_flight_max.max(self.logins_in_flight);
    }

    /// Counts a `me/login` that is over (answered, or abandoned by its client).
    pub fn login_ended(&mut self) {
        self.logins_in_flight = self.logins_in_flight.saturating_sub(1);
    }

    /// A fresh connection id.
    pub fn next_socket_id(&mut self) -> u64 {
        self.next_socket += 1;
        self.next_socket
    }

    /// A fresh flow id sequence number.
    pub fn next_flow_seq(&mut self) -> u64 {
        self.next_flow += 1;
        self.next_flow
    }

    /// The counters of a tenant, or of the unknown-tenant bucket.
    pub fn counts_mut(&mut self, tenant: &str) -> &mut XelionCounts {
        match self.tenants.get_mut(tenant) {
            Some(t) => &mut t.counts,
            None => &mut self.unknown_tenant_counts,
        }
    }

    /// Snapshot of every counter.
    pub fn counters(&self) -> XelionCounters {
        let mut tenants: BTreeMap<String, XelionCounts> = self
            .tenants
            .iter()
            .map(|(n, t)| (n.clone(), t.counts.clone()))
            .collect();
        let mut sockets = Vec::new();
        for (id, s) in &self.sockets {
            if let Some(c) = tenants.get_mut(&s.ticket.tenant) {
                c.open_sockets += 1;
                c.subscriptions += s.subscriptions.len() as u64;
            }
            sockets.push(SocketInfo {
                id: *id,
                tenant: s.ticket.tenant.clone(),
                user_name: s.ticket.user_name.clone(),
                user_space: s.ticket.user_space.clone(),
                is_administrator: s.ticket.is_admin,
                subscriptions: s.subscriptions.iter().cloned().collect(),
            });
        }
        let mut total = self.unknown_tenant_counts.clone();
        for c in tenants.values() {
            add_counts(&mut total, c);
        }
        XelionCounters {
            total,
            logins_in_flight: self.logins_in_flight,
            logins_in_flight_max: self.logins_in_flight_max,
            tenants,
            sockets,
        }
    }
}

/// `into += c`, field by field.
fn add_counts(into: &mut XelionCounts, c: &XelionCounts) {
    into.logins += c.logins;
    into.login_failures += c.login_failures;
    into.login_conflicts += c.login_conflicts;
    into.renewals += c.renewals;
    into.renewal_failures += c.renewal_failures;
    into.logouts += c.logouts;
    into.websocket_urls += c.websocket_urls;
    into.sockets_opened += c.sockets_opened;
    into.open_sockets += c.open_sockets;
    into.subscriptions += c.subscriptions;
    into.subscription_requests += c.subscription_requests;
    into.events_sent += c.events_sent;
    into.calls_placed += c.calls_placed;
    into.requests += c.requests;
    into.faults_applied += c.faults_applied;
}
