//! The admin commands: what each endpoint of the CTI API document does, against storage and
//! Xelion. The supervisor runs these on behalf of the HTTP handlers, which never see storage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use cti_el::{PayloadTemplate, UriTemplate};
use rand::RngCore;

use crate::api::*;
use crate::clock::{now_unix, xelion_date};
use crate::error::{codes, xelion_error, ApiError};
use crate::secrets::{token_hash, Secret};
use crate::store::{
    ApiSession, CredentialKind, CrmContext, EventUriMapping, Id, NewIntegration, NewMapping,
    NewUserCredentials, Store, UserCredentials, XelionContext,
};
use crate::xelion::{AdminCheck, XelionClient, XelionEndpoint, XelionSession};

/// Settings of the admin commands.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// How long an API token lives.
    pub session_ttl: Duration,
    /// Login attempts allowed per source address per minute.
    pub logins_per_source_per_minute: u32,
    /// Login attempts allowed per (host, tenant, user) per minute.
    pub logins_per_user_per_minute: u32,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            session_ttl: Duration::from_secs(8 * 3600),
            logins_per_source_per_minute: 30,
            logins_per_user_per_minute: 10,
        }
    }
}

/// Executes admin commands (cheap to clone).
#[derive(Clone)]
pub struct Admin {
    store: Store,
    xelion: XelionClient,
    settings: AdminSettings,
    limiter: Arc<LoginLimiter>,
}

/// What a change did to a tenant, so the supervisor can tell the running pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantChange {
    /// Created or changed: (re)load it.
    Changed(Id),
    /// Deleted: stop it.
    Deleted(Id),
}

impl Admin {
    /// Commands over a store and a Xelion client.
    pub fn new(store: Store, xelion: XelionClient, settings: AdminSettings) -> Self {
        Admin {
            store,
            xelion,
            settings,
            limiter: Arc::new(LoginLimiter::default()),
        }
    }

