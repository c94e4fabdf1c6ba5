//! `Supervisor`: owns the tenants and runs every admin command.
//!
//! HTTP handlers send it one message per endpoint (see [`crate::messages`]); it runs the
//! command and, when the command changed a tenant, tells that tenant's actor at once. It also
//! keeps the tenants running: a tenant actor that stopped without being told to (a panic, a
//! failure it gave up on) is started again while its xelion context exists.

mod external;
mod shutdown;
mod status;
mod tokens;

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;
use tokio::sync::oneshot;

use crate::admin::{Admin, TenantChange};
use crate::clock::now_unix;
use crate::dispatch::send::Sender;
use crate::dispatch::{DispatchActor, DispatchSettings, Pipeline, TenantChanged};
use crate::domain::XelionContextId;
use crate::external::{External, ExternalSettings};
use crate::outbox::{OutboxSettings, OutboxWriter};
use crate::tenant::{
    GetStatus, Reload, Stop, TenantActor, TenantDeps, TenantSettings, TenantState, TenantStatus,
};
use crate::token::{TokenSettings, Tokens};

/// How often expired API sessions are deleted.
const PURGE_SESSIONS_EVERY: Duration = Duration::from_secs(60);
/// How often the supervisor looks for tenant actors that stopped. Cheap: only a stopped
/// actor costs a query.
const WATCH_TENANTS_EVERY: Duration = Duration::from_secs(1);
/// How long an admin write waits for the running tenant to take the change before it answers
/// anyway (the tenant takes it later).
const CHANGE_TAKEN_WITHIN: Duration = Duration::from_secs(5);
/// How long [`ListTenants`] waits for one tenant's status before calling it unresponsive.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

pub use external::{CallExternalApi, RegisterAppContext};
pub use shutdown::Shutdown;
pub use status::GetTenantStatus;
pub use tokens::{GetUserStatus, VerifyUser};

/// The root actor.
pub struct Supervisor {
    /// Runs the commands; its store is also the supervisor's own.
    pub(crate) admin: Admin,
    /// The actor of each xelion context, started or restarted by [`Supervisor::apply`].
    tenants: HashMap<XelionContextId, Addr<TenantActor>>,
    /// The users' CRM access tokens (the admin commands reload and forget users in it).
    pub(crate) tokens: Tokens,
    /// The external API calls of Xelion app users (their tokens are kept by `tokens`).
    pub(crate) external: External,
    /// What every tenant shares: store, Xelion client, tokens, login gate, timers.
    deps: TenantDeps,
    /// How often stopped tenants are looked for (shorter in tests).
    watch_every: Duration,
    /// A look for stopped tenants is under way; the next tick skips rather than overlap it.
    watching: bool,
    /// The outbox writer and the dispatcher; the writer is closed at shutdown after the
    /// tenants and before the store.
    pub(crate) pipeline: Pipeline,
    /// How long a shutdown waits for the CRM requests in flight.
    pub(crate) drain_deadline: Duration,
}

/// Timers and limits of everything the supervisor starts.
#[derive(Debug, Clone, Default)]
pub struct SupervisorSettings {
    pub tenants: TenantSettings,
    pub tokens: TokenSettings,
    pub outbox: OutboxSettings,
    pub dispatch: DispatchSettings,
    pub external: ExternalSettings,
    /// The server's metrics, shared by everything the supervisor starts (it replaces the
    /// `metrics` of the settings above).
    pub metrics: crate::metrics::Metrics,
}

impl Supervisor {
    /// A supervisor over the admin commands (and their store), everything on default timers.
    pub fn new(admin: Admin) -> Self {
        Self::with_settings(admin, SupervisorSettings::default())
    }

