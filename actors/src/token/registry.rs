//! The registry: one [`TokenActor`] per owner (user or app context), started by the first
//! request for that owner and forgotten once it stopped (idle) or the owner was deleted.
//!
//! Every request passes through here in order, so a reload is queued at an owner's actor ahead
//! of any request sent after it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use tokio::sync::broadcast;

use super::actor::{Reload, Shared, Stop, TokenActor};
use super::published::Published;
use super::{Request, TokenSettings};
use crate::domain::{TokenOwner, UserId};
use crate::outbound::GuardedClient;
use crate::store::Store;

/// A request for an owner's actor.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Route {
    pub owner: TokenOwner,
    pub request: Request,
}

/// The owner's credentials changed.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct ReloadOwner(pub TokenOwner);

/// The owner was deleted.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Forget(pub TokenOwner);

/// The registry actor.
pub(super) struct Registry {
    shared: Arc<Shared>,
    actors: HashMap<TokenOwner, Addr<TokenActor>>,
    unparked: broadcast::Sender<UserId>,
}

impl Registry {
    pub fn new(
        store: Store,
        http: GuardedClient,
        settings: TokenSettings,
        unparked: broadcast::Sender<UserId>,
        published: Arc<Published>,
    ) -> Self {
        Registry {
            shared: Arc::new(Shared {
                store,
                http,
                settings,
                methods: Mutex::new(HashMap::new()),
                published,
            }),
            actors: HashMap::new(),
            unparked,
        }
    }

    /// The running actor of an owner, started if there is none.
    fn actor(&mut self, owner: TokenOwner) -> Addr<TokenActor> {
        match self.actors.get(&owner) {
            Some(addr) if addr.connected() => addr.clone(),
            _ => {
                let addr = TokenActor::new(owner, self.shared.clone()).start();
                self.actors.insert(owner, addr.clone());
                addr
            }
        }
    }

    /// Forgets the actors that stopped.
    fn sweep(&mut self, _: &mut Context<Self>) {
        self.actors.retain(|_, addr| addr.connected());
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.shared.settings.idle_after, Self::sweep);
    }
}

impl Handler<Route> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Route, _: &mut Context<Self>) {
        // `do_send` ignores the mailbox capacity, so a burst is queued, not refused. An actor
        // that stops before answering drops the reply: the caller routes again.
        self.actor(msg.owner).do_send(msg.request);
    }
}

impl Handler<ReloadOwner> for Registry {
    type Result = ();

    fn handle(&mut self, msg: ReloadOwner, _: &mut Context<Self>) {
        if let Some(addr) = self.actors.get(&msg.0).filter(|a| a.connected()) {
            addr.do_send(Reload);
        }
        // Only deliveries wait for an un-parking; no subscriber is fine.
        if let Some(user) = msg.0.user() {
            let _ = self.unparked.send(user);
        }
    }
}

impl Handler<Forget> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Forget, _: &mut Context<Self>) {
        if let Some(addr) = self.actors.remove(&msg.0) {
            addr.do_send(Stop);
        }
    }
}

/// How many token actors run (tests only).
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "usize")]
pub(super) struct RunningActors;

#[cfg(test)]
impl Handler<RunningActors> for Registry {
    type Result = usize;

    fn handle(&mut self, _: RunningActors, ctx: &mut Context<Self>) -> usize {
        self.sweep(ctx);
        self.actors.len()
    }
}
