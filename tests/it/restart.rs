//! Tenant sessions across server restarts (the real binary, stopped with SIGTERM and killed
//! with `kill -9`), and many tenants booting against one simulator.

use std::process::Child;
use std::time::Duration;

use cti_sim::api::XelionCounters;
use cti_sim::{Sim, SimConfig};
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::*;

async fn counters(app: &TestApp) -> XelionCounters {
    app.control().xelion_counters().await.expect("counters")
}

/// Admin sockets at `master` with all four event types subscribed.
async fn subscribed_admin_sockets(app: &TestApp) -> usize {
    counters(app)
        .await
        .sockets
        .iter()
        .filter(|s| s.tenant == "master" && s.user_name == "admin" && s.subscriptions.len() == 4)
        .count()
}

/// Waits until the tenant reports `subscribed` and the simulator sees exactly one subscribed
/// admin socket; the server gets 30 s (its boot spreads first logins over up to 5 s).
async fn back_and_subscribed(app: &TestApp, xid: i64, token: &str) {
    eventually_within("subscribed again", Duration::from_secs(30), || async {
        let (s, st) = app
            .get(
                &format!("/api/xelion-environment/{xid}/status"),
                Some(token),
            )
            .await;
        (s == StatusCode::OK
            && st["state"] == "subscribed"
            && subscribed_admin_sockets(app).await == 1)
            .then_some(())
    })
    .await;
}

/// The child server, killed if a test fails before it ends it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(app_dir: &std::path::Path, db: &Database) -> (Server, String) {
    let (child, addr) = spawn_serve(app_dir, &db.url, Some(&db.key));
    (Server(child), format!("http://{addr}"))
}

/// A new server on the database and simulators of `w` (whose server has stopped), with the
/// same integration, admin token and ids.
async fn restart(
    app_dir: &std::path::Path,
    w: crate::delivery::World,
) -> (Server, crate::delivery::World) {
    let crate::delivery::World {
        app,
        token,
        xid,
        crm,
    } = w;
    let (db, sim) = app.stop().await;
    let (server, url) = start(app_dir, &db);
    let w = crate::delivery::World {
        app: TestApp::attach(url, db, sim),
        token,
        xid,
        crm,
    };
    (server, w)
}

async fn restarts_get_the_socket_back_without_a_login_loop(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(SimConfig::default()).expect("simulators start");
    let db = Database::fresh(backend);
    let (mut server, url) = start(dir.path(), &db);
    let app = TestApp::attach(url, db, sim);
    let (xid, _) = app.create_integration().await;
    let token = app.login().await;
    back_and_subscribed(&app, xid, &token).await;

    // Graceful: SIGTERM logs the session out, so the next start logs in cleanly.
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(wait_exit(&mut server.0).code(), Some(0));
    let before = counters(&app).await.total;
    assert_eq!(subscribed_admin_sockets(&app).await, 0, "the socket closed");
    let (db, sim) = app.stop().await;
    let (mut server, url) = start(dir.path(), &db);
    let app = TestApp::attach(url, db, sim);
    back_and_subscribed(&app, xid, &token).await;
    let after = counters(&app).await.total;
    assert_eq!(after.login_conflicts, before.login_conflicts, "no 10005");
    assert!(
        after.logins - before.logins <= 2,
        "{} logins after a graceful restart",
        after.logins - before.logins
    );

    // kill -9: the old Xelion session still lives. The next login hands its token back, so
    // the socket is back within seconds and Xelion sees no 10005 loop.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let before = counters(&app).await.total;
    let (db, sim) = app.stop().await;
    let (_server, url) = start(dir.path(), &db);
    let app = TestApp::attach(url, db, sim);
    back_and_subscribed(&app, xid, &token).await;
    let after = counters(&app).await.total;
    assert!(
        after.login_conflicts - before.login_conflicts <= 1,
        "{} login conflicts after kill -9",
        after.login_conflicts - before.login_conflicts
    );
    assert!(
        after.logins - before.logins <= 2,
        "{} logins after kill -9",
        after.logins - before.logins
    );
    assert!(
        after.login_failures - before.login_failures <= 1,
        "{} refused logins after kill -9",
        after.login_failures - before.login_failures
    );
}
both_backends!(restarts_get_the_socket_back_without_a_login_loop);

