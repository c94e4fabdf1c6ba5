//! Scripted calls: event sequences and field values.

use cti_sim::api::{NewCall, Scenario};
use serde_json::{json, Value};

use crate::helpers::*;

fn is_flow_id(s: &str) -> bool {
    // 2018-09-12-09:50:43-00000002
    s.len() == 28
        && s.as_bytes()[10] == b'-'
        && s.as_bytes()[19] == b'-'
        && s[20..].chars().all(|c| c.is_ascii_digit())
}

fn n(v: &Value) -> &Value {
    &v["notification"]
}

#[tokio::test]
async fn an_answered_call_between_users() {
    let sim = start();
    let mut admin = open_socket(&sim, "admin").await;
    subscribe(
        &sim,
        &mut admin,
        "admin",
        &[
            "newCallEvent",
            "callConnectedEvent",
            "callHungUpEvent",
            "channelHungUpEvent",
        ],
    )
    .await;
    let call = NewCall {
        duration_seconds: Some(42),
        ..NewCall::new("alice", "bob", Scenario::Answered)
    };
    let placed = sim.control().place_call("master", &call).await.unwrap();
    let got = drain(&mut admin).await;
    assert_eq!(
        got, placed.events,
        "the socket gets exactly the reported frames"
    );
    assert_eq!(
        types(&got),
        [
            "newCallEvent",
            "callConnectedEvent",
            "channelHungUpEvent",
            "callHungUpEvent"
        ]
    );
    let new = n(&got[0]);
    assert_eq!(new["callId"], placed.call_id.as_str());
    assert_eq!(placed.call_id.len(), 16);
    assert_eq!(new["initiation"], "outgoing");
    assert_eq!(new["callerUser"], "alice");
    assert_eq!(new["calleeUser"], "bob");
    assert_eq!(new["callerPhoneNumber"], "+31101000001");
    assert_eq!(new["calleePhoneNumber"], "+31101000002");
    assert!(is_flow_id(new["callerFlowId"].as_str().unwrap()), "{new}");
    assert!(is_flow_id(new["calleeFlowId"].as_str().unwrap()), "{new}");
    assert_ne!(new["callerFlowId"], new["calleeFlowId"]);
    assert_eq!(new["duration"], 0);
    for f in &got {
        assert_eq!(n(f)["callId"], placed.call_id.as_str());
        assert_eq!(n(f)["date"].as_str().unwrap().len(), 19);
    }
    // Dates never go backwards along the call.
    let dates: Vec<&str> = got.iter().map(|f| n(f)["date"].as_str().unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    let hung = n(&got[3]);
    assert_eq!(hung["duration"], 42);
    assert_eq!(hung["callerUser"], "alice");
    // A channel hang-up fills one side only.
    let channel = n(&got[2]);
    assert!(
        channel.get("callerPhoneNumber").is_none()
            && channel["calleePhoneNumber"] == "+31101000002"
    );
}

#[tokio::test]
async fn an_incoming_call_from_an_external_number() {
    let sim = start();
    let placed = sim
        .control()
        .call_between("master", "+31612345678", "alice", Scenario::Answered)
        .await
        .unwrap();
    let new = n(&placed.events[0]);
    assert_eq!(new["initiation"], "incoming");
    assert_eq!(new["callerPhoneNumber"], "+31612345678");
    assert!(
        new.get("callerUser").is_none(),
        "an external party has no user: {new}"
    );
    assert_eq!(new["calleeUser"], "alice");
}

#[tokio::test]
async fn a_missed_call() {
    let sim = start();
    let placed = sim
        .control()
        .call_between("master", "+31612345678", "bob", Scenario::Missed)
        .await
        .unwrap();
    assert_eq!(types(&placed.events), ["newCallEvent", "missedCallEvent"]);
    let missed = n(&placed.events[1]);
    assert_eq!(missed["callId"], placed.call_id.as_str());
    assert_eq!(missed["calleeUser"], "bob");
    assert_eq!(missed["duration"], 0);
}

#[tokio::test]
async fn an_attended_transfer_sends_the_hang_up_twice() {
    let sim = start();
    let mut admin = open_socket(&sim, "admin").await;
    subscribe(
        &sim,
        &mut admin,
        "admin",
        &["newCallEvent", "callConnectedEvent", "callHungUpEvent"],
    )
    .await;
    let call = NewCall {
        transfer_to: Some("bob".into()),
        ..NewCall::new("+31612345678", "alice", Scenario::Transfer)
    };
    let placed = sim.control().place_call("master", &call).await.unwrap();
    let got = drain(&mut admin).await;
    assert_eq!(got, placed.events);
    assert_eq!(
        types(&got),
        [
            "newCallEvent",
            "callConnectedEvent",
            "newCallEvent",
            "callConnectedEvent",
            "callHungUpEvent",
            "callHungUpEvent",
            "callHungUpEvent"
        ]
    );
    let hangups: Vec<&Value> = got
        .iter()
        .filter(|f| f["notificationType"] == "callHungUpEvent")
        .collect();
    assert_eq!(hangups[0], hangups[1], "the duplicate is identical");
    assert_eq!(n(hangups[0])["callId"], placed.call_id.as_str());
    assert_eq!(n(hangups[0])["calleeUser"], "alice");
    let consult = n(&got[2]);
    assert_ne!(consult["callId"], placed.call_id.as_str());
    assert_eq!(consult["callerUser"], "alice");
    assert_eq!(consult["calleeUser"], "bob");
    assert_eq!(consult["initiation"], "outgoing");
    assert_eq!(n(hangups[2])["callId"], consult["callId"]);
}

#[tokio::test]
async fn bad_calls_are_refused_with_a_reason() {
    let sim = start();
    let ctl = sim.control();
    let err = ctl
        .call_between("master", "nobody", "bob", Scenario::Answered)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("400") && err.to_string().contains("from"),
        "{err}"
    );
    let err = ctl
        .call_between("master", "alice", "+31612345678", Scenario::Transfer)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("transfer"), "{err}");
    let err = ctl
        .call_between("nowhere", "alice", "bob", Scenario::Answered)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let r = http()
        .post(format!(
            "{}/_sim/xelion/tenants/master/calls",
            sim.xelion_url()
        ))
        .json(&serde_json::json!({"from": "alice", "to": "bob", "scenario": "busy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("busy"), "{v}");
}

#[tokio::test]
async fn a_load_places_calls_to_users_in_turn_with_send_times() {
    let sim = start();
    let mut admin = open_socket(&sim, "admin").await;
    subscribe(
        &sim,
        &mut admin,
        "admin",
        &["newCallEvent", "callConnectedEvent", "callHungUpEvent"],
    )
    .await;
    let done = sim
        .control()
        .load(&cti_sim::api::LoadSpec {
            calls: 2,
            events_per_second: Some(1000.0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((done.calls, done.frames, done.pushed), (2, 6, 6));
    assert!(done.started_at_micros <= done.finished_at_micros);
    let got = drain(&mut admin).await;
    assert_eq!(
        types(&got),
        [
            "newCallEvent",
            "callConnectedEvent",
            "callHungUpEvent",
            "newCallEvent",
            "callConnectedEvent",
            "callHungUpEvent"
        ]
    );
    // The non-administrators in turn, each call its own id, each frame its send time.
    assert_eq!(n(&got[0])["calleeUser"], "alice");
    assert_eq!(n(&got[3])["calleeUser"], "bob");
    assert_eq!(n(&got[0])["initiation"], "incoming");
    assert_eq!(n(&got[0])["callId"], n(&got[2])["callId"]);
    assert_ne!(n(&got[0])["callId"], n(&got[3])["callId"]);
    assert_eq!(n(&got[2])["duration"], 30);
    let sent: Vec<u64> = got
        .iter()
        .map(|f| n(f)["simSentAtMicros"].as_u64().unwrap())
        .collect();
    assert!(sent.windows(2).all(|w| w[0] <= w[1]), "{sent:?}");
    assert!(
        sent[0] >= done.started_at_micros && sent[5] <= done.finished_at_micros,
        "{sent:?} {done:?}"
    );
    let counters = sim.control().xelion_counters().await.unwrap();
    assert_eq!(counters.total.calls_placed, 2);
    assert_eq!(counters.total.events_sent, 6);
}

#[tokio::test]
async fn a_load_waits_for_the_crm_when_its_window_is_full() {
    let sim = start();
    let mut admin = open_socket(&sim, "admin").await;
    subscribe(&sim, &mut admin, "admin", &["newCallEvent"]).await;
    // Nothing answers the frames at the CRM: a window of 2 lets 2 frames out, then the load
    // stops at its duration.
    let done = sim
        .control()
        .load(&cti_sim::api::LoadSpec {
            calls: 100,
            max_in_flight: Some(2),
            duration_seconds: Some(0.3),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(done.frames, 2, "{done:?}");
    assert_eq!(done.pushed, 1, "only newCallEvent is subscribed: {done:?}");
    let bad = http()
        .post(format!("{}/_sim/xelion/load", sim.xelion_url()))
        .json(&json!({"calls": 1, "tenants": ["nope"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 404);
    let bad = http()
        .post(format!("{}/_sim/xelion/load", sim.xelion_url()))
        .json(&json!({"calls": 1, "eventsPerSecond": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let v: Value = bad.json().await.unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("eventsPerSecond"),
        "{v}"
    );
}
