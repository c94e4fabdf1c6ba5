//! Starts the real server on port 0 against the simulators, on SQLite or PostgreSQL.

use std::path::PathBuf;

use base64::Engine as _;
use cti_sim::{Control, Sim, SimConfig, SimHandle};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use xelion_cti::app::Application;
use xelion_cti::config::{MasterKey, Settings};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one async test body on both backends, each in its own actix system.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[actix_rt::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[actix_rt::test]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    };
}

/// A database that outlives one server (for restarts).
pub struct Database {
    pub url: String,
    pub key: String,
    /// Holds the SQLite file's folder.
    pub _dir: tempfile::TempDir,
}

impl Database {
    /// A fresh, empty database and a random master key.
    pub fn fresh(backend: Backend) -> Database {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("cti.db").display()),
            Backend::Postgres => cti_actors::store::testdb::fresh_postgres_url()
                .unwrap_or_else(|e| panic!("PostgreSQL is required for the tests: {e}")),
        };
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        Database {
            url,
            key,
            _dir: dir,
        }
    }

    /// The SQLite file, if this is SQLite.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite://").map(PathBuf::from)
    }

    /// The server settings for this database.
    pub fn settings(&self) -> Settings {
        Settings {
            listen: "127.0.0.1:0".into(),
            database_url: self.url.clone(),
            master_key: MasterKey::Base64(self.key.clone()),
            outbound_allow: vec!["127.0.0.1/8".into()],
            outbound_only_allowed: false,
            log_json: false,
            session_ttl: std::time::Duration::from_secs(3600),
            failed_logins_per_source: 30,
            failed_logins_per_user: 10,
            tenants: fast_tenants(),
            outbox: Default::default(),
            tokens: fast_tokens(),
            dispatch: fast_dispatch(),
            external: fast_external(),
        }
    }
}

/// External API calls on test limits: 5 s per request, answers up to 64 KiB.
pub fn fast_external() -> cti_actors::external::ExternalSettings {
    cti_actors::external::ExternalSettings {
        request_timeout: std::time::Duration::from_secs(5),
        max_response_bytes: 64 * 1024,
    }
}

