//! `TenantActor`: one per Xelion context, the owner of that tenant's event session.
//!
//! It holds the Xelion admin session (log in through the global [`gate::LoginGate`], renew
//! before `validUntil`, log in again on 401), one websocket subscribed to exactly the event
//! types the tenant's mappings use, and reconnects with full-jitter backoff after anything goes
//! wrong. Rejected admin credentials park it in `credentialsRejected`, retried only now and
//! then so that Xelion never locks the account. Each call event read from the socket is handed
//! on in one place ([`TenantActor::hand_off`]), the entry of routing.
//!
//! The session token is kept, sealed, in `event_sessions`: after a crash the next login hands
//! it back, and Xelion ends the old session instead of refusing the new one (10005).

pub mod backoff;
mod connect;
pub mod event;
pub mod gate;
mod handlers;
mod handoff;
pub mod route;
pub mod socket;
pub mod status;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use rand::Rng;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

use self::backoff::Backoff;
use self::connect::{is_credentials_rejected, login, Attempt, Attempted, Failure};
use self::gate::LoginGate;
use self::handlers::News;
pub use self::handlers::{GetStatus, Reload, Stop};
use self::handoff::Handoff;
use self::route::Routes;
use self::socket::{Socket, SocketCmd, SocketError, SocketSettings};
use self::status::Stats;
pub use self::status::{TenantState, TenantStatus};
use crate::clock::{now_unix, parse_xelion_date};
use crate::dispatch::Pipeline;
use crate::domain::XelionContextId as Id;
use crate::domain::XelionEvent;
use crate::secrets::Secret;
use crate::store::{Store, StoreError};
use crate::token::Tokens;
use crate::xelion::{XelionClient, XelionEndpoint, XelionError, XelionSession};

/// Timers and limits of the tenants' event sessions.
#[derive(Debug, Clone)]
pub struct TenantSettings {
    /// Logins in flight at once, over all tenants.
    pub logins_at_once: usize,
    /// Logins started per second, over all tenants.
    pub logins_per_second: u32,
    /// At start-up each tenant's first attempt waits a random time up to this.
    pub first_attempt_spread: Duration,
    /// The first reconnect window.
    pub backoff_base: Duration,
    /// The widest reconnect window.
    pub backoff_cap: Duration,
    /// A socket subscribed this long resets the backoff.
    pub healthy_after: Duration,
    /// How often rejected admin credentials are tried again.
    pub credentials_retry: Duration,
    /// Renew the session this long before `validUntil`.
    pub renew_margin: Duration,
    /// The socket's timers and limits.
    pub socket: SocketSettings,
    /// Where events and reconnects are counted.
    pub metrics: crate::metrics::Metrics,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            logins_at_once: 8,
            logins_per_second: 40,
            first_attempt_spread: Duration::from_secs(5),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            healthy_after: Duration::from_secs(60),
            credentials_retry: Duration::from_secs(300),
            renew_margin: Duration::from_secs(60),
            socket: SocketSettings::default(),
            metrics: crate::metrics::Metrics::default(),
        }
    }
}

/// What every tenant shares (cheap to clone).
#[derive(Clone)]
pub struct TenantDeps {
    /// Storage.
    pub store: Store,
    /// The Xelion REST client.
    pub xelion: XelionClient,
    /// The global login gate.
    pub gate: LoginGate,
    /// The users' CRM access tokens.
    pub tokens: Tokens,
    /// Where call events' deliveries go.
    pub pipeline: Pipeline,
    /// Timers and limits.
    pub settings: Arc<TenantSettings>,
}

impl TenantDeps {
    /// Dependencies with a login gate sized from `settings`.
    pub fn new(
        store: Store,
        xelion: XelionClient,
        tokens: Tokens,
        pipeline: Pipeline,
        settings: TenantSettings,
    ) -> Self {
        TenantDeps {
            gate: LoginGate::new(settings.logins_at_once, settings.logins_per_second),
            store,
            xelion,
            tokens,
            pipeline,
            settings: Arc::new(settings),
        }
    }
}

