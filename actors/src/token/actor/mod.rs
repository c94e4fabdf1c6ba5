//! `TokenActor`: one owner's OAuth token (a user's or an app context's), started on demand by
//! the registry.
//!
//! Its state is loaded from the store when the first request comes (and again after a
//! credential update); every request is answered from memory or by joining the one grant under
//! way. A grant's outcome is stored by the grant itself before the actor hands the token out.

mod answer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use tokio::sync::oneshot;

use self::answer::{awaiting_approval, fail_request, transient, Waiter};
use super::grant::{self, AuthMethod, Done, GrantKind, Job, Outcome};
use super::published::Published;
use super::{AccessToken, Ask, Request, TokenError, TokenSettings};
use crate::clock::now_unix;
use crate::domain::TokenOwner;
use crate::outbound::GuardedClient;
use crate::store::{Store, StoreError, TokenEndpointId, TokenRecord};
use crate::tenant::backoff::Backoff;

/// What every token actor shares (behind an `Arc`).
pub(super) struct Shared {
    pub store: Store,
    pub http: GuardedClient,
    pub settings: TokenSettings,
    /// The client authentication each token endpoint was found to take.
    pub methods: Mutex<HashMap<TokenEndpointId, AuthMethod>>,
    /// Where each actor publishes the token it would hand out.
    pub published: Arc<Published>,
}

/// Where the actor stands between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Granting,
    BackingOff { until: Instant },
    AwaitingApproval { next_poll: Instant },
}

/// Stop now (the owner was deleted).
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Stop;

/// The credentials changed: forget everything and load again.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Reload;

/// How long an app context's registered access token, whose expiry nobody told, is taken to
/// live: until the service refuses it, in practice.
const UNTIL_REFUSED: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The actor of one owner.
pub(super) struct TokenActor {
    owner: TokenOwner,
    shared: Arc<Shared>,
    /// The stored credentials and state; `None` until loaded (and after a reload).
    record: Option<TokenRecord>,
    access: Option<AccessToken>,
    /// The OAuth error code and the unix time that parked the owner.
    parked: Option<(String, i64)>,
    phase: Phase,
    waiters: Vec<Waiter>,
    backoff: Backoff,
    /// The last transient failure and its unix time, shown while backing off.
    last_failure: Option<(String, i64)>,
    device_interval: Duration,
    last_used: Instant,
    /// The last device code poll answered "not yet": shown as awaiting approval even while
    /// the next poll is under way.
    device_pending: bool,
    grant: Option<SpawnHandle>,
    timer: Option<SpawnHandle>,
}

impl TokenActor {
    pub fn new(owner: TokenOwner, shared: Arc<Shared>) -> Self {
        let s = &shared.settings;
        TokenActor {
            owner,
            backoff: Backoff::new(s.backoff_min, s.backoff_max),
            device_interval: s.device_interval,
            shared,
            record: None,
            access: None,
            parked: None,
            phase: Phase::Idle,
            waiters: Vec::new(),
            last_failure: None,
            last_used: Instant::now(),
            device_pending: false,
            grant: None,
            timer: None,
        }
    }

    fn settings(&self) -> &TokenSettings {
        &self.shared.settings
    }

    /// Publishes what a `Get` would be answered from memory now: the access token, unless the
    /// owner is parked. Called wherever either changes.
    fn publish(&self) {
        let token = self.access.clone().filter(|_| self.parked.is_none());
        self.shared.published.set(self.owner, token);
    }

