//! `POST /api/session/login` and `logout`, tokens and their scope.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn login_gives_a_scoped_expiring_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app
        .post(
            "/api/session/login",
            None,
            &json!({"adminUsername": "admin", "adminPassword": "admin",
                    "host": app.xelion_host(), "tenant": "master", "protocol": "http"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["authentication"].as_str().unwrap();
    assert!(token.len() >= 43, "256-bit token: {token}");
    let valid_until = body["validUntil"].as_str().unwrap();
    assert_eq!(valid_until.len(), 19, "Xelion date format: {valid_until}");
    assert_eq!(&valid_until[10..11], " ");

    // The one-off Xelion session is logged out again.
    let counters = app.control().xelion_counters().await.unwrap();
    assert_eq!(counters.total.logins, counters.total.logouts);

    // Without a token, with a wrong one, and after logout: 401.
    let (status, body) = app.get("/api/xelion-environment/1", None).await;
    error_message(status, &body, StatusCode::UNAUTHORIZED, 10000);
    let (status, body) = app
        .get("/api/xelion-environment/1", Some("not-a-token"))
        .await;
    error_message(status, &body, StatusCode::UNAUTHORIZED, 10000);
    let (status, _) = app
        .post("/api/session/logout", Some(token), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post("/api/session/logout", Some(token), &json!({}))
        .await;
    error_message(status, &body, StatusCode::UNAUTHORIZED, 10000);
}
both_backends!(login_gives_a_scoped_expiring_token);

async fn login_refuses_bad_credentials_and_non_admins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.xelion_host();
    let login = |user: &str, pw: &str, tenant: &str| json!({"adminUsername": user, "adminPassword": pw, "host": host, "tenant": tenant, "protocol": "http"});
    let (s, b) = app
        .post(
            "/api/session/login",
            None,
            &login("admin", "wrong", "master"),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::UNAUTHORIZED, 10004);
    assert!(msg.contains("Xelion"), "{msg}");
    let (s, b) = app
        .post(
            "/api/session/login",
            None,
            &login("alice", "alice", "master"),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::FORBIDDEN, 10101);
    assert!(msg.contains("not an administrator"), "{msg}");
    let (s, b) = app
        .post(
            "/api/session/login",
            None,
            &login("admin", "admin", "nosuchtenant"),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");

    // Missing field and wrong type say which field.
    let (s, b) = app
        .post(
            "/api/session/login",
            None,
            &json!({"adminUsername": "admin", "host": host, "tenant": "master"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("adminPassword"), "{msg}");
    let (s, b) = app
        .post("/api/session/login", None, &json!({"adminUsername": "admin", "adminPassword": 5, "host": host, "tenant": "master"}))
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("adminPassword"), "{msg}");
    let (s, b) = app
        .post(
            "/api/session/login",
            None,
            &login("admin", "admin", "master")
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("protocol".into(), json!("gopher"));
                    serde_json::Value::Object(o)
                })
                .unwrap(),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("protocol"), "{msg}");
}
both_backends!(login_refuses_bad_credentials_and_non_admins);

async fn login_never_calls_private_addresses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The metadata address is link-local: refused before any request leaves.
    let (s, b) = app
        .post(
            "/api/session/login",
            None,
            &json!({"adminUsername": "admin", "adminPassword": "admin",
                    "host": "169.254.169.254", "tenant": "master", "protocol": "http"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10206);
    assert!(msg.contains("169.254.169.254"), "{msg}");
    // A host that is not a host.
    let (s, b) = app
        .post(
            "/api/session/login",
            None,
            &json!({"adminUsername": "admin", "adminPassword": "admin",
                    "host": "http://evil/x", "tenant": "master"}),
        )
        .await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
}
both_backends!(login_never_calls_private_addresses);

async fn login_attempts_are_rate_limited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"adminUsername": "admin", "adminPassword": "wrong",
                      "host": app.xelion_host(), "tenant": "master", "protocol": "http"});
    let mut limited = false;
    for _ in 0..12 {
        let (s, b) = app.post("/api/session/login", None, &body).await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            error_message(s, &b, StatusCode::TOO_MANY_REQUESTS, 10400);
            limited = true;
            break;
        }
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    }
    assert!(limited, "ten attempts per user per minute");
}
both_backends!(login_attempts_are_rate_limited);