    /// A supervisor on `settings`. Starts the token registry, the outbox writer and the
    /// dispatcher (inside the running actix system); token grants and CRM requests share the
    /// Xelion client's guarded HTTP client settings (the outbound rule applies).
    pub fn with_settings(admin: Admin, mut settings: SupervisorSettings) -> Self {
        settings.tokens.metrics = settings.metrics.clone();
        settings.tenants.metrics = settings.metrics.clone();
        settings.dispatch.metrics = settings.metrics.clone();
        let store = admin.store().clone();
        let tokens = Tokens::start(
            store.clone(),
            admin.xelion().http().clone(),
            settings.tokens,
        );
        let external = External::new(
            store.clone(),
            admin.xelion().clone(),
            tokens.clone(),
            settings.external,
        );
        let writer = OutboxWriter::start(store.clone(), settings.outbox);
        let sender = Sender {
            http: admin.xelion().http().clone(),
            tokens: tokens.clone(),
            timeout: settings.dispatch.request_timeout,
            metrics: settings.metrics.clone(),
        };
        let drain_deadline = settings.dispatch.drain_deadline;
        let dispatch =
            DispatchActor::new(store.clone(), writer.clone(), sender, settings.dispatch).start();
        let pipeline = Pipeline {
            writer: writer.clone(),
            dispatch,
        };
        let deps = TenantDeps::new(
            store,
            admin.xelion().clone(),
            tokens.clone(),
            pipeline.clone(),
            settings.tenants,
        );
        Supervisor {
            admin,
            tokens,
            external,
            deps,
            pipeline,
            tenants: HashMap::new(),
            watch_every: WATCH_TENANTS_EVERY,
            watching: false,
            drain_deadline,
        }
    }

    /// Tells the running pipeline about a change. Answers, for a tenant that was running, when
    /// it has taken the change (see [`Supervisor::taken`]).
    pub(crate) fn apply(&mut self, change: TenantChange) -> Option<oneshot::Receiver<()>> {
        match change {
            TenantChange::Changed(id) => {
                self.pipeline.dispatch.do_send(TenantChanged {
                    xelion_context_id: id,
                    deleted: false,
                });
                self.start_tenant(id, Duration::ZERO)
            }
            TenantChange::Deleted(id) => {
                self.pipeline.dispatch.do_send(TenantChanged {
                    xelion_context_id: id,
                    deleted: true,
                });
                if let Some(addr) = self.tenants.remove(&id) {
                    addr.do_send(Stop);
                }
                None
            }
            TenantChange::UserChanged(id, user) => {
                self.tokens.reload(user);
                self.start_tenant(id, Duration::ZERO)
            }
            TenantChange::UserDeleted(id, user) => {
                self.tokens.forget(user);
                self.start_tenant(id, Duration::ZERO)
            }
            TenantChange::CrmContextChanged(id, users) => {
                self.pipeline.dispatch.do_send(TenantChanged {
                    xelion_context_id: id,
                    deleted: false,
                });
                for user in users {
                    self.tokens.reload(user);
                }
                self.start_tenant(id, Duration::ZERO)
            }
            TenantChange::CrmContextDeleted(id, users) => {
                self.pipeline.dispatch.do_send(TenantChanged {
                    xelion_context_id: id,
                    deleted: false,
                });
                for user in users {
                    self.tokens.forget(user);
                }
                self.start_tenant(id, Duration::ZERO)
            }
        }
    }

    /// Reloads a running tenant (answering when it runs on what it loaded), or starts it with
    /// its first attempt after `delay`.
    fn start_tenant(
        &mut self,
        id: XelionContextId,
        delay: Duration,
    ) -> Option<oneshot::Receiver<()>> {
        match self.tenants.get(&id) {
            Some(addr) if addr.connected() => {
                let (taken, answer) = oneshot::channel();
                addr.do_send(Reload { taken: Some(taken) });
                Some(answer)
            }
            _ => {
                let addr = TenantActor::new(id, self.deps.clone(), delay).start();
                self.tenants.insert(id, addr);
                None
            }
        }
    }

    /// Waits, [`CHANGE_TAKEN_WITHIN`] at most, for a running tenant to take a change: an
    /// admin write answers once the next event already follows it.
    pub(crate) async fn taken(answer: Option<oneshot::Receiver<()>>) {
        if let Some(answer) = answer {
            let _ = tokio::time::timeout(CHANGE_TAKEN_WITHIN, answer).await;
        }
    }