const TENANTS: usize = 200;
const LOGINS_AT_ONCE: usize = 4;

async fn two_hundred_tenants_come_up_within_the_login_limit(backend: Backend) {
    use cti_actors::domain::{HttpMethod, Protocol, XelionEvent};
    use cti_actors::secrets::Secret;
    use cti_actors::store::{NewIntegration, NewMapping};

    let sim = Sim::start(SimConfig::default()).expect("simulators start");
    let control = sim.control();
    let db = Database::fresh(backend);
    let mut settings = db.settings();
    settings.tenants.logins_at_once = LOGINS_AT_ONCE;
    settings.tenants.logins_per_second = 100;

    // Stored before the server starts: the boot path, where a stampede would happen.
    let store = xelion_cti::app::open_store(&settings).await.expect("store");
    for i in 0..TENANTS {
        let tenant = format!("t{i:03}");
        add_tenant(&control, &tenant).await;
        store
            .create_integration(NewIntegration {
                host: sim.xelion_addr().to_string(),
                tenant: tenant.clone(),
                protocol: Protocol::Http,
                admin_username: "admin".into(),
                admin_password: Secret::new(admin_password(&tenant)),
                authorization_server_uri: format!("http://{}/oauth2/token", sim.crm_addr()),
                authorization_header_prefix: "Bearer ".into(),
                users: vec![],
                mappings: vec![NewMapping {
                    xelion_event: XelionEvent::NewCall,
                    crm_resource_uri: format!("http://{}/calls", sim.crm_addr()),
                    crm_resource_payload: None,
                    method: HttpMethod::Post,
                    headers: None,
                }],
            })
            .await
            .expect("integration stored");
    }
    store.close().await;

    let _app = TestApp::spawn_with_settings(db, sim, settings).await;
    let c = eventually_within(
        "every tenant subscribed",
        Duration::from_secs(120),
        || async {
            let c = control.xelion_counters().await.expect("counters");
            let subscribed = c
                .sockets
                .iter()
                .filter(|s| s.user_name == "admin" && s.subscriptions == ["newCallEvent"])
                .count();
            (subscribed == TENANTS).then_some(c)
        },
    )
    .await;
    assert!(
        c.logins_in_flight_max as usize <= LOGINS_AT_ONCE,
        "the simulator saw {} logins at once, the limit is {LOGINS_AT_ONCE}",
        c.logins_in_flight_max
    );
    assert_eq!(c.total.login_conflicts, 0);
    assert_eq!(c.total.logins as usize, TENANTS, "one login per tenant");
}
both_backends!(two_hundred_tenants_come_up_within_the_login_limit);

async fn pending_deliveries_survive_kill_9(backend: Backend) {
    use crate::delivery::World;
    use cti_sim::api::Scenario;

    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(SimConfig::default()).expect("simulators start");
    let db = Database::fresh(backend);
    let (mut server, url) = start(dir.path(), &db);
    let w = World::register(TestApp::attach(url, db, sim)).await;
    let control = w.app.control();
    // The CRM is down: every delivery waits.
    w.crm_fault("/cti-server-stub/*", 503, None, None).await;
    // A missed call makes two deliveries (newCallEvent and missedCallEvent): 50 make 100.
    for i in 0..50 {
        let to = if i % 2 == 0 { "alice" } else { "bob" };
        w.call(&format!("+316100{i:05}"), to, Scenario::Missed)
            .await;
    }
    eventually("100 deliveries accepted", || async {
        (w.status().await["deliveriesAccepted"] == 100).then_some(())
    })
    .await;
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    control.clear_crm_faults().await.unwrap();

    let (_server, w) = restart(dir.path(), w).await;
    let delivered = eventually_within(
        "all 100 delivered after the restart",
        Duration::from_secs(60),
        || async {
            let ok = control
                .crm_requests_where(&[("status", "200")])
                .await
                .unwrap();
            // At least once: a repeat carries the same Idempotency-Key, so count keys.
            let keys: std::collections::BTreeSet<&String> =
                ok.iter().map(|r| &r.headers["idempotency-key"]).collect();
            (keys.len() >= 100).then_some(ok.clone())
        },
    )
    .await;
    let keys: std::collections::BTreeSet<&String> = delivered
        .iter()
        .map(|r| &r.headers["idempotency-key"])
        .collect();
    assert_eq!(
        keys.len(),
        100,
        "each delivery arrived; a repeat carries its key"
    );
    for i in 0..50 {
        let from = format!("fromnumber=%2B316100{i:05}");
        assert_eq!(
            delivered
                .iter()
                .filter(|r| r.query.contains(&from))
                .map(|r| &r.headers["idempotency-key"])
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            2,
            "the call from +316100{i:05} delivered"
        );
    }
    // The log follows the CRM's answers by a batch.
    eventually("the log shows all 100 delivered", || async {
        let list = w.deliveries("status=delivered&limit=200").await;
        (list["deliveries"].as_array()?.len() == 100).then_some(())
    })
    .await;
}
both_backends!(pending_deliveries_survive_kill_9);

