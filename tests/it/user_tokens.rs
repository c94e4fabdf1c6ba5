//! `GET /api/users/{userId}/status` and `POST /api/users/{userId}/verify` against the CRM
//! simulator: rotation across restarts, stored tokens after a restart, parking and un-parking,
//! device codes, transient failures, scope.

use std::time::{Duration, Instant};

use cti_actors::secrets::Cipher;
use cti_actors::store::Store;
use cti_sim::api::{CrmSettings, NewDeviceCode};
use cti_sim::FaultSpec;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

/// A user of client `demo-client` with a refresh token the simulator knows.
fn refresh_user(name: &str, refresh: &str) -> Value {
    json!({"xelionUsername": name, "clientId": "demo-client", "clientSecret": "demo-secret",
           "refreshToken": refresh})
}

/// A user of client `demo-client` with only a device code.
fn device_user(name: &str, code: &str) -> Value {
    json!({"xelionUsername": name, "clientId": "demo-client", "clientSecret": "demo-secret",
           "deviceCode": code})
}

/// Creates the `master` integration with these users; returns the API token and their ids.
async fn integration(app: &TestApp, users: Vec<Value>) -> (String, Vec<String>) {
    let mut body = app.integration_body("master", &[]);
    body["userCredentials"] = Value::Array(users);
    let (status, created) = app.post("/api/crm-integrations", None, &body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let xid = created["xelionContext"]["id"].as_i64().unwrap();
    let cid = created["crmContext"]["id"].as_i64().unwrap();
    let token = app.login().await;
    let (_, listed) = app
        .get(
            &format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials"),
            Some(&token),
        )
        .await;
    let ids = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userCredentialsId"].as_str().unwrap().to_string())
        .collect();
    (token, ids)
}

async fn verify(app: &TestApp, token: &str, uid: &str) -> Value {
    let (status, body) = app
        .post(&format!("/api/users/{uid}/verify"), Some(token), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn status(app: &TestApp, token: &str, uid: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/users/{uid}/status"), Some(token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Polls the status until `done` holds (at most 15 s); `never` must not hold meanwhile.
async fn wait_status(
    app: &TestApp,
    token: &str,
    uid: &str,
    done: impl Fn(&Value) -> bool,
    never: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = status(app, token, uid).await;
        assert!(!never(&s), "unexpected status {s}");
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "status never got there: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn counters(app: &TestApp) -> cti_sim::api::CrmCounters {
    app.control().crm_counters().await.unwrap()
}

fn grants(c: &cti_sim::api::CrmCounters, kind: &str) -> u64 {
    c.grants.get(kind).copied().unwrap_or(0)
}

async fn crm_settings(app: &TestApp, lifetime: Option<u64>, rotate: Option<bool>) {
    app.control()
        .set_crm_settings(&CrmSettings {
            access_token_lifetime_seconds: lifetime,
            rotate_refresh_tokens: rotate,
            ..Default::default()
        })
        .await
        .unwrap();
}

/// The store of the server's database, opened beside it.
async fn store_of(app: &TestApp) -> Store {
    Store::open(&app.db.url, Cipher::from_base64(&app.db.key).unwrap())
        .await
        .unwrap()
}

/// The status the token endpoint answers a refresh_token grant with `refresh`.
async fn try_refresh(app: &TestApp, refresh: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(app.sim.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn rotation_is_stored_before_use_and_survives_a_restart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Rotating, and so short-lived that every use refreshes (inside the 60 s margin).
    crm_settings(&app, Some(1), Some(true)).await;
    let (token, ids) = integration(&app, vec![refresh_user("alice", "refresh-alice")]).await;
    let s = verify(&app, &token, &ids[0]).await;
    assert_eq!(s["state"], "ok", "{s}");
    assert_eq!(s["grants"], 1);

    // When the token was handed out, the rotated refresh token was in the row, sealed.
    let store = store_of(&app).await;
    let uid = ids[0].parse::<i64>().unwrap().into();
    let rotated = store
        .user_secrets(uid)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    assert_ne!(rotated.expose(), "refresh-alice");
    let raw = store
        .raw_texts("SELECT refresh_token FROM user_credentials")
        .await
        .unwrap();
    assert!(raw[0].starts_with("v1:") && !raw[0].contains(rotated.expose()));
    store.close().await;
    let (status, body) = try_refresh(&app, "refresh-alice").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let (db, sim) = app.stop().await;
    let app = TestApp::spawn_with(db, sim).await;
    let s = verify(&app, &token_after_restart(&app).await, &ids[0]).await;
    assert_eq!(s["state"], "ok", "the stored refresh token works: {s}");
    assert_eq!(s["grants"], 2);
    let c = counters(&app).await;
    assert_eq!(grants(&c, "refresh_token"), 2);
    // The server itself never presented a rotated-away token (the one refusal is ours).
    assert_eq!(c.token_errors.get("invalid_grant").copied(), Some(1));
}
both_backends!(rotation_is_stored_before_use_and_survives_a_restart);

/// API tokens survive a restart too, but a fresh login is what an admin would do.
async fn token_after_restart(app: &TestApp) -> String {
    app.login().await
}

async fn a_still_valid_stored_token_makes_no_grant_after_a_restart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, ids) = integration(&app, vec![refresh_user("alice", "refresh-alice")]).await;
    let before = verify(&app, &token, &ids[0]).await;
    assert_eq!(before["grants"], 1);
    assert_eq!(counters(&app).await.token_requests, 1);

    let (db, sim) = app.stop().await;
    let app = TestApp::spawn_with(db, sim).await;
    let token = token_after_restart(&app).await;
    let after = verify(&app, &token, &ids[0]).await;
    assert_eq!(after["state"], "ok");
    assert_eq!(after["grants"], 1);
    assert_eq!(
        after["accessTokenExpiresAt"],
        before["accessTokenExpiresAt"]
    );
    assert_eq!(
        counters(&app).await.token_requests,
        1,
        "no grant after the restart"
    );
}
both_backends!(a_still_valid_stored_token_makes_no_grant_after_a_restart);

async fn a_revoked_refresh_token_parks_until_the_credentials_are_updated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let control = app.control();
    let (token, ids) = integration(&app, vec![refresh_user("alice", "refresh-alice")]).await;
    control.revoke_refresh_token("refresh-alice").await.unwrap();
    let s = verify(&app, &token, &ids[0]).await;
    assert_eq!(s["state"], "needsReauthorisation", "{s}");
    assert_eq!(s["error"], "invalid_grant");
    assert!(s["errorAt"].is_string(), "{s}");
    // Parked: asking again makes no grant, neither does a restart.
    let again = verify(&app, &token, &ids[0]).await;
    assert_eq!(again["state"], "needsReauthorisation");
    assert_eq!(counters(&app).await.token_requests, 1);
    let (db, sim) = app.stop().await;
    let app = TestApp::spawn_with(db, sim).await;
    let token = token_after_restart(&app).await;
    let s = status(&app, &token, &ids[0]).await;
    assert_eq!(
        (s["state"].as_str(), s["error"].as_str()),
        (Some("needsReauthorisation"), Some("invalid_grant"))
    );
    assert_eq!(counters(&app).await.token_requests, 1);

    // A new refresh token through the API un-parks at once; the next grant succeeds.
    control
        .refresh_token("refresh-alice-2", "demo-client", "alice")
        .await
        .unwrap();
    let (code, body) = app
        .post(
            &format!("/api/users/{}/refreshtoken/update", ids[0]),
            Some(&token),
            &json!({"value": "refresh-alice-2"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let s = status(&app, &token, &ids[0]).await;
    assert_eq!(s["state"], "ok", "{s}");
    assert_eq!(s["error"], Value::Null);
    let s = verify(&app, &token, &ids[0]).await;
    assert_eq!(s["state"], "ok", "{s}");
    assert_eq!(grants(&counters(&app).await, "refresh_token"), 1);
}
both_backends!(a_revoked_refresh_token_parks_until_the_credentials_are_updated);

async fn a_device_code_is_polled_until_approved_then_refreshed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let control = app.control();
    control
        .add_device_code(&NewDeviceCode {
            device_code: Some("dc-bob".into()),
            client_id: Some("demo-client".into()),
            subject: "bob".into(),
            interval_seconds: Some(1),
            expires_in_seconds: None,
        })
        .await
        .unwrap();
    let (token, ids) = integration(&app, vec![device_user("bob", "dc-bob")]).await;
    let s = verify(&app, &token, &ids[0]).await;
    assert_eq!(s["state"], "awaitingApproval", "{s}");
    assert_eq!(s["devicePollIntervalMs"], 50);
    assert_eq!(
        counters(&app).await.token_errors["authorization_pending"],
        1
    );
    // Polled faster than the simulator's 1 s: `slow_down`, and the interval grows.
    let parked = |s: &Value| s["state"] == "needsReauthorisation";
    let slowed = wait_status(
        &app,
        &token,
        &ids[0],
        |s| s["devicePollIntervalMs"].as_u64() > Some(50),
        parked,
    )
    .await;
    assert_eq!(slowed["state"], "awaitingApproval");
    assert!(counters(&app).await.token_errors["slow_down"] >= 1);

    // Tokens from now on live 1 s, so the next use refreshes with the device's refresh token.
    crm_settings(&app, Some(1), None).await;
    control.approve_device_code("dc-bob").await.unwrap();
    let ok = wait_status(&app, &token, &ids[0], |s| s["state"] == "ok", parked).await;
    assert_eq!(ok["grants"], 1);
    let store = store_of(&app).await;
    let secrets = store
        .user_secrets(ids[0].parse::<i64>().unwrap().into())
        .await
        .unwrap();
    assert!(
        secrets.refresh_token.is_some(),
        "the device's refresh token is stored"
    );
    assert!(
        secrets.device_code.is_none(),
        "the spent device code is cleared"
    );
    store.close().await;

    let s = verify(&app, &token, &ids[0]).await;
    assert_eq!(
        (s["state"].as_str(), s["grants"].as_u64()),
        (Some("ok"), Some(2))
    );
    let c = counters(&app).await;
    assert_eq!(
        (grants(&c, "device_code"), grants(&c, "refresh_token")),
        (1, 1)
    );
}
both_backends!(a_device_code_is_polled_until_approved_then_refreshed);

async fn a_denied_device_code_parks_the_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let control = app.control();
    let code = control
        .add_device_code(&NewDeviceCode {
            subject: "bob".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .token;
    let (token, ids) = integration(&app, vec![device_user("bob", &code)]).await;
    assert_eq!(
        verify(&app, &token, &ids[0]).await["state"],
        "awaitingApproval"
    );
    control.deny_device_code(&code).await.unwrap();
    let s = wait_status(
        &app,
        &token,
        &ids[0],
        |s| s["state"] == "needsReauthorisation",
        |_| false,
    )
    .await;
    assert_eq!(s["error"], "access_denied");
    let polls = counters(&app).await.token_requests;
    assert_eq!(
        verify(&app, &token, &ids[0]).await["state"],
        "needsReauthorisation"
    );
    assert_eq!(
        counters(&app).await.token_requests,
        polls,
        "no poll while parked"
    );
}
both_backends!(a_denied_device_code_parks_the_user);

async fn a_token_endpoint_failing_three_times_is_retried_not_parked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, ids) = integration(&app, vec![refresh_user("alice", "refresh-alice")]).await;
    app.control()
        .crm_fault(&FaultSpec::status(503).on_path("/oauth2/token").times(3))
        .await
        .unwrap();
    let s = verify(&app, &token, &ids[0]).await;
    assert_eq!(s["state"], "backingOff", "{s}");
    assert!(s["error"].as_str().unwrap().contains("503"), "{s}");
    let parked = |s: &Value| s["state"] == "needsReauthorisation";
    let ok = wait_status(
        &app,
        &token,
        &ids[0],
        |s| s["state"] == "ok" && s["grants"] == 1,
        parked,
    )
    .await;
    assert_eq!(ok["error"], Value::Null);
    let c = counters(&app).await;
    assert_eq!(
        (
            c.token_requests,
            c.faults_applied,
            grants(&c, "refresh_token")
        ),
        (4, 3, 1)
    );
}
both_backends!(a_token_endpoint_failing_three_times_is_retried_not_parked);

async fn status_and_verify_are_scoped_and_show_no_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_tenant(&app.control(), "acme").await;
    let (token, ids) = integration(&app, vec![refresh_user("alice", "refresh-alice")]).await;
    let s = verify(&app, &token, &ids[0]).await;
    let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "accessTokenExpiresAt",
            "devicePollIntervalMs",
            "error",
            "errorAt",
            "grants",
            "lastRefreshAt",
            "state",
            "userId"
        ]
    );
    assert!(!s.to_string().contains("at-") && !s.to_string().contains("refresh-alice"));

    let (code, b) = app.get("/api/users/999999/status", Some(&token)).await;
    error_message(code, &b, StatusCode::NOT_FOUND, 10100);
    let (code, b) = app
        .get(&format!("/api/users/{}/status", ids[0]), None)
        .await;
    error_message(code, &b, StatusCode::UNAUTHORIZED, 10000);
    let (code, b) = app
        .post(&format!("/api/users/{}/verify", ids[0]), None, &json!({}))
        .await;
    error_message(code, &b, StatusCode::UNAUTHORIZED, 10000);
    // Another tenant's admin does not see the user.
    let (code, _) = app
        .post(
            "/api/crm-integrations",
            None,
            &app.integration_body("acme", &["carol"]),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let acme = app.login_as("acme", "admin", &admin_password("acme")).await;
    for (method, path) in [
        (
            reqwest::Method::GET,
            format!("/api/users/{}/status", ids[0]),
        ),
        (
            reqwest::Method::POST,
            format!("/api/users/{}/verify", ids[0]),
        ),
    ] {
        let (code, b) = app
            .request(method, &path, Some(&acme), Some(&json!({})))
            .await;
        error_message(code, &b, StatusCode::NOT_FOUND, 10100);
    }
}
both_backends!(status_and_verify_are_scoped_and_show_no_secret);