/// Dispatch on test timers: retries after 100-300 ms, the outbox polled every 100 ms.
pub fn fast_dispatch() -> cti_actors::dispatch::DispatchSettings {
    use std::time::Duration;
    cti_actors::dispatch::DispatchSettings {
        poll_every: Duration::from_millis(100),
        request_timeout: Duration::from_secs(5),
        retry: cti_actors::dispatch::outcome::RetryPolicy {
            min_delay: Duration::from_millis(100),
            base: Duration::from_millis(100),
            factor: 2,
            max_delay: Duration::from_millis(300),
            retry_after_cap: Duration::from_secs(2),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Tenant timers short enough for tests: reconnects within a second, rejected credentials
/// retried every two seconds, pings every second.
pub fn fast_tenants() -> cti_actors::tenant::TenantSettings {
    use std::time::Duration;
    let mut s = cti_actors::tenant::TenantSettings {
        first_attempt_spread: Duration::ZERO,
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_secs(1),
        healthy_after: Duration::from_secs(5),
        credentials_retry: Duration::from_secs(2),
        ..Default::default()
    };
    s.socket.ping_interval = Duration::from_secs(1);
    s.socket.dead_after = Duration::from_secs(4);
    s
}

/// Token timers short enough for tests: retries within half a second, device codes polled
/// every 50 ms at first (each `slow_down` adds 100 ms). The margin stays at 60 s.
pub fn fast_tokens() -> cti_actors::token::TokenSettings {
    use std::time::Duration;
    cti_actors::token::TokenSettings {
        request_timeout: Duration::from_secs(5),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        device_interval: Duration::from_millis(50),
        slow_down_step: Duration::from_millis(100),
        ..Default::default()
    }
}

/// A running server and its simulators.
pub struct TestApp {
    pub url: String,
    pub sim: SimHandle,
    pub db: Database,
    pub http: reqwest::Client,
    /// The in-process server, or `None` for a server in another process.
    handle: Option<actix_web::dev::ServerHandle>,
}

impl TestApp {
    /// A server on a fresh database, with the default simulated world.
    pub async fn spawn(backend: Backend) -> TestApp {
        let sim = Sim::start(SimConfig::default()).expect("simulators start");
        Self::spawn_with(Database::fresh(backend), sim).await
    }

    /// A server on a given database and simulators.
    pub async fn spawn_with(db: Database, sim: SimHandle) -> TestApp {
        let settings = db.settings();
        Self::spawn_with_settings(db, sim, settings).await
    }

    /// A server on a given database and simulators, configured by `settings`.
    pub async fn spawn_with_settings(db: Database, sim: SimHandle, settings: Settings) -> TestApp {
        let app = Application::build(settings).await.expect("server builds");
        let url = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        actix_rt::spawn(app.run());
        TestApp {
            url,
            sim,
            db,
            http: reqwest::Client::new(),
            handle: Some(handle),
        }
    }

    /// A client of a server running elsewhere (a child process) at `url`.
    pub fn attach(url: String, db: Database, sim: SimHandle) -> TestApp {
        TestApp {
            url,
            sim,
            db,
            http: reqwest::Client::new(),
            handle: None,
        }
    }

    /// Stops the server (if in process), keeping the database and the simulators.
    pub async fn stop(self) -> (Database, SimHandle) {
        if let Some(handle) = self.handle {
            handle.stop(true).await;
        }
        (self.db, self.sim)
    }

    /// The simulators' control client.
    pub fn control(&self) -> Control {
        self.sim.control()
    }

    /// The Xelion host as the server is told it: `127.0.0.1:PORT`.
    pub fn xelion_host(&self) -> String {
        self.sim.xelion_addr().to_string()
    }

    /// Any request; returns status and JSON (Null for an empty body, a string for non-JSON).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("xelion {t}"));
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("server answers");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Sends raw bytes as the body.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.url, path))
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.header("Authorization", format!("xelion {t}"));
        }
        let resp = req.send().await.expect("server answers");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.request(Method::DELETE, path, token, None).await
    }

    /// Logs in at the simulated tenant and returns the API token.
    pub async fn login_as(&self, tenant: &str, user: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/api/session/login",
                None,
                &json!({"adminUsername": user, "adminPassword": password,
                        "host": self.xelion_host(), "tenant": tenant, "protocol": "http"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login: {body}");
        body["authentication"]
            .as_str()
            .expect("authentication")
            .to_string()
    }

    /// `admin`/`admin` at `master`.
    pub async fn login(&self) -> String {
        self.login_as("master", "admin", "admin").await
    }

    /// The document's POST crm-integrations example, pointed at the simulators, with the
    /// given users (each with distinctive secrets).
    pub fn integration_body(&self, tenant: &str, users: &[&str]) -> Value {
        let mut body: Value =
            serde_json::from_str(include_str!("../fixtures/example-crm-integration.json"))
                .expect("fixture parses");
        body["xelionContext"] = json!({
            "adminUsername": "admin", "adminPassword": admin_password(tenant),
            "host": self.xelion_host(), "tenant": tenant, "protocol": "http"
        });
        body["crmContext"]["authorizationServerUri"] = json!(self.sim.token_url());
        body["userCredentials"] = Value::Array(
            users
                .iter()
                .map(|u| {
                    json!({
                        "xelionUsername": u,
                        "clientId": "demo-client",
                        "clientSecret": secret("clientsecret", u),
                        "deviceCode": secret("devicecode", u),
                        "refreshToken": secret("refreshtoken", u),
                    })
                })
                .collect(),
        );
        body
    }

    /// Creates an integration for `master` with alice and bob; returns (xelion id, crm id).
    pub async fn create_integration(&self) -> (i64, i64) {
        let (status, body) = self
            .post(
                "/api/crm-integrations",
                None,
                &self.integration_body("master", &["alice", "bob"]),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "create: {body}");
        (
            body["xelionContext"]["id"].as_i64().expect("xelion id"),
            body["crmContext"]["id"].as_i64().expect("crm id"),
        )
    }
}

/// The admin password of a simulated tenant (`admin` in `master`).
pub fn admin_password(tenant: &str) -> String {
    if tenant == "master" {
        "admin".into()
    } else {
        format!("pw-{tenant}-admin")
    }
}

/// A distinctive secret value, easy to grep for.
pub fn secret(kind: &str, user: &str) -> String {
    format!("S3CRET-{kind}-{user}-7f3a9c")
}

/// Every secret [`TestApp::integration_body`] sends for these users, plus the admin password.
pub fn all_secrets(tenant: &str, users: &[&str]) -> Vec<String> {
    let mut out = vec![admin_password(tenant)];
    for u in users {
        for kind in ["clientsecret", "devicecode", "refreshtoken"] {
            out.push(secret(kind, u));
        }
    }
    out
}

/// Adds a tenant with an administrator `admin` (password from [`admin_password`]) and
/// users `carol` (not admin).
pub async fn add_tenant(control: &Control, tenant: &str) {
    control.create_tenant(tenant).await.expect("tenant");
    control
        .add_user(
            tenant,
            &cti_sim::NewUser::new("admin", &admin_password(tenant), true),
        )
        .await
        .expect("admin");
    control
        .add_user(tenant, &cti_sim::NewUser::new("carol", "carol", false))
        .await
        .expect("carol");
}

/// Polls `check` (every 100 ms, up to 20 s) until it answers `Some`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(what, std::time::Duration::from_secs(20), check).await
}