    /// Deletes expired API sessions (logins only ever add them).
    fn purge_sessions(&mut self, ctx: &mut Context<Self>) {
        let store = self.admin.store().clone();
        ctx.spawn(
            async move {
                match store.purge_sessions(now_unix()).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::debug!(purged, "expired API sessions deleted"),
                    Err(e) => {
                        tracing::warn!(error = %e, "expired API sessions could not be deleted")
                    }
                }
            }
            .into_actor(self),
        );
    }

    /// Starts again every tenant actor that stopped although its xelion context still
    /// exists, and forgets those whose context is gone.
    fn restart_stopped_tenants(&mut self, ctx: &mut Context<Self>) {
        if self.watching {
            return;
        }
        let stopped: Vec<(XelionContextId, Addr<TenantActor>)> = self
            .tenants
            .iter()
            .filter(|(_, addr)| !addr.connected())
            .map(|(id, addr)| (*id, addr.clone()))
            .collect();
        if stopped.is_empty() {
            return;
        }
        self.watching = true;
        let store = self.admin.store().clone();
        let checked = async move {
            let mut out = Vec::with_capacity(stopped.len());
            for (id, addr) in stopped {
                let exists = store.xelion_context(id).await.map(|c| c.is_some());
                out.push((id, addr, exists));
            }
            out
        };
        ctx.spawn(checked.into_actor(self).map(|checked, act, _| {
            act.watching = false;
            for (id, addr, exists) in checked {
                // A command may have restarted or deleted the tenant meanwhile.
                if act.tenants.get(&id) != Some(&addr) {
                    continue;
                }
                match exists {
                    Ok(true) => {
                        tracing::warn!(%id, "tenant actor stopped unexpectedly; restarting it");
                        let _ = act.apply(TenantChange::Changed(id));
                    }
                    Ok(false) => {
                        act.tenants.remove(&id);
                    }
                    Err(e) => {
                        tracing::warn!(%id, error = %e, "stopped tenant could not be checked; will retry")
                    }
                }
            }
        }));
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Admin calls queue here; the default of 16 would push back on a burst of requests.
        ctx.set_mailbox_capacity(1024);
        let store = self.admin.store().clone();
        ctx.spawn(
            async move { store.list_xelion_contexts().await }
                .into_actor(self)
                .map(|res, act, _| match res {
                    Ok(contexts) => {
                        tracing::info!(tenants = contexts.len(), "starting tenants");
                        // Each first login at a random offset: a thousand tenants must not
                        // reach Xelion in the same second (the login gate bounds them too).
                        for c in contexts {
                            let delay = TenantActor::boot_delay(&act.deps.settings);
                            let _ = act.start_tenant(c.id, delay);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "tenants could not be listed"),
                }),
        );
        ctx.run_interval(PURGE_SESSIONS_EVERY, Self::purge_sessions);
        ctx.run_interval(self.watch_every, Self::restart_stopped_tenants);
    }
}

/// The status of every tenant the supervisor runs, including one that stopped and is not
/// restarted yet.
#[derive(Message)]
#[rtype(result = "Vec<TenantStatus>")]
pub struct ListTenants;

