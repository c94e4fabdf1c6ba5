//! `event-uri-mappings/preview`: the requests a sample event would cause, rendered as a delivery
//! renders them, with placeholders for the token; nothing is sent.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

const ZOHO: &str = "https://example.org/cti-server-stub/api/zoho/services/crm/v2/phonebridge";

fn preview_path(xid: i64, cid: i64) -> String {
    format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/event-uri-mappings/preview")
}

/// A sample call event, with `+` in the phone numbers.
fn sample_event() -> Value {
    json!({
        "initiation": "incoming",
        "date": "2024-05-14 10:21:07",
        "callId": "186ba647df1ef222",
        "callerPhoneNumber": "+31612345678",
        "calleePhoneNumber": "+31201234567",
        "duration": 42,
        "callerUser": "",
        "calleeUser": "alice",
        "callerFlowId": "2018-09-12-09:50:43-00000002",
        "calleeFlowId": "2018-09-12-09:50:43-00000003"
    })
}

fn zoho_put() -> Value {
    serde_json::from_str(include_str!(
        "../fixtures/example-event-uri-mappings-put.json"
    ))
    .unwrap()
}

/// The one preview of a single-mapping answer.
fn only(answer: &Value) -> &Value {
    let previews = answer["previews"].as_array().expect("previews");
    assert_eq!(previews.len(), 1, "{answer}");
    &previews[0]
}

