//! The command API: one message per admin endpoint, sent by the HTTP layer to the
//! [`Supervisor`]. Every reply is `Result<_, ApiError>`.

use actix::prelude::*;

use crate::api::*;
use crate::domain::{CredentialKind, CrmContextId, DeliveryId, MappingId, UserId, XelionContextId};
use crate::error::ApiError;
use crate::store::Backlog;
use crate::supervisor::Supervisor;

/// Declares a message and the supervisor's handler for it.
///
/// `query` commands only read; `change` commands return `(reply, TenantChange)` and the
/// supervisor applies the change. An `authenticated` command's message carries the caller's
/// token: the handler authenticates it first and runs the body with the resulting
/// [`Scope`](crate::admin::Scope) (`|admin, scope, msg|`), so a command never sees a token
/// and never runs for a caller without a valid one.
macro_rules! command {
    ($(#[$doc:meta])* $kind:ident authenticated $name:ident { $($field:ident : $ty:ty),* $(,)? }
     -> $reply:ty, |$admin:ident, $scope:ident, $msg:ident| $body:expr) => {
        command!(@message $(#[$doc])* $name {
            /// The token of `Authorization: xelion <token>`, if one was sent.
            token: Option<String>,
            $(#[allow(missing_docs)] $field: $ty),*
        } -> $reply);
        command!(@handler $kind $name -> $reply, |$admin, $msg| {
            let $scope = $admin.authenticate($msg.token.as_deref()).await?;
            let $scope = &$scope;
            $body
        });
    };
    ($(#[$doc:meta])* $kind:ident $name:ident { $($field:ident : $ty:ty),* $(,)? }
     -> $reply:ty, |$admin:ident, $msg:ident| $body:expr) => {
        command!(@message $(#[$doc])* $name { $(#[allow(missing_docs)] $field: $ty),* } -> $reply);
        command!(@handler $kind $name -> $reply, |$admin, $msg| $body);
    };
    (@message $(#[$doc:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }
     -> $reply:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }

        impl Message for $name {
            type Result = Result<$reply, ApiError>;
        }
    };
    (@handler query $name:ident -> $reply:ty, |$admin:ident, $msg:ident| $body:expr) => {
        impl Handler<$name> for Supervisor {
            type Result = ResponseFuture<Result<$reply, ApiError>>;
            fn handle(&mut self, $msg: $name, _: &mut Context<Self>) -> Self::Result {
                let $admin = self.admin.clone();
                Box::pin(async move { $body })
            }
        }
    };
    (@handler change $name:ident -> $reply:ty, |$admin:ident, $msg:ident| $body:expr) => {
        impl Handler<$name> for Supervisor {
            type Result = ResponseActFuture<Self, Result<$reply, ApiError>>;
            fn handle(&mut self, $msg: $name, _: &mut Context<Self>) -> Self::Result {
                let $admin = self.admin.clone();
                Box::pin(async move { $body }.into_actor(self).then(|res, act, _| {
                    let (res, taken) = match res {
                        Ok((reply, change)) => (Ok(reply), act.apply(change)),
                        Err(e) => (Err(e), None),
                    };
                    async move {
                        Supervisor::taken(taken).await;
                        res
                    }
                    .into_actor(act)
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
    query authenticated Logout {} -> (),
    |admin, scope, m| admin.logout(scope).await
);

command!(
    /// The status page: the caller's session (who, which host and tenant), without its token.
    query authenticated CurrentSession {} -> SessionView,
    |_admin, scope, _m| {
        let s = scope.session();
        Ok(SessionView {
            username: s.username.clone(),
            host: s.host.clone(),
            tenant: s.tenant.clone(),
            valid_until: crate::clock::xelion_date(s.valid_until),
        })
    }
);

command!(
    /// `POST /api/crm-integrations`.
    change CreateIntegration { req: CrmIntegrationRequest, source: String } -> CrmIntegrationResponse,
    |admin, m| admin.create_integration(m.req, &m.source).await
);

command!(
    /// `GET /api/crm-integrations?xelionHost&xelionTenant`.
    query authenticated GetIntegration { host: Option<String>, tenant: Option<String> }
        -> CrmIntegrationResponse,
    |admin, scope, m| admin.get_integration(scope, m.host.as_deref(), m.tenant.as_deref()).await
);

command!(
    /// `DELETE /api/crm-integrations/{xelionContextId}`.
    change authenticated DeleteIntegration { xelion_context_id: XelionContextId } -> (),
    |admin, scope, m| admin.delete_integration(scope, m.xelion_context_id).await.map(|c| ((), c))
);

command!(
    /// `PUT /api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}`.
    change authenticated UpdateCrmContext {
        xelion_context_id: XelionContextId, crm_context_id: CrmContextId, req: CrmContextRequest,
    } -> CrmContextView,
    |admin, scope, m| admin.update_crm_context(scope, m.xelion_context_id, m.crm_context_id, m.req).await
);

command!(
    /// `DELETE /api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}`.
    change authenticated DeleteCrmContext { xelion_context_id: XelionContextId, crm_context_id: CrmContextId } -> (),
    |admin, scope, m| admin.delete_crm_context(scope, m.xelion_context_id, m.crm_context_id).await.map(|c| ((), c))
);

command!(
    /// `GET .../user-credentials`.
    query authenticated ListUsers {
        xelion_context_id: XelionContextId, crm_context_id: CrmContextId,
        username: Option<String>, oid: Option<String>,
    } -> Vec<UserCredentialsView>,
    |admin, scope, m| admin.list_users(scope, m.xelion_context_id, m.crm_context_id,
        m.username.as_deref(), m.oid.as_deref()).await
);

command!(
    /// `POST .../user-credentials`.
    change authenticated AddUsers {
        xelion_context_id: XelionContextId, crm_context_id: CrmContextId,
        users: Vec<UserCredentialsRequest>,
    } -> Vec<UserCredentialsView>,
    |admin, scope, m| admin.add_users(scope, m.xelion_context_id, m.crm_context_id, m.users).await
);

command!(
    /// `GET /api/users/{userId}`.
    query authenticated GetUser { user_id: UserId } -> UserView,
    |admin, scope, m| admin.get_user(scope, m.user_id).await
);

command!(
    /// `PUT /api/users/{userId}`.
    change authenticated UpdateUser { user_id: UserId, req: UserUpdateRequest } -> UserView,
    |admin, scope, m| admin.update_user(scope, m.user_id, m.req).await
);

command!(
    /// `DELETE /api/users/{userId}`.
    change authenticated DeleteUser { user_id: UserId } -> (),
    |admin, scope, m| admin.delete_user(scope, m.user_id).await.map(|c| ((), c))
);

command!(
    /// `POST /api/users/{userId}/{oauthCredentialsType}/update`.
    change authenticated UpdateUserCredential { user_id: UserId, kind: CredentialKind, value: String } -> (),
    |admin, scope, m| admin.update_user_credential(scope, m.user_id, m.kind, m.value).await.map(|c| ((), c))
);

command!(
    /// `GET /api/xelion-environment/{xelionContextId}`.
    query authenticated GetEnvironment { xelion_context_id: XelionContextId } -> XelionEnvironment,
    |admin, scope, m| admin.get_environment(scope, m.xelion_context_id).await
);

command!(
    /// `PUT /api/xelion-environment/{xelionContextId}`.
    change authenticated PutEnvironment { xelion_context_id: XelionContextId, env: XelionEnvironment } -> (),
    |admin, scope, m| admin.put_environment(scope, m.xelion_context_id, m.env).await.map(|c| ((), c))
);

command!(
    /// `POST /api/xelion-environment/{id}/admin/username/update`.
    change authenticated UpdateAdminUsername { xelion_context_id: XelionContextId, req: AdminUsernameUpdate } -> (),
    |admin, scope, m| admin.update_admin_username(scope, m.xelion_context_id, m.req).await.map(|c| ((), c))
);

command!(
    /// `POST /api/xelion-environment/{id}/admin/password/update`.
    change authenticated UpdateAdminPassword { xelion_context_id: XelionContextId, req: AdminPasswordUpdate } -> (),
    |admin, scope, m| admin.update_admin_password(scope, m.xelion_context_id, m.req).await.map(|c| ((), c))
);

command!(
    /// Readiness: the database answers.
    query CheckReady {} -> (),
    |admin, _m| admin.store().ping().await.map_err(ApiError::from)
);

command!(
    /// `GET .../event-uri-mappings`.
    query authenticated GetMappings { xelion_context_id: XelionContextId, crm_context_id: CrmContextId } -> Vec<EventUriMappingView>,
    |admin, scope, m| admin.get_mappings(scope, m.xelion_context_id, m.crm_context_id).await
);

command!(
    /// `PUT .../event-uri-mappings`.
    change authenticated PutMappings {
        xelion_context_id: XelionContextId, crm_context_id: CrmContextId,
        mappings: Vec<EventUriMappingRequest>,
    } -> Vec<EventUriMappingView>,
    |admin, scope, m| admin.put_mappings(scope, m.xelion_context_id, m.crm_context_id, m.mappings).await
);

command!(
    /// `POST .../event-uri-mappings`: one more mapping.
    change authenticated AddMapping {
        xelion_context_id: XelionContextId, crm_context_id: CrmContextId,
        mapping: EventUriMappingRequest,
    } -> EventUriMappingView,
    |admin, scope, m| admin.add_mapping(scope, m.xelion_context_id, m.crm_context_id, m.mapping).await
);

command!(
    /// `DELETE .../event-uri-mappings/{mappingId}`.
    change authenticated DeleteMapping {
        xelion_context_id: XelionContextId, crm_context_id: CrmContextId, mapping_id: MappingId,
    } -> (),
    |admin, scope, m| admin.delete_mapping(scope, m.xelion_context_id, m.crm_context_id, m.mapping_id).await.map(|c| ((), c))
);

command!(
    /// `GET /api/crm-integrations/{xelionContextId}/deliveries`.
    query authenticated ListDeliveries { xelion_context_id: XelionContextId, query: DeliveryQuery } -> DeliveryPage,
    |admin, scope, m| admin.list_deliveries(scope, m.xelion_context_id, m.query).await
);

command!(
    /// `POST /api/crm-integrations/{xelionContextId}/deliveries/{id}/retry`.
    query authenticated RetryDelivery { xelion_context_id: XelionContextId, delivery_id: DeliveryId } -> DeliveryView,
    |admin, scope, m| admin.retry_delivery(scope, m.xelion_context_id, m.delivery_id).await
);

command!(
    /// Readiness and metrics: users needing re-authorisation.
    query ParkedUsers {} -> u64,
    |admin, _m| admin.store().parked_users().await.map_err(ApiError::from)
);

command!(
    /// The status page: the users of a tenant needing re-authorisation.
    query authenticated UsersNeedingReauthorisation { xelion_context_id: XelionContextId }
        -> Vec<ReauthorisationView>,
    |admin, scope, m| admin.users_needing_reauthorisation(scope, m.xelion_context_id).await
);

command!(
    /// Readiness: the outbox's open work.
    query OutboxBacklog {} -> Backlog,
    |admin, _m| admin.store().outbox_backlog().await.map_err(ApiError::from)
);

command!(
    /// `POST .../event-uri-mappings/preview`.
    query authenticated PreviewMappings {
        xelion_context_id: XelionContextId, crm_context_id: CrmContextId,
        req: MappingPreviewRequest,
    } -> MappingPreview,
    |admin, scope, m| admin.preview_mappings(scope, m.xelion_context_id, m.crm_context_id, m.req).await
);
