//! `api/users/{userId}`: read, change, delete a registered user, and replace one of its
//! OAuth 2.0 credentials.

use super::validate::non_empty;
use super::views::user_view;
use super::{Admin, Scope, TenantChange};
use crate::api::{UserUpdateRequest, UserView};
use crate::error::{codes, xelion_error, ApiError};
use crate::secrets::Secret;
use crate::store::{CredentialKind, Id};

impl Admin {
    /// `GET /api/users/{id}`.
    pub async fn get_user(&self, scope: &Scope, uid: Id) -> Result<UserView, ApiError> {
        let (_, user) = self.scoped_user(scope, uid).await?;
        Ok(user_view(user))
    }

    /// `PUT /api/users/{id}`: without an oid, the name is looked up in Xelion.
    pub async fn update_user(
        &self,
        scope: &Scope,
        uid: Id,
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
        Ok((user_view(user), TenantChange::Changed(ctx.id)))
    }

    /// `DELETE /api/users/{id}`.
    pub async fn delete_user(&self, scope: &Scope, uid: Id) -> Result<TenantChange, ApiError> {
        let (ctx, _) = self.scoped_user(scope, uid).await?;
        self.store.delete_user(uid).await?;
        Ok(TenantChange::Changed(ctx.id))
    }

    /// `POST /api/users/{id}/{type}/update`. The type and value are checked before the user
    /// is looked up.
    pub async fn update_user_credential(
        &self,
        scope: &Scope,
        uid: Id,
        kind: &str,
        value: String,
    ) -> Result<TenantChange, ApiError> {
        let kind = credential_kind(kind)?;
        if value.is_empty() {
            return Err(ApiError::bad_payload("value: must not be empty"));
        }
        let (ctx, _) = self.scoped_user(scope, uid).await?;
        self.store
            .update_user_credential(uid, kind, &Secret::new(value))
            .await?;
        Ok(TenantChange::Changed(ctx.id))
    }
}

/// The `{oauthCredentialsType}` of the path.
fn credential_kind(kind: &str) -> Result<CredentialKind, ApiError> {
    match kind {
        "clientid" => Ok(CredentialKind::ClientId),
        "clientsecret" => Ok(CredentialKind::ClientSecret),
        "refreshtoken" => Ok(CredentialKind::RefreshToken),
        "devicecode" => Ok(CredentialKind::DeviceCode),
        other => Err(ApiError::bad_parameter(format!(
            "oauthCredentialsType `{other}` is not one of clientid, clientsecret, refreshtoken, devicecode"
        ))),
    }
}
