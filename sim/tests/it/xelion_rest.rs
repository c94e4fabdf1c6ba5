//! The Xelion REST API: sessions, errors, users.

use cti_sim::api::UserUpdate;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// `yyyy-MM-dd HH:mm:ss`.
fn is_xelion_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test]
async fn login_answers_a_session() {
    let sim = start();
    let v = login(&sim, "master", "admin", "admin", "space-1").await;
    for f in [
        "authentication",
        "renewalToken",
        "version",
        "serverVersion",
        "buildNumber",
    ] {
        assert!(v[f].as_str().is_some_and(|s| !s.is_empty()), "{f} in {v}");
    }
    assert!(
        is_xelion_date(v["validUntil"].as_str().unwrap_or("")),
        "{v}"
    );
    assert_eq!(v["userName"], "admin");
    assert_eq!(v["tenant"], "master");
    let c = sim.control().xelion_counters().await.unwrap();
    assert_eq!(c.total.logins, 1);
    assert_eq!(c.tenants["master"].logins, 1);
}

#[tokio::test]
async fn login_errors_have_xelion_codes() {
    let sim = start();
    let url = format!("{}/api/v1/master/me/login", sim.xelion_url());
    let empty = http().post(&url).send().await.unwrap();
    assert_xerr(empty, 400, 10200).await;
    let bad = http()
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_xerr(bad, 400, 10202).await;
    let cases = [
        (json!({"password": "admin", "userSpace": "s"}), 400, 10002),
        (json!({"userName": "admin", "userSpace": "s"}), 400, 10003),
        (
            json!({"userName": "admin", "password": "admin"}),
            401,
            10011,
        ),
        (
            json!({"userName": "admin", "password": "nope", "userSpace": "s"}),
            401,
            10004,
        ),
        (
            json!({"userName": "nobody", "password": "x", "userSpace": "s"}),
            401,
            10004,
        ),
    ];
    for (body, status, code) in cases {
        let v = assert_xerr(login_raw(&sim, "master", body).await, status, code).await;
        assert_eq!(v["info"], "resource=POST /api/v1/master/me/login");
    }
    let other_tenant = login_raw(
        &sim,
        "elsewhere",
        json!({"userName": "admin", "password": "admin", "userSpace": "s"}),
    )
    .await;
    assert_xerr(other_tenant, 401, 10004).await;
    let upd = UserUpdate {
        active: Some(false),
        ..UserUpdate::default()
    };
    sim.control()
        .update_user("master", "bob", &upd)
        .await
        .unwrap();
    let disabled = login_raw(
        &sim,
        "master",
        json!({"userName": "bob", "password": "bob", "userSpace": "s"}),
    )
    .await;
    assert_xerr(disabled, 401, 10006).await;
    let c = sim.control().xelion_counters().await.unwrap();
    assert_eq!(c.total.login_failures, 9);
}

