//! The CRM token endpoint: grants, rotation, revocation, device codes, errors.

use cti_sim::api::{CrmSettings, NewDeviceCode};
use serde_json::Value;

use crate::helpers::*;

const DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A resource request with a bearer token; returns the status.
async fn use_token(sim: &cti_sim::SimHandle, token: &str) -> u16 {
    http()
        .post(format!("{}/crm/calls", sim.crm_url()))
        .bearer_auth(token)
        .json(&serde_json::json!({"x": 1}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn refresh_token_grant_with_form_or_basic_client_auth() {
    let sim = start();
    let (status, v) = refresh(&sim, "refresh-alice").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert!(
        v.get("refresh_token").is_none(),
        "no rotation by default: {v}"
    );
    let token = v["access_token"].as_str().unwrap();
    assert_eq!(use_token(&sim, token).await, 200);
    let r = http()
        .post(sim.token_url())
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "refresh-bob"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        use_token(&sim, v["access_token"].as_str().unwrap()).await,
        200
    );
    let recorded = sim
        .control()
        .crm_requests_where(&[("subject", "bob")])
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    let c = sim.control().crm_counters().await.unwrap();
    assert_eq!(c.grants["refresh_token"], 2);
    assert_eq!(c.token_requests, 2);
}

#[tokio::test]
async fn a_rotated_away_refresh_token_gets_invalid_grant() {
    let sim = start();
    let ctl = sim.control();
    let s = ctl
        .set_crm_settings(&CrmSettings {
            rotate_refresh_tokens: Some(true),
            access_token_lifetime_seconds: Some(120),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.rotate_refresh_tokens, Some(true));
    let (status, v) = refresh(&sim, "refresh-alice").await;
    assert_eq!(status, 200);
    assert_eq!(v["expires_in"], 120);
    let next = v["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, "refresh-alice");
    let (status, v) = refresh(&sim, "refresh-alice").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    assert!(v["error_description"].is_string());
    let (status, v) = refresh(&sim, &next).await;
    assert_eq!(status, 200, "{v}");
    // The rotated token keeps its subject.
    assert_eq!(
        use_token(&sim, v["access_token"].as_str().unwrap()).await,
        200
    );
    let recorded = ctl.crm_requests().await.unwrap();
    assert_eq!(recorded[0].subject.as_deref(), Some("alice"));
    assert_eq!(
        ctl.crm_counters().await.unwrap().token_errors["invalid_grant"],
        1
    );
}

#[tokio::test]
async fn revoked_and_unknown_refresh_tokens_get_invalid_grant() {
    let sim = start();
    let ctl = sim.control();
    ctl.revoke_refresh_token("refresh-bob").await.unwrap();
    let (status, v) = refresh(&sim, "refresh-bob").await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_grant")));
    let (status, v) = refresh(&sim, "never-issued").await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_grant")));
    // A token bound to another client.
    ctl.add_client("other", Some("s")).await.unwrap();
    let (status, v) = token_request(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "refresh-alice"),
            ("client_id", "other"),
            ("client_secret", "s"),
        ],
    )
    .await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_grant")));
    assert!(ctl.revoke_refresh_token("never-issued").await.is_err());
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let sim = start();
    let cases: [&[(&str, &str)]; 3] = [
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "refresh-alice"),
            ("client_id", "demo-client"),
            ("client_secret", "wrong"),
        ],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "refresh-alice"),
            ("client_id", "stranger"),
            ("client_secret", "x"),
        ],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "refresh-alice"),
        ],
    ];
    for form in cases {
        let (status, v) = token_request(&sim, form).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (401, Some("invalid_client")),
            "{form:?}"
        );
    }
    // A public client authenticates with its id alone.
    sim.control().add_client("public", None).await.unwrap();
    sim.control()
        .refresh_token("rt-public", "public", "carol")
        .await
        .unwrap();
    let (status, _) = token_request(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt-public"),
            ("client_id", "public"),
        ],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_token_requests() {
    let sim = start();
    let (status, v) = token_request(
        &sim,
        &[
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, v) = token_request(
        &sim,
        &[
            ("grant_type", "password"),
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, v) = token_request(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let r = http()
        .post(sim.token_url())
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");
}

#[tokio::test]
async fn client_credentials_grant() {
    let sim = start();
    let (status, v) = token_request(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(v.get("refresh_token").is_none());
    assert_eq!(
        use_token(&sim, v["access_token"].as_str().unwrap()).await,
        200
    );
    let recorded = sim.control().crm_requests().await.unwrap();
    assert_eq!(recorded[0].subject.as_deref(), Some("demo-client"));
    assert_eq!(
        sim.control().crm_counters().await.unwrap().grants["client_credentials"],
        1
    );
}

/// Polls a device code once.
async fn poll(sim: &cti_sim::SimHandle, code: &str) -> (u16, Value) {
    token_request(
        sim,
        &[
            ("grant_type", DEVICE),
            ("device_code", code),
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await
}

#[tokio::test]
async fn device_code_is_pending_until_approved() {
    let sim = start();
    let ctl = sim.control();
    let code = ctl
        .add_device_code(&NewDeviceCode {
            device_code: Some("dev-1".into()),
            subject: "alice".into(),
            interval_seconds: Some(0),
            ..NewDeviceCode::default()
        })
        .await
        .unwrap()
        .token;
    for _ in 0..3 {
        let (status, v) = poll(&sim, &code).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("authorization_pending"))
        );
    }
    ctl.approve_device_code(&code).await.unwrap();
    let (status, v) = poll(&sim, &code).await;
    assert_eq!(status, 200, "{v}");
    let refresh_token = v["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        use_token(&sim, v["access_token"].as_str().unwrap()).await,
        200
    );
    assert_eq!(
        ctl.crm_requests().await.unwrap()[0].subject.as_deref(),
        Some("alice")
    );
    // The code is spent; the refresh token it produced works.
    let (status, v) = poll(&sim, &code).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_grant")));
    let (status, _) = refresh(&sim, &refresh_token).await;
    assert_eq!(status, 200);
    let c = ctl.crm_counters().await.unwrap();
    assert_eq!(c.grants["device_code"], 1);
    assert_eq!(c.token_errors["authorization_pending"], 3);
}

#[tokio::test]
async fn device_code_slow_down_expiry_and_denial() {
    let sim = start();
    let ctl = sim.control();
    let slow = ctl
        .add_device_code(&NewDeviceCode {
            subject: "bob".into(),
            interval_seconds: Some(3600),
            ..NewDeviceCode::default()
        })
        .await
        .unwrap()
        .token;
    let (_, v) = poll(&sim, &slow).await;
    assert_eq!(v["error"], "authorization_pending");
    let (status, v) = poll(&sim, &slow).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("slow_down")));
    let expired = ctl
        .add_device_code(&NewDeviceCode {
            subject: "bob".into(),
            expires_in_seconds: Some(0),
            ..NewDeviceCode::default()
        })
        .await
        .unwrap()
        .token;
    let (_, v) = poll(&sim, &expired).await;
    assert_eq!(v["error"], "expired_token");
    let denied = ctl
        .add_device_code(&NewDeviceCode {
            subject: "bob".into(),
            ..NewDeviceCode::default()
        })
        .await
        .unwrap()
        .token;
    ctl.deny_device_code(&denied).await.unwrap();
    let (_, v) = poll(&sim, &denied).await;
    assert_eq!(v["error"], "access_denied");
    assert!(
        ctl.approve_device_code(&denied).await.is_err(),
        "no longer pending"
    );
    let (_, v) = poll(&sim, "unknown-code").await;
    assert_eq!(v["error"], "invalid_grant");
}

#[tokio::test]
async fn expired_access_tokens_are_refused() {
    let sim = start();
    let ctl = sim.control();
    let token = alice_access_token(&sim).await;
    assert_eq!(use_token(&sim, &token).await, 200);
    assert_eq!(ctl.expire_access_tokens(Some("alice")).await.unwrap(), 1);
    assert_eq!(use_token(&sim, &token).await, 401);
    // A fresh refresh gives a working token again.
    assert_eq!(use_token(&sim, &alice_access_token(&sim).await).await, 200);
}
