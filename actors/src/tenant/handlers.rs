//! The messages a tenant answers: news from its socket, reload, stop, status.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::event::Frame;
use super::socket::SocketNews;
use super::{TenantActor, TenantState, TenantStatus};
use crate::clock::now_unix;

/// News from the socket loop of generation `gen`.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct News {
    pub(super) gen: u64,
    pub(super) news: SocketNews,
}

impl Handler<News> for TenantActor {
    type Result = ();
    fn handle(&mut self, msg: News, ctx: &mut Context<Self>) {
        if msg.gen != self.gen {
            return;
        }
        let _span = self.span.clone().entered();
        match msg.news {
            SocketNews::Frame(Frame::Event(event)) => {
                self.stats.events += 1;
                *self.stats.by_type.entry(event.event).or_default() += 1;
                self.deps
                    .settings
                    .metrics
                    .event_received(self.id, event.event);
                self.stats.last_event_at = Some(now_unix());
                self.hand_off(event, ctx);
            }
            SocketNews::Frame(Frame::Rejected(why)) => {
                *self.stats.rejected.entry(why.as_str()).or_default() += 1;
                tracing::warn!(reason = why.as_str(), "websocket frame dropped");
            }
            SocketNews::Frame(Frame::Other) => {}
            SocketNews::Subscribed(events) => {
                tracing::info!(events = ?events, "subscriptions changed");
                self.stats.subscribed = events;
            }
        }
    }
}

/// The stored configuration changed: load it again. `taken`, if given, is answered once the
/// tenant runs on a configuration read after this message, or that load failed (it is tried
/// again later), or the tenant stopped (the sender is dropped).
#[derive(Message, Default)]
#[rtype(result = "()")]
pub struct Reload {
    pub taken: Option<oneshot::Sender<()>>,
}

impl Handler<Reload> for TenantActor {
    type Result = ();
    fn handle(&mut self, msg: Reload, ctx: &mut Context<Self>) {
        let load = self.reload(ctx);
        if let Some(taken) = msg.taken {
            self.load_waiters.push((load, taken));
        }
    }
}

/// The tenant was deleted or the server stops: close the socket, log out, stop. Answers when
/// the logout is done (or timed out).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

impl Handler<Stop> for TenantActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        self.stats.enter(TenantState::Stopped);
        let endpoint = self.config.as_ref().map(|c| c.endpoint.clone());
        let logout = self.end_session(endpoint);
        Box::pin(
            async move {
                if let Some(logout) = logout {
                    logout.await;
                }
            }
            .into_actor(self)
            .map(|(), _, ctx| ctx.stop()),
        )
    }
}

/// Asks a tenant for its status.
#[derive(Message)]
#[rtype(result = "TenantStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for TenantActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let mappings = self.config.as_ref().map_or(0, |c| c.mappings);
        MessageResult(self.stats.status(self.id, &self.label, mappings))
    }
}
