//! The token actors driven through their API (`cti_actors::token::Tokens`) over a real store
//! and the CRM simulator: one grant per need, however many callers; old tokens; the outbound
//! rule; un-parking.

use std::time::{Duration, SystemTime};

use cti_actors::domain::{CredentialKind, Protocol, UserId};
use cti_actors::outbound::OutboundPolicy;
use cti_actors::secrets::{Cipher, Secret};
use cti_actors::store::{NewIntegration, NewUserCredentials, Store};
use cti_actors::token::{TokenError, TokenState, Tokens};
use cti_sim::api::CrmSettings;
use cti_sim::{Sim, SimConfig, SimHandle};
use futures_util::future::join_all;

use crate::both_backends;
use crate::helpers::*;

/// A store with one integration whose users are `(name, refresh token)`, all of client
/// `demo-client`, and token actors over it.
struct World {
    sim: SimHandle,
    store: Store,
    tokens: Tokens,
    users: Vec<UserId>,
    _db: Database,
}

impl World {
    /// Outgoing requests may reach loopback (the simulator) unless `allow_loopback` is false.
    async fn start(backend: Backend, users: &[(&str, &str)], allow_loopback: bool) -> World {
        let sim = Sim::start(SimConfig::default()).expect("simulators start");
        let db = Database::fresh(backend);
        let store = Store::open(&db.url, Cipher::from_base64(&db.key).unwrap())
            .await
            .expect("store opens");
        let (_, crm) = store
            .create_integration(NewIntegration {
                host: "xelion.example".into(),
                tenant: "t".into(),
                protocol: Protocol::Https,
                admin_username: "admin".into(),
                admin_password: Secret::new("pw"),
                authorization_server_uri: sim.token_url(),
                authorization_header_prefix: "Bearer ".into(),
                users: users
                    .iter()
                    .map(|(name, refresh)| NewUserCredentials {
                        xelion_username: name.to_string(),
                        xelion_oid: format!("oid-{name}"),
                        client_id: Some("demo-client".into()),
                        client_secret: Some(Secret::new("demo-secret")),
                        device_code: None,
                        refresh_token: Some(Secret::new(*refresh)),
                    })
                    .collect(),
                mappings: vec![],
            })
            .await
            .expect("integration stored");
        let ids = store
            .users(crm.id, None, None)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect();
        let allow: &[&str] = if allow_loopback {
            &["127.0.0.1/8"]
        } else {
            &[]
        };
        let http = OutboundPolicy::parse(allow)
            .unwrap()
            .http_client(Duration::from_secs(5))
            .unwrap();
        let tokens = Tokens::start(store.clone(), http, fast_tokens());
        World {
            sim,
            store,
            tokens,
            users: ids,
            _db: db,
        }
    }

    async fn counters(&self) -> cti_sim::api::CrmCounters {
        self.sim.control().crm_counters().await.unwrap()
    }

    async fn refresh_grants(&self) -> u64 {
        self.counters()
            .await
            .grants
            .get("refresh_token")
            .copied()
            .unwrap_or(0)
    }

    /// Sets the lifetime of the access tokens the simulator issues from now on.
    async fn lifetime(&self, secs: u64) {
        self.sim
            .control()
            .set_crm_settings(&CrmSettings {
                access_token_lifetime_seconds: Some(secs),
                rotate_refresh_tokens: None,
                ..Default::default()
            })
            .await
            .unwrap();
    }