    /// Loads the stored state (blocking other messages until done), then runs `then` with
    /// the outcome. An owner that is gone stops the actor; a database failure leaves the state
    /// unloaded, so the next request tries again.
    fn load(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>, Result<(), TokenError>) + 'static,
    ) {
        let store = self.shared.store.clone();
        let owner = self.owner;
        ctx.wait(
            async move { store.token_record(owner).await }
                .into_actor(self)
                .map(move |res, act, ctx| match res {
                    Ok(record) => {
                        act.apply(record);
                        then(act, ctx, Ok(()));
                    }
                    Err(StoreError::NotFound) => {
                        act.fail_waiters(&TokenError::NoSuchUser);
                        then(act, ctx, Err(TokenError::NoSuchUser));
                        ctx.stop();
                    }
                    Err(e) => {
                        tracing::warn!(owner = %act.owner, error = %e, "token state could not be loaded");
                        let e = TokenError::Store(e);
                        act.fail_waiters(&e);
                        then(act, ctx, Err(e));
                    }
                }),
        );
    }

    fn apply(&mut self, record: TokenRecord) {
        // A user's access token stored without its expiry is not trusted: the next use
        // refreshes. An app context's registered token has none: it is used until refused.
        self.access = match (&record.access_token, record.access_token_expires_at) {
            (Some(token), Some(exp)) => Some(AccessToken {
                token: token.clone(),
                expires_at: grant::unix_time(exp),
            }),
            (Some(token), None) if matches!(self.owner, TokenOwner::App(_)) => Some(AccessToken {
                token: token.clone(),
                expires_at: SystemTime::now() + UNTIL_REFUSED,
            }),
            _ => None,
        };
        self.parked = record
            .parked_error
            .clone()
            .map(|e| (e, record.parked_at.unwrap_or_else(now_unix)));
        self.record = Some(record);
        self.publish();
    }

    /// Answers a request once the state is loaded.
    fn serve(&mut self, request: Request, ctx: &mut Context<Self>) {
        match request {
            Request::Status { reply } => {
                let _ = reply.send(self.user_status());
            }
            Request::Token { ask, reply } => self.ask(ask, reply, ctx),
            Request::Verify { reply } => {
                let settled = self.parked.is_some()
                    || self.fresh(SystemTime::now()).is_some()
                    || matches!(self.phase, Phase::AwaitingApproval { .. });
                if settled {
                    let _ = reply.send(self.user_status());
                    return;
                }
                self.waiters.push(Waiter::Status(reply));
                if self.phase != Phase::Granting {
                    self.start_grant(ctx);
                }
            }
        }
    }

    fn ask(
        &mut self,
        ask: Ask,
        reply: oneshot::Sender<Result<AccessToken, TokenError>>,
        ctx: &mut Context<Self>,
    ) {
        if let Some(parked) = self.parked_error() {
            let _ = reply.send(Err(parked));
            return;
        }
        let now = SystemTime::now();
        match &ask {
            Ask::Get => {
                if let Some(token) = self.fresh(now) {
                    let _ = reply.send(Ok(token));
                    return;
                }
            }
            Ask::Invalidate(stale) => match &self.access {
                Some(a) if a.token != *stale && a.expires_at > now => {
                    let _ = reply.send(Ok(a.clone()));
                    return;
                }
                Some(a) if a.token == *stale => {
                    self.access = None;
                    self.publish();
                }
                _ => {}
            },
        }
        let takes_current = matches!(ask, Ask::Get);
        match self.phase {
            Phase::Granting => self.waiters.push(Waiter::Token {
                reply,
                takes_current,
            }),
            Phase::BackingOff { until } => {
                let message = self.last_failure.as_ref().map(|(m, _)| m.clone());
                let wait = until.saturating_duration_since(Instant::now());
                let error = transient(message.unwrap_or_default(), wait);
                let _ = reply.send(self.fallback(takes_current, error));
            }
            Phase::AwaitingApproval { next_poll } => {
                let wait = next_poll.saturating_duration_since(Instant::now());
                let _ = reply.send(Err(awaiting_approval(wait)));
            }
            Phase::Idle => {
                self.waiters.push(Waiter::Token {
                    reply,
                    takes_current,
                });
                self.start_grant(ctx);
            }
        }
    }

    /// The cached token, if valid for longer than the margin.
    fn fresh(&self, now: SystemTime) -> Option<AccessToken> {
        self.access
            .as_ref()
            .filter(|a| a.expires_at > now + self.settings().margin)
            .cloned()
    }

    /// Starts the one grant (timers cancelled); the waiters get its outcome.
    fn start_grant(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        let Some(record) = &self.record else {
            return;
        };
        let kind = match (&record.refresh_token, &record.device_code) {
            (Some(refresh), _) => GrantKind::Refresh(refresh.clone()),
            (None, Some(code)) => GrantKind::Device(code.clone()),
            (None, None) => return self.park("missing_refresh_token".to_string()),
        };
        let Some(client_id) = record.client_id.clone() else {
            return self.park("missing_client_id".to_string());
        };
        let known = self
            .shared
            .methods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&record.endpoint)
            .copied();
        let job = Job {
            owner: self.owner,
            version: record.credentials_version,
            endpoint: record.endpoint,
            token_url: record.token_url.clone(),
            client_id,
            client_secret: record.client_secret.clone(),
            kind,
            method: known.unwrap_or(AuthMethod::from_stored(record.auth_method.as_deref())),
            timeout: self.settings().request_timeout,
            default_lifetime: self.settings().default_lifetime,
            previous_token_grace: self.settings().previous_token_grace,
        };
        self.phase = Phase::Granting;
        let run = grant::run(job, self.shared.http.clone(), self.shared.store.clone());
        let handle = ctx.spawn(run.into_actor(self).map(|done, act, ctx| {
            act.grant = None;
            act.finish(done, ctx);
        }));
        self.grant = Some(handle);
    }

    fn finish(&mut self, done: Done, ctx: &mut Context<Self>) {
        self.phase = Phase::Idle;
        let Some(record) = self.record.as_mut() else {
            return;
        };
        if let Some(method) = done.learned {
            self.shared
                .methods
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(record.endpoint, method);
        }
        let device_pending = matches!(done.outcome, Outcome::Pending | Outcome::SlowDown);
        self.shared
            .settings
            .metrics
            .token_grant(match &done.outcome {
                Outcome::Token { .. } => "granted",
                Outcome::Park { .. } => "parked",
                Outcome::Transient { .. } => "transient",
                Outcome::StoreFailed(_) => "store_failed",
                Outcome::Pending => "pending",
                Outcome::SlowDown => "slow_down",
                Outcome::Superseded => "superseded",
            });
        self.device_pending = device_pending;
        match done.outcome {
            Outcome::Token {
                token,
                refresh,
                device_code_used,
            } => {
                if refresh.is_some() {
                    record.refresh_token = refresh;
                }
                if device_code_used {
                    record.device_code = None;
                }
                record.grants += 1;
                record.last_refresh_at = Some(now_unix());
                self.access = Some(token.clone());
                self.publish();
                self.backoff.reset();
                self.last_failure = None;
                self.device_interval = self.shared.settings.device_interval;
                tracing::debug!(owner = %self.owner, "access token refreshed");
                self.answer_waiters(Ok(token));
            }
            Outcome::Park { error } => {
                tracing::warn!(owner = %self.owner, error = %error,
                    "the token endpoint refused the credentials; they need re-authorisation");
                self.park(error);
            }
            Outcome::Transient {
                message,
                retry_after,
            } => self.back_off(message, retry_after, None, ctx),
            Outcome::StoreFailed(e) => {
                let message = format!("the new token could not be stored: {e}");
                self.back_off(message, None, Some(TokenError::Store(e)), ctx);
            }
            Outcome::Pending => self.await_approval(ctx),
            Outcome::SlowDown => {
                self.device_interval += self.shared.settings.slow_down_step;
                self.await_approval(ctx);
            }
            Outcome::Superseded => {
                // New credentials arrived while the grant ran; the reload they bring (queued
                // behind this) starts a grant for the waiters. Load now in case it does not.
                self.record = None;
                self.load(ctx, |act, ctx, loaded| {
                    if loaded.is_ok() && !act.waiters.is_empty() {
                        act.start_grant(ctx);
                    }
                });
            }
        }
    }

    /// A failure that may pass: wait, then try again (whether or not anyone waits).
    fn back_off(
        &mut self,
        message: String,
        retry_after: Option<Duration>,
        error: Option<TokenError>,
        ctx: &mut Context<Self>,
    ) {
        let s = &self.shared.settings;
        let mut delay = self.backoff.next_delay().max(s.backoff_min);
        if let Some(asked) = retry_after {
            delay = delay.max(asked.min(s.backoff_max));
        }
        tracing::info!(owner = %self.owner, error = %message, retry_in_ms = delay.as_millis() as u64,
            "token grant failed; retrying later");
        self.phase = Phase::BackingOff {
            until: Instant::now() + delay,
        };
        let error = error.unwrap_or_else(|| transient(message.clone(), delay));
        self.last_failure = Some((message, now_unix()));
        self.answer_waiters(Err(error));
        self.timer = Some(ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            if matches!(act.phase, Phase::BackingOff { .. }) {
                act.start_grant(ctx);
            }
        }));
    }

    /// Device code not approved yet: poll again after the interval.
    fn await_approval(&mut self, ctx: &mut Context<Self>) {
        let interval = self.device_interval;
        self.phase = Phase::AwaitingApproval {
            next_poll: Instant::now() + interval,
        };
        self.answer_waiters(Err(awaiting_approval(interval)));
        self.timer = Some(ctx.run_later(interval, |act, ctx| {
            act.timer = None;
            if matches!(act.phase, Phase::AwaitingApproval { .. }) {
                act.start_grant(ctx);
            }
        }));
    }

    /// Parks the owner: no grant until its credentials change.
    fn park(&mut self, error: String) {
        self.phase = Phase::Idle;
        self.parked = Some((error, now_unix()));
        self.publish();
        let parked = self.parked_error().unwrap_or(TokenError::NoSuchUser);
        self.answer_waiters(Err(parked));
    }

    /// Stops when nobody asked for a while and nothing is under way.
    fn stop_if_idle(&mut self, ctx: &mut Context<Self>) {
        let busy = matches!(self.phase, Phase::Granting | Phase::AwaitingApproval { .. });
        if !busy
            && self.waiters.is_empty()
            && self.last_used.elapsed() >= self.settings().idle_after
        {
            ctx.stop();
        }
    }
}

