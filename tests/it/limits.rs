//! The login rate limit counts failed logins only, after every check that needs no login, and
//! its limits are settings.

use cti_sim::{Sim, SimConfig};
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn only_failed_logins_count(backend: Backend) {
    let db = Database::fresh(backend);
    let mut settings = db.settings();
    settings.failed_logins_per_user = 3;
    let sim = Sim::start(SimConfig::default()).expect("simulators start");
    let app = TestApp::spawn_with_settings(db, sim, settings).await;

    // Far more successes than the limit: never refused.
    for _ in 0..12 {
        app.login().await;
    }
    // Requests refused before any login (a template that does not parse, a bad scheme) do
    // not count either, whatever their number.
    for _ in 0..8 {
        let mut body = app.integration_body("master", &["alice"]);
        body["eventUriMappings"][0]["crmResourceUri"] = json!("https://crm.example.org/${");
        let (s, b) = app.post("/api/crm-integrations", None, &body).await;
        error_message(s, &b, StatusCode::BAD_REQUEST, 10203);
        let mut body = app.integration_body("master", &["alice"]);
        body["crmContext"]["authorizationServerUri"] = json!("ftp://crm.example.org/token");
        let (s, b) = app.post("/api/crm-integrations", None, &body).await;
        error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    }
    app.create_integration().await;

    // Three wrong passwords, then even the right one waits.
    let wrong = json!({"adminUsername": "admin", "adminPassword": "wrong",
                       "host": app.xelion_host(), "tenant": "master", "protocol": "http"});
    for _ in 0..3 {
        let (s, b) = app.post("/api/session/login", None, &wrong).await;
        error_message(s, &b, StatusCode::UNAUTHORIZED, 10004);
    }
    let resp = app
        .http
        .post(format!("{}/api/session/login", app.url))
        .json(&json!({"adminUsername": "admin", "adminPassword": "admin",
                      "host": app.xelion_host(), "tenant": "master", "protocol": "http"}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let b = resp.json().await.unwrap();
    error_message(status, &b, StatusCode::TOO_MANY_REQUESTS, 10400);
    // Another user of the same source is not held up.
    let (s, b) = app
        .post(
            "/api/session/login",
            None,
            &json!({"adminUsername": "alice", "adminPassword": "alice",
                    "host": app.xelion_host(), "tenant": "master", "protocol": "http"}),
        )
        .await;
    error_message(s, &b, StatusCode::FORBIDDEN, 10101);
}
both_backends!(only_failed_logins_count);

async fn a_limit_of_zero_is_no_limit(backend: Backend) {
    let db = Database::fresh(backend);
    let mut settings = db.settings();
    settings.failed_logins_per_user = 0;
    settings.failed_logins_per_source = 0;
    let sim = Sim::start(SimConfig::default()).expect("simulators start");
    let app = TestApp::spawn_with_settings(db, sim, settings).await;
    let wrong = json!({"adminUsername": "admin", "adminPassword": "wrong",
                       "host": app.xelion_host(), "tenant": "master", "protocol": "http"});
    for _ in 0..40 {
        let (s, b) = app.post("/api/session/login", None, &wrong).await;
        error_message(s, &b, StatusCode::UNAUTHORIZED, 10004);
    }
    app.login().await;
}
both_backends!(a_limit_of_zero_is_no_limit);
