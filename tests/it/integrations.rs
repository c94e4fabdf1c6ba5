//! `api/crm-integrations`: create with implicit login, read, delete; bad input; tenants.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

async fn create_read_and_delete_an_integration(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // An Authorization header on POST is ignored (the body's admin logs in).
    let (status, body) = app
        .post(
            "/api/crm-integrations",
            Some("garbage"),
            &app.integration_body("master", &["alice", "bob"]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let xid = body["xelionContext"]["id"].as_i64().unwrap();
    let cid = body["crmContext"]["id"].as_i64().unwrap();
    assert_eq!(
        body["xelionContext"],
        json!({"host": app.xelion_host(), "id": xid, "protocol": "http", "tenant": "master"})
    );
    assert_eq!(
        body["crmContext"],
        json!({"authorizationHeaderPrefix": "Bearer ", "authorizationServerUri": app.sim.token_url(), "id": cid})
    );
    let text = body.to_string();
    for s in all_secrets("master", &["alice", "bob"]).iter().skip(1) {
        assert!(!text.contains(s.as_str()), "response leaks {s}");
    }

    let token = app.login().await;
    let q = format!(
        "/api/crm-integrations?xelionHost={}&xelionTenant=master",
        app.xelion_host()
    );
    let (status, got) = app.get(&q, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["xelionContext"], body["xelionContext"]);
    assert_eq!(got["crmContext"], body["crmContext"]);
    assert_eq!(got["crmContexts"], json!([body["crmContext"]]));

    // Users were resolved to the simulator's oids.
    let sim_users = app.control().users("master").await.unwrap();
    let oid_of = |name: &str| oid_in(&sim_users, name);
    let users_path = format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials");
    let (status, users) = app.get(&users_path, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{users}");
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["xelionUsername"], "alice");
    assert_eq!(users[0]["xelionOid"], json!(oid_of("alice")));
    assert!(users[0]["userCredentialsId"].is_string(), "id is a string");
    assert_eq!(
        users[0].as_object().unwrap().len(),
        3,
        "no secrets: {}",
        users[0]
    );

    // The mappings of the document's example are stored as sent.
    let (status, mappings) = app
        .get(
            &format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/event-uri-mappings"),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mappings = mappings.as_array().unwrap();
    assert_eq!(mappings.len(), 4);
    assert_eq!(mappings[2]["xelionEvent"], "callHungUpEvent");
    assert_eq!(
        mappings[2]["crmResourceUri"],
        "https://example.org/services/apexrest/Call?initiation=${(initiation==\"outgoing\")?\"calldialed\":\"callreceived\"}"
    );
    assert_eq!(
        mappings[0]["crmResourcePayload"]["to"],
        "${calleePhoneNumber}"
    );
    assert_eq!(mappings[0]["createdAt"].as_str().unwrap().len(), 29);

    // A second POST for the same tenant adds a crm context to the same xelion context (one
    // with other fields: an identical one is refused, see manage.rs).
    let mut other_crm = app.integration_body("master", &["alice"]);
    other_crm["crmContext"]["authorizationServerUri"] =
        serde_json::json!(format!("{}?crm=2", app.sim.token_url()));
    let (status, second) = app.post("/api/crm-integrations", None, &other_crm).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["xelionContext"]["id"].as_i64(), Some(xid));
    let cid2 = second["crmContext"]["id"].as_i64().unwrap();
    assert_ne!(cid2, cid);
    let (_, got) = app.get(&q, Some(&token)).await;
    assert_eq!(got["crmContexts"].as_array().unwrap().len(), 2);
    assert_eq!(
        got["crmContext"]["id"].as_i64(),
        Some(cid),
        "the first stays first"
    );

    // DELETE removes everything under the xelion context.
    let (status, _) = app
        .delete(&format!("/api/crm-integrations/{xid}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get(&q, Some(&token)).await;
    error_message(status, &body, StatusCode::NOT_FOUND, 10100);
    let (status, body) = app.get(&users_path, Some(&token)).await;
    error_message(status, &body, StatusCode::NOT_FOUND, 10100);
    let (status, body) = app
        .delete(&format!("/api/crm-integrations/{xid}"), Some(&token))
        .await;
    error_message(status, &body, StatusCode::NOT_FOUND, 10100);
}
both_backends!(create_read_and_delete_an_integration);

async fn bad_integrations_are_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.login().await;
    let q = format!(
        "/api/crm-integrations?xelionHost={}&xelionTenant=master",
        app.xelion_host()
    );
    let nothing_stored = || async {
        let (s, b) = app.get(&q, Some(&token)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "nothing may be stored: {b}");
    };

    // A user Xelion does not know: 422, naming it.
    let (s, b) = app
        .post(
            "/api/crm-integrations",
            None,
            &app.integration_body("master", &["alice", "mallory"]),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::UNPROCESSABLE_ENTITY, 10301);
    assert!(
        msg.contains("userCredentials[1].xelionUsername") && msg.contains("mallory"),
        "{msg}"
    );
    nothing_stored().await;

    // A template error names the field path and the column.
    let mut body = app.integration_body("master", &["alice"]);
    body["eventUriMappings"][2]["crmResourceUri"] = json!("https://crm.example/x?a=${callId");
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10203);
    assert!(
        msg.starts_with("eventUriMappings[2].crmResourceUri: column"),
        "{msg}"
    );
    nothing_stored().await;

    let mut body = app.integration_body("master", &["alice"]);
    body["eventUriMappings"][1]["crmResourcePayload"]["to"] = json!("${1 +}");
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10203);
    assert!(
        msg.starts_with("eventUriMappings[1].crmResourcePayload.to: column"),
        "{msg}"
    );

    let mut body = app.integration_body("master", &["alice"]);
    body["eventUriMappings"][0]["xelionEvent"] = json!("newCall");
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("eventUriMappings[0].xelionEvent"), "{msg}");

    // Wrong types and unknown fields name the path.
    let mut body = app.integration_body("master", &["alice"]);
    body["userCredentials"][0]["refreshTokn"] = json!("x");
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(
        msg.contains("userCredentials[0]") && msg.contains("refreshTokn"),
        "{msg}"
    );
    let mut body = app.integration_body("master", &["alice"]);
    body["crmContext"]["authorizationServerUri"] = json!(42);
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("crmContext.authorizationServerUri"), "{msg}");

    // Malformed JSON, an empty body, an oversized body.
    let (s, b) = app
        .request_raw(
            reqwest::Method::POST,
            "/api/crm-integrations",
            None,
            b"{\"xelionContext\": ".to_vec(),
        )
        .await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    let (s, b) = app
        .request_raw(
            reqwest::Method::POST,
            "/api/crm-integrations",
            None,
            Vec::new(),
        )
        .await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10200);
    let (s, b) = app
        .request_raw(
            reqwest::Method::POST,
            "/api/crm-integrations",
            None,
            vec![b' '; 300 * 1024],
        )
        .await;
    error_message(s, &b, StatusCode::PAYLOAD_TOO_LARGE, 10202);

    // Wrong admin password; a non-admin.
    let mut body = app.integration_body("master", &["alice"]);
    body["xelionContext"]["adminPassword"] = json!("nope");
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    error_message(s, &b, StatusCode::UNAUTHORIZED, 10004);
    body["xelionContext"]["adminUsername"] = json!("bob");
    body["xelionContext"]["adminPassword"] = json!("bob");
    let (s, b) = app.post("/api/crm-integrations", None, &body).await;
    error_message(s, &b, StatusCode::FORBIDDEN, 10101);
    nothing_stored().await;

    // Bad ids and unknown paths.
    let (s, b) = app.delete("/api/crm-integrations/abc", Some(&token)).await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10205);
    let (s, b) = app.get("/api/nope", Some(&token)).await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (s, b) = app
        .get("/api/crm-integrations?xelionHost=http://x/y", Some(&token))
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10205);
    assert!(msg.contains("xelionHost"), "{msg}");

    // The server is still up and works.
    app.create_integration().await;
}
both_backends!(bad_integrations_are_refused_and_nothing_is_stored);

