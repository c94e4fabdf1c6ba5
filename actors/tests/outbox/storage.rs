//! Batch writes, dedupe, claims, status updates and held rows, in storage.

use std::collections::HashSet;
use std::time::Duration;

use cti_actors::store::{
    Attempt, Backend, DeliveryFilter, DeliveryId, DeliveryStatus, StatusUpdate, StoreError,
    Timestamp, XelionEvent, EXCERPT_MAX,
};

use crate::{at, both, ids, Ctx, Tenant, LEASE};

fn attempt(status: Option<u16>, excerpt: &str) -> Attempt {
    Attempt {
        at: Timestamp::now(),
        status,
        duration_ms: 42,
        excerpt: Some(excerpt.to_string()),
        error: status.is_none().then(|| "connection refused".to_string()),
    }
}

both!(a_batch_is_inserted_in_order_and_claimed);
async fn a_batch_is_inserted_in_order_and_claimed(ctx: Ctx) {
    let s = &ctx.store;
    let t = Tenant::create(s, "t").await;
    // 700 events (over several statement chunks), one delivery each.
    let batch: Vec<_> = (0..700)
        .flat_map(|i| t.event(t.alice, XelionEvent::NewCall, &format!("call-{i}")))
        .collect();
    let now = Timestamp::now();
    let accepted = s
        .accept_deliveries(batch.clone(), at(now, LEASE))
        .await
        .unwrap();
    assert_eq!(accepted.len(), 700);
    let got = ids(&accepted);
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "ids grow in batch order"
    );
    for (d, new) in accepted.iter().zip(&batch) {
        assert_eq!(d.call_id, new.call_id);
        assert_eq!(d.event, new.event);
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(d.created_at, now);
    }
    assert_eq!(ctx.count("SELECT COUNT(*) FROM deliveries").await, 700);
    // Accepted rows are leased to the caller: no claimer gets them before the lease ends.
    assert!(s.claim_due(now, 1000, LEASE).await.unwrap().is_empty());
    let later = now.plus(LEASE).plus(Duration::from_millis(1));
    let claimed = s.claim_due(later, 1000, LEASE).await.unwrap();
    assert_eq!(ids(&claimed), got, "recovery claims them all, in id order");
    assert_eq!(
        claimed[3].event, batch[3].event,
        "the event reads back whole"
    );
}

