//! The admin commands: what each endpoint of the CTI API document does, against storage and
//! Xelion. The supervisor runs these on behalf of the HTTP handlers, which never see storage.
//!
//! One module per resource, as in `src/http/`: `session` (login, logout, and the
//! authentication the other commands run behind), `integrations` (with the user credentials
//! of a crm context), `users`, `environment`, `mappings`, `preview` (a mapping rendered for a
//! sample event), `deliveries` (the delivery log). A command that needs a caller
//! takes a [`Scope`], never a token: `messages.rs` authenticates before the command runs.
//! What the commands share lives here: the lookups that stay inside a scope, and the Xelion
//! admin login.

mod deliveries;
mod environment;
mod integrations;
mod limiter;
mod mappings;
mod preview;
mod session;
mod users;
mod validate;
mod views;

pub use preview::{DELIVERY_ID_PLACEHOLDER, TOKEN_PLACEHOLDER};
pub(crate) use validate::{check_http_url, non_empty};
pub use validate::{normalize_host, validate_mappings};

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{CrmContextId, UserId, XelionContextId};
use crate::error::{ApiError, What};
use crate::secrets::Secret;
use crate::store::{ApiSession, CrmContext, Store, UserCredentials, XelionContext};
use crate::xelion::{AdminCheck, XelionClient, XelionEndpoint, XelionSession};
use limiter::LoginLimiter;

/// Settings of the admin commands.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// How long an API token lives.
    pub session_ttl: Duration,
    /// Failed login attempts allowed per source address per minute (0: no limit).
    pub failed_logins_per_source: u32,
    /// Failed login attempts allowed per (host, tenant, user) per minute (0: no limit).
    pub failed_logins_per_user: u32,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            session_ttl: Duration::from_secs(8 * 3600),
            failed_logins_per_source: 30,
            failed_logins_per_user: 10,
        }
    }
}

/// Executes admin commands (cheap to clone).
#[derive(Clone)]
pub struct Admin {
    store: Store,
    xelion: XelionClient,
    settings: AdminSettings,
    /// Shared by every clone, so the limits hold across concurrent commands.
    limiter: Arc<LoginLimiter>,
}

/// What a change did to a tenant, so the supervisor can tell the running pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantChange {
    /// Created or changed: (re)load it.
    Changed(XelionContextId),
    /// Deleted: stop it.
    Deleted(XelionContextId),
    /// A user of the tenant changed: reload the tenant and the user's token actor (its
    /// credentials may have changed; it is un-parked).
    UserChanged(XelionContextId, UserId),
    /// A user of the tenant was deleted: reload the tenant, stop the user's token actor.
    UserDeleted(XelionContextId, UserId),
    /// A crm context's fields changed: reload the tenant and the token actors of its users
    /// (the token endpoint may have changed).
    CrmContextChanged(XelionContextId, Vec<UserId>),
    /// A crm context was deleted with these users: reload the tenant, stop their token
    /// actors.
    CrmContextDeleted(XelionContextId, Vec<UserId>),
}

/// An authenticated caller: the API session its token opened. It sees the objects of one
/// Xelion (host, tenant) only; anything else answers 404, like an object that does not exist.
#[derive(Debug, Clone)]
pub struct Scope {
    session: ApiSession,
    /// The stored form of the caller's token, so logout can end exactly this session.
    token_hash: String,
}

impl Scope {
    /// The API session behind the token.
    pub fn session(&self) -> &ApiSession {
        &self.session
    }

    /// Whether a xelion context belongs to this caller's (host, tenant).
    fn covers(&self, ctx: &XelionContext) -> bool {
        self.session.host.eq_ignore_ascii_case(&ctx.host) && self.session.tenant == ctx.tenant
    }
}

impl Admin {
    /// Commands over a store and a Xelion client.
    pub fn new(store: Store, xelion: XelionClient, settings: AdminSettings) -> Self {
        Admin {
            limiter: Arc::new(LoginLimiter::new(
                settings.failed_logins_per_source,
                settings.failed_logins_per_user,
            )),
            store,
            xelion,
            settings,
        }
    }

    /// The store (for the supervisor's own bookkeeping).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The Xelion client (shared with the tenants).
    pub fn xelion(&self) -> &XelionClient {
        &self.xelion
    }

    /// A xelion context in the caller's scope; others (and unknown ids) are 404.
    async fn scoped_context(
        &self,
        scope: &Scope,
        id: XelionContextId,
    ) -> Result<XelionContext, ApiError> {
        match self.store.xelion_context(id).await? {
            Some(ctx) if scope.covers(&ctx) => Ok(ctx),
            _ => Err(ApiError::NotFound(What::XelionContext(id))),
        }
    }

    /// A crm context of a xelion context in the caller's scope.
    async fn scoped_crm_context(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        cid: CrmContextId,
    ) -> Result<(XelionContext, CrmContext), ApiError> {
        let ctx = self.scoped_context(scope, xid).await?;
        let crm = self
            .store
            .crm_context(xid, cid)
            .await?
            .ok_or(ApiError::NotFound(What::CrmContext(cid, xid)))?;
        Ok((ctx, crm))
    }

    /// A user in the caller's scope; one of another tenant is 404 as `user {uid}`, so its
    /// existence does not leak.
    async fn scoped_user(
        &self,
        scope: &Scope,
        uid: UserId,
    ) -> Result<(XelionContext, UserCredentials), ApiError> {
        let not_found = || ApiError::NotFound(What::User(uid));
        let user = self.store.user(uid).await?.ok_or_else(not_found)?;
        let ctx = self
            .scoped_context(scope, user.xelion_context_id)
            .await
            .map_err(|_| not_found())?;
        Ok((ctx, user))
    }

    /// Logs in at Xelion and insists on an administrator; the session stays open.
    async fn require_admin(
        &self,
        ep: &XelionEndpoint,
        user: &str,
        password: &Secret,
    ) -> Result<XelionSession, ApiError> {
        match self.xelion.verify_admin(ep, user, password).await {
            Ok(AdminCheck::Admin(session)) => Ok(session),
            Ok(AdminCheck::NotAdmin) => Err(ApiError::NotAdministrator {
                user: user.to_string(),
                tenant: ep.tenant.clone(),
                host: ep.host.clone(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// An open admin session at a stored context, with the stored credentials.
    async fn stored_admin_session(
        &self,
        ctx: &XelionContext,
    ) -> Result<(XelionEndpoint, XelionSession), ApiError> {
        let ep = endpoint(ctx);
        let password = self.store.admin_password(ctx.id).await?;
        let session = self
            .require_admin(&ep, &ctx.admin_username, &password)
            .await?;
        Ok((ep, session))
    }
}

/// The REST endpoint of a stored context.
pub fn endpoint(ctx: &XelionContext) -> XelionEndpoint {
    XelionEndpoint {
        protocol: ctx.protocol,
        host: ctx.host.clone(),
        tenant: ctx.tenant.clone(),
    }
}
