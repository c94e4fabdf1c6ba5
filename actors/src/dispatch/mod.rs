//! Dispatch: deliveries rendered and sent to the CRM, in order per call, with retries.

pub mod actor;
pub mod lanes;
pub mod send;

use actix::Addr;

pub use actor::{Dispatch, DispatchActor, DispatchSettings, PollNow, TenantChanged};

use crate::outbox::OutboxWriter;

/// Where a tenant's deliveries go: the outbox writer, then dispatch.
#[derive(Clone)]
pub struct Pipeline {
    pub writer: OutboxWriter,
    pub dispatch: Addr<DispatchActor>,
}