async fn tokens_never_reach_another_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_tenant(&app.control(), "acme").await;
    let (xid, cid) = app.create_integration().await;
    let (s, acme) = app
        .post(
            "/api/crm-integrations",
            None,
            &app.integration_body("acme", &["carol"]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{acme}");
    let acme_xid = acme["xelionContext"]["id"].as_i64().unwrap();
    assert_ne!(acme_xid, xid);

    let acme_token = app.login_as("acme", "admin", &admin_password("acme")).await;
    let master_token = app.login().await;
    let (_, users) = app
        .get(
            &format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials"),
            Some(&master_token),
        )
        .await;
    let alice_id = users[0]["userCredentialsId"].as_str().unwrap().to_string();

    for path in [
        format!("/api/xelion-environment/{xid}"),
        format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials"),
        format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/event-uri-mappings"),
        format!("/api/users/{alice_id}"),
        format!(
            "/api/crm-integrations?xelionHost={}&xelionTenant=master",
            app.xelion_host()
        ),
    ] {
        let (s, b) = app.get(&path, Some(&acme_token)).await;
        error_message(s, &b, StatusCode::NOT_FOUND, 10100);
        let (s, _) = app.get(&path, Some(&master_token)).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    let (s, b) = app
        .delete(&format!("/api/crm-integrations/{xid}"), Some(&acme_token))
        .await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (s, b) = app
        .delete(&format!("/api/users/{alice_id}"), Some(&acme_token))
        .await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    // Still there for its own tenant.
    let (s, _) = app
        .get(&format!("/api/users/{alice_id}"), Some(&master_token))
        .await;
    assert_eq!(s, StatusCode::OK);
}
both_backends!(tokens_never_reach_another_tenant);

#[actix_rt::test]
async fn openapi_describes_every_endpoint() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (s, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for p in [
        "/api/session/login",
        "/api/session/logout",
        "/api/crm-integrations",
        "/api/crm-integrations/{xelionContextId}",
        "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/user-credentials",
        "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings",
        "/api/users/{userId}",
        "/api/users/{userId}/{oauthCredentialsType}/update",
        "/api/xelion-environment/{xelionContextId}",
        "/api/xelion-environment/{xelionContextId}/admin/password/update",
        "/api/xelion-environment/{xelionContextId}/admin/username/update",
        "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}",
        "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings/{mappingId}",
        "/health",
        "/health/ready",
        "/metrics",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    let schemas: &Value = &doc["components"]["schemas"];
    assert!(schemas["CrmIntegrationRequest"].is_object());
    assert!(schemas["ErrorBody"].is_object());

    // Every answered route is in the document with its methods.
    let p = &doc["paths"];
    let crm = &p["/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}"];
    assert!(crm["put"].is_object() && crm["delete"].is_object(), "{crm}");
    let mappings = &p
        ["/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings"];
    assert!(
        mappings["get"].is_object() && mappings["put"].is_object() && mappings["post"].is_object()
    );
    // Optional query parameters are query parameters.
    for (path, names) in [
        ("/api/crm-integrations", ["xelionHost", "xelionTenant"]),
        (
            "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/user-credentials",
            ["username", "oid"],
        ),
    ] {
        let params = p[path]["get"]["parameters"].as_array().unwrap();
        for name in names {
            let param = params.iter().find(|q| q["name"] == name).unwrap();
            assert_eq!(param["in"], "query", "{path} {name}");
            assert_ne!(param["required"], true, "{path} {name}");
        }
    }
    // One user or several: both forms, in and out.
    let add = &p
        ["/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/user-credentials"]
        ["post"];
    let body = &add["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    let forms = schemas[body.as_str().unwrap().rsplit('/').next().unwrap()]["oneOf"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(forms.len(), 2, "{forms:?}");
    assert!(
        forms
            .iter()
            .any(|f| f["type"] == "array" && f["minItems"] == 1),
        "{forms:?}"
    );
    // Statuses every caller meets, and a 429 that says when to come back.
    let login = &p["/api/session/login"]["post"]["responses"];
    assert!(
        login["429"]["headers"]["Retry-After"].is_object(),
        "{login}"
    );
    let get_user = &p["/api/users/{userId}"]["get"]["responses"];
    for status in ["400", "401", "404", "405"] {
        assert!(get_user[status].is_object(), "{status}: {get_user}");
    }
    assert!(p["/api/users/{userId}"]["put"]["responses"]["413"].is_object());
    // The rules the server enforces.
    let mapping = &schemas["EventUriMappingRequest"]["properties"];
    assert_eq!(mapping["method"]["enum"][0], "GET", "{mapping}");
    assert!(schemas["XelionEvent"]["enum"].as_array().unwrap().len() == 5);
    assert_eq!(
        schemas["Protocol"]["enum"],
        serde_json::json!(["http", "https"])
    );
    assert_eq!(
        schemas["SessionLoginRequest"]["properties"]["tenant"]["minLength"],
        1
    );
    let host = schemas["SessionLoginRequest"]["properties"]["host"]["pattern"]
        .as_str()
        .unwrap();
    assert!(host.starts_with('^'), "{host}");
}

async fn health_reports_the_database_and_tenants(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (s, b) = app.get("/health", None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = app.get("/health/ready", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["database"], "ok");
    assert_eq!(b["tenants"], 0);
    app.create_integration().await;
    let (_, b) = app.get("/health/ready", None).await;
    assert_eq!(b["tenants"], 1, "the created integration's tenant runs");
    assert_eq!(b["tenantsNotRunning"], 0);
}
both_backends!(health_reports_the_database_and_tenants);
