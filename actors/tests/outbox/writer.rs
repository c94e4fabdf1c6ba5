//! The group-commit writer: many callers, one transaction, each answered with its own rows.

use std::collections::HashSet;
use std::time::Duration;

use cti_actors::outbox::{OutboxSettings, OutboxWriter};
use cti_actors::store::{
    Attempt, Backend, DeliveryFilter, DeliveryStatus, Retention, StatusUpdate, StoreError,
    Timestamp, XelionEvent,
};

use crate::{both, Ctx, Tenant};

/// A writer that waits long enough for concurrent callers to share a batch.
fn settings() -> OutboxSettings {
    OutboxSettings {
        max_delay: Duration::from_millis(30),
        ..OutboxSettings::default()
    }
}

both!(callers_get_their_own_new_rows);
async fn callers_get_their_own_new_rows(ctx: Ctx) {
    let t = Tenant::create(&ctx.store, "t").await;
    let writer = OutboxWriter::start(ctx.store.clone(), settings());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let w = writer.clone();
        // Two deliveries each (callHungUpEvent has two mappings); callers 0 and 1 bring the
        // same event, as Xelion does for an attended transfer.
        let event = t.event(
            t.alice,
            XelionEvent::CallHungUp,
            &format!("call-{}", i.max(1)),
        );
        tasks.push(tokio::spawn(
            async move { (i, w.accept(event).await.unwrap()) },
        ));
    }
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    for task in tasks {
        let (i, got) = task.await.unwrap();
        if got.is_empty() {
            duplicates += 1;
            assert!(i <= 1, "caller {i} lost its event");
            continue;
        }
        assert_eq!(got.len(), 2);
        assert!(got[0].id < got[1].id);
        assert_eq!(got[0].call_id, format!("call-{}", i.max(1)));
        assert!(got.iter().all(|d| d.status == DeliveryStatus::Pending));
        for d in got {
            assert!(seen.insert(d.id), "an id answered twice");
        }
    }
    assert_eq!(duplicates, 1, "the transfer duplicate is dropped once");
    assert_eq!(ctx.count("SELECT COUNT(*) FROM deliveries").await, 78);
    // Accepted rows are leased: the recovery poll leaves them to their callers.
    assert!(writer.claim_due(100).await.unwrap().is_empty());
    writer.close().await;
}

