//! Renders the CTI API document's `PUT event-uri-mappings` example (Zoho PhoneBridge) for one
//! call event: the work a dispatcher does per delivery, with templates compiled once and
//! looked up in the shared cache.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use cti_actors::dispatch::render::{
    authorize, render, render_vars, variables, CompiledMapping, MappingCache,
};
use cti_actors::domain::{CrmContextId, MappingId, XelionEvent};
use cti_actors::store::EventUriMapping;
use serde_json::{json, Map, Value};

fn mappings() -> Vec<EventUriMapping> {
    let doc: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/example-event-uri-mappings-put.json"
    ))
    .expect("fixture");
    doc.as_array()
        .expect("an array")
        .iter()
        .enumerate()
        .map(|(i, m)| EventUriMapping {
            id: MappingId(i as i64 + 1),
            crm_context_id: CrmContextId(1),
            xelion_event: m["xelionEvent"]
                .as_str()
                .expect("event")
                .parse()
                .expect("event"),
            crm_resource_uri: m["crmResourceUri"].as_str().expect("uri").to_string(),
            crm_resource_payload: m.get("crmResourcePayload").cloned(),
            method: Default::default(),
            headers: None,
            created_at: String::new(),
        })
        .collect()
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
    .expect("an object")
    .clone()
}

fn bench(c: &mut Criterion) {
    let all = mappings();
    let fields = event();
    let cache = MappingCache::default();
    let connected = all
        .iter()
        .find(|m| m.xelion_event == XelionEvent::CallConnected)
        .expect("callConnectedEvent")
        .clone();
    let compiled = CompiledMapping::compile(&connected).expect("compiles");
    c.bench_function("render callConnectedEvent (URI + payload + headers)", |b| {
        b.iter(|| {
            let mut req =
                render(black_box(&compiled), XelionEvent::CallConnected, &fields).expect("renders");
            authorize(&mut req, "Bearer ", "token", 42);
            req
        })
    });
    c.bench_function("cache lookup + render, callConnectedEvent", |b| {
        b.iter(|| {
            let m = cache.compiled(black_box(&connected)).expect("compiles");
            render(&m, XelionEvent::CallConnected, &fields).expect("renders")
        })
    });
    let compiled_all: Vec<CompiledMapping> = all
        .iter()
        .map(|m| CompiledMapping::compile(m).expect("compiles"))
        .collect();
    c.bench_function("render the 4 Zoho mappings, variables built once", |b| {
        b.iter(|| {
            let vars = variables(XelionEvent::CallHungUp, black_box(&fields));
            compiled_all
                .iter()
                .map(|m| render_vars(m, &vars).map(|r| r.uri.len()).unwrap_or(0))
                .sum::<usize>()
        })
    });
    c.bench_function("compile one mapping (what the cache saves)", |b| {
        b.iter(|| CompiledMapping::compile(black_box(&connected)).expect("compiles"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
