//! The delivery log: filters, cursor paging, scoping, and sending a failed one again.

use std::time::Duration;

use cti_actors::store::{
    Attempt, DeliveryFilter, DeliveryId, DeliveryStatus, StatusUpdate, StoreError, Timestamp,
    XelionEvent,
};

use crate::{at, both, Ctx, Tenant, LEASE};

/// All ids of a listing, page by page, and the number of pages.
async fn all_pages(
    ctx: &Ctx,
    t: &Tenant,
    filter: &DeliveryFilter,
    limit: u32,
) -> (Vec<DeliveryId>, usize) {
    let mut out = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = ctx
            .store
            .deliveries(t.xid, filter, cursor, limit)
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= limit as usize);
        out.extend(page.items.iter().map(|d| d.delivery.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (out, pages),
        }
    }
}

both!(listing_filters_and_pages_newest_first);
async fn listing_filters_and_pages_newest_first(ctx: Ctx) {
    let s = &ctx.store;
    let t = Tenant::create(s, "t").await;
    let other = Tenant::create(s, "other").await;
    let start = Timestamp::now().minus(Duration::from_secs(100));
    // Ten calls, a second apart: alice's new-call and bob's connected event for each.
    let mut all = Vec::new();
    for i in 0..10u64 {
        let when = start.plus(Duration::from_secs(i));
        let mut batch = t.event(t.alice, XelionEvent::NewCall, &format!("call-{i}"));
        batch.extend(t.event(t.bob, XelionEvent::CallConnected, &format!("call-{i}")));
        all.extend(s.accept_deliveries(batch, at(when, LEASE)).await.unwrap());
    }
    s.accept_deliveries(
        other.event(other.alice, XelionEvent::NewCall, "call-0"),
        at(start, LEASE),
    )
    .await
    .unwrap();
    let failed = all[5].id;
    s.record_updates(
        &[StatusUpdate::Failed {
            id: failed,
            attempt: None,
            reason: "400".into(),
        }],
        Timestamp::now(),
    )
    .await
    .unwrap();

    // Everything of the tenant, newest first, over pages of 3; never the other tenant's.
    let (listed, pages) = all_pages(&ctx, &t, &DeliveryFilter::default(), 3).await;
    let mut expected: Vec<_> = all.iter().map(|d| d.id).collect();
    expected.reverse();
    assert_eq!(listed, expected);
    assert_eq!(pages, 7);

    let (c, tt) = (&ctx, &t);
    let only = |f: DeliveryFilter| async move { all_pages(c, tt, &f, 50).await.0 };
    let by_user = only(DeliveryFilter {
        user_id: Some(t.bob),
        ..Default::default()
    })
    .await;
    assert_eq!(by_user.len(), 10);
    assert!(by_user
        .iter()
        .all(|id| all.iter().any(|d| d.id == *id && d.user_id == t.bob)));
    let by_event = only(DeliveryFilter {
        xelion_event: Some(XelionEvent::NewCall),
        ..Default::default()
    })
    .await;
    assert_eq!(by_event.len(), 10);
    let by_call = only(DeliveryFilter {
        call_id: Some("call-3".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_call, vec![all[7].id, all[6].id]);
    let by_status = only(DeliveryFilter {
        status: Some(DeliveryStatus::Failed),
        ..Default::default()
    })
    .await;
    assert_eq!(by_status, vec![failed]);
    // since is inclusive, until exclusive: calls 2, 3 and 4.
    let by_time = only(DeliveryFilter {
        since: Some(start.plus(Duration::from_secs(2))),
        until: Some(start.plus(Duration::from_secs(5))),
        ..Default::default()
    })
    .await;
    assert_eq!(by_time.len(), 6);
    assert_eq!(by_time.first(), Some(&all[9].id));
    assert_eq!(by_time.last(), Some(&all[4].id));
    let combined = only(DeliveryFilter {
        user_id: Some(t.alice),
        call_id: Some("call-3".into()),
        xelion_event: Some(XelionEvent::NewCall),
        status: Some(DeliveryStatus::Pending),
        ..Default::default()
    })
    .await;
    assert_eq!(combined, vec![all[6].id]);
    // Another tenant's user filters to nothing here.
    let foreign = only(DeliveryFilter {
        user_id: Some(other.alice),
        ..Default::default()
    })
    .await;
    assert!(foreign.is_empty());
}

both!(a_failed_delivery_is_sent_again);
async fn a_failed_delivery_is_sent_again(ctx: Ctx) {
    let s = &ctx.store;
    let t = Tenant::create(s, "t").await;
    let other = Tenant::create(s, "other").await;
    let rows = s
        .accept_deliveries(
            t.event(t.alice, XelionEvent::CallHungUp, "c1"),
            // Two days old: past the default time-to-live.
            at(
                Timestamp::now().minus(Duration::from_secs(2 * 86_400)),
                LEASE,
            ),
        )
        .await
        .unwrap();
    assert_eq!(rows[0].ttl_from(), rows[0].created_at);
    let attempt = Attempt {
        at: Timestamp::now(),
        status: Some(400),
        duration_ms: 5,
        excerpt: Some("bad request".into()),
        error: None,
    };
    s.record_updates(
        &[
            StatusUpdate::Failed {
                id: rows[0].id,
                attempt: Some(attempt.clone()),
                reason: "the CRM answered 400".into(),
            },
            StatusUpdate::Delivered {
                id: rows[1].id,
                attempt,
            },
        ],
        Timestamp::now(),
    )
    .await
    .unwrap();
    // Another tenant's context does not see it.
    assert!(matches!(
        s.retry_delivery(other.xid, rows[0].id).await,
        Err(StoreError::NotFound)
    ));
    let before = Timestamp::now();
    let retried = s.retry_delivery(t.xid, rows[0].id).await.unwrap();
    assert_eq!(retried.status, DeliveryStatus::Pending);
    assert!(
        retried.ttl_from() >= before,
        "a retried delivery gets a new time-to-live, not the one its creation gave"
    );
    assert_eq!(retried.reason, None);
    assert_eq!(retried.attempts, 1, "the attempt history stays");
    let due = retried.next_attempt_at.unwrap();
    assert!(due <= Timestamp::now());
    // The recovery poll picks it up now.
    let claimed = s.claim_due(Timestamp::now(), 10, LEASE).await.unwrap();
    assert_eq!(
        claimed.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![rows[0].id]
    );
    // Only a failed one: a pending or delivered one is a conflict, an unknown one not found.
    for id in [rows[0].id, rows[1].id] {
        match s.retry_delivery(t.xid, id).await {
            Err(StoreError::WrongState(why)) => {
                assert!(
                    why.contains(&id.to_string()) && why.contains("failed"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        s.retry_delivery(t.xid, DeliveryId(rows[1].id.0 + 100))
            .await,
        Err(StoreError::NotFound)
    ));
}