#[tokio::test]
async fn second_login_with_the_same_user_space_fails_with_10005() {
    let sim = start();
    let first = login(&sim, "master", "admin", "admin", "events").await;
    let again = login_raw(
        &sim,
        "master",
        json!({"userName": "admin", "password": "admin", "userSpace": "events"}),
    )
    .await;
    assert_xerr(again, 401, 10005).await;
    // Another userSpace is another session.
    login(&sim, "master", "admin", "admin", "other").await;
    // The same pair with the old session's Authorization ends the old session first.
    let old = first["authentication"].as_str().unwrap();
    let replaced = http()
        .post(format!("{}/api/v1/master/me/login", sim.xelion_url()))
        .header("authorization", format!("xelion {old}"))
        .json(&json!({"userName": "admin", "password": "admin", "userSpace": "events"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    let info = authed(
        Method::GET,
        format!("{}/api/v1/master/me/info", sim.xelion_url()),
        old,
    )
    .send()
    .await
    .unwrap();
    assert_xerr(info, 401, 10020).await;
}

#[tokio::test]
async fn renew_takes_a_bare_json_string() {
    let sim = start();
    let s = login(&sim, "master", "alice", "alice", "renew").await;
    let auth = s["authentication"].as_str().unwrap();
    let url = format!("{}/api/v1/master/me/renew", sim.xelion_url());
    let r = authed(Method::POST, url.clone(), auth)
        .json(&s["renewalToken"])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let renewed: Value = r.json().await.unwrap();
    let new_auth = renewed["authentication"].as_str().unwrap();
    assert_ne!(new_auth, auth);
    assert!(
        renewed["renewalToken"].is_string()
            && is_xelion_date(renewed["validUntil"].as_str().unwrap())
    );
    // The old token is gone; the new one works, and the password renews too.
    let old = authed(Method::POST, url.clone(), auth)
        .json(&json!("alice"))
        .send()
        .await
        .unwrap();
    assert_xerr(old, 401, 10020).await;
    let by_password = authed(Method::POST, url.clone(), new_auth)
        .json(&json!("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_password.status(), 200);
    let latest: Value = by_password.json().await.unwrap();
    let latest = latest["authentication"].as_str().unwrap();
    let wrong = authed(Method::POST, url.clone(), latest)
        .json(&json!("wrong"))
        .send()
        .await
        .unwrap();
    assert_xerr(wrong, 401, 10004).await;
    let object = authed(Method::POST, url, latest)
        .json(&json!({"renewalToken": "x"}))
        .send()
        .await
        .unwrap();
    assert_xerr(object, 400, 10202).await;
    // A renewal keeps the userSpace: logging in again with it still collides.
    let again = login_raw(
        &sim,
        "master",
        json!({"userName": "alice", "password": "alice", "userSpace": "renew"}),
    )
    .await;
    assert_xerr(again, 401, 10005).await;
    let c = sim.control().xelion_counters().await.unwrap();
    assert_eq!((c.total.renewals, c.total.renewal_failures), (2, 3));
}

#[tokio::test]
async fn logout_ends_the_session() {
    let sim = start();
    let t = token(&sim, "bob").await;
    let base = sim.xelion_url();
    let r = authed(Method::POST, format!("{base}/api/v1/master/me/logout"), &t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info = authed(Method::GET, format!("{base}/api/v1/master/me/info"), &t)
        .send()
        .await
        .unwrap();
    assert_xerr(info, 401, 10020).await;
    assert_eq!(
        sim.control().xelion_counters().await.unwrap().total.logouts,
        1
    );
}

#[tokio::test]
async fn authentication_errors() {
    let sim = start();
    let base = sim.xelion_url();
    let none = http()
        .get(format!("{base}/api/v1/master/me/info"))
        .send()
        .await
        .unwrap();
    assert_xerr(none, 403, 10000).await;
    let wrong_scheme = http()
        .get(format!("{base}/api/v1/master/me/info"))
        .header("authorization", "Bearer abc")
        .send()
        .await
        .unwrap();
    assert_xerr(wrong_scheme, 401, 10000).await;
    let unknown = authed(Method::GET, format!("{base}/api/v1/master/me/info"), "nope")
        .send()
        .await
        .unwrap();
    assert_xerr(unknown, 401, 10020).await;
    // A token of one tenant is nothing in another.
    sim.control().create_tenant("t2").await.unwrap();
    let t = token(&sim, "alice").await;
    let cross = authed(Method::GET, format!("{base}/api/v1/t2/me/info"), &t)
        .send()
        .await
        .unwrap();
    assert_xerr(cross, 401, 10020).await;
}

#[tokio::test]
async fn me_info_names_the_user() {
    let sim = start();
    let t = token(&sim, "alice").await;
    let v: Value = authed(
        Method::GET,
        format!("{}/api/v1/master/me/info", sim.xelion_url()),
        &t,
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let o = &v["object"];
    assert_eq!(o["userName"], "alice");
    assert_eq!(o["commonName"], "Alice");
    assert_eq!(o["isAdministrator"], false);
    assert!(o["oid"]
        .as_str()
        .is_some_and(|s| s.chars().all(|c| c.is_ascii_digit())));
}

#[tokio::test]
async fn users_filter_page_and_fetch() {
    let sim = start();
    let t = token(&sim, "admin").await;
    let base = format!("{}/api/v1/master", sim.xelion_url());
    let get = |url: String| {
        let t = t.clone();
        async move { authed(Method::GET, url, &t).send().await.unwrap() }
    };
    let v: Value = get(format!("{base}/users?where=userName=bob"))
        .await
        .json()
        .await
        .unwrap();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    let bob = &data[0]["object"];
    assert_eq!(bob["userName"], "bob");
    assert_eq!(bob["isAdministrator"], false);
    assert_eq!(bob["active"], true);
    assert!(bob["objectType"].is_string() && bob["commonName"] == "Bob");
    assert!(data[0]["links"].is_array());
    // The percent-encoded form of the where clause is the same query.
    let enc: Value = get(format!("{base}/users?where=userName%3Dbob"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(enc["data"][0]["object"]["oid"], bob["oid"]);
    let none: Value = get(format!("{base}/users?where=userName=nobody"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    // Paging: two per page, then the rest after nextId.
    let p1: Value = get(format!("{base}/users?limit=2"))
        .await
        .json()
        .await
        .unwrap();
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["object"]["userName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&p1), ["admin", "alice"]);
    let next = p1["meta"]["paging"]["nextId"].as_str().unwrap().to_owned();
    let p2: Value = get(format!("{base}/users?limit=2&after={next}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&p2), ["bob"]);
    let all: Value = get(format!("{base}/users")).await.json().await.unwrap();
    assert_eq!(names(&all), ["admin", "alice", "bob"]);
    let bad = get(format!("{base}/users?limit=many")).await;
    assert_xerr(bad, 400, 10202).await;
    // A single user.
    let oid = bob["oid"].as_str().unwrap();
    let one: Value = get(format!("{base}/users/{oid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["object"]["userName"], "bob");
    assert!(one["links"].is_array());
    assert_xerr(get(format!("{base}/users/999")).await, 404, 10100).await;
    assert_xerr(get(format!("{base}/users/abc")).await, 404, 10100).await;
}

#[tokio::test]
async fn websocket_url_is_built_from_the_host_header() {
    let sim = start();
    let t = token(&sim, "admin").await;
    let url = ws_url(&sim, &t).await;
    let prefix = format!("ws://{}/websocket/", sim.xelion_addr());
    assert!(url.starts_with(&prefix), "{url}");
    assert_eq!(url[prefix.len()..].split('/').count(), 4, "{url}");
    let slash = authed(
        Method::POST,
        format!("{}/api/v1/master/me/websocket/", sim.xelion_url()),
        &t,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(slash.status(), 200);
    let none = http()
        .post(format!("{}/api/v1/master/me/websocket", sim.xelion_url()))
        .send()
        .await
        .unwrap();
    assert_xerr(none, 403, 10000).await;
    assert_eq!(
        sim.control()
            .xelion_counters()
            .await
            .unwrap()
            .total
            .websocket_urls,
        2
    );
}

#[tokio::test]
async fn unknown_paths_get_a_xelion_404() {
    let sim = start();
    let r = http()
        .get(format!("{}/api/v1/master/nothing", sim.xelion_url()))
        .send()
        .await
        .unwrap();
    let v = assert_xerr(r, 404, 10100).await;
    assert_eq!(v["info"], "resource=GET /api/v1/master/nothing");
    let r = http()
        .get(format!("{}/elsewhere", sim.xelion_url()))
        .send()
        .await
        .unwrap();
    assert_xerr(r, 404, 10100).await;
}

#[tokio::test]
async fn short_sessions_expire_and_expired_sessions_free_the_user_space() {
    let sim = start();
    let ctl = sim.control();
    let s = login(&sim, "master", "alice", "alice", "short").await;
    let t = s["authentication"].as_str().unwrap();
    assert_eq!(
        ctl.expire_sessions("master", Some("alice")).await.unwrap(),
        1
    );
    let info = authed(
        Method::GET,
        format!("{}/api/v1/master/me/info", sim.xelion_url()),
        t,
    )
    .send()
    .await
    .unwrap();
    assert_xerr(info, 401, 10021).await;
    let renew = authed(
        Method::POST,
        format!("{}/api/v1/master/me/renew", sim.xelion_url()),
        t,
    )
    .json(&s["renewalToken"])
    .send()
    .await
    .unwrap();
    assert_xerr(renew, 401, 10021).await;
    login(&sim, "master", "alice", "alice", "short").await;
    // A tenant with a zero lifetime hands out sessions that are already over.
    ctl.set_session_lifetime("master", 0).await.unwrap();
    let z = login(&sim, "master", "bob", "bob", "zero").await;
    let r = authed(
        Method::GET,
        format!("{}/api/v1/master/me/info", sim.xelion_url()),
        z["authentication"].as_str().unwrap(),
    )
    .send()
    .await
    .unwrap();
    assert_xerr(r, 401, 10021).await;
}
