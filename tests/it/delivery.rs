//! Live delivery, end to end: calls placed in the Xelion simulator arrive at the CRM
//! simulator as the CTI API document's example mappings say, as the right user, once, in
//! order, through token expiry, CRM outages, revoked credentials and socket drops.

use std::time::Duration;

use cti_sim::api::{NewCall, NewRefreshToken, RecordedRequest, Scenario};
use cti_sim::{FaultKind, FaultSpec};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

/// The path prefix of the document's Zoho PhoneBridge mappings.
const PB: &str = "/cti-server-stub/api/zoho/services/crm/v2/phonebridge/";

/// A server with the document's example integration for alice and bob, subscribed.
pub struct World {
    pub app: TestApp,
    pub token: String,
    pub xid: i64,
    pub crm: i64,
}

pub fn client_id(user: &str) -> String {
    format!("client-{user}")
}

pub fn refresh_token(user: &str) -> String {
    format!("rt-{user}-{}", secret("r", user))
}

/// The document's `PUT event-uri-mappings` example, aimed at the CRM simulator.
pub fn document_mappings(app: &TestApp) -> Value {
    let text = include_str!("../fixtures/example-event-uri-mappings-put.json")
        .replace("https://example.org", &app.sim.crm_url());
    serde_json::from_str(&text).unwrap()
}

impl World {
    pub async fn new(backend: Backend) -> World {
        Self::register(TestApp::spawn(backend).await).await
    }

    /// Makes alice's and bob's clients and refresh tokens known to the CRM simulator, then
    /// [`World::with`].
    pub async fn register(app: TestApp) -> World {
        let control = app.control();
        for user in ["alice", "bob"] {
            control
                .add_client(&client_id(user), Some(&secret("clientsecret", user)))
                .await
                .expect("client");
            control
                .add_refresh_token(&NewRefreshToken {
                    token: Some(refresh_token(user)),
                    client_id: Some(client_id(user)),
                    subject: user.into(),
                })
                .await
                .expect("refresh token");
        }
        Self::with(app).await
    }