/// Polls `check` every 100 ms until it answers `Some`, failing after `limit`.
pub async fn eventually_within<T, F, Fut>(what: &str, limit: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if std::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Asserts the error shape and returns the message.
pub fn error_message(status: StatusCode, body: &Value, expected: StatusCode, code: u64) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["errorCode"].as_u64(), Some(code), "{body}");
    assert!(
        body["info"].as_str().unwrap_or("").starts_with("resource="),
        "{body}"
    );
    body["message"].as_str().expect("message").to_string()
}

/// The simulator's oid of a user.
pub fn oid_in(users: &[cti_sim::api::UserInfo], name: &str) -> String {
    users
        .iter()
        .find(|u| u.user_name == name)
        .map(|u| u.oid.clone())
        .unwrap_or_else(|| panic!("the simulator has no user {name}"))
}

/// The server binary, with no key or database from the environment.
pub fn xcti() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_xelion-cti"));
    c.env_remove("XCTI_MASTER_KEY")
        .env_remove("XCTI_DATABASE_URL");
    c
}

/// Starts `serve` on port 0 on `database_url` (and master key, if given), loopback open to
/// outbound requests, logging to `dir/serve.log`; answers the child and the address it
/// printed.
pub fn spawn_serve(
    dir: &std::path::Path,
    database_url: &str,
    master_key: Option<&str>,
) -> (std::process::Child, String) {
    spawn_serve_with(dir, database_url, master_key, &[])
}

/// [`spawn_serve`] with more environment (`RUST_LOG` is `info` unless given).
pub fn spawn_serve_with(
    dir: &std::path::Path,
    database_url: &str,
    master_key: Option<&str>,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut cmd = xcti();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--outbound-allow",
        "127.0.0.1/8",
    ])
    .args(["--database-url", database_url])
    .env("RUST_LOG", "info")
    .current_dir(dir)
    .stdout(std::process::Stdio::piped())
    .stderr(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("serve.log"))
            .unwrap(),
    );
    if let Some(key) = master_key {
        cmd.env("XCTI_MASTER_KEY", key);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("xelion-cti listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (child, addr)
}

/// Waits (bounded) for a child to exit.
pub fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    wait_exit_within(child, std::time::Duration::from_secs(30))
}

/// Waits for a child to exit, killing it (and failing) after `limit`.
pub fn wait_exit_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the process did not exit within {} s", limit.as_secs());
}
