//! One gate for every tenant's Xelion logins: at most N at once and M per second, so that a
//! restart with a thousand tenants does not hit Xelion in the same second.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Shared by all tenants (cheap to clone).
#[derive(Clone, Debug)]
pub struct LoginGate {
    at_once: Arc<Semaphore>,
    interval: Duration,
    next_slot: Arc<Mutex<Instant>>,
}

impl LoginGate {
    /// `at_once` concurrent logins, `per_second` started per second (both at least 1).
    pub fn new(at_once: usize, per_second: u32) -> Self {
        LoginGate {
            at_once: Arc::new(Semaphore::new(at_once.max(1))),
            interval: Duration::from_secs(1) / per_second.max(1),
            next_slot: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Waits for a turn; the login runs while the permit is held (`None` only if the
    /// semaphore were closed, which it never is).
    pub async fn enter(&self) -> Option<OwnedSemaphorePermit> {
        let slot = {
            let mut next = self
                .next_slot
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
        self.at_once.clone().acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn logins_are_spaced_and_bounded() {
        let gate = LoginGate::new(2, 50);
        let start = Instant::now();
        let mut starts = Vec::new();
        let mut held = Vec::new();
        for _ in 0..5 {
            let p = gate.enter().await;
            starts.push(Instant::now() - start);
            held.push(p);
            if held.len() == 2 {
                held.remove(0);
            }
        }
        // Fifty per second: at least 20 ms apart (a busy machine only makes them later).
        for (i, s) in starts.iter().enumerate() {
            assert!(*s >= Duration::from_millis(20) * i as u32, "{starts:?}");
        }
        assert_eq!(gate.at_once.available_permits(), 1);
    }
}