/// The stored configuration a tenant runs on.
#[derive(Clone)]
struct Config {
    endpoint: XelionEndpoint,
    admin_username: String,
    admin_password: Secret,
    events: BTreeSet<XelionEvent>,
    mappings: usize,
    /// The last event session (userSpace, token), read once at start.
    stored_session: Option<(String, Option<Secret>)>,
    /// Who gets which deliveries.
    routes: Arc<Routes>,
}

impl Config {
    fn same_login(&self, other: &Config) -> bool {
        self.endpoint == other.endpoint
            && self.admin_username == other.admin_username
            && self.admin_password.expose() == other.admin_password.expose()
    }
}

/// The actor of one Xelion context.
pub struct TenantActor {
    id: Id,
    deps: TenantDeps,
    first_delay: Duration,
    config: Option<Config>,
    label: String,
    session: Option<XelionSession>,
    /// The userSpace of the event session (stable per tenant unless Xelion forced a new one).
    user_space: String,
    /// A token of an earlier session to hand back on the next login.
    previous_token: Option<Secret>,
    /// Increments whenever the socket or a pending attempt is abandoned; news from an older
    /// generation is ignored.
    gen: u64,
    socket: Option<mpsc::UnboundedSender<SocketCmd>>,
    pending: Option<SpawnHandle>,
    renew: Option<SpawnHandle>,
    backoff: Backoff,
    stats: Stats,
    stopping: bool,
    /// Loads of the configuration begun so far, and the number of the latest one applied.
    /// Loads run side by side and may finish out of order: one begun before the load already
    /// applied is dropped, since it may have read the configuration from before the change
    /// that began the other.
    loads_begun: u64,
    load_applied: u64,
    /// Who waits for a load (by number) to be over: answered when it or a later one is.
    load_waiters: Vec<(u64, oneshot::Sender<()>)>,
    /// The routing table of the loaded configuration.
    routes: Arc<Routes>,
    handoff: Handoff,
    /// The span of everything this tenant logs: its id and, once loaded, host/tenant.
    pub(super) span: tracing::Span,
}

impl TenantActor {
    /// A tenant for a stored xelion context; its first connection attempt waits `first_delay`.
    pub fn new(id: Id, deps: TenantDeps, first_delay: Duration) -> Self {
        let s = &deps.settings;
        TenantActor {
            id,
            backoff: Backoff::new(s.backoff_base, s.backoff_cap),
            deps,
            first_delay,
            config: None,
            label: String::new(),
            session: None,
            user_space: format!("xelion-cti-events-{id}"),
            previous_token: None,
            gen: 0,
            socket: None,
            pending: None,
            renew: None,
            stats: Stats::new(),
            stopping: false,
            loads_begun: 0,
            load_applied: 0,
            load_waiters: Vec::new(),
            routes: Arc::new(Routes::default()),
            handoff: Handoff::default(),
            span: tracing::info_span!("tenant", id = %id, tenant = tracing::field::Empty),
        }
    }

