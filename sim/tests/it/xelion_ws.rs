//! The Xelion websocket: single-use URLs, subscriptions, echo, pings, who gets what.

use cti_sim::api::Scenario;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

const ALL: [&str; 5] = [
    "newCallEvent",
    "callConnectedEvent",
    "callHungUpEvent",
    "channelHungUpEvent",
    "missedCallEvent",
];

#[tokio::test]
async fn a_websocket_url_works_once() {
    let sim = start();
    let t = token(&sim, "admin").await;
    let url = ws_url(&sim, &t).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(url.clone())
        .await
        .expect("first use");
    let second = tokio_tungstenite::connect_async(url.clone()).await;
    assert!(second.is_err(), "a URL must not open a second socket");
    // The first socket is still alive.
    send(&mut ws, json!({"messageType": "test", "n": 1})).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"messageType": "test", "n": 1})
    );
    let ws_unknown = url.replace("/websocket/", "/websocket/1/");
    assert!(tokio_tungstenite::connect_async(ws_unknown).await.is_err());
    let c = sim
        .control()
        .wait_for_open_sockets("master", 1, WAIT)
        .await
        .unwrap();
    assert_eq!(c.total.sockets_opened, 1);
}

#[tokio::test]
async fn test_messages_are_echoed_verbatim() {
    let sim = start();
    let mut ws = open_socket(&sim, "alice").await;
    let raw = r#"{"messageType":"test",  "payload":{"b":2,"a":[1,"x"]}}"#;
    ws.send(Message::text(raw)).await.unwrap();
    let echo = loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(t) => break t.as_str().to_owned(),
            _ => continue,
        }
    };
    assert_eq!(echo, raw);
}

#[tokio::test]
async fn pings_get_pongs() {
    let sim = start();
    let mut ws = open_socket(&sim, "alice").await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Message::Pong(p) => break p,
            _ => continue,
        }
    };
    assert_eq!(&pong[..], b"are you there");
}

#[tokio::test]
async fn nothing_arrives_before_subscribing() {
    let sim = start();
    let ctl = sim.control();
    let mut ws = open_socket(&sim, "admin").await;
    let placed = ctl
        .call_between("master", "alice", "bob", Scenario::Answered)
        .await
        .unwrap();
    assert_eq!(placed.pushed, 0);
    assert!(drain(&mut ws).await.is_empty());
    subscribe(&sim, &mut ws, "admin", &["newCallEvent"]).await;
    let placed = ctl
        .call_between("master", "alice", "bob", Scenario::Answered)
        .await
        .unwrap();
    assert_eq!(placed.pushed, 1);
    let got = drain(&mut ws).await;
    assert_eq!(types(&got), ["newCallEvent"]);
    assert_eq!(got[0]["notification"]["callId"], placed.call_id.as_str());
}

#[tokio::test]
async fn toggles_as_booleans_or_strings_and_multi_requests() {
    let sim = start();
    let ctl = sim.control();
    let mut ws = open_socket(&sim, "admin").await;
    send(
        &mut ws,
        json!({"messageType": "multiNotificationRequest", "notifications": [
            {"notificationType": "newCallEvent", "toggle": "true"},
            {"notificationType": "callHungUpEvent", "toggle": true},
            {"notificationType": "callConnectedEvent", "toggle": "true"},
        ]}),
    )
    .await;
    ctl.wait_for_subscriptions(
        "master",
        Some("admin"),
        &["newCallEvent", "callHungUpEvent", "callConnectedEvent"],
        1,
        WAIT,
    )
    .await
    .unwrap();
    // Switching one off with the string form.
    send(&mut ws, json!({"messageType": "notificationRequest", "notificationType": "callConnectedEvent", "toggle": "false"})).await;
    // Malformed requests are ignored, like unknown messages.
    send(&mut ws, json!({"messageType": "notificationRequest", "notificationType": "newCallEvent", "toggle": 7})).await;
    send(&mut ws, json!({"messageType": "somethingElse"})).await;
    ws.send(Message::text("not json")).await.unwrap();
    // The echo proves the earlier messages were handled (one connection, in order).
    assert!(drain(&mut ws).await.is_empty());
    let c = ctl.xelion_counters().await.unwrap();
    assert_eq!(
        c.sockets[0].subscriptions,
        ["callHungUpEvent", "newCallEvent"]
    );
    assert_eq!(c.total.subscriptions, 2);
    assert_eq!(c.total.subscription_requests, 4);
    ctl.call_between("master", "alice", "bob", Scenario::Answered)
        .await
        .unwrap();
    assert_eq!(
        types(&drain(&mut ws).await),
        ["newCallEvent", "callHungUpEvent"]
    );
}

#[tokio::test]
async fn subscriptions_belong_to_one_connection() {
    let sim = start();
    let ctl = sim.control();
    let mut first = open_socket(&sim, "admin").await;
    subscribe(&sim, &mut first, "admin", &ALL).await;
    let mut second = open_socket(&sim, "admin").await;
    ctl.call_between("master", "+31612345678", "alice", Scenario::Missed)
        .await
        .unwrap();
    assert_eq!(
        types(&drain(&mut first).await),
        ["newCallEvent", "missedCallEvent"]
    );
    assert!(drain(&mut second).await.is_empty());
}

