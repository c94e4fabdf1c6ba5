use serde_json::json;

use super::*;
use crate::domain::CrmContextId;

/// The CTI API document's `PUT event-uri-mappings` example (Zoho PhoneBridge).
fn zoho() -> Vec<EventUriMapping> {
    let doc: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/example-event-uri-mappings-put.json"
    ))
    .unwrap();
    doc.as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, m)| mapping(i as i64 + 1, m))
        .collect()
}

fn mapping(id: i64, m: &Value) -> EventUriMapping {
    EventUriMapping {
        id: MappingId(id),
        crm_context_id: CrmContextId(1),
        xelion_event: m["xelionEvent"].as_str().unwrap().parse().unwrap(),
        crm_resource_uri: m["crmResourceUri"].as_str().unwrap().to_string(),
        crm_resource_payload: m.get("crmResourcePayload").cloned(),
        method: m
            .get("method")
            .and_then(Value::as_str)
            .map(|s| s.parse().unwrap())
            .unwrap_or_default(),
        headers: m.get("headers").cloned(),
        created_at: String::new(),
    }
}

fn compiled(event: XelionEvent) -> CompiledMapping {
    let m = zoho()
        .into_iter()
        .find(|m| m.xelion_event == event)
        .unwrap();
    CompiledMapping::compile(&m).unwrap()
}

fn event() -> Map<String, Value> {
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
    .as_object()
    .unwrap()
    .clone()
}

const ZOHO: &str = "https://example.org/cti-server-stub/api/zoho/services/crm/v2/phonebridge";

#[test]
fn the_documents_zoho_mappings_render_to_exact_requests() {
    let e = event();
    let connected = render(
        &compiled(XelionEvent::CallConnected),
        XelionEvent::CallConnected,
        &e,
    )
    .unwrap();
    assert_eq!(connected.method, HttpMethod::Post);
    assert_eq!(
        connected.uri,
        format!("{ZOHO}/callanswered?callrefid=186ba647df1ef222&fromnumber=%2B31612345678&tonumber=%2B31201234567")
    );
    assert_eq!(
        connected.headers,
        vec![("Content-Type".to_string(), "application/json".to_string())]
    );
    let body: Value = serde_json::from_str(connected.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({
            "fromNumber": "+31612345678", "callerUser": "", "calleeUser": "alice",
            "myObject": {"myPayload": "186ba647df1ef222"},
            "calleeFlowId": "2018-09-12-09:50:43-00000003", "toNumber": "+31201234567",
            "callerFlowId": "2018-09-12-09:50:43-00000002"
        })
    );

    let hung_up = render(
        &compiled(XelionEvent::CallHungUp),
        XelionEvent::CallHungUp,
        &e,
    )
    .unwrap();
    assert_eq!(
        hung_up.uri,
        format!("{ZOHO}/callhungup?callrefid=186ba647df1ef222&fromnumber=%2B31612345678&tonumber=%2B31201234567&callstarttime=2024-05-14%2010%3A21%3A07&direction=inbound&duration=30")
    );
    assert_eq!(hung_up.body, None, "a null payload sends no body");
    assert!(hung_up.headers.is_empty(), "no body, no Content-Type");

    let missed = render(
        &compiled(XelionEvent::MissedCall),
        XelionEvent::MissedCall,
        &e,
    )
    .unwrap();
    assert_eq!(
        missed.uri,
        format!("{ZOHO}/callmissed?calleeFlowId=2018-09-12-09%3A50%3A43-00000003&fromnumber=%2B31612345678&tonumber=%2B31201234567")
    );
}

#[test]
fn the_event_type_is_a_variable_and_fields_keep_their_types() {
    let m = mapping(
        9,
        &json!({
            "xelionEvent": "callHungUpEvent",
            "crmResourceUri": "https://crm.example/calls/${callId}/${xelionEvent}",
            "crmResourcePayload": {"type": "${xelionEvent}", "duration": "${duration}",
                                   "minutes": "${duration / 60}", "missing": "${nobody}"},
            "method": "put",
            "headers": {"X-Source": "xelion", "content-type": "application/vnd.api+json"}
        }),
    );
    let r = render(
        &CompiledMapping::compile(&m).unwrap(),
        XelionEvent::CallHungUp,
        &event(),
    )
    .unwrap();
    assert_eq!(r.method, HttpMethod::Put);
    assert_eq!(
        r.uri,
        "https://crm.example/calls/186ba647df1ef222/callHungUpEvent"
    );
    assert_eq!(
        serde_json::from_str::<Value>(r.body.as_deref().unwrap()).unwrap(),
        json!({"type": "callHungUpEvent", "duration": 42, "minutes": 0.7, "missing": null})
    );
    // The mapping's own Content-Type replaces the default.
    assert_eq!(
        r.headers,
        vec![
            ("X-Source".to_string(), "xelion".to_string()),
            (
                "content-type".to_string(),
                "application/vnd.api+json".to_string()
            )
        ]
    );
    // A field named xelionEvent does not override the event type.
    let mut e = event();
    e.insert("xelionEvent".into(), json!("forged"));
    let r = render(
        &CompiledMapping::compile(&m).unwrap(),
        XelionEvent::CallHungUp,
        &e,
    )
    .unwrap();
    assert!(r.uri.ends_with("/callHungUpEvent"), "{}", r.uri);
}

