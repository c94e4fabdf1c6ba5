//! Managing an integration piece by piece: a crm context replaced or deleted, one mapping
//! added or deleted, identical crm contexts refused (also when posted at once), and the
//! running pipeline following each change.

use cti_sim::api::Scenario;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::delivery::{client_id, document_mappings, refresh_token, World};
use crate::helpers::*;

fn crm_path(xid: i64, cid: i64) -> String {
    format!("/api/crm-integrations/{xid}/crm-contexts/{cid}")
}

/// The integration body for `master` with a crm context at `token_uri` and no users.
fn body_with_token_uri(app: &TestApp, token_uri: &str) -> Value {
    let mut body = app.integration_body("master", &[]);
    body["crmContext"]["authorizationServerUri"] = json!(token_uri);
    body
}

async fn a_crm_context_is_replaced_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let path = crm_path(xid, cid);

    // PUT replaces the fields and answers the crm context as GET shows it.
    let new_uri = format!("{}?realm=sales", app.sim.token_url());
    let (s, b) = app
        .put(
            &path,
            Some(&token),
            &json!({"authorizationServerUri": new_uri, "authorizationHeaderPrefix": "Token "}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b,
        json!({"id": cid, "authorizationServerUri": new_uri, "authorizationHeaderPrefix": "Token "})
    );
    let (_, got) = app.get("/api/crm-integrations", Some(&token)).await;
    assert_eq!(got["crmContext"], b);
    // A left-out prefix is `Bearer `, as on POST.
    let (s, b) = app
        .put(
            &path,
            Some(&token),
            &json!({"authorizationServerUri": new_uri}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["authorizationHeaderPrefix"], "Bearer ");

    // Checked as POST checks its crmContext; the field is named.
    let (s, b) = app
        .put(
            &path,
            Some(&token),
            &json!({"authorizationServerUri": "ftp://x"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.starts_with("authorizationServerUri: "), "{msg}");
    let (s, b) = app
        .put(
            &path,
            Some(&token),
            &json!({"authorizationServerUri": "http://169.254.169.254/token"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10206);
    assert!(msg.starts_with("authorizationServerUri: "), "{msg}");
    let (s, b) = app
        .put(
            &path,
            Some(&token),
            &json!({"authorizationServerUri": new_uri, "authorizationHeaderPrefix": "Bearer\r\nX: y"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.starts_with("authorizationHeaderPrefix: "), "{msg}");
    let (s, b) = app.put(&path, Some(&token), &json!({})).await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    let (s, _) = app
        .put(&path, None, &json!({"authorizationServerUri": new_uri}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = app
        .put(
            &crm_path(xid, 424242),
            Some(&token),
            &json!({"authorizationServerUri": new_uri}),
        )
        .await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);

    // DELETE takes the crm context with its users and mappings; the xelion context stays.
    let (_, users) = app
        .get(&format!("{path}/user-credentials"), Some(&token))
        .await;
    let alice = users[0]["userCredentialsId"].as_str().unwrap().to_string();
    let (s, b) = app.delete(&path, Some(&token)).await;
    assert_eq!((s, b), (StatusCode::OK, Value::Null));
    let (s, b) = app.delete(&path, Some(&token)).await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (s, b) = app
        .get(&format!("{path}/event-uri-mappings"), Some(&token))
        .await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (s, b) = app.get(&format!("/api/users/{alice}"), Some(&token)).await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (s, env) = app
        .get(&format!("/api/xelion-environment/{xid}"), Some(&token))
        .await;
    assert_eq!(s, StatusCode::OK, "{env}");
    // With no crm context left, a new one can be added the usual way.
    let (s, b) = app
        .post(
            "/api/crm-integrations",
            None,
            &app.integration_body("master", &["alice"]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["xelionContext"]["id"], xid);
    assert_ne!(b["crmContext"]["id"], cid);
}
both_backends!(a_crm_context_is_replaced_and_deleted);

async fn identical_crm_contexts_answer_409_with_the_existing_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;

    // The same crmContext again (other users and mappings do not make it another one).
    let mut again = app.integration_body("master", &["bob"]);
    again["eventUriMappings"] = json!([]);
    let (s, b) = app.post("/api/crm-integrations", None, &again).await;
    let msg = error_message(s, &b, StatusCode::CONFLICT, 10300);
    assert_eq!(b["crmContextId"], cid, "{b}");
    assert!(msg.contains(&cid.to_string()), "{msg}");
    let (_, users) = app
        .get(
            &format!("{}/user-credentials", crm_path(xid, cid)),
            Some(&token),
        )
        .await;
    assert_eq!(
        users.as_array().unwrap().len(),
        2,
        "nothing stored: {users}"
    );
    // The default prefix is the same as an explicit `Bearer `.
    let mut explicit = app.integration_body("master", &[]);
    explicit["crmContext"]["authorizationHeaderPrefix"] = json!("Bearer ");
    let (s, b) = app.post("/api/crm-integrations", None, &explicit).await;
    assert_eq!((s, &b["crmContextId"]), (StatusCode::CONFLICT, &json!(cid)));

    // Four identical new ones at once: exactly one is created, the others name it.
    let second = body_with_token_uri(&app, &format!("{}?crm=2", app.sim.token_url()));
    let answers = join_all((0..4).map(|_| app.post("/api/crm-integrations", None, &second))).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    let new_id = created[0]["crmContext"]["id"].clone();
    for (s, b) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*s, StatusCode::CONFLICT, "{b}");
        assert_eq!(b["crmContextId"], new_id, "{b}");
    }
    let (_, got) = app.get("/api/crm-integrations", Some(&token)).await;
    assert_eq!(got["crmContexts"].as_array().unwrap().len(), 2, "{got}");

    // PUT onto the fields of another crm context of the tenant: 409 naming that one.
    let (s, b) = app
        .put(
            &crm_path(xid, new_id.as_i64().unwrap()),
            Some(&token),
            &json!({"authorizationServerUri": app.sim.token_url()}),
        )
        .await;
    error_message(s, &b, StatusCode::CONFLICT, 10300);
    assert_eq!(b["crmContextId"], cid, "{b}");
    // Its own fields again are no conflict.
    let (s, b) = app
        .put(
            &crm_path(xid, cid),
            Some(&token),
            &json!({"authorizationServerUri": app.sim.token_url()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}
both_backends!(identical_crm_contexts_answer_409_with_the_existing_id);

async fn one_mapping_is_added_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let path = format!("{}/event-uri-mappings", crm_path(xid, cid));
    let one = json!({
        "xelionEvent": "missedCallEvent",
        "crmResourceUri": "https://crm.example.org/missed?from=${callerPhoneNumber}",
        "crmResourcePayload": {"callId": "${callId}"},
        "method": "put",
        "headers": {"X-Source": "xelion"}
    });
    let (s, added) = app.post(&path, Some(&token), &one).await;
    assert_eq!(s, StatusCode::OK, "{added}");
    assert_eq!(added["xelionEvent"], "missedCallEvent");
    assert_eq!(added["method"], "PUT");
    assert_eq!(added["headers"], json!({"X-Source": "xelion"}));
    let id = added["id"].as_i64().expect("id");
    let (_, all) = app.get(&path, Some(&token)).await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 5, "the four of the integration and the new one");
    assert!(all.contains(&added), "{all:?}");

    // Checked like a PUT element; paths without the element's index.
    let mut bad = one.clone();
    bad["crmResourceUri"] = json!("https://crm.example.org/x?id=${callId + }");
    let (s, b) = app.post(&path, Some(&token), &bad).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10203);
    assert!(msg.starts_with("crmResourceUri: column "), "{msg}");
    let mut with_id = one.clone();
    with_id["id"] = json!(id);
    let (s, b) = app.post(&path, Some(&token), &with_id).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.starts_with("id: "), "{msg}");
    let (s, b) = app.post(&path, Some(&token), &json!([one])).await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    let (_, all) = app.get(&path, Some(&token)).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        5,
        "nothing added by refused requests"
    );

    // DELETE one; again or an unknown one: 404; a path id that is not a number: 400.
    let (s, b) = app.delete(&format!("{path}/{id}"), Some(&token)).await;
    assert_eq!((s, b), (StatusCode::OK, Value::Null));
    let (_, all) = app.get(&path, Some(&token)).await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    let (s, b) = app.delete(&format!("{path}/{id}"), Some(&token)).await;
    let msg = error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    assert!(msg.contains(&format!("mapping {id}")), "{msg}");
    let (s, b) = app.delete(&format!("{path}/x1"), Some(&token)).await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10205);

    // The literal `preview` is not an id: it takes POST only.
    let resp = app
        .http
        .delete(format!("{}{path}/preview", app.url))
        .header("Authorization", format!("xelion {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "POST");
    let (s, _) = app
        .request(Method::PATCH, &format!("{path}/{id}"), Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}
both_backends!(one_mapping_is_added_and_deleted);

async fn another_tenants_ids_answer_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, cid) = app.create_integration().await;
    add_tenant(&app.control(), "other").await;
    let other = app
        .login_as("other", "admin", &admin_password("other"))
        .await;
    let path = crm_path(xid, cid);
    let mappings = format!("{path}/event-uri-mappings");
    let (_, list) = app.get(&mappings, Some(&app.login().await)).await;
    let mapping = list[0]["id"].as_i64().unwrap();
    let one = json!({"xelionEvent": "newCallEvent", "crmResourceUri": "https://crm.example.org/x"});
    for (method, p, body) in [
        (
            Method::PUT,
            path.clone(),
            Some(json!({"authorizationServerUri": app.sim.token_url()})),
        ),
        (Method::DELETE, path.clone(), None),
        (Method::POST, mappings.clone(), Some(one)),
        (Method::DELETE, format!("{mappings}/{mapping}"), None),
    ] {
        let (s, b) = app
            .request(method.clone(), &p, Some(&other), body.as_ref())
            .await;
        let msg = error_message(s, &b, StatusCode::NOT_FOUND, 10100);
        assert!(!msg.contains("other"), "{method} {p}: {msg}");
    }
    // All still there for their own tenant.
    let token = app.login().await;
    let (_, list) = app.get(&mappings, Some(&token)).await;
    assert_eq!(list.as_array().unwrap().len(), 4);
    let (s, _) = app
        .get(&format!("{path}/user-credentials"), Some(&token))
        .await;
    assert_eq!(s, StatusCode::OK);
}
both_backends!(another_tenants_ids_answer_404);

/// The requests of one call (by its `callrefid`), from all crm contexts.
fn requests_of_call(all: &[cti_sim::api::RecordedRequest], call_id: &str) -> usize {
    all.iter()
        .filter(|r| r.query.contains(&format!("callrefid={call_id}")))
        .count()
}

async fn the_pipeline_follows_crm_context_changes(backend: Backend) {
    let w = World::new(backend).await;
    let control = w.app.control();
    // A second crm context of the tenant for alice, with the same mappings.
    let mut body = body_with_token_uri(&w.app, &format!("{}?crm=2", w.app.sim.token_url()));
    body["userCredentials"] = json!([{
        "xelionUsername": "alice", "clientId": client_id("alice"),
        "clientSecret": secret("clientsecret", "alice"), "refreshToken": refresh_token("alice"),
    }]);
    body["eventUriMappings"] = document_mappings(&w.app);
    let (s, b) = w.app.post("/api/crm-integrations", None, &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let second = b["crmContext"]["id"].as_i64().unwrap();

    // The first one's prefix changes: the next event is sent with it.
    let (s, b) = w
        .app
        .put(
            &crm_path(w.xid, w.crm),
            Some(&w.token),
            &json!({"authorizationServerUri": w.app.sim.token_url(), "authorizationHeaderPrefix": "Token "}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let first_call = w.call("+31612345678", "alice", Scenario::Answered).await;
    let got = eventually(
        "both crm contexts got the call's three requests",
        || async {
            let all = control.crm_requests().await.ok()?;
            (requests_of_call(&all, &first_call.call_id) >= 6).then_some(all)
        },
    )
    .await;
    let prefixes: Vec<&str> = got
        .iter()
        .filter(|r| {
            r.query
                .contains(&format!("callrefid={}", first_call.call_id))
        })
        .map(|r| r.headers["authorization"].split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        prefixes.iter().filter(|p| **p == "Token").count(),
        3,
        "{prefixes:?}"
    );
    assert_eq!(
        prefixes.iter().filter(|p| **p == "Bearer").count(),
        3,
        "{prefixes:?}"
    );

    // The second one is deleted, with its deliveries; the next call reaches the first only.
    let (s, _) = w.app.delete(&crm_path(w.xid, second), Some(&w.token)).await;
    assert_eq!(s, StatusCode::OK);
    let list = w.deliveries("limit=500").await;
    assert!(
        list["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["crmContextId"] == w.crm),
        "the deleted crm context's deliveries are gone: {list}"
    );
    let next_call = w.call("+31612345679", "alice", Scenario::Answered).await;
    eventually("the first crm context delivered the next call", || async {
        let list = w.deliveries(&format!("callId={}", next_call.call_id)).await;
        let ds = list["deliveries"].as_array()?.clone();
        (ds.len() == 3 && ds.iter().all(|d| d["status"] == "delivered")).then_some(())
    })
    .await;
    let list = w.deliveries(&format!("callId={}", next_call.call_id)).await;
    assert!(
        list["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["crmContextId"] == w.crm),
        "no delivery for the deleted crm context: {list}"
    );
    let all = control.crm_requests().await.unwrap();
    assert_eq!(
        requests_of_call(&all, &next_call.call_id),
        3,
        "one crm context's three"
    );
}
both_backends!(the_pipeline_follows_crm_context_changes);
