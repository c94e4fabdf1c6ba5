//! `POST /api/cti-app-context` and `POST /api/external-api-endpoint/call` against the Xelion
//! simulator (`me/info` for the app user's own session token) and the CRM simulator (the
//! external service and its token endpoint), on SQLite and PostgreSQL.

mod faults;
mod logs;
mod outbound;
mod refresh;

use cti_actors::secrets::Cipher;
use cti_actors::store::Store;
use cti_sim::api::NewAccessToken;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

/// A Xelion session token of `user` (password = user name in the default world), from the
/// Xelion simulator itself, as a Xelion app would have it.
pub async fn xelion_token(app: &TestApp, user: &str) -> String {
    let resp: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/master/me/login", app.sim.xelion_url()))
        .json(&json!({"userName": user, "password": user,
                      "userSpace": format!("app-{:08x}", rand::random::<u32>())}))
        .send()
        .await
        .expect("Xelion answers")
        .json()
        .await
        .expect("JSON");
    resp["authentication"]
        .as_str()
        .unwrap_or_else(|| panic!("no session for {user}: {resp}"))
        .to_string()
}

/// An access token of `subject` the CRM simulator accepts until it is expired.
pub async fn mint(app: &TestApp, subject: &str) -> String {
    app.control()
        .add_access_token(&NewAccessToken {
            token: None,
            subject: subject.into(),
            expires_in_seconds: None,
        })
        .await
        .expect("token minted")
        .token
}

/// The document's registration body for alice (client `demo-client`), pointed at the
/// simulators, with the given access and refresh tokens.
pub fn registration(app: &TestApp, access: &str, refresh: &str) -> Value {
    json!({
        "appExternalApiContext": {
            "authorizationServerUri": app.sim.token_url(),
            "authorizationHeaderPrefix": "Bearer "
        },
        "appUserContext": {
            "clientId": "demo-client",
            "xelionUsername": "alice",
            "clientSecret": "demo-secret",
            "refreshToken": refresh,
            "accessToken": access
        },
        "appXelionContext": {"host": app.xelion_host(), "tenant": "master", "protocol": "http"}
    })
}

/// `POST /api/cti-app-context` with `Authorization: xelion <token>` (none when `None`).
pub async fn register(app: &TestApp, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
    app.post("/api/cti-app-context", token, body).await
}

