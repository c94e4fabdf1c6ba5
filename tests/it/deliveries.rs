//! The delivery log over HTTP: listing with filters and cursor paging, retry, scoping, bad
//! parameters, the backlog on readiness. Deliveries are put in through the store (as the
//! pipeline would), everything else goes through the API.

use std::time::Duration;

use cti_actors::clock::xelion_date;
use cti_actors::secrets::Cipher;
use cti_actors::store::{
    Accepting, Attempt, Delivery, DeliveryId, MappingId, NewDelivery, StatusUpdate, Store,
    Timestamp, UserId, XelionContextId, XelionEvent,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

/// The server's database, opened beside it.
pub(crate) async fn store(app: &TestApp) -> Store {
    let cipher = Cipher::from_base64(&app.db.key).unwrap();
    Store::open(&app.db.url, cipher).await.unwrap()
}

/// Deliveries of alice and bob: for calls 0..n, alice's newCallEvent and bob's
/// callHungUpEvent, each call a second after the previous, starting `start`.
pub(crate) async fn seed(
    s: &Store,
    xid: i64,
    crm: i64,
    n: u64,
    start: Timestamp,
) -> (Vec<Delivery>, UserId, UserId) {
    let users = s
        .users(cti_actors::store::CrmContextId(crm), None, None)
        .await
        .unwrap();
    let (alice, bob) = (users[0].id, users[1].id);
    let mappings = s
        .mappings(cti_actors::store::CrmContextId(crm))
        .await
        .unwrap();
    let mapping = |event: XelionEvent| -> MappingId {
        mappings
            .iter()
            .find(|m| m.xelion_event == event)
            .unwrap()
            .id
    };
    let new = |user: UserId, event: XelionEvent, call: &str| NewDelivery {
        xelion_context_id: XelionContextId(xid),
        crm_context_id: cti_actors::store::CrmContextId(crm),
        user_id: user,
        mapping_id: mapping(event),
        xelion_event: event,
        call_id: call.to_string(),
        event: std::sync::Arc::new(
            json!({"callId": call, "callerPhoneNumber": "+31201234567"})
                .as_object()
                .unwrap()
                .clone(),
        ),
    };
    let mut all = Vec::new();
    for i in 0..n {
        let call = format!("call-{i}");
        // Leased for a year: the live dispatcher leaves these rows alone (it would send them).
        let at = Accepting::at(
            start.plus(Duration::from_secs(i)),
            Duration::from_secs(365 * 86_400),
            Duration::from_secs(86_400),
        );
        let batch = vec![
            new(alice, XelionEvent::NewCall, &call),
            new(bob, XelionEvent::CallHungUp, &call),
        ];
        all.extend(s.accept_deliveries(batch, at).await.unwrap());
    }
    (all, alice, bob)
}

pub(crate) fn attempt(status: u16, excerpt: &str) -> Attempt {
    Attempt {
        at: Timestamp::now(),
        status: Some(status),
        duration_ms: 17,
        excerpt: Some(excerpt.to_string()),
        error: None,
    }
}

fn ids(body: &Value) -> Vec<i64> {
    body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect()
}

async fn the_log_is_listed_filtered_and_paged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, crm) = app.create_integration().await;
    let s = store(&app).await;
    // An hour ago, on a whole second.
    let start = Timestamp((Timestamp::now().millis() / 1000 - 3600) * 1000);
    let (all, alice, bob) = seed(&s, xid, crm, 6, start).await;
    s.record_updates(
        &[
            StatusUpdate::Delivered {
                id: all[0].id,
                attempt: attempt(201, "{\"id\":\"c0\"}"),
            },
            StatusUpdate::Failed {
                id: all[1].id,
                attempt: Some(attempt(400, "{\"error\":\"bad phone\"}")),
                reason: "the CRM answered 400".into(),
            },
        ],
        Timestamp::now(),
    )
    .await
    .unwrap();
    let token = app.login().await;
    let path = format!("/api/crm-integrations/{xid}/deliveries");

    // No token: 401 before anything else, whatever the query.
    let (st, body) = app.get(&format!("{path}?limit=0"), None).await;
    error_message(st, &body, StatusCode::UNAUTHORIZED, 10000);

    // Everything, newest first, each with its attempts and event.
    let (st, body) = app.get(&path, Some(&token)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let mut expected: Vec<i64> = all.iter().map(|d| d.id.0).collect();
    expected.reverse();
    assert_eq!(ids(&body), expected);
    assert_eq!(body["nextCursor"], Value::Null);
    let failed = body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == all[1].id.0)
        .unwrap()
        .clone();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["reason"], "the CRM answered 400");
    assert_eq!(failed["userId"], bob.0);
    assert_eq!(failed["xelionEvent"], "callHungUpEvent");
    assert_eq!(failed["callId"], "call-0");
    assert_eq!(failed["createdAt"], start.as_created_at());
    assert_eq!(failed["nextAttemptAt"], Value::Null);
    assert_eq!(failed["event"]["callerPhoneNumber"], "+31201234567");
    assert_eq!(failed["attempts"][0]["status"], 400);
    assert_eq!(failed["attempts"][0]["durationMs"], 17);
    assert_eq!(
        failed["attempts"][0]["excerpt"],
        "{\"error\":\"bad phone\"}"
    );

    // Filters, alone and together.
    let q = |query: String| {
        let (app, token, path) = (&app, &token, &path);
        async move {
            let (st, body) = app.get(&format!("{path}?{query}"), Some(token)).await;
            assert_eq!(st, StatusCode::OK, "{query}: {body}");
            ids(&body)
        }
    };
    assert_eq!(q("status=failed".into()).await, vec![all[1].id.0]);
    assert_eq!(q("status=delivered".into()).await, vec![all[0].id.0]);
    assert_eq!(q(format!("userId={}", alice.0)).await.len(), 6);
    assert_eq!(q("xelionEvent=callHungUpEvent".into()).await.len(), 6);
    assert_eq!(
        q("callId=call-2".into()).await,
        vec![all[5].id.0, all[4].id.0]
    );
    // since inclusive, until exclusive: calls 1 and 2.
    // Both time formats: the log's own, and Xelion's (with its space encoded).
    let since = start.plus(Duration::from_secs(1)).as_created_at();
    let until = xelion_date(start.millis() / 1000 + 3).replace(' ', "%20");
    let window = q(format!("since={since}&until={until}")).await;
    assert_eq!(
        window,
        vec![all[5].id.0, all[4].id.0, all[3].id.0, all[2].id.0]
    );
    let both = q(format!(
        "userId={}&xelionEvent=newCallEvent&status=pending&callId=call-3",
        alice.0
    ))
    .await;
    assert_eq!(both, vec![all[6].id.0]);

    // Pages of 5 follow the cursor to the end, in order, without gaps or repeats.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=5&cursor={c}"),
            None => "limit=5".to_string(),
        };
        let (st, body) = app.get(&format!("{path}?{query}"), Some(&token)).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        pages += 1;
        paged.extend(ids(&body));
        match body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!((paged, pages), (expected, 3));

    // Bad values: 400 naming the parameter.
    for (query, param) in [
        ("status=done", "status"),
        ("userId=alice", "userId"),
        ("xelionEvent=ringing", "xelionEvent"),
        ("callId=", "callId"),
        ("since=yesterday", "since"),
        ("until=2026-02-30T25:00:00", "until"),
        ("cursor=abc", "cursor"),
        ("limit=1000", "limit"),
    ] {
        let (st, body) = app.get(&format!("{path}?{query}"), Some(&token)).await;
        let msg = error_message(st, &body, StatusCode::BAD_REQUEST, 10205);
        assert!(msg.starts_with(&format!("{param}: ")), "{query}: {msg}");
    }
    let (st, body) = app.get(&format!("{path}?colour=red"), Some(&token)).await;
    let msg = error_message(st, &body, StatusCode::BAD_REQUEST, 10205);
    assert!(msg.contains("colour"), "{msg}");

    // Another tenant's administrator, and unknown contexts: 404.
    add_tenant(&app.control(), "acme").await;
    let acme = app.login_as("acme", "admin", &admin_password("acme")).await;
    let (st, body) = app.get(&path, Some(&acme)).await;
    error_message(st, &body, StatusCode::NOT_FOUND, 10100);
    let (st, body) = app
        .get(
            &format!("/api/crm-integrations/{}/deliveries", xid + 100),
            Some(&token),
        )
        .await;
    error_message(st, &body, StatusCode::NOT_FOUND, 10100);

    // Readiness shows the open work: twelve accepted, two settled.
    let (st, body) = app.get("/health/ready", None).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["outbox"]["backlog"], 10, "{body}");
    assert_eq!(body["outbox"]["pending"], 10, "{body}");
    assert!(body["outbox"]["oldestPendingAgeSeconds"].as_i64().unwrap() > 0);
}
both_backends!(the_log_is_listed_filtered_and_paged);

