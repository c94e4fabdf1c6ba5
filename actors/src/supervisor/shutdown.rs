//! Stopping in order: the tenants first (they hand back their work and log out), then the
//! dispatcher (the CRM requests in flight finish, within a deadline), then the outbox writer
//! (it commits what is queued), then the store, so that nothing is written after the pool is
//! closed.

use actix::prelude::*;
use futures_util::future::join_all;

use super::Supervisor;
use crate::dispatch::actor::Drain;
use crate::tenant::Stop;

/// The server is stopping: stop every tenant, drain the dispatcher, stop the outbox writer,
/// then close the store. Answers when done; the supervisor stops after it, so later commands
/// answer 503.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        let tenants: Vec<_> = self.tenants.drain().map(|(_, addr)| addr).collect();
        let store = self.admin.store().clone();
        let outbox = self.pipeline.writer.clone();
        let dispatch = self.pipeline.dispatch.clone();
        let deadline = self.drain_deadline;
        Box::pin(
            async move {
                let count = tenants.len();
                join_all(tenants.iter().map(|t| t.send(Stop))).await;
                tracing::info!(tenants = count, "tenants stopped");
                match dispatch.send(Drain { deadline }).await {
                    Ok(d) if d.unfinished > 0 => tracing::warn!(
                        in_flight = d.in_flight,
                        unfinished = d.unfinished,
                        "CRM requests still in flight at the shutdown deadline; they are sent again after the next start"
                    ),
                    Ok(d) => tracing::info!(in_flight = d.in_flight, "dispatch drained: the CRM requests in flight finished"),
                    Err(e) => tracing::warn!(error = %e, "the dispatcher did not answer the drain"),
                }
                outbox.close().await;
                tracing::info!("outbox writer stopped");
                store.close().await;
                tracing::info!("store closed");
            }
            .into_actor(self)
            .map(|(), _, ctx| ctx.stop()),
        )
    }
}
