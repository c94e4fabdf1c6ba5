//! What an attempt's answer means, and when the next attempt is due. Pure functions: the
//! dispatcher records and schedules, these decide.

use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::outbound::refusal_in;

/// The verdict on one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done.
    Delivered,
    /// 401: invalidate the token, get a fresh one and retry once at once.
    Unauthorized,
    /// 408, 425, 429, 5xx, a timeout or a connection failure: try again later, not before
    /// `retry_after` if the CRM said so.
    RetryLater {
        /// The CRM's `Retry-After`, as a duration from now.
        retry_after: Option<Duration>,
        /// What happened, for the delivery log.
        reason: String,
    },
    /// Any other answer, or a request that can never succeed: failed, no retry.
    FailedForGood {
        /// What happened, for the delivery log.
        reason: String,
    },
}

/// The verdict on an HTTP answer. Redirects are not followed, so 3xx is failed for good.
pub fn classify_status(status: u16, headers: &HeaderMap, now: SystemTime) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        401 => Verdict::Unauthorized,
        408 | 425 | 429 | 500..=599 => Verdict::RetryLater {
            retry_after: retry_after(headers, now),
            reason: format!("HTTP {status}"),
        },
        300..=399 => Verdict::FailedForGood {
            reason: format!("HTTP {status}: redirects are not followed"),
        },
        400..=499 => Verdict::FailedForGood {
            reason: format!("HTTP {status}"),
        },
        _ => Verdict::FailedForGood {
            reason: format!("HTTP {status}: not a final status"),
        },
    }
}

/// `Retry-After` as a duration from `now`: delay-seconds or an HTTP date (the three formats
/// of RFC 9110); a date in the past is zero. `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long values saturate; the retry policy caps them anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The verdict on a request that got no answer. The outbound rule's refusal (an address that
/// is not public) and a request that cannot be built fail for good; timeouts, connection
/// failures and other transport errors are retried. The reason names the failure, never the
/// URL (which carries call data).
pub fn classify_error(e: &reqwest::Error) -> Verdict {
    if let Some(refused) = refusal_in(e) {
        return Verdict::FailedForGood {
            reason: format!("refused by the outbound rule: {refused}"),
        };
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_builder() {
        return Verdict::FailedForGood {
            reason: format!("the request cannot be built: {}", innermost(e)),
        };
    } else if e.is_redirect() {
        return Verdict::FailedForGood {
            reason: "redirects are not followed".into(),
        };
    } else if e.is_body() {
        "sending the body failed"
    } else {
        "the request failed"
    };
    Verdict::RetryLater {
        retry_after: None,
        reason: format!("{kind}: {}", innermost(e)),
    }
}

/// The innermost cause's message (the OS or protocol error), without reqwest's URL.
fn innermost(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    let mut depth = 0;
    while let Some(next) = cause.source() {
        cause = next;
        depth += 1;
    }
    if depth > 0 {
        return cause.to_string();
    }
    let shown = e.to_string();
    match e.url() {
        Some(url) => shown.replace(url.as_str(), "<url>"),
        None => shown,
    }
}

/// When failed deliveries are tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// How long after the first attempt a delivery is given up (failed).
    pub ttl: Duration,
    /// The longest `Retry-After` honoured; longer ones are cut to this.
    pub retry_after_cap: Duration,
    /// The shortest wait, also under a `Retry-After` of zero (no hot loop).
    pub min_delay: Duration,
    /// The wait after the first failed attempt.
    pub base: Duration,
    /// Each failed attempt multiplies the wait by this.
    pub factor: u32,
    /// The longest wait of the schedule.
    pub max_delay: Duration,
    /// Jitter: each wait is drawn from `[1 - jitter, 1 + jitter] x` the scheduled wait.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 2 s, 6 s, 18 s, 54 s, 2.7 min, 8 min, 24 min, 73 min, then every 2 h, each +-20 %,
    /// until 24 h; `Retry-After` honoured up to 1 h.
    fn default() -> Self {
        RetryPolicy {
            ttl: Duration::from_secs(24 * 3600),
            retry_after_cap: Duration::from_secs(3600),
            min_delay: Duration::from_secs(1),
            base: Duration::from_secs(2),
            factor: 3,
            max_delay: Duration::from_secs(2 * 3600),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The scheduled wait after `attempts` failed attempts (1 = the first), before jitter.
    pub fn scheduled_delay(&self, attempts: u32) -> Duration {
        let mut delay = self.base;
        for _ in 1..attempts.max(1) {
            delay = delay.saturating_mul(self.factor.max(1));
            if delay >= self.max_delay {
                break;
            }
        }
        delay.min(self.max_delay).max(self.min_delay)
    }

    /// When to try again after `attempts` failed attempts, the first made at
    /// `first_attempt_at`; `None` once the time-to-live is over (the delivery fails).
    ///
    /// Without `retry_after` the wait follows the escalating schedule with jitter. With one,
    /// the CRM's word replaces the schedule: the wait is `retry_after` cut to
    /// [`RetryPolicy::retry_after_cap`], at least [`RetryPolicy::min_delay`], plus up to
    /// `jitter` of it (never earlier than asked), so deliveries told the same time do not all
    /// come back at once. The last attempt is made when the time-to-live ends.
    pub fn next_attempt(
        &self,
        attempts: u32,
        first_attempt_at: SystemTime,
        retry_after: Option<Duration>,
        now: SystemTime,
        rng: &mut impl Rng,
    ) -> Option<SystemTime> {
        let deadline = first_attempt_at.checked_add(self.ttl)?;
        if now >= deadline {
            return None;
        }
        let jitter = self.jitter.clamp(0.0, 1.0);
        let delay = match retry_after {
            Some(asked) => {
                let asked = asked.min(self.retry_after_cap).max(self.min_delay);
                asked.mul_f64(1.0 + rng.gen_range(0.0..=jitter))
            }
            None => self
                .scheduled_delay(attempts)
                .mul_f64(rng.gen_range(1.0 - jitter..=1.0 + jitter))
                .max(self.min_delay),
        };
        Some(
            now.checked_add(delay)
                .map_or(deadline, |at| at.min(deadline)),
        )
    }
}

/// At most `limit` bytes of an answer body as text, cut at a character boundary; invalid
/// UTF-8 becomes U+FFFD and `…` marks a cut.
pub fn excerpt(body: &[u8], limit: usize) -> String {
    let cut = body.len() > limit;
    let head = &body[..body.len().min(limit)];
    let mut out = String::with_capacity(head.len() + 3);
    let mut chunks = head.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        out.push_str(chunk.valid());
        let invalid = chunk.invalid();
        // A character split by the cut is dropped, not shown as broken.
        let split_by_cut = cut && chunks.peek().is_none() && is_incomplete_tail(invalid);
        if !invalid.is_empty() && !split_by_cut {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    if cut {
        out.push('…');
    }
    out
}

/// Whether `bytes` is the start of a multi-byte UTF-8 sequence that a cut ended early.
fn is_incomplete_tail(bytes: &[u8]) -> bool {
    let Some(&lead) = bytes.first() else {
        return false;
    };
    let needed = match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return false,
    };
    bytes.len() < needed && bytes[1..].iter().all(|b| b & 0xC0 == 0x80)
}

#[cfg(test)]
#[path = "outcome_tests.rs"]
mod tests;
