//! What a call answers when the service does not answer 2xx JSON: its errors and redirects as
//! received, a body that is not JSON, an answer too large, a timeout, a dropped or refused
//! connection.

use std::collections::BTreeMap;
use std::time::Duration;

use cti_sim::{FaultKind, FaultSpec};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::both_backends;
use crate::helpers::*;

/// A `status` fault on one path with a JSON or raw body and headers.
async fn answer(app: &TestApp, path: &str, status: u16, body: Body, headers: &[(&str, &str)]) {
    let mut spec = FaultSpec::status(status).on_path(path);
    match body {
        Body::Json(v) => spec.body = Some(v),
        Body::Raw(s) => spec.raw_body = Some(s),
    }
    if !headers.is_empty() {
        let map: BTreeMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        spec.headers = Some(map);
    }
    app.control().crm_fault(&spec).await.expect("fault");
}

enum Body {
    Json(Value),
    Raw(String),
}

async fn the_services_answers_pass_through(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = mint(&app, "alice").await;
    register_alice(&app, &token).await;
    let at = |path: &str| format!("{}{path}", app.sim.crm_url());

    // A 400 arrives as the service sent it.
    let error = json!({"error": {"code": "ErrorInvalidRecipients", "message": "bad +316"}});
    answer(&app, "/bad", 400, Body::Json(error.clone()), &[]).await;
    let resp = call_raw(
        &app,
        &token,
        &call_body(&app, &at("/bad"), "POST", json!({})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.json::<Value>().await.unwrap(), error);

    // A body that is not JSON: as received with its type on an error; as a string on success.
    answer(
        &app,
        "/down",
        503,
        Body::Raw("<html>maintenance</html>".into()),
        &[("content-type", "text/html"), ("retry-after", "30")],
    )
    .await;
    let resp = call_raw(
        &app,
        &token,
        &call_body(&app, &at("/down"), "GET", Value::Null),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["content-type"], "text/html");
    assert_eq!(resp.headers()["retry-after"], "30");
    assert_eq!(resp.text().await.unwrap(), "<html>maintenance</html>");
    answer(&app, "/text", 200, Body::Raw("plain words".into()), &[]).await;
    let (s, b) = call(
        &app,
        &token,
        &call_body(&app, &at("/text"), "GET", Value::Null),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, json!({"accessToken": token, "payload": "plain words"}));

    // A redirect is not followed: it comes back with its Location, and nothing else is asked.
    answer(
        &app,
        "/moved",
        302,
        Body::Raw(String::new()),
        &[("location", "https://elsewhere.example/new")],
    )
    .await;
    let before = app
        .control()
        .crm_counters()
        .await
        .unwrap()
        .resource_requests;
    let resp = call_raw(
        &app,
        &token,
        &call_body(&app, &at("/moved"), "GET", Value::Null),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], "https://elsewhere.example/new");
    assert_eq!(
        app.control()
            .crm_counters()
            .await
            .unwrap()
            .resource_requests,
        before + 1
    );

    // An answer beyond the bound (64 KiB in the tests) is not passed on.
    answer(&app, "/huge", 200, Body::Raw("x".repeat(100 * 1024)), &[]).await;
    let (s, b) = call(
        &app,
        &token,
        &call_body(&app, &at("/huge"), "GET", Value::Null),
    )
    .await;
    let m = error_message(s, &b, StatusCode::BAD_GATEWAY, 10501);
    assert!(m.contains("65536 bytes"), "{m}");
    answer(&app, "/big", 200, Body::Raw("y".repeat(60 * 1024)), &[]).await;
    let (s, b) = call(
        &app,
        &token,
        &call_body(&app, &at("/big"), "GET", Value::Null),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["payload"].as_str().map(str::len), Some(60 * 1024));
}
both_backends!(the_services_answers_pass_through);

async fn a_service_that_fails_to_answer_gets_502_or_504(backend: Backend) {
    let sim = cti_sim::Sim::start(cti_sim::SimConfig::default()).expect("simulators start");
    let db = Database::fresh(backend);
    let mut settings = db.settings();
    settings.external.request_timeout = Duration::from_millis(300);
    let app = TestApp::spawn_with_settings(db, sim, settings).await;
    let token = mint(&app, "alice").await;
    register_alice(&app, &token).await;
    let at = |path: &str| format!("{}{path}", app.sim.crm_url());

    app.control()
        .crm_fault(&FaultSpec::latency(3000).on_path("/slow"))
        .await
        .unwrap();
    let (s, b) = call(
        &app,
        &token,
        &call_body(&app, &at("/slow"), "GET", Value::Null),
    )
    .await;
    let m = error_message(s, &b, StatusCode::GATEWAY_TIMEOUT, 10502);
    assert!(m.contains("did not answer within 300 ms"), "{m}");

    app.control()
        .crm_fault(&FaultSpec::new(FaultKind::Drop).on_path("/drop"))
        .await
        .unwrap();
    let (s, b) = call(
        &app,
        &token,
        &call_body(&app, &at("/drop"), "GET", Value::Null),
    )
    .await;
    let m = error_message(s, &b, StatusCode::BAD_GATEWAY, 10501);
    assert!(m.contains("could not be reached"), "{m}");

    // Nothing listens on a port just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let endpoint = format!("http://127.0.0.1:{port}/x");
    let (s, b) = call(
        &app,
        &token,
        &call_body(&app, &endpoint, "GET", Value::Null),
    )
    .await;
    let m = error_message(s, &b, StatusCode::BAD_GATEWAY, 10501);
    assert!(m.contains("could not be reached"), "{m}");
    assert!(!m.contains(&token), "no token in a message");

    // The server answers normally afterwards.
    let (s, b) = call(
        &app,
        &token,
        &call_body(&app, &at("/fine"), "GET", Value::Null),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}
both_backends!(a_service_that_fails_to_answer_gets_502_or_504);
