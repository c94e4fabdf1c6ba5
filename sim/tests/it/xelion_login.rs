//! Who may log in when, and the login counters: concurrency, userSpace conflicts, replacing
//! a session with its own Authorization.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cti_sim::{FaultSpec, NewUser};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// `POST me/login` carrying `Authorization: xelion <token>`.
async fn login_with_auth(
    sim: &cti_sim::SimHandle,
    user: &str,
    space: &str,
    token: &str,
) -> reqwest::Response {
    authed(
        Method::POST,
        format!("{}/api/v1/master/me/login", sim.xelion_url()),
        token,
    )
    .json(&json!({"userName": user, "password": user, "userSpace": space}))
    .send()
    .await
    .unwrap()
}

/// `GET me/info` with a token: 200 while the session lives.
async fn info_status(sim: &cti_sim::SimHandle, token: &str) -> reqwest::Response {
    authed(
        Method::GET,
        format!("{}/api/v1/master/me/info", sim.xelion_url()),
        token,
    )
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn the_peak_of_concurrent_logins_is_counted() {
    let sim = start();
    let ctl = sim.control();
    ctl.xelion_fault(&FaultSpec::latency(300).on_path("me/login"))
        .await
        .unwrap();
    let logins = (0..5).map(|i| {
        let sim = &sim;
        async move { login(sim, "master", "admin", "admin", &format!("peak-{i}")).await }
    });
    let done = AtomicBool::new(false);
    let all = async {
        let sessions = join_all(logins).await;
        done.store(true, Ordering::SeqCst);
        sessions
    };
    // `loginsInFlight` is live: watch it while the logins wait out their latency.
    let watch = async {
        let mut seen = 0;
        while !done.load(Ordering::SeqCst) {
            seen = seen.max(ctl.xelion_counters().await.unwrap().logins_in_flight);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        seen
    };
    let (sessions, seen) = tokio::join!(all, watch);
    assert_eq!(sessions.len(), 5);
    assert!((1..=5).contains(&seen), "saw {seen} logins in flight");
    let after = ctl.xelion_counters().await.unwrap();
    assert_eq!((after.logins_in_flight, after.logins_in_flight_max), (0, 5));
    assert_eq!(after.total.logins, 5);
    // At total level on the wire, next to the summed counters.
    let raw: Value = http()
        .get(format!("{}/_sim/xelion/counters", sim.xelion_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            raw["loginsInFlight"].clone(),
            raw["loginsInFlightMax"].clone()
        ),
        (json!(0), json!(5))
    );
    // One at a time afterwards does not lower the peak.
    login(&sim, "master", "alice", "alice", "later").await;
    let c = ctl.xelion_counters().await.unwrap();
    assert_eq!((c.logins_in_flight, c.logins_in_flight_max), (0, 5));
}

#[tokio::test]
async fn a_login_that_fails_or_is_faulted_leaves_the_flight() {
    let sim = start();
    let ctl = sim.control();
    ctl.xelion_fault(&FaultSpec::status(429).on_path("me/login").times(1))
        .await
        .unwrap();
    let faulted = login_raw(
        &sim,
        "master",
        json!({"userName": "admin", "password": "admin", "userSpace": "s"}),
    )
    .await;
    assert_xerr(faulted, 429, 10400).await;
    let wrong = login_raw(
        &sim,
        "master",
        json!({"userName": "admin", "password": "nope", "userSpace": "s"}),
    )
    .await;
    assert_xerr(wrong, 401, 10004).await;
    let c = ctl.xelion_counters().await.unwrap();
    assert_eq!((c.logins_in_flight, c.logins_in_flight_max), (0, 1));
}

#[tokio::test]
async fn logins_refused_for_a_taken_user_space_are_counted_per_tenant() {
    let sim = start();
    let ctl = sim.control();
    ctl.create_tenant("acme").await.unwrap();
    ctl.add_user("acme", &NewUser::new("carol", "pw", true))
        .await
        .unwrap();
    login(&sim, "master", "admin", "admin", "events").await;
    login(&sim, "acme", "carol", "pw", "events").await;
    for _ in 0..2 {
        let again = login_raw(
            &sim,
            "master",
            json!({"userName": "admin", "password": "admin", "userSpace": "events"}),
        )
        .await;
        assert_xerr(again, 401, 10005).await;
    }
    let again = login_raw(
        &sim,
        "acme",
        json!({"userName": "carol", "password": "pw", "userSpace": "events"}),
    )
    .await;
    assert_xerr(again, 401, 10005).await;
    // Other refusals are failures, not conflicts.
    let wrong = login_raw(
        &sim,
        "master",
        json!({"userName": "admin", "password": "nope", "userSpace": "events"}),
    )
    .await;
    assert_xerr(wrong, 401, 10004).await;
    let c = ctl.xelion_counters().await.unwrap();
    assert_eq!(c.tenants["master"].login_conflicts, 2);
    assert_eq!(c.tenants["acme"].login_conflicts, 1);
    assert_eq!((c.total.login_conflicts, c.total.login_failures), (3, 4));
    let raw: Value = http()
        .get(format!("{}/_sim/xelion/counters", sim.xelion_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["loginConflicts"], 3);
    assert_eq!(raw["tenants"]["acme"]["loginConflicts"], 1);
}

#[tokio::test]
async fn only_the_old_sessions_authorization_replaces_it() {
    let sim = start();
    let events = login(&sim, "master", "admin", "admin", "events").await;
    let events = events["authentication"].as_str().unwrap().to_owned();
    let other = login(&sim, "master", "admin", "admin", "other").await;
    let other = other["authentication"].as_str().unwrap().to_owned();
    // Another live session of the same user, or a token never issued: still a conflict.
    assert_xerr(
        login_with_auth(&sim, "admin", "events", &other).await,
        401,
        10005,
    )
    .await;
    assert_xerr(
        login_with_auth(&sim, "admin", "events", "forged").await,
        401,
        10005,
    )
    .await;
    assert_eq!(info_status(&sim, &events).await.status(), 200);
    // The old session's own token ends it and opens the new one.
    let replaced = login_with_auth(&sim, "admin", "events", &events).await;
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    let replaced = replaced["authentication"].as_str().unwrap().to_owned();
    assert_ne!(replaced, events);
    assert_xerr(info_status(&sim, &events).await, 401, 10020).await;
    assert_eq!(info_status(&sim, &replaced).await.status(), 200);
    assert_eq!(info_status(&sim, &other).await.status(), 200);
    // The ended session's token no longer replaces anything; the new one does.
    assert_xerr(
        login_with_auth(&sim, "admin", "events", &events).await,
        401,
        10005,
    )
    .await;
    let again = login_with_auth(&sim, "admin", "events", &replaced).await;
    assert_eq!(again.status(), 200);
    // Without a session in that userSpace, any Authorization is ignored.
    let fresh = login_with_auth(&sim, "alice", "events", &other).await;
    assert_eq!(fresh.status(), 200);
    let c = sim.control().xelion_counters().await.unwrap();
    assert_eq!((c.total.logins, c.total.login_conflicts), (5, 3));
}
