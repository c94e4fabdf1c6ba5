//! The Xelion REST API v1 client: sessions, users and the websocket URL.
//!
//! Tolerant where the upstream is only assumed (see the upstream notes): unknown fields are
//! ignored, oids may arrive as strings or numbers, and any 401 on a session means "log in
//! again".

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::Protocol;
use crate::outbound::{refusal_in, ClientBuildError, GuardedClient, OutboundError, OutboundPolicy};
use crate::secrets::Secret;

/// Where a Xelion tenant lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XelionEndpoint {
    /// `http` or `https`.
    pub protocol: Protocol,
    /// Host name, optionally with `:port`.
    pub host: String,
    /// Tenant name (`master` on single-tenant systems).
    pub tenant: String,
}

impl XelionEndpoint {
    /// `{protocol}://{host}/api/v1/{tenant}/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}://{}/api/v1/{}/{}",
            self.protocol,
            self.host,
            urlencode_segment(&self.tenant),
            path
        )
    }
}

/// A logged-in Xelion session.
#[derive(Debug, Clone)]
pub struct XelionSession {
    /// The `authentication` token (sent as `Authorization: xelion <token>`).
    pub authentication: Secret,
    /// The renewal token, if Xelion gave one.
    pub renewal_token: Option<Secret>,
    /// `validUntil` as Xelion wrote it.
    pub valid_until: Option<String>,
}

/// A Xelion user as the router needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XelionUser {
    /// The user's object id (opaque string of digits).
    pub oid: String,
    /// The login name.
    pub user_name: String,
    /// Whether the user administers the tenant.
    pub is_administrator: bool,
}

/// What a Xelion call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum XelionError {
    /// Xelion answered with an error body.
    #[error("Xelion answered {status} (errorCode {code}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Xelion's `errorCode` (0 when the body had none).
        code: i64,
        /// Xelion's `message`.
        message: String,
        /// The wait a 429/503 asked for (`Retry-After` in seconds).
        retry_after: Option<Duration>,
    },
    /// The outbound rule refused the address.
    #[error("{0}")]
    Blocked(#[from] OutboundError),
    /// Xelion could not be reached or timed out: where, and why.
    #[error("Xelion could not be reached at {url}: {reason}")]
    Transport {
        /// The URL tried, without its query.
        url: String,
        /// Refused, DNS, TLS, timeout, ...
        reason: String,
    },
    /// Xelion answered something the client cannot read.
    #[error("unexpected answer from Xelion: {0}")]
    Decode(String),
}

impl XelionError {
    /// True for wrong credentials, an expired session or an invalid token.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, XelionError::Api { status: 401, .. })
    }
}

/// The client, cheap to clone.
#[derive(Clone)]
pub struct XelionClient {
    http: GuardedClient,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginResponse {
    authentication: String,
    #[serde(default)]
    renewal_token: Option<String>,
    #[serde(default)]
    valid_until: Option<String>,
}

impl XelionClient {
    /// A client obeying the outbound rule.
    pub fn new(policy: &OutboundPolicy) -> Result<Self, ClientBuildError> {
        Ok(XelionClient {
            http: policy.http_client(Duration::from_secs(20))?,
        })
    }

    /// The outbound rule this client obeys (the websocket follows it too).
    pub fn policy(&self) -> &OutboundPolicy {
        self.http.policy()
    }

    /// The guarded HTTP client underneath, shared with the OAuth token grants.
    pub fn http(&self) -> &GuardedClient {
        &self.http
    }

    async fn call(
        &self,
        ep: &XelionEndpoint,
        method: reqwest::Method,
        path: &str,
        auth: Option<&Secret>,
        body: Option<Value>,
    ) -> Result<Value, XelionError> {
        let url = ep.url(path);
        let mut req = self.http.request(method, &url)?;
        if let Some(token) = auth {
            req = req.header("Authorization", format!("xelion {}", token.expose()));
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| transport_error(&url, e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await.map_err(|e| transport_error(&url, e))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let code = value.get("errorCode").and_then(Value::as_i64).unwrap_or(0);
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .chars()
            .take(300)
            .collect();
        Err(XelionError::Api {
            status,
            code,
            message,
            retry_after,
        })
    }

    /// `POST me/login` with a userSpace of the caller's choosing.
    pub async fn login(
        &self,
        ep: &XelionEndpoint,
        user_name: &str,
        password: &Secret,
        user_space: &str,
    ) -> Result<XelionSession, XelionError> {
        self.login_replacing(ep, user_name, password, user_space, None)
            .await
    }

    /// `POST me/login` that carries a previous session's token, so that Xelion ends that
    /// session first instead of refusing a second one with the same userSpace (10005).
    pub async fn login_replacing(
        &self,
        ep: &XelionEndpoint,
        user_name: &str,
        password: &Secret,
        user_space: &str,
        previous: Option<&Secret>,
    ) -> Result<XelionSession, XelionError> {
        let body = json!({
            "userName": user_name,
            "password": password.expose(),
            "userSpace": user_space,
        });
        let value = self
            .call(ep, reqwest::Method::POST, "me/login", previous, Some(body))
            .await?;
        session_from(value)
    }

    /// `POST me/renew`: a new token before `validUntil`. The body is the renewal token as a
    /// bare JSON string (the password when Xelion gave no renewal token).
    pub async fn renew(
        &self,
        ep: &XelionEndpoint,
        session: &XelionSession,
        password: &Secret,
    ) -> Result<XelionSession, XelionError> {
        let proof = session.renewal_token.as_ref().unwrap_or(password);
        let body = Value::String(proof.expose().to_string());
        let value = self
            .call(
                ep,
                reqwest::Method::POST,
                "me/renew",
                Some(&session.authentication),
                Some(body),
            )
            .await?;
        session_from(value)
    }

    /// `POST me/websocket`: a single-use websocket URL (the URL is the credential).
    pub async fn websocket_url(
        &self,
        ep: &XelionEndpoint,
        session: &XelionSession,
    ) -> Result<String, XelionError> {
        let value = self
            .call(
                ep,
                reqwest::Method::POST,
                "me/websocket",
                Some(&session.authentication),
                None,
            )
            .await?;
        value
            .get("object")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| XelionError::Decode("me/websocket carries no URL in `object`".into()))
    }

    /// `POST me/logout`; failures are logged, not returned (the session expires anyway).
    pub async fn logout(&self, ep: &XelionEndpoint, session: &XelionSession) {
        if let Err(e) = self
            .call(
                ep,
                reqwest::Method::POST,
                "me/logout",
                Some(&session.authentication),
                None,
            )
            .await
        {
            tracing::debug!(host = %ep.host, tenant = %ep.tenant, error = %e, "Xelion logout failed");
        }
    }

    /// `GET me/info`: the user name of whoever owns `token`.
    pub async fn me_user_name(
        &self,
        ep: &XelionEndpoint,
        token: &Secret,
    ) -> Result<String, XelionError> {
        let value = self
            .call(ep, reqwest::Method::GET, "me/info", Some(token), None)
            .await?;
        let object = value.get("object").unwrap_or(&value);
        object
            .get("userName")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| XelionError::Decode("me/info carries no userName".into()))
    }

