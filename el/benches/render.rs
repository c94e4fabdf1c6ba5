//! Renders the four event URI mappings of the CTI API document's `POST crm-integrations`
//! example (URI + payload each, `benches/data/example-crm-integration.json`) for one call event:
//! the work the router does per event and mapping set.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use cti_el::{PayloadTemplate, UriTemplate};
use serde_json::{json, Value};

fn mappings() -> Vec<(UriTemplate, PayloadTemplate)> {
    let doc: Value =
        serde_json::from_str(include_str!("data/example-crm-integration.json")).expect("fixture");
    doc["eventUriMappings"]
        .as_array()
        .expect("eventUriMappings")
        .iter()
        .map(|m| {
            (
                UriTemplate::parse(m["crmResourceUri"].as_str().expect("uri")).expect("uri parses"),
                PayloadTemplate::parse(&m["crmResourcePayload"]).expect("payload parses"),
            )
        })
        .collect()
}

fn event() -> Value {
    json!({
        "initiation": "outgoing",
        "date": "2024-05-14 10:21:07",
        "callId": "186ba647df1ef222",
        "callerPhoneNumber": "+31201234567",
        "calleePhoneNumber": "+31612345678",
        "duration": 0,
        "callerUser": "jdevries",
        "calleeUser": "",
        "callerFlowId": "2018-09-12-09:50:43-00000002",
        "calleeFlowId": "2018-09-12-09:50:43-00000003"
    })
}

fn render_all(mappings: &[(UriTemplate, PayloadTemplate)], event: &Value) -> usize {
    let mut n = 0;
    for (uri, payload) in mappings {
        n += uri.render(event).map(|s| s.len()).unwrap_or(0);
        n += payload
            .render(event)
            .map(|v| usize::from(!v.is_null()))
            .unwrap_or(0);
    }
    n
}

fn bench(c: &mut Criterion) {
    let mappings = mappings();
    let event = event();
    assert_eq!(mappings.len(), 4);
    c.bench_function("render 4 mappings (URI + payload) for one event", |b| {
        b.iter(|| render_all(black_box(&mappings), black_box(&event)))
    });
    c.bench_function("parse the fixture and its 4 mappings", |b| {
        b.iter(|| black_box(self::mappings()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
