//! The CRM resource server: any path and method, token check, recording.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn records_every_request_with_its_subject() {
    let sim = start();
    let ctl = sim.control();
    let token = alice_access_token(&sim).await;
    let r = http()
        .post(format!(
            "{}/services/apexrest/Call?to=%2B31612345678&x=a+b",
            sim.crm_url()
        ))
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", "d-1")
        .json(&json!({"callId": "abc", "n": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["ok"], true);
    let put = http()
        .put(format!("{}/phonebridge/callhungup", sim.crm_url()))
        .header("authorization", format!("Zoho-oauthtoken {token}"))
        .body("plain text")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let bare = http()
        .delete(format!("{}/x/1", sim.crm_url()))
        .header("authorization", token.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 200);
    let list = ctl.crm_requests().await.unwrap();
    assert_eq!(list.len(), 3);
    let first = &list[0];
    assert_eq!(first.id, answer["id"].as_u64().unwrap());
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/services/apexrest/Call");
    assert_eq!(
        first.query, "to=%2B31612345678&x=a+b",
        "the query is kept as received"
    );
    assert_eq!(first.headers["idempotency-key"], "d-1");
    assert_eq!(first.headers["content-type"], "application/json");
    assert_eq!(first.body, json!({"callId": "abc", "n": 1}));
    assert_eq!(first.subject.as_deref(), Some("alice"));
    assert_eq!(first.token.as_deref(), Some(token.as_str()));
    assert_eq!(first.status, Some(200));
    assert_eq!(first.received_at.len(), 19);
    assert_eq!(list[1].method, "PUT");
    assert_eq!(list[1].body, json!("plain text"));
    assert_eq!(list[1].subject.as_deref(), Some("alice"));
    assert_eq!(list[2].method, "DELETE");
    assert_eq!(list[2].body, Value::Null);
    // Filters, and the control API itself is never recorded.
    assert_eq!(
        ctl.crm_requests_where(&[("method", "PUT")])
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        ctl.crm_requests_where(&[("path", "/x/1"), ("status", "200")])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(ctl.crm_requests_where(&[("color", "red")]).await.is_err());
    ctl.clear_crm_requests().await.unwrap();
    assert!(ctl.crm_requests().await.unwrap().is_empty());
    let c = ctl.crm_counters().await.unwrap();
    assert_eq!(c.resource_requests, 3);
}

#[tokio::test]
async fn missing_or_bad_tokens_get_401_invalid_token() {
    let sim = start();
    let none = http()
        .post(format!("{}/a", sim.crm_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    let v: Value = none.json().await.unwrap();
    assert_eq!(v, json!({"error": "invalid_token"}));
    let bad = http()
        .get(format!("{}/a", sim.crm_url()))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let list = sim.control().crm_requests().await.unwrap();
    assert_eq!(list.len(), 2, "refused requests are recorded too");
    assert_eq!(list[1].status, Some(401));
    assert_eq!(list[1].token.as_deref(), Some("forged"));
    assert_eq!(list[1].subject, None);
    assert_eq!(sim.control().crm_counters().await.unwrap().unauthorized, 2);
}

#[tokio::test]
async fn minted_access_tokens_work() {
    let sim = start();
    let t = sim
        .control()
        .add_access_token(&cti_sim::api::NewAccessToken {
            token: Some("my-access".into()),
            subject: "dave".into(),
            expires_in_seconds: None,
        })
        .await
        .unwrap();
    assert_eq!(t.token, "my-access");
    let r = http()
        .get(format!("{}/me", sim.crm_url()))
        .bearer_auth("my-access")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        sim.control().crm_requests().await.unwrap()[0]
            .subject
            .as_deref(),
        Some("dave")
    );
}

#[tokio::test]
async fn arrivals_recording_keeps_path_status_and_time_only() {
    let sim = start();
    let ctl = sim.control();
    let s = ctl
        .set_crm_settings(&cti_sim::api::CrmSettings {
            record: Some(cti_sim::api::RecordMode::Arrivals),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.record, Some(cti_sim::api::RecordMode::Arrivals));
    let token = alice_access_token(&sim).await;
    for path in ["/bench/a", "/bench/b"] {
        let r = http()
            .post(format!("{}{path}", sim.crm_url()))
            .header("authorization", format!("Bearer {token}"))
            .json(&json!({"x": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = http()
        .post(format!("{}/bench/c", sim.crm_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let got = ctl.crm_arrivals().await.unwrap();
    let seen: Vec<(&str, Option<u16>)> = got
        .arrivals
        .iter()
        .map(|a| (a.path.as_str(), a.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("/bench/a", Some(200)),
            ("/bench/b", Some(200)),
            ("/bench/c", Some(401))
        ]
    );
    assert!(got.arrivals[0].at_micros <= got.arrivals[2].at_micros);
    assert_eq!(got.dropped, 0);
    assert!(ctl.crm_requests().await.unwrap().is_empty());
    assert_eq!(ctl.crm_counters().await.unwrap().resource_requests, 3);
    ctl.clear_crm_arrivals().await.unwrap();
    assert!(ctl.crm_arrivals().await.unwrap().arrivals.is_empty());
}
