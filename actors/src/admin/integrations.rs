//! `api/crm-integrations`: create (with an implicit login), read, delete, and the
//! `user-credentials` of a crm context.

use std::collections::HashSet;

use super::limiter::is_refusal;
use super::validate::{crm_context_fields, non_empty, normalize_host, validate_mappings};
use super::views::{crm_view, user_credentials_view, xelion_view};
use super::{Admin, Scope, TenantChange};
use crate::api::{
    CrmContextRequest, CrmContextView, CrmIntegrationRequest, CrmIntegrationResponse, Protocol,
    UserCredentialsRequest, UserCredentialsView,
};
use crate::domain::{CrmContextId, XelionContextId};
use crate::error::{ApiError, What};
use crate::secrets::Secret;
use crate::store::{NewIntegration, NewUserCredentials, StoreError};
use crate::xelion::{XelionEndpoint, XelionSession};

impl Admin {
    /// `POST /api/crm-integrations`: no token; the admin credentials of the payload are the
    /// authentication.
    pub async fn create_integration(
        &self,
        req: CrmIntegrationRequest,
        source: &str,
    ) -> Result<(CrmIntegrationResponse, TenantChange), ApiError> {
        let x = req.xelion_context;
        let host = normalize_host(&x.host)?;
        let tenant = non_empty("xelionContext.tenant", &x.tenant)?;
        let admin_username = non_empty("xelionContext.adminUsername", &x.admin_username)?;
        // Everything that needs no login is checked first; only then does the login count
        // (if it fails) against the login rate limit.
        let policy = self.xelion.policy();
        let (authorization_server_uri, authorization_header_prefix) =
            crm_context_fields("crmContext.", &req.crm_context, policy)?;
        let mappings = validate_mappings(&req.event_uri_mappings, "eventUriMappings", policy)?;
        check_user_names(&req.user_credentials, "userCredentials")?;
        let attempt = self
            .limiter
            .attempt(source, &host, &tenant, &admin_username);
        self.limiter.check(&attempt)?;
        let protocol = x.protocol.unwrap_or(Protocol::Https);
        let ep = XelionEndpoint {
            protocol,
            host: host.clone(),
            tenant: tenant.clone(),
        };
        let password = Secret::new(x.admin_password);
        let session = self
            .require_admin(&ep, &admin_username, &password)
            .await
            .inspect_err(|e| {
                if is_refusal(e) {
                    self.limiter.failed(&attempt);
                }
            })?;
        let users = self
            .resolve_users(&ep, &session, req.user_credentials, "userCredentials")
            .await;
        self.xelion.logout(&ep, &session).await;
        let users = users?;
        let (xctx, crm) = self
            .store
            .create_integration(NewIntegration {
                host,
                tenant,
                protocol,
                admin_username,
                admin_password: password,
                authorization_server_uri,
                authorization_header_prefix,
                users,
                mappings: mappings.into_iter().map(|(_, m)| m).collect(),
            })
            .await?;
        Ok((
            CrmIntegrationResponse {
                crm_context: crm_view(&crm),
                xelion_context: xelion_view(&xctx),
                crm_contexts: None,
            },
            TenantChange::Changed(xctx.id),
        ))
    }

    /// `GET /api/crm-integrations?xelionHost&xelionTenant`; either left out is the token's.
    pub async fn get_integration(
        &self,
        scope: &Scope,
        host: Option<&str>,
        tenant: Option<&str>,
    ) -> Result<CrmIntegrationResponse, ApiError> {
        let host = normalize_host(host.unwrap_or(&scope.session.host)).map_err(|_| {
            ApiError::bad_parameter(format!(
                "xelionHost: `{}` is not a host name with an optional port",
                host.unwrap_or_default()
            ))
        })?;
        let tenant = tenant.unwrap_or(&scope.session.tenant);
        let not_found = || {
            ApiError::NotFound(What::Integration {
                host: host.clone(),
                tenant: tenant.to_string(),
            })
        };
        let ctx = match self.store.find_xelion_context(&host, tenant).await? {
            Some(ctx) if scope.covers(&ctx) => ctx,
            _ => return Err(not_found()),
        };
        let crms = self.store.crm_contexts(ctx.id).await?;
        let first = crms.first().ok_or_else(not_found)?;
        Ok(CrmIntegrationResponse {
            crm_context: crm_view(first),
            xelion_context: xelion_view(&ctx),
            crm_contexts: Some(crms.iter().map(crm_view).collect()),
        })
    }

    /// `DELETE /api/crm-integrations/{id}`.
    pub async fn delete_integration(
        &self,
        scope: &Scope,
        xid: XelionContextId,
    ) -> Result<TenantChange, ApiError> {
        let ctx = self.scoped_context(scope, xid).await?;
        self.store.delete_xelion_context(ctx.id).await?;
        Ok(TenantChange::Deleted(ctx.id))
    }

