//! The demo's world: a temporary directory, server settings, and the public API calls that
//! create the integration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};

use crate::config::{MasterKey, Settings};

/// The users of the simulated tenant registered with their CRM refresh tokens (the CRM
/// simulator's default world knows them).
pub const USERS: [(&str, &str); 2] = [("alice", "refresh-alice"), ("bob", "refresh-bob")];

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new directory under the system's temporary directory.
    pub fn new() -> anyhow::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("xelion-cti-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Server settings: SQLite and its key file in `dir`, the simulators' loopback addresses
/// allowed, tenants connecting at once.
pub fn settings(dir: &TempDir, listen: SocketAddr) -> Settings {
    let tenants = cti_actors::tenant::TenantSettings {
        first_attempt_spread: Duration::ZERO,
        ..Default::default()
    };
    Settings {
        listen: listen.to_string(),
        database_url: format!("sqlite://{}", dir.0.join("demo.db").display()),
        master_key: MasterKey::File(dir.0.join("demo.key")),
        outbound_allow: vec!["127.0.0.1/8".into()],
        outbound_only_allowed: false,
        log_json: false,
        session_ttl: Duration::from_secs(8 * 3600),
        tenants,
        outbox: Default::default(),
        tokens: Default::default(),
        dispatch: Default::default(),
        external: Default::default(),
        failed_logins_per_source: 30,
        failed_logins_per_user: 10,
    }
}

/// The CTI API document's `PUT event-uri-mappings` example (Zoho PhoneBridge URIs), aimed at
/// the CRM simulator.
fn document_mappings(crm_url: &str) -> anyhow::Result<Value> {
    let text = include_str!("../../../tests/fixtures/example-event-uri-mappings-put.json")
        .replace("https://example.org", crm_url);
    serde_json::from_str(&text).context("the example mappings")
}

/// A client of the server's public API.
pub struct Api {
    url: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(url: &str) -> Api {
        Api {
            url: url.to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("{what}: no answer"))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!("{what}: {status} {body}");
        }
        Ok(body)
    }

    /// `POST /api/crm-integrations`: the simulated tenant, the CRM simulator's token endpoint,
    /// alice and bob, the document's mappings. Returns the xelion context id.
    pub async fn create_integration(
        &self,
        host: &str,
        token_url: &str,
        crm_url: &str,
    ) -> anyhow::Result<i64> {
        let users: Vec<Value> = USERS
            .iter()
            .map(|(user, refresh)| {
                json!({"xelionUsername": user, "clientId": "demo-client",
                       "clientSecret": "demo-secret", "refreshToken": refresh})
            })
            .collect();
        let body = json!({
            "xelionContext": {"adminUsername": "admin", "adminPassword": "admin",
                              "host": host, "tenant": "master", "protocol": "http"},
            "crmContext": {"authorizationServerUri": token_url,
                           "authorizationHeaderPrefix": "Zoho-oauthtoken "},
            "userCredentials": users,
            "eventUriMappings": document_mappings(crm_url)?,
        });
        let created = self
            .send(
                self.http
                    .post(format!("{}/api/crm-integrations", self.url))
                    .json(&body),
                "creating the integration",
            )
            .await?;
        created["xelionContext"]["id"]
            .as_i64()
            .context("the created integration has no id")
    }

    /// `POST /api/session/login` as the simulated tenant's admin.
    pub async fn login(&self, host: &str) -> anyhow::Result<String> {
        let body = json!({"adminUsername": "admin", "adminPassword": "admin",
                          "host": host, "tenant": "master"});
        let answer = self
            .send(
                self.http
                    .post(format!("{}/api/session/login", self.url))
                    .json(&body),
                "logging in",
            )
            .await?;
        answer["authentication"]
            .as_str()
            .map(String::from)
            .context("the login answer has no token")
    }

    /// The tenant's status.
    pub async fn status(&self, id: i64, token: &str) -> anyhow::Result<Value> {
        self.send(
            self.http
                .get(format!("{}/api/xelion-environment/{id}/status", self.url))
                .header("Authorization", format!("xelion {token}")),
            "reading the tenant's status",
        )
        .await
    }

    /// Polls the status until the socket is subscribed (at most 30 s).
    pub async fn wait_subscribed(&self, id: i64, token: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.status(id, token).await?;
            if status["state"] == "subscribed" {
                return Ok(status);
            }
            if Instant::now() > deadline {
                anyhow::bail!("the tenant did not subscribe within 30 s: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether every expected event has arrived, the outbox is empty and the CRM has seen at
    /// least as many requests as deliveries were accepted.
    pub async fn settled(
        &self,
        id: i64,
        token: &str,
        expected_events: u64,
        crm_requests: u64,
    ) -> anyhow::Result<bool> {
        let status = self.status(id, token).await?;
        let received = status["eventsReceived"].as_u64().unwrap_or(0);
        let accepted = status["deliveriesAccepted"].as_u64().unwrap_or(u64::MAX);
        let ready = self
            .send(
                self.http.get(format!("{}/health/ready", self.url)),
                "reading readiness",
            )
            .await?;
        let backlog = ready["outbox"]["backlog"].as_u64().unwrap_or(u64::MAX);
        Ok(received >= expected_events && backlog == 0 && crm_requests >= accepted)
    }
}