/// A new integration with one failed (422) and one delivered delivery of its first call;
/// answers (xid, failed, delivered).
pub(crate) async fn failed_and_delivered(app: &TestApp) -> (i64, DeliveryId, DeliveryId) {
    let (xid, crm) = app.create_integration().await;
    let s = store(app).await;
    let (all, _, _) = seed(&s, xid, crm, 1, Timestamp::now()).await;
    let (failed, delivered) = (all[0].id, all[1].id);
    s.record_updates(
        &[
            StatusUpdate::Failed {
                id: failed,
                attempt: Some(attempt(422, "{\"error\":\"unknown contact\"}")),
                reason: "the CRM answered 422".into(),
            },
            StatusUpdate::Delivered {
                id: delivered,
                attempt: attempt(200, ""),
            },
        ],
        Timestamp::now(),
    )
    .await
    .unwrap();
    (xid, failed, delivered)
}

async fn a_failed_delivery_is_sent_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, failed, delivered) = failed_and_delivered(&app).await;
    let s = store(&app).await;
    let token = app.login().await;
    let retry = |id: DeliveryId| format!("/api/crm-integrations/{xid}/deliveries/{id}/retry");

    // Another tenant cannot, and does not learn it exists.
    add_tenant(&app.control(), "acme").await;
    let acme = app.login_as("acme", "admin", &admin_password("acme")).await;
    let (st, body) = app.post(&retry(failed), Some(&acme), &Value::Null).await;
    error_message(st, &body, StatusCode::NOT_FOUND, 10100);

    let (st, body) = app.post(&retry(failed), Some(&token), &Value::Null).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["id"], failed.0);
    assert_eq!(body["status"], "pending");
    assert_eq!(body["reason"], Value::Null);
    assert!(body["nextAttemptAt"].is_string(), "due now: {body}");
    assert_eq!(body["attempts"][0]["status"], 422, "the history stays");
    // The live dispatcher picks it up from the outbox. This integration's refresh tokens are
    // unknown to the CRM simulator, so the user is parked and the delivery held.
    eventually("the retried delivery taken up by dispatch", || async {
        let (_, body) = app
            .get(
                &format!("/api/crm-integrations/{xid}/deliveries?callId=call-0&status=held"),
                Some(&token),
            )
            .await;
        ids(&body).contains(&failed.0).then_some(())
    })
    .await;

    // Only a failed one: now held, and a delivered one, are conflicts.
    for id in [failed, delivered] {
        let (st, body) = app.post(&retry(id), Some(&token), &Value::Null).await;
        let msg = error_message(st, &body, StatusCode::CONFLICT, 10300);
        assert!(msg.contains(&format!("delivery {id} is")), "{msg}");
    }
    let (st, body) = app
        .post(
            &retry(DeliveryId(delivered.0 + 1000)),
            Some(&token),
            &Value::Null,
        )
        .await;
    let msg = error_message(st, &body, StatusCode::NOT_FOUND, 10100);
    assert!(msg.contains("delivery"), "{msg}");
    let (st, body) = app
        .post(
            &format!("/api/crm-integrations/{xid}/deliveries/first/retry"),
            Some(&token),
            &Value::Null,
        )
        .await;
    error_message(st, &body, StatusCode::BAD_REQUEST, 10205);

    // Deleting the integration takes its deliveries along: nothing is left to send.
    let (st, _) = app
        .delete(&format!("/api/crm-integrations/{xid}"), Some(&token))
        .await;
    assert_eq!(st, StatusCode::OK);
    let far = Timestamp::now().plus(Duration::from_secs(86_400));
    assert!(s
        .claim_due(far, 10, Duration::from_secs(60))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.outbox_backlog().await.unwrap().total(), 0);
}
both_backends!(a_failed_delivery_is_sent_again);
