//! What operators scrape: `/metrics` (parsed, with values that follow the calls placed) and
//! `/health/ready` (200, and 503 with the database gone).

use cti_sim::api::Scenario;
use reqwest::StatusCode;

use crate::both_backends;
use crate::delivery::World;
use crate::helpers::*;
use crate::prom::{parse, Exposition};

async fn scrape(app: &TestApp) -> Exposition {
    let resp = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("metrics answer");
    assert_eq!(resp.status(), StatusCode::OK);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = resp.text().await.unwrap();
    parse(&text).unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{text}"))
}

async fn metrics_follow_the_calls(backend: Backend) {
    let w = World::new(backend).await;
    let tenant = w.xid.to_string();
    let before = scrape(&w.app).await;
    assert_eq!(
        before.sum("xcti_tenant_sockets", &[("state", "subscribed")]),
        1.0
    );
    assert_eq!(
        before.sum("xcti_events_received_total", &[("tenant", &tenant)]),
        0.0
    );
    assert_eq!(before.sum("xcti_parked_users", &[]), 0.0);
    assert!(before.has("xcti_outbox_backlog", &[("state", "retrying")]));

    // An external number calls alice, who answers: three mapped events, three deliveries.
    let call = w.call("+31612345678", "alice", Scenario::Answered).await;
    w.requests_of("alice", 3).await;
    let after = eventually("the delivered calls counted", || async {
        let m = scrape(&w.app).await;
        (m.sum(
            "xcti_deliveries_total",
            &[("outcome", "delivered"), ("status_class", "2xx")],
        ) == 3.0)
            .then_some(m)
    })
    .await;
    assert_eq!(
        after.sum(
            "xcti_events_received_total",
            &[("tenant", &tenant), ("event", "newCallEvent")]
        ),
        1.0
    );
    assert_eq!(
        after.sum(
            "xcti_events_received_total",
            &[("tenant", &tenant), ("event", "callConnectedEvent")]
        ),
        1.0
    );
    assert_eq!(
        after.sum("xcti_delivery_attempts_total", &[("status_class", "2xx")]),
        3.0
    );
    assert_eq!(
        after.sum("xcti_token_grants_total", &[("outcome", "granted")]),
        1.0,
        "alice's one refresh"
    );
    assert_eq!(
        after.sum("xcti_template_render_duration_seconds_count", &[]),
        3.0
    );
    // Requests are labelled by their route pattern, never the raw path.
    assert!(after.has(
        "xcti_http_request_duration_seconds_count",
        &[
            ("route", "/api/xelion-environment/{xelionContextId}/status"),
            ("method", "GET"),
            ("status", "200"),
        ]
    ));
    assert!(after.has(
        "xcti_http_request_duration_seconds_bucket",
        &[("route", "/api/crm-integrations"), ("le", "+Inf")]
    ));
    for s in &after.samples {
        for v in s.labels.values() {
            assert!(
                !v.contains(&call.call_id)
                    && !v.contains("alice")
                    && !v.contains(&format!("/{}/", w.xid)),
                "unbounded label in {s:?}"
            );
        }
    }

    // The CRM refuses once: a retry with 5xx, then the delivery goes through.
    w.crm_fault("/cti-server-stub/*", 503, Some(1), None).await;
    w.call("alice", "+31687654321", Scenario::Missed).await;
    eventually("the refusal counted and the retry delivered", || async {
        let m = scrape(&w.app).await;
        (m.sum(
            "xcti_deliveries_total",
            &[("outcome", "retry"), ("status_class", "5xx")],
        ) == 1.0
            && m.sum("xcti_delivery_attempts_total", &[("status_class", "5xx")]) == 1.0
            && m.sum(
                "xcti_deliveries_total",
                &[("outcome", "delivered"), ("status_class", "2xx")],
            ) > 3.0)
            .then_some(())
    })
    .await;
}
both_backends!(metrics_follow_the_calls);

/// Takes the database away from the running server: PostgreSQL's test database dropped with
/// its connections ended; SQLite's file locked for writing by another connection.
async fn take_database_away(app: &TestApp) -> Option<sqlx::AnyConnection> {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    match app.db.sqlite_file() {
        Some(file) => {
            let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}", file.display()))
                .await
                .expect("second connection");
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .expect("write lock");
            Some(conn)
        }
        None => {
            let admin = cti_actors::store::testdb::admin_url().unwrap_or_else(|e| panic!("{e}"));
            let name = app.db.url.rsplit('/').next().unwrap().to_string();
            let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("admin");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .expect("drop");
            None
        }
    }
}

async fn readiness_follows_the_database(backend: Backend) {
    let w = World::new(backend).await;
    let (s, b) = w.app.get("/health/ready", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["database"], "ok");
    assert_eq!(b["tenantsByState"]["subscribed"], 1, "{b}");
    assert_eq!(b["usersNeedingReauthorisation"], 0, "{b}");
    assert_eq!(b["outbox"]["backlog"], 0, "{b}");
    assert!(b["outbox"]["oldestPendingAgeSeconds"].is_null(), "{b}");

    // Bob's refresh token revoked: after a call he needs re-authorisation.
    w.app
        .control()
        .revoke_refresh_token(&crate::delivery::refresh_token("bob"))
        .await
        .expect("revoke");
    w.call("+31612345678", "bob", Scenario::Missed).await;
    // Both deliveries of the call end up held (the second once its turn comes).
    let b = eventually("bob parked, his deliveries held", || async {
        let (_, b) = w.app.get("/health/ready", None).await;
        (b["usersNeedingReauthorisation"] == 1
            && b["outbox"]["held"] == 2
            && b["outbox"]["backlog"] == 2)
            .then_some(b)
    })
    .await;
    assert_eq!(b["outbox"]["pending"], 0, "{b}");
    assert!(b["outbox"]["oldestPendingAgeSeconds"].is_number(), "{b}");

    let lock = take_database_away(&w.app).await;
    let (s, b) = w.app.get("/health/ready", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert_eq!(b["database"], "unavailable", "{b}");
    assert_eq!(b["status"], "unavailable", "{b}");
    let (s, _) = w.app.get("/health", None).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "liveness does not depend on the database"
    );

    if let Some(mut conn) = lock {
        sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
        eventually("ready again once the lock is gone", || async {
            let (s, _) = w.app.get("/health/ready", None).await;
            (s == StatusCode::OK).then_some(())
        })
        .await;
    }
}
both_backends!(readiness_follows_the_database);