#[tokio::test]
async fn call_events_reach_only_administrators_and_missed_calls_the_people_involved() {
    let sim = start();
    let ctl = sim.control();
    let mut admin = open_socket(&sim, "admin").await;
    subscribe(&sim, &mut admin, "admin", &ALL).await;
    let mut alice = open_socket(&sim, "alice").await;
    subscribe(&sim, &mut alice, "alice", &ALL).await;
    let mut bob = open_socket(&sim, "bob").await;
    subscribe(&sim, &mut bob, "bob", &ALL).await;

    ctl.call_between("master", "alice", "+31612345678", Scenario::Answered)
        .await
        .unwrap();
    assert_eq!(
        types(&drain(&mut admin).await),
        [
            "newCallEvent",
            "callConnectedEvent",
            "channelHungUpEvent",
            "callHungUpEvent"
        ]
    );
    assert!(
        drain(&mut alice).await.is_empty(),
        "admin-only events reached a user"
    );

    let missed = ctl
        .call_between("master", "+31612345678", "alice", Scenario::Missed)
        .await
        .unwrap();
    assert_eq!(
        types(&drain(&mut admin).await),
        ["newCallEvent", "missedCallEvent"]
    );
    let got = drain(&mut alice).await;
    assert_eq!(types(&got), ["missedCallEvent"]);
    assert_eq!(got[0]["notification"]["callId"], missed.call_id.as_str());
    assert!(drain(&mut bob).await.is_empty(), "bob is not involved");
    assert_eq!(missed.pushed, 3);
    let c = ctl.xelion_counters().await.unwrap();
    assert_eq!(c.total.events_sent, 7);
    assert_eq!(c.total.open_sockets, 3);
    assert_eq!(c.total.subscriptions, 15);
}

#[tokio::test]
async fn sockets_of_another_tenant_hear_nothing() {
    let sim = start();
    let ctl = sim.control();
    ctl.create_tenant("t2").await.unwrap();
    ctl.add_user("t2", &cti_sim::NewUser::new("root", "pw", true))
        .await
        .unwrap();
    let mut admin = open_socket(&sim, "admin").await;
    subscribe(&sim, &mut admin, "admin", &ALL).await;
    let placed = ctl
        .call_between("t2", "root", "+31612345678", Scenario::Answered)
        .await
        .unwrap();
    assert_eq!(placed.pushed, 0);
    assert!(drain(&mut admin).await.is_empty());
}

#[tokio::test]
async fn raw_frames_reach_every_socket_of_the_tenant_or_one_user() {
    let sim = start();
    let ctl = sim.control();
    let mut admin = open_socket(&sim, "admin").await;
    let mut alice = open_socket(&sim, "alice").await;
    ctl.wait_for_open_sockets("master", 2, WAIT).await.unwrap();
    // Verbatim: not JSON, no subscription needed.
    let raw = "not json {\"notificationType\": ";
    assert_eq!(ctl.send_raw_frame("master", raw, None).await.unwrap(), 2);
    assert_eq!(next_text(&mut admin).await, raw);
    assert_eq!(next_text(&mut alice).await, raw);
    let only_alice = r#"{"notificationType":"somethingNew","notification":{}}"#;
    assert_eq!(
        ctl.send_raw_frame("master", only_alice, Some("alice"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(next_text(&mut alice).await, only_alice);
    assert!(drain(&mut admin).await.is_empty());
    // A user without sockets, an unknown user, an unknown tenant.
    assert_eq!(
        ctl.send_raw_frame("master", "x", Some("bob"))
            .await
            .unwrap(),
        0
    );
    let unknown_user = ctl.send_raw_frame("master", "x", Some("nobody")).await;
    assert!(unknown_user.unwrap_err().to_string().contains("404"));
    let unknown_tenant = ctl.send_raw_frame("nowhere", "x", None).await;
    assert!(unknown_tenant.unwrap_err().to_string().contains("404"));
    // Raw frames are not call events.
    let c = ctl.xelion_counters().await.unwrap();
    assert_eq!(c.total.events_sent, 0);
}

#[tokio::test]
async fn a_raw_frame_of_a_mebibyte_arrives_whole() {
    let sim = start();
    let ctl = sim.control();
    let mut ws = open_socket(&sim, "admin").await;
    ctl.wait_for_open_sockets("master", 1, WAIT).await.unwrap();
    let big: String = (0..1 << 20)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    assert_eq!(ctl.send_raw_frame("master", &big, None).await.unwrap(), 1);
    let got = next_text(&mut ws).await;
    assert_eq!(got.len(), 1 << 20);
    assert!(got == big, "the frame arrived altered");
}

#[tokio::test]
async fn sockets_show_the_user_space_of_their_session() {
    let sim = start();
    let s = login(&sim, "master", "alice", "alice", "crm-events").await;
    let url = ws_url(&sim, s["authentication"].as_str().unwrap()).await;
    let (_ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let c = sim
        .control()
        .wait_for_open_sockets("master", 1, WAIT)
        .await
        .unwrap();
    assert_eq!(c.sockets.len(), 1);
    assert_eq!(
        (
            c.sockets[0].user_name.as_str(),
            c.sockets[0].user_space.as_str()
        ),
        ("alice", "crm-events")
    );
    let raw: serde_json::Value = http()
        .get(format!("{}/_sim/xelion/counters", sim.xelion_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["sockets"][0]["userSpace"], "crm-events");
}