    /// The store (for the supervisor's own bookkeeping).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The session behind `Authorization: xelion <token>`.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<ApiSession, ApiError> {
        let token = token.ok_or_else(|| {
            ApiError::unauthenticated(
                "missing `Authorization: xelion <token>`; get a token from POST /api/session/login",
            )
        })?;
        self.store
            .find_session(&token_hash(token), now_unix())
            .await?
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "the token is unknown or expired; log in again with POST /api/session/login",
                )
            })
    }

    /// A xelion context the session may see; others (and unknown ids) are 404.
    async fn scoped_context(
        &self,
        session: &ApiSession,
        id: Id,
    ) -> Result<XelionContext, ApiError> {
        match self.store.xelion_context(id).await? {
            Some(ctx) if in_scope(session, &ctx) => Ok(ctx),
            _ => Err(ApiError::not_found(format!("xelion context {id}"))),
        }
    }

    async fn scoped_crm_context(
        &self,
        session: &ApiSession,
        xid: Id,
        cid: Id,
    ) -> Result<(XelionContext, CrmContext), ApiError> {
        let ctx = self.scoped_context(session, xid).await?;
        let crm = self.store.crm_context(xid, cid).await?.ok_or_else(|| {
            ApiError::not_found(format!("crm context {cid} of xelion context {xid}"))
        })?;
        Ok((ctx, crm))
    }

    async fn scoped_user(
        &self,
        session: &ApiSession,
        uid: Id,
    ) -> Result<(XelionContext, UserCredentials), ApiError> {
        let not_found = || ApiError::not_found(format!("user {uid}"));
        let user = self.store.user(uid).await?.ok_or_else(not_found)?;
        let ctx = self
            .scoped_context(session, user.xelion_context_id)
            .await
            .map_err(|_| not_found())?;
        Ok((ctx, user))
    }

    fn check_login_rate(
        &self,
        source: &str,
        host: &str,
        tenant: &str,
        user: &str,
    ) -> Result<(), ApiError> {
        self.limiter.check(
            &[
                (
                    format!("src:{source}"),
                    self.settings.logins_per_source_per_minute,
                ),
                (
                    format!("user:{host}/{tenant}/{}", user.to_lowercase()),
                    self.settings.logins_per_user_per_minute,
                ),
            ],
            Instant::now(),
        )
    }

    /// `POST /api/session/login`.
    pub async fn login(
        &self,
        req: SessionLoginRequest,
        source: &str,
    ) -> Result<SessionLoginResponse, ApiError> {
        let host = normalize_host(&req.host)?;
        let tenant = non_empty("tenant", &req.tenant)?;
        non_empty("adminUsername", &req.admin_username)?;
        self.limiter.check(
            &[
                (
                    format!("src:{source}"),
                    self.settings.logins_per_source_per_minute,
                ),
                (
                    format!("user:{host}/{tenant}/{}", req.admin_username.to_lowercase()),
                    self.settings.logins_per_user_per_minute,
                ),
            ],
            Instant::now(),
        )?;
        let stored = self.store.find_xelion_context(&host, &tenant).await?;
        let protocol = match (&stored, req.protocol) {
            (Some(ctx), _) => ctx.protocol.clone(),
            (None, Some(p)) => p.as_str().to_string(),
            (None, None) => "https".to_string(),
        };
        let ep = XelionEndpoint {
            protocol,
            host: host.clone(),
            tenant: tenant.clone(),
        };
        let password = Secret::new(req.admin_password);
        let session = self
            .require_admin(&ep, &req.admin_username, &password)
            .await?;
        self.xelion.logout(&ep, &session).await;

        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let valid_until = now_unix() + self.settings.session_ttl.as_secs() as i64;
        self.store
            .create_session(
                &token_hash(&token),
                &ApiSession {
                    host,
                    tenant,
                    username: req.admin_username,
                    valid_until,
                },
            )
            .await?;
        let _ = self.store.purge_sessions(now_unix()).await;
        Ok(SessionLoginResponse {
            authentication: token,
            valid_until: xelion_date(valid_until),
        })
    }

    /// `POST /api/session/logout`.
    pub async fn logout(&self, token: Option<&str>) -> Result<(), ApiError> {
        self.authenticate(token).await?;
        if let Some(token) = token {
            self.store.delete_session(&token_hash(token)).await?;
        }
        Ok(())
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
            Ok(AdminCheck::NotAdmin) => Err(ApiError::new(
                403,
                codes::NOT_ADMINISTRATOR,
                format!(
                    "`{user}` is not an administrator of tenant `{}` at {}",
                    ep.tenant, ep.host
                ),
            )),
            Err(e) => Err(xelion_error(e)),
        }
    }

    /// Resolves user names to oids with an open admin session; 422 for an unknown user.
    async fn resolve_users(
        &self,
        ep: &XelionEndpoint,
        session: &XelionSession,
        users: Vec<UserCredentialsRequest>,
        path: &str,
    ) -> Result<Vec<NewUserCredentials>, ApiError> {
        let mut out = Vec::with_capacity(users.len());
        let mut seen = std::collections::HashSet::new();
        for (i, u) in users.into_iter().enumerate() {
            let name = non_empty(&format!("{path}[{i}].xelionUsername"), &u.xelion_username)?;
            if !seen.insert(name.to_lowercase()) {
                return Err(ApiError::conflict(format!(
                    "{path}[{i}].xelionUsername: `{name}` appears twice in the request"
                )));
            }
            let found = self
                .xelion
                .find_user(ep, &session.authentication, &name)
                .await
                .map_err(xelion_error)?;
            let Some(user) = found else {
                return Err(ApiError::new(
                    422,
                    codes::UNKNOWN_XELION_USER,
                    format!(
                        "{path}[{i}].xelionUsername: Xelion tenant `{}` has no user `{name}`",
                        ep.tenant
                    ),
                ));
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

    /// `POST /api/crm-integrations`.
    pub async fn create_integration(
        &self,
        req: CrmIntegrationRequest,
        source: &str,
    ) -> Result<(CrmIntegrationResponse, TenantChange), ApiError> {
        let x = req.xelion_context;
        let host = normalize_host(&x.host)?;
        let tenant = non_empty("xelionContext.tenant", &x.tenant)?;
        let admin_username = non_empty("xelionContext.adminUsername", &x.admin_username)?;
        // This logs in with caller-supplied credentials, so it counts as a login attempt.
        self.check_login_rate(source, &host, &tenant, &admin_username)?;
        let authorization_server_uri = check_http_url(
            "crmContext.authorizationServerUri",
            &req.crm_context.authorization_server_uri,
        )?;
        let mappings = validate_mappings(&req.event_uri_mappings, "eventUriMappings")?;
        let protocol = x.protocol.unwrap_or(Protocol::Https);
        let ep = XelionEndpoint {
            protocol: protocol.as_str().to_string(),
            host: host.clone(),
            tenant: tenant.clone(),
        };
        let password = Secret::new(x.admin_password);
        let session = self.require_admin(&ep, &admin_username, &password).await?;
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
                protocol: protocol.as_str().to_string(),
                admin_username,
                admin_password: password,
                authorization_server_uri,
                authorization_header_prefix: req
                    .crm_context
                    .authorization_header_prefix
                    .unwrap_or_else(|| "Bearer ".to_string()),
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

    /// `GET /api/crm-integrations?xelionHost&xelionTenant`.
    pub async fn get_integration(
        &self,
        token: Option<&str>,
        host: &str,
        tenant: &str,
    ) -> Result<CrmIntegrationResponse, ApiError> {
        let session = self.authenticate(token).await?;
        let host = normalize_host(host)?;
        let not_found = || ApiError::not_found(format!("crm integration for {host}/{tenant}"));
        let ctx = match self.store.find_xelion_context(&host, tenant).await? {
            Some(ctx) if in_scope(&session, &ctx) => ctx,
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
        token: Option<&str>,
        xid: Id,
    ) -> Result<TenantChange, ApiError> {
        let session = self.authenticate(token).await?;
        let ctx = self.scoped_context(&session, xid).await?;
        self.store.delete_xelion_context(ctx.id).await?;
        Ok(TenantChange::Deleted(ctx.id))
    }

    /// `GET .../user-credentials?username&oid`.
    pub async fn list_users(
        &self,
        token: Option<&str>,
        xid: Id,
        cid: Id,
        username: Option<&str>,
        oid: Option<&str>,
    ) -> Result<Vec<UserCredentialsView>, ApiError> {
        let session = self.authenticate(token).await?;
        let (_, crm) = self.scoped_crm_context(&session, xid, cid).await?;
        let users = self.store.users(crm.id, username, oid).await?;
        Ok(users.iter().map(user_credentials_view).collect())
    }

    /// `POST .../user-credentials`.
    pub async fn add_users(
        &self,
        token: Option<&str>,
        xid: Id,
        cid: Id,
        users: Vec<UserCredentialsRequest>,
    ) -> Result<(Vec<UserCredentialsView>, TenantChange), ApiError> {
        let session = self.authenticate(token).await?;
        let (ctx, crm) = self.scoped_crm_context(&session, xid, cid).await?;
        if users.is_empty() {
            return Err(ApiError::new(
                400,
                codes::EMPTY_PAYLOAD,
                "the request names no user; send an array of user credentials",
            ));
        }
        let (ep, xsession) = self.stored_admin_session(&ctx).await?;
        let resolved = self.resolve_users(&ep, &xsession, users, "").await;
        self.xelion.logout(&ep, &xsession).await;
        let added = self.store.add_users(ctx.id, crm.id, resolved?).await?;
        Ok((
            added.iter().map(user_credentials_view).collect(),
            TenantChange::Changed(ctx.id),
        ))
    }

    /// `GET /api/users/{id}`.
    pub async fn get_user(&self, token: Option<&str>, uid: Id) -> Result<UserView, ApiError> {
        let session = self.authenticate(token).await?;
        let (_, user) = self.scoped_user(&session, uid).await?;
        Ok(UserView {
            xelion_oid: user.xelion_oid,
            xelion_username: user.xelion_username,
        })
    }

    /// `PUT /api/users/{id}`.
    pub async fn update_user(
        &self,
        token: Option<&str>,
        uid: Id,
        req: UserUpdateRequest,
    ) -> Result<(UserView, TenantChange), ApiError> {
        let session = self.authenticate(token).await?;
        let (ctx, _) = self.scoped_user(&session, uid).await?;
        let name = non_empty("xelionUsername", &req.xelion_username)?;
        let oid = match req.xelion_oid.map(|s| s.trim().to_string()) {
            Some(oid) if !oid.is_empty() => oid,
            _ => {
                let (ep, xsession) = self.stored_admin_session(&ctx).await?;
                let found = self
                    .xelion
                    .find_user(&ep, &xsession.authentication, &name)
                    .await;
                self.xelion.logout(&ep, &xsession).await;
                match found.map_err(xelion_error)? {
                    Some(u) => u.oid,
                    None => {
                        return Err(ApiError::new(
                            422,
                            codes::UNKNOWN_XELION_USER,
                            format!(
                                "xelionUsername: Xelion tenant `{}` has no user `{name}`",
                                ctx.tenant
                            ),
                        ))
                    }
                }
            }
        };
        let user = self.store.update_user_identity(uid, &name, &oid).await?;
        Ok((
            UserView {
                xelion_oid: user.xelion_oid,
                xelion_username: user.xelion_username,
            },
            TenantChange::Changed(ctx.id),
        ))
    }

    /// `DELETE /api/users/{id}`.
    pub async fn delete_user(
        &self,
        token: Option<&str>,
        uid: Id,
    ) -> Result<TenantChange, ApiError> {
        let session = self.authenticate(token).await?;
        let (ctx, _) = self.scoped_user(&session, uid).await?;
        self.store.delete_user(uid).await?;
        Ok(TenantChange::Changed(ctx.id))
    }

    /// `POST /api/users/{id}/{type}/update`.
    pub async fn update_user_credential(
        &self,
        token: Option<&str>,
        uid: Id,
        kind: &str,
        value: String,
    ) -> Result<TenantChange, ApiError> {
        let session = self.authenticate(token).await?;
        let kind = match kind {
            "clientid" => CredentialKind::ClientId,
            "clientsecret" => CredentialKind::ClientSecret,
            "refreshtoken" => CredentialKind::RefreshToken,
            "devicecode" => CredentialKind::DeviceCode,
            other => {
                return Err(ApiError::bad_parameter(format!(
                    "oauthCredentialsType `{other}` is not one of clientid, clientsecret, refreshtoken, devicecode"
                )))
            }
        };
        if value.is_empty() {
            return Err(ApiError::bad_payload("value: must not be empty"));
        }
        let (ctx, _) = self.scoped_user(&session, uid).await?;
        self.store
            .update_user_credential(uid, kind, &Secret::new(value))
            .await?;
        Ok(TenantChange::Changed(ctx.id))
    }

    /// `GET /api/xelion-environment/{id}`.
    pub async fn get_environment(
        &self,
        token: Option<&str>,
        xid: Id,
    ) -> Result<XelionEnvironment, ApiError> {
        let session = self.authenticate(token).await?;
        let ctx = self.scoped_context(&session, xid).await?;
        Ok(XelionEnvironment {
            host: ctx.host,
            protocol: Protocol::from_stored(&ctx.protocol),
            tenant: ctx.tenant,
        })
    }

    /// `PUT /api/xelion-environment/{id}`: verified by an admin login at the new place; the
    /// sessions of the old host and tenant end.
    pub async fn put_environment(
        &self,
        token: Option<&str>,
        xid: Id,
        env: XelionEnvironment,
    ) -> Result<TenantChange, ApiError> {
        let session = self.authenticate(token).await?;
        let ctx = self.scoped_context(&session, xid).await?;
        let host = normalize_host(&env.host)?;
        let tenant = non_empty("tenant", &env.tenant)?;
        let moved = XelionContext {
            host: host.clone(),
            tenant: tenant.clone(),
            protocol: env.protocol.as_str().to_string(),
            ..ctx.clone()
        };
        let (ep, xsession) = self.stored_admin_session(&moved).await?;
        self.xelion.logout(&ep, &xsession).await;
        self.store
            .update_xelion_environment(xid, &host, &tenant, env.protocol.as_str())
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
        token: Option<&str>,
        xid: Id,
        req: AdminUsernameUpdate,
    ) -> Result<TenantChange, ApiError> {
        let session = self.authenticate(token).await?;
        let ctx = self.scoped_context(&session, xid).await?;
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
        token: Option<&str>,
        xid: Id,
        req: AdminPasswordUpdate,
    ) -> Result<TenantChange, ApiError> {
        let session = self.authenticate(token).await?;
        let ctx = self.scoped_context(&session, xid).await?;
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

    /// `GET .../event-uri-mappings`.
    pub async fn get_mappings(
        &self,
        token: Option<&str>,
        xid: Id,
        cid: Id,
    ) -> Result<Vec<EventUriMappingView>, ApiError> {
        let session = self.authenticate(token).await?;
        let (_, crm) = self.scoped_crm_context(&session, xid, cid).await?;
        let mappings = self.store.mappings(crm.id).await?;
        Ok(mappings.iter().map(mapping_view).collect())
    }

    /// `PUT .../event-uri-mappings`: as many elements as exist, matched by `id` or by a
    /// `xelionEvent` that has exactly one mapping.
    pub async fn put_mappings(
        &self,
        token: Option<&str>,
        xid: Id,
        cid: Id,
        reqs: Vec<EventUriMappingRequest>,
    ) -> Result<(Vec<EventUriMappingView>, TenantChange), ApiError> {
        let session = self.authenticate(token).await?;
        let (ctx, crm) = self.scoped_crm_context(&session, xid, cid).await?;
        let existing = self.store.mappings(crm.id).await?;
        if reqs.len() != existing.len() {
            return Err(ApiError::new(
                400,
                codes::MAPPING_COUNT,
                format!(
                    "the request has {} mappings but crm context {cid} has {}; send exactly as many elements as GET returns",
                    reqs.len(),
                    existing.len()
                ),
            ));
        }
        let validated = validate_mappings(&reqs, "")?;
        let changes = match_mappings(&existing, validated)?;
        let all = self.store.replace_mappings(crm.id, changes).await?;
        Ok((
            all.iter().map(mapping_view).collect(),
            TenantChange::Changed(ctx.id),
        ))
    }
}

/// Pairs each validated element with the stored mapping it replaces.
fn match_mappings(
    existing: &[EventUriMapping],
    validated: Vec<(Option<Id>, NewMapping)>,
) -> Result<Vec<(Id, NewMapping)>, ApiError> {
    let mut per_event: HashMap<&str, Vec<Id>> = HashMap::new();
    for m in existing {
        per_event
            .entry(m.xelion_event.as_str())
            .or_default()
            .push(m.id);
    }
    let mut used = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(validated.len());
    for (i, (id, m)) in validated.into_iter().enumerate() {
        let target = match id {
            Some(id) => {
                if !existing.iter().any(|e| e.id == id) {
                    return Err(ApiError::bad_payload(format!(
                        "[{i}].id: mapping {id} does not belong to this crm context"
                    )));
                }
                id
            }
            None => match per_event.get(m.xelion_event.as_str()).map(Vec::as_slice) {
                Some([only]) => *only,
                Some(_) => {
                    return Err(ApiError::bad_payload(format!(
                        "[{i}]: `{}` has several mappings; give the `id` of the one to replace",
                        m.xelion_event
                    )))
                }
                None => {
                    return Err(ApiError::bad_payload(format!(
                        "[{i}]: no mapping for `{}` exists to replace; give the `id` of the mapping to replace",
                        m.xelion_event
                    )))
                }
            },
        };
        if !used.insert(target) {
            return Err(ApiError::bad_payload(format!(
                "[{i}]: mapping {target} is replaced twice in this request"
            )));
        }
        out.push((target, m));
    }
    Ok(out)
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Checks events, methods, headers and templates; errors name the field path and column.
pub fn validate_mappings(
    reqs: &[EventUriMappingRequest],
    prefix: &str,
) -> Result<Vec<(Option<Id>, NewMapping)>, ApiError> {
    let mut out = Vec::with_capacity(reqs.len());
    for (i, m) in reqs.iter().enumerate() {
        let at = format!("{prefix}[{i}]");
        if !XELION_EVENTS.contains(&m.xelion_event.as_str()) {
            return Err(ApiError::bad_payload(format!(
                "{at}.xelionEvent: `{}` is not one of {}",
                m.xelion_event,
                XELION_EVENTS.join(", ")
            )));
        }
        let uri = m.crm_resource_uri.trim();
        if let Err(e) = UriTemplate::parse(uri) {
            return Err(ApiError::new(
                400,
                codes::BAD_TEMPLATE,
                format!("{at}.crmResourceUri: {e}"),
            ));
        }
        let lower = uri.to_ascii_lowercase();
        if !(lower.starts_with("http://")
            || lower.starts_with("https://")
            || uri.starts_with("${")
            || uri.starts_with("#{"))
        {
            return Err(ApiError::bad_payload(format!(
                "{at}.crmResourceUri: must be an http:// or https:// URL"
            )));
        }
        let payload = match &m.crm_resource_payload {
            None | Some(serde_json::Value::Null) => None,
            Some(p) => {
                if let Err(e) = PayloadTemplate::parse(p) {
                    return Err(ApiError::new(
                        400,
                        codes::BAD_TEMPLATE,
                        format!("{at}.crmResourcePayload{}", payload_error_suffix(&e)),
                    ));
                }
                Some(p.clone())
            }
        };
        let method = match &m.method {
            None => "POST".to_string(),
            Some(method) => {
                let upper = method.to_ascii_uppercase();
                if !METHODS.contains(&upper.as_str()) {
                    return Err(ApiError::bad_payload(format!(
                        "{at}.method: `{method}` is not one of {}",
                        METHODS.join(", ")
                    )));
                }
                upper
            }
        };
        let headers = match &m.headers {
            None => None,
            Some(h) if h.is_empty() => None,
            Some(h) => {
                for (name, value) in h {
                    let valid_name = !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                    if !valid_name {
                        return Err(ApiError::bad_payload(format!(
                            "{at}.headers: `{name}` is not a valid header name"
                        )));
                    }
                    if ["authorization", "idempotency-key", "content-length", "host"]
                        .contains(&name.to_ascii_lowercase().as_str())
                    {
                        return Err(ApiError::bad_payload(format!(
                            "{at}.headers: `{name}` is set by the server and cannot be mapped"
                        )));
                    }
                    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                        return Err(ApiError::bad_payload(format!(
                            "{at}.headers.{name}: the value must not contain line breaks"
                        )));
                    }
                }
                serde_json::to_value(h).ok()
            }
        };
        out.push((
            m.id,
            NewMapping {
                xelion_event: m.xelion_event.clone(),
                crm_resource_uri: uri.to_string(),
                crm_resource_payload: payload,
                method,
                headers,
            },
        ));
    }
    Ok(out)
}

fn payload_error_suffix(e: &cti_el::PayloadError) -> String {
    let path = e.path();
    if path.is_empty() {
        format!(": {}", e.parse_error())
    } else if path.starts_with('[') {
        format!("{path}: {}", e.parse_error())
    } else {
        format!(".{path}: {}", e.parse_error())
    }
}

fn in_scope(session: &ApiSession, ctx: &XelionContext) -> bool {
    session.host.eq_ignore_ascii_case(&ctx.host) && session.tenant == ctx.tenant
}

/// The REST endpoint of a stored context.
pub fn endpoint(ctx: &XelionContext) -> XelionEndpoint {
    XelionEndpoint {
        protocol: ctx.protocol.clone(),
        host: ctx.host.clone(),
        tenant: ctx.tenant.clone(),
    }
}

fn crm_view(c: &CrmContext) -> CrmContextView {
    CrmContextView {
        authorization_header_prefix: c.authorization_header_prefix.clone(),
        authorization_server_uri: c.authorization_server_uri.clone(),
        id: c.id,
    }
}

fn xelion_view(x: &XelionContext) -> XelionContextView {
    XelionContextView {
        host: x.host.clone(),
        id: x.id,
        protocol: x.protocol.clone(),
        tenant: x.tenant.clone(),
    }
}

fn user_credentials_view(u: &UserCredentials) -> UserCredentialsView {
    UserCredentialsView {
        xelion_username: u.xelion_username.clone(),
        xelion_oid: u.xelion_oid.clone(),
        user_credentials_id: u.id.to_string(),
    }
}

fn mapping_view(m: &EventUriMapping) -> EventUriMappingView {
    EventUriMappingView {
        created_at: m.created_at.clone(),
        crm_resource_payload: m.crm_resource_payload.clone(),
        crm_resource_uri: m.crm_resource_uri.clone(),
        id: m.id,
        xelion_event: m.xelion_event.clone(),
        method: (m.method != "POST").then(|| m.method.clone()),
        headers: m.headers.clone(),
    }
}

fn non_empty(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        Err(ApiError::bad_payload(format!("{field}: must not be empty")))
    } else {
        Ok(v.to_string())
    }
}

/// A Xelion host: a name or address with an optional port, nothing else (no scheme, path,
/// credentials), lower-cased.
pub fn normalize_host(raw: &str) -> Result<String, ApiError> {
    let host = raw.trim().to_ascii_lowercase();
    let bad = || {
        ApiError::bad_payload(format!(
            "host: `{raw}` is not a host name with an optional port (e.g. `xelion.example.com` or `127.0.0.1:9001`)"
        ))
    };
    if host.is_empty() || host.len() > 253 {
        return Err(bad());
    }
    let parsed = reqwest::Url::parse(&format!("http://{host}/")).map_err(|_| bad())?;
    let rebuilt = match parsed.port() {
        Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_string(),
    };
    if parsed.path() != "/" || !parsed.username().is_empty() || rebuilt != host {
        return Err(bad());
    }
    Ok(host)
}

fn check_http_url(field: &str, raw: &str) -> Result<String, ApiError> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|_| ApiError::bad_payload(format!("{field}: `{raw}` is not a valid URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::bad_payload(format!(
            "{field}: must be an http:// or https:// URL"
        )));
    }
    Ok(raw.trim().to_string())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Fixed one-minute windows per key; enough to slow password guessing through the router.
#[derive(Default)]
struct LoginLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LoginLimiter {
    fn check(&self, keys: &[(String, u32)], now: Instant) -> Result<(), ApiError> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > 10_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        }
        for (key, limit) in keys {
            let entry = windows.entry(key.clone()).or_insert((now, 0));
            if now.duration_since(entry.0) >= Duration::from_secs(60) {
                *entry = (now, 0);
            }
            if entry.1 >= *limit {
                return Err(ApiError::new(
                    429,
                    codes::TOO_MANY_REQUESTS,
                    "too many login attempts; wait a minute and try again",
                ));
            }
        }
        for (key, _) in keys {
            if let Some(entry) = windows.get_mut(key) {
                entry.1 += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalized_or_refused() {
        assert_eq!(
            normalize_host("Xelion.Example.COM").unwrap(),
            "xelion.example.com"
        );
        assert_eq!(normalize_host("127.0.0.1:9001").unwrap(), "127.0.0.1:9001");
        for bad in ["", "http://x", "x/y", "a@b", "x:notaport", "x y"] {
            assert!(normalize_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limiter_refuses_after_the_limit() {
        let l = LoginLimiter::default();
        let now = Instant::now();
        let keys = [("k".to_string(), 2)];
        assert!(l.check(&keys, now).is_ok());
        assert!(l.check(&keys, now).is_ok());
        assert_eq!(l.check(&keys, now).unwrap_err().status, 429);
        assert!(l.check(&keys, now + Duration::from_secs(61)).is_ok());
    }
}
