//! A whole integration (`POST /api/crm-integrations`): one row or more in every table but
//! the sessions, stored in one transaction.

use super::crm_contexts::insert_crm_context;
use super::mappings::insert_mapping;
use super::{
    CrmContext, NewMapping, NewUserCredentials, Protocol, Store, StoreError, StoreResult,
    XelionContext,
};
use crate::clock;
use crate::secrets::Secret;

/// Everything `POST /api/crm-integrations` stores, in one transaction.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub host: String,
    pub tenant: String,
    pub protocol: Protocol,
    pub admin_username: String,
    pub admin_password: Secret,
    pub authorization_server_uri: String,
    pub authorization_header_prefix: String,
    pub users: Vec<NewUserCredentials>,
    pub mappings: Vec<NewMapping>,
}

impl Store {
    /// Stores a whole integration in one transaction: the xelion context (created, or updated
    /// with the new admin credentials and protocol if host+tenant exists), a new crm context,
    /// its users and its mappings. `Conflict(username)` if two users share a username (nothing
    /// is stored then); `Conflict("<host>/<tenant>")` only if a concurrent request created and
    /// deleted that xelion context meanwhile; `CrmContextExists(id)` (nothing stored) if the
    /// xelion context has a crm context with the same fields (the unique index decides, so
    /// of concurrent identical requests exactly one stores).
    pub async fn create_integration(
        &self,
        new: NewIntegration,
    ) -> StoreResult<(XelionContext, CrmContext)> {
        let now = clock::created_at_now();
        let mut tx = self.begin().await?;
        let xelion = self.upsert_xelion_context(&mut tx, &new, &now).await?;
        let crm = match insert_crm_context(&mut tx, xelion.id, &new, &now).await {
            Ok(crm) => crm,
            Err(StoreError::Database(e)) => {
                let _ = tx.rollback().await;
                return Err(self
                    .identical_or(
                        e,
                        xelion.id,
                        &new.authorization_server_uri,
                        &new.authorization_header_prefix,
                    )
                    .await);
            }
            Err(e) => return Err(e),
        };
        for user in &new.users {
            self.insert_user(&mut tx, xelion.id, crm.id, user, &now)
                .await?;
        }
        for mapping in &new.mappings {
            insert_mapping(&mut tx, crm.id, mapping, &now).await?;
        }
        tx.commit().await?;
        Ok((xelion, crm))
    }
}
