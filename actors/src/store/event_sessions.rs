//! `event_sessions`: each tenant's Xelion event session, kept across restarts.

use sqlx::Row;

use super::{Store, StoreResult, XelionContextId};
use crate::clock::created_at_now;
use crate::secrets::Secret;

const ES_AUTHENTICATION: &str = "event_sessions.authentication";

/// A tenant's last event session.
#[derive(Debug, Clone)]
pub struct EventSession {
    /// The userSpace it was opened with.
    pub user_space: String,
    /// Its token, if one was stored.
    pub authentication: Option<Secret>,
}

impl Store {
    /// The stored event session of a xelion context, if any.
    pub async fn event_session(
        &self,
        xelion_context_id: XelionContextId,
    ) -> StoreResult<Option<EventSession>> {
        let row = sqlx::query(
            "SELECT user_space, authentication FROM event_sessions WHERE xelion_context_id = $1",
        )
        .bind(xelion_context_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(EventSession {
                user_space: r.try_get("user_space")?,
                authentication: self.open_sealed(
                    ES_AUTHENTICATION,
                    xelion_context_id,
                    r.try_get("authentication")?,
                )?,
            })
        })
        .transpose()
    }

    /// Records the event session of a xelion context (its token sealed). Nothing is written
    /// for a context that no longer exists.
    pub async fn save_event_session(
        &self,
        xelion_context_id: XelionContextId,
        user_space: &str,
        authentication: Option<&Secret>,
    ) -> StoreResult<()> {
        let sealed = self.seal_opt(ES_AUTHENTICATION, xelion_context_id, authentication)?;
        sqlx::query(
            "INSERT INTO event_sessions (xelion_context_id, user_space, authentication, updated_at) \
             SELECT id, $2, $3, $4 FROM xelion_contexts WHERE id = $1 \
             ON CONFLICT (xelion_context_id) DO UPDATE SET user_space = excluded.user_space, \
             authentication = excluded.authentication, updated_at = excluded.updated_at",
        )
        .bind(xelion_context_id)
        .bind(user_space)
        .bind(sealed)
        .bind(created_at_now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