    /// The status the resource server answers a request with this token.
    async fn use_token(&self, token: &Secret) -> u16 {
        reqwest::Client::new()
            .post(format!("{}/crm/calls", self.sim.crm_url()))
            .bearer_auth(token.expose())
            .json(&serde_json::json!({"x": 1}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

async fn a_first_get_refreshes_once_and_a_second_makes_no_request(backend: Backend) {
    let w = World::start(backend, &[("alice", "refresh-alice")], true).await;
    let alice = w.users[0];
    let first = w.tokens.get(alice).await.expect("a token");
    assert_eq!(w.counters().await.token_requests, 1);
    assert_eq!(w.refresh_grants().await, 1);
    assert!(first.expires_at > SystemTime::now() + Duration::from_secs(3000));
    assert_eq!(w.use_token(&first.token).await, 200, "the CRM takes it");

    let second = w.tokens.get(alice).await.expect("a token");
    assert_eq!(second, first);
    assert_eq!(w.counters().await.token_requests, 1, "no second request");
    let status = w.tokens.status(alice).await.unwrap();
    assert_eq!(status.state, TokenState::Ok);
    assert_eq!(status.grants, 1);
    assert!(status.last_refresh_at.is_some() && status.access_token_expires_at.is_some());
}
both_backends!(a_first_get_refreshes_once_and_a_second_makes_no_request);

async fn fifty_concurrent_gets_make_one_grant_and_an_old_token_none(backend: Backend) {
    let w = World::start(backend, &[("alice", "refresh-alice")], true).await;
    let alice = w.users[0];
    // A token that lives 1 s is inside the 60 s margin at once: the next get refreshes.
    w.lifetime(1).await;
    let old = w.tokens.get(alice).await.unwrap();
    w.lifetime(3600).await;

    let answers = join_all((0..50).map(|_| w.tokens.get(alice))).await;
    let new = answers[0].as_ref().expect("a token").clone();
    assert_ne!(new.token, old.token);
    for a in &answers {
        assert_eq!(
            a.as_ref().expect("a token"),
            &new,
            "all 50 get the same token"
        );
    }
    assert_eq!(w.refresh_grants().await, 2, "one grant for 50 callers");
    assert_eq!(w.use_token(&new.token).await, 200);

    // A caller whose old token the CRM refused gets the new one, without a grant.
    let after = w.tokens.invalidate(alice, &old.token).await.unwrap();
    assert_eq!(after, new);
    assert_eq!(w.refresh_grants().await, 2);
    // Refused with the current token: one grant, whoever else asks at the same time.
    let (a, b) = tokio::join!(
        w.tokens.invalidate(alice, &new.token),
        w.tokens.invalidate(alice, &new.token)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_ne!(a.token, new.token);
    assert_eq!(w.refresh_grants().await, 3);
}
both_backends!(fifty_concurrent_gets_make_one_grant_and_an_old_token_none);

async fn a_token_endpoint_not_in_the_outbound_allowlist_is_refused(backend: Backend) {
    let w = World::start(backend, &[("alice", "refresh-alice")], false).await;
    let alice = w.users[0];
    match w.tokens.get(alice).await {
        Err(TokenError::Transient { message, .. }) => {
            assert!(message.contains("--outbound-allow"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let status = w.tokens.status(alice).await.unwrap();
    assert_eq!(status.state, TokenState::BackingOff, "{status:?}");
    assert!(status.error.unwrap().contains("127.0.0.1"));
    assert_eq!(w.counters().await.token_requests, 0, "nothing was sent");
}
both_backends!(a_token_endpoint_not_in_the_outbound_allowlist_is_refused);

async fn a_credential_update_unparks_and_tells_subscribers(backend: Backend) {
    let w = World::start(backend, &[("alice", "refresh-alice")], true).await;
    let alice = w.users[0];
    let control = w.sim.control();
    control.revoke_refresh_token("refresh-alice").await.unwrap();
    match w.tokens.get(alice).await {
        Err(TokenError::NeedsReauthorisation { error, .. }) => assert_eq!(error, "invalid_grant"),
        other => panic!("expected parking, got {other:?}"),
    }
    // Parked: callers get the answer without a request.
    assert!(matches!(
        w.tokens.get(alice).await,
        Err(TokenError::NeedsReauthorisation { .. })
    ));
    assert_eq!(w.counters().await.token_requests, 1);

    let mut unparked = w.tokens.subscribe_unparked();
    control
        .refresh_token("refresh-alice-2", "demo-client", "alice")
        .await
        .unwrap();
    w.store
        .update_user_credential(
            alice,
            CredentialKind::RefreshToken,
            &Secret::new("refresh-alice-2"),
        )
        .await
        .unwrap();
    w.tokens.reload(alice);
    let heard = tokio::time::timeout(Duration::from_secs(5), unparked.recv())
        .await
        .expect("the un-parking is announced")
        .unwrap();
    assert_eq!(heard, alice);
    let token = w.tokens.get(alice).await.expect("a token after the update");
    assert_eq!(w.use_token(&token.token).await, 200);
    assert_eq!(w.refresh_grants().await, 1);
}
both_backends!(a_credential_update_unparks_and_tells_subscribers);

async fn a_deleted_user_is_no_such_user(backend: Backend) {
    let w = World::start(backend, &[("alice", "refresh-alice")], true).await;
    let alice = w.users[0];
    w.tokens.get(alice).await.unwrap();
    w.store.delete_user(alice).await.unwrap();
    w.tokens.forget(alice);
    assert!(matches!(
        w.tokens.get(alice).await,
        Err(TokenError::NoSuchUser)
    ));
    assert!(matches!(
        w.tokens.status(UserId(alice.0 + 1000)).await,
        Err(TokenError::NoSuchUser)
    ));
}
both_backends!(a_deleted_user_is_no_such_user);
