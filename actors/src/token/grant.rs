//! One grant at a token endpoint: the request (with the client authentication fallback), the
//! reading of the answer, and storing its outcome before the token is used.
//!
//! The refresh_token grant goes through the `oauth2` crate. The device_code grant is one
//! request built here: the crate only offers a polling loop that sleeps inside one future and
//! adds a fixed 5 s on `slow_down`, while the actor needs each poll's outcome (to show it and to
//! be reloaded or stopped between polls). The answers of both are read with the crate's types.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use oauth2::http::{HeaderValue, Method};
use oauth2::url::form_urlencoded;
use oauth2::{
    AsyncHttpClient, AuthType, ClientId, ClientSecret, DeviceCodeErrorResponse, RefreshToken,
    RequestTokenError, TokenResponse, TokenUrl,
};

use super::http::{HttpFailure, OAuthHttp, Seen};
use super::AccessToken;
use crate::clock::now_unix;
use crate::domain::TokenOwner;
use crate::outbound::GuardedClient;
use crate::secrets::Secret;
use crate::store::{GrantWrite, Store, StoreError, TokenEndpointId};

/// The grant type URN of RFC 8628.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// OAuth error codes that park the owner: only new credentials can fix them.
const PARKING: [&str; 5] = [
    "invalid_grant",
    "invalid_client",
    "unauthorized_client",
    "access_denied",
    "expired_token",
];

/// How the client authenticates at the token endpoint (RFC 6749 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthMethod {
    /// `client_id` and `client_secret` as form fields.
    Form,
    /// HTTP Basic with the form-urlencoded id and secret.
    Basic,
}

impl AuthMethod {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Form => "form",
            AuthMethod::Basic => "basic",
        }
    }

    /// A stored name; anything unknown is the default, form fields.
    pub fn from_stored(s: Option<&str>) -> Self {
        match s {
            Some("basic") => AuthMethod::Basic,
            _ => AuthMethod::Form,
        }
    }

    fn other(self) -> Self {
        match self {
            AuthMethod::Form => AuthMethod::Basic,
            AuthMethod::Basic => AuthMethod::Form,
        }
    }
}

/// Which grant to make.
#[derive(Debug, Clone)]
pub(super) enum GrantKind {
    Refresh(Secret),
    Device(Secret),
}

/// Everything one grant needs, taken from the actor's state.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub owner: TokenOwner,
    /// The credentials version the grant runs on: its outcome is stored only if it still holds.
    pub version: i64,
    /// Whose token endpoint it is (the client authentication is remembered per endpoint).
    pub endpoint: TokenEndpointId,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub kind: GrantKind,
    pub method: AuthMethod,
    pub timeout: Duration,
    pub default_lifetime: Duration,
    /// App contexts: how long the replaced access token stays accepted from callers.
    pub previous_token_grace: Duration,
}

/// What became of a grant.
#[derive(Debug)]
pub(super) enum Outcome {
    /// A token, stored; the refresh token it brought (rotated, or the first of a device code).
    Token {
        token: AccessToken,
        refresh: Option<Secret>,
        device_code_used: bool,
    },
    /// An error only new credentials fix; stored.
    Park { error: String },
    /// A failure that may pass.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Device code: not approved yet.
    Pending,
    /// Device code: polling too fast.
    SlowDown,
    /// The credentials changed (or the owner was deleted) while the grant ran: its outcome was
    /// not stored and must not be used.
    Superseded,
    /// The token could not be stored, so it is not used.
    StoreFailed(StoreError),
}

/// A grant's outcome and the client authentication it found to work, when that changed.
#[derive(Debug)]
pub(super) struct Done {
    pub outcome: Outcome,
    pub learned: Option<AuthMethod>,
}

/// One answer of the token endpoint, read.
enum Answer {
    Granted {
        access: Secret,
        expires_in: Option<Duration>,
        refresh: Option<Secret>,
    },
    /// An OAuth error code from the body.
    Refused(String),
    /// No usable answer: a failure that may pass.
    Failed {
        message: String,
        retry_after: Option<Duration>,
    },
}

