//! Reconnect delays: exponential with full jitter, capped, reset after a healthy stretch.

use std::time::Duration;

use rand::Rng;

/// The delay before attempt `attempt` (0-based): a uniform draw in
/// `[0, min(cap, base * 2^attempt)]` ("full jitter"), so that many tenants that failed together
/// do not come back together.
pub fn full_jitter(base: Duration, cap: Duration, attempt: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = base
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap);
    let ms = ceiling.as_millis() as u64;
    Duration::from_millis(if ms == 0 { 0 } else { rng.gen_range(0..=ms) })
}

/// The state of one tenant's reconnects.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, never waits longer than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next delay; each call widens the window.
    pub fn next_delay(&mut self) -> Duration {
        let d = full_jitter(self.base, self.cap, self.attempt, &mut rand::thread_rng());
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// Back to the first window (after a healthy connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_within_the_window() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(60);
        let mut rng = rand::thread_rng();
        for attempt in 0..40 {
            let window = (base * 2u32.saturating_pow(attempt.min(20))).min(cap);
            for _ in 0..50 {
                assert!(full_jitter(base, cap, attempt, &mut rng) <= window);
            }
        }
        // Late attempts spread over the whole capped window, not bunched at its start.
        let late: Vec<_> = (0..200)
            .map(|_| full_jitter(base, cap, 30, &mut rng))
            .collect();
        assert!(late.iter().any(|d| *d > Duration::from_secs(30)));
        assert!(late.iter().any(|d| *d < Duration::from_secs(30)));
    }

    #[test]
    fn reset_returns_to_the_first_window() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