    /// A random first delay within the configured spread (for start-up).
    pub fn boot_delay(settings: &TenantSettings) -> Duration {
        let ms = settings.first_attempt_spread.as_millis() as u64;
        Duration::from_millis(if ms == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=ms)
        })
    }

    /// Begins a load of the configuration; answers its number.
    fn reload(&mut self, ctx: &mut Context<Self>) -> u64 {
        let store = self.deps.store.clone();
        let id = self.id;
        let first = self.config.is_none();
        self.loads_begun += 1;
        let this_load = self.loads_begun;
        let load = async move {
            let Some(xctx) = store.xelion_context(id).await? else {
                return Ok::<_, StoreError>(None);
            };
            let admin_password = store.admin_password(id).await?;
            let mut events = BTreeSet::new();
            let (mut all_users, mut all_mappings) = (Vec::new(), Vec::new());
            for crm in store.crm_contexts(id).await? {
                all_users.extend(store.users(crm.id, None, None).await?);
                all_mappings.extend(store.mappings(crm.id).await?);
            }
            for m in &all_mappings {
                events.insert(m.xelion_event);
            }
            let mappings = all_mappings.len();
            let routes = Arc::new(Routes::new(&all_users, &all_mappings));
            let stored_session = if first {
                store
                    .event_session(id)
                    .await?
                    .map(|s| (s.user_space, s.authentication))
            } else {
                None
            };
            Ok(Some(Config {
                endpoint: XelionEndpoint {
                    protocol: xctx.protocol,
                    host: xctx.host.clone(),
                    tenant: xctx.tenant.clone(),
                },
                admin_username: xctx.admin_username,
                admin_password,
                events,
                mappings,
                stored_session,
                routes,
            }))
        };
        ctx.spawn(load.into_actor(self).map(move |res, act, ctx| {
            match res {
                _ if this_load < act.load_applied => {}
                Ok(Some(config)) => {
                    act.load_applied = this_load;
                    act.loaded(config, ctx)
                }
                Ok(None) => act.stop_now(ctx),
                Err(e) => {
                    let _span = act.span.clone().entered();
                    tracing::warn!(error = %e, "tenant could not be loaded; retrying");
                    ctx.run_later(Duration::from_secs(5), |act, ctx| {
                        act.reload(ctx);
                    });
                }
            }
            act.loads_over(this_load);
        }));
        this_load
    }

    /// Answers whoever waits for load `load` or an earlier one.
    fn loads_over(&mut self, load: u64) {
        let (over, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.load_waiters)
            .into_iter()
            .partition(|(n, _)| *n <= load);
        self.load_waiters = waiting;
        for (_, taken) in over {
            let _ = taken.send(());
        }
    }

    fn loaded(&mut self, mut config: Config, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        self.label = format!("{}/{}", config.endpoint.host, config.endpoint.tenant);
        self.span.record("tenant", self.label.as_str());
        let _span = self.span.clone().entered();
        if let Some((space, token)) = config.stored_session.take() {
            self.user_space = space;
            self.previous_token = token;
        }
        self.routes = config.routes.clone();
        let Some(old) = self.config.replace(config.clone()) else {
            tracing::info!(mappings = config.mappings, "tenant loaded");
            let delay = self.first_delay;
            self.schedule_attempt(ctx, delay);
            return;
        };
        if !old.same_login(&config) {
            tracing::info!("Xelion environment or admin credentials changed; reconnecting");
            self.teardown(Some(old.endpoint));
            self.backoff.reset();
            self.schedule_attempt(ctx, Duration::ZERO);
        } else if old.events != config.events {
            if let Some(tx) = &self.socket {
                let _ = tx.send(SocketCmd::Subscribe(config.events.clone()));
            }
        }
    }

    /// Abandons the socket and any pending attempt; logs the session out at `logout_at`.
    /// Ends the socket, the timers and the session; the logout runs in the background.
    fn teardown(&mut self, logout_at: Option<XelionEndpoint>) {
        if let Some(logout) = self.end_session(logout_at) {
            actix::spawn(logout.instrument(self.span.clone()));
        }
    }

    /// Closes the socket, cancels the timers and takes the session: answers the logout of
    /// that session at `logout_at` (bounded to 5 s) for the caller to run.
    pub(super) fn end_session(
        &mut self,
        logout_at: Option<XelionEndpoint>,
    ) -> Option<impl std::future::Future<Output = ()> + 'static> {
        self.gen += 1;
        if let Some(tx) = self.socket.take() {
            let _ = tx.send(SocketCmd::Close);
        }
        self.pending = None;
        self.renew = None;
        let (session, ep) = (self.session.take()?, logout_at?);
        let xelion = self.deps.xelion.clone();
        Some(async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), xelion.logout(&ep, &session)).await;
        })
    }

    fn schedule_attempt(&mut self, ctx: &mut Context<Self>, delay: Duration) {
        if let Some(h) = self.pending.take() {
            ctx.cancel_future(h);
        }
        self.gen += 1;
        self.pending = Some(ctx.run_later(delay, |act, ctx| act.attempt(ctx)));
    }

    fn attempt(&mut self, ctx: &mut Context<Self>) {
        let Some(config) = self.config.clone() else {
            return;
        };
        if self.stats.state != TenantState::CredentialsRejected {
            self.stats.enter(TenantState::Connecting);
        }
        let job = Attempt {
            id: self.id,
            deps: self.deps.clone(),
            endpoint: config.endpoint,
            user: config.admin_username,
            password: config.admin_password,
            events: config.events,
            session: self.session.clone(),
            user_space: self.user_space.clone(),
            previous: self.previous_token.clone(),
        };
        let gen = self.gen;
        let fut = job
            .run()
            .instrument(self.span.clone())
            .into_actor(self)
            .map(move |res, act, ctx| act.attempted(gen, res, ctx));
        self.pending = Some(ctx.spawn(fut));
    }

    fn attempted(&mut self, gen: u64, res: Attempted, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        if let Some((session, space)) = res.fresh {
            self.adopt_session(session, space, ctx);
        }
        if res.session_rejected {
            self.session = None;
        }
        if gen != self.gen || self.stopping {
            if let Ok((socket, _)) = res.outcome {
                actix::spawn(async move {
                    let mut socket = socket;
                    let _ = socket.close(None).await;
                });
            }
            return;
        }
        self.pending = None;
        match res.outcome {
            Ok((socket, events)) => self.connected(socket, events, ctx),
            Err(failure) => self.failed(failure, ctx),
        }
    }

    fn adopt_session(&mut self, session: XelionSession, space: String, ctx: &mut Context<Self>) {
        let store = self.deps.store.clone();
        let (id, token) = (self.id, session.authentication.clone());
        self.user_space = space.clone();
        self.previous_token = Some(token.clone());
        self.session = Some(session);
        actix::spawn(
            async move {
                if let Err(e) = store.save_event_session(id, &space, Some(&token)).await {
                    tracing::warn!(error = %e, "event session could not be stored");
                }
            }
            .instrument(self.span.clone()),
        );
        self.schedule_renew(ctx);
    }

    fn connected(
        &mut self,
        socket: Socket,
        events: BTreeSet<XelionEvent>,
        ctx: &mut Context<Self>,
    ) {
        let _span = self.span.clone().entered();
        let (tx, rx) = mpsc::unbounded_channel();
        if self.stats.connected_once {
            self.stats.reconnects += 1;
            self.deps.settings.metrics.reconnected(self.id);
        }
        self.stats.connected_once = true;
        self.stats.enter(TenantState::Subscribed);
        self.stats.subscribed = events.clone();
        tracing::info!(events = ?events, "subscribed");
        if let Some(wanted) = self.config.as_ref().map(|c| &c.events) {
            if *wanted != events {
                let _ = tx.send(SocketCmd::Subscribe(wanted.clone()));
            }
        }
        self.socket = Some(tx);
        let gen = self.gen;
        let addr = ctx.address();
        let run = socket::run(
            socket,
            events,
            rx,
            self.deps.settings.socket.clone(),
            move |news| addr.do_send(News { gen, news }),
        );
        ctx.spawn(
            run.into_actor(self)
                .map(move |res, act, ctx| act.socket_ended(gen, res, ctx)),
        );
        let healthy = self.deps.settings.healthy_after;
        ctx.run_later(healthy, move |act, _| {
            if act.gen == gen && act.stats.state == TenantState::Subscribed {
                act.backoff.reset();
            }
        });
    }

    fn failed(&mut self, failure: Failure, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        let s = &self.deps.settings;
        let message = failure.to_string();
        let (state, delay) = match &failure {
            Failure::Xelion(e) if is_credentials_rejected(e) => {
                (TenantState::CredentialsRejected, s.credentials_retry)
            }
            Failure::Xelion(XelionError::Api {
                status: 429,
                retry_after,
                ..
            }) => {
                let asked = retry_after
                    .unwrap_or(s.backoff_base * 5)
                    .min(s.backoff_cap * 5);
                (
                    TenantState::BackingOff,
                    self.backoff.next_delay().max(asked),
                )
            }
            _ => (TenantState::BackingOff, self.backoff.next_delay()),
        };
        if state == TenantState::CredentialsRejected {
            tracing::warn!(error = %message, "Xelion refused the admin credentials; update them through the API");
        } else {
            tracing::warn!(error = %message, retry_in = ?delay, "Xelion event session failed");
        }
        self.stats.last_error = Some(message);
        self.stats.enter(state);
        self.schedule_attempt(ctx, delay);
    }

    fn socket_ended(&mut self, gen: u64, res: Result<(), SocketError>, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        if gen != self.gen || self.stopping {
            return;
        }
        self.socket = None;
        let err = match res {
            Ok(()) => return,
            Err(e) => e,
        };
        let delay = self.backoff.next_delay();
        tracing::warn!(error = %err, retry_in = ?delay, "Xelion websocket lost");
        self.stats.last_error = Some(err.to_string());
        self.stats.enter(TenantState::BackingOff);
        self.schedule_attempt(ctx, delay);
    }

    fn schedule_renew(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.renew.take() {
            ctx.cancel_future(h);
        }
        let Some(until) = self
            .session
            .as_ref()
            .and_then(|s| s.valid_until.as_deref())
            .and_then(parse_xelion_date)
        else {
            return;
        };
        let left = (until - now_unix()).max(0) as u64;
        let margin = self.deps.settings.renew_margin.as_secs();
        let wait = if left > 2 * margin {
            left - margin
        } else {
            left / 2
        };
        self.renew =
            Some(ctx.run_later(Duration::from_secs(wait.max(1)), |act, ctx| act.renew(ctx)));
    }

    fn renew(&mut self, ctx: &mut Context<Self>) {
        let (Some(session), Some(config)) = (self.session.clone(), self.config.clone()) else {
            return;
        };
        let deps = self.deps.clone();
        let (id, space) = (self.id, self.user_space.clone());
        let fut = async move {
            match deps
                .xelion
                .renew(&config.endpoint, &session, &config.admin_password)
                .await
            {
                Ok(s) => Ok((s, space)),
                Err(e) => {
                    tracing::info!(error = %e, "session renewal failed; logging in again");
                    let previous = Some(session.authentication.clone());
                    login(
                        &deps,
                        id,
                        &config.endpoint,
                        &config.admin_username,
                        &config.admin_password,
                        &space,
                        previous,
                    )
                    .await
                }
            }
        };
        let gen = self.gen;
        let fut = fut.instrument(self.span.clone());
        self.renew = Some(
            ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| match res {
                Ok((session, space)) if !act.stopping => act.adopt_session(session, space, ctx),
                Ok(_) => {}
                Err(e) => {
                    let _span = act.span.clone().entered();
                    tracing::warn!(error = %e, "Xelion session lost; the next connection logs in");
                    if act.gen == gen {
                        act.session = None;
                    }
                }
            })),
        );
    }

    fn stop_now(&mut self, ctx: &mut Context<Self>) {
        self.stopping = true;
        let logout_at = self.config.as_ref().map(|c| c.endpoint.clone());
        self.teardown(logout_at);
        self.stats.enter(TenantState::Stopped);
        ctx.stop();
    }
}

impl Actor for TenantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
        self.reload(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let _span = self.span.clone().entered();
        tracing::info!("tenant stopped");
    }
}
