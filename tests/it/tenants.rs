//! Tenant event sessions: the real server keeps one subscribed Xelion websocket per tenant
//! against the simulator, through drops, closes, bad frames and changed credentials.

use std::time::Duration;

use cti_sim::api::{DropMode, UserUpdate, XelionCounters};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

async fn counters(app: &TestApp) -> XelionCounters {
    app.control().xelion_counters().await.expect("counters")
}

/// The subscriptions of the admin sockets open at `master`.
async fn admin_sockets(app: &TestApp) -> Vec<Vec<String>> {
    counters(app)
        .await
        .sockets
        .into_iter()
        .filter(|s| s.tenant == "master" && s.user_name == "admin")
        .map(|s| s.subscriptions)
        .collect()
}

async fn status(app: &TestApp, xid: i64, token: &str) -> Value {
    let (s, body) = app
        .get(
            &format!("/api/xelion-environment/{xid}/status"),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

async fn wait_state(app: &TestApp, xid: i64, token: &str, state: &str) -> Value {
    eventually(&format!("state {state}"), || async {
        let body = status(app, xid, token).await;
        (body["state"] == state).then_some(body)
    })
    .await
}

/// The strings of a JSON array, sorted.
fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

const ALL_FOUR: [&str; 4] = [
    "callConnectedEvent",
    "callHungUpEvent",
    "missedCallEvent",
    "newCallEvent",
];

async fn one_subscribed_socket_follows_the_mappings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, crm) = app.create_integration().await;
    let token = app.login().await;
    let subs = eventually("one subscribed admin socket", || async {
        let socks = admin_sockets(&app).await;
        (socks.len() == 1 && !socks[0].is_empty()).then_some(socks)
    })
    .await;
    assert_eq!(subs[0], ALL_FOUR, "exactly the mapped event types");
    let st = wait_state(&app, xid, &token, "subscribed").await;
    assert_eq!(sorted(&st["subscribedEvents"]), ALL_FOUR);
    assert_eq!(st["xelionContextId"], json!(xid));
    let opened = counters(&app).await.total.sockets_opened;

    // A PUT that maps every mapping to newCallEvent and callHungUpEvent unsubscribes the
    // other two on the open socket.
    let path = format!("/api/crm-integrations/{xid}/crm-contexts/{crm}/event-uri-mappings");
    let (s, mut mappings) = app.get(&path, Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    for (i, m) in mappings.as_array_mut().unwrap().iter_mut().enumerate() {
        m["xelionEvent"] = json!(if i % 2 == 0 {
            "newCallEvent"
        } else {
            "callHungUpEvent"
        });
    }
    let (s, body) = app.put(&path, Some(&token), &mappings).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    eventually("the dropped types unsubscribed", || async {
        let socks = admin_sockets(&app).await;
        (socks
            == vec![vec![
                "callHungUpEvent".to_string(),
                "newCallEvent".to_string(),
            ]])
        .then_some(())
    })
    .await;
    assert_eq!(
        counters(&app).await.total.sockets_opened,
        opened,
        "re-subscribed on the open socket, not reconnected"
    );
    let st = status(&app, xid, &token).await;
    assert_eq!(
        sorted(&st["subscribedEvents"]),
        ["callHungUpEvent", "newCallEvent"]
    );

    // Deleting the integration closes the socket and logs out.
    let logouts = counters(&app).await.total.logouts;
    let (s, _) = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/crm-integrations/{xid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    eventually("socket closed and session logged out", || async {
        let c = counters(&app).await;
        let socks = admin_sockets(&app).await;
        (socks.is_empty() && c.total.logouts > logouts).then_some(())
    })
    .await;
}
both_backends!(one_subscribed_socket_follows_the_mappings);

/// A tenant subscribed at the simulator, with its mappings as stored.
struct Subscribed {
    app: TestApp,
    xid: i64,
    crm: i64,
    token: String,
    mappings_path: String,
    mappings: Value,
}

impl Subscribed {
    async fn start(backend: Backend) -> Subscribed {
        let app = TestApp::spawn(backend).await;
        let (xid, crm) = app.create_integration().await;
        let token = app.login().await;
        wait_state(&app, xid, &token, "subscribed").await;
        let mappings_path =
            format!("/api/crm-integrations/{xid}/crm-contexts/{crm}/event-uri-mappings");
        let (s, mappings) = app.get(&mappings_path, Some(&token)).await;
        assert_eq!(s, StatusCode::OK);
        Subscribed {
            app,
            xid,
            crm,
            token,
            mappings_path,
            mappings,
        }
    }
}

/// Configuration loads run side by side and may finish out of order; the socket ends up
/// subscribed to what the last change stored, not to what an earlier, slower load read.
async fn the_last_of_quick_mapping_changes_wins(backend: Backend) {
    let t = Subscribed::start(backend).await;
    let (app, xid, crm, token, path) = (&t.app, t.xid, t.crm, &t.token, &t.mappings_path);
    let original = t.mappings.clone();
    let only = |event: &str| {
        let mut m = original.clone();
        for mapping in m.as_array_mut().unwrap() {
            mapping["xelionEvent"] = json!(event);
        }
        m
    };
    let (_, users) = app
        .get(
            &format!("/api/crm-integrations/{xid}/crm-contexts/{crm}/user-credentials"),
            Some(token),
        )
        .await;
    let alice = users.as_array().unwrap()[0]["userCredentialsId"]
        .as_str()
        .unwrap()
        .to_string();
    // Each PUT answers once the tenant has loaded it, while credential updates (each a reload
    // of the tenant too) keep other loads running beside: some begun before a PUT end after.
    let done = std::cell::Cell::new(false);
    let changes = async {
        for round in 0..6 {
            let body = if round % 2 == 0 {
                only("newCallEvent")
            } else {
                original.clone()
            };
            let (s, answer) = app.put(path, Some(token), &body).await;
            assert_eq!(s, StatusCode::OK, "{answer}");
        }
        let (s, answer) = app.put(path, Some(token), &only("missedCallEvent")).await;
        assert_eq!(s, StatusCode::OK, "{answer}");
        done.set(true);
    };
    let reloads = || async {
        while !done.get() {
            let (s, answer) = app
                .post(
                    &format!("/api/users/{alice}/clientsecret/update"),
                    Some(token),
                    &json!({"value": secret("clientsecret", "alice")}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{answer}");
        }
    };
    tokio::join!(changes, reloads(), reloads(), reloads());
    let last = vec![vec!["missedCallEvent".to_string()]];
    eventually("the last change's subscription", || async {
        (admin_sockets(app).await == last).then_some(())
    })
    .await;
    // A load begun before the last change and finishing after it must not undo it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(admin_sockets(app).await, last, "still the last change's");
    let st = status(app, xid, token).await;
    assert_eq!(sorted(&st["subscribedEvents"]), ["missedCallEvent"]);
}
both_backends!(the_last_of_quick_mapping_changes_wins);

/// An admin write answers once the running tenant has taken it: the status read right after
/// shows it, and so would the routing of the next call event.
async fn a_change_is_taken_before_it_is_answered(backend: Backend) {
    let t = Subscribed::start(backend).await;
    let (app, xid, token, path) = (&t.app, t.xid, &t.token, &t.mappings_path);
    let mut added = t.mappings[0].clone();
    added.as_object_mut().unwrap().remove("id");
    for round in 1..=5 {
        let (s, answer) = app.post(path, Some(token), &added).await;
        assert_eq!(s, StatusCode::OK, "{answer}");
        let st = status(app, xid, token).await;
        assert_eq!(st["mappings"], json!(4 + round), "round {round}: {st}");
    }
}
both_backends!(a_change_is_taken_before_it_is_answered);

async fn drops_closes_and_refusals_reconnect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, _) = app.create_integration().await;
    let token = app.login().await;
    wait_state(&app, xid, &token, "subscribed").await;
    let control = app.control();

    for mode in [DropMode::Abrupt, DropMode::Close] {
        let opened = counters(&app).await.total.sockets_opened;
        control
            .drop_sockets("master", Some("admin"), mode)
            .await
            .expect("drop");
        eventually("reconnected and re-subscribed", || async {
            let c = counters(&app).await;
            let socks = admin_sockets(&app).await;
            (c.total.sockets_opened > opened && socks.len() == 1 && socks[0] == ALL_FOUR)
                .then_some(())
        })
        .await;
    }
    let st = wait_state(&app, xid, &token, "subscribed").await;
    assert!(st["reconnects"].as_u64().unwrap() >= 2, "{st}");
    assert!(st["lastError"].is_string(), "{st}");

    // me/websocket refused for a while: the tenant backs off, then comes back.
    let fault = control
        .xelion_fault(&cti_sim::FaultSpec::new(
            cti_sim::FaultKind::RefuseWebsocket,
        ))
        .await
        .expect("fault");
    let opened = counters(&app).await.total.sockets_opened;
    control
        .drop_sockets("master", None, DropMode::Abrupt)
        .await
        .expect("drop");
    wait_state(&app, xid, &token, "backingOff").await;
    control.remove_xelion_fault(fault.id).await.expect("remove");
    eventually("back after the refusal ends", || async {
        let c = counters(&app).await;
        (c.total.sockets_opened > opened && admin_sockets(&app).await.len() == 1).then_some(())
    })
    .await;

    // An expired session: the next connection logs in again.
    let logins = counters(&app).await.total.logins;
    control
        .expire_sessions("master", None)
        .await
        .expect("expire");
    control
        .drop_sockets("master", None, DropMode::Abrupt)
        .await
        .expect("drop");
    eventually("logged in again and subscribed", || async {
        let c = counters(&app).await;
        (c.total.logins > logins && admin_sockets(&app).await.len() == 1).then_some(())
    })
    .await;
}
both_backends!(drops_closes_and_refusals_reconnect);

async fn bad_frames_are_counted_and_the_socket_stays(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, _) = app.create_integration().await;
    let token = app.login().await;
    wait_state(&app, xid, &token, "subscribed").await;
    let control = app.control();
    let opened = counters(&app).await.total.sockets_opened;
    let huge = format!(
        r#"{{"notificationType":"newCallEvent","notification":{{"pad":"{}"}}}}"#,
        "x".repeat(1 << 20)
    );
    for frame in [
        "not json",
        r#"{"notificationType":"presenceEvent","notification":{}}"#,
        r#"{"notificationType":"newCallEvent","notification":"x"}"#,
        huge.as_str(),
        r#"{"notificationType":"newCallEvent","notification":{"callId":"c1","callerUser":"alice"}}"#,
    ] {
        let n = control
            .send_raw_frame("master", frame, Some("admin"))
            .await
            .expect("send");
        assert_eq!(n, 1);
    }
    let st = eventually("the good event after the bad frames", || async {
        let st = status(&app, xid, &token).await;
        (st["eventsReceived"] == 1).then_some(st)
    })
    .await;
    assert_eq!(
        st["framesRejected"],
        json!({"malformed": 1, "unknownType": 1, "notACallEvent": 1, "oversized": 1})
    );
    assert_eq!(st["eventsByType"], json!({"newCallEvent": 1}));
    assert!(st["lastEventAt"].is_string());
    assert_eq!(st["state"], "subscribed");
    assert_eq!(
        counters(&app).await.total.sockets_opened,
        opened,
        "the socket stayed up"
    );
}
both_backends!(bad_frames_are_counted_and_the_socket_stays);

async fn rejected_credentials_wait_for_new_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, _) = app.create_integration().await;
    let token = app.login().await;
    wait_state(&app, xid, &token, "subscribed").await;
    let control = app.control();

    // The admin password is changed in Xelion; the session and socket end.
    control
        .update_user(
            "master",
            "admin",
            &UserUpdate {
                password: Some("changed-in-xelion".into()),
                ..Default::default()
            },
        )
        .await
        .expect("password");
    control
        .expire_sessions("master", None)
        .await
        .expect("expire");
    control
        .drop_sockets("master", None, DropMode::Abrupt)
        .await
        .expect("drop");
    let st = wait_state(&app, xid, &token, "credentialsRejected").await;
    assert!(st["lastError"].as_str().unwrap().contains("10004"), "{st}");
    assert!(!st.to_string().contains("changed-in-xelion"));

    // Retried only every `credentials_retry` (2 s here, minutes by default): over four
    // seconds a handful of attempts, not a storm.
    let failures = counters(&app).await.total.login_failures;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let more = counters(&app).await.total.login_failures - failures;
    assert!(more <= 3, "{more} login attempts in 4 s");
    assert_eq!(
        status(&app, xid, &token).await["state"],
        "credentialsRejected"
    );

    // The new password stored through the API brings the socket back at once.
    let (s, body) = app
        .post(
            &format!("/api/xelion-environment/{xid}/admin/password/update"),
            Some(&token),
            &json!({"oldPassword": "admin", "newPassword": "changed-in-xelion"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    wait_state(&app, xid, &token, "subscribed").await;
    // The simulator lists the socket once its side of the handshake is done.
    eventually("one admin socket at the simulator", || async {
        (admin_sockets(&app).await.len() == 1).then_some(())
    })
    .await;
}
both_backends!(rejected_credentials_wait_for_new_ones);