/// Makes the grant, falling back to the other client authentication once on `invalid_client`,
/// and stores the outcome.
pub(super) async fn run(job: Job, client: GuardedClient, store: Store) -> Done {
    let first = attempt(&job, job.method, &client).await;
    let (answer, learned) = match first {
        Answer::Refused(code) if code == "invalid_client" && job.client_secret.is_some() => {
            let other = job.method.other();
            match attempt(&job, other, &client).await {
                Answer::Refused(code) if code == "invalid_client" => (Answer::Refused(code), None),
                a @ (Answer::Granted { .. } | Answer::Refused(_)) => (a, Some(other)),
                a @ Answer::Failed { .. } => (a, None),
            }
        }
        a => (a, None),
    };
    if let Some(method) = learned {
        tracing::info!(endpoint = %job.endpoint, method = method.as_str(),
            "the token endpoint takes this client authentication; remembered");
        if let Err(e) = store
            .set_token_auth_method(job.endpoint, method.as_str())
            .await
        {
            tracing::warn!(endpoint = %job.endpoint, error = %e,
                "the client authentication could not be remembered");
        }
    }
    let outcome = conclude(&job, answer, &store).await;
    Done { outcome, learned }
}

/// Turns an answer into an outcome, storing what must be stored first.
async fn conclude(job: &Job, answer: Answer, store: &Store) -> Outcome {
    match answer {
        Answer::Granted {
            access,
            expires_in,
            refresh,
        } => {
            let now = now_unix();
            let lifetime = expires_in.unwrap_or(job.default_lifetime).as_secs();
            let expires_at = now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX));
            let device_code_used = matches!(job.kind, GrantKind::Device(_));
            let write = GrantWrite {
                access_token: &access,
                expires_at,
                refresh_token: refresh.as_ref(),
                device_code_used,
                now,
                previous_valid_until: crate::clock::Timestamp::now()
                    .plus(job.previous_token_grace)
                    .millis(),
            };
            match store.store_grant(job.owner, job.version, &write).await {
                Ok(()) => Outcome::Token {
                    token: AccessToken {
                        token: access,
                        expires_at: unix_time(expires_at),
                    },
                    refresh,
                    device_code_used,
                },
                Err(StoreError::NotFound) => Outcome::Superseded,
                Err(e) => Outcome::StoreFailed(e),
            }
        }
        Answer::Refused(code) if code == "authorization_pending" => Outcome::Pending,
        Answer::Refused(code) if code == "slow_down" => Outcome::SlowDown,
        Answer::Refused(code) if PARKING.contains(&code.as_str()) => {
            match store.park(job.owner, job.version, &code, now_unix()).await {
                Ok(()) => Outcome::Park { error: code },
                Err(StoreError::NotFound) => Outcome::Superseded,
                Err(e) => {
                    // Parked all the same: a grant with these credentials would fail again.
                    tracing::warn!(owner = %job.owner, error = %e, "the parking could not be stored");
                    Outcome::Park { error: code }
                }
            }
        }
        Answer::Refused(code) => Outcome::Transient {
            message: format!("the token endpoint answered `{code}`"),
            retry_after: None,
        },
        Answer::Failed {
            message,
            retry_after,
        } => Outcome::Transient {
            message,
            retry_after,
        },
    }
}

