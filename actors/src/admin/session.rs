//! `api/session`: login and logout, and the authentication every other command runs behind.

use base64::Engine as _;
use rand::RngCore;

use super::limiter::is_refusal;
use super::validate::{non_empty, normalize_host};
use super::{Admin, Scope};
use crate::api::{SessionLoginRequest, SessionLoginResponse};
use crate::clock::{now_unix, xelion_date};
use crate::domain::Protocol;
use crate::error::ApiError;
use crate::secrets::{token_hash, Secret};
use crate::store::ApiSession;
use crate::xelion::XelionEndpoint;

impl Admin {
    /// The caller behind `Authorization: xelion <token>`. `messages.rs` runs this before every
    /// command that needs a caller, so the command itself only ever sees a [`Scope`].
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Scope, ApiError> {
        let token = token.ok_or_else(|| {
            ApiError::unauthenticated(
                "missing `Authorization: xelion <token>`; get a token from POST /api/session/login",
            )
        })?;
        let token_hash = token_hash(token);
        let session = self
            .store
            .find_session(&token_hash, now_unix())
            .await?
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "the token is unknown or expired; log in again with POST /api/session/login",
                )
            })?;
        Ok(Scope {
            session,
            token_hash,
        })
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
        let attempt = self
            .limiter
            .attempt(source, &host, &tenant, &req.admin_username);
        self.limiter.check(&attempt)?;
        let stored = self.store.find_xelion_context(&host, &tenant).await?;
        let protocol = match (&stored, req.protocol) {
            (Some(ctx), _) => ctx.protocol,
            (None, Some(p)) => p,
            (None, None) => Protocol::Https,
        };
        let ep = XelionEndpoint {
            protocol,
            host: host.clone(),
            tenant: tenant.clone(),
        };
        let password = Secret::new(req.admin_password);
        let session = self
            .require_admin(&ep, &req.admin_username, &password)
            .await
            .inspect_err(|e| {
                if is_refusal(e) {
                    self.limiter.failed(&attempt);
                }
            })?;
        self.xelion.logout(&ep, &session).await;

        let token = new_token();
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
        Ok(SessionLoginResponse {
            authentication: token,
            valid_until: xelion_date(valid_until),
        })
    }

    /// `POST /api/session/logout`: ends the caller's session.
    pub async fn logout(&self, scope: &Scope) -> Result<(), ApiError> {
        self.store.delete_session(&scope.token_hash).await?;
        Ok(())
    }
}

/// 256 random bits, URL-safe.
fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}
