//! Retention: old delivered and failed rows and expired dedupe keys go; open work stays.

use std::time::Duration;

use cti_actors::store::{Attempt, Retention, StatusUpdate, Timestamp, XelionEvent};

use crate::{at, both, Ctx, Tenant, LEASE};

const DAY: Duration = Duration::from_secs(86_400);

both!(old_rows_are_pruned_open_work_stays);
async fn old_rows_are_pruned_open_work_stays(ctx: Ctx) {
    let s = &ctx.store;
    let t = Tenant::create(s, "t").await;
    let now = Timestamp::now();
    let days_ago = |d: u32| now.minus(DAY * d);
    let attempt = |at| Attempt {
        at,
        status: Some(200),
        duration_ms: 1,
        excerpt: None,
        error: None,
    };
    // Per age (in days): a delivered, a failed and a pending row of its own call.
    let mut rows = Vec::new();
    for age in [40u32, 10, 3, 0] {
        let when = days_ago(age);
        let mut batch = Vec::new();
        for kind in ["delivered", "failed", "pending"] {
            batch.extend(t.event(t.alice, XelionEvent::NewCall, &format!("{age}-{kind}")));
        }
        let got = s.accept_deliveries(batch, at(when, LEASE)).await.unwrap();
        s.record_updates(
            &[
                StatusUpdate::Delivered {
                    id: got[0].id,
                    attempt: attempt(when),
                },
                StatusUpdate::Failed {
                    id: got[1].id,
                    attempt: Some(attempt(when)),
                    reason: "400".into(),
                },
            ],
            when,
        )
        .await
        .unwrap();
        rows.push(got);
    }
    assert_eq!(ctx.count("SELECT COUNT(*) FROM deliveries").await, 12);
    assert_eq!(ctx.count("SELECT COUNT(*) FROM delivery_keys").await, 12);

    // Small chunks: the prune takes several steps and still gets everything.
    let pruned = s.prune_outbox(now, &Retention::default(), 1).await.unwrap();
    // Delivered older than 7 days: 40 and 10; failed older than 30 days: 40; keys older
    // than a day: 40, 10 and 3 (three events each).
    assert_eq!((pruned.delivered, pruned.failed, pruned.keys), (2, 1, 9));
    let left: Vec<String> = s
        .raw_texts("SELECT call_id FROM deliveries ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        left,
        [
            "40-pending",
            "10-failed",
            "10-pending",
            "3-delivered",
            "3-failed",
            "3-pending",
            "0-delivered",
            "0-failed",
            "0-pending"
        ]
    );
    // The attempts of pruned rows went with them.
    assert_eq!(ctx.count("SELECT COUNT(*) FROM delivery_attempts").await, 5);
    // Nothing more to do.
    let again = s
        .prune_outbox(now, &Retention::default(), 1000)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    // Shorter ages are configurable.
    let short = Retention {
        delivered: Duration::from_secs(3600),
        failed: 2 * DAY,
        dedupe_window: Duration::from_secs(60),
    };
    let pruned = s.prune_outbox(now, &short, 1000).await.unwrap();
    assert_eq!((pruned.delivered, pruned.failed), (1, 2));
    let open = s.outbox_backlog().await.unwrap();
    assert_eq!(open.pending, 4, "pending rows are never pruned");
    assert_eq!(open.oldest_created_at, Some(rows[0][2].created_at));
}