async fn sigterm_lets_requests_in_flight_finish_and_loses_none(backend: Backend) {
    use crate::delivery::World;
    use cti_sim::api::{FaultKind, FaultSpec, Scenario};
    use std::collections::BTreeMap;

    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(SimConfig::default()).expect("simulators start");
    let db = Database::fresh(backend);
    let (mut server, url) = start(dir.path(), &db);
    let w = World::register(TestApp::attach(url, db, sim)).await;
    let control = w.app.control();
    // Every CRM request takes 2 s: SIGTERM comes while the first ones are in flight.
    control
        .crm_fault(&FaultSpec {
            path: Some("/cti-server-stub/*".into()),
            latency_ms: Some(2000),
            ..FaultSpec::new(FaultKind::Latency)
        })
        .await
        .expect("latency");
    // A missed call makes two deliveries, sent one after the other: 10 calls make 20.
    for i in 0..10 {
        let to = if i % 2 == 0 { "alice" } else { "bob" };
        w.call(&format!("+316200{i:05}"), to, Scenario::Missed)
            .await;
    }
    // All 20 in the outbox first: events still on their way when the socket closes would
    // never arrive (Xelion does not replay them).
    eventually("20 deliveries accepted", || async {
        (w.status().await["deliveriesAccepted"] == 20).then_some(())
    })
    .await;
    eventually("CRM requests in flight", || async {
        let c = control.crm_counters().await.ok()?;
        (c.resource_requests > 0).then_some(())
    })
    .await;
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(wait_exit(&mut server.0).code(), Some(0), "a clean stop");
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        log.contains("dispatch drained"),
        "the stop waited for the requests in flight:\n{log}"
    );
    control.clear_crm_faults().await.unwrap();
    let before = control
        .crm_requests_where(&[("status", "200")])
        .await
        .unwrap()
        .len();
    assert!(before > 0, "the requests in flight were answered");

    let (_server, w) = restart(dir.path(), w).await;
    // The log follows the CRM's answers by a batch.
    eventually_within(
        "all 20 delivered after the restart",
        Duration::from_secs(60),
        || async {
            let list = w.deliveries("status=delivered&limit=100").await;
            (list["deliveries"].as_array()?.len() == 20).then_some(())
        },
    )
    .await;
    let delivered = control
        .crm_requests_where(&[("status", "200")])
        .await
        .unwrap();
    let mut per_key: BTreeMap<&String, usize> = BTreeMap::new();
    for r in &delivered {
        *per_key.entry(&r.headers["idempotency-key"]).or_default() += 1;
    }
    assert_eq!(per_key.len(), 20, "every delivery arrived");
    let repeated: Vec<_> = per_key.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "a request that finished during the stop was recorded, so it is not sent again: {repeated:?}"
    );
}
both_backends!(sigterm_lets_requests_in_flight_finish_and_loses_none);