impl Handler<ListTenants> for Supervisor {
    type Result = ResponseFuture<Vec<TenantStatus>>;
    fn handle(&mut self, _: ListTenants, _: &mut Context<Self>) -> Self::Result {
        let asks: Vec<_> = self
            .tenants
            .iter()
            .map(|(&id, addr)| {
                let status = addr.send(GetStatus).timeout(STATUS_TIMEOUT);
                async move {
                    match status.await {
                        Ok(status) => status,
                        Err(MailboxError::Closed) => {
                            TenantStatus::not_running(id, TenantState::Dead)
                        }
                        Err(MailboxError::Timeout) => {
                            TenantStatus::not_running(id, TenantState::Unresponsive)
                        }
                    }
                }
            })
            .collect();
        Box::pin(async move {
            let mut out = join_all(asks).await;
            out.sort_by_key(|s| s.id);
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::AdminSettings;
    use crate::outbound::OutboundPolicy;
    use crate::secrets::{Cipher, Secret};
    use crate::store::{testdb, NewIntegration, Store};
    use crate::xelion::XelionClient;

    /// The address of a tenant's actor, to stop it behind the supervisor's back.
    #[derive(Message)]
    #[rtype(result = "Option<Addr<TenantActor>>")]
    struct TenantAddr(XelionContextId);

    impl Handler<TenantAddr> for Supervisor {
        type Result = Option<Addr<TenantActor>>;
        fn handle(&mut self, msg: TenantAddr, _: &mut Context<Self>) -> Self::Result {
            self.tenants.get(&msg.0).cloned()
        }
    }

    /// A store in a scratch directory with one integration; the directory goes with it.
    async fn store_with_a_tenant(dir: &std::path::Path) -> (Store, XelionContextId) {
        let cipher = Cipher::from_key_file(&dir.join("master.key")).unwrap();
        let store = Store::open(&testdb::fresh_sqlite_url(dir), cipher)
            .await
            .unwrap();
        let (xctx, _) = store
            .create_integration(NewIntegration {
                host: "xelion.example".to_string(),
                tenant: "t".to_string(),
                protocol: crate::domain::Protocol::Https,
                admin_username: "admin".to_string(),
                admin_password: Secret::new("password"),
                authorization_server_uri: "https://crm.example/token".to_string(),
                authorization_header_prefix: "Bearer ".to_string(),
                users: vec![],
                mappings: vec![],
            })
            .await
            .unwrap();
        (store, xctx.id)
    }

    fn supervisor(store: Store, watch_every: Duration) -> Addr<Supervisor> {
        let policy = OutboundPolicy::parse::<&str>(&[]).unwrap();
        let xelion = XelionClient::new(&policy).unwrap();
        let admin = Admin::new(store, xelion, AdminSettings::default());
        Supervisor {
            watch_every,
            ..Supervisor::new(admin)
        }
        .start()
    }

    /// Polls `ListTenants` until `done` holds (at most 10 s).
    async fn wait_for(
        supervisor: &Addr<Supervisor>,
        done: impl Fn(&[TenantStatus]) -> bool,
    ) -> Vec<TenantStatus> {
        for _ in 0..500 {
            let tenants = supervisor.send(ListTenants).await.unwrap();
            if done(&tenants) {
                return tenants;
            }
            actix::clock::sleep(Duration::from_millis(20)).await;
        }
        panic!("ListTenants never showed the expected state");
    }

    fn running(tenants: &[TenantStatus]) -> bool {
        tenants.len() == 1 && tenants[0].state.is_running() && !tenants[0].label.is_empty()
    }

    #[actix::test]
    async fn a_stopped_tenant_is_reported_dead() {
        let dir = tempdir();
        let (store, id) = store_with_a_tenant(&dir).await;
        // Never looks for stopped tenants, so the dead one stays.
        let sup = supervisor(store, Duration::from_secs(3600));
        wait_for(&sup, running).await;
        let addr = sup.send(TenantAddr(id)).await.unwrap().unwrap();
        addr.send(Stop).await.unwrap();
        let tenants = wait_for(&sup, |t| t.len() == 1 && t[0].state == TenantState::Dead).await;
        assert_eq!(tenants[0].id, id);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[actix::test]
    async fn a_tenant_that_stopped_unexpectedly_is_restarted() {
        let dir = tempdir();
        let (store, id) = store_with_a_tenant(&dir).await;
        let sup = supervisor(store, Duration::from_millis(50));
        wait_for(&sup, running).await;
        let first = sup.send(TenantAddr(id)).await.unwrap().unwrap();
        // The tenant stops without the supervisor asking (as after a panic).
        first.send(Stop).await.unwrap();
        for _ in 0..500 {
            match sup.send(TenantAddr(id)).await.unwrap() {
                Some(addr) if addr != first && addr.connected() => break,
                _ => actix::clock::sleep(Duration::from_millis(20)).await,
            }
        }
        let now = sup.send(TenantAddr(id)).await.unwrap().unwrap();
        assert!(
            now != first && now.connected(),
            "the tenant was not restarted"
        );
        let tenants = wait_for(&sup, running).await;
        assert_eq!(tenants[0].id, id);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[actix::test]
    async fn a_stopped_tenant_whose_context_is_gone_is_forgotten() {
        let dir = tempdir();
        let (store, id) = store_with_a_tenant(&dir).await;
        let sup = supervisor(store.clone(), Duration::from_millis(50));
        wait_for(&sup, running).await;
        let addr = sup.send(TenantAddr(id)).await.unwrap().unwrap();
        store.delete_xelion_context(id).await.unwrap();
        addr.send(Stop).await.unwrap();
        wait_for(&sup, <[TenantStatus]>::is_empty).await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempdir() -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xcti-supervisor-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
