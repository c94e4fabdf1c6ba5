//! `api/users/{userId}`: read, change, delete a registered user, and replace one of its
//! OAuth 2.0 credentials.

use super::validate::non_empty;
use super::views::user_view;
use super::{Admin, Scope, TenantChange};
use crate::api::{ReauthorisationView, UserUpdateRequest, UserView};
use crate::clock::xelion_date;
use crate::domain::{CredentialKind, UserId, XelionContextId};
use crate::error::ApiError;
use crate::secrets::Secret;

impl Admin {
    /// The users of a xelion context in the caller's scope whose credentials need
    /// re-authorisation.
    pub async fn users_needing_reauthorisation(
        &self,
        scope: &Scope,
        xid: XelionContextId,
    ) -> Result<Vec<ReauthorisationView>, ApiError> {
        self.scoped_context(scope, xid).await?;
        let parked = self.store.parked_users_of(xid).await?;
        Ok(parked
            .into_iter()
            .map(|p| ReauthorisationView {
                user_id: p.id,
                crm_context_id: p.crm_context_id,
                xelion_username: p.xelion_username,
                error: p.error,
                since: p.since.map(xelion_date),
            })
            .collect())
    }

    /// `GET /api/users/{id}`.
    pub async fn get_user(&self, scope: &Scope, uid: UserId) -> Result<UserView, ApiError> {
        let (_, user) = self.scoped_user(scope, uid).await?;
        Ok(user_view(user))
    }

    /// `PUT /api/users/{id}`: the name is looked up in Xelion, and a given oid must be that
    /// user's; neither may belong to another user of the crm context. Un-parks the user's token.
    pub async fn update_user(
        &self,
        scope: &Scope,
        uid: UserId,
        req: UserUpdateRequest,
    ) -> Result<(UserView, TenantChange), ApiError> {
        let (ctx, current) = self.scoped_user(scope, uid).await?;
        let name = non_empty("xelionUsername", &req.xelion_username)?;
        let given = req
            .xelion_oid
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let (ep, xsession) = self.stored_admin_session(&ctx).await?;
        let found = self
            .xelion
            .find_user(&ep, &xsession.authentication, &name)
            .await;
        self.xelion.logout(&ep, &xsession).await;
        let Some(found) = found? else {
            return Err(ApiError::UnknownXelionUser {
                field: "xelionUsername".to_string(),
                tenant: ctx.tenant,
                name,
            });
        };
        if let Some(oid) = given.filter(|oid| *oid != found.oid) {
            return Err(ApiError::bad_payload(format!(
                "xelionOid: `{oid}` is not the oid of Xelion user `{}`, which is {}; send that \
                 or leave xelionOid out",
                found.user_name, found.oid
            )));
        }
        let crm = current.crm_context_id;
        for other in self.store.users(crm, None, None).await? {
            if other.id == uid {
                continue;
            }
            if other.xelion_oid == found.oid {
                return Err(ApiError::Conflict(format!(
                    "xelionOid: {} is already registered in crm context {crm} as user {} (`{}`)",
                    found.oid, other.id, other.xelion_username
                )));
            }
            if other.xelion_username.eq_ignore_ascii_case(&found.user_name) {
                return Err(ApiError::Conflict(format!(
                    "xelionUsername: `{}` is already registered in crm context {crm} as user {}",
                    found.user_name, other.id
                )));
            }
        }
        let user = self
            .store
            .update_user_identity(uid, &found.user_name, &found.oid)
            .await?;
        Ok((user_view(user), TenantChange::UserChanged(ctx.id, uid)))
    }

    /// `DELETE /api/users/{id}`.
    pub async fn delete_user(&self, scope: &Scope, uid: UserId) -> Result<TenantChange, ApiError> {
        let (ctx, _) = self.scoped_user(scope, uid).await?;
        self.store.delete_user(uid).await?;
        Ok(TenantChange::UserDeleted(ctx.id, uid))
    }

    /// `POST /api/users/{id}/{type}/update`. The value is checked before the user is looked up.
    /// Un-parks the user's token.
    pub async fn update_user_credential(
        &self,
        scope: &Scope,
        uid: UserId,
        kind: CredentialKind,
        value: String,
    ) -> Result<TenantChange, ApiError> {
        if value.is_empty() {
            return Err(ApiError::bad_payload("value: must not be empty"));
        }
        let (ctx, _) = self.scoped_user(scope, uid).await?;
        self.store
            .update_user_credential(uid, kind, &Secret::new(value))
            .await?;
        Ok(TenantChange::UserChanged(ctx.id, uid))
    }
}
