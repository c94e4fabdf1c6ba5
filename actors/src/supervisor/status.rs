//! `GET /api/xelion-environment/{id}/status`: a tenant's event session, asked of its actor
//! once the caller is known to see that tenant.

use std::time::Duration;

use actix::prelude::*;

use super::Supervisor;
use crate::domain::XelionContextId as Id;
use crate::error::ApiError;
use crate::tenant::{GetStatus, TenantState, TenantStatus};

/// The status of one tenant, for an authenticated caller of its scope.
#[derive(Debug)]
pub struct GetTenantStatus {
    /// `Authorization: xelion <token>`.
    pub token: Option<String>,
    /// The xelion context.
    pub xelion_context_id: Id,
}

impl Message for GetTenantStatus {
    type Result = Result<TenantStatus, ApiError>;
}

impl Handler<GetTenantStatus> for Supervisor {
    type Result = ResponseFuture<Result<TenantStatus, ApiError>>;

    fn handle(&mut self, msg: GetTenantStatus, _: &mut Context<Self>) -> Self::Result {
        let admin = self.admin.clone();
        let id = msg.xelion_context_id;
        let tenant = self.tenants.get(&id).cloned();
        Box::pin(async move {
            let scope = admin.authenticate(msg.token.as_deref()).await?;
            // Answers 404 for a context outside the caller's tenant, like every other call.
            admin.get_environment(&scope, id).await?;
            let Some(tenant) = tenant else {
                return Ok(TenantStatus::not_running(id, TenantState::Stopped));
            };
            Ok(
                match tenant.send(GetStatus).timeout(Duration::from_secs(5)).await {
                    Ok(status) => status,
                    Err(MailboxError::Closed) => TenantStatus::not_running(id, TenantState::Dead),
                    Err(MailboxError::Timeout) => {
                        TenantStatus::not_running(id, TenantState::Unresponsive)
                    }
                },
            )
        })
    }
}