both!(the_same_event_twice_is_one_delivery);
async fn the_same_event_twice_is_one_delivery(ctx: Ctx) {
    let s = &ctx.store;
    let t = Tenant::create(s, "t").await;
    let now = Timestamp::now();
    // callHungUpEvent has two mappings: one event, two deliveries sharing one key.
    let first = s
        .accept_deliveries(
            t.event(t.alice, XelionEvent::CallHungUp, "c1"),
            at(now, LEASE),
        )
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    // The attended-transfer duplicate, in a later batch: dropped whole.
    let again = s
        .accept_deliveries(
            t.event(t.alice, XelionEvent::CallHungUp, "c1"),
            at(now, LEASE),
        )
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    // The same event twice in one batch: one of them.
    let mut twice = t.event(t.bob, XelionEvent::CallHungUp, "c1");
    twice.extend(t.event(t.bob, XelionEvent::CallHungUp, "c1"));
    assert_eq!(
        s.accept_deliveries(twice, at(now, LEASE))
            .await
            .unwrap()
            .len(),
        2
    );
    // Other users, event types and calls are not duplicates.
    let mut others = t.event(t.alice, XelionEvent::CallConnected, "c1");
    others.extend(t.event(t.alice, XelionEvent::CallHungUp, "c2"));
    assert_eq!(
        s.accept_deliveries(others, at(now, LEASE))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(ctx.count("SELECT COUNT(*) FROM deliveries").await, 7);
    // The database holds the keys and refuses a second one itself.
    assert_eq!(ctx.count("SELECT COUNT(*) FROM delivery_keys").await, 4);
    let err = s
        .raw_execute(
            "INSERT INTO delivery_keys (crm_context_id, user_id, xelion_event, call_id, created_at) \
             SELECT crm_context_id, user_id, xelion_event, call_id, 0 FROM delivery_keys",
            &[],
        )
        .await;
    assert!(err.is_err(), "the key's primary key enforces the dedupe");
    // After the window the key no longer blocks: the event is new again.
    let day_later = now.plus(Duration::from_secs(86_400 + 1));
    let renewed = s
        .accept_deliveries(
            t.event(t.alice, XelionEvent::CallHungUp, "c1"),
            at(day_later, LEASE),
        )
        .await
        .unwrap();
    assert_eq!(renewed.len(), 2);
    // An event without a callId cannot be told from another: never dropped.
    for _ in 0..2 {
        let no_id = t.event(t.alice, XelionEvent::NewCall, "");
        assert_eq!(
            s.accept_deliveries(no_id, at(now, LEASE))
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

both!(claims_skip_leased_future_and_held_rows);
async fn claims_skip_leased_future_and_held_rows(ctx: Ctx) {
    let s = &ctx.store;
    let t = Tenant::create(s, "t").await;
    let past = Timestamp::now().minus(Duration::from_secs(3600));
    // Accepted an hour ago with a one-second lease: due now, leases long gone.
    let batch: Vec<_> = (0..4)
        .flat_map(|i| t.event(t.alice, XelionEvent::NewCall, &format!("c{i}")))
        .collect();
    let rows = s
        .accept_deliveries(batch, at(past, Duration::from_secs(1)))
        .await
        .unwrap();
    let now = Timestamp::now();
    let in_an_hour = now.plus(Duration::from_secs(3600));
    s.record_updates(
        &[
            StatusUpdate::RetryAt {
                id: rows[1].id,
                attempt: attempt(Some(503), "busy"),
                at: in_an_hour,
            },
            StatusUpdate::Held {
                id: rows[2].id,
                reason: "refresh token revoked".into(),
            },
        ],
        now,
    )
    .await
    .unwrap();
    // rows[0] and rows[3] are due; the first claim leases them for two hours.
    let two_hours = Duration::from_secs(7200);
    let claimed = s.claim_due(now, 10, two_hours).await.unwrap();
    assert_eq!(ids(&claimed), vec![rows[0].id.0, rows[3].id.0]);
    assert!(
        s.claim_due(now, 10, LEASE).await.unwrap().is_empty(),
        "leased"
    );
    // The retry comes due at its time; the leased rows and the held row do not.
    let claimed = s.claim_due(in_an_hour, 10, LEASE).await.unwrap();
    assert_eq!(ids(&claimed), vec![rows[1].id.0]);
    assert_eq!(claimed[0].status, DeliveryStatus::Retrying);
    assert_eq!(claimed[0].attempts, 1);
    // Once every lease has ended, all but the held row are claimed again.
    let far = now.plus(Duration::from_secs(365 * 86_400));
    let claimed = s.claim_due(far, 10, LEASE).await.unwrap();
    assert_eq!(
        ids(&claimed),
        vec![rows[0].id.0, rows[1].id.0, rows[3].id.0],
        "leases ended"
    );
    // `limit` caps a claim.
    let later = far.plus(LEASE).plus(LEASE);
    assert_eq!(s.claim_due(later, 1, LEASE).await.unwrap().len(), 1);
}

both!(two_claimers_never_get_the_same_row);
async fn two_claimers_never_get_the_same_row(ctx: Ctx) {
    let t = Tenant::create(&ctx.store, "t").await;
    let past = Timestamp::now().minus(Duration::from_secs(60));
    let batch: Vec<_> = (0..300)
        .flat_map(|i| t.event(t.alice, XelionEvent::NewCall, &format!("c{i}")))
        .collect();
    ctx.store
        .accept_deliveries(batch, at(past, Duration::from_millis(1)))
        .await
        .unwrap();
    // Four claimers on their own pools, as four instances would be, each claiming small
    // batches until nothing is left.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = ctx.reopen().await;
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store.claim_due(Timestamp::now(), 7, LEASE).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|d| d.id));
            }
        }));
    }
    let mut all: Vec<DeliveryId> = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 300, "every row claimed once");
    assert_eq!(unique.len(), 300, "no row claimed twice");
}

