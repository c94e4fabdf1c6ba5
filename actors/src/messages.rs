//! The command API: one message per admin endpoint, sent by the HTTP layer to the
//! [`Supervisor`]. Every reply is `Result<_, ApiError>`.

use actix::prelude::*;

use crate::api::*;
use crate::error::ApiError;
use crate::store::Id;
use crate::supervisor::Supervisor;

/// Declares a message whose command only reads (`query`) or also changes a tenant
/// (`change`: the command returns `(reply, TenantChange)` and the supervisor applies it).
macro_rules! command {
    ($(#[$doc:meta])* query $name:ident { $($field:ident : $ty:ty),* $(,)? } -> $reply:ty,
     |$admin:ident, $msg:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name { $(#[allow(missing_docs)] pub $field: $ty),* }

        impl Message for $name {
            type Result = Result<$reply, ApiError>;
        }

        impl Handler<$name> for Supervisor {
            type Result = ResponseFuture<Result<$reply, ApiError>>;
            fn handle(&mut self, $msg: $name, _: &mut Context<Self>) -> Self::Result {
                let $admin = self.admin.clone();
                Box::pin(async move { $body })
            }
        }
    };
    ($(#[$doc:meta])* change $name:ident { $($field:ident : $ty:ty),* $(,)? } -> $reply:ty,
     |$admin:ident, $msg:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name { $(#[allow(missing_docs)] pub $field: $ty),* }

        impl Message for $name {
            type Result = Result<$reply, ApiError>;
        }

        impl Handler<$name> for Supervisor {
            type Result = ResponseActFuture<Self, Result<$reply, ApiError>>;
            fn handle(&mut self, $msg: $name, _: &mut Context<Self>) -> Self::Result {
                let $admin = self.admin.clone();
                Box::pin(async move { $body }.into_actor(self).map(|res, act, _| {
                    res.map(|(reply, change)| {
                        act.apply(change);
                        reply
                    })
                }))
            }
        }
    };
}

command!(
    /// `POST /api/session/login`.
    query Login { req: SessionLoginRequest, source: String } -> SessionLoginResponse,
    |admin, m| admin.login(m.req, &m.source).await
);

command!(
    /// `POST /api/session/logout`.
    query Logout { token: Option<String> } -> (),
    |admin, m| admin.logout(m.token.as_deref()).await
);

command!(
    /// `POST /api/crm-integrations`.
    change CreateIntegration { req: CrmIntegrationRequest, source: String } -> CrmIntegrationResponse,
    |admin, m| admin.create_integration(m.req, &m.source).await
);

command!(
    /// `GET /api/crm-integrations?xelionHost&xelionTenant`.
    query GetIntegration { token: Option<String>, host: String, tenant: String } -> CrmIntegrationResponse,
    |admin, m| admin.get_integration(m.token.as_deref(), &m.host, &m.tenant).await
);

command!(
    /// `DELETE /api/crm-integrations/{xelionContextId}`.
    change DeleteIntegration { token: Option<String>, xelion_context_id: Id } -> (),
    |admin, m| admin.delete_integration(m.token.as_deref(), m.xelion_context_id).await.map(|c| ((), c))
);

command!(
    /// `GET .../user-credentials`.
    query ListUsers {
        token: Option<String>, xelion_context_id: Id, crm_context_id: Id,
        username: Option<String>, oid: Option<String>,
    } -> Vec<UserCredentialsView>,
    |admin, m| admin.list_users(m.token.as_deref(), m.xelion_context_id, m.crm_context_id,
        m.username.as_deref(), m.oid.as_deref()).await
);

command!(
    /// `POST .../user-credentials`.
    change AddUsers {
        token: Option<String>, xelion_context_id: Id, crm_context_id: Id,
        users: Vec<UserCredentialsRequest>,
    } -> Vec<UserCredentialsView>,
    |admin, m| admin.add_users(m.token.as_deref(), m.xelion_context_id, m.crm_context_id, m.users).await
);

command!(
    /// `GET /api/users/{userId}`.
    query GetUser { token: Option<String>, user_id: Id } -> UserView,
    |admin, m| admin.get_user(m.token.as_deref(), m.user_id).await
);

command!(
    /// `PUT /api/users/{userId}`.
    change UpdateUser { token: Option<String>, user_id: Id, req: UserUpdateRequest } -> UserView,
    |admin, m| admin.update_user(m.token.as_deref(), m.user_id, m.req).await
);

command!(
    /// `DELETE /api/users/{userId}`.
    change DeleteUser { token: Option<String>, user_id: Id } -> (),
    |admin, m| admin.delete_user(m.token.as_deref(), m.user_id).await.map(|c| ((), c))
);

command!(
    /// `POST /api/users/{userId}/{oauthCredentialsType}/update`.
    change UpdateUserCredential { token: Option<String>, user_id: Id, kind: String, value: String } -> (),
    |admin, m| admin.update_user_credential(m.token.as_deref(), m.user_id, &m.kind, m.value).await.map(|c| ((), c))
);

command!(
    /// `GET /api/xelion-environment/{xelionContextId}`.
    query GetEnvironment { token: Option<String>, xelion_context_id: Id } -> XelionEnvironment,
    |admin, m| admin.get_environment(m.token.as_deref(), m.xelion_context_id).await
);

command!(
    /// `PUT /api/xelion-environment/{xelionContextId}`.
    change PutEnvironment { token: Option<String>, xelion_context_id: Id, env: XelionEnvironment } -> (),
    |admin, m| admin.put_environment(m.token.as_deref(), m.xelion_context_id, m.env).await.map(|c| ((), c))
);

command!(
    /// `POST /api/xelion-environment/{id}/admin/username/update`.
    change UpdateAdminUsername { token: Option<String>, xelion_context_id: Id, req: AdminUsernameUpdate } -> (),
    |admin, m| admin.update_admin_username(m.token.as_deref(), m.xelion_context_id, m.req).await.map(|c| ((), c))
);

command!(
    /// `POST /api/xelion-environment/{id}/admin/password/update`.
    change UpdateAdminPassword { token: Option<String>, xelion_context_id: Id, req: AdminPasswordUpdate } -> (),
    |admin, m| admin.update_admin_password(m.token.as_deref(), m.xelion_context_id, m.req).await.map(|c| ((), c))
);

command!(
    /// Readiness: the database answers.
    query CheckReady {} -> (),
    |admin, _m| admin.store().ping().await.map_err(ApiError::from)
);

command!(
    /// `GET .../event-uri-mappings`.
    query GetMappings { token: Option<String>, xelion_context_id: Id, crm_context_id: Id } -> Vec<EventUriMappingView>,
    |admin, m| admin.get_mappings(m.token.as_deref(), m.xelion_context_id, m.crm_context_id).await
);

command!(
    /// `PUT .../event-uri-mappings`.
    change PutMappings {
        token: Option<String>, xelion_context_id: Id, crm_context_id: Id,
        mappings: Vec<EventUriMappingRequest>,
    } -> Vec<EventUriMappingView>,
    |admin, m| admin.put_mappings(m.token.as_deref(), m.xelion_context_id, m.crm_context_id, m.mappings).await
);
