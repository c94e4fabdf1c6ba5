//! Storage on both backends: every test is written once and runs on SQLite and on
//! PostgreSQL (which must be reachable: see `cti_actors::store::testdb`).

use std::path::{Path, PathBuf};

use cti_actors::secrets::{Cipher, Secret};
use cti_actors::store::{
    testdb, ApiSession, Backend, CredentialKind, HttpMethod, NewIntegration, NewMapping,
    NewUserCredentials, Protocol, Store, StoreError, UserId, XelionEvent,
};
use serde_json::json;

const ADMIN_PASSWORD: &str = "adm1n-P4ssw0rd-plaintext";
const CLIENT_SECRET: &str = "cl1ent-s3cret-plaintext";
const REFRESH_TOKEN: &str = "r3fresh-t0ken-plaintext";
const DEVICE_CODE: &str = "d3vice-c0de-plaintext";

/// One test's database, key file and scratch directory.
struct Ctx {
    store: Store,
    url: String,
    key_file: PathBuf,
    dir: PathBuf,
}

impl Ctx {
    async fn new(backend: Backend) -> Ctx {
        let dir = std::env::temp_dir().join(format!("xcti-store-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = match backend {
            Backend::Sqlite => testdb::fresh_sqlite_url(&dir),
            Backend::Postgres => testdb::fresh_postgres_url().unwrap_or_else(|e| panic!("{e}")),
        };
        let key_file = dir.join("master.key");
        let cipher = Cipher::from_key_file(&key_file).unwrap();
        let store = Store::open(&url, cipher).await.unwrap();
        assert_eq!(store.backend(), backend);
        Ctx {
            store,
            url,
            key_file,
            dir,
        }
    }

    async fn count(&self, sql: &'static str) -> i64 {
        self.store.raw_i64(sql).await.unwrap()
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `body` on a fresh store of each backend.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Ctx::new(cti_actors::store::Backend::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Ctx::new(cti_actors::store::Backend::Postgres).await).await;
            }
        }
    };
}

fn user(name: &str, oid: &str) -> NewUserCredentials {
    NewUserCredentials {
        xelion_username: name.to_string(),
        xelion_oid: oid.to_string(),
        client_id: Some(format!("client-of-{name}")),
        client_secret: Some(Secret::new(format!("{CLIENT_SECRET}-{name}"))),
        device_code: Some(Secret::new(format!("{DEVICE_CODE}-{name}"))),
        refresh_token: Some(Secret::new(format!("{REFRESH_TOKEN}-{name}"))),
    }
}

fn bare_user(name: &str, oid: &str) -> NewUserCredentials {
    NewUserCredentials {
        xelion_username: name.to_string(),
        xelion_oid: oid.to_string(),
        client_id: None,
        client_secret: None,
        device_code: None,
        refresh_token: None,
    }
}

fn mapping(event: &str, payload: Option<serde_json::Value>) -> NewMapping {
    NewMapping {
        xelion_event: event.parse().unwrap(),
        crm_resource_uri: format!("https://crm.example/{event}?id=${{callId}}"),
        crm_resource_payload: payload,
        method: HttpMethod::Post,
        headers: None,
    }
}

/// An integration whose crm context is a new one each time (its token endpoint carries a
/// sequence number): identical crm contexts are refused (see `identical_crm_context_conflicts`).
fn integration(host: &str, tenant: &str, users: Vec<NewUserCredentials>) -> NewIntegration {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    NewIntegration {
        authorization_server_uri: format!("https://login.crm.example/oauth2/token?n={n}"),
        ..same_crm_integration(host, tenant, users)
    }
}

/// An integration whose crm context has the same fields every time.
fn same_crm_integration(
    host: &str,
    tenant: &str,
    users: Vec<NewUserCredentials>,
) -> NewIntegration {
    NewIntegration {
        host: host.to_string(),
        tenant: tenant.to_string(),
        protocol: Protocol::Https,
        admin_username: "admin".to_string(),
        admin_password: Secret::new(ADMIN_PASSWORD),
        authorization_server_uri: "https://login.crm.example/oauth2/token".to_string(),
        authorization_header_prefix: "Bearer ".to_string(),
        users,
        mappings: vec![
            mapping(
                "newCallEvent",
                Some(
                    json!({"fromNumber": "${callerPhoneNumber}", "myObject": {"callId": "${callId}"}}),
                ),
            ),
            NewMapping {
                method: HttpMethod::Put,
                headers: Some(json!({"X-Api": "1"})),
                ..mapping("missedCallEvent", None)
            },
        ],
    }
}

