//! Faults on demand, on both simulators.

use cti_sim::api::{DropMode, FaultKind, FaultSpec};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn xelion_429_and_500_for_the_next_requests() {
    let sim = start();
    let ctl = sim.control();
    ctl.xelion_fault(&FaultSpec::status(429).on_path("me/login").times(1))
        .await
        .unwrap();
    let body = json!({"userName": "admin", "password": "admin", "userSpace": "f"});
    let r = login_raw(&sim, "master", body.clone()).await;
    let v = assert_xerr(r, 429, 10400).await;
    assert_eq!(v["info"], "resource=POST /api/v1/master/me/login");
    assert!(
        ctl.xelion_faults().await.unwrap().is_empty(),
        "a counted fault runs out"
    );
    let t = login(&sim, "master", "admin", "admin", "f").await;
    let t = t["authentication"].as_str().unwrap();
    ctl.xelion_fault(&FaultSpec::status(500).times(2))
        .await
        .unwrap();
    for _ in 0..2 {
        let r = authed(
            Method::GET,
            format!("{}/api/v1/master/me/info", sim.xelion_url()),
            t,
        )
        .send()
        .await
        .unwrap();
        assert_xerr(r, 500, 11000).await;
    }
    let r = authed(
        Method::GET,
        format!("{}/api/v1/master/me/info", sim.xelion_url()),
        t,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(ctl.xelion_counters().await.unwrap().total.faults_applied, 3);
}

#[tokio::test]
async fn xelion_faults_by_tenant_are_listed_and_removed() {
    let sim = start();
    let ctl = sim.control();
    ctl.create_tenant("t2").await.unwrap();
    let mut spec = FaultSpec::status(503);
    spec.tenant = Some("t2".into());
    let f = ctl.xelion_fault(&spec).await.unwrap();
    // Another tenant is unaffected.
    login(&sim, "master", "alice", "alice", "x").await;
    let r = login_raw(
        &sim,
        "t2",
        json!({"userName": "a", "password": "b", "userSpace": "c"}),
    )
    .await;
    assert_xerr(r, 503, 11000).await;
    let listed = ctl.xelion_faults().await.unwrap();
    assert_eq!((listed.len(), listed[0].id, listed[0].hits), (1, f.id, 1));
    ctl.remove_xelion_fault(f.id).await.unwrap();
    let r = login_raw(
        &sim,
        "t2",
        json!({"userName": "a", "password": "b", "userSpace": "c"}),
    )
    .await;
    assert_xerr(r, 401, 10004).await;
    ctl.xelion_fault(&FaultSpec::status(500)).await.unwrap();
    ctl.clear_xelion_faults().await.unwrap();
    assert!(ctl.xelion_faults().await.unwrap().is_empty());
    assert!(ctl.remove_xelion_fault(999).await.is_err());
}

#[tokio::test]
async fn xelion_latency_still_answers() {
    let sim = start();
    let ctl = sim.control();
    ctl.xelion_fault(&FaultSpec::latency(200).on_path("me/login").times(1))
        .await
        .unwrap();
    login(&sim, "master", "admin", "admin", "slow").await;
    assert_eq!(ctl.xelion_counters().await.unwrap().total.faults_applied, 1);
}

#[tokio::test]
async fn refusing_the_websocket() {
    let sim = start();
    let ctl = sim.control();
    let t = token(&sim, "admin").await;
    ctl.xelion_fault(&FaultSpec::new(FaultKind::RefuseWebsocket).times(1))
        .await
        .unwrap();
    // The refusal does not consume itself on other requests.
    let info = authed(
        Method::GET,
        format!("{}/api/v1/master/me/info", sim.xelion_url()),
        &t,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(info.status(), 200);
    let r = authed(
        Method::POST,
        format!("{}/api/v1/master/me/websocket", sim.xelion_url()),
        &t,
    )
    .send()
    .await
    .unwrap();
    assert_xerr(r, 503, 11000).await;
    ws_url(&sim, &t).await;
}

#[tokio::test]
async fn dropping_sockets_abruptly_or_with_a_close_frame() {
    let sim = start();
    let ctl = sim.control();
    let mut a = open_socket(&sim, "admin").await;
    let mut b = open_socket(&sim, "alice").await;
    ctl.wait_for_open_sockets("master", 2, WAIT).await.unwrap();
    assert_eq!(
        ctl.drop_sockets("master", Some("alice"), DropMode::Close)
            .await
            .unwrap(),
        1
    );
    let closed = loop {
        match tokio::time::timeout(WAIT, b.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(closed.expect("a close reason").code), 1001);
    assert_eq!(
        ctl.drop_sockets("master", None, DropMode::Abrupt)
            .await
            .unwrap(),
        1
    );
    // Abrupt: the stream ends or errors without a close frame.
    loop {
        match tokio::time::timeout(WAIT, a.next()).await.unwrap() {
            None | Some(Err(_)) => break,
            Some(Ok(Message::Close(_))) => panic!("an abrupt drop sends no close frame"),
            Some(Ok(_)) => continue,
        }
    }
    let c = ctl.wait_for_open_sockets("master", 0, WAIT).await.unwrap();
    assert_eq!(c.total.sockets_opened, 2);
}

#[tokio::test]
async fn expiring_sessions() {
    let sim = start();
    let ctl = sim.control();
    let a = token(&sim, "alice").await;
    let b = token(&sim, "bob").await;
    assert_eq!(ctl.expire_sessions("master", None).await.unwrap(), 2);
    for t in [a, b] {
        let r = authed(
            Method::GET,
            format!("{}/api/v1/master/me/info", sim.xelion_url()),
            &t,
        )
        .send()
        .await
        .unwrap();
        assert_xerr(r, 401, 10021).await;
    }
}

#[tokio::test]
async fn xelion_dropped_connection() {
    let sim = start();
    let ctl = sim.control();
    ctl.xelion_fault(&FaultSpec::new(FaultKind::Drop).on_path("me/login").times(1))
        .await
        .unwrap();
    let r = http()
        .post(format!("{}/api/v1/master/me/login", sim.xelion_url()))
        .json(&json!({"userName": "admin", "password": "admin", "userSpace": "d"}))
        .send()
        .await;
    assert!(r.is_err(), "the connection should drop: {r:?}");
    login(&sim, "master", "admin", "admin", "d").await;
}

#[tokio::test]
async fn crm_5xx_for_the_next_requests_then_success() {
    let sim = start();
    let ctl = sim.control();
    let token = alice_access_token(&sim).await;
    ctl.crm_fault(&FaultSpec::status(503).times(2))
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = http()
            .post(format!("{}/crm/x", sim.crm_url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [503, 503, 200]);
    let recorded = ctl.crm_requests().await.unwrap();
    let codes: Vec<_> = recorded.iter().map(|r| r.status).collect();
    assert_eq!(codes, [Some(503), Some(503), Some(200)]);
    assert_eq!(ctl.crm_counters().await.unwrap().faults_applied, 2);
}

#[tokio::test]
async fn crm_429_with_retry_after_and_401_on_a_path() {
    let sim = start();
    let ctl = sim.control();
    let token = alice_access_token(&sim).await;
    let mut limited = FaultSpec::status(429).on_path("/limited").times(1);
    limited.retry_after = Some(7);
    ctl.crm_fault(&limited).await.unwrap();
    ctl.crm_fault(&FaultSpec::status(401).on_path("/calls/*").times(1))
        .await
        .unwrap();
    let other = http()
        .post(format!("{}/other", sim.crm_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "faults stay on their path");
    let r = http()
        .post(format!("{}/limited", sim.crm_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let r = http()
        .post(format!("{}/calls/1", sim.crm_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_token");
    let r = http()
        .post(format!("{}/calls/1", sim.crm_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A custom body.
    let mut custom = FaultSpec::status(500).times(1);
    custom.body = Some(json!({"message": "boom"}));
    ctl.crm_fault(&custom).await.unwrap();
    let r = http()
        .get(format!("{}/x", sim.crm_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({"message": "boom"})
    );
}

#[tokio::test]
async fn crm_dropped_connections_and_latency() {
    let sim = start();
    let ctl = sim.control();
    let token = alice_access_token(&sim).await;
    ctl.crm_fault(&FaultSpec::new(FaultKind::Drop).times(1))
        .await
        .unwrap();
    let r = http()
        .post(format!("{}/drop", sim.crm_url()))
        .bearer_auth(&token)
        .body("x")
        .send()
        .await;
    assert!(r.is_err(), "the connection should drop: {r:?}");
    let recorded = ctl.crm_requests().await.unwrap();
    assert_eq!(recorded[0].status, None);
    assert_eq!(recorded[0].subject.as_deref(), Some("alice"));
    ctl.crm_fault(&FaultSpec::latency(150).times(1))
        .await
        .unwrap();
    let r = http()
        .post(format!("{}/slow", sim.crm_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(ctl.crm_counters().await.unwrap().faults_applied, 2);
}

#[tokio::test]
async fn crm_token_endpoint_faults() {
    let sim = start();
    let ctl = sim.control();
    let mut f = FaultSpec::status(503).on_path("/oauth2/token").times(1);
    f.retry_after = Some(1);
    let listed = ctl.crm_fault(&f).await.unwrap();
    assert_eq!(ctl.crm_faults().await.unwrap()[0].id, listed.id);
    let (status, _) = refresh(&sim, "refresh-alice").await;
    assert_eq!(status, 503);
    let (status, _) = refresh(&sim, "refresh-alice").await;
    assert_eq!(status, 200);
    ctl.crm_fault(&FaultSpec::status(500)).await.unwrap();
    ctl.clear_crm_faults().await.unwrap();
    assert!(ctl.crm_faults().await.unwrap().is_empty());
    let bad = ctl
        .crm_fault(&FaultSpec::new(FaultKind::RefuseWebsocket))
        .await;
    assert!(bad.is_err());
}
