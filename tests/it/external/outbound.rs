//! The outbound rule on the external endpoints: a token endpoint or an endpoint on a loopback,
//! private or link-local address is refused (400, nothing sent) unless the allowlist opens it.
//!
//! The server here allows only the name `localhost`, so Xelion and the CRM simulator are
//! reachable as `localhost:PORT` and refused as `127.0.0.1:PORT`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::both_backends;
use crate::helpers::*;

/// A server whose allowlist is the name `localhost` only.
async fn spawn_allowing_localhost(backend: Backend) -> TestApp {
    let sim = cti_sim::Sim::start(cti_sim::SimConfig::default()).expect("simulators start");
    let db = Database::fresh(backend);
    let mut settings = db.settings();
    settings.outbound_allow = vec!["localhost".into()];
    TestApp::spawn_with_settings(db, sim, settings).await
}

/// `http://localhost:PORT` of a simulator listener.
fn by_name(addr: std::net::SocketAddr) -> String {
    format!("http://localhost:{}", addr.port())
}

async fn private_addresses_are_refused_unless_allowed(backend: Backend) {
    let app = spawn_allowing_localhost(backend).await;
    let xelion_host = format!("localhost:{}", app.sim.xelion_addr().port());
    let crm = by_name(app.sim.crm_addr());
    let token_url = format!("{crm}/oauth2/token");
    let token = mint(&app, "alice").await;
    let alice = xelion_token(&app, "alice").await;
    let body = |token_endpoint: &str| {
        let mut b = registration(&app, &token, "refresh-alice");
        b["appExternalApiContext"]["authorizationServerUri"] = json!(token_endpoint);
        b["appXelionContext"]["host"] = json!(xelion_host);
        b
    };

    // Token endpoints on literal loopback, link-local or private addresses are refused.
    let loopback = format!(
        "http://127.0.0.1:{}/oauth2/token",
        app.sim.crm_addr().port()
    );
    for refused in [
        loopback.as_str(),
        "http://169.254.169.254/latest/api/token",
        "http://10.1.2.3/oauth2/token",
    ] {
        let (s, b) = register(&app, Some(&alice), &body(refused)).await;
        let m = error_message(s, &b, StatusCode::BAD_REQUEST, 10206);
        assert!(m.contains("--outbound-allow"), "{m}");
    }
    let store = store_of(&app).await;
    assert_eq!(
        store
            .raw_i64("SELECT COUNT(*) FROM app_contexts")
            .await
            .unwrap(),
        0,
        "nothing refused is stored"
    );
    // The allowed name works.
    let (s, b) = register(&app, Some(&alice), &body(&token_url)).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let call_to = |endpoint: &str| {
        json!({
            "appXelionContext": {"host": xelion_host, "tenant": "master"},
            "endpointContext": {"authorizationServerUri": token_url, "endpointUri": endpoint,
                                "payload": Value::Null, "method": "GET"},
            "xelionUsername": "alice"
        })
    };
    let loopback = format!("http://127.0.0.1:{}/graph/me", app.sim.crm_addr().port());
    for refused in [
        loopback.as_str(),
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.1/admin",
        "http://[::1]/x",
    ] {
        let (s, b) = call(&app, &token, &call_to(refused)).await;
        let m = error_message(s, &b, StatusCode::BAD_REQUEST, 10206);
        assert!(m.contains("--outbound-allow"), "{m}");
    }
    let counters = app.control().crm_counters().await.unwrap();
    assert_eq!(
        (counters.resource_requests, counters.token_requests),
        (0, 0),
        "nothing was sent"
    );
    assert!(app.control().crm_requests().await.unwrap().is_empty());

    let (s, b) = call(&app, &token, &call_to(&format!("{crm}/graph/me"))).await;
    assert_eq!(
        (s, b["accessToken"].as_str()),
        (StatusCode::OK, Some(token.as_str())),
        "{b}"
    );
    assert_eq!(app.control().crm_requests().await.unwrap().len(), 1);
}
both_backends!(private_addresses_are_refused_unless_allowed);
