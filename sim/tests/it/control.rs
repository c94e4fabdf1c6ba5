//! The control API and the Rust handle.

use cti_sim::api::{NewTenant, Scenario};
use cti_sim::{Control, NewUser, Sim, SimConfig};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn the_default_world() {
    let sim = start();
    let ctl = sim.control();
    let t = ctl.tenant("master").await.unwrap();
    let users: Vec<(&str, bool)> = t
        .users
        .iter()
        .map(|u| (u.user_name.as_str(), u.is_administrator))
        .collect();
    assert_eq!(users, [("admin", true), ("alice", false), ("bob", false)]);
    assert_eq!(t.users[1].phone_number, "+31101000001");
    assert!(t
        .users
        .iter()
        .all(|u| u.oid.chars().all(|c| c.is_ascii_digit())));
    for who in ["admin", "alice", "bob"] {
        login(&sim, "master", who, who, "world").await;
    }
    let (status, _) = refresh(&sim, "refresh-bob").await;
    assert_eq!(status, 200);
    let clients = http()
        .get(format!("{}/_sim/crm/clients", sim.crm_url()))
        .send()
        .await
        .unwrap();
    let clients: Value = clients.json().await.unwrap();
    assert_eq!(
        clients,
        json!([{"clientId": "demo-client", "clientSecret": "demo-secret"}])
    );
}

#[tokio::test]
async fn an_empty_world_and_building_one() {
    let sim = Sim::start(SimConfig::empty()).unwrap();
    let ctl = sim.control();
    let list = http()
        .get(format!("{}/_sim/xelion/tenants", sim.xelion_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(list.json::<Value>().await.unwrap(), json!([]));
    let t = ctl
        .create_tenant_with(&NewTenant {
            name: "acme".into(),
            session_lifetime_seconds: Some(60),
        })
        .await
        .unwrap();
    assert_eq!(t.session_lifetime_seconds, 60);
    let carol = ctl
        .add_user(
            "acme",
            &NewUser {
                common_name: Some("Carol C".into()),
                phone_number: Some("+31109999999".into()),
                ..NewUser::new("carol", "secret", true)
            },
        )
        .await
        .unwrap();
    assert_eq!(carol.common_name, "Carol C");
    let dan = ctl
        .add_user("acme", &NewUser::new("dan", "pw", false))
        .await
        .unwrap();
    assert!(dan.phone_number.starts_with("+31101"), "{dan:?}");
    assert_ne!(carol.oid, dan.oid);
    assert!(ctl
        .create_tenant("acme")
        .await
        .unwrap_err()
        .to_string()
        .contains("409"));
    assert!(ctl
        .add_user("acme", &NewUser::new("dan", "x", false))
        .await
        .unwrap_err()
        .to_string()
        .contains("409"));
    assert!(ctl
        .add_user("nowhere", &NewUser::new("x", "x", false))
        .await
        .unwrap_err()
        .to_string()
        .contains("404"));
    let v = login(&sim, "acme", "carol", "secret", "s").await;
    assert_eq!(v["tenant"], "acme");
    // The refresh token of the default world does not exist here.
    let (status, v) = refresh(&sim, "refresh-alice").await;
    assert_eq!((status, v["error"].as_str()), (401, Some("invalid_client")));
    ctl.add_client("demo-client", Some("demo-secret"))
        .await
        .unwrap();
    ctl.refresh_token("refresh-alice", "demo-client", "alice")
        .await
        .unwrap();
    let (status, _) = refresh(&sim, "refresh-alice").await;
    assert_eq!(status, 200);
    ctl.delete_tenant("acme").await.unwrap();
    assert!(ctl.tenant("acme").await.is_err());
}

#[tokio::test]
async fn bad_control_requests_say_what_is_wrong() {
    let sim = start();
    let base = sim.xelion_url();
    let cases = [
        ("/_sim/xelion/tenants", json!({"nome": "x"})),
        ("/_sim/xelion/tenants", json!({"name": "bad name/"})),
        (
            "/_sim/xelion/tenants/master/users",
            json!({"userName": "x"}),
        ),
        (
            "/_sim/xelion/tenants/master/calls",
            json!({"from": 5, "to": "bob"}),
        ),
        ("/_sim/xelion/faults", json!({"kind": "status"})),
        ("/_sim/xelion/faults", json!({"kind": "explode"})),
        (
            "/_sim/crm/faults",
            json!({"kind": "status", "status": 503, "tenant": "x"}),
        ),
        ("/_sim/crm/refresh-tokens", json!({"token": "x"})),
    ];
    for (path, body) in cases {
        let r = http()
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path} {body}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let garbage = http()
        .post(format!("{base}/_sim/xelion/tenants"))
        .body("{{{")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let unknown = http()
        .get(format!("{base}/_sim/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.json::<Value>().await.unwrap()["error"].is_string());
    let bad_id = http()
        .delete(format!("{base}/_sim/crm/faults/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_id.status(), 400);
    // Unknown control routes on the CRM listener are not recorded as CRM requests.
    let r = http()
        .get(format!("{}/_sim/nothing", sim.crm_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(sim.control().crm_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_control_api_is_on_both_listeners() {
    let sim = start();
    let via_crm = Control::new(&sim.crm_url());
    let placed = via_crm
        .call_between("master", "alice", "bob", Scenario::Missed)
        .await
        .unwrap();
    assert_eq!(placed.events.len(), 2);
    assert_eq!(
        sim.control()
            .xelion_counters()
            .await
            .unwrap()
            .total
            .calls_placed,
        1
    );
    let s = via_crm.crm_settings().await.unwrap();
    assert_eq!(s.access_token_lifetime_seconds, Some(3600));
    assert_eq!(s.rotate_refresh_tokens, Some(false));
}

#[actix_rt::test]
async fn works_under_actix_rt_and_stops() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let addr = sim.xelion_addr();
    let v = login(&sim, "master", "admin", "admin", "actix").await;
    assert!(v["authentication"].is_string());
    sim.stop();
    // The port is released: binding it again works.
    let again = Sim::start(SimConfig {
        xelion_listen: addr,
        ..SimConfig::empty()
    });
    assert!(again.is_ok(), "{:?}", again.err());
}

#[test]
fn a_taken_port_is_an_error_not_a_panic() {
    let first = Sim::start(SimConfig::empty()).unwrap();
    let second = Sim::start(SimConfig {
        crm_listen: first.crm_addr(),
        ..SimConfig::empty()
    });
    assert!(second.is_err());
}

#[tokio::test]
async fn stopping_with_an_open_socket_ends_it() {
    use futures_util::StreamExt;
    let sim = start();
    let mut ws = open_socket(&sim, "admin").await;
    sim.control()
        .wait_for_open_sockets("master", 1, WAIT)
        .await
        .unwrap();
    sim.stop();
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the socket ends")
        {
            None | Some(Err(_)) | Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => {
                break
            }
            Some(Ok(_)) => continue,
        }
    }
}
