//! `POST /api/cti-app-context`: a Xelion app user registers its OAuth 2.0 credentials for an
//! external service, proving who it is with its own Xelion session token.

use reqwest::header::HeaderValue;

use super::shapes::{AppXelionContext, CtiAppRequest};
use super::External;
use crate::admin::{check_http_url, non_empty, normalize_host};
use crate::domain::{AppContextId, Protocol};
use crate::error::ApiError;
use crate::secrets::Secret;
use crate::store::NewAppContext;
use crate::xelion::{XelionEndpoint, XelionError};

/// The longest `authorizationHeaderPrefix` accepted.
const MAX_PREFIX: usize = 256;

impl External {
    /// Asks Xelion whose `xelion_token` is (`me/info`), requires it to be
    /// `appUserContext.xelionUsername`, then stores the app context (replacing the one with the
    /// same host, tenant, user and token endpoint) and has its token actor reload.
    pub async fn register(
        &self,
        xelion_token: Option<String>,
        req: CtiAppRequest,
    ) -> Result<AppContextId, ApiError> {
        let token = xelion_token.map(Secret::new).ok_or_else(|| {
            ApiError::unauthenticated(
                "missing `Authorization: xelion <token>`: a Xelion session token of \
                 appUserContext.xelionUsername",
            )
        })?;
        let ctx = self.validate(req)?;
        let ep = self
            .xelion_endpoint(&ctx.new.host, &ctx.new.tenant, ctx.protocol)
            .await?;
        let owner = self
            .xelion
            .me_user_name(&ep, &token)
            .await
            .map_err(me_info_failure)?;
        if !owner.eq_ignore_ascii_case(&ctx.new.xelion_username) {
            return Err(ApiError::Forbidden(format!(
                "the Xelion token is `{owner}`'s, not appUserContext.xelionUsername `{}`'s",
                ctx.new.xelion_username
            )));
        }
        let id = self.store.upsert_app_context(&ctx.new).await?;
        self.tokens.reload_app(id);
        Ok(id)
    }

    /// The Xelion endpoint of an app context: the stored xelion context's protocol, else the
    /// request's, else https.
    async fn xelion_endpoint(
        &self,
        host: &str,
        tenant: &str,
        asked: Option<Protocol>,
    ) -> Result<XelionEndpoint, ApiError> {
        let stored = self.store.find_xelion_context(host, tenant).await?;
        let protocol = match (stored, asked) {
            (Some(ctx), _) => ctx.protocol,
            (None, Some(p)) => p,
            (None, None) => Protocol::Https,
        };
        Ok(XelionEndpoint {
            protocol,
            host: host.to_string(),
            tenant: tenant.to_string(),
        })
    }

    /// Checks every field; errors name the field path.
    fn validate(&self, req: CtiAppRequest) -> Result<Checked, ApiError> {
        let xelion = xelion_context(&req.app_xelion_context)?;
        let api = req.app_external_api_context;
        let user = req.app_user_context;
        let uri = check_http_url(
            "appExternalApiContext.authorizationServerUri",
            &api.authorization_server_uri,
            self.http().policy(),
        )?;
        let prefix = api.authorization_header_prefix;
        if prefix.len() > MAX_PREFIX {
            return Err(ApiError::bad_payload(format!(
                "appExternalApiContext.authorizationHeaderPrefix: longer than {MAX_PREFIX} characters"
            )));
        }
        let access_token = non_empty("appUserContext.accessToken", &user.access_token)?;
        if HeaderValue::from_str(&format!("{prefix}{access_token}")).is_err() {
            return Err(ApiError::bad_payload(
                "appExternalApiContext.authorizationHeaderPrefix, appUserContext.accessToken: \
                 together they are not a valid header value (line breaks or control characters)",
            ));
        }
        let new = NewAppContext {
            host: xelion.0,
            tenant: xelion.1,
            xelion_username: non_empty("appUserContext.xelionUsername", &user.xelion_username)?
                .to_ascii_lowercase(),
            authorization_server_uri: uri,
            authorization_header_prefix: prefix,
            client_id: non_empty("appUserContext.clientId", &user.client_id)?,
            client_secret: user
                .client_secret
                .filter(|s| !s.trim().is_empty())
                .map(Secret::new),
            refresh_token: Secret::new(non_empty(
                "appUserContext.refreshToken",
                &user.refresh_token,
            )?),
            access_token: Secret::new(access_token),
        };
        Ok(Checked {
            protocol: req.app_xelion_context.protocol,
            new,
        })
    }
}

/// A request that passed the checks.
struct Checked {
    /// `appXelionContext.protocol`, if given.
    protocol: Option<Protocol>,
    /// What to store.
    new: NewAppContext,
}

/// The normalized host and the tenant of an `appXelionContext`.
pub(super) fn xelion_context(ctx: &AppXelionContext) -> Result<(String, String), ApiError> {
    let host = normalize_host(&ctx.host).map_err(|e| match e {
        ApiError::BadPayload(m) => ApiError::BadPayload(format!("appXelionContext.{m}")),
        other => other,
    })?;
    let tenant = non_empty("appXelionContext.tenant", &ctx.tenant)?;
    Ok((host, tenant))
}

/// Xelion's answer to `me/info`: a refused token is the caller's 401.
fn me_info_failure(e: XelionError) -> ApiError {
    match e {
        XelionError::Api {
            status: 401 | 403,
            message,
            ..
        } => ApiError::unauthenticated(format!("Xelion did not accept the token: {message}")),
        XelionError::Blocked(b) => b.into(),
        other => ApiError::XelionUnavailable(other.to_string()),
    }
}
