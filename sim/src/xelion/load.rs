//! Calls in bulk for benchmarks: one control request places many calls over the tenants'
//! sockets, at a fixed rate or as fast as a window of unanswered frames allows.
//!
//! A call of the load is incoming, from an outside number to a user of the tenant (its
//! non-administrators in turn), and makes three frames: `newCallEvent`, `callConnectedEvent`,
//! `callHungUpEvent`, written to the tenant's administrator sockets subscribed to them. Every
//! notification carries `simSentAtMicros`: when its frame was written, for latency.

use std::time::{Duration, Instant, SystemTime};

use actix_ws::Session;
use serde_json::{json, Value};

use super::calls::{Leg, Party};
use crate::api::{LoadDone, LoadSpec};
use crate::error::ControlError;
use crate::state::{lock, Shared};
use crate::time::unix_micros;

/// The frames of one call, in order, with the talk time of the last.
const EVENTS: [&str; 3] = ["newCallEvent", "callConnectedEvent", "callHungUpEvent"];
/// Talk time of the calls, in seconds (`duration` of the hang-up).
const TALK_SECONDS: u64 = 30;
/// How often a load blocked by its window looks again.
const WINDOW_POLL: Duration = Duration::from_millis(1);

/// One tenant of a load: who is called, which sockets hear it.
struct Target {
    tenant: String,
    callees: Vec<Party>,
    sockets: Vec<(Vec<String>, Session)>,
    calls: u64,
    pushed: u64,
}

/// The tenants of a load as they are now; refused for an unknown tenant or one without a
/// user to call.
fn targets(data: &Shared, spec: &LoadSpec) -> Result<Vec<Target>, ControlError> {
    let st = lock(&data.xelion);
    let names: Vec<String> = match &spec.tenants {
        Some(list) => list.clone(),
        None => st.tenants.keys().cloned().collect(),
    };
    if names.is_empty() {
        return Err(ControlError::invalid("tenants: there is no tenant to load"));
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let t = st.tenant(&name)?;
        let callees: Vec<Party> = t
            .users
            .values()
            .filter(|u| !u.is_admin)
            .map(|u| Party::User {
                oid: u.oid,
                user_name: u.user_name.clone(),
                phone: u.phone_number.clone(),
            })
            .collect();
        if callees.is_empty() {
            return Err(ControlError::invalid(format!(
                "tenants: tenant `{name}` has no user that is not an administrator to call"
            )));
        }
        let sockets = st
            .sockets
            .values()
            .filter(|s| s.ticket.tenant == name && s.ticket.is_admin)
            .map(|s| (s.subscriptions.iter().cloned().collect(), s.session.clone()))
            .collect();
        out.push(Target {
            tenant: name,
            callees,
            sockets,
            calls: 0,
            pushed: 0,
        });
    }
    Ok(out)
}

/// Checks the numbers of a load.
fn check(spec: &LoadSpec) -> Result<(), ControlError> {
    if let Some(r) = spec.events_per_second {
        if !(r.is_finite() && r > 0.0) {
            return Err(ControlError::invalid(
                "eventsPerSecond: must be a number above 0",
            ));
        }
    }
    if let Some(d) = spec.duration_seconds {
        if !(d.is_finite() && d >= 0.0) {
            return Err(ControlError::invalid(
                "durationSeconds: must be a number of seconds, 0 or more",
            ));
        }
    }
    if spec.max_in_flight == Some(0) {
        return Err(ControlError::invalid(
            "maxInFlight: must be at least 1 (leave it out for no limit)",
        ));
    }
    Ok(())
}

/// Requests the CRM resource server has received so far.
fn crm_requests(data: &Shared) -> u64 {
    lock(&data.crm).counters.resource_requests
}

/// Runs a load; answers once its last frame has been written.
pub async fn run(data: &Shared, spec: LoadSpec) -> Result<LoadDone, ControlError> {
    check(&spec)?;
    let mut targets = targets(data, &spec)?;
    let answered_before = crm_requests(data);
    let started = Instant::now();
    let started_at = unix_micros(SystemTime::now());
    let deadline = spec
        .duration_seconds
        .map(|d| started + Duration::from_secs_f64(d));
    let mut frames = 0u64;
    let mut calls = 0u64;
    let n = targets.len() as u64;
    'calls: for i in 0..spec.calls {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let target = &mut targets[(i % n) as usize];
        let callee = target.callees[((i / n) % target.callees.len() as u64) as usize].clone();
        let caller = Party::External {
            phone: format!("+3161{:07}", i % 10_000_000),
        };
        let leg = {
            let mut st = lock(&data.xelion);
            Leg::new(&mut st, caller, callee, SystemTime::now())
        };
        target.calls += 1;
        calls += 1;
        for (k, kind) in EVENTS.iter().enumerate() {
            if let Some(rate) = spec.events_per_second {
                let due = started + Duration::from_secs_f64(frames as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
            if let Some(window) = spec.max_in_flight {
                while frames.saturating_sub(crm_requests(data).saturating_sub(answered_before))
                    >= window
                {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break 'calls;
                    }
                    tokio::time::sleep(WINDOW_POLL).await;
                }
            }
            let now = SystemTime::now();
            let duration = if k == EVENTS.len() - 1 {
                TALK_SECONDS
            } else {
                0
            };
            let mut notification = leg.event(now, duration, None);
            if let Value::Object(m) = &mut notification {
                m.insert("simSentAtMicros".into(), json!(unix_micros(now)));
            }
            let text = json!({"notificationType": kind, "notification": notification}).to_string();
            frames += 1;
            for (subs, session) in &mut target.sockets {
                if subs.iter().any(|s| s == kind) && session.text(text.clone()).await.is_ok() {
                    target.pushed += 1;
                }
            }
        }
    }
    let finished_at = unix_micros(SystemTime::now());
    let mut pushed = 0;
    let mut st = lock(&data.xelion);
    for t in &targets {
        pushed += t.pushed;
        let c = st.counts_mut(&t.tenant);
        c.calls_placed += t.calls;
        c.events_sent += t.pushed;
    }
    Ok(LoadDone {
        calls,
        pushed,
        frames,
        started_at_micros: started_at,
        finished_at_micros: finished_at,
    })
}
