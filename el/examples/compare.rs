//! `cti-el`'s side of the comparison with Apache Tomcat's EL (`el/compare/run.sh`): the four
//! mappings of the CTI API document's `PUT event-uri-mappings` example rendered for one call
//! event, as the dispatcher renders them: the event's variables indexed once, each URI
//! percent-encoded and each payload rendered to its JSON text, into reused buffers.
//!
//! Prints the rendered output once (the runner compares it with Tomcat's), then the CPU time
//! per event: the best of several rounds of many events, after a warm-up, measured with the
//! thread's CPU clock (the machine may be shared).
//!
//! `cargo run --release -p cti-el --example compare [rounds] [events per round] [warm-up ms]`

use std::hint::black_box;

use cti_el::{PayloadTemplate, UriTemplate, Vars};
use serde_json::{Map, Value};

const MAPPINGS: &str = include_str!("../../tests/fixtures/example-event-uri-mappings-put.json");
const EVENT: &str = include_str!("../benches/data/example-call-event.json");

struct Mapping {
    uri: UriTemplate,
    payload: Option<PayloadTemplate>,
}

fn mappings() -> Vec<Mapping> {
    let doc: Value = serde_json::from_str(MAPPINGS).expect("the mappings fixture");
    doc.as_array()
        .expect("an array of mappings")
        .iter()
        .map(|m| Mapping {
            uri: UriTemplate::parse(m["crmResourceUri"].as_str().expect("a URI").trim())
                .expect("the URI parses"),
            payload: match &m["crmResourcePayload"] {
                Value::Null => None,
                p => Some(PayloadTemplate::parse(p).expect("the payload parses")),
            },
        })
        .collect()
}

/// One event: its variables indexed, then every mapping's URI and payload rendered.
fn render_event<'a>(
    mappings: &[Mapping],
    event: &'a Map<String, Value>,
    vars: &mut Vars<'a>,
    uri: &mut String,
    body: &mut String,
) -> usize {
    vars.clear();
    vars.extend_map(event);
    vars.insert_str("xelionEvent", "callHungUpEvent");
    let mut n = 0;
    for m in mappings {
        uri.clear();
        m.uri.render_to(vars, uri).expect("the URI renders");
        n += uri.len();
        if let Some(p) = &m.payload {
            body.clear();
            p.render_json(vars, body).expect("the payload renders");
            n += body.len();
        }
    }
    n
}

/// The calling thread's CPU time in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u32 = args.next().map_or(10, |a| a.parse().expect("rounds"));
    let per_round: u32 = args
        .next()
        .map_or(1_000_000, |a| a.parse().expect("events"));
    let warm_up_ms: u64 = args
        .next()
        .map_or(2_000, |a| a.parse().expect("warm-up ms"));
    let mappings = mappings();
    let event: Value = serde_json::from_str(EVENT).expect("the event fixture");
    let event = event.as_object().expect("an object");
    let mut vars = Vars::new();
    let (mut uri, mut body) = (String::with_capacity(512), String::with_capacity(512));

    vars.extend_map(event);
    vars.insert_str("xelionEvent", "callHungUpEvent");
    for m in &mappings {
        uri.clear();
        m.uri.render_to(&vars, &mut uri).expect("the URI renders");
        println!("uri {uri}");
        if let Some(p) = &m.payload {
            body.clear();
            p.render_json(&vars, &mut body)
                .expect("the payload renders");
            println!("payload {body}");
        }
    }

    let mut sink = 0usize;
    let warm_up = thread_cpu_ns() + warm_up_ms * 1_000_000;
    while thread_cpu_ns() < warm_up {
        for _ in 0..10_000 {
            sink += render_event(black_box(&mappings), event, &mut vars, &mut uri, &mut body);
        }
    }
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t0 = thread_cpu_ns();
        for _ in 0..per_round {
            sink += render_event(black_box(&mappings), event, &mut vars, &mut uri, &mut body);
        }
        let t1 = thread_cpu_ns();
        best = best.min((t1 - t0) as f64 / f64::from(per_round));
    }
    println!("cti_el_ns_per_event {best:.1}");
    println!("sink {}", black_box(sink) & 1);
}
