//! The app context's access token kept fresh: a 401 from the service refreshes it once (with
//! the token actors of the users' CRM tokens), the new token is what the caller presents next,
//! and the one it replaced is accepted for a short grace only.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::both_backends;
use crate::helpers::*;

/// A server whose replaced app tokens are accepted for `grace`.
async fn spawn_with_grace(backend: Backend, grace: Duration) -> TestApp {
    let sim = cti_sim::Sim::start(cti_sim::SimConfig::default()).expect("simulators start");
    let db = Database::fresh(backend);
    let mut settings = db.settings();
    settings.tokens.previous_token_grace = grace;
    TestApp::spawn_with_settings(db, sim, settings).await
}

/// Successful refresh_token grants so far.
async fn refreshes(app: &TestApp) -> u64 {
    let c = app.control().crm_counters().await.unwrap();
    c.grants.get("refresh_token").copied().unwrap_or(0)
}

/// Alice registered with an access token the service has expired.
async fn alice_with_an_expired_token(app: &TestApp) -> String {
    let expired = mint(app, "alice").await;
    assert_eq!(
        app.control()
            .expire_access_tokens(Some("alice"))
            .await
            .unwrap(),
        1
    );
    register_alice(app, &expired).await;
    expired
}

async fn an_expired_token_is_refreshed_once_and_the_old_one_has_a_grace(backend: Backend) {
    let app = spawn_with_grace(backend, Duration::from_secs(3)).await;
    let old = alice_with_an_expired_token(&app).await;
    let endpoint = format!("{}/graph/me/contacts", app.sim.crm_url());
    let post = call_body(&app, &endpoint, "POST", json!({"displayName": "Bob"}));

    let (s, b) = call(&app, &old, &post).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let new = b["accessToken"].as_str().expect("accessToken").to_string();
    assert_ne!(new, old, "a refreshed token comes back");
    assert!(b["payload"]["ok"].as_bool().unwrap_or(false), "{b}");
    assert_eq!(refreshes(&app).await, 1);
    let seen = app.control().crm_requests().await.unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0].status, seen[0].token.as_deref()),
        (Some(401), Some(old.as_str()))
    );
    assert_eq!(
        (seen[1].status, seen[1].token.as_deref()),
        (Some(200), Some(new.as_str()))
    );
    assert_eq!(
        seen[1].body,
        json!({"displayName": "Bob"}),
        "the retry carries the payload"
    );

    // The new token is the one to present, and it needs no refresh.
    let (s, b) = call(&app, &new, &post).await;
    assert_eq!(
        (s, b["accessToken"].as_str()),
        (StatusCode::OK, Some(new.as_str())),
        "{b}"
    );
    assert_eq!(refreshes(&app).await, 1);
    // A token that never was this context's is refused, and nothing is sent.
    let sent = app
        .control()
        .crm_counters()
        .await
        .unwrap()
        .resource_requests;
    let (s, b) = call(&app, "at-not-a-token-of-alice", &post).await;
    error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);
    assert_eq!(
        app.control()
            .crm_counters()
            .await
            .unwrap()
            .resource_requests,
        sent
    );

    // The replaced token still gets in during the grace (and gets the new token back)...
    let (s, b) = call(&app, &old, &post).await;
    assert_eq!(
        (s, b["accessToken"].as_str()),
        (StatusCode::OK, Some(new.as_str())),
        "{b}"
    );
    // ...and not after it.
    eventually("the replaced token to be refused", || async {
        let (s, _) = call(&app, &old, &post).await;
        (s == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    let (s, b) = call(&app, &new, &post).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(refreshes(&app).await, 1, "no refresh since the first");
}
both_backends!(an_expired_token_is_refreshed_once_and_the_old_one_has_a_grace);

async fn twenty_concurrent_calls_with_an_expired_token_make_one_refresh(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let old = alice_with_an_expired_token(&app).await;
    let endpoint = format!("{}/graph/me/messages?%24top=5", app.sim.crm_url());
    let get = call_body(&app, &endpoint, "GET", Value::Null);

    let answers = join_all((0..20).map(|_| call(&app, &old, &get))).await;
    let mut tokens = Vec::new();
    for (s, b) in &answers {
        assert_eq!(*s, StatusCode::OK, "{b}");
        tokens.push(b["accessToken"].as_str().expect("accessToken").to_string());
    }
    tokens.dedup();
    assert_eq!(
        tokens.len(),
        1,
        "every call got the same new token: {tokens:?}"
    );
    assert_ne!(tokens[0], old);
    assert_eq!(refreshes(&app).await, 1, "one refresh for twenty calls");
    let ok = app
        .control()
        .crm_requests_where(&[("status", "200")])
        .await
        .unwrap();
    assert_eq!(
        ok.len(),
        20,
        "each call reached the service with the new token"
    );
    assert!(ok
        .iter()
        .all(|r| r.token.as_deref() == Some(tokens[0].as_str())));
}
both_backends!(twenty_concurrent_calls_with_an_expired_token_make_one_refresh);

async fn a_refused_refresh_token_asks_for_a_new_registration(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let old = alice_with_an_expired_token(&app).await;
    app.control()
        .revoke_refresh_token("refresh-alice")
        .await
        .unwrap();
    let endpoint = format!("{}/graph/me", app.sim.crm_url());
    let get = call_body(&app, &endpoint, "GET", Value::Null);
    let (s, b) = call(&app, &old, &get).await;
    let m = error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);
    assert!(
        m.contains("invalid_grant") && m.contains("cti-app-context"),
        "{m}"
    );
    let requests = app.control().crm_counters().await.unwrap().token_requests;
    let (s, _) = call(&app, &old, &get).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.control().crm_counters().await.unwrap().token_requests,
        requests,
        "parked: no grant is tried again"
    );

    // Registering again with new credentials un-parks it.
    app.control()
        .refresh_token("refresh-alice-2", "demo-client", "alice")
        .await
        .unwrap();
    let xelion = xelion_token(&app, "alice").await;
    let (s, b) = register(
        &app,
        Some(&xelion),
        &registration(&app, &old, "refresh-alice-2"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = call(&app, &old, &get).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_ne!(b["accessToken"], json!(old));
}
both_backends!(a_refused_refresh_token_asks_for_a_new_registration);