both!(status_updates_are_batched_too);
async fn status_updates_are_batched_too(ctx: Ctx) {
    let t = Tenant::create(&ctx.store, "t").await;
    let writer = OutboxWriter::start(ctx.store.clone(), settings());
    let batch: Vec<_> = (0..20)
        .flat_map(|i| t.event(t.bob, XelionEvent::NewCall, &format!("c{i}")))
        .collect();
    let rows = writer.accept(batch).await.unwrap();
    let mut tasks = Vec::new();
    for (i, d) in rows.iter().enumerate() {
        let w = writer.clone();
        let attempt = Attempt {
            at: Timestamp::now(),
            status: Some(if i % 2 == 0 { 200 } else { 503 }),
            duration_ms: 3,
            excerpt: None,
            error: None,
        };
        let update = if i % 2 == 0 {
            StatusUpdate::Delivered { id: d.id, attempt }
        } else {
            StatusUpdate::RetryAt {
                id: d.id,
                attempt,
                at: Timestamp::now(),
            }
        };
        tasks.push(tokio::spawn(async move { w.record(update).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let page = ctx
        .store
        .deliveries(t.xid, &DeliveryFilter::default(), None, 100)
        .await
        .unwrap();
    let delivered = page
        .items
        .iter()
        .filter(|d| d.delivery.status == DeliveryStatus::Delivered)
        .count();
    assert_eq!(delivered, 10);
    assert!(page.items.iter().all(|d| d.attempts.len() == 1));
    // The retries are due now and released to the recovery poll.
    let claimed = writer.claim_due(100).await.unwrap();
    assert_eq!(claimed.len(), 10);
    assert!(claimed.iter().all(|d| d.status == DeliveryStatus::Retrying));
    writer.close().await;
}

both!(a_refused_job_fails_alone);
async fn a_refused_job_fails_alone(ctx: Ctx) {
    let t = Tenant::create(&ctx.store, "t").await;
    let gone = Tenant::create(&ctx.store, "gone").await;
    let stale = gone.event(gone.alice, XelionEvent::NewCall, "c1");
    ctx.store.delete_xelion_context(gone.xid).await.unwrap();
    let writer = OutboxWriter::start(ctx.store.clone(), settings());
    let (w1, w2) = (writer.clone(), writer.clone());
    let good = t.event(t.alice, XelionEvent::NewCall, "c1");
    let (ok, bad) = tokio::join!(
        tokio::spawn(async move { w1.accept(good).await }),
        tokio::spawn(async move { w2.accept(stale).await }),
    );
    assert_eq!(
        ok.unwrap().unwrap().len(),
        1,
        "the good caller is not failed"
    );
    let bad = bad.unwrap();
    assert!(matches!(bad, Err(StoreError::Database(_))), "{bad:?}");
    writer.close().await;
}

both!(close_commits_what_is_queued);
async fn close_commits_what_is_queued(ctx: Ctx) {
    let t = Tenant::create(&ctx.store, "t").await;
    let writer = OutboxWriter::start(
        ctx.store.clone(),
        OutboxSettings {
            max_delay: Duration::from_secs(5),
            ..OutboxSettings::default()
        },
    );
    // The accept is queued first (its first poll sends it), the close right after it: the
    // accept is committed at once instead of after the five seconds.
    let event = t.event(t.alice, XelionEvent::NewCall, "c1");
    let (accepted, ()) = tokio::join!(writer.accept(event), writer.close());
    assert_eq!(accepted.unwrap().len(), 1);
    assert_eq!(ctx.count("SELECT COUNT(*) FROM deliveries").await, 1);
    let late = writer
        .accept(t.event(t.alice, XelionEvent::NewCall, "c2"))
        .await;
    assert!(matches!(late, Err(StoreError::Outbox(_))), "{late:?}");
}

both!(a_restart_recovers_what_was_in_memory);
async fn a_restart_recovers_what_was_in_memory(ctx: Ctx) {
    let t = Tenant::create(&ctx.store, "t").await;
    let first = OutboxWriter::start(ctx.store.clone(), settings());
    let rows = first
        .accept(t.event(t.alice, XelionEvent::NewCall, "c1"))
        .await
        .unwrap();
    // The process dies with the row in memory (leased for five minutes).
    drop(first);
    let second = OutboxWriter::start(ctx.reopen().await, settings());
    let claimed = second.claim_due(10).await.unwrap();
    // One instance per database: the new writer ends the old leases at once.
    assert_eq!(
        claimed.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![rows[0].id]
    );
    second.close().await;
}

both!(old_rows_are_pruned_on_a_timer);
async fn old_rows_are_pruned_on_a_timer(ctx: Ctx) {
    let t = Tenant::create(&ctx.store, "t").await;
    let writer = OutboxWriter::start(
        ctx.store.clone(),
        OutboxSettings {
            max_delay: Duration::ZERO,
            prune_every: Duration::from_millis(20),
            retention: Retention {
                delivered: Duration::ZERO,
                ..Retention::default()
            },
            ..OutboxSettings::default()
        },
    );
    let rows = writer
        .accept(t.event(t.alice, XelionEvent::NewCall, "c1"))
        .await
        .unwrap();
    writer
        .record(StatusUpdate::Delivered {
            id: rows[0].id,
            attempt: Attempt {
                at: Timestamp::now(),
                status: Some(204),
                duration_ms: 1,
                excerpt: None,
                error: None,
            },
        })
        .await
        .unwrap();
    let mut polls = 0;
    while ctx.count("SELECT COUNT(*) FROM deliveries").await > 0 {
        polls += 1;
        assert!(polls < 500, "the delivered row was never pruned");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The dedupe key outlives it (24 h): the event is still a duplicate.
    let again = writer
        .accept(t.event(t.alice, XelionEvent::NewCall, "c1"))
        .await
        .unwrap();
    assert!(again.is_empty());
    writer.close().await;
}

/// SQLite: no commit checkpoints the write-ahead log; the writer's checkpointer does, beside
/// the commits, and restarts the log once it is past its bound, so the `-wal` file stops
/// growing however long the writes go on. Nothing written is lost on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_log_stays_bounded() {
    let ctx = Ctx::new(Backend::Sqlite).await;
    let t = Tenant::create(&ctx.store, "t").await;
    let bound = 64;
    let writer = OutboxWriter::start(
        ctx.store.clone(),
        OutboxSettings {
            max_delay: Duration::ZERO,
            checkpoint_every: Duration::from_millis(5),
            wal_restart_pages: bound,
            ..OutboxSettings::default()
        },
    );
    // One commit per event: about ten pages of log each.
    accept_one_at_a_time(&writer, &t, 600).await;
    let wal = std::fs::metadata(wal_file(&ctx)).unwrap().len();
    // 600 commits leave several thousand pages (over 10 MiB) when the log never starts again.
    assert!(
        wal < 4 * 1024 * 1024,
        "the -wal file grew to {wal} bytes with a bound of {bound} pages"
    );
    assert_eq!(
        ctx.count("SELECT COUNT(*) FROM deliveries").await,
        600,
        "every accepted delivery is stored"
    );
    writer.close().await;
}

/// A server that stops leaves no `-wal` file beside its database: SQLite removes the log when
/// its last connection closes, so every connection the writer and its checkpointer used has
/// to be closed by the time the store is. Several rounds, since a connection left to close on
/// its own thread loses the race only some of the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_writer_and_store_leave_no_sqlite_log() {
    for round in 0..20 {
        let ctx = Ctx::new(Backend::Sqlite).await;
        let t = Tenant::create(&ctx.store, "t").await;
        let writer = OutboxWriter::start(
            ctx.store.clone(),
            OutboxSettings {
                max_delay: Duration::ZERO,
                checkpoint_every: Duration::from_millis(1),
                ..OutboxSettings::default()
            },
        );
        accept_one_at_a_time(&writer, &t, 20).await;
        // A claim and a prune run on connections taken from the pool for the moment.
        assert!(writer.claim_due(10).await.unwrap().is_empty());
        writer.prune_now().await.unwrap();
        writer.close().await;
        ctx.store.close().await;
        assert!(
            !wal_file(&ctx).exists(),
            "round {round}: the -wal file is still there after the store closed"
        );
        let check = ctx.reopen().await;
        assert_eq!(
            check
                .raw_i64("SELECT COUNT(*) FROM deliveries")
                .await
                .unwrap(),
            20,
            "round {round}: every accepted delivery is in the database file"
        );
        check.close().await;
    }
}

/// Accepts `n` events of alice's, each in a commit of its own.
async fn accept_one_at_a_time(writer: &OutboxWriter, t: &Tenant, n: usize) {
    for i in 0..n {
        let accepted = writer
            .accept(t.event(t.alice, XelionEvent::NewCall, &format!("c{i}")))
            .await
            .unwrap();
        assert_eq!(accepted.len(), 1);
    }
}

/// The write-ahead log beside a SQLite test database.
fn wal_file(ctx: &Ctx) -> std::path::PathBuf {
    let file = ctx.url.trim_start_matches("sqlite://").split('?').next();
    std::path::PathBuf::from(format!("{}-wal", file.unwrap()))
}