    /// Creates the integration of alice and bob (known to the CRM simulator), puts the
    /// document's mappings and waits for the socket.
    pub async fn with(app: TestApp) -> World {
        let mut body = app.integration_body("master", &["alice", "bob"]);
        let users: Vec<Value> = ["alice", "bob"]
            .iter()
            .map(|user| {
                json!({
                    "xelionUsername": user,
                    "clientId": client_id(user),
                    "clientSecret": secret("clientsecret", user),
                    "refreshToken": refresh_token(user),
                })
            })
            .collect();
        body["userCredentials"] = Value::Array(users);
        let token = app.login().await;
        let (s, created) = app.post("/api/crm-integrations", Some(&token), &body).await;
        assert_eq!(s, StatusCode::OK, "{created}");
        let xid = created["xelionContext"]["id"].as_i64().unwrap();
        let crm = created["crmContext"]["id"].as_i64().unwrap();
        let path = format!("/api/crm-integrations/{xid}/crm-contexts/{crm}/event-uri-mappings");
        let (s, b) = app.put(&path, Some(&token), &document_mappings(&app)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let world = World {
            app,
            token,
            xid,
            crm,
        };
        world.wait_subscribed().await;
        world
    }

    /// The tenant's status (`GET /api/xelion-environment/{id}/status`).
    pub async fn status(&self) -> Value {
        let (s, st) = self
            .app
            .get(
                &format!("/api/xelion-environment/{}/status", self.xid),
                Some(&self.token),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{st}");
        st
    }

    /// Makes the CRM answer `status` to the requests under `path` (`count` times, or until
    /// removed), with `Retry-After` if given.
    pub async fn crm_fault(
        &self,
        path: &str,
        status: u16,
        count: Option<u64>,
        retry_after: Option<u64>,
    ) -> u64 {
        self.app
            .control()
            .crm_fault(&FaultSpec {
                path: Some(path.into()),
                status: Some(status),
                count,
                retry_after,
                ..FaultSpec::new(FaultKind::Status)
            })
            .await
            .expect("fault")
            .id
    }

    pub async fn wait_subscribed(&self) {
        eventually("subscribed to the four mapped types", || async {
            let st = self.status().await;
            (st["state"] == "subscribed" && st["subscribedEvents"].as_array()?.len() == 4)
                .then_some(())
        })
        .await;
    }

    pub async fn call(&self, from: &str, to: &str, scenario: Scenario) -> cti_sim::api::PlacedCall {
        self.app
            .control()
            .call_between("master", from, to, scenario)
            .await
            .expect("call placed")
    }

    /// Waits until the CRM has received at least `n` requests of `subject` and answers them,
    /// oldest first.
    pub async fn requests_of(&self, subject: &str, n: usize) -> Vec<RecordedRequest> {
        self.app
            .control()
            .wait_for_crm_requests(&[("subject", subject)], n, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{n} requests of {subject}: {e}"))
    }

    /// The deliveries API.
    pub async fn deliveries(&self, query: &str) -> Value {
        let (s, body) = self
            .app
            .get(
                &format!("/api/crm-integrations/{}/deliveries?{query}", self.xid),
                Some(&self.token),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body
    }
}

/// A call between two external numbers involves no registered user: the tenant counts it
/// as unrouted and the CRM sees nothing of it.
async fn control_call_between_externals(w: &World) {
    let status = || async {
        let (_, st) = w
            .app
            .get(
                &format!("/api/xelion-environment/{}/status", w.xid),
                Some(&w.token),
            )
            .await;
        st
    };
    let before = status().await;
    let call = w
        .call("+31600000001", "+31600000002", Scenario::Answered)
        .await;
    let mapped = call
        .events
        .iter()
        .filter(|f| f["notificationType"] != "channelHungUpEvent")
        .count() as u64;
    let after = eventually("the events counted as unrouted", || async {
        let st = w.status().await;
        (st["eventsReceived"].as_u64()? >= before["eventsReceived"].as_u64()? + mapped)
            .then_some(st)
    })
    .await;
    assert_eq!(
        after["eventsUnrouted"].as_u64().unwrap() - before["eventsUnrouted"].as_u64().unwrap(),
        mapped
    );
    assert_eq!(after["deliveriesAccepted"], before["deliveriesAccepted"]);
}

/// The requests of one call, by phonebridge action, oldest first.
fn of_call<'a>(requests: &'a [RecordedRequest], call_id: &str) -> Vec<&'a RecordedRequest> {
    requests
        .iter()
        .filter(|r| {
            r.query.contains(&format!("callrefid={call_id}"))
                || r.body["myObject"]["myPayload"] == call_id
                || r.body["myObject"]["callId"] == call_id
        })
        .collect()
}

fn action(r: &RecordedRequest) -> &str {
    r.path.strip_prefix(PB).unwrap_or(&r.path)
}

/// The notification of the placed call's frame of `kind` (the first one).
fn event_of(call: &cti_sim::api::PlacedCall, kind: &str) -> Value {
    call.events
        .iter()
        .find(|f| f["notificationType"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", call.events))["notification"]
        .clone()
}

/// refresh_token grants the CRM simulator made.
fn refreshes(c: &cti_sim::api::CrmCounters) -> u64 {
    c.grants.get("refresh_token").copied().unwrap_or(0)
}

/// A phone number as a URI query carries it.
fn enc(number: &Value) -> String {
    number.as_str().unwrap().replace('+', "%2B")
}

async fn the_document_example_arrives_as_mapped(backend: Backend) {
    let w = World::new(backend).await;

    // An external number calls alice, who answers.
    let answered = w.call("+31612345678", "alice", Scenario::Answered).await;
    let got = w.requests_of("alice", 3).await;
    let got = of_call(&got, &answered.call_id);
    assert_eq!(
        got.iter().map(|r| action(r)).collect::<Vec<_>>(),
        ["callreceived", "callanswered", "callhungup"],
        "one request per mapped event, in event order"
    );
    let new = event_of(&answered, "newCallEvent");
    assert_eq!(
        got[0].query,
        format!(
            "callrefid={}&fromnumber={}&tonumber={}",
            answered.call_id,
            enc(&new["callerPhoneNumber"]),
            enc(&new["calleePhoneNumber"])
        ),
        "a + arrives as %2B"
    );
    assert!(got[0].query.contains("fromnumber=%2B31612345678"));
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].body["myObject"]["callId"], answered.call_id);
    assert_eq!(got[0].body["calleeUser"], "alice");
    assert_eq!(got[0].body["fromNumber"], "+31612345678");
    assert_eq!(got[0].headers["content-type"], "application/json");
    let connected = event_of(&answered, "callConnectedEvent");
    assert_eq!(got[1].body["myObject"]["myPayload"], answered.call_id);
    assert_eq!(got[1].body["calleeFlowId"], connected["calleeFlowId"]);
    assert!(
        got[2].query.contains("&direction=inbound&duration=30"),
        "{}",
        got[2].query
    );
    assert_eq!(got[2].body, Value::Null, "a null payload sends no body");
    for r in &got {
        assert!(
            r.headers["authorization"].starts_with("Bearer "),
            "the crm context's prefix"
        );
        assert_eq!(r.subject.as_deref(), Some("alice"), "alice's own token");
        assert!(r.headers.contains_key("idempotency-key"));
    }
    let keys: std::collections::BTreeSet<&String> =
        got.iter().map(|r| &r.headers["idempotency-key"]).collect();
    assert_eq!(keys.len(), 3, "one idempotency key per delivery");

    // The preview of the same event renders the very request the CRM received.
    let (s, preview) = w
        .app
        .post(
            &format!(
                "/api/crm-integrations/{}/crm-contexts/{}/event-uri-mappings/preview",
                w.xid, w.crm
            ),
            Some(&w.token),
            &json!({"xelionEvent": "newCallEvent", "event": new}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{preview}");
    let shown = &preview["previews"][0]["request"];
    assert_eq!(
        shown["uri"],
        format!("{}{}?{}", w.app.sim.crm_url(), got[0].path, got[0].query)
    );
    assert_eq!(shown["method"], got[0].method);
    assert_eq!(shown["body"], got[0].body);
    assert_eq!(
        shown["headers"]["Content-Type"],
        got[0].headers["content-type"]
    );

    // A call of nobody registered is counted, not delivered.
    control_call_between_externals(&w).await;

    // Alice calls out: the hang-up says outbound.
    let outgoing = w.call("alice", "+31687654321", Scenario::Answered).await;
    let got = w.requests_of("alice", 6).await;
    let got = of_call(&got, &outgoing.call_id);
    assert_eq!(got.len(), 3);
    assert!(
        got[2].query.contains("&direction=outbound&"),
        "{}",
        got[2].query
    );

    // Missed by bob: the callmissed URI, without a body.
    let missed = w.call("+31611111111", "bob", Scenario::Missed).await;
    let got = w.requests_of("bob", 2).await;
    let got: Vec<&RecordedRequest> = got.iter().filter(|r| action(r) == "callmissed").collect();
    assert_eq!(got.len(), 1);
    let ev = event_of(&missed, "missedCallEvent");
    assert_eq!(
        got[0].query,
        format!(
            "calleeFlowId={}&fromnumber={}&tonumber={}",
            ev["calleeFlowId"].as_str().unwrap().replace(':', "%3A"),
            enc(&ev["callerPhoneNumber"]),
            enc(&ev["calleePhoneNumber"])
        )
    );
    assert_eq!(got[0].body, Value::Null);

    // A transfer: the duplicate hang-up arrives once.
    let transfer = w
        .app
        .control()
        .place_call(
            "master",
            &NewCall {
                from: "+31622222222".into(),
                to: "alice".into(),
                scenario: Scenario::Transfer,
                transfer_to: Some("+31633333333".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let hangups = transfer
        .events
        .iter()
        .filter(|f| f["notificationType"] == "callHungUpEvent")
        .filter(|f| f["notification"]["callId"] == transfer.call_id)
        .count();
    assert_eq!(hangups, 2, "Xelion sends the hang-up twice");
    eventually("the transfer's deliveries settled", || async {
        let list = w.deliveries(&format!("callId={}", transfer.call_id)).await;
        let items = list["deliveries"].as_array()?.clone();
        (items.len() >= 3 && items.iter().all(|d| d["status"] == "delivered")).then_some(())
    })
    .await;
    let all = w.app.control().crm_requests().await.unwrap();
    let hung: Vec<_> = of_call(&all, &transfer.call_id)
        .into_iter()
        .filter(|r| action(r) == "callhungup")
        .collect();
    assert_eq!(hung.len(), 1, "the duplicate hang-up is delivered once");

    // A call between two registered users reaches both.
    let internal = w.call("alice", "bob", Scenario::Answered).await;
    for user in ["alice", "bob"] {
        eventually(
            &format!("{user}'s requests of the internal call"),
            || async {
                let all = w.app.control().crm_requests().await.unwrap();
                let mine = of_call(&all, &internal.call_id)
                    .into_iter()
                    .filter(|r| r.subject.as_deref() == Some(user))
                    .count();
                (mine == 3).then_some(())
            },
        )
        .await;
    }
}
both_backends!(the_document_example_arrives_as_mapped);

async fn a_crm_outage_delays_but_loses_nothing(backend: Backend) {
    let w = World::new(backend).await;
    let control = w.app.control();
    // The CRM answers 503, then 429 with Retry-After: 1, for its resources (not its token
    // endpoint).
    let down = w.crm_fault("/cti-server-stub/*", 503, None, None).await;
    let calls = [
        w.call("+31612345678", "alice", Scenario::Answered).await,
        w.call("+31612345679", "alice", Scenario::Answered).await,
    ];
    eventually("attempts refused with 503", || async {
        let list = w.deliveries("status=retrying").await;
        (list["deliveries"].as_array()?.len() >= 2).then_some(())
    })
    .await;
    control.remove_crm_fault(down).await.unwrap();
    w.crm_fault("/cti-server-stub/*", 429, Some(3), Some(1))
        .await;
    let delivered = eventually("all six delivered", || async {
        let all = control
            .crm_requests_where(&[("subject", "alice"), ("status", "200")])
            .await
            .unwrap();
        (all.len() == 6).then_some(all)
    })
    .await;
    for call in &calls {
        let got = of_call(&delivered, &call.call_id);
        assert_eq!(
            got.iter().map(|r| action(r)).collect::<Vec<_>>(),
            ["callreceived", "callanswered", "callhungup"],
            "event order per call survives the retries"
        );
    }
    // Status updates are committed in batches, just after the CRM's answers.
    eventually("the log shows all six delivered", || async {
        let list = w.deliveries("status=delivered").await;
        (list["deliveries"].as_array()?.len() == 6).then_some(())
    })
    .await;
    let list = w.deliveries(&format!("callId={}", calls[0].call_id)).await;
    let first = &list["deliveries"][2];
    let attempts = first["attempts"].as_array().unwrap();
    assert!(
        attempts.len() >= 2,
        "the refused attempts are recorded: {first}"
    );
    assert_eq!(attempts[0]["status"], 503);
    let all = w.deliveries("limit=100").await;
    let refused_busy = all["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["attempts"].as_array().unwrap())
        .filter(|a| a["status"] == 429)
        .count();
    assert_eq!(refused_busy, 3, "the three 429 answers are in the log");

    // A 400 is failed for good, shown in the log, and the retry endpoint sends it again.
    w.crm_fault(&format!("{PB}callreceived"), 400, Some(1), None)
        .await;
    let call = w.call("+31612340000", "bob", Scenario::Missed).await;
    let failed = eventually("the 400 failed for good", || async {
        let list = w
            .deliveries(&format!("callId={}&status=failed", call.call_id))
            .await;
        list["deliveries"].as_array()?.first().cloned()
    })
    .await;
    assert!(
        failed["reason"].as_str().unwrap().contains("400"),
        "{failed}"
    );
    assert_eq!(failed["attempts"][0]["status"], 400);
    let id = failed["id"].as_i64().unwrap();
    let (s, body) = w
        .app
        .post(
            &format!("/api/crm-integrations/{}/deliveries/{id}/retry", w.xid),
            Some(&w.token),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    eventually("the retried delivery arrives", || async {
        let list = w.deliveries(&format!("callId={}", call.call_id)).await;
        let d = list["deliveries"].as_array()?.first()?.clone();
        (d["status"] == "delivered").then_some(())
    })
    .await;
}
both_backends!(a_crm_outage_delays_but_loses_nothing);

async fn tokens_refresh_once_and_revoked_users_are_held(backend: Backend) {
    let w = World::new(backend).await;
    let control = w.app.control();
    // 50 deliveries of alice with an expired token: one grant.
    w.call("+31600000000", "alice", Scenario::Answered).await;
    w.requests_of("alice", 3).await;
    control.expire_access_tokens(Some("alice")).await.unwrap();
    let grants_before = control.crm_counters().await.unwrap();
    for i in 0..17 {
        w.call(&format!("+3160000{i:04}"), "alice", Scenario::Answered)
            .await;
    }
    let got = w.requests_of("alice", 3 + 51).await;
    assert!(got.iter().all(|r| r.subject.as_deref() == Some("alice")));
    let grants_after = control.crm_counters().await.unwrap();
    assert_eq!(
        refreshes(&grants_after) - refreshes(&grants_before),
        1,
        "one refresh for the whole burst"
    );

    // A 401 for a valid-looking token: one refresh, and the delivery arrives.
    w.crm_fault("/cti-server-stub/*", 401, Some(1), None).await;
    let before = refreshes(&control.crm_counters().await.unwrap());
    let call = w.call("+31699999999", "alice", Scenario::Missed).await;
    // A missed call makes two deliveries (new, missed); the first meets the 401.
    let list = eventually("delivered after a fresh token", || async {
        let list = w.deliveries(&format!("callId={}", call.call_id)).await;
        let all = list["deliveries"].as_array()?.clone();
        (all.len() == 2 && all.iter().all(|d| d["status"] == "delivered")).then_some(all)
    })
    .await;
    let first: Vec<&Value> = list[1]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(first, [&json!(401), &json!(200)], "{}", list[1]);
    assert_eq!(
        refreshes(&control.crm_counters().await.unwrap()) - before,
        1
    );

    // Bob's refresh token is revoked: his deliveries are held, alice's flow meanwhile.
    control.expire_access_tokens(Some("bob")).await.unwrap();
    control
        .revoke_refresh_token(&refresh_token("bob"))
        .await
        .unwrap();
    let held_call = w.call("+31655555555", "bob", Scenario::Answered).await;
    eventually("bob's deliveries held", || async {
        let list = w
            .deliveries(&format!("callId={}&status=held", held_call.call_id))
            .await;
        (list["deliveries"].as_array()?.len() == 3).then_some(())
    })
    .await;
    w.call("+31656666666", "alice", Scenario::Missed).await;
    w.requests_of("alice", 3 + 51 + 2 + 2).await;
    assert!(control
        .crm_requests_where(&[("subject", "bob")])
        .await
        .unwrap()
        .is_empty());

    // New credentials through the API: all three arrive, in order.
    control
        .add_refresh_token(&NewRefreshToken {
            token: Some("rt-bob-new".into()),
            client_id: Some(client_id("bob")),
            subject: "bob".into(),
        })
        .await
        .unwrap();
    let (_, users) = w
        .app
        .get(
            &format!(
                "/api/crm-integrations/{}/crm-contexts/{}/user-credentials",
                w.xid, w.crm
            ),
            Some(&w.token),
        )
        .await;
    let bob = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["xelionUsername"] == "bob")
        .unwrap()["userCredentialsId"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, body) = w
        .app
        .post(
            &format!("/api/users/{bob}/refreshtoken/update"),
            Some(&w.token),
            &json!({"value": "rt-bob-new"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let got = w.requests_of("bob", 3).await;
    assert_eq!(
        of_call(&got, &held_call.call_id)
            .iter()
            .map(|r| action(r))
            .collect::<Vec<_>>(),
        ["callreceived", "callanswered", "callhungup"]
    );
}
both_backends!(tokens_refresh_once_and_revoked_users_are_held);

async fn socket_drops_and_deletion(backend: Backend) {
    let w = World::new(backend).await;
    let control = w.app.control();
    w.call("+31612345678", "alice", Scenario::Missed).await;
    w.requests_of("alice", 1).await;
    control
        .drop_sockets("master", None, cti_sim::api::DropMode::Abrupt)
        .await
        .unwrap();
    w.wait_subscribed().await;
    eventually("a later call is delivered", || async {
        let _ = w.call("+31612345679", "alice", Scenario::Missed).await;
        let n = control
            .crm_requests_where(&[("subject", "alice")])
            .await
            .unwrap()
            .len();
        (n >= 2).then_some(())
    })
    .await;

    // Deleting the integration stops its deliveries, even those waiting for a retry.
    w.crm_fault("/cti-server-stub/*", 503, None, None).await;
    w.call("+31612345670", "bob", Scenario::Answered).await;
    eventually("bob's deliveries retrying", || async {
        let list = w.deliveries("status=retrying").await;
        (!list["deliveries"].as_array()?.is_empty()).then_some(())
    })
    .await;
    let (s, _) = w
        .app
        .delete(&format!("/api/crm-integrations/{}", w.xid), Some(&w.token))
        .await;
    assert_eq!(s, StatusCode::OK);
    let stopped = control.crm_requests().await.unwrap().len();

    // The same integration created again (the fault still on): its new call retries, and
    // once it has been refused three times, retry rounds have passed for the old ones too.
    let again = World::with(w.app).await;
    let call = again.call("+31612345671", "bob", Scenario::Missed).await;
    eventually("the new call refused three times", || async {
        let list = again.deliveries(&format!("callId={}", call.call_id)).await;
        // Newest first: the call's first delivery is the last; the second waits behind it.
        (list["deliveries"].as_array()?.last()?["attempts"]
            .as_array()?
            .len()
            >= 3)
            .then_some(())
    })
    .await;
    let after = control.crm_requests().await.unwrap();
    let stray: Vec<_> = after[stopped..]
        .iter()
        .filter(|r| r.query.contains("%2B31612345670"))
        .collect();
    assert!(
        stray.is_empty(),
        "no delivery of the deleted integration: {stray:?}"
    );
}
both_backends!(socket_drops_and_deletion);
