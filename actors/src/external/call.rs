//! `POST /api/external-api-endpoint/call`: who may call (the app context's current access
//! token, or the one before it for a short grace), and the call itself with one refresh and
//! retry when the service refuses the token.

use reqwest::Url;
use serde_json::Value;
use subtle::ConstantTimeEq as _;

use super::register::xelion_context;
use super::shapes::{ExternalAnswer, ExternalApiRequest};
use super::{token_failure, External};
use crate::admin::{check_http_url, non_empty};
use crate::clock::Timestamp;
use crate::domain::HttpMethod;
use crate::error::ApiError;
use crate::secrets::token_hash;
use crate::store::AppContextAccess;

/// What a checked call asks for.
pub(super) struct Target {
    /// `endpointUri`, parsed (already passed the outbound rule's URL check).
    pub uri: Url,
    pub method: HttpMethod,
    /// The JSON body; `None` for GET or a null payload.
    pub payload: Option<Value>,
}

impl External {
    /// Lets the caller in only with the app context's current access token (or the previous
    /// one within its grace), then calls the service; on 401 asks the token actor for a newer
    /// token (one refresh however many calls met the old one) and calls once more.
    pub async fn call(
        &self,
        access_token: Option<String>,
        req: ExternalApiRequest,
    ) -> Result<ExternalAnswer, ApiError> {
        let presented = access_token.ok_or_else(|| {
            ApiError::unauthenticated(
                "missing `Authorization: xelion_cti <access token>`: the app context's access \
                 token, as registered or as the last call answered it",
            )
        })?;
        let (host, tenant) = xelion_context(&req.app_xelion_context)?;
        let user = non_empty("xelionUsername", &req.xelion_username)?.to_ascii_lowercase();
        let ctx = req.endpoint_context;
        let token_uri = ctx.authorization_server_uri.trim();
        let target = self.target(&ctx.endpoint_uri, &ctx.method, ctx.payload)?;

        let access = self
            .store
            .find_app_context(&host, &tenant, &user, token_uri)
            .await?
            .filter(|a| admits(a, &presented, Timestamp::now().millis()))
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "no app context of this host, tenant, xelionUsername and \
                     authorizationServerUri has this access token; present the one the last \
                     call answered, or register with POST /api/cti-app-context",
                )
            })?;
        let prefix = &access.authorization_header_prefix;
        let token = self
            .tokens
            .get_app(access.id)
            .await
            .map_err(token_failure)?;
        let first = self.forward(&target, prefix, &token.token).await?;
        if first.status != 401 {
            return Ok(first.into_answer(token.token));
        }
        let fresh = self
            .tokens
            .invalidate_app(access.id, &token.token)
            .await
            .map_err(token_failure)?;
        let second = self.forward(&target, prefix, &fresh.token).await?;
        Ok(second.into_answer(fresh.token))
    }

    /// Checks the endpoint, the method and the payload; the endpoint against the outbound
    /// rule too (a literal address; names are checked after DNS), so a refused one is never
    /// sent to.
    fn target(&self, uri: &str, method: &str, payload: Option<Value>) -> Result<Target, ApiError> {
        let uri = check_http_url("endpointContext.endpointUri", uri, self.http().policy())?;
        let uri = self.http().policy().check_url(&uri)?;
        let method: HttpMethod = method
            .trim()
            .parse()
            .map_err(|e| ApiError::bad_payload(format!("endpointContext.method: {e}")))?;
        let payload = payload.filter(|p| !p.is_null() && method != HttpMethod::Get);
        Ok(Target {
            uri,
            method,
            payload,
        })
    }
}

/// Whether `presented` is the current access token, or the previous one before
/// `previous_access_token_until`. Both comparisons always run, in constant time, on SHA-256
/// digests.
fn admits(access: &AppContextAccess, presented: &str, now_ms: i64) -> bool {
    let hash = token_hash(presented);
    let current = same(access.access_token_hash.as_deref(), &hash);
    let previous = same(access.previous_access_token_hash.as_deref(), &hash);
    let in_grace = access
        .previous_access_token_until
        .is_some_and(|until| now_ms < until);
    current | (previous & in_grace)
}

fn same(stored: Option<&str>, hash: &str) -> bool {
    stored.is_some_and(|s| bool::from(s.as_bytes().ct_eq(hash.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppContextId;

    fn access(current: &str, previous: Option<(&str, i64)>) -> AppContextAccess {
        AppContextAccess {
            id: AppContextId(1),
            authorization_header_prefix: "Bearer ".into(),
            access_token_hash: Some(token_hash(current)),
            previous_access_token_hash: previous.map(|(t, _)| token_hash(t)),
            previous_access_token_until: previous.map(|(_, until)| until),
        }
    }

    #[test]
    fn the_current_token_and_the_previous_within_its_grace_are_admitted() {
        let a = access("new", Some(("old", 1_000)));
        assert!(admits(&a, "new", 5_000));
        assert!(admits(&a, "old", 999));
        assert!(!admits(&a, "old", 1_000), "the grace is over");
        assert!(!admits(&a, "other", 0));
        assert!(!admits(&access("new", None), "old", 0));
    }
}
