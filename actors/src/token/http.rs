//! The `oauth2` crate's HTTP client, over the server's guarded client: every request obeys the
//! outbound rule and follows no redirect, and the tree keeps one reqwest.
//!
//! One [`OAuthHttp`] serves one grant: it remembers the status and `Retry-After` of the last
//! answer, which the crate's errors do not carry, so a 429 or 5xx can be told from a refusal.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

use crate::outbound::{refusal_in, GuardedClient, OutboundError};

/// The most of a token endpoint's answer that is read.
const MAX_BODY: usize = 64 * 1024;

/// Why a request to a token endpoint got no answer.
#[derive(Debug, thiserror::Error)]
pub(super) enum HttpFailure {
    /// The outbound rule refused the address; nothing was sent.
    #[error("{0}")]
    Blocked(OutboundError),
    /// No answer within the time allowed.
    #[error("the token endpoint did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection or protocol failure.
    #[error("the token endpoint could not be reached: {0}")]
    Transport(String),
}

/// The status and `Retry-After` of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    pub status: u16,
    pub retry_after: Option<Duration>,
}

/// The HTTP client of one grant.
pub(super) struct OAuthHttp {
    client: GuardedClient,
    timeout: Duration,
    last: Mutex<Option<Seen>>,
}

impl OAuthHttp {
    pub fn new(client: GuardedClient, timeout: Duration) -> Self {
        OAuthHttp {
            client,
            timeout,
            last: Mutex::new(None),
        }
    }

    /// The status and `Retry-After` of the last answer, if one came.
    pub fn seen(&self) -> Option<Seen> {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let (parts, body) = request.into_parts();
        let builder = self
            .client
            .request(parts.method, &parts.uri.to_string())
            .map_err(HttpFailure::Blocked)?
            .headers(parts.headers)
            .body(body);
        let mut resp = tokio::time::timeout(self.timeout, builder.send())
            .await
            .map_err(|_| HttpFailure::Timeout(self.timeout))?
            .map_err(transport)?;
        let status = resp.status();
        let seen = Seen {
            status: status.as_u16(),
            retry_after: retry_after(resp.headers()),
        };
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        let read = async {
            while let Some(chunk) = resp.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(HttpFailure::Transport(format!(
                        "the answer is larger than {MAX_BODY} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(())
        };
        tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| HttpFailure::Timeout(self.timeout))??;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(seen);
        let mut out = HttpResponse::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

impl<'c> AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpFailure;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpFailure>> + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// A transport error, as the refusal of the outbound rule when that is what it is. The URL is
/// left out: the endpoint is known to whoever reads it.
fn transport(e: reqwest::Error) -> HttpFailure {
    match refusal_in(&e) {
        Some(blocked) => HttpFailure::Blocked(blocked),
        None if e.is_timeout() => HttpFailure::Transport("timed out".to_string()),
        None => HttpFailure::Transport(crate::diagnose::transport_reason(&e.without_url())),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by token endpoints).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
