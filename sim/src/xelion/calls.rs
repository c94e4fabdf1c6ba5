//! Scripted calls: the CallEvent sequence a real PBX would send, pushed to subscribed sockets.
//!
//! Choices where Xelion's public material is silent (see the README):
//! - `callerUser`/`calleeUser` carry the userName of a tenant user and are absent for external
//!   numbers;
//! - `initiation` is `outgoing` when the caller is a user of the tenant, else `incoming`;
//! - event dates lie in the past and end now, as if the call had just finished;
//! - `newCallEvent`, `callConnectedEvent`, `callHungUpEvent`, `channelHungUpEvent` go to
//!   administrator sockets only; `missedCallEvent` goes to administrators and to the sockets
//!   of the users involved (caller and callee).

use std::time::SystemTime;

use rand::Rng;
use serde_json::{json, Map, Value};

use super::XelionState;
use crate::api::{NewCall, PlacedCall, Scenario};
use crate::error::ControlError;
use crate::state::{lock, Shared};
use crate::time::{before, flow_id, xelion_date};

/// Default ringing time before answer or miss.
const RING_SECONDS: u64 = 5;
/// Default talk time.
const TALK_SECONDS: u64 = 30;
/// Talk time before an attended transfer, and length of the consultation call.
const TRANSFER_STEP_SECONDS: u64 = 10;
/// Who receives a transfer when the request does not say.
const DEFAULT_TRANSFER_TARGET: &str = "+31201234567";

/// One side of a call.
#[derive(Debug, Clone)]
pub(super) enum Party {
    /// A user of the tenant.
    User {
        oid: u64,
        user_name: String,
        phone: String,
    },
    /// An outside number.
    External { phone: String },
}

impl Party {
    fn phone(&self) -> &str {
        match self {
            Party::User { phone, .. } | Party::External { phone } => phone,
        }
    }

    fn user_name(&self) -> Option<&str> {
        match self {
            Party::User { user_name, .. } => Some(user_name),
            Party::External { .. } => None,
        }
    }

    fn oid(&self) -> Option<u64> {
        match self {
            Party::User { oid, .. } => Some(*oid),
            Party::External { .. } => None,
        }
    }
}

