//! From the socket to dispatch: each call event is routed to its deliveries, which are
//! written to the outbox (one batch in flight per tenant, the events that arrive meanwhile
//! form the next) and handed to dispatch from memory as soon as their batch commits.

use std::collections::VecDeque;
use std::time::Duration;

use actix::prelude::*;

use super::event::CallEvent;
use super::TenantActor;
use crate::dispatch::Dispatch;
use crate::store::NewDelivery;

/// Deliveries a tenant keeps while the database does not take them, before it drops the
/// oldest (and counts them).
const MAX_WAITING: usize = 100_000;

/// Deliveries on their way to the outbox.
#[derive(Debug, Default)]
pub(super) struct Handoff {
    waiting: VecDeque<NewDelivery>,
    writing: bool,
}

impl TenantActor {
    /// The entry of routing: one call event of this tenant.
    pub(super) fn hand_off(&mut self, event: CallEvent, ctx: &mut Context<Self>) {
        let deliveries = self.routes.deliveries(self.id, &event);
        if deliveries.is_empty() {
            self.stats.events_unrouted += 1;
            tracing::debug!(event = %event.event, "call event of no registered user");
            return;
        }
        self.handoff.waiting.extend(deliveries);
        while self.handoff.waiting.len() > MAX_WAITING {
            self.handoff.waiting.pop_front();
            self.stats.deliveries_dropped += 1;
        }
        self.write_outbox(ctx);
    }

    fn write_outbox(&mut self, ctx: &mut Context<Self>) {
        if self.handoff.writing || self.handoff.waiting.is_empty() {
            return;
        }
        self.handoff.writing = true;
        let batch: Vec<NewDelivery> = self.handoff.waiting.drain(..).collect();
        let writer = self.deps.pipeline.writer.clone();
        let copy = batch.clone();
        ctx.spawn(
            async move { writer.accept(copy).await }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    act.handoff.writing = false;
                    match res {
                        Ok(accepted) => {
                            act.stats.deliveries_accepted += accepted.len() as u64;
                            act.stats.duplicates_dropped += (batch.len() - accepted.len()) as u64;
                            if !accepted.is_empty() {
                                act.deps.pipeline.dispatch.do_send(Dispatch(accepted));
                            }
                            act.write_outbox(ctx);
                        }
                        Err(e) => {
                            let _span = act.span.clone().entered();
                            let mut batch = batch;
                            if e.is_refusal() {
                                // A user, crm context or mapping was deleted meanwhile: its
                                // deliveries would be refused again forever. The rest go again.
                                let before = batch.len();
                                batch.retain(|d| act.routes.still_routes(d));
                                let gone = (before - batch.len()) as u64;
                                act.stats.deliveries_dropped += gone;
                                tracing::info!(dropped = gone, "deliveries of a deleted user or mapping dropped");
                            }
                            tracing::warn!(error = %e, deliveries = batch.len(), "the outbox did not take deliveries; trying again");
                            for d in batch.into_iter().rev() {
                                act.handoff.waiting.push_front(d);
                            }
                            ctx.run_later(Duration::from_secs(1), |act, ctx| act.write_outbox(ctx));
                        }
                    }
                }),
        );
    }
}