    /// `GET users?where=userName=<name>`: the user with exactly that name, if any.
    pub async fn find_user(
        &self,
        ep: &XelionEndpoint,
        token: &Secret,
        user_name: &str,
    ) -> Result<Option<XelionUser>, XelionError> {
        let path = format!(
            "users?where={}",
            urlencode_query(&format!("userName={user_name}"))
        );
        let value = self
            .call(ep, reqwest::Method::GET, &path, Some(token), None)
            .await?;
        let data = value
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(data
            .iter()
            .filter_map(|item| parse_user(item.get("object").unwrap_or(item)))
            .find(|u| u.user_name.eq_ignore_ascii_case(user_name)))
    }

    /// `GET users/{oid}`: one user, `None` when Xelion does not know the oid.
    pub async fn user(
        &self,
        ep: &XelionEndpoint,
        token: &Secret,
        oid: &str,
    ) -> Result<Option<XelionUser>, XelionError> {
        let path = format!("users/{}", urlencode_segment(oid));
        match self
            .call(ep, reqwest::Method::GET, &path, Some(token), None)
            .await
        {
            Ok(value) => Ok(parse_user(value.get("object").unwrap_or(&value))),
            Err(XelionError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Logs in with a fresh one-off userSpace, checks that the user administers the tenant,
    /// and logs out again. Returns the user.
    pub async fn verify_admin(
        &self,
        ep: &XelionEndpoint,
        user_name: &str,
        password: &Secret,
    ) -> Result<AdminCheck, XelionError> {
        let session = self
            .login(ep, user_name, password, &one_off_user_space())
            .await?;
        let found = self.find_user(ep, &session.authentication, user_name).await;
        let check = match found {
            Ok(Some(user)) if user.is_administrator => Ok(AdminCheck::Admin(session.clone())),
            Ok(_) => Ok(AdminCheck::NotAdmin),
            Err(e) => Err(e),
        };
        if !matches!(check, Ok(AdminCheck::Admin(_))) {
            self.logout(ep, &session).await;
        }
        check
    }
}

fn session_from(value: Value) -> Result<XelionSession, XelionError> {
    let login: LoginResponse =
        serde_json::from_value(value).map_err(|e| XelionError::Decode(e.to_string()))?;
    Ok(XelionSession {
        authentication: Secret::new(login.authentication),
        renewal_token: login.renewal_token.map(Secret::new),
        valid_until: login.valid_until,
    })
}

/// The outcome of [`XelionClient::verify_admin`].
#[derive(Debug)]
pub enum AdminCheck {
    /// The user is an administrator; the session is still open for follow-up calls and must
    /// be logged out by the caller.
    Admin(XelionSession),
    /// Valid credentials, but not an administrator (already logged out).
    NotAdmin,
}

/// A random userSpace for one-off sessions, so a check never collides with the event session.
pub fn one_off_user_space() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("xelion-cti-check-{n:016x}")
}

fn parse_user(object: &Value) -> Option<XelionUser> {
    let oid = match object.get("oid")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let user_name = object.get("userName")?.as_str()?.to_string();
    // Neither can be stored (nor named by a caller, who cannot send NUL).
    if oid.contains('\0') || user_name.contains('\0') {
        return None;
    }
    let is_administrator = match object.get("isAdministrator") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    Some(XelionUser {
        oid,
        user_name,
        is_administrator,
    })
}

fn transport_error(url: &str, e: reqwest::Error) -> XelionError {
    // The resolver's refusal surfaces as a connect error; report it as the policy's.
    if let Some(blocked) = refusal_in(&e) {
        return XelionError::Blocked(blocked);
    }
    XelionError::Transport {
        url: crate::diagnose::shown_url(url),
        reason: crate::diagnose::transport_reason(&e.without_url()),
    }
}

/// Percent-encodes a path segment.
fn urlencode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    cti_el::percent_encode(s, cti_el::UriPosition::Path, &mut out);
    out
}

/// Percent-encodes a query component.
fn urlencode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    cti_el::percent_encode(s, cti_el::UriPosition::Query, &mut out);
    out
}