/// Registers alice with `access` and `refresh-alice`; asserts 200.
pub async fn register_alice(app: &TestApp, access: &str) {
    let token = xelion_token(app, "alice").await;
    let (status, body) = register(
        app,
        Some(&token),
        &registration(app, access, "refresh-alice"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The call body for alice's app context.
pub fn call_body(app: &TestApp, endpoint: &str, method: &str, payload: Value) -> Value {
    json!({
        "appXelionContext": {"host": app.xelion_host(), "tenant": "master"},
        "endpointContext": {
            "authorizationServerUri": app.sim.token_url(),
            "endpointUri": endpoint,
            "payload": payload,
            "method": method
        },
        "xelionUsername": "alice"
    })
}

/// `POST /api/external-api-endpoint/call` with `Authorization: xelion_cti <token>`; the raw
/// answer (redirects are not followed).
pub async fn call_raw(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/api/external-api-endpoint/call", app.url))
        .header("Authorization", format!("xelion_cti {token}"))
        .json(body)
        .send()
        .await
        .expect("server answers")
}

/// A call's status and JSON (a string for a body that is not JSON).
pub async fn call(app: &TestApp, token: &str, body: &Value) -> (StatusCode, Value) {
    let resp = call_raw(app, token, body).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The server's database, opened beside it.
pub async fn store_of(app: &TestApp) -> Store {
    Store::open(&app.db.url, Cipher::from_base64(&app.db.key).unwrap())
        .await
        .unwrap()
}

async fn registration_takes_only_the_users_own_xelion_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = mint(&app, "alice").await;
    let body = registration(&app, &first, "refresh-alice");

    let (s, b) = register(&app, None, &body).await;
    let m = error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);
    assert!(m.contains("Authorization: xelion"), "{m}");
    let (s, b) = register(&app, Some("no-such-session"), &body).await;
    let m = error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);
    assert!(m.contains("Xelion did not accept"), "{m}");
    let bob = xelion_token(&app, "bob").await;
    let (s, b) = register(&app, Some(&bob), &body).await;
    let m = error_message(s, &b, StatusCode::FORBIDDEN, 10101);
    assert!(m.contains("bob") && m.contains("alice"), "{m}");

    let alice = xelion_token(&app, "alice").await;
    let (s, b) = register(&app, Some(&alice), &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b, Value::Null, "an empty body");
    let endpoint = format!("{}/graph/me", app.sim.crm_url());
    let (s, b) = call(
        &app,
        &first,
        &call_body(&app, &endpoint, "GET", Value::Null),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // A second registration (same host, tenant, user and token endpoint) replaces the first:
    // its access token is the one calls present now.
    let second = mint(&app, "alice").await;
    let mut again = registration(&app, &second, "refresh-alice");
    again["appUserContext"]["xelionUsername"] = json!("Alice");
    let (s, b) = register(&app, Some(&alice), &again).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let store = store_of(&app).await;
    assert_eq!(
        store
            .raw_i64("SELECT COUNT(*) FROM app_contexts")
            .await
            .unwrap(),
        1
    );
    let (s, b) = call(
        &app,
        &first,
        &call_body(&app, &endpoint, "GET", Value::Null),
    )
    .await;
    error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);
    let (s, b) = call(
        &app,
        &second,
        &call_body(&app, &endpoint, "GET", Value::Null),
    )
    .await;
    assert_eq!(
        (s, b["accessToken"].as_str()),
        (StatusCode::OK, Some(second.as_str())),
        "{b}"
    );

    // Every secret is sealed; the current token is there only sealed and as its hash.
    let sealed = store
        .raw_texts(
            "SELECT client_secret FROM app_contexts UNION ALL SELECT refresh_token FROM \
             app_contexts UNION ALL SELECT access_token FROM app_contexts",
        )
        .await
        .unwrap();
    assert_eq!(sealed.len(), 3);
    for value in &sealed {
        assert!(value.starts_with("v1:"), "{value}");
        for clear in ["demo-secret", "refresh-alice", second.as_str()] {
            assert!(!value.contains(clear), "{clear} in clear");
        }
    }
}
both_backends!(registration_takes_only_the_users_own_xelion_token);

async fn a_call_reaches_the_service_as_asked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = mint(&app, "alice").await;
    let xelion = xelion_token(&app, "alice").await;
    let mut body = registration(&app, &token, "refresh-alice");
    body["appExternalApiContext"]["authorizationHeaderPrefix"] = json!("Zoho-oauthtoken ");
    let (s, b) = register(&app, Some(&xelion), &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let query = "%24filter=start%20ge%20%272024-01-01%27&to=%2B31612345678";
    let endpoint = format!("{}/v1.0/me/events?{query}", app.sim.crm_url());
    let payload = json!({"subject": "Call with +31612345678", "attendees": [1, 2], "ok": true});
    let (s, b) = call(
        &app,
        &token,
        &call_body(&app, &endpoint, "PATCH", payload.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["accessToken"], json!(token));
    let id = b["payload"]["id"].as_u64().expect("the service's JSON");
    assert_eq!(b["payload"], json!({"ok": true, "id": id}));

    let seen = app.control().crm_requests().await.unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let r = &seen[0];
    assert_eq!(r.method, "PATCH");
    assert_eq!(r.path, "/v1.0/me/events");
    assert_eq!(r.query, query, "the encoded query is sent as given");
    assert_eq!(r.body, payload);
    assert_eq!(
        r.headers["authorization"],
        format!("Zoho-oauthtoken {token}")
    );
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.subject.as_deref(), Some("alice"));

    // GET sends no body, whatever the payload says; so does a null payload.
    for (method, payload) in [("GET", json!({"ignored": 1})), ("DELETE", Value::Null)] {
        let (s, b) = call(&app, &token, &call_body(&app, &endpoint, method, payload)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let seen = app.control().crm_requests().await.unwrap();
    assert_eq!(
        (seen[1].method.as_str(), &seen[1].body),
        ("GET", &Value::Null)
    );
    assert!(!seen[1].headers.contains_key("content-type"));
    assert_eq!(
        (seen[2].method.as_str(), &seen[2].body),
        ("DELETE", &Value::Null)
    );
    assert_eq!(
        app.control().crm_counters().await.unwrap().token_requests,
        0,
        "a token the service takes is not refreshed"
    );
}
both_backends!(a_call_reaches_the_service_as_asked);

async fn bad_requests_name_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = mint(&app, "alice").await;
    register_alice(&app, &token).await;
    let xelion = xelion_token(&app, "alice").await;
    let endpoint = format!("{}/x", app.sim.crm_url());

    let mut body = registration(&app, &token, "refresh-alice");
    body["appUserContext"]["refreshToken"] = json!(" ");
    let (s, b) = register(&app, Some(&xelion), &body).await;
    let m = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(m.contains("appUserContext.refreshToken"), "{m}");
    let mut body = registration(&app, &token, "refresh-alice");
    body["appExternalApiContext"]["authorizationServerUri"] = json!("ftp://x/token");
    let (s, b) = register(&app, Some(&xelion), &body).await;
    let m = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(m.contains("authorizationServerUri"), "{m}");
    let mut body = registration(&app, &token, "refresh-alice");
    body["appXelionContext"]["host"] = json!("http://x/y");
    let (s, b) = register(&app, Some(&xelion), &body).await;
    let m = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(m.contains("appXelionContext.host"), "{m}");

    let (s, b) = call(
        &app,
        &token,
        &call_body(&app, &endpoint, "HEAD", Value::Null),
    )
    .await;
    let m = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(m.contains("endpointContext.method"), "{m}");
    let mut body = call_body(&app, &endpoint, "GET", Value::Null);
    body["endpointContext"]
        .as_object_mut()
        .unwrap()
        .remove("endpointUri");
    let (s, b) = call(&app, &token, &body).await;
    let m = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(m.contains("endpointUri"), "{m}");
    let (s, b) = app
        .post(
            "/api/external-api-endpoint/call",
            None,
            &call_body(&app, &endpoint, "GET", Value::Null),
        )
        .await;
    let m = error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);
    assert!(m.contains("xelion_cti"), "{m}");
    // Another token endpoint (the key of the app context) is another, unknown app context.
    let mut body = call_body(&app, &endpoint, "GET", Value::Null);
    body["endpointContext"]["authorizationServerUri"] = json!(format!("{}/", app.sim.token_url()));
    let (s, b) = call(&app, &token, &body).await;
    error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);
    assert_eq!(
        app.control()
            .crm_counters()
            .await
            .unwrap()
            .resource_requests,
        0
    );
}
both_backends!(bad_requests_name_the_field);

#[actix_rt::test]
async fn the_openapi_document_describes_both_operations() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (s, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    for (path, security) in [
        ("/api/cti-app-context", "xelion"),
        ("/api/external-api-endpoint/call", "xelion_cti"),
    ] {
        let op = &doc["paths"][path]["post"];
        assert!(op["requestBody"].is_object(), "{path}: {op}");
        assert!(op["security"][0][security].is_array(), "{path}: {op}");
    }
    let components = &doc["components"];
    for name in [
        "CtiAppRequest",
        "AppUserContext",
        "ExternalApiRequest",
        "EndpointContext",
        "ExternalApiResponse",
    ] {
        assert!(components["schemas"][name].is_object(), "{name} missing");
    }
    assert!(components["securitySchemes"]["xelion_cti"].is_object());
    assert!(
        doc["paths"]["/api/session/login"].is_object(),
        "the admin API is still there"
    );
}
