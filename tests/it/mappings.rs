//! `event-uri-mappings`: GET and PUT with the count rule and template validation.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

async fn mappings_are_replaced_by_count_and_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let path = format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/event-uri-mappings");
    let (_, before) = app.get(&path, Some(&token)).await;
    let before = before.as_array().unwrap().clone();
    assert_eq!(before.len(), 4);

    // The document's PUT example (Zoho PhoneBridge), matched by event.
    let put: Value = serde_json::from_str(include_str!(
        "../fixtures/example-event-uri-mappings-put.json"
    ))
    .unwrap();
    let (s, after) = app.put(&path, Some(&token), &put).await;
    assert_eq!(s, StatusCode::OK, "{after}");
    let after = after.as_array().unwrap().clone();
    assert_eq!(after.len(), 4);
    let by_event = |list: &[Value], ev: &str| {
        list.iter()
            .find(|m| m["xelionEvent"] == ev)
            .cloned()
            .unwrap()
    };
    let missed = by_event(&after, "missedCallEvent");
    assert!(missed["crmResourceUri"]
        .as_str()
        .unwrap()
        .contains("phonebridge/callmissed?calleeFlowId=${calleeFlowId}"));
    assert_eq!(
        missed["crmResourcePayload"],
        Value::Null,
        "null means no body"
    );
    assert_eq!(
        missed["id"],
        by_event(&before, "missedCallEvent")["id"],
        "replaced in place"
    );
    let connected = by_event(&after, "callConnectedEvent");
    assert_eq!(
        connected["crmResourcePayload"]["myObject"]["myPayload"],
        "${callId}"
    );
    // GET shows the same.
    let (_, got) = app.get(&path, Some(&token)).await;
    assert_eq!(got.as_array().unwrap(), &after);

    // The count rule.
    let three = Value::Array(put.as_array().unwrap()[..3].to_vec());
    let (s, b) = app.put(&path, Some(&token), &three).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10204);
    assert!(msg.contains("3") && msg.contains("4"), "{msg}");

    // A template error: field path and column; nothing changes.
    let mut bad = put.clone();
    bad[1]["crmResourceUri"] = json!("https://crm.example/x?id=${callId + }");
    let (s, b) = app.put(&path, Some(&token), &bad).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10203);
    assert!(msg.starts_with("[1].crmResourceUri: column "), "{msg}");
    let mut bad = put.clone();
    bad[3]["crmResourcePayload"]["myObject"]["callId"] = json!("${'unterminated}");
    let (s, b) = app.put(&path, Some(&token), &bad).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10203);
    assert!(
        msg.starts_with("[3].crmResourcePayload.myObject.callId: column "),
        "{msg}"
    );
    let (_, unchanged) = app.get(&path, Some(&token)).await;
    assert_eq!(unchanged.as_array().unwrap(), &after);

    // By id, with the extensions (method, headers); GET output can be PUT back.
    let mut by_id = after.clone();
    for m in by_id.iter_mut() {
        if m["xelionEvent"] == "callHungUpEvent" {
            m["method"] = json!("patch");
            m["headers"] = json!({"X-Source": "xelion"});
            m["xelionEvent"] = json!("channelHungUpEvent");
        }
    }
    let (s, b) = app.put(&path, Some(&token), &Value::Array(by_id)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let changed = by_event(b.as_array().unwrap(), "channelHungUpEvent");
    assert_eq!(changed["method"], "PATCH");
    assert_eq!(changed["headers"], json!({"X-Source": "xelion"}));

    // Two elements for the same mapping, ids of other contexts, bad headers.
    let mut dup = after.clone();
    dup[1]["id"] = dup[0]["id"].clone();
    let (s, b) = app.put(&path, Some(&token), &Value::Array(dup)).await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    let mut foreign = after.clone();
    foreign[0]["id"] = json!(999_999);
    let (s, b) = app.put(&path, Some(&token), &Value::Array(foreign)).await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    let mut hdr = after.clone();
    hdr[0]["headers"] = json!({"Authorization": "Bearer x"});
    let (s, b) = app.put(&path, Some(&token), &Value::Array(hdr)).await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("Authorization"), "{msg}");

    // Unknown crm context.
    let (s, b) = app
        .put(
            &format!("/api/crm-integrations/{xid}/crm-contexts/424242/event-uri-mappings"),
            Some(&token),
            &put,
        )
        .await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
}
both_backends!(mappings_are_replaced_by_count_and_validated);
