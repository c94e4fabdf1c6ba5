//! The login rate limit: failed logins with caller-supplied credentials (login, creating an
//! integration) are counted per source address and per (host, tenant, user); once either
//! count reaches its limit within a minute, further attempts answer 429 without reaching
//! Xelion. Successful logins count against nothing, so scripts and tests that log in often
//! are not slowed; what can be checked without a login is checked before this limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

const WINDOW: Duration = Duration::from_secs(60);

/// Fixed one-minute windows per key.
pub(super) struct LoginLimiter {
    /// Failed attempts allowed per source address per minute (0: no limit).
    per_source: u32,
    /// Failed attempts allowed per (host, tenant, user) per minute (0: no limit).
    per_user: u32,
    /// Start and count of failures of the current window of each key.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Who attempts a login: the keys it is counted under.
pub(super) struct Attempt {
    keys: [(String, u32); 2],
}

impl LoginLimiter {
    /// A limiter with the limits per source address and per (host, tenant, user).
    pub(super) fn new(per_source: u32, per_user: u32) -> Self {
        LoginLimiter {
            per_source,
            per_user,
            windows: Mutex::default(),
        }
    }

    /// The attempt of `source` as `user` at (`host`, `tenant`).
    pub(super) fn attempt(&self, source: &str, host: &str, tenant: &str, user: &str) -> Attempt {
        Attempt {
            keys: [
                (format!("src:{source}"), self.per_source),
                (
                    format!("user:{host}/{tenant}/{}", user.to_lowercase()),
                    self.per_user,
                ),
            ],
        }
    }

    /// 429 (with the seconds until the window ends) when either key has used up its failures.
    pub(super) fn check(&self, attempt: &Attempt) -> Result<(), ApiError> {
        self.check_at(attempt, Instant::now())
    }

    /// Counts a failed attempt (Xelion refused the credentials, or the user is no admin).
    pub(super) fn failed(&self, attempt: &Attempt) {
        self.failed_at(attempt, Instant::now());
    }

    fn check_at(&self, attempt: &Attempt, now: Instant) -> Result<(), ApiError> {
        let mut windows = self.lock();
        for (key, limit) in &attempt.keys {
            if *limit == 0 {
                continue;
            }
            if let Some((start, count)) = windows.get(key) {
                let age = now.duration_since(*start);
                if age < WINDOW && *count >= *limit {
                    return Err(ApiError::RateLimited {
                        retry_after: WINDOW.saturating_sub(age).as_secs().max(1),
                    });
                }
            }
        }
        if windows.len() > 10_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        Ok(())
    }

    fn failed_at(&self, attempt: &Attempt, now: Instant) {
        let mut windows = self.lock();
        for (key, _) in &attempt.keys {
            let entry = windows.entry(key.clone()).or_insert((now, 0));
            if now.duration_since(entry.0) >= WINDOW {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        self.windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether an error of a login means the credentials were wrong (a guess that failed).
pub(super) fn is_refusal(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::WrongCredentials(_) | ApiError::NotAdministrator { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_count() {
        let l = LoginLimiter::new(100, 2);
        let a = l.attempt("10.0.0.1", "h", "t", "admin");
        let now = Instant::now();
        for _ in 0..50 {
            assert!(l.check_at(&a, now).is_ok(), "successes never count");
        }
        l.failed_at(&a, now);
        assert!(l.check_at(&a, now).is_ok());
        l.failed_at(&a, now);
        let refused = l.check_at(&a, now + Duration::from_secs(20)).unwrap_err();
        assert_eq!(refused, ApiError::RateLimited { retry_after: 40 });
        assert!(l.check_at(&a, now + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn user_names_count_case_insensitively_and_zero_is_no_limit() {
        let l = LoginLimiter::new(100, 1);
        l.failed(&l.attempt("10.0.0.1", "h", "t", "Admin"));
        let other_source = l.attempt("10.0.0.2", "h", "t", "admin");
        assert_eq!(l.check(&other_source).unwrap_err().status(), 429);
        let open = LoginLimiter::new(0, 0);
        let a = open.attempt("s", "h", "t", "u");
        for _ in 0..100 {
            open.failed(&a);
        }
        assert!(open.check(&a).is_ok());
    }
}
