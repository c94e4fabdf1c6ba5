//! Bad input answered clearly, the same on both backends: NUL characters in any field, the
//! query or a credential value; ids that are not numbers; bodies of the wrong type or a corrupt
//! encoding; another `Authorization` scheme; a wrong method.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

/// A NUL character inside a JSON string, as a client sends it.
const NUL: &str = "\u{0}";

async fn nul_characters_are_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // POST crm-integrations: in a credential, a mapping URI, a payload key.
    let mut body = app.integration_body("master", &["alice"]);
    body["userCredentials"][0]["clientId"] = json!(format!("demo{NUL}client"));
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(
        msg.starts_with("userCredentials[0].clientId: contains a NUL"),
        "{msg}"
    );
    let mut body = app.integration_body("master", &["alice"]);
    body["eventUriMappings"][1]["crmResourceUri"] = json!(format!("https://crm.example.org/{NUL}"));
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(
        msg.starts_with("eventUriMappings[1].crmResourceUri:"),
        "{msg}"
    );
    let mut body = app.integration_body("master", &["alice"]);
    body["eventUriMappings"][0]["crmResourcePayload"][format!("to{NUL}")] = json!("x");
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(
        msg.starts_with("eventUriMappings[0].crmResourcePayload: the key"),
        "{msg}"
    );
    let (s, b) = app
        .post(
            "/api/session/login",
            None,
            &json!({"adminUsername": format!("ad{NUL}min"), "adminPassword": "admin",
                    "host": app.xelion_host(), "tenant": "master"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.starts_with("adminUsername:"), "{msg}");
    let (s, _) = app
        .get(
            &format!("/api/crm-integrations?xelionHost={}", app.xelion_host()),
            Some(&app.login().await),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was stored");

    // With an integration: the query, a user's oid, a credential value.
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let users = format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials");
    let (s, b) = app
        .get(&format!("{users}?username=ali%00ce"), Some(&token))
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10205);
    assert!(msg.starts_with("query parameter `username`"), "{msg}");
    let (_, alice) = app
        .get(&format!("{users}?username=alice"), Some(&token))
        .await;
    let user = format!(
        "/api/users/{}",
        alice[0]["userCredentialsId"].as_str().unwrap()
    );
    let (s, b) = app
        .put(
            &user,
            Some(&token),
            &json!({"xelionUsername": "alice", "xelionOid": format!("1{NUL}")}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.starts_with("xelionOid:"), "{msg}");
    for kind in ["clientid", "clientsecret", "refreshtoken", "devicecode"] {
        let (s, b) = app
            .post(
                &format!("{user}/{kind}/update"),
                Some(&token),
                &json!({"value": format!("new{NUL}")}),
            )
            .await;
        let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
        assert!(msg.starts_with("value: contains a NUL"), "{kind}: {msg}");
    }
    let (s, b) = app.get(&user, Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["xelionUsername"], "alice");
}
both_backends!(nul_characters_are_refused_naming_the_field);

async fn mistakes_are_named_in_the_error_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, _) = app.create_integration().await;
    let token = app.login().await;

    // An id that is not a number names the parameter.
    let (s, b) = app.get("/api/users/abc", Some(&token)).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10205);
    assert!(msg.starts_with("userId: `abc` is not an id"), "{msg}");
    let (s, b) = app
        .get(
            "/api/crm-integrations/1/crm-contexts/x/event-uri-mappings",
            Some(&token),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10205);
    assert!(msg.starts_with("crmContextId: `x`"), "{msg}");

    // A body of the wrong type.
    let (s, b) = app.post("/api/session/login", None, &json!([])).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert_eq!(
        msg,
        "the body must be a JSON object, not an array; see GET /api/openapi.json"
    );

    // Another scheme than `xelion`: said, not "missing".
    let resp = app
        .http
        .get(format!("{}/api/users/1", app.url))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let b: Value = resp.json().await.unwrap();
    let msg = error_message(status, &b, StatusCode::UNAUTHORIZED, 10000);
    assert!(
        msg.contains("scheme must be `xelion`") && msg.contains("`Bearer`"),
        "{msg}"
    );

    // A corrupt gzip body: the error shape, as JSON.
    let resp = app
        .http
        .post(format!("{}/api/session/login", app.url))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(b"this is not gzip at all".to_vec())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(content_type, "application/json", "{status}");
    let b: Value = resp.json().await.unwrap();
    let msg = error_message(status, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("could not be read"), "{msg}");

    // A known path with another method: 405 with Allow; an unknown path: 404.
    let resp = app
        .http
        .patch(format!("{}/api/users/1", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "DELETE, GET, PUT");
    let status = resp.status();
    let b: Value = resp.json().await.unwrap();
    let msg = error_message(status, &b, StatusCode::METHOD_NOT_ALLOWED, 10102);
    assert!(msg.starts_with("PATCH is not allowed here"), "{msg}");
    let (s, b) = app
        .request(Method::GET, "/api/session/login", None, None)
        .await;
    error_message(s, &b, StatusCode::METHOD_NOT_ALLOWED, 10102);
    let (s, b) = app.request(Method::POST, "/health", None, None).await;
    error_message(s, &b, StatusCode::METHOD_NOT_ALLOWED, 10102);
    let (s, b) = app.get("/api/users/1/nothing", Some(&token)).await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);

    // GET crm-integrations needs no query: the token names the tenant.
    let (s, b) = app.get("/api/crm-integrations", Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["xelionContext"]["id"], json!(xid));
    let (s, b) = app
        .get("/api/crm-integrations?xelionTenant=master", Some(&token))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app
        .get("/api/crm-integrations?xelionTenant=other", Some(&token))
        .await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
}
both_backends!(mistakes_are_named_in_the_error_shape);

async fn refused_targets_are_refused_when_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The token endpoint at the cloud metadata address.
    let mut body = app.integration_body("master", &["alice"]);
    body["crmContext"]["authorizationServerUri"] = json!("http://169.254.169.254/oauth2/token");
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10206);
    assert!(
        msg.starts_with("crmContext.authorizationServerUri: 169.254.169.254"),
        "{msg}"
    );
    // A mapping at a private address, with templates after the host.
    let mut body = app.integration_body("master", &["alice"]);
    body["eventUriMappings"][2]["crmResourceUri"] = json!("http://10.1.2.3:8080/calls/${callId}");
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10206);
    assert!(
        msg.starts_with("eventUriMappings[2].crmResourceUri: 10.1.2.3"),
        "{msg}"
    );

    // A templated host is checked when the delivery is made: stored.
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let mappings = format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/event-uri-mappings");
    let (_, mut stored) = app.get(&mappings, Some(&token)).await;
    stored[0]["crmResourceUri"] = json!("https://${calleeUser}.crm.example.org/calls");
    let (s, b) = app.put(&mappings, Some(&token), &stored).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // PUT with a literal private address: refused, nothing changed.
    stored[1]["crmResourceUri"] = json!("http://[fd00::1]/calls");
    let (s, b) = app.put(&mappings, Some(&token), &stored).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10206);
    assert!(msg.starts_with("[1].crmResourceUri: fd00::1"), "{msg}");
    let (_, now) = app.get(&mappings, Some(&token)).await;
    assert_ne!(now[1]["crmResourceUri"], json!("http://[fd00::1]/calls"));
}
both_backends!(refused_targets_are_refused_when_stored);