fn is_created_at(s: &str) -> bool {
    // yyyy-MM-ddTHH:mm:ss.fffffffff
    let b = s.as_bytes();
    s.len() == 29
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------

both!(open_ping_migrate);
async fn open_ping_migrate(ctx: Ctx) {
    ctx.store.ping().await.unwrap();
    // migrations are idempotent, and reopening runs them again
    ctx.store.migrate().await.unwrap();
    let again = Store::open(&ctx.url, Cipher::from_key_file(&ctx.key_file).unwrap())
        .await
        .unwrap();
    again.ping().await.unwrap();
    assert!(again.list_xelion_contexts().await.unwrap().is_empty());
}

both!(open_unmigrated_leaves_the_schema_to_migrate);
async fn open_unmigrated_leaves_the_schema_to_migrate(ctx: Ctx) {
    // a second, empty database of the same backend
    let url = match ctx.store.backend() {
        Backend::Sqlite => testdb::fresh_sqlite_url(&ctx.dir),
        Backend::Postgres => testdb::fresh_postgres_url().unwrap_or_else(|e| panic!("{e}")),
    };
    let store = Store::open_unmigrated(&url, Cipher::from_key([1; 32]))
        .await
        .unwrap();
    store.ping().await.unwrap();
    assert!(
        store.list_xelion_contexts().await.is_err(),
        "no tables before migrate"
    );
    store.migrate().await.unwrap();
    assert!(store.list_xelion_contexts().await.unwrap().is_empty());
    store.close().await;
}

both!(create_integration_stores_everything);
async fn create_integration_stores_everything(ctx: Ctx) {
    let s = &ctx.store;
    let (xc, crm) = s
        .create_integration(integration(
            "Tenant.Example.com",
            "acme",
            vec![
                user("alice", "100"),
                user("bob", "200"),
                bare_user("carol", "300"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(xc.host, "Tenant.Example.com");
    assert_eq!(xc.tenant, "acme");
    assert_eq!(xc.protocol, "https");
    assert_eq!(xc.admin_username, "admin");
    assert!(is_created_at(&xc.created_at), "{}", xc.created_at);
    assert_eq!(crm.xelion_context_id, xc.id);
    assert!(crm
        .authorization_server_uri
        .starts_with("https://login.crm.example/oauth2/token?n="));
    assert_eq!(crm.authorization_header_prefix, "Bearer ");

    assert_eq!(s.xelion_context(xc.id).await.unwrap(), Some(xc.clone()));
    assert_eq!(
        s.xelion_context((xc.id.0 + 1000).into()).await.unwrap(),
        None
    );
    assert_eq!(s.list_xelion_contexts().await.unwrap(), vec![xc.clone()]);
    assert_eq!(
        s.find_xelion_context("tenant.EXAMPLE.com", "acme")
            .await
            .unwrap(),
        Some(xc.clone())
    );
    assert_eq!(
        s.find_xelion_context("tenant.example.com", "ACME")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.find_xelion_context("other.example.com", "acme")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.admin_password(xc.id).await.unwrap().expose(),
        ADMIN_PASSWORD
    );

    assert_eq!(s.crm_contexts(xc.id).await.unwrap(), vec![crm.clone()]);
    assert_eq!(
        s.crm_context(xc.id, crm.id).await.unwrap(),
        Some(crm.clone())
    );
    assert_eq!(
        s.crm_context((xc.id.0 + 1000).into(), crm.id)
            .await
            .unwrap(),
        None
    );

    let users = s.users(crm.id, None, None).await.unwrap();
    assert_eq!(
        users
            .iter()
            .map(|u| u.xelion_username.as_str())
            .collect::<Vec<_>>(),
        ["alice", "bob", "carol"]
    );
    let alice = &users[0];
    assert_eq!(alice.xelion_oid, "100");
    assert_eq!(alice.client_id.as_deref(), Some("client-of-alice"));
    assert_eq!(alice.crm_context_id, crm.id);
    assert_eq!(alice.xelion_context_id, xc.id);
    assert!(is_created_at(&alice.created_at));
    assert_eq!(users[2].client_id, None);
    assert_eq!(s.user(alice.id).await.unwrap().as_ref(), Some(alice));
    assert_eq!(s.user((alice.id.0 + 1000).into()).await.unwrap(), None);

    // filters
    let by_name = s.users(crm.id, Some("bob"), None).await.unwrap();
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0].xelion_oid, "200");
    let by_oid = s.users(crm.id, None, Some("300")).await.unwrap();
    assert_eq!(by_oid.len(), 1);
    assert_eq!(by_oid[0].xelion_username, "carol");
    assert_eq!(
        s.users(crm.id, Some("bob"), Some("200"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s
        .users(crm.id, Some("bob"), Some("100"))
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .users(crm.id, Some("nobody"), None)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .users((crm.id.0 + 1000).into(), None, None)
        .await
        .unwrap()
        .is_empty());

    let secrets = s.user_secrets(alice.id).await.unwrap();
    assert_eq!(
        secrets.client_secret.unwrap().expose(),
        format!("{CLIENT_SECRET}-alice")
    );
    assert_eq!(
        secrets.device_code.unwrap().expose(),
        format!("{DEVICE_CODE}-alice")
    );
    assert_eq!(
        secrets.refresh_token.unwrap().expose(),
        format!("{REFRESH_TOKEN}-alice")
    );
    assert!(secrets.access_token.is_none());
    let none = s.user_secrets(users[2].id).await.unwrap();
    assert!(none.client_secret.is_none() && none.device_code.is_none());
    assert!(none.refresh_token.is_none() && none.access_token.is_none());
    assert!(matches!(
        s.user_secrets((alice.id.0 + 1000).into()).await,
        Err(StoreError::NotFound)
    ));

    let maps = s.mappings(crm.id).await.unwrap();
    assert_eq!(maps.len(), 2);
    assert_eq!(maps[0].xelion_event, "newCallEvent");
    assert_eq!(
        maps[0].crm_resource_uri,
        "https://crm.example/newCallEvent?id=${callId}"
    );
    assert_eq!(
        maps[0].crm_resource_payload,
        Some(json!({"fromNumber": "${callerPhoneNumber}", "myObject": {"callId": "${callId}"}}))
    );
    assert_eq!(maps[0].method, "POST");
    assert_eq!(maps[0].headers, None);
    assert_eq!(maps[0].crm_context_id, crm.id);
    assert!(is_created_at(&maps[0].created_at), "{}", maps[0].created_at);
    assert_eq!(maps[1].xelion_event, "missedCallEvent");
    assert_eq!(maps[1].crm_resource_payload, None);
    assert_eq!(maps[1].method, "PUT");
    assert_eq!(maps[1].headers, Some(json!({"X-Api": "1"})));
    assert!(s
        .mappings((crm.id.0 + 1000).into())
        .await
        .unwrap()
        .is_empty());
}

both!(second_integration_adds_a_crm_context);
async fn second_integration_adds_a_crm_context(ctx: Ctx) {
    let s = &ctx.store;
    let (xc1, crm1) = s
        .create_integration(integration(
            "pbx.example.com",
            "acme",
            vec![user("alice", "1")],
        ))
        .await
        .unwrap();
    let mut second = integration("PBX.example.com", "acme", vec![user("alice", "1")]);
    second.protocol = Protocol::Http;
    second.admin_username = "admin2".to_string();
    second.admin_password = Secret::new("new-admin-password");
    second.authorization_server_uri = "https://other.crm.example/token".to_string();
    let (xc2, crm2) = s.create_integration(second).await.unwrap();
    assert_eq!(xc2.id, xc1.id);
    assert_eq!(xc2.host, "pbx.example.com", "the stored host is kept");
    assert_eq!(xc2.protocol, "http");
    assert_eq!(xc2.admin_username, "admin2");
    assert_eq!(xc2.created_at, xc1.created_at);
    assert_eq!(
        s.admin_password(xc1.id).await.unwrap().expose(),
        "new-admin-password"
    );
    assert_ne!(crm1.id, crm2.id);
    assert_eq!(
        s.crm_contexts(xc1.id).await.unwrap(),
        vec![crm1.clone(), crm2.clone()]
    );
    assert_eq!(s.list_xelion_contexts().await.unwrap().len(), 1);
    // the same username may exist in two crm contexts
    assert_eq!(s.users(crm1.id, None, None).await.unwrap().len(), 1);
    assert_eq!(s.users(crm2.id, None, None).await.unwrap().len(), 1);
    assert_eq!(s.mappings(crm2.id).await.unwrap().len(), 2);

    // another tenant on the same host is another xelion context
    let (xc3, _) = s
        .create_integration(integration("pbx.example.com", "other", vec![]))
        .await
        .unwrap();
    assert_ne!(xc3.id, xc1.id);
    assert_eq!(s.list_xelion_contexts().await.unwrap().len(), 2);
}

both!(duplicate_usernames_conflict_and_roll_back);
async fn duplicate_usernames_conflict_and_roll_back(ctx: Ctx) {
    let s = &ctx.store;
    let err = s
        .create_integration(integration(
            "dup.example.com",
            "acme",
            vec![user("alice", "1"), user("bob", "2"), user("alice", "3")],
        ))
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict(what) => assert_eq!(what, "alice"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // nothing half-written
    assert!(s.list_xelion_contexts().await.unwrap().is_empty());
    assert_eq!(ctx.count("SELECT COUNT(*) FROM xelion_contexts").await, 0);
    assert_eq!(ctx.count("SELECT COUNT(*) FROM crm_contexts").await, 0);
    assert_eq!(ctx.count("SELECT COUNT(*) FROM user_credentials").await, 0);
    assert_eq!(
        ctx.count("SELECT COUNT(*) FROM event_uri_mappings").await,
        0
    );

    // a failed second integration leaves the existing xelion context as it was
    let (xc, crm) = s
        .create_integration(integration(
            "dup.example.com",
            "acme",
            vec![user("alice", "1")],
        ))
        .await
        .unwrap();
    let mut bad = integration(
        "dup.example.com",
        "acme",
        vec![bare_user("x", "1"), bare_user("x", "2")],
    );
    bad.admin_username = "changed".to_string();
    bad.admin_password = Secret::new("changed");
    assert!(matches!(
        s.create_integration(bad).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.xelion_context(xc.id).await.unwrap(), Some(xc.clone()));
    assert_eq!(
        s.admin_password(xc.id).await.unwrap().expose(),
        ADMIN_PASSWORD
    );
    assert_eq!(s.crm_contexts(xc.id).await.unwrap(), vec![crm.clone()]);

    // add_users: one new and one existing user -> conflict, the new one not added
    let err = s
        .add_users(xc.id, crm.id, vec![user("zed", "9"), user("alice", "10")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(w) if w == "alice"),
        "{err:?}"
    );
    assert!(!err.to_string().to_lowercase().contains("unique"), "{err}");
    assert!(s.users(crm.id, Some("zed"), None).await.unwrap().is_empty());
    assert_eq!(ctx.count("SELECT COUNT(*) FROM user_credentials").await, 1);
    // duplicates inside one request
    let err = s
        .add_users(
            xc.id,
            crm.id,
            vec![bare_user("yan", "1"), bare_user("yan", "2")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(w) if w == "yan"),
        "{err:?}"
    );
    assert_eq!(ctx.count("SELECT COUNT(*) FROM user_credentials").await, 1);
}

both!(add_users_and_user_updates);
async fn add_users_and_user_updates(ctx: Ctx) {
    let s = &ctx.store;
    let (xc, crm) = s
        .create_integration(integration(
            "u.example.com",
            "acme",
            vec![user("alice", "1")],
        ))
        .await
        .unwrap();
    let (other_xc, other_crm) = s
        .create_integration(integration("u.example.com", "other", vec![]))
        .await
        .unwrap();

    let added = s
        .add_users(
            xc.id,
            crm.id,
            vec![user("bob", "2"), bare_user("carol", "3")],
        )
        .await
        .unwrap();
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].xelion_username, "bob");
    assert_eq!(added[1].client_id, None);
    assert_eq!(
        s.user_secrets(added[0].id)
            .await
            .unwrap()
            .refresh_token
            .unwrap()
            .expose(),
        format!("{REFRESH_TOKEN}-bob")
    );
    assert_eq!(s.users(crm.id, None, None).await.unwrap().len(), 3);
    assert!(s.add_users(xc.id, crm.id, vec![]).await.unwrap().is_empty());

    // unknown or mismatched contexts
    assert!(matches!(
        s.add_users(xc.id, (crm.id.0 + 1000).into(), vec![bare_user("d", "4")])
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.add_users(other_xc.id, crm.id, vec![bare_user("d", "4")])
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.add_users(xc.id, other_crm.id, vec![bare_user("d", "4")])
            .await,
        Err(StoreError::NotFound)
    ));

    // identity
    let bob = s
        .update_user_identity(added[0].id, "robert", "22")
        .await
        .unwrap();
    assert_eq!(bob.xelion_username, "robert");
    assert_eq!(bob.xelion_oid, "22");
    assert_eq!(s.user(bob.id).await.unwrap(), Some(bob.clone()));
    let err = s
        .update_user_identity(bob.id, "alice", "22")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(w) if w == "alice"),
        "{err:?}"
    );
    assert_eq!(s.user(bob.id).await.unwrap(), Some(bob.clone()));
    assert!(matches!(
        s.update_user_identity((bob.id.0 + 1000).into(), "x", "y")
            .await,
        Err(StoreError::NotFound)
    ));

    // credentials
    let id = bob.id;
    s.store_user_tokens(id, &Secret::new("access-1"), None)
        .await
        .unwrap();
    let sec = s.user_secrets(id).await.unwrap();
    assert_eq!(sec.access_token.unwrap().expose(), "access-1");
    assert_eq!(
        sec.refresh_token.unwrap().expose(),
        format!("{REFRESH_TOKEN}-bob")
    );
    s.store_user_tokens(
        id,
        &Secret::new("access-2"),
        Some(&Secret::new("refresh-2")),
    )
    .await
    .unwrap();
    let sec = s.user_secrets(id).await.unwrap();
    assert_eq!(sec.access_token.unwrap().expose(), "access-2");
    assert_eq!(sec.refresh_token.unwrap().expose(), "refresh-2");

    s.update_user_credential(id, CredentialKind::ClientId, &Secret::new("new-client"))
        .await
        .unwrap();
    assert_eq!(
        s.user(id).await.unwrap().unwrap().client_id.as_deref(),
        Some("new-client")
    );
    s.update_user_credential(id, CredentialKind::ClientSecret, &Secret::new("new-secret"))
        .await
        .unwrap();
    let sec = s.user_secrets(id).await.unwrap();
    assert_eq!(sec.client_secret.unwrap().expose(), "new-secret");
    assert!(
        sec.access_token.is_some(),
        "a new client secret keeps the access token"
    );

    s.update_user_credential(id, CredentialKind::RefreshToken, &Secret::new("refresh-3"))
        .await
        .unwrap();
    let sec = s.user_secrets(id).await.unwrap();
    assert_eq!(sec.refresh_token.unwrap().expose(), "refresh-3");
    assert!(
        sec.access_token.is_none(),
        "a new refresh token clears the access token"
    );

    s.store_user_tokens(id, &Secret::new("access-4"), None)
        .await
        .unwrap();
    s.update_user_credential(id, CredentialKind::DeviceCode, &Secret::new("device-4"))
        .await
        .unwrap();
    let sec = s.user_secrets(id).await.unwrap();
    assert_eq!(sec.device_code.unwrap().expose(), "device-4");
    assert!(
        sec.access_token.is_none(),
        "a new device code clears the access token"
    );

    // carol had no secrets at all: set some
    s.update_user_credential(added[1].id, CredentialKind::RefreshToken, &Secret::new("r"))
        .await
        .unwrap();
    assert_eq!(
        s.user_secrets(added[1].id)
            .await
            .unwrap()
            .refresh_token
            .unwrap()
            .expose(),
        "r"
    );

    for kind in [
        CredentialKind::ClientId,
        CredentialKind::ClientSecret,
        CredentialKind::RefreshToken,
        CredentialKind::DeviceCode,
    ] {
        assert!(matches!(
            s.update_user_credential((id.0 + 1000).into(), kind, &Secret::new("x"))
                .await,
            Err(StoreError::NotFound)
        ));
    }
    assert!(matches!(
        s.store_user_tokens((id.0 + 1000).into(), &Secret::new("x"), None)
            .await,
        Err(StoreError::NotFound)
    ));

    // delete
    s.delete_user(id).await.unwrap();
    assert_eq!(s.user(id).await.unwrap(), None);
    assert!(matches!(s.delete_user(id).await, Err(StoreError::NotFound)));
    assert_eq!(s.users(crm.id, None, None).await.unwrap().len(), 2);
}

both!(xelion_context_updates);
async fn xelion_context_updates(ctx: Ctx) {
    let s = &ctx.store;
    let (a, _) = s
        .create_integration(integration("a.example.com", "t", vec![]))
        .await
        .unwrap();
    let (b, _) = s
        .create_integration(integration("b.example.com", "t", vec![]))
        .await
        .unwrap();

    let a2 = s
        .update_xelion_environment(a.id, "a2.example.com", "t2", Protocol::Http)
        .await
        .unwrap();
    assert_eq!(
        (a2.host.as_str(), a2.tenant.as_str(), a2.protocol.as_str()),
        ("a2.example.com", "t2", "http")
    );
    assert_eq!(a2.id, a.id);
    assert_eq!(a2.admin_username, a.admin_username);
    assert_eq!(
        s.find_xelion_context("a2.example.com", "t2").await.unwrap(),
        Some(a2.clone())
    );
    assert_eq!(
        s.find_xelion_context("a.example.com", "t").await.unwrap(),
        None
    );
    // the password is still readable (its associated data is the row id, not the host)
    assert_eq!(
        s.admin_password(a.id).await.unwrap().expose(),
        ADMIN_PASSWORD
    );

    let err = s
        .update_xelion_environment(a.id, "B.example.com", "t", Protocol::Https)
        .await
        .unwrap_err();
    match &err {
        StoreError::Conflict(what) => {
            assert_eq!(what, "B.example.com/t");
            assert!(!what.contains("UNIQUE") && !what.contains("duplicate"));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.xelion_context(a.id).await.unwrap(), Some(a2.clone()));
    assert_eq!(s.xelion_context(b.id).await.unwrap(), Some(b.clone()));
    assert!(matches!(
        s.update_xelion_environment((b.id.0 + 1000).into(), "x", "y", Protocol::Https)
            .await,
        Err(StoreError::NotFound)
    ));

    s.update_admin_username(a.id, "root").await.unwrap();
    assert_eq!(
        s.xelion_context(a.id)
            .await
            .unwrap()
            .unwrap()
            .admin_username,
        "root"
    );
    assert!(matches!(
        s.update_admin_username((b.id.0 + 1000).into(), "x").await,
        Err(StoreError::NotFound)
    ));

    s.update_admin_password(a.id, &Secret::new("pw-2"))
        .await
        .unwrap();
    assert_eq!(s.admin_password(a.id).await.unwrap().expose(), "pw-2");
    assert_eq!(
        s.admin_password(b.id).await.unwrap().expose(),
        ADMIN_PASSWORD
    );
    assert!(matches!(
        s.update_admin_password((b.id.0 + 1000).into(), &Secret::new("x"))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.admin_password((b.id.0 + 1000).into()).await,
        Err(StoreError::NotFound)
    ));
}

both!(replace_mappings);
async fn replace_mappings(ctx: Ctx) {
    let s = &ctx.store;
    let (_, crm) = s
        .create_integration(integration("m.example.com", "t", vec![]))
        .await
        .unwrap();
    let (_, other) = s
        .create_integration(integration("m.example.com", "t", vec![]))
        .await
        .unwrap();
    let before = s.mappings(crm.id).await.unwrap();
    let other_before = s.mappings(other.id).await.unwrap();

    let replaced = s
        .replace_mappings(
            crm.id,
            vec![
                (
                    before[0].id,
                    NewMapping {
                        xelion_event: XelionEvent::NewCall,
                        crm_resource_uri: "https://zoho.example/callreceived?id=${callId}"
                            .to_string(),
                        crm_resource_payload: None,
                        method: HttpMethod::Get,
                        headers: Some(json!({"A": "b"})),
                    },
                ),
                (
                    before[1].id,
                    mapping(
                        "callHungUpEvent",
                        Some(json!({"d": "${duration}", "n": [1, 2.5, true, null]})),
                    ),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(replaced, s.mappings(crm.id).await.unwrap());
    assert_eq!(replaced.len(), 2);
    assert_eq!(replaced[0].id, before[0].id);
    assert_eq!(replaced[0].created_at, before[0].created_at);
    assert_eq!(
        replaced[0].crm_resource_uri,
        "https://zoho.example/callreceived?id=${callId}"
    );
    assert_eq!(replaced[0].crm_resource_payload, None);
    assert_eq!(replaced[0].method, "GET");
    assert_eq!(replaced[0].headers, Some(json!({"A": "b"})));
    assert_eq!(replaced[1].xelion_event, "callHungUpEvent");
    assert_eq!(
        replaced[1].crm_resource_payload,
        Some(json!({"d": "${duration}", "n": [1, 2.5, true, null]}))
    );
    assert_eq!(replaced[1].headers, None);
    // a JSON null payload is "no body", like None
    let nulled = s
        .replace_mappings(
            crm.id,
            vec![(before[1].id, mapping("callHungUpEvent", Some(json!(null))))],
        )
        .await
        .unwrap();
    assert_eq!(nulled[1].crm_resource_payload, None);

    // an id of another crm context: NotFound and nothing changed, not even the valid change
    let current = s.mappings(crm.id).await.unwrap();
    let err = s
        .replace_mappings(
            crm.id,
            vec![
                (before[0].id, mapping("callConnectedEvent", None)),
                (other_before[0].id, mapping("channelHungUpEvent", None)),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(s.mappings(crm.id).await.unwrap(), current);
    assert_eq!(s.mappings(other.id).await.unwrap(), other_before);
    assert!(matches!(
        s.replace_mappings(
            crm.id,
            vec![(
                (before[0].id.0 + 1000).into(),
                mapping("channelHungUpEvent", None)
            )]
        )
        .await,
        Err(StoreError::NotFound)
    ));
    // no changes: just the list
    assert_eq!(s.replace_mappings(crm.id, vec![]).await.unwrap(), current);
}

both!(delete_cascades);
async fn delete_cascades(ctx: Ctx) {
    let s = &ctx.store;
    let (xc, crm1) = s
        .create_integration(integration(
            "d.example.com",
            "t",
            vec![user("a", "1"), user("b", "2")],
        ))
        .await
        .unwrap();
    let (_, crm2) = s
        .create_integration(integration("d.example.com", "t", vec![user("a", "1")]))
        .await
        .unwrap();
    let (keep, keep_crm) = s
        .create_integration(integration("d.example.com", "keep", vec![user("a", "1")]))
        .await
        .unwrap();
    let alice = s.users(crm1.id, Some("a"), None).await.unwrap()[0].clone();

    s.delete_xelion_context(xc.id).await.unwrap();
    assert_eq!(s.xelion_context(xc.id).await.unwrap(), None);
    assert!(s.crm_contexts(xc.id).await.unwrap().is_empty());
    assert!(s.users(crm1.id, None, None).await.unwrap().is_empty());
    assert!(s.users(crm2.id, None, None).await.unwrap().is_empty());
    assert!(s.mappings(crm1.id).await.unwrap().is_empty());
    assert!(s.mappings(crm2.id).await.unwrap().is_empty());
    assert_eq!(s.user(alice.id).await.unwrap(), None);
    assert!(matches!(
        s.user_secrets(alice.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.admin_password(xc.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_xelion_context(xc.id).await,
        Err(StoreError::NotFound)
    ));

    // the raw tables hold only the other tenant
    assert_eq!(ctx.count("SELECT COUNT(*) FROM xelion_contexts").await, 1);
    assert_eq!(ctx.count("SELECT COUNT(*) FROM crm_contexts").await, 1);
    assert_eq!(ctx.count("SELECT COUNT(*) FROM user_credentials").await, 1);
    assert_eq!(
        ctx.count("SELECT COUNT(*) FROM event_uri_mappings").await,
        2
    );
    assert_eq!(s.list_xelion_contexts().await.unwrap(), vec![keep.clone()]);
    assert_eq!(s.users(keep_crm.id, None, None).await.unwrap().len(), 1);
    assert_eq!(s.mappings(keep_crm.id).await.unwrap().len(), 2);

    // ids are not reused after a delete
    let (again, again_crm) = s
        .create_integration(integration("d.example.com", "t", vec![user("a", "1")]))
        .await
        .unwrap();
    assert!(again.id > xc.id);
    assert!(again_crm.id > crm2.id);
    assert!(s.users(again_crm.id, None, None).await.unwrap()[0].id > alice.id);
}

both!(sessions);
async fn sessions(ctx: Ctx) {
    let s = &ctx.store;
    let session = |host: &str, tenant: &str, until: i64| ApiSession {
        host: host.to_string(),
        tenant: tenant.to_string(),
        username: "admin".to_string(),
        valid_until: until,
    };
    let h = cti_actors::secrets::token_hash;
    s.create_session(&h("t1"), &session("Pbx.example.com", "acme", 1_000))
        .await
        .unwrap();
    s.create_session(&h("t2"), &session("pbx.example.com", "acme", 2_000))
        .await
        .unwrap();
    s.create_session(&h("t3"), &session("pbx.example.com", "other", 3_000))
        .await
        .unwrap();
    s.create_session(&h("t4"), &session("pbx.example.com", "acme", 500))
        .await
        .unwrap();
    assert!(matches!(
        s.create_session(&h("t1"), &session("x", "y", 9_000)).await,
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(
        s.find_session(&h("t1"), 999).await.unwrap(),
        Some(session("Pbx.example.com", "acme", 1_000))
    );
    // expired at valid_until
    assert_eq!(s.find_session(&h("t1"), 1_000).await.unwrap(), None);
    assert_eq!(s.find_session(&h("t1"), 5_000).await.unwrap(), None);
    assert_eq!(s.find_session(&h("nope"), 0).await.unwrap(), None);

    s.delete_session(&h("t2")).await.unwrap();
    assert_eq!(s.find_session(&h("t2"), 0).await.unwrap(), None);
    s.delete_session(&h("t2")).await.unwrap(); // idempotent

    // expired: t4 (500) and t1 (1000) at now = 1000
    assert_eq!(s.purge_sessions(1_000).await.unwrap(), 2);
    assert_eq!(s.purge_sessions(1_000).await.unwrap(), 0);
    assert!(s.find_session(&h("t3"), 0).await.unwrap().is_some());

    s.create_session(&h("t5"), &session("PBX.EXAMPLE.COM", "acme", 9_000))
        .await
        .unwrap();
    s.create_session(&h("t6"), &session("pbx.example.com", "acme", 9_000))
        .await
        .unwrap();
    s.delete_sessions_for("pbx.Example.com", "acme")
        .await
        .unwrap();
    assert_eq!(s.find_session(&h("t5"), 0).await.unwrap(), None);
    assert_eq!(s.find_session(&h("t6"), 0).await.unwrap(), None);
    assert!(
        s.find_session(&h("t3"), 0).await.unwrap().is_some(),
        "other tenant kept"
    );

    // only the hash is stored
    assert_eq!(
        ctx.count("SELECT COUNT(*) FROM api_sessions WHERE token_hash = 't3'")
            .await,
        0
    );
}

/// Every text of every row of the secret-bearing tables, as the database returns it.
async fn all_row_text(ctx: &Ctx) -> String {
    let mut out = String::new();
    let queries: [&'static str; 3] = match ctx.store.backend() {
        Backend::Postgres => [
            "SELECT CAST(t AS TEXT) FROM xelion_contexts t",
            "SELECT CAST(t AS TEXT) FROM user_credentials t",
            "SELECT CAST(t AS TEXT) FROM crm_contexts t",
        ],
        Backend::Sqlite => [
            "SELECT host || tenant || admin_username || COALESCE(admin_password, '') FROM xelion_contexts",
            "SELECT xelion_username || COALESCE(client_id, '') || COALESCE(client_secret, '') || \
             COALESCE(device_code, '') || COALESCE(refresh_token, '') || COALESCE(access_token, '') \
             FROM user_credentials",
            "SELECT authorization_server_uri FROM crm_contexts",
        ],
    };
    for q in queries {
        for text in ctx.store.raw_texts(q).await.unwrap() {
            out.push_str(&text);
            out.push('\n');
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

both!(secrets_are_not_stored_in_clear);
async fn secrets_are_not_stored_in_clear(ctx: Ctx) {
    let s = &ctx.store;
    let (_, crm) = s
        .create_integration(integration(
            "s.example.com",
            "t",
            vec![user("alice", "1"), user("bob", "2")],
        ))
        .await
        .unwrap();
    let alice = s.users(crm.id, Some("alice"), None).await.unwrap()[0].clone();
    s.store_user_tokens(alice.id, &Secret::new("acc3ss-t0ken-plaintext"), None)
        .await
        .unwrap();
    let plaintexts = [
        ADMIN_PASSWORD,
        CLIENT_SECRET,
        REFRESH_TOKEN,
        DEVICE_CODE,
        "acc3ss-t0ken-plaintext",
    ];

    let text = all_row_text(&ctx).await;
    assert!(
        text.contains("alice") && text.contains("client-of-alice"),
        "{text}"
    );
    assert!(
        text.contains(&format!("v1:{}:", s.cipher().key_id())),
        "{text}"
    );
    for p in plaintexts {
        assert!(!text.contains(p), "{p} stored in clear: {text}");
    }

    if s.backend() == Backend::Sqlite {
        // the file itself (and its write-ahead log), byte by byte
        let path = ctx.url.trim_start_matches("sqlite://");
        let path = path.split('?').next().unwrap();
        let mut bytes = Vec::new();
        for suffix in ["", "-wal"] {
            if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend_from_slice(&b);
            }
        }
        assert!(
            contains(&bytes, "client-of-alice"),
            "the check reads the data"
        );
        for p in plaintexts {
            assert!(!contains(&bytes, p), "{p} found in the SQLite file");
        }
    }
}

both!(journal_and_foreign_keys);
async fn journal_and_foreign_keys(ctx: Ctx) {
    if ctx.store.backend() == Backend::Sqlite {
        let mode: String = ctx
            .store
            .raw_texts("PRAGMA journal_mode")
            .await
            .unwrap()
            .concat();
        assert_eq!(mode.to_lowercase(), "wal");
        let fk: i64 = ctx.store.raw_i64("PRAGMA foreign_keys").await.unwrap();
        assert_eq!(fk, 1);
    }
    // a crm context must reference an existing xelion context
    let err = ctx
        .store
        .raw_execute(
            "INSERT INTO crm_contexts (xelion_context_id, authorization_server_uri, \
             authorization_header_prefix, created_at) VALUES (12345, 'u', 'p', 'now')",
            &[],
        )
        .await;
    assert!(err.is_err(), "foreign keys are enforced");
}

both!(reopen_with_same_key_and_other_key);
async fn reopen_with_same_key_and_other_key(ctx: Ctx) {
    let (xc, crm) = ctx
        .store
        .create_integration(integration("k.example.com", "t", vec![user("alice", "1")]))
        .await
        .unwrap();
    let alice = ctx.store.users(crm.id, None, None).await.unwrap()[0].clone();
    ctx.store.close().await;

    let same = Store::open(&ctx.url, Cipher::from_key_file(&ctx.key_file).unwrap())
        .await
        .unwrap();
    assert_eq!(
        same.admin_password(xc.id).await.unwrap().expose(),
        ADMIN_PASSWORD
    );
    assert_eq!(
        same.user_secrets(alice.id)
            .await
            .unwrap()
            .client_secret
            .unwrap()
            .expose(),
        format!("{CLIENT_SECRET}-alice")
    );
    same.close().await;

    let other_key = Cipher::from_key_file(&ctx.dir.join("other.key")).unwrap();
    let other = Store::open(&ctx.url, other_key).await.unwrap();
    // the clear parts are still there; the secrets are not readable
    assert_eq!(other.xelion_context(xc.id).await.unwrap(), Some(xc.clone()));
    assert!(matches!(
        other.admin_password(xc.id).await,
        Err(StoreError::Crypto(_))
    ));
    let err = other.user_secrets(alice.id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Crypto(m) if m.contains("master key")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(CLIENT_SECRET));
}

both!(moved_ciphertext_does_not_decrypt);
async fn moved_ciphertext_does_not_decrypt(ctx: Ctx) {
    let s = &ctx.store;
    let (a, crm) = s
        .create_integration(integration(
            "mv.example.com",
            "a",
            vec![user("alice", "1"), bare_user("bob", "2")],
        ))
        .await
        .unwrap();
    let (b, _) = s
        .create_integration(integration("mv.example.com", "b", vec![]))
        .await
        .unwrap();
    let users = s.users(crm.id, None, None).await.unwrap();
    let (alice, bob): (UserId, UserId) = (users[0].id, users[1].id);

    // alice's refresh token copied into bob's row
    s.raw_execute(
        "UPDATE user_credentials SET refresh_token = \
         (SELECT refresh_token FROM user_credentials WHERE id = $1) WHERE id = $2",
        &[alice.0, bob.0],
    )
    .await
    .unwrap();
    assert!(matches!(
        s.user_secrets(bob).await,
        Err(StoreError::Crypto(_))
    ));
    // alice's refresh token copied into her own client secret column
    s.raw_execute(
        "UPDATE user_credentials SET client_secret = refresh_token WHERE id = $1",
        &[alice.0],
    )
    .await
    .unwrap();
    assert!(matches!(
        s.user_secrets(alice).await,
        Err(StoreError::Crypto(_))
    ));
    // one tenant's admin password copied to another
    s.raw_execute(
        "UPDATE xelion_contexts SET admin_password = \
         (SELECT admin_password FROM xelion_contexts WHERE id = $1) WHERE id = $2",
        &[a.id.0, b.id.0],
    )
    .await
    .unwrap();
    assert!(matches!(
        s.admin_password(b.id).await,
        Err(StoreError::Crypto(_))
    ));
    assert_eq!(
        s.admin_password(a.id).await.unwrap().expose(),
        ADMIN_PASSWORD
    );
}

both!(concurrent_writers);
async fn concurrent_writers(ctx: Ctx) {
    // SQLite serialises writers (BEGIN IMMEDIATE + busy timeout); PostgreSQL settles two
    // first integrations of one tenant with ON CONFLICT. None may fail.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = ctx.store.clone();
        tasks.push(tokio::spawn(async move {
            let (xc, crm) = s
                .create_integration(integration(
                    "c.example.com",
                    &format!("t{}", i % 4),
                    vec![user(&format!("u{i}"), "1")],
                ))
                .await?;
            s.add_users(xc.id, crm.id, vec![bare_user(&format!("v{i}"), "2")])
                .await?;
            Ok::<_, StoreError>(())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(ctx.store.list_xelion_contexts().await.unwrap().len(), 4);
    assert_eq!(ctx.count("SELECT COUNT(*) FROM crm_contexts").await, 12);
    assert_eq!(ctx.count("SELECT COUNT(*) FROM user_credentials").await, 24);
}

// ---------------------------------------------------------------------------------------
// SQLite URL forms

async fn opens(url: &str, file: &Path) {
    let store = Store::open(url, Cipher::from_key([1; 32])).await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
    assert!(file.exists(), "{url} created {}", file.display());
}

#[tokio::test]
async fn sqlite_url_forms() {
    let dir = std::env::temp_dir().join(format!("xcti-urls-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.db");
    opens(&format!("sqlite://{}", a.display()), &a).await;
    let b = dir.join("b.db");
    opens(&format!("sqlite:{}", b.display()), &b).await;
    let c = dir.join("sub dir/c.db");
    opens(&c.display().to_string(), &c).await;
    let d = dir.join("d.db");
    opens(&format!("sqlite://{}?mode=rwc", d.display()), &d).await;
    // mode=rw does not create
    let e = dir.join("e.db");
    assert!(Store::open(
        &format!("sqlite://{}?mode=rw", e.display()),
        Cipher::from_key([1; 32])
    )
    .await
    .is_err());
    // in memory
    let mem = Store::open("sqlite::memory:", Cipher::from_key([1; 32]))
        .await
        .unwrap();
    mem.create_integration(integration("h", "t", vec![user("a", "1")]))
        .await
        .unwrap();
    assert_eq!(mem.list_xelion_contexts().await.unwrap().len(), 1);
    // unsupported
    assert!(Store::open("mysql://u@h/db", Cipher::from_key([1; 32]))
        .await
        .is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_test_databases_are_fresh() {
    let a = testdb::fresh_postgres_url().unwrap_or_else(|e| panic!("{e}"));
    let b = testdb::fresh_postgres_url().unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a, b);
    assert!(a.starts_with("postgres"));
}

async fn identical_crm_context_conflicts(ctx: Ctx) {
    let s = &ctx.store;
    let (_, crm) = s
        .create_integration(same_crm_integration("i.example.com", "t", vec![]))
        .await
        .unwrap();
    let again = s
        .create_integration(same_crm_integration(
            "i.example.com",
            "t",
            vec![user("a", "1")],
        ))
        .await;
    assert!(
        matches!(again, Err(StoreError::CrmContextExists(id)) if id == crm.id),
        "{again:?}"
    );
    assert_eq!(ctx.count("SELECT COUNT(*) FROM crm_contexts").await, 1);
    assert_eq!(ctx.count("SELECT COUNT(*) FROM user_credentials").await, 0);
}
both!(identical_crm_context_conflicts);