    /// `PUT /api/crm-integrations/{xid}/crm-contexts/{cid}`: replaces the crm context's
    /// fields, checked as `POST /api/crm-integrations` checks its `crmContext`. 409 with the
    /// other's id if another crm context of the xelion context has them.
    pub async fn update_crm_context(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        cid: CrmContextId,
        req: CrmContextRequest,
    ) -> Result<(CrmContextView, TenantChange), ApiError> {
        let (ctx, crm) = self.scoped_crm_context(scope, xid, cid).await?;
        let (uri, prefix) = crm_context_fields("", &req, self.xelion.policy())?;
        let updated = self
            .store
            .update_crm_context(ctx.id, crm.id, &uri, &prefix)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::NotFound(What::CrmContext(cid, xid)),
                other => other.into(),
            })?;
        let users = self.store.users(crm.id, None, None).await?;
        Ok((
            crm_view(&updated),
            TenantChange::CrmContextChanged(ctx.id, users.iter().map(|u| u.id).collect()),
        ))
    }

    /// `DELETE /api/crm-integrations/{xid}/crm-contexts/{cid}`: the crm context, its users
    /// (with their deliveries) and its mappings.
    pub async fn delete_crm_context(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        cid: CrmContextId,
    ) -> Result<TenantChange, ApiError> {
        let (ctx, crm) = self.scoped_crm_context(scope, xid, cid).await?;
        let users = self
            .store
            .delete_crm_context(ctx.id, crm.id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::NotFound(What::CrmContext(cid, xid)),
                other => other.into(),
            })?;
        Ok(TenantChange::CrmContextDeleted(ctx.id, users))
    }

    /// `GET .../user-credentials?username&oid`.
    pub async fn list_users(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        cid: CrmContextId,
        username: Option<&str>,
        oid: Option<&str>,
    ) -> Result<Vec<UserCredentialsView>, ApiError> {
        let (_, crm) = self.scoped_crm_context(scope, xid, cid).await?;
        let users = self.store.users(crm.id, username, oid).await?;
        Ok(users.iter().map(user_credentials_view).collect())
    }

    /// `POST .../user-credentials`.
    pub async fn add_users(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        cid: CrmContextId,
        users: Vec<UserCredentialsRequest>,
    ) -> Result<(Vec<UserCredentialsView>, TenantChange), ApiError> {
        let (ctx, crm) = self.scoped_crm_context(scope, xid, cid).await?;
        if users.is_empty() {
            return Err(ApiError::EmptyPayload(
                "the request names no user; send an array of user credentials",
            ));
        }
        check_user_names(&users, "")?;
        let (ep, xsession) = self.stored_admin_session(&ctx).await?;
        let resolved = self.resolve_users(&ep, &xsession, users, "").await;
        self.xelion.logout(&ep, &xsession).await;
        let added = self.store.add_users(ctx.id, crm.id, resolved?).await?;
        Ok((
            added.iter().map(user_credentials_view).collect(),
            TenantChange::Changed(ctx.id),
        ))
    }

    /// Resolves user names to oids with an open admin session; 422 for an unknown user.
    /// [`check_user_names`] has run.
    async fn resolve_users(
        &self,
        ep: &XelionEndpoint,
        session: &XelionSession,
        users: Vec<UserCredentialsRequest>,
        path: &str,
    ) -> Result<Vec<NewUserCredentials>, ApiError> {
        let mut out = Vec::with_capacity(users.len());
        for (i, u) in users.into_iter().enumerate() {
            let name = non_empty(&format!("{path}[{i}].xelionUsername"), &u.xelion_username)?;
            let found = self
                .xelion
                .find_user(ep, &session.authentication, &name)
                .await?;
            let Some(user) = found else {
                return Err(ApiError::UnknownXelionUser {
                    field: format!("{path}[{i}].xelionUsername"),
                    tenant: ep.tenant.clone(),
                    name,
                });
            };
            out.push(NewUserCredentials {
                xelion_username: user.user_name,
                xelion_oid: user.oid,
                client_id: u.client_id.filter(|s| !s.is_empty()),
                client_secret: u.client_secret.filter(|s| !s.is_empty()).map(Secret::new),
                device_code: u.device_code.filter(|s| !s.is_empty()).map(Secret::new),
                refresh_token: u.refresh_token.filter(|s| !s.is_empty()).map(Secret::new),
            });
        }
        Ok(out)
    }
}

/// The user names of a request: present, and each once (checked before any Xelion call).
fn check_user_names(users: &[UserCredentialsRequest], path: &str) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    for (i, u) in users.iter().enumerate() {
        let name = non_empty(&format!("{path}[{i}].xelionUsername"), &u.xelion_username)?;
        if !seen.insert(name.to_lowercase()) {
            return Err(ApiError::Conflict(format!(
                "{path}[{i}].xelionUsername: `{name}` appears twice in the request"
            )));
        }
    }
    Ok(())
}
