//! `api/users/{userId}`: read, change, delete a registered user, and replace one of its
//! OAuth 2.0 credentials.

use super::validate::non_empty;
use super::views::user_view;
use super::{Admin, Scope, TenantChange};
use crate::api::{UserUpdateRequest, UserView};
use crate::domain::{CredentialKind, UserId};
use crate::error::ApiError;
use crate::secrets::Secret;

impl Admin {
    /// `GET /api/users/{id}`.
    pub async fn get_user(&self, scope: &Scope, uid: UserId) -> Result<UserView, ApiError> {
        let (_, user) = self.scoped_user(scope, uid).await?;
        Ok(user_view(user))
    }

    /// `PUT /api/users/{id}`: without an oid, the name is looked up in Xelion. Un-parks the
    /// user's token.
    pub async fn update_user(
        &self,
        scope: &Scope,
        uid: UserId,
        req: UserUpdateRequest,
    ) -> Result<(UserView, TenantChange), ApiError> {
        let (ctx, _) = self.scoped_user(scope, uid).await?;
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
                match found? {
                    Some(u) => u.oid,
                    None => {
                        return Err(ApiError::UnknownXelionUser {
                            field: "xelionUsername".to_string(),
                            tenant: ctx.tenant,
                            name,
                        })
                    }
                }
            }
        };
        let user = self.store.update_user_identity(uid, &name, &oid).await?;
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
