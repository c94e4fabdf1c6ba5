//! The database keeps one registration per Xelion oid in a crm context (migration 0005), on
//! both backends, whatever the admin checks before.

use cti_actors::secrets::{Cipher, Secret};
use cti_actors::store::{
    testdb, Backend, NewIntegration, NewUserCredentials, Protocol, Store, StoreError,
};

fn user(name: &str, oid: &str) -> NewUserCredentials {
    NewUserCredentials {
        xelion_username: name.to_string(),
        xelion_oid: oid.to_string(),
        client_id: None,
        client_secret: None,
        device_code: None,
        refresh_token: None,
    }
}

async fn oids_are_unique_per_crm_context(backend: Backend) {
    let dir = tempfile_dir();
    let url = match backend {
        Backend::Sqlite => testdb::fresh_sqlite_url(&dir),
        Backend::Postgres => testdb::fresh_postgres_url().unwrap_or_else(|e| panic!("{e}")),
    };
    let cipher = Cipher::from_key_file(&dir.join("master.key")).unwrap();
    let store = Store::open(&url, cipher).await.unwrap();
    let (x, crm) = store
        .create_integration(NewIntegration {
            host: "xelion.example".into(),
            tenant: "t".into(),
            protocol: Protocol::Https,
            admin_username: "admin".into(),
            admin_password: Secret::new("pw"),
            authorization_server_uri: "https://crm.example/token".into(),
            authorization_header_prefix: "Bearer ".into(),
            users: vec![user("alice", "1001"), user("bob", "1002")],
            mappings: vec![],
        })
        .await
        .unwrap();
    let bob = store.users(crm.id, Some("bob"), None).await.unwrap()[0].id;
    let taken = store.update_user_identity(bob, "bob", "1001").await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let added = store
        .add_users(x.id, crm.id, vec![user("carol", "1002")])
        .await;
    assert!(matches!(added, Err(StoreError::Conflict(_))), "{added:?}");
    let oids: Vec<String> = store
        .users(crm.id, None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.xelion_oid)
        .collect();
    assert_eq!(oids, ["1001", "1002"]);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xcti-oid-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn sqlite() {
    oids_are_unique_per_crm_context(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres() {
    oids_are_unique_per_crm_context(Backend::Postgres).await;
}
