//! `api/xelion-environment/{id}` and the admin credential updates.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn environment_moves_and_ends_old_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, _) = app.create_integration().await;
    let token = app.login().await;
    let path = format!("/api/xelion-environment/{xid}");
    let (s, env) = app.get(&path, Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        env,
        json!({"host": app.xelion_host(), "protocol": "http", "tenant": "master"})
    );

    // Bad protocol and unreachable new places are refused; nothing changes.
    let (s, b) = app
        .put(
            &path,
            Some(&token),
            &json!({"host": app.xelion_host(), "protocol": "ftp", "tenant": "master"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("protocol"), "{msg}");
    let (s, b) = app
        .put(
            &path,
            Some(&token),
            &json!({"host": app.xelion_host(), "protocol": "http", "tenant": "nosuch"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (_, env_after) = app.get(&path, Some(&token)).await;
    assert_eq!(env_after, env);

    // The same simulator under another name: the admin login there succeeds.
    let new_host = format!("localhost:{}", app.sim.xelion_addr().port());
    let (s, b) = app
        .put(
            &path,
            Some(&token),
            &json!({"host": new_host, "protocol": "http", "tenant": "master"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The old session was scoped to the old host: it must log in again.
    let (s, b) = app.get(&path, Some(&token)).await;
    error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);
    let (s, b) = app
        .post("/api/session/login", None, &json!({"adminUsername": "admin", "adminPassword": "admin", "host": new_host, "tenant": "master"}))
        .await;
    assert_eq!(s, StatusCode::OK, "stored protocol (http) is used: {b}");
    let token = b["authentication"].as_str().unwrap().to_string();
    let (_, env) = app.get(&path, Some(&token)).await;
    assert_eq!(
        env,
        json!({"host": new_host, "protocol": "http", "tenant": "master"})
    );
    let (s, got) = app
        .get(
            &format!("/api/crm-integrations?xelionHost={new_host}&xelionTenant=master"),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{got}");
}
both_backends!(environment_moves_and_ends_old_sessions);

async fn admin_credentials_are_verified_before_they_are_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let control = app.control();
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let pw_path = format!("/api/xelion-environment/{xid}/admin/password/update");
    let user_path = format!("/api/xelion-environment/{xid}/admin/username/update");

    // A body of the other kind names the endpoint it belongs to.
    let (s, b) = app
        .post(
            &pw_path,
            Some(&token),
            &json!({"oldUsername": "admin", "newUsername": "root"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("admin/username/update"), "{msg}");
    let (s, b) = app
        .post(
            &user_path,
            Some(&token),
            &json!({"oldPassword": "admin", "newPassword": "x"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("admin/password/update"), "{msg}");

    // The old value must match.
    let (s, b) = app
        .post(
            &pw_path,
            Some(&token),
            &json!({"oldPassword": "wrong", "newPassword": "n3w-pass"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    assert!(msg.contains("oldPassword"), "{msg}");

    // A new password Xelion does not accept is not stored.
    let (s, b) = app
        .post(
            &pw_path,
            Some(&token),
            &json!({"oldPassword": "admin", "newPassword": "n3w-pass"}),
        )
        .await;
    error_message(s, &b, StatusCode::UNAUTHORIZED, 10004);

    // Changed in Xelion: now the update goes through, and later admin work uses it
    // (registering a user logs in with the stored credentials).
    control
        .update_user(
            "master",
            "admin",
            &cti_sim::api::UserUpdate {
                password: Some("n3w-pass".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (s, b) = app
        .post(
            &pw_path,
            Some(&token),
            &json!({"oldPassword": "admin", "newPassword": "n3w-pass"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let users = format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials");
    control
        .add_user("master", &cti_sim::NewUser::new("dave", "dave", false))
        .await
        .unwrap();
    let (s, b) = app
        .post(&users, Some(&token), &json!({"xelionUsername": "dave"}))
        .await;
    assert_eq!(s, StatusCode::OK, "stored admin password was replaced: {b}");

    // Username: the old must match; a non-administrator is refused; an administrator is stored.
    let (s, b) = app
        .post(
            &user_path,
            Some(&token),
            &json!({"oldUsername": "someone", "newUsername": "x"}),
        )
        .await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10202);
    control
        .add_user("master", &cti_sim::NewUser::new("ops", "n3w-pass", false))
        .await
        .unwrap();
    let (s, b) = app
        .post(
            &user_path,
            Some(&token),
            &json!({"oldUsername": "admin", "newUsername": "ops"}),
        )
        .await;
    error_message(s, &b, StatusCode::FORBIDDEN, 10101);
    control
        .update_user(
            "master",
            "ops",
            &cti_sim::api::UserUpdate {
                is_administrator: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (s, b) = app
        .post(
            &user_path,
            Some(&token),
            &json!({"oldUsername": "admin", "newUsername": "ops"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    control
        .add_user("master", &cti_sim::NewUser::new("erin", "erin", false))
        .await
        .unwrap();
    let (s, b) = app
        .post(&users, Some(&token), &json!({"xelionUsername": "erin"}))
        .await;
    assert_eq!(s, StatusCode::OK, "stored admin username was replaced: {b}");
}
both_backends!(admin_credentials_are_verified_before_they_are_stored);
