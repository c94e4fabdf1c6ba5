//! `api/xelion-environment/{id}`: where a xelion context's tenant lives, and its stored
//! admin credentials. Every change is verified by an admin login at Xelion first.

use super::validate::{non_empty, normalize_host};
use super::{endpoint, Admin, Scope, TenantChange};
use crate::api::{AdminPasswordUpdate, AdminUsernameUpdate, XelionEnvironment};
use crate::domain::XelionContextId;
use crate::error::ApiError;
use crate::secrets::Secret;
use crate::store::XelionContext;

impl Admin {
    /// `GET /api/xelion-environment/{id}`.
    pub async fn get_environment(
        &self,
        scope: &Scope,
        xid: XelionContextId,
    ) -> Result<XelionEnvironment, ApiError> {
        let ctx = self.scoped_context(scope, xid).await?;
        Ok(XelionEnvironment {
            host: ctx.host,
            protocol: ctx.protocol,
            tenant: ctx.tenant,
        })
    }

    /// `PUT /api/xelion-environment/{id}`: verified by an admin login at the new place; the
    /// sessions of the old host and tenant end.
    pub async fn put_environment(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        env: XelionEnvironment,
    ) -> Result<TenantChange, ApiError> {
        let ctx = self.scoped_context(scope, xid).await?;
        let host = normalize_host(&env.host)?;
        let tenant = non_empty("tenant", &env.tenant)?;
        let moved = XelionContext {
            host: host.clone(),
            tenant: tenant.clone(),
            protocol: env.protocol,
            ..ctx.clone()
        };
        let (ep, xsession) = self.stored_admin_session(&moved).await?;
        self.xelion.logout(&ep, &xsession).await;
        self.store
            .update_xelion_environment(xid, &host, &tenant, env.protocol)
            .await?;
        if !ctx.host.eq_ignore_ascii_case(&host) || ctx.tenant != tenant {
            self.store
                .delete_sessions_for(&ctx.host, &ctx.tenant)
                .await?;
        }
        Ok(TenantChange::Changed(xid))
    }

    /// `POST /api/xelion-environment/{id}/admin/username/update`.
    pub async fn update_admin_username(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        req: AdminUsernameUpdate,
    ) -> Result<TenantChange, ApiError> {
        let ctx = self.scoped_context(scope, xid).await?;
        let new = non_empty("newUsername", &req.new_username)?;
        if req.old_username != ctx.admin_username {
            return Err(ApiError::bad_payload(
                "oldUsername: does not match the stored admin username",
            ));
        }
        let ep = endpoint(&ctx);
        let password = self.store.admin_password(xid).await?;
        let xsession = self.require_admin(&ep, &new, &password).await?;
        self.xelion.logout(&ep, &xsession).await;
        self.store.update_admin_username(xid, &new).await?;
        Ok(TenantChange::Changed(xid))
    }

    /// `POST /api/xelion-environment/{id}/admin/password/update`.
    pub async fn update_admin_password(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        req: AdminPasswordUpdate,
    ) -> Result<TenantChange, ApiError> {
        let ctx = self.scoped_context(scope, xid).await?;
        let stored = self.store.admin_password(xid).await?;
        if !constant_time_eq(stored.expose().as_bytes(), req.old_password.as_bytes()) {
            return Err(ApiError::bad_payload(
                "oldPassword: does not match the stored admin password",
            ));
        }
        if req.new_password.is_empty() {
            return Err(ApiError::bad_payload("newPassword: must not be empty"));
        }
        let ep = endpoint(&ctx);
        let new = Secret::new(req.new_password);
        let xsession = self.require_admin(&ep, &ctx.admin_username, &new).await?;
        self.xelion.logout(&ep, &xsession).await;
        self.store.update_admin_password(xid, &new).await?;
        Ok(TenantChange::Changed(xid))
    }
}

/// Compares without an early exit, so the time taken says nothing about the stored password.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
