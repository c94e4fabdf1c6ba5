//! Token actors against a small token endpoint of the test's own, for what the CRM simulator
//! does not play: an endpoint that takes only HTTP Basic, and actors that stop when idle.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::registry::RunningActors;
use super::{TokenError, TokenSettings, Tokens};
use crate::domain::{Protocol, UserId};
use crate::outbound::OutboundPolicy;
use crate::secrets::{Cipher, Secret};
use crate::store::{testdb, NewIntegration, NewUserCredentials, Store};

/// The client of the tests: a space and characters that HTTP Basic must form-urlencode.
const CLIENT_ID: &str = "my client";
const CLIENT_SECRET: &str = "s+cret%:x";

/// What the endpoint received: the `Authorization` header and the form body.
#[derive(Debug, Clone)]
struct Received {
    authorization: Option<String>,
    body: String,
}

/// A token endpoint that takes the client only through HTTP Basic (or never, when `refuse`).
struct Endpoint {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Endpoint {
    async fn start(refuse: bool) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, log.clone(), refuse));
            }
        });
        Endpoint { addr, received }
    }

    fn url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one request and answers it: a token for the right Basic credentials, else
/// `invalid_client`.
async fn answer(mut stream: TcpStream, log: Arc<Mutex<Vec<Received>>>, refuse: bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, mut body) = loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (
                String::from_utf8_lossy(&buf[..end]).to_string(),
                buf[end + 4..].to_vec(),
            );
        }
    };
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while body.len() < length {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let authorization = header("authorization");
    log.lock().unwrap().push(Received {
        authorization: authorization.clone(),
        body: String::from_utf8_lossy(&body).to_string(),
    });
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("my+client:s%2Bcret%25%3Ax")
    );
    let (status, json) = if !refuse && authorization.as_deref() == Some(expected.as_str()) {
        (
            "200 OK",
            r#"{"access_token":"at-basic","token_type":"Bearer","expires_in":3600}"#,
        )
    } else {
        ("401 Unauthorized", r#"{"error":"invalid_client"}"#)
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{json}",
        json.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

/// A store with one crm context at `token_url` and these users (each with a refresh token).
async fn store_with_users(
    dir: &std::path::Path,
    token_url: &str,
    users: &[&str],
) -> (Store, Vec<UserId>) {
    let cipher = Cipher::from_key_file(&dir.join("master.key")).unwrap();
    let store = Store::open(&testdb::fresh_sqlite_url(dir), cipher)
        .await
        .unwrap();
    let (_, crm) = store
        .create_integration(NewIntegration {
            host: "xelion.example".to_string(),
            tenant: "t".to_string(),
            protocol: Protocol::Https,
            admin_username: "admin".to_string(),
            admin_password: Secret::new("password"),
            authorization_server_uri: token_url.to_string(),
            authorization_header_prefix: "Bearer ".to_string(),
            users: users
                .iter()
                .map(|name| NewUserCredentials {
                    xelion_username: name.to_string(),
                    xelion_oid: format!("oid-{name}"),
                    client_id: Some(CLIENT_ID.to_string()),
                    client_secret: Some(Secret::new(CLIENT_SECRET)),
                    device_code: None,
                    refresh_token: Some(Secret::new(format!("rt-{name}"))),
                })
                .collect(),
            mappings: vec![],
        })
        .await
        .unwrap();
    let ids = store
        .users(crm.id, None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    (store, ids)
}

fn tokens(store: &Store, settings: TokenSettings) -> Tokens {
    let http = OutboundPolicy::parse(&["127.0.0.1/8"])
        .unwrap()
        .http_client(Duration::from_secs(5))
        .unwrap();
    Tokens::start(store.clone(), http, settings)
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xcti-tokens-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[actix::test]
async fn basic_is_tried_once_on_invalid_client_and_remembered_per_crm_context() {
    let dir = tempdir();
    let endpoint = Endpoint::start(false).await;
    let (store, users) = store_with_users(&dir, &endpoint.url(), &["alice", "bob", "carol"]).await;
    let tokens1 = tokens(&store, TokenSettings::default());

    let token = tokens1.get(users[0]).await.expect("a token through Basic");
    assert_eq!(token.token.expose(), "at-basic");
    let seen = endpoint.received();
    assert_eq!(seen.len(), 2, "form fields, then Basic: {seen:?}");
    assert_eq!(seen[0].authorization, None);
    assert!(
        seen[0].body.contains("client_id=my+client"),
        "{}",
        seen[0].body
    );
    assert!(seen[1].authorization.is_some());
    assert!(!seen[1].body.contains("client_secret"), "{}", seen[1].body);
    assert_eq!(
        store
            .raw_texts("SELECT token_auth_method FROM crm_contexts")
            .await
            .unwrap(),
        ["basic"]
    );

    // Another user of the same crm context goes straight to Basic; so does one after a restart.
    tokens1.get(users[1]).await.expect("a token");
    assert_eq!(endpoint.received().len(), 3);
    let tokens2 = tokens(&store, TokenSettings::default());
    tokens2.get(users[2]).await.expect("a token");
    let seen = endpoint.received();
    assert_eq!(seen.len(), 4);
    assert!(seen[3].authorization.is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix::test]
async fn invalid_client_with_both_methods_parks() {
    let dir = tempdir();
    let endpoint = Endpoint::start(true).await;
    let (store, users) = store_with_users(&dir, &endpoint.url(), &["alice"]).await;
    let tokens = tokens(&store, TokenSettings::default());
    match tokens.get(users[0]).await {
        Err(TokenError::NeedsReauthorisation { error, .. }) => assert_eq!(error, "invalid_client"),
        other => panic!("expected parking, got {other:?}"),
    }
    assert_eq!(endpoint.received().len(), 2, "each method once");
    assert!(matches!(
        tokens.get(users[0]).await,
        Err(TokenError::NeedsReauthorisation { .. })
    ));
    assert_eq!(endpoint.received().len(), 2, "no grant while parked");
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix::test]
async fn an_idle_actor_stops_and_the_next_one_starts_from_the_store() {
    let dir = tempdir();
    let endpoint = Endpoint::start(false).await;
    let (store, users) = store_with_users(&dir, &endpoint.url(), &["alice"]).await;
    let tokens = tokens(
        &store,
        TokenSettings {
            idle_after: Duration::from_millis(50),
            ..TokenSettings::default()
        },
    );
    let first = tokens.get(users[0]).await.unwrap();
    assert_eq!(tokens.registry.send(RunningActors).await.unwrap(), 1);
    let mut running = 1;
    for _ in 0..250 {
        running = tokens.registry.send(RunningActors).await.unwrap();
        if running == 0 {
            break;
        }
        actix::clock::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(running, 0, "the idle actor did not stop");
    let again = tokens.get(users[0]).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(
        endpoint.received().len(),
        2,
        "the stored token is used, no grant"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