/// Unix seconds as a time.
pub(super) fn unix_time(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// One request with one client authentication.
async fn attempt(job: &Job, method: AuthMethod, client: &GuardedClient) -> Answer {
    let http = OAuthHttp::new(client.clone(), job.timeout);
    match &job.kind {
        GrantKind::Refresh(refresh) => refresh_grant(job, method, &http, refresh).await,
        GrantKind::Device(code) => device_grant(job, method, &http, code).await,
    }
}

async fn refresh_grant(
    job: &Job,
    method: AuthMethod,
    http: &OAuthHttp,
    refresh: &Secret,
) -> Answer {
    let token_url = match TokenUrl::new(job.token_url.clone()) {
        Ok(url) => url,
        Err(_) => return failed(format!("`{}` is not a valid URL", job.token_url)),
    };
    let mut client = BasicClient::new(ClientId::new(job.client_id.clone()))
        .set_token_uri(token_url)
        .set_auth_type(match method {
            AuthMethod::Form => AuthType::RequestBody,
            AuthMethod::Basic => AuthType::BasicAuth,
        });
    if let Some(secret) = &job.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    let refresh = RefreshToken::new(refresh.expose().to_string());
    match client
        .exchange_refresh_token(&refresh)
        .request_async(http)
        .await
    {
        Ok(resp) => granted(&resp),
        Err(err) => read_failure(err, http.seen()),
    }
}

/// A failed refresh_token grant: the `error` of the body decides, unless the status says the
/// endpoint itself failed (429, 5xx).
fn read_failure(
    err: RequestTokenError<HttpFailure, BasicErrorResponse>,
    seen: Option<Seen>,
) -> Answer {
    if let Some(answer) = seen.and_then(endpoint_failed) {
        return answer;
    }
    match err {
        RequestTokenError::ServerResponse(e) => Answer::Refused(e.error().as_ref().to_string()),
        RequestTokenError::Request(e) => failed(e.to_string()),
        RequestTokenError::Parse(_, body) => {
            match serde_json::from_slice::<BasicErrorResponse>(&body) {
                Ok(e) => Answer::Refused(e.error().as_ref().to_string()),
                Err(_) => failed(unreadable(seen)),
            }
        }
        RequestTokenError::Other(_) => failed(unreadable(seen)),
    }
}

/// The device_code grant (RFC 8628 3.4), one poll.
async fn device_grant(job: &Job, method: AuthMethod, http: &OAuthHttp, code: &Secret) -> Answer {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", DEVICE_CODE_GRANT)
        .append_pair("device_code", code.expose());
    let mut request = oauth2::http::Request::builder()
        .method(Method::POST)
        .uri(job.token_url.as_str())
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    match (&job.client_secret, method) {
        (Some(secret), AuthMethod::Basic) => {
            request = request.header(AUTHORIZATION, basic_credentials(&job.client_id, secret));
        }
        (secret, _) => {
            form.append_pair("client_id", &job.client_id);
            if let Some(secret) = secret {
                form.append_pair("client_secret", secret.expose());
            }
        }
    }
    let request = match request.body(form.finish().into_bytes()) {
        Ok(r) => r,
        Err(_) => return failed(format!("`{}` is not a valid URL", job.token_url)),
    };
    let resp = match http.call(request).await {
        Ok(resp) => resp,
        Err(e) => return failed(e.to_string()),
    };
    let seen = http.seen();
    if let Some(answer) = seen.and_then(endpoint_failed) {
        return answer;
    }
    let body = resp.body();
    if resp.status().is_success() {
        if let Ok(token) = serde_json::from_slice::<BasicTokenResponse>(body) {
            return granted(&token);
        }
    }
    match serde_json::from_slice::<DeviceCodeErrorResponse>(body) {
        Ok(e) => Answer::Refused(e.error().as_ref().to_string()),
        Err(_) => failed(unreadable(seen)),
    }
}

/// `Authorization: Basic` with the id and secret form-urlencoded first (RFC 6749 2.3.1), as
/// the `oauth2` crate sends it for the refresh_token grant; marked sensitive.
fn basic_credentials(client_id: &str, secret: &Secret) -> HeaderValue {
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(secret.expose().as_bytes()).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

fn granted(resp: &BasicTokenResponse) -> Answer {
    Answer::Granted {
        access: Secret::new(resp.access_token().secret().clone()),
        expires_in: resp.expires_in(),
        refresh: resp
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone())),
    }
}

/// 429 and 5xx: the endpoint failed, whatever the body says.
fn endpoint_failed(seen: Seen) -> Option<Answer> {
    (seen.status == 429 || seen.status >= 500).then(|| Answer::Failed {
        message: format!("the token endpoint answered HTTP {}", seen.status),
        retry_after: seen.retry_after,
    })
}

fn unreadable(seen: Option<Seen>) -> String {
    match seen {
        Some(s) => format!(
            "unexpected answer from the token endpoint (HTTP {})",
            s.status
        ),
        None => "unexpected answer from the token endpoint".to_string(),
    }
}

fn failed(message: String) -> Answer {
    Answer::Failed {
        message,
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urlencoded_before_base64() {
        let value = basic_credentials("my client", &Secret::new("a+b%c:d"));
        assert!(value.is_sensitive());
        let text = value.to_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "my+client:a%2Bb%25c%3Ad"
        );
    }

    #[test]
    fn failed_endpoints_are_transient_whatever_the_body() {
        for status in [429, 500, 503] {
            let seen = Seen {
                status,
                retry_after: Some(Duration::from_secs(7)),
            };
            match endpoint_failed(seen) {
                Some(Answer::Failed { retry_after, .. }) => {
                    assert_eq!(retry_after, Some(Duration::from_secs(7)))
                }
                _ => panic!("{status} is not a transient failure"),
            }
        }
        assert!(endpoint_failed(Seen {
            status: 400,
            retry_after: None
        })
        .is_none());
    }
}
