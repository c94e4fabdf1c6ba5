//! The app users' secrets (Xelion token, client secret, refresh and access tokens) never reach
//! the server's log, even at trace level, through a registration and a call with a refresh.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::helpers::*;

#[actix_rt::test]
async fn app_secrets_never_reach_the_log() {
    let sim = cti_sim::Sim::start(cti_sim::SimConfig::default()).expect("simulators start");
    let db = Database::fresh(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut child = xcti()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--outbound-allow",
            "127.0.0.1/8",
        ])
        .args(["--database-url", &db.url])
        .env("XCTI_MASTER_KEY", &db.key)
        .env("RUST_LOG", "trace")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        // A file, not a pipe nobody reads: a trace log would fill it and stall the server.
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("xelion-cti listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    let app = TestApp::attach(url, db, sim);

    let expired = mint(&app, "alice").await;
    app.control()
        .expire_access_tokens(Some("alice"))
        .await
        .unwrap();
    app.control()
        .refresh_token("LOGSECRET-app-refresh", "demo-client", "alice")
        .await
        .unwrap();
    let xelion = xelion_token(&app, "alice").await;
    let mut body = registration(&app, &expired, "LOGSECRET-app-refresh");
    body["appUserContext"]["clientSecret"] = json!("demo-secret");
    let (s, b) = register(&app, Some(&xelion), &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let endpoint = format!("{}/graph/me?%24select=mail", app.sim.crm_url());
    let (s, b) = call(
        &app,
        &expired,
        &call_body(&app, &endpoint, "POST", json!({"a": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let fresh = b["accessToken"].as_str().unwrap().to_string();
    let (s, _) = call(
        &app,
        "at-LOGSECRET-wrong",
        &call_body(&app, &endpoint, "GET", Value::Null),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("external-api-endpoint/call"),
        "the log was captured"
    );
    for secret in [
        xelion.as_str(),
        "demo-secret",
        "LOGSECRET-app-refresh",
        expired.as_str(),
        fresh.as_str(),
        "at-LOGSECRET-wrong",
    ] {
        assert!(!text.contains(secret), "{secret} appears in the log");
    }
}
