//! `user-credentials` and `api/users/{userId}`.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn register_read_change_and_delete_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let control = app.control();
    control
        .add_user("master", &cti_sim::NewUser::new("dave", "dave", false))
        .await
        .unwrap();
    control
        .add_user("master", &cti_sim::NewUser::new("erin", "erin", false))
        .await
        .unwrap();
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let path = format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials");
    let sim_users = control.users("master").await.unwrap();
    let oid_of = |name: &str| oid_in(&sim_users, name);

    // One element: the documented single object.
    let (s, one) = app
        .post(
            &path,
            Some(&token),
            &json!([{"xelionUsername": "dave", "clientId": "c", "refreshToken": "r"}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["xelionUsername"], "dave");
    assert_eq!(one["xelionOid"], json!(oid_of("dave")));
    let dave_id = one["userCredentialsId"].as_str().unwrap().to_string();

    // A duplicate: 409, and the other element of the request is not stored either.
    let (s, b) = app
        .post(
            &path,
            Some(&token),
            &json!([{"xelionUsername": "erin"}, {"xelionUsername": "dave"}]),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::CONFLICT, 10300);
    assert!(msg.contains("dave"), "{msg}");
    let (_, filtered) = app
        .get(&format!("{path}?username=erin"), Some(&token))
        .await;
    assert_eq!(filtered, json!([]));

    // Unknown to Xelion: 422. Unknown contexts: 404.
    let (s, b) = app
        .post(&path, Some(&token), &json!({"xelionUsername": "zed"}))
        .await;
    error_message(s, &b, StatusCode::UNPROCESSABLE_ENTITY, 10301);
    let (s, b) = app
        .post(
            &format!("/api/crm-integrations/{xid}/crm-contexts/999/user-credentials"),
            Some(&token),
            &json!({"xelionUsername": "erin"}),
        )
        .await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (s, b) = app
        .post(
            &format!("/api/crm-integrations/999/crm-contexts/{cid}/user-credentials"),
            Some(&token),
            &json!({"xelionUsername": "erin"}),
        )
        .await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (s, b) = app
        .post(&path, None, &json!({"xelionUsername": "erin"}))
        .await;
    error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);

    // Without a token the answer is 401 whatever the body.
    let (s, b) = app
        .request_raw(reqwest::Method::POST, &path, None, b"{not json".to_vec())
        .await;
    error_message(s, &b, StatusCode::UNAUTHORIZED, 10000);

    // A single object is accepted too; two elements answer an array.
    control
        .add_user("master", &cti_sim::NewUser::new("frank", "frank", false))
        .await
        .unwrap();
    let (s, two) = app
        .post(
            &path,
            Some(&token),
            &json!([{"xelionUsername": "erin"}, {"xelionUsername": "frank"}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{two}");
    assert_eq!(two.as_array().map(Vec::len), Some(2));

    // Filters.
    let (_, by_name) = app
        .get(&format!("{path}?username=dave"), Some(&token))
        .await;
    assert_eq!(by_name.as_array().unwrap().len(), 1);
    assert_eq!(by_name[0]["userCredentialsId"], json!(dave_id));
    let (_, by_oid) = app
        .get(&format!("{path}?oid={}", oid_of("erin")), Some(&token))
        .await;
    assert_eq!(by_oid[0]["xelionUsername"], "erin");
    let (_, all) = app.get(&path, Some(&token)).await;
    assert_eq!(all.as_array().unwrap().len(), 5);

    // GET /api/users/{id}: the right values in the right fields.
    let user_path = format!("/api/users/{dave_id}");
    let (s, user) = app.get(&user_path, Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        user,
        json!({"xelionOid": oid_of("dave"), "xelionUsername": "dave"})
    );

    // PUT: a new name, the oid looked up in Xelion; visible through user-credentials.
    let (s, changed) = app
        .put(
            &user_path,
            Some(&token),
            &json!({"xelionUsername": "frank"}),
        )
        .await;
    error_message(s, &changed, StatusCode::CONFLICT, 10300);
    control
        .add_user("master", &cti_sim::NewUser::new("grace", "grace", false))
        .await
        .unwrap();
    let grace_oid = oid_in(&control.users("master").await.unwrap(), "grace");
    let (s, changed) = app
        .put(
            &user_path,
            Some(&token),
            &json!({"xelionUsername": "grace"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(
        changed,
        json!({"xelionOid": grace_oid, "xelionUsername": "grace"})
    );
    let (_, by_name) = app
        .get(&format!("{path}?username=grace"), Some(&token))
        .await;
    assert_eq!(by_name[0]["userCredentialsId"], json!(dave_id));
    // An oid that is not grace's is refused (see user_oid.rs); hers is taken.
    let (s, changed) = app
        .put(
            &user_path,
            Some(&token),
            &json!({"xelionUsername": "grace", "xelionOid": grace_oid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(changed["xelionOid"], json!(grace_oid));
    let (s, b) = app
        .put(
            &user_path,
            Some(&token),
            &json!({"xelionUsername": "nobody-here"}),
        )
        .await;
    error_message(s, &b, StatusCode::UNPROCESSABLE_ENTITY, 10301);

    // The four credential updates; anything else is a 400.
    for kind in ["clientid", "clientsecret", "refreshtoken", "devicecode"] {
        let (s, b) = app
            .post(
                &format!("{user_path}/{kind}/update"),
                Some(&token),
                &json!({"value": format!("new-{kind}")}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{kind}: {b}");
    }
    let (s, b) = app
        .post(
            &format!("{user_path}/password/update"),
            Some(&token),
            &json!({"value": "x"}),
        )
        .await;
    let msg = error_message(s, &b, StatusCode::BAD_REQUEST, 10205);
    assert!(
        msg.contains("clientid, clientsecret, refreshtoken, devicecode"),
        "{msg}"
    );
    let (s, b) = app
        .post(
            &format!("{user_path}/clientid/update"),
            Some(&token),
            &json!({"valeu": "x"}),
        )
        .await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10202);

    // DELETE.
    let (s, _) = app.delete(&user_path, Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app.get(&user_path, Some(&token)).await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (_, all) = app.get(&path, Some(&token)).await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    let (s, b) = app.get("/api/users/0", Some(&token)).await;
    error_message(s, &b, StatusCode::NOT_FOUND, 10100);
    let (s, b) = app.get("/api/users/x1", Some(&token)).await;
    error_message(s, &b, StatusCode::BAD_REQUEST, 10205);
}
both_backends!(register_read_change_and_delete_users);