#[test]
fn a_payload_that_renders_to_null_sends_no_body() {
    let m = mapping(
        3,
        &json!({"xelionEvent": "newCallEvent", "crmResourceUri": "https://crm.example/x",
                "crmResourcePayload": "${nothing}"}),
    );
    let r = render(
        &CompiledMapping::compile(&m).unwrap(),
        XelionEvent::NewCall,
        &event(),
    )
    .unwrap();
    assert_eq!(r.body, None);
    assert!(r.headers.is_empty());
}

#[test]
fn parse_errors_name_the_template_and_column() {
    let m = mapping(
        4,
        &json!({"xelionEvent": "newCallEvent", "crmResourceUri": "https://crm.example/x?id=${callId + }"}),
    );
    let e = CompiledMapping::compile(&m).unwrap_err();
    assert_eq!(e.stage, Stage::Parse);
    assert_eq!(e.field, TemplateField::Uri);
    assert_eq!(e.column, Some(37));
    assert!(
        e.to_string().starts_with("crmResourceUri: column 37: "),
        "{e}"
    );

    let m = mapping(
        5,
        &json!({"xelionEvent": "newCallEvent", "crmResourceUri": "https://crm.example/x",
                "crmResourcePayload": {"myObject": {"callId": "${callId"}}}),
    );
    let e = CompiledMapping::compile(&m).unwrap_err();
    assert_eq!(e.field, TemplateField::Payload);
    assert_eq!(e.path.as_deref(), Some("myObject.callId"));
    assert_eq!(e.column, Some(9));
    assert_eq!(
        e.to_string(),
        "crmResourcePayload.myObject.callId: column 9: expected `}`"
    );
}

#[test]
fn render_errors_name_the_template_and_position_without_values() {
    let m = mapping(
        6,
        &json!({"xelionEvent": "newCallEvent", "crmResourceUri": "https://crm.example/x",
                "crmResourcePayload": {"items": ["ok", "${callId + 1}"]}}),
    );
    let c = CompiledMapping::compile(&m).unwrap();
    let e = render(&c, XelionEvent::NewCall, &event()).unwrap_err();
    assert_eq!(e.stage, Stage::Render);
    assert_eq!(e.field, TemplateField::Payload);
    assert_eq!(e.path.as_deref(), Some("items[1]"));
    assert!(e.column.is_some());
    assert!(
        e.to_string()
            .starts_with("crmResourcePayload.items[1]: column "),
        "{e}"
    );
    assert!(!e.to_string().contains("186ba647"), "no call data: {e}");

    // A URI that renders to something that is not an http(s) URL.
    for (uri, vars) in [
        ("${target}", json!({"target": "ftp://crm.example/x"})),
        ("${target}/x", json!({})),
    ] {
        let m = mapping(
            7,
            &json!({"xelionEvent": "newCallEvent", "crmResourceUri": uri}),
        );
        let c = CompiledMapping::compile(&m).unwrap();
        let e = render(&c, XelionEvent::NewCall, vars.as_object().unwrap()).unwrap_err();
        assert_eq!((e.stage, e.field), (Stage::Render, TemplateField::Uri));
        assert!(!e.to_string().contains("crm.example"), "{e}");
    }
}

#[test]
fn authorize_adds_the_token_and_the_key_and_debug_hides_the_token() {
    let mut r = render(
        &compiled(XelionEvent::NewCall),
        XelionEvent::NewCall,
        &event(),
    )
    .unwrap();
    authorize(&mut r, "Bearer ", "tok-S3CRET", 42);
    authorize(&mut r, "Zoho-oauthtoken ", "tok-S3CRET", 43);
    assert_eq!(
        r.headers,
        vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            (
                "Authorization".to_string(),
                "Zoho-oauthtoken tok-S3CRET".to_string()
            ),
            ("Idempotency-Key".to_string(), "43".to_string()),
        ]
    );
    let debug = format!("{r:?}");
    assert!(!debug.contains("S3CRET"), "{debug}");
    assert!(debug.contains("Idempotency-Key"), "{debug}");
}
