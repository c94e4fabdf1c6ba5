//! Dispatch: deliveries rendered and sent to the CRM, in order per call, with retries.
//! `render` turns a mapping and a call event into the request to send (templates compiled once
//! per mapping version), `outcome` turns the answer into a verdict and the time of the next
//! attempt, `lanes` keeps the order and fairness, `send` makes one attempt and `actor` runs it.

pub mod actor;
mod cache;
pub mod lanes;
pub mod outcome;
pub mod render;
pub mod send;

use actix::Addr;

pub use actor::{
    Dispatch, DispatchActor, DispatchSettings, Drain, Drained, PollNow, TenantChanged,
};

use crate::outbox::OutboxWriter;

/// Where a tenant's deliveries go: the outbox writer, then dispatch.
#[derive(Clone)]
pub struct Pipeline {
    pub writer: OutboxWriter,
    pub dispatch: Addr<DispatchActor>,
}
