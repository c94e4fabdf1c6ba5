//! How many deliveries per second the writer takes, alone: many callers accept events and
//! record each delivery delivered with its attempt, as routing and dispatch will. Ignored by
//! default; run with
//! `cargo test --release -p cti-actors --test outbox throughput -- --ignored --nocapture`.
//! It prints figures and asserts only that every delivery was written.

use std::time::{Duration, Instant};

use cti_actors::outbox::{OutboxSettings, OutboxWriter};
use cti_actors::store::{Attempt, Backend, StatusUpdate, Timestamp, XelionEvent};

use crate::{Ctx, Tenant};

/// Concurrent callers (tenants and dispatchers).
const CALLERS: usize = 64;
/// Events per caller; one delivery each.
const EVENTS: usize = 500;

async fn measure(backend: Backend) {
    let ctx = Ctx::new(backend).await;
    let t = Tenant::create(&ctx.store, "t").await;
    let writer = OutboxWriter::start(ctx.store.clone(), OutboxSettings::default());
    // Accept alone.
    let accept_rate = run(&writer, &t, 0, false).await;
    // Accept, then record delivered with an attempt: the writer's whole share of a delivery.
    let both_rate = run(&writer, &t, 1, true).await;
    let rows = ctx.count("SELECT COUNT(*) FROM deliveries").await;
    assert_eq!(rows as usize, 2 * CALLERS * EVENTS);
    let stats = writer.stats();
    println!(
        "outbox writer on {backend:?}: {accept_rate:.0} deliveries/s accepted; \
         {both_rate:.0} deliveries/s accepted and recorded delivered ({CALLERS} callers, \
         {} deliveries per run; {} transactions, {:.0} rows each on average)",
        CALLERS * EVENTS,
        stats.batches,
        (stats.accepted + stats.updates) as f64 / stats.batches.max(1) as f64
    );
    writer.close().await;
}

/// Deliveries per second of one run.
async fn run(writer: &OutboxWriter, t: &Tenant, round: usize, record: bool) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let writer = writer.clone();
        let events: Vec<_> = (0..EVENTS)
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
    (CALLERS * EVENTS) as f64 / elapsed.as_secs_f64()
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
