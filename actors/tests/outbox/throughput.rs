//! How many deliveries per second the writer takes, alone: many callers accept events and
//! record each delivery delivered with its attempt, as routing and dispatch will. Ignored by
//! default; run with
//! `cargo test --release -p cti-actors --test outbox throughput -- --ignored --nocapture`.
//! It prints figures and asserts only that every delivery was written.
//! `XCTI_BENCH_CALLERS` sets the number of concurrent callers (default 64).

use std::time::{Duration, Instant};

use cti_actors::outbox::{OutboxSettings, OutboxWriter};
use cti_actors::store::{Attempt, Backend, StatusUpdate, Timestamp, XelionEvent};

use crate::{Ctx, Tenant};

/// Deliveries per run, one per event, shared out among the callers.
const DELIVERIES: usize = 32_000;

/// Concurrent callers (tenants and dispatchers).
fn callers() -> usize {
    std::env::var("XCTI_BENCH_CALLERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(64)
}

async fn measure(backend: Backend) {
    let ctx = Ctx::new(backend).await;
    let t = Tenant::create(&ctx.store, "t").await;
    let writer = OutboxWriter::start(ctx.store.clone(), OutboxSettings::default());
    // Accept alone.
    let cpu = cpu_seconds();
    let accept_rate = run(&writer, &t, 0, false).await;
    let accept_cpu = cpu_seconds().zip(cpu).map(|(b, a)| b - a);
    // Accept, then record delivered with an attempt: the writer's whole share of a delivery.
    let cpu = cpu_seconds();
    let both_rate = run(&writer, &t, 1, true).await;
    let both_cpu = cpu_seconds().zip(cpu).map(|(b, a)| b - a);
    let rows = ctx.count("SELECT COUNT(*) FROM deliveries").await;
    let callers = callers();
    assert_eq!(rows as usize, 2 * callers * (DELIVERIES / callers));
    let stats = writer.stats();
    println!(
        "outbox writer on {backend:?}: {accept_rate:.0} deliveries/s accepted; \
         {both_rate:.0} deliveries/s accepted and recorded delivered ({callers} callers, \
         {} deliveries per run; {} transactions, {:.0} rows each on average)",
        callers * (DELIVERIES / callers),
        stats.batches,
        (stats.accepted + stats.updates) as f64 / stats.batches.max(1) as f64
    );
    // CPU time does not depend on what else the machine runs, as wall time does.
    let per = |cpu: Option<f64>| match cpu {
        Some(s) => format!("{:.0} µs", s * 1e6 / DELIVERIES as f64),
        None => "n/a".to_string(),
    };
    println!(
        "  CPU time of the whole process per delivery (callers included): {} to accept, {} to \
         accept and record",
        per(accept_cpu),
        per(both_cpu)
    );
    writer.close().await;
}

/// Deliveries per second of one run.
async fn run(writer: &OutboxWriter, t: &Tenant, round: usize, record: bool) -> f64 {
    let callers = callers();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let writer = writer.clone();
        let events: Vec<_> = (0..DELIVERIES / callers)
            .map(|i| {
                t.event(
                    t.alice,
                    XelionEvent::NewCall,
                    &format!("{round}-{caller}-{i}"),
                )
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut records = Vec::new();
            for event in events {
                let accepted = writer.accept(event).await.unwrap();
                if record {
                    for d in accepted {
                        let update = StatusUpdate::Delivered {
                            id: d.id,
                            attempt: Attempt {
                                at: Timestamp::now(),
                                status: Some(200),
                                duration_ms: 4,
                                excerpt: Some("{\"id\":\"5f3a\"}".to_string()),
                                error: None,
                            },
                        };
                        // Dispatch does not wait for the record: it runs alongside.
                        let w = writer.clone();
                        records.push(tokio::spawn(async move { w.record(update).await.unwrap() }));
                    }
                }
            }
            for r in records {
                r.await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    (callers * (DELIVERIES / callers)) as f64 / elapsed.as_secs_f64()
}

/// User and system CPU seconds of this process so far (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses): utime and stime are the 12th
    // and 13th, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it on purpose, in release mode"]
async fn throughput_sqlite() {
    measure(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it on purpose, in release mode"]
async fn throughput_postgres() {
    measure(Backend::Postgres).await;
}
