//! Renders the event URI mappings of the CTI API document's examples for one call event
//! (`benches/data/example-call-event.json`):
//! - the `PUT event-uri-mappings` example (four Zoho PhoneBridge URIs, two payloads), the
//!   workload `compare/run.sh` measures against Tomcat, the way the dispatcher renders it
//!   (variables indexed once per event, URIs and JSON bodies written into reused buffers);
//! - the `POST crm-integrations` example (`benches/data/example-crm-integration.json`), both
//!   that way and through the JSON-value API (`render(&Json)`), which must not regress.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use cti_el::{PayloadTemplate, UriTemplate, Vars};
use serde_json::{Map, Value};

const PUT_EXAMPLE: &str = include_str!("../../tests/fixtures/example-event-uri-mappings-put.json");
const POST_EXAMPLE: &str = include_str!("data/example-crm-integration.json");
const EVENT: &str = include_str!("data/example-call-event.json");

type Mappings = Vec<(UriTemplate, Option<PayloadTemplate>)>;

fn parse(mappings: &Value) -> Mappings {
    mappings
        .as_array()
        .expect("an array of mappings")
        .iter()
        .map(|m| {
            (
                UriTemplate::parse(m["crmResourceUri"].as_str().expect("uri").trim())
                    .expect("uri parses"),
                match &m["crmResourcePayload"] {
                    Value::Null => None,
                    p => Some(PayloadTemplate::parse(p).expect("payload parses")),
                },
            )
        })
        .collect()
}

fn put_example() -> Mappings {
    parse(&serde_json::from_str(PUT_EXAMPLE).expect("fixture"))
}

fn post_example() -> Mappings {
    let doc: Value = serde_json::from_str(POST_EXAMPLE).expect("fixture");
    parse(&doc["eventUriMappings"])
}

fn event() -> Map<String, Value> {
    match serde_json::from_str(EVENT).expect("fixture") {
        Value::Object(fields) => fields,
        _ => panic!("the event is an object"),
    }
}

/// The dispatcher's way: variables indexed once, URIs and JSON bodies into reused buffers.
fn render_fast(
    mappings: &Mappings,
    fields: &Map<String, Value>,
    uri: &mut String,
    body: &mut String,
) -> usize {
    let mut vars = Vars::from_map(fields);
    vars.insert_str("xelionEvent", "callHungUpEvent");
    let mut n = 0;
    for (u, p) in mappings {
        uri.clear();
        u.render_to(&vars, uri).expect("renders");
        n += uri.len();
        if let Some(p) = p {
            body.clear();
            p.render_json(&vars, body).expect("renders");
            n += body.len();
        }
    }
    n
}

/// The JSON-value API: a new String per URI and a `serde_json::Value` per payload.
fn render_json_values(mappings: &Mappings, event: &Value) -> usize {
    let mut n = 0;
    for (uri, payload) in mappings {
        n += uri.render(event).map(|s| s.len()).unwrap_or(0);
        if let Some(p) = payload {
            n += p
                .render(event)
                .map(|v| usize::from(!v.is_null()))
                .unwrap_or(0);
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let fields = event();
    let event = Value::Object(fields.clone());
    let (mut uri, mut body) = (String::new(), String::new());

    let put = put_example();
    assert_eq!(put.len(), 4);
    c.bench_function(
        "PUT example: 4 mappings for one event (Vars, render_to, render_json)",
        |b| b.iter(|| render_fast(black_box(&put), black_box(&fields), &mut uri, &mut body)),
    );

    let post = post_example();
    assert_eq!(post.len(), 4);
    c.bench_function(
        "POST example: 4 mappings for one event (Vars, render_to, render_json)",
        |b| b.iter(|| render_fast(black_box(&post), black_box(&fields), &mut uri, &mut body)),
    );
    // The names of the two benchmarks below are kept from earlier versions, so that
    // `--baseline` comparisons go on matching them.
    c.bench_function("render 4 mappings (URI + payload) for one event", |b| {
        b.iter(|| render_json_values(black_box(&post), black_box(&event)))
    });
    c.bench_function("parse the fixture and its 4 mappings", |b| {
        b.iter(|| black_box(post_example()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
