//! One attempt at one delivery: its user's token, the rendered request, the CRM's answer,
//! and what follows from it. No state of its own: the actor decides what to do next.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::clock::Timestamp;
use crate::dispatch::outcome::{classify_error, classify_status, excerpt, Verdict};
use crate::dispatch::render::{render, CompiledMapping, PreparedRequest};
use crate::outbound::GuardedClient;
use crate::secrets::Secret;
use crate::store::{Attempt, Delivery};
use crate::token::{AccessToken, TokenError, Tokens};

/// How much of an answer's body an attempt keeps.
pub const EXCERPT_LIMIT: usize = 512;

/// What a crm context's deliveries need: its prefix and compiled mappings.
#[derive(Debug)]
pub struct CrmTarget {
    pub authorization_header_prefix: String,
    pub mappings: std::collections::HashMap<crate::domain::MappingId, Arc<CompiledMapping>>,
}

/// What sending needs.
#[derive(Clone)]
pub struct Sender {
    pub http: GuardedClient,
    pub tokens: Tokens,
    pub timeout: Duration,
    /// Where render times are counted.
    pub metrics: crate::metrics::Metrics,
}

/// How one attempt ended.
#[derive(Debug)]
pub enum Sent {
    Delivered(Attempt),
    /// Send again later (at least `retry_after`, if the CRM asked).
    Retry {
        attempt: Attempt,
        retry_after: Option<Duration>,
    },
    /// Given up, with the reason.
    Failed {
        attempt: Option<Attempt>,
        reason: String,
    },
    /// The user's credentials need an update: not attempted.
    Held {
        reason: String,
    },
}

/// An attempt's outcome plus an earlier attempt of the same round (the 401 before a fresh
/// token), which is recorded first.
#[derive(Debug)]
pub struct Round {
    pub earlier: Option<Attempt>,
    pub sent: Sent,
}

impl Sender {
    /// One round for `d`: render, token, send; after a 401, a fresh token and once more.
    pub async fn round(&self, target: Option<Arc<CrmTarget>>, d: &Delivery) -> Round {
        let once = |sent| Round {
            earlier: None,
            sent,
        };
        let Some(target) = target else {
            return once(Sent::Failed {
                attempt: None,
                reason: "the crm context no longer exists".into(),
            });
        };
        let Some(mapping) = target.mappings.get(&d.mapping_id) else {
            return once(Sent::Failed {
                attempt: None,
                reason: format!("mapping {} no longer exists", d.mapping_id),
            });
        };
        let started = std::time::Instant::now();
        let rendered = render(mapping, d.xelion_event, &d.event);
        self.metrics.template_rendered(started.elapsed());
        let request = match rendered {
            Ok(r) => r,
            Err(e) => {
                return once(Sent::Failed {
                    attempt: None,
                    reason: format!("the mapping's template failed: {e}"),
                })
            }
        };
        let token = match self.tokens.get(d.user_id).await {
            Ok(t) => t,
            Err(e) => return once(token_trouble(e)),
        };
        let prefix = &target.authorization_header_prefix;
        let (attempt, verdict) = self.send(&request, prefix, &token, d).await;
        if !matches!(verdict, Verdict::Unauthorized) {
            return once(settle(attempt, verdict));
        }
        let fresh = match self.tokens.invalidate(d.user_id, &token.token).await {
            Ok(t) => t,
            Err(e) => {
                return Round {
                    earlier: Some(attempt),
                    sent: token_trouble(e),
                }
            }
        };
        let (again, verdict) = self.send(&request, prefix, &fresh, d).await;
        let sent = match verdict {
            Verdict::Unauthorized => Sent::Retry {
                attempt: again,
                retry_after: None,
            },
            v => settle(again, v),
        };
        Round {
            earlier: Some(attempt),
            sent,
        }
    }

    async fn send(
        &self,
        request: &PreparedRequest,
        prefix: &str,
        token: &AccessToken,
        d: &Delivery,
    ) -> (Attempt, Verdict) {
        let at = Timestamp::now();
        let started = Instant::now();
        let builder = match self.http.request(request.method.to_reqwest(), &request.uri) {
            Ok(b) => b,
            Err(refused) => {
                let reason = format!("the outbound rule refuses {}: {refused}", request.uri);
                return (
                    attempt(at, started, None, None, Some(reason.clone())),
                    Verdict::FailedForGood { reason },
                );
            }
        };
        let mut builder = builder.timeout(self.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        builder = builder
            .header(
                "Authorization",
                authorization(prefix, &token.token).expose(),
            )
            .header("Idempotency-Key", d.id.to_string());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        match builder.send().await {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let verdict = classify_status(status, resp.headers(), SystemTime::now());
                let mut body = Vec::new();
                while body.len() < EXCERPT_LIMIT {
                    match resp.chunk().await {
                        Ok(Some(c)) => body.extend_from_slice(&c),
                        _ => break,
                    }
                }
                let text = excerpt(&body, EXCERPT_LIMIT);
                let text = (!text.is_empty()).then_some(text);
                (attempt(at, started, Some(status), text, None), verdict)
            }
            Err(e) => {
                let verdict = classify_error(&e);
                (
                    attempt(at, started, None, None, Some(error_text(&e))),
                    verdict,
                )
            }
        }
    }
}

/// `Authorization: <prefix><token>`, kept a secret until it is written.
fn authorization(prefix: &str, token: &Secret) -> Secret {
    Secret::new(format!("{prefix}{}", token.expose()))
}

fn attempt(
    at: Timestamp,
    started: Instant,
    status: Option<u16>,
    excerpt: Option<String>,
    error: Option<String>,
) -> Attempt {
    Attempt {
        at,
        status,
        duration_ms: started.elapsed().as_millis() as u64,
        excerpt,
        error,
    }
}

/// A transport error without its URL (which the delivery log shows anyway).
fn error_text(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn settle(attempt: Attempt, verdict: Verdict) -> Sent {
    match verdict {
        Verdict::Delivered => Sent::Delivered(attempt),
        Verdict::RetryLater { retry_after, .. } => Sent::Retry {
            attempt,
            retry_after,
        },
        Verdict::FailedForGood { reason } => Sent::Failed {
            attempt: Some(attempt),
            reason,
        },
        Verdict::Unauthorized => Sent::Retry {
            attempt,
            retry_after: None,
        },
    }
}

/// What a token error means for the delivery.
fn token_trouble(e: TokenError) -> Sent {
    match e {
        TokenError::NeedsReauthorisation { error, .. } => Sent::Held {
            reason: format!("the user's credentials need re-authorisation ({error})"),
        },
        TokenError::NoSuchUser => Sent::Failed {
            attempt: None,
            reason: "the user no longer exists".into(),
        },
        TokenError::Transient {
            message,
            retry_after,
        } => no_token_yet(message, retry_after),
        TokenError::Store(e) => no_token_yet(e.to_string(), None),
    }
}

/// A round that got no access token for now: an attempt without a request, to retry.
fn no_token_yet(why: String, retry_after: Option<Duration>) -> Sent {
    Sent::Retry {
        attempt: Attempt {
            at: Timestamp::now(),
            status: None,
            duration_ms: 0,
            excerpt: None,
            error: Some(format!("no access token yet: {why}")),
        },
        retry_after,
    }
}
