//! `Supervisor`: owns the tenants and runs every admin command.
//!
//! HTTP handlers send it one message per endpoint (see [`crate::messages`]); it runs the
//! command and, when the command changed a tenant, tells that tenant's actor at once.

mod shutdown;

use std::collections::HashMap;

use actix::prelude::*;

use crate::admin::{Admin, TenantChange};
use crate::store::Id;
use crate::tenant::{GetStatus, Reload, Stop, TenantActor, TenantStatus};

pub use shutdown::Shutdown;

/// The root actor.
pub struct Supervisor {
    pub(crate) admin: Admin,
    tenants: HashMap<Id, Addr<TenantActor>>,
}

impl Supervisor {
    /// A supervisor over the admin commands (and their store).
    pub fn new(admin: Admin) -> Self {
        Supervisor {
            admin,
            tenants: HashMap::new(),
        }
    }

    /// Tells the running pipeline about a change.
    pub(crate) fn apply(&mut self, change: TenantChange) {
        match change {
            TenantChange::Changed(id) => match self.tenants.get(&id) {
                Some(addr) if addr.connected() => addr.do_send(Reload),
                _ => {
                    let addr = TenantActor::new(id, self.admin.store().clone()).start();
                    self.tenants.insert(id, addr);
                }
            },
            TenantChange::Deleted(id) => {
                if let Some(addr) = self.tenants.remove(&id) {
                    addr.do_send(Stop);
                }
            }
        }
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
                        for c in contexts {
                            act.apply(TenantChange::Changed(c.id));
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "tenants could not be listed"),
                }),
        );
    }
}

/// The status of every running tenant.
#[derive(Message)]
#[rtype(result = "Vec<TenantStatus>")]
pub struct ListTenants;

impl Handler<ListTenants> for Supervisor {
    type Result = ResponseFuture<Vec<TenantStatus>>;
    fn handle(&mut self, _: ListTenants, _: &mut Context<Self>) -> Self::Result {
        let addrs: Vec<_> = self.tenants.values().cloned().collect();
        Box::pin(async move {
            let mut out = Vec::with_capacity(addrs.len());
            for a in addrs {
                if let Ok(s) = a.send(GetStatus).await {
                    out.push(s);
                }
            }
            out.sort_by_key(|s| s.id);
            out
        })
    }
}