/// Whether a string can be an external phone number: an optional `+` and 3 to 20 digits.
fn is_phone_number(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (3..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

/// A userName of the tenant, or an external number.
fn resolve(st: &XelionState, tenant: &str, field: &str, who: &str) -> Result<Party, ControlError> {
    let t = st.tenant(tenant)?;
    if let Some(u) = t.user_by_name(who) {
        return Ok(Party::User {
            oid: u.oid,
            user_name: u.user_name.clone(),
            phone: u.phone_number.clone(),
        });
    }
    if is_phone_number(who) {
        return Ok(Party::External {
            phone: who.to_owned(),
        });
    }
    Err(ControlError::invalid(format!(
        "{field}: `{who}` is neither a user of tenant `{tenant}` nor a phone number like +31612345678"
    )))
}

/// One call leg with its identifiers.
pub(super) struct Leg {
    call_id: String,
    caller: Party,
    callee: Party,
    caller_flow: String,
    callee_flow: String,
}

impl Leg {
    pub(super) fn new(
        st: &mut XelionState,
        caller: Party,
        callee: Party,
        start: SystemTime,
    ) -> Self {
        let call_id = format!("{:016x}", rand::thread_rng().gen::<u64>());
        let caller_flow = flow_id(start, st.next_flow_seq());
        let callee_flow = flow_id(start, st.next_flow_seq());
        Self {
            call_id,
            caller,
            callee,
            caller_flow,
            callee_flow,
        }
    }

    fn initiation(&self) -> &'static str {
        match self.caller {
            Party::User { .. } => "outgoing",
            Party::External { .. } => "incoming",
        }
    }

    /// A CallEvent; `sides` limits it to the caller (`Some(true)`) or callee (`Some(false)`).
    pub(super) fn event(&self, date: SystemTime, duration: u64, sides: Option<bool>) -> Value {
        let mut m = Map::new();
        m.insert("callId".into(), json!(self.call_id));
        m.insert("initiation".into(), json!(self.initiation()));
        m.insert("date".into(), json!(xelion_date(date)));
        m.insert("duration".into(), json!(duration));
        let mut side = |prefix: &str, p: &Party, flow: &str| {
            m.insert(format!("{prefix}PhoneNumber"), json!(p.phone()));
            if let Some(u) = p.user_name() {
                m.insert(format!("{prefix}User"), json!(u));
            }
            m.insert(format!("{prefix}FlowId"), json!(flow));
        };
        if sides != Some(false) {
            side("caller", &self.caller, &self.caller_flow);
        }
        if sides != Some(true) {
            side("callee", &self.callee, &self.callee_flow);
        }
        Value::Object(m)
    }

    fn involved(&self) -> Vec<u64> {
        [self.caller.oid(), self.callee.oid()]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// An event to push and who besides administrators may see it.
struct Frame {
    notification_type: &'static str,
    notification: Value,
    /// Non-admin users who receive it (only for `missedCallEvent`).
    involved: Vec<u64>,
}

impl Frame {
    fn admin_only(notification_type: &'static str, notification: Value) -> Self {
        Self {
            notification_type,
            notification,
            involved: Vec::new(),
        }
    }

    fn to_value(&self) -> Value {
        json!({"notificationType": self.notification_type, "notification": self.notification})
    }
}

/// Builds the frames of a call; refused for a party that is neither a user nor a number.
fn script(
    st: &mut XelionState,
    tenant: &str,
    call: &NewCall,
) -> Result<(String, Vec<Frame>), ControlError> {
    let from = resolve(st, tenant, "from", &call.from)?;
    let to = resolve(st, tenant, "to", &call.to)?;
    let ring = call.ring_seconds.unwrap_or(RING_SECONDS);
    let talk = call.duration_seconds.unwrap_or(TALK_SECONDS);
    let now = SystemTime::now();
    let at =
        |offset_from_start: u64, total: u64| before(now, total.saturating_sub(offset_from_start));
    let mut frames = Vec::new();
    let call_id;
    match call.scenario {
        Scenario::Answered => {
            let total = ring + talk;
            let start = at(0, total);
            let leg = Leg::new(st, from, to, start);
            call_id = leg.call_id.clone();
            frames.push(Frame::admin_only("newCallEvent", leg.event(start, 0, None)));
            frames.push(Frame::admin_only(
                "callConnectedEvent",
                leg.event(at(ring, total), 0, None),
            ));
            frames.push(Frame::admin_only(
                "channelHungUpEvent",
                leg.event(now, talk, Some(false)),
            ));
            frames.push(Frame::admin_only(
                "callHungUpEvent",
                leg.event(now, talk, None),
            ));
        }
        Scenario::Missed => {
            let start = at(0, ring);
            let leg = Leg::new(st, from, to, start);
            call_id = leg.call_id.clone();
            frames.push(Frame::admin_only("newCallEvent", leg.event(start, 0, None)));
            frames.push(Frame {
                notification_type: "missedCallEvent",
                notification: leg.event(now, 0, None),
                involved: leg.involved(),
            });
        }
        Scenario::Transfer => {
            if !matches!(to, Party::User { .. }) {
                return Err(ControlError::invalid(format!(
                    "to: `{}` must be a user of tenant `{tenant}`: the callee performs the transfer",
                    call.to
                )));
            }
            let target_name = call
                .transfer_to
                .as_deref()
                .unwrap_or(DEFAULT_TRANSFER_TARGET);
            let target = resolve(st, tenant, "transferTo", target_name)?;
            let step = TRANSFER_STEP_SECONDS;
            // A rings B, they talk, B calls C (consultation), B transfers, A and C talk.
            let total = ring + step + ring + step + talk;
            let start = at(0, total);
            let ab = Leg::new(st, from, to.clone(), start);
            let consult_start = at(ring + step, total);
            let bc = Leg::new(st, to, target, consult_start);
            let transfer_at = at(ring + step + ring + step, total);
            call_id = ab.call_id.clone();
            frames.push(Frame::admin_only("newCallEvent", ab.event(start, 0, None)));
            frames.push(Frame::admin_only(
                "callConnectedEvent",
                ab.event(at(ring, total), 0, None),
            ));
            frames.push(Frame::admin_only(
                "newCallEvent",
                bc.event(consult_start, 0, None),
            ));
            frames.push(Frame::admin_only(
                "callConnectedEvent",
                bc.event(at(ring + step + ring, total), 0, None),
            ));
            // The PBX reports the end of the A->B leg twice: once per channel it tears down.
            let ab_talk = step + ring + step;
            frames.push(Frame::admin_only(
                "callHungUpEvent",
                ab.event(transfer_at, ab_talk, None),
            ));
            frames.push(Frame::admin_only(
                "callHungUpEvent",
                ab.event(transfer_at, ab_talk, None),
            ));
            frames.push(Frame::admin_only(
                "callHungUpEvent",
                bc.event(now, step + talk, None),
            ));
        }
    }
    Ok((call_id, frames))
}

/// Places a call and returns after every frame has been written to the subscribed sockets.
pub async fn place(data: &Shared, tenant: &str, call: NewCall) -> Result<PlacedCall, ControlError> {
    let (call_id, frames, sockets) = {
        let mut st = lock(&data.xelion);
        let (call_id, frames) = script(&mut st, tenant, &call)?;
        st.counts_mut(tenant).calls_placed += 1;
        let sockets: Vec<_> = st
            .sockets
            .values()
            .filter(|s| s.ticket.tenant == tenant)
            .map(|s| {
                (
                    s.ticket.oid,
                    s.ticket.is_admin,
                    s.subscriptions.clone(),
                    s.session.clone(),
                )
            })
            .collect();
        (call_id, frames, sockets)
    };
    let mut sockets = sockets;
    let mut pushed = 0u64;
    let mut events = Vec::with_capacity(frames.len());
    for frame in &frames {
        let value = frame.to_value();
        let text = value.to_string();
        for (oid, is_admin, subs, session) in &mut sockets {
            let allowed = *is_admin || frame.involved.contains(oid);
            if allowed
                && subs.contains(frame.notification_type)
                && session.text(text.clone()).await.is_ok()
            {
                pushed += 1;
            }
        }
        events.push(value);
    }
    lock(&data.xelion).counts_mut(tenant).events_sent += pushed;
    Ok(PlacedCall {
        call_id,
        events,
        pushed,
    })
}