both!(updates_and_attempts_are_recorded);
async fn updates_and_attempts_are_recorded(ctx: Ctx) {
    let s = &ctx.store;
    let t = Tenant::create(s, "t").await;
    let batch: Vec<_> = (0..4)
        .flat_map(|i| t.event(t.alice, XelionEvent::CallConnected, &format!("c{i}")))
        .collect();
    let rows = s
        .accept_deliveries(batch, at(Timestamp::now(), LEASE))
        .await
        .unwrap();
    let now = Timestamp::now();
    let long = "x".repeat(3 * EXCERPT_MAX);
    s.record_updates(
        &[
            StatusUpdate::RetryAt {
                id: rows[0].id,
                attempt: attempt(None, ""),
                at: now,
            },
            StatusUpdate::Delivered {
                id: rows[0].id,
                attempt: attempt(Some(201), "{\"ok\":true}"),
            },
            StatusUpdate::Failed {
                id: rows[1].id,
                attempt: Some(attempt(Some(400), &long)),
                reason: "the CRM answered 400".into(),
            },
            StatusUpdate::Failed {
                id: rows[2].id,
                attempt: None,
                reason: "template: column 3: unknown property".into(),
            },
            StatusUpdate::Held {
                id: rows[3].id,
                reason: "refresh token revoked".into(),
            },
        ],
        now,
    )
    .await
    .unwrap();
    let page = s
        .deliveries(t.xid, &DeliveryFilter::default(), None, 10)
        .await
        .unwrap();
    let by_id = |id: DeliveryId| page.items.iter().find(|d| d.delivery.id == id).unwrap();
    let d0 = by_id(rows[0].id);
    assert_eq!(d0.delivery.status, DeliveryStatus::Delivered);
    assert_eq!(d0.delivery.attempts, 2);
    assert_eq!(d0.delivery.next_attempt_at, None);
    let statuses: Vec<_> = d0.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![None, Some(201)], "attempts oldest first");
    assert_eq!(d0.attempts[0].error.as_deref(), Some("connection refused"));
    assert_eq!(d0.attempts[1].duration_ms, 42);
    let d1 = by_id(rows[1].id);
    assert_eq!(d1.delivery.status, DeliveryStatus::Failed);
    assert_eq!(d1.delivery.reason.as_deref(), Some("the CRM answered 400"));
    assert_eq!(
        d1.attempts[0].excerpt.as_deref().map(str::len),
        Some(EXCERPT_MAX),
        "the excerpt is bounded"
    );
    let d2 = by_id(rows[2].id);
    assert_eq!(
        (d2.delivery.status, d2.delivery.attempts),
        (DeliveryStatus::Failed, 0)
    );
    assert!(d2.attempts.is_empty());
    let d3 = by_id(rows[3].id);
    assert_eq!(d3.delivery.status, DeliveryStatus::Held);
    assert_eq!(d3.delivery.reason.as_deref(), Some("refresh token revoked"));

    // Delivered is final: a late retry from a stale dispatcher only adds its attempt.
    s.record_updates(
        &[StatusUpdate::RetryAt {
            id: rows[0].id,
            attempt: attempt(Some(503), ""),
            at: now,
        }],
        now,
    )
    .await
    .unwrap();
    let d0 = s.delivery(t.xid, rows[0].id).await.unwrap().unwrap();
    assert_eq!(d0.delivery.status, DeliveryStatus::Delivered);
    assert_eq!(d0.attempts.len(), 3);

    // Updates of rows that are gone (the user was deleted) are skipped, not errors.
    s.delete_user(t.alice).await.unwrap();
    s.record_updates(
        &[StatusUpdate::Delivered {
            id: rows[3].id,
            attempt: attempt(Some(200), ""),
        }],
        now,
    )
    .await
    .unwrap();
    assert_eq!(ctx.count("SELECT COUNT(*) FROM delivery_attempts").await, 0);
}

