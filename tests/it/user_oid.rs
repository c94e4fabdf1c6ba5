//! `PUT /api/users/{userId}` checks `xelionOid` against Xelion and keeps it unique in the crm
//! context, as the user name is.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn a_user_cannot_take_another_users_oid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let path = format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials");
    let sim = app.control().users("master").await.unwrap();
    let (alice_oid, bob_oid) = (oid_in(&sim, "alice"), oid_in(&sim, "bob"));
    let (_, bob) = app.get(&format!("{path}?username=bob"), Some(&token)).await;
    let bob_path = format!(
        "/api/users/{}",
        bob[0]["userCredentialsId"].as_str().unwrap()
    );

    // alice's oid for bob: not bob's oid in Xelion.
    let (s, b) = app
        .put(
            &bob_path,
            Some(&token),
            &json!({"xelionUsername": "bob", "xelionOid": alice_oid}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(
        msg.starts_with("xelionOid:") && msg.contains(&bob_oid),
        "names the field and the right oid: {msg}"
    );
    // An oid that is no oid at all.
    let (s, b) = app
        .put(
            &bob_path,
            Some(&token),
            &json!({"xelionUsername": "bob", "xelionOid": "abc"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("`abc`"), "{msg}");
    // alice's name (and so her oid) for bob: both are alice's registration.
    let (s, b) = app
        .put(&bob_path, Some(&token), &json!({"xelionUsername": "alice"}))
        .await;
    let msg = error_message(s, &b, StatusCode::CONFLICT, 10300);
    assert!(msg.contains(&alice_oid), "{msg}");

    // Nothing changed: two users, two oids.
    let (_, all) = app.get(&path, Some(&token)).await;
    let mut oids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["xelionOid"].as_str().unwrap())
        .collect();
    oids.sort();
    let mut expected = vec![alice_oid.as_str(), bob_oid.as_str()];
    expected.sort();
    assert_eq!(oids, expected);

    // bob's own oid, given or looked up: fine.
    let (s, b) = app
        .put(
            &bob_path,
            Some(&token),
            &json!({"xelionUsername": "bob", "xelionOid": bob_oid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b, json!({"xelionOid": bob_oid, "xelionUsername": "bob"}));
    let (s, b) = app
        .put(&bob_path, Some(&token), &json!({"xelionUsername": "bob"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["xelionOid"], json!(bob_oid));
}
both_backends!(a_user_cannot_take_another_users_oid);
