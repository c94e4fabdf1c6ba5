//! The login rate limit: every command that logs in at Xelion with caller-supplied
//! credentials (login, creating an integration) counts as a login attempt.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// Fixed one-minute windows per key; enough to slow password guessing through the router.
pub(super) struct LoginLimiter {
    /// Attempts allowed per source address per minute.
    per_source: u32,
    /// Attempts allowed per (host, tenant, user) per minute.
    per_user: u32,
    /// Start and count of the current window of each key.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
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

    /// Counts a login attempt from `source` as `user` at (`host`, `tenant`); 429 when either
    /// limit is reached (a refused attempt counts against neither).
    pub(super) fn check_login_rate(
        &self,
        source: &str,
        host: &str,
        tenant: &str,
        user: &str,
    ) -> Result<(), ApiError> {
        self.check(
            &[
                (format!("src:{source}"), self.per_source),
                (
                    format!("user:{host}/{tenant}/{}", user.to_lowercase()),
                    self.per_user,
                ),
            ],
            Instant::now(),
        )
    }

    fn check(&self, keys: &[(String, u32)], now: Instant) -> Result<(), ApiError> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > 10_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        }
        for (key, limit) in keys {
            let entry = windows.entry(key.clone()).or_insert((now, 0));
            if now.duration_since(entry.0) >= Duration::from_secs(60) {
                *entry = (now, 0);
            }
            if entry.1 >= *limit {
                let left = Duration::from_secs(60).saturating_sub(now.duration_since(entry.0));
                return Err(ApiError::RateLimited {
                    retry_after: left.as_secs().max(1),
                });
            }
        }
        for (key, _) in keys {
            if let Some(entry) = windows.get_mut(key) {
                entry.1 += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_refuses_after_the_limit() {
        let l = LoginLimiter::new(0, 0);
        let now = Instant::now();
        let keys = [("k".to_string(), 2)];
        assert!(l.check(&keys, now).is_ok());
        assert!(l.check(&keys, now).is_ok());
        assert_eq!(l.check(&keys, now).unwrap_err().status(), 429);
        assert!(l.check(&keys, now + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn user_names_count_case_insensitively() {
        let l = LoginLimiter::new(100, 1);
        assert!(l.check_login_rate("10.0.0.1", "h", "t", "Admin").is_ok());
        let refused = l.check_login_rate("10.0.0.2", "h", "t", "admin");
        assert_eq!(refused.unwrap_err().status(), 429);
    }
}