both!(held_rows_are_released_when_credentials_change);
async fn held_rows_are_released_when_credentials_change(ctx: Ctx) {
    let s = &ctx.store;
    let t = Tenant::create(s, "t").await;
    let mut batch = Vec::new();
    for i in 0..3 {
        batch.extend(t.event(t.alice, XelionEvent::NewCall, &format!("a{i}")));
        batch.extend(t.event(t.bob, XelionEvent::NewCall, &format!("b{i}")));
    }
    let rows = s
        .accept_deliveries(batch, at(Timestamp::now(), Duration::ZERO))
        .await
        .unwrap();
    let holds: Vec<_> = rows
        .iter()
        .map(|d| StatusUpdate::Held {
            id: d.id,
            reason: "refresh token revoked".into(),
        })
        .collect();
    s.record_updates(&holds, Timestamp::now()).await.unwrap();
    let backlog = s.outbox_backlog().await.unwrap();
    assert_eq!((backlog.held, backlog.total()), (6, 6));
    assert_eq!(backlog.oldest_created_at, Some(rows[0].created_at));
    let far = Timestamp::now().plus(Duration::from_secs(365 * 86_400));
    assert!(
        s.claim_due(far, 100, LEASE).await.unwrap().is_empty(),
        "held rows wait"
    );

    assert_eq!(s.release_held(t.alice).await.unwrap(), 3);
    let claimed = s.claim_due(Timestamp::now(), 100, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(claimed
        .iter()
        .all(|d| d.user_id == t.alice && d.reason.is_none()));
    assert!(claimed.iter().all(|d| d.status == DeliveryStatus::Pending));
    let backlog = s.outbox_backlog().await.unwrap();
    assert_eq!((backlog.pending, backlog.held), (3, 3), "bob's still held");
    assert_eq!(s.release_held(t.alice).await.unwrap(), 0);
}

both!(deleting_an_integration_deletes_its_deliveries);
async fn deleting_an_integration_deletes_its_deliveries(ctx: Ctx) {
    let s = &ctx.store;
    let t = Tenant::create(s, "t").await;
    let other = Tenant::create(s, "other").await;
    let now = Timestamp::now();
    let rows = s
        .accept_deliveries(t.event(t.alice, XelionEvent::NewCall, "c1"), at(now, LEASE))
        .await
        .unwrap();
    s.accept_deliveries(
        other.event(other.alice, XelionEvent::NewCall, "c1"),
        at(now, LEASE),
    )
    .await
    .unwrap();
    s.record_updates(
        &[StatusUpdate::RetryAt {
            id: rows[0].id,
            attempt: attempt(Some(503), ""),
            at: now,
        }],
        now,
    )
    .await
    .unwrap();
    s.delete_xelion_context(t.xid).await.unwrap();
    assert_eq!(ctx.count("SELECT COUNT(*) FROM deliveries").await, 1);
    assert_eq!(ctx.count("SELECT COUNT(*) FROM delivery_attempts").await, 0);
    let left = s
        .claim_due(now.plus(LEASE).plus(LEASE), 10, LEASE)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].user_id, other.alice,
        "the other tenant's delivery stays"
    );
    // A delivery for a user that is gone is refused by the database.
    let err = s
        .accept_deliveries(t.event(t.alice, XelionEvent::NewCall, "c9"), at(now, LEASE))
        .await;
    assert!(matches!(err, Err(StoreError::Database(_))), "{err:?}");
}

both!(sqlite_commits_are_synced_for_crashes_not_power_loss);
async fn sqlite_commits_are_synced_for_crashes_not_power_loss(ctx: Ctx) {
    if ctx.store.backend() == Backend::Sqlite {
        // NORMAL (1) in WAL mode: a commit survives `kill -9` of the process.
        assert_eq!(ctx.count("PRAGMA synchronous").await, 1);
    }
}
