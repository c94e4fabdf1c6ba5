//! What the CRM simulator's arrivals say: deliveries counted exactly once, rates, latencies.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use cti_sim::api::{Arrival, LoadDone};
use cti_sim::Control;
use serde::Serialize;

/// How long the wait for the last deliveries may see no new one before it gives up.
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// Throughput of one run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throughput {
    /// Calls placed (three events each).
    pub calls: u64,
    /// Events written to the sockets; each is one expected delivery.
    pub events: u64,
    /// Distinct deliveries that arrived, answered 200.
    pub delivered: u64,
    /// Arrivals of a delivery that had already arrived.
    pub duplicates: u64,
    /// Expected deliveries that never arrived.
    pub missing: u64,
    /// Every expected delivery arrived once and only once.
    pub exactly_once: bool,
    /// From the first frame written to the last delivery's arrival.
    pub seconds: f64,
    /// `delivered / seconds`.
    pub deliveries_per_second: f64,
}

/// Latency at one offered rate.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// The offered rate.
    pub events_per_second: f64,
    /// Events written.
    pub events: u64,
    /// Distinct deliveries that arrived.
    pub delivered: u64,
    /// Every expected delivery arrived once and only once.
    pub exactly_once: bool,
    /// Frame written to CRM request received, milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// The arrivals of one run, checked.
struct Tally {
    distinct: u64,
    duplicates: u64,
    not_ok: u64,
    last_at: u64,
    latencies_us: Vec<u64>,
}

/// `/bench/{callId}/{event}/{sentAtMicros}` -> (callId, event, sentAt).
fn parse_path(path: &str) -> Option<(&str, &str, u64)> {
    let mut parts = path.strip_prefix("/bench/")?.split('/');
    let call = parts.next()?;
    let event = parts.next()?;
    let sent = parts.next()?.parse().ok()?;
    Some((call, event, sent))
}

fn tally(arrivals: &[Arrival]) -> Tally {
    let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(arrivals.len());
    let mut t = Tally {
        distinct: 0,
        duplicates: 0,
        not_ok: 0,
        last_at: 0,
        latencies_us: Vec::with_capacity(arrivals.len()),
    };
    for a in arrivals {
        let Some((call, event, sent)) = parse_path(&a.path) else {
            t.not_ok += 1;
            continue;
        };
        if a.status != Some(200) {
            t.not_ok += 1;
            continue;
        }
        if !seen.insert((call, event)) {
            t.duplicates += 1;
            continue;
        }
        t.distinct += 1;
        t.last_at = t.last_at.max(a.at_micros);
        t.latencies_us.push(a.at_micros.saturating_sub(sent));
    }
    t
}

/// Waits until the CRM simulator has received `expected` requests since `before` (or none
/// came for a while), then answers the arrivals.
pub async fn collect(
    control: &Control,
    before: u64,
    expected: u64,
) -> anyhow::Result<Vec<Arrival>> {
    let mut last = 0;
    let mut last_change = Instant::now();
    loop {
        let now = control
            .crm_counters()
            .await?
            .resource_requests
            .saturating_sub(before);
        if now >= expected {
            break;
        }
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() > STALL_LIMIT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A duplicate would arrive shortly after: give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(control.crm_arrivals().await?.arrivals)
}

/// The throughput of a load whose every frame is one delivery.
pub fn throughput(done: &LoadDone, arrivals: &[Arrival]) -> Throughput {
    let t = tally(arrivals);
    let seconds = t.last_at.saturating_sub(done.started_at_micros) as f64 / 1e6;
    Throughput {
        calls: done.calls,
        events: done.frames,
        delivered: t.distinct,
        duplicates: t.duplicates,
        missing: done.frames.saturating_sub(t.distinct),
        exactly_once: t.duplicates == 0 && t.not_ok == 0 && t.distinct == done.frames,
        seconds,
        deliveries_per_second: if seconds > 0.0 {
            t.distinct as f64 / seconds
        } else {
            0.0
        },
    }
}

/// The latencies of a load at `rate` whose every frame is one delivery.
pub fn latency(rate: f64, done: &LoadDone, arrivals: &[Arrival]) -> Latency {
    let mut t = tally(arrivals);
    t.latencies_us.sort_unstable();
    let ms = |q: f64| percentile(&t.latencies_us, q) / 1000.0;
    Latency {
        events_per_second: rate,
        events: done.frames,
        delivered: t.distinct,
        exactly_once: t.duplicates == 0 && t.not_ok == 0 && t.distinct == done.frames,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: t.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0,
    }
}

/// The `q` quantile of sorted values (nearest rank); 0 when there are none.
fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(path: &str, at: u64) -> Arrival {
        Arrival {
            path: path.into(),
            status: Some(200),
            at_micros: at,
        }
    }

    fn done(frames: u64) -> LoadDone {
        LoadDone {
            calls: frames / 3,
            pushed: frames,
            frames,
            started_at_micros: 1_000_000,
            finished_at_micros: 1_500_000,
        }
    }

    #[test]
    fn a_delivery_arriving_twice_is_not_exactly_once() {
        let arrivals = [
            arrival("/bench/a/newCallEvent/1000000", 1_001_000),
            arrival("/bench/a/newCallEvent/1000000", 1_002_000),
            arrival("/bench/a/callHungUpEvent/1000100", 2_000_000),
        ];
        let t = throughput(&done(2), &arrivals);
        assert_eq!((t.delivered, t.duplicates, t.missing), (2, 1, 0));
        assert!(!t.exactly_once);
        assert_eq!(t.seconds, 1.0);
        let t = throughput(&done(3), &arrivals[..1]);
        assert_eq!((t.delivered, t.missing), (1, 2));
        assert!(!t.exactly_once);
    }

    #[test]
    fn latency_percentiles_by_nearest_rank() {
        let arrivals: Vec<Arrival> = (1..=1000)
            .map(|i| arrival(&format!("/bench/c{i}/newCallEvent/0"), i * 1000))
            .collect();
        let l = latency(200.0, &done(1000), &arrivals);
        assert!(l.exactly_once);
        assert_eq!(
            (l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms),
            (500.0, 990.0, 999.0, 1000.0)
        );
    }
}
