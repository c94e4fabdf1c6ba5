//! The outbox on both backends: its storage (batch writes, dedupe, claims, updates, the log,
//! retention) and the group-commit writer. Every test runs on SQLite and on PostgreSQL (which
//! must be reachable: see `cti_actors::store::testdb`).

mod log;
mod retention;
mod storage;
mod throughput;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

use cti_actors::secrets::{Cipher, Secret};
use cti_actors::store::{
    testdb, Accepting, Backend, CrmContextId, Delivery, HttpMethod, MappingId, NewDelivery,
    NewIntegration, NewMapping, NewUserCredentials, Protocol, Store, Timestamp, UserId,
    XelionContextId, XelionEvent,
};
use serde_json::{json, Map, Value};

/// One test's database and scratch directory.
pub struct Ctx {
    pub store: Store,
    pub url: String,
    pub key_file: PathBuf,
    dir: PathBuf,
}

impl Ctx {
    pub async fn new(backend: Backend) -> Ctx {
        let dir = std::env::temp_dir().join(format!("xcti-outbox-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = match backend {
            Backend::Sqlite => testdb::fresh_sqlite_url(&dir),
            Backend::Postgres => testdb::fresh_postgres_url().unwrap_or_else(|e| panic!("{e}")),
        };
        let key_file = dir.join("master.key");
        let store = Store::open(&url, Cipher::from_key_file(&key_file).unwrap())
            .await
            .unwrap();
        Ctx {
            store,
            url,
            key_file,
            dir,
        }
    }

    /// The same database through a second store (another pool, as another process would).
    pub async fn reopen(&self) -> Store {
        Store::open(&self.url, Cipher::from_key_file(&self.key_file).unwrap())
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        self.store.raw_i64(sql).await.unwrap()
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `body` on a fresh store of each backend.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Ctx::new(cti_actors::store::Backend::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Ctx::new(cti_actors::store::Backend::Postgres).await).await;
            }
        }
    };
}

/// A stored integration: its ids, two users and a mapping per event (two for hang-ups).
pub struct Tenant {
    pub xid: XelionContextId,
    pub crm: CrmContextId,
    pub alice: UserId,
    pub bob: UserId,
    pub mappings: Vec<(XelionEvent, MappingId)>,
}

impl Tenant {
    pub async fn create(store: &Store, tenant: &str) -> Tenant {
        let user = |name: &str, oid: &str| NewUserCredentials {
            xelion_username: name.to_string(),
            xelion_oid: oid.to_string(),
            client_id: Some("client".to_string()),
            client_secret: Some(Secret::new("secret")),
            device_code: None,
            refresh_token: Some(Secret::new("refresh")),
        };
        let mapping = |event: XelionEvent| NewMapping {
            xelion_event: event,
            crm_resource_uri: format!("https://crm.example/{event}?id=${{callId}}"),
            crm_resource_payload: Some(json!({"callId": "${callId}"})),
            method: HttpMethod::Post,
            headers: None,
        };
        let (xc, crm) = store
            .create_integration(NewIntegration {
                host: "xelion.example".to_string(),
                tenant: tenant.to_string(),
                protocol: Protocol::Https,
                admin_username: "admin".to_string(),
                admin_password: Secret::new("pw"),
                authorization_server_uri: "https://crm.example/token".to_string(),
                authorization_header_prefix: "Bearer ".to_string(),
                users: vec![user("alice", "1"), user("bob", "2")],
                mappings: XelionEvent::ALL
                    .into_iter()
                    .map(mapping)
                    .chain([mapping(XelionEvent::CallHungUp)])
                    .collect(),
            })
            .await
            .unwrap();
        let users = store.users(crm.id, None, None).await.unwrap();
        let mappings = store
            .mappings(crm.id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.xelion_event, m.id))
            .collect();
        Tenant {
            xid: xc.id,
            crm: crm.id,
            alice: users[0].id,
            bob: users[1].id,
            mappings,
        }
    }

    /// Every mapping of an event type.
    pub fn mappings_of(&self, event: XelionEvent) -> Vec<MappingId> {
        self.mappings
            .iter()
            .filter(|(e, _)| *e == event)
            .map(|(_, id)| *id)
            .collect()
    }

    /// The deliveries of one event for one user: one per mapping of its type.
    pub fn event(&self, user: UserId, event: XelionEvent, call_id: &str) -> Vec<NewDelivery> {
        self.mappings_of(event)
            .into_iter()
            .map(|mapping_id| NewDelivery {
                xelion_context_id: self.xid,
                crm_context_id: self.crm,
                user_id: user,
                mapping_id,
                xelion_event: event,
                call_id: call_id.to_string(),
                event: std::sync::Arc::new(call_event(event, call_id)),
            })
            .collect()
    }
}

/// The fields of a call event as Xelion sends them.
pub fn call_event(event: XelionEvent, call_id: &str) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "callId": call_id,
        "callerUser": "alice",
        "calleeUser": "",
        "callerPhoneNumber": "+31201234567",
        "calleePhoneNumber": "+31207654321",
        "direction": "outgoing",
        "eventType": event.as_str(),
        "duration": 12,
    }) else {
        unreachable!()
    };
    map
}

/// Accepting now, with a lease and the default window.
pub fn at(now: Timestamp, lease: Duration) -> Accepting {
    Accepting::at(now, lease, Duration::from_secs(86_400))
}

/// Ids of deliveries.
pub fn ids(deliveries: &[Delivery]) -> Vec<i64> {
    deliveries.iter().map(|d| d.id.0).collect()
}

/// A short lease.
pub const LEASE: Duration = Duration::from_secs(60);