async fn preview(app: &TestApp, token: &str, xid: i64, cid: i64, body: Value) -> Value {
    let (s, b) = app.post(&preview_path(xid, cid), Some(token), &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn stored_mappings_render_to_the_exact_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let ev = |name: &str| json!({"event": sample_event(), "xelionEvent": name});

    // The document's POST example as stored: the hang-up URI carries the EL conditional.
    let hung_up = preview(&app, &token, xid, cid, ev("callHungUpEvent")).await;
    assert_eq!(hung_up["xelionEvent"], "callHungUpEvent");
    assert_eq!(hung_up["mappings"], "stored");
    let p = only(&hung_up);
    assert!(p["id"].is_i64(), "{p}");
    assert_eq!(
        p["request"],
        json!({
            "method": "POST",
            "uri": "https://example.org/services/apexrest/Call?initiation=callreceived",
            "headers": {
                "Content-Type": "application/json",
                "Authorization": "Bearer <access token>",
                "Idempotency-Key": "<delivery id>"
            },
            "body": {"to": "+31201234567", "callId": "186ba647df1ef222", "eventType": "callHungUpEvent"}
        })
    );

    // After the document's PUT example (Zoho PhoneBridge): its URIs, `+` as %2B.
    let mappings = format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/event-uri-mappings");
    let (s, b) = app.put(&mappings, Some(&token), &zoho_put()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let connected = preview(&app, &token, xid, cid, ev("callConnectedEvent")).await;
    assert_eq!(
        only(&connected)["request"],
        json!({
            "method": "POST",
            "uri": format!("{ZOHO}/callanswered?callrefid=186ba647df1ef222&fromnumber=%2B31612345678&tonumber=%2B31201234567"),
            "headers": {
                "Content-Type": "application/json",
                "Authorization": "Bearer <access token>",
                "Idempotency-Key": "<delivery id>"
            },
            "body": {
                "fromNumber": "+31612345678", "callerUser": "", "calleeUser": "alice",
                "myObject": {"myPayload": "186ba647df1ef222"},
                "calleeFlowId": "2018-09-12-09:50:43-00000003", "toNumber": "+31201234567",
                "callerFlowId": "2018-09-12-09:50:43-00000002"
            }
        })
    );
    let hung_up = preview(&app, &token, xid, cid, ev("callHungUpEvent")).await;
    let req = &only(&hung_up)["request"];
    assert_eq!(
        req["uri"],
        format!("{ZOHO}/callhungup?callrefid=186ba647df1ef222&fromnumber=%2B31612345678&tonumber=%2B31201234567&callstarttime=2024-05-14%2010%3A21%3A07&direction=inbound&duration=30")
    );
    assert_eq!(req["body"], Value::Null, "a null payload: no body");
    assert_eq!(
        req["headers"],
        json!({"Authorization": "Bearer <access token>", "Idempotency-Key": "<delivery id>"}),
        "no body, no Content-Type"
    );
    let missed = preview(&app, &token, xid, cid, ev("missedCallEvent")).await;
    assert_eq!(
        only(&missed)["request"]["uri"],
        format!("{ZOHO}/callmissed?calleeFlowId=2018-09-12-09%3A50%3A43-00000003&fromnumber=%2B31612345678&tonumber=%2B31201234567")
    );
    // An event type without mappings: nothing to send.
    let none = preview(&app, &token, xid, cid, ev("channelHungUpEvent")).await;
    assert_eq!(none["previews"], json!([]));
}
both_backends!(stored_mappings_render_to_the_exact_requests);

async fn given_mappings_override_the_stored_ones_and_nothing_is_sent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let crm = app.sim.crm_url();
    let mappings = format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/event-uri-mappings");
    let (_, before) = app.get(&mappings, Some(&token)).await;
    let body = json!({
        "event": sample_event(),
        "xelionEvent": "newCallEvent",
        "eventUriMappings": [
            {"xelionEvent": "callHungUpEvent", "crmResourceUri": format!("{crm}/other")},
            {"xelionEvent": "newCallEvent", "method": "patch",
             "crmResourceUri": format!("{crm}/calls/${{callId}}?event=${{xelionEvent}}&to=${{calleePhoneNumber}}"),
             "crmResourcePayload": {"duration": "${duration}", "user": "${calleeUser}",
                                    "missing": "${nobody}"},
             "headers": {"X-Source": "xelion"}},
            {"id": 12345, "xelionEvent": "newCallEvent", "crmResourceUri": "http://10.1.2.3/calls"}
        ]
    });
    let answer = preview(&app, &token, xid, cid, body).await;
    assert_eq!(answer["mappings"], "request");
    let previews = answer["previews"].as_array().unwrap();
    assert_eq!(previews.len(), 2, "only newCallEvent's: {answer}");
    assert_eq!(previews[0]["index"], 1);
    assert_eq!(previews[0].get("id"), None);
    assert_eq!(
        previews[0]["request"],
        json!({
            "method": "PATCH",
            "uri": format!("{crm}/calls/186ba647df1ef222?event=newCallEvent&to=%2B31201234567"),
            "headers": {
                "X-Source": "xelion",
                "Content-Type": "application/json",
                "Authorization": "Bearer <access token>",
                "Idempotency-Key": "<delivery id>"
            },
            "body": {"duration": 42, "user": "alice", "missing": null}
        })
    );
    assert_eq!(previews[0].get("outboundRefusal"), None);
    // A private address the outbound rule refuses: shown, as the delivery would fail.
    assert_eq!(previews[1]["index"], 2);
    assert_eq!(previews[1]["id"], 12345);
    assert!(
        previews[1]["outboundRefusal"]
            .as_str()
            .unwrap()
            .contains("10.1.2.3"),
        "{}",
        previews[1]
    );

    // Nothing was sent, nothing asked of the token endpoint, nothing stored.
    let counters = app.control().crm_counters().await.unwrap();
    assert_eq!(
        (counters.resource_requests, counters.token_requests),
        (0, 0)
    );
    let (_, after) = app.get(&mappings, Some(&token)).await;
    assert_eq!(after, before, "the stored mappings are unchanged");
}
both_backends!(given_mappings_override_the_stored_ones_and_nothing_is_sent);

async fn broken_templates_answer_their_error_and_position(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let body = json!({
        "event": sample_event(),
        "xelionEvent": "callConnectedEvent",
        "eventUriMappings": [
            {"xelionEvent": "callConnectedEvent",
             "crmResourceUri": "https://crm.example/x?id=${callId + }"},
            {"xelionEvent": "callConnectedEvent", "crmResourceUri": "https://crm.example/x",
             "crmResourcePayload": {"myObject": {"callId": "${callId"}}},
            {"xelionEvent": "callConnectedEvent", "crmResourceUri": "https://crm.example/x",
             "crmResourcePayload": {"n": ["ok", "${callId + 1}"]}},
            {"xelionEvent": "callConnectedEvent", "crmResourceUri": "https://crm.example/ok"}
        ]
    });
    let answer = preview(&app, &token, xid, cid, body).await;
    let p = answer["previews"].as_array().unwrap();
    assert_eq!(p.len(), 4);
    let uri = &p[0]["error"];
    assert_eq!(
        (&uri["stage"], &uri["field"], &uri["column"]),
        (&json!("parse"), &json!("crmResourceUri"), &json!(37))
    );
    assert!(
        uri["message"]
            .as_str()
            .unwrap()
            .starts_with("eventUriMappings[0].crmResourceUri: column 37: "),
        "{uri}"
    );
    assert_eq!(p[0].get("request"), None);
    assert_eq!(
        p[1]["error"],
        json!({"stage": "parse", "field": "crmResourcePayload", "path": "myObject.callId",
               "column": 9,
               "message": "eventUriMappings[1].crmResourcePayload.myObject.callId: column 9: expected `}`"})
    );
    // Parses, but fails for this event: a string that is not a number in `+`.
    let render = &p[2]["error"];
    assert_eq!(render["stage"], "render");
    assert_eq!(render["path"], "n[1]");
    assert!(render["column"].is_u64(), "{render}");
    assert!(
        !render["message"].as_str().unwrap().contains("186ba647"),
        "no call data in errors: {render}"
    );
    // The healthy one still renders.
    assert_eq!(p[3]["request"]["uri"], "https://crm.example/ok");
}
both_backends!(broken_templates_answer_their_error_and_position);

async fn bad_bodies_and_other_tenants_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_tenant(&app.control(), "acme").await;
    let (xid, cid) = app.create_integration().await;
    let (s, b) = app
        .post(
            "/api/crm-integrations",
            None,
            &app.integration_body("acme", &["carol"]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let token = app.login().await;
    let path = preview_path(xid, cid);
    let good = json!({"event": sample_event(), "xelionEvent": "newCallEvent"});

    // Another tenant's administrator, an unknown crm context, no token.
    let acme = app.login_as("acme", "admin", &admin_password("acme")).await;
    let (s, b) = app.post(&path, Some(&acme), &good).await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (s, b) = app
        .post(&preview_path(xid, 424_242), Some(&token), &good)
        .await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (s, b) = app.post(&path, None, &good).await;
    error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);

    // Bad bodies: each a 400 naming what is wrong.
    let cases = [
        (json!({"event": sample_event()}), "xelionEvent"),
        (
            json!({"event": sample_event(), "xelionEvent": "presenceEvent"}),
            "presenceEvent",
        ),
        (
            json!({"event": [1, 2], "xelionEvent": "newCallEvent"}),
            "event",
        ),
        (
            json!({"event": "x", "xelionEvent": "newCallEvent"}),
            "event",
        ),
        (json!({"xelionEvent": "newCallEvent"}), "event"),
        (
            json!({"event": {}, "xelionEvent": "newCallEvent", "extra": 1}),
            "extra",
        ),
        (
            json!({"event": {}, "xelionEvent": "newCallEvent", "eventUriMappings": [
                {"xelionEvent": "newCallEvent", "crmResourceUri": "https://x.example/", "method": "HEAD"}]}),
            "eventUriMappings[0].method",
        ),
        (
            json!({"event": {}, "xelionEvent": "newCallEvent", "eventUriMappings": [
                {"xelionEvent": "newCallEvent", "crmResourceUri": "https://x.example/",
                 "headers": {"Authorization": "Bearer x"}}]}),
            "Authorization",
        ),
        (
            json!({"event": {}, "xelionEvent": "newCallEvent", "eventUriMappings": [
                {"xelionEvent": "newCallEvent", "crmResourceUri": "ftp://x.example/"}]}),
            "eventUriMappings[0].crmResourceUri",
        ),
    ];
    for (body, names) in cases {
        let (s, b) = app.post(&path, Some(&token), &body).await;
        let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
        assert!(msg.contains(names), "{body}: {msg}");
    }
    let (s, b) = app
        .request_raw(reqwest::Method::POST, &path, Some(&token), Vec::new())
        .await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10200);
    let (s, b) = app
        .request_raw(
            reqwest::Method::POST,
            &path,
            Some(&token),
            b"{nope".to_vec(),
        )
        .await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
}
both_backends!(bad_bodies_and_other_tenants_are_refused);

#[actix_rt::test]
async fn the_preview_is_in_the_openapi_document() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (s, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    let op = &doc["paths"][preview_path_template()]["post"];
    assert!(op["requestBody"].is_object(), "{op}");
    let schemas = &doc["components"]["schemas"];
    for name in [
        "MappingPreviewRequest",
        "MappingPreview",
        "MappingPreviewItem",
        "PreviewedRequest",
        "PreviewTemplateError",
    ] {
        assert!(schemas[name].is_object(), "{name} missing");
    }
}

fn preview_path_template() -> &'static str {
    "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings/preview"
}
