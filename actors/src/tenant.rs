//! `TenantActor`: one per Xelion context, the owner of that tenant's running state.
//!
//! It (re)loads its context whenever the admin API changes it, so a change reaches the
//! running tenant at once. The Xelion event session and websocket live here.

pub mod backoff;
pub mod event;
pub mod gate;
pub mod socket;

use actix::prelude::*;

use crate::domain::XelionContextId;
use crate::store::Store;

/// The actor of one Xelion context.
pub struct TenantActor {
    id: XelionContextId,
    store: Store,
    /// `host/tenant`, for logs and the status page.
    label: String,
    /// How many mappings the tenant currently has (across its crm contexts).
    mappings: usize,
}

impl TenantActor {
    /// A tenant for a stored xelion context.
    pub fn new(id: XelionContextId, store: Store) -> Self {
        TenantActor {
            id,
            store,
            label: String::new(),
            mappings: 0,
        }
    }

    fn reload(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let id = self.id;
        let load = async move {
            let Some(xctx) = store.xelion_context(id).await? else {
                return Ok::<_, crate::store::StoreError>(None);
            };
            let mut mappings = 0;
            for crm in store.crm_contexts(id).await? {
                mappings += store.mappings(crm.id).await?.len();
            }
            Ok(Some((format!("{}/{}", xctx.host, xctx.tenant), mappings)))
        };
        ctx.spawn(load.into_actor(self).map(|res, act, ctx| match res {
            Ok(Some((label, mappings))) => {
                tracing::info!(tenant = %label, id = %act.id, mappings, "tenant loaded");
                act.label = label;
                act.mappings = mappings;
            }
            Ok(None) => ctx.stop(),
            Err(e) => tracing::warn!(id = %act.id, error = %e, "tenant could not be loaded"),
        }));
    }
}

impl Actor for TenantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
        self.reload(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::info!(tenant = %self.label, id = %self.id, "tenant stopped");
    }
}

/// The stored configuration changed: load it again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload;

impl Handler<Reload> for TenantActor {
    type Result = ();
    fn handle(&mut self, _: Reload, ctx: &mut Context<Self>) {
        self.reload(ctx);
    }
}

/// The tenant was deleted: stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

impl Handler<Stop> for TenantActor {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// What the status page and health endpoint show of a tenant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantStatus {
    /// The xelion context id.
    pub id: XelionContextId,
    /// `host/tenant` (empty when the actor did not answer).
    pub label: String,
    /// Mappings across its crm contexts.
    pub mappings: usize,
    /// Whether the actor answered.
    pub state: TenantState,
}

impl TenantStatus {
    /// The status of a tenant whose actor did not answer: all the supervisor knows is its id.
    pub fn not_running(id: XelionContextId, state: TenantState) -> Self {
        TenantStatus {
            id,
            label: String::new(),
            mappings: 0,
            state,
        }
    }
}

/// Whether a tenant's actor is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantState {
    /// It answered.
    Running,
    /// It has stopped; the supervisor restarts it shortly if its context still exists.
    Dead,
    /// It did not answer in time (busy or stuck).
    Unresponsive,
}

/// Asks a tenant for its status.
#[derive(Message)]
#[rtype(result = "TenantStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for TenantActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(TenantStatus {
            id: self.id,
            label: self.label.clone(),
            mappings: self.mappings,
            state: TenantState::Running,
        })
    }
}