impl Actor for TokenActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = (self.settings().idle_after / 4).max(Duration::from_millis(10));
        ctx.run_interval(every, Self::stop_if_idle);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        // A stopped actor hands out nothing: the next request starts one that loads again.
        self.shared.published.set(self.owner, None);
    }
}

impl Handler<Request> for TokenActor {
    type Result = ();

    fn handle(&mut self, request: Request, ctx: &mut Context<Self>) {
        self.last_used = Instant::now();
        if self.record.is_some() {
            self.serve(request, ctx);
        } else {
            self.load(ctx, move |act, ctx, loaded| match loaded {
                Ok(()) => act.serve(request, ctx),
                Err(e) => fail_request(request, e),
            });
        }
    }
}

impl Handler<Reload> for TokenActor {
    type Result = ();

    fn handle(&mut self, _: Reload, ctx: &mut Context<Self>) {
        for handle in [self.grant.take(), self.timer.take()].into_iter().flatten() {
            ctx.cancel_future(handle);
        }
        self.phase = Phase::Idle;
        self.record = None;
        self.access = None;
        self.parked = None;
        self.publish();
        self.last_failure = None;
        self.device_pending = false;
        self.backoff.reset();
        self.device_interval = self.shared.settings.device_interval;
        self.load(ctx, |act, ctx, loaded| {
            if loaded.is_ok() && !act.waiters.is_empty() {
                act.start_grant(ctx);
            }
        });
    }
}

impl Handler<Stop> for TokenActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.fail_waiters(&TokenError::NoSuchUser);
        ctx.stop();
    }
}
