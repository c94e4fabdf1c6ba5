//! The bench's world: tenants and users in the Xelion simulator, their refresh tokens in the
//! CRM simulator, and the integrations created through the server's public API.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use cti_sim::api::{NewRefreshToken, NewUser};
use cti_sim::Control;
use futures_util::{stream, StreamExt as _, TryStreamExt as _};
use serde_json::{json, Value};

/// The OAuth client every bench user's refresh token belongs to.
pub const CLIENT_ID: &str = "bench-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "bench-secret";
/// The event types the bench maps, one delivery each per call (the load's three frames).
pub const EVENTS: [&str; 3] = ["newCallEvent", "callConnectedEvent", "callHungUpEvent"];
/// Control and API requests in flight at once while the world is built.
const AT_ONCE: usize = 8;

/// The CRM path of a delivery: the call, the event and when its frame was written, so that
/// the arrival proves exactly-once and gives the latency. The floor uses the same shape.
pub fn delivery_path(call_id: &str, event: &str, sent_at: &str) -> String {
    format!("/bench/{call_id}/{event}/{sent_at}")
}

/// Tenant `name` with the administrator `admin`/`admin` and `users` users `u1`.. in the
/// Xelion simulator, and a refresh token per user (`refresh`) in the CRM simulator.
async fn add_tenant(
    control: &Control,
    name: &str,
    users: u32,
    refresh: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    control.create_tenant(name).await?;
    let user = |n: &str, admin: bool| NewUser {
        user_name: n.into(),
        password: n.into(),
        is_administrator: admin,
        common_name: None,
        phone_number: None,
        active: None,
    };
    control.add_user(name, &user("admin", true)).await?;
    for i in 1..=users {
        let u = format!("u{i}");
        control.add_user(name, &user(&u, false)).await?;
        if let Some(token) = refresh(&u) {
            control
                .add_refresh_token(&NewRefreshToken {
                    token: Some(token),
                    client_id: Some(CLIENT_ID.into()),
                    subject: format!("{name}/{u}"),
                })
                .await?;
        }
    }
    Ok(())
}

/// Creates tenants `prefix-1`..`prefix-count`, each with `users` users, each user with its own
/// refresh token `rt-<tenant>-<user>` (or, with `shared_token`, that one for all).
pub async fn add_tenants(
    control: &Control,
    prefix: &str,
    count: u32,
    users: u32,
    shared_token: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    if let Some(token) = shared_token {
        control
            .add_refresh_token(&NewRefreshToken {
                token: Some(token.into()),
                client_id: Some(CLIENT_ID.into()),
                subject: prefix.into(),
            })
            .await?;
    }
    let names: Vec<String> = (1..=count).map(|i| format!("{prefix}-{i}")).collect();
    stream::iter(names.clone())
        .map(|name| async move {
            let token_of = |u: &str| match shared_token {
                Some(_) => None,
                None => Some(format!("rt-{name}-{u}")),
            };
            add_tenant(control, &name, users, token_of)
                .await
                .with_context(|| format!("creating tenant {name} in the Xelion simulator"))
        })
        .buffer_unordered(AT_ONCE)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(names)
}

/// A client of the server's public API.
#[derive(Clone)]
pub struct Api {
    url: String,
    http: reqwest::Client,
    /// The Xelion simulator's `host:port`.
    xelion_host: String,
    /// The CRM simulator's base URL.
    crm_url: String,
}

impl Api {
    pub fn new(url: &str, xelion_host: &str, crm_url: &str) -> Api {
        Api {
            url: url.to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
            xelion_host: xelion_host.to_string(),
            crm_url: crm_url.to_string(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("{what}: no answer from the server"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            anyhow::bail!("{what}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The integration of one tenant: its users (`u1`..), each with its refresh token (own or
    /// shared), and one mapping per bench event type aimed at the CRM simulator.
    fn integration(&self, tenant: &str, users: u32, shared_token: Option<&str>) -> Value {
        let credentials: Vec<Value> = (1..=users)
            .map(|i| {
                let u = format!("u{i}");
                let refresh = shared_token
                    .map(String::from)
                    .unwrap_or_else(|| format!("rt-{tenant}-{u}"));
                json!({"xelionUsername": u, "clientId": CLIENT_ID,
                       "clientSecret": CLIENT_SECRET, "refreshToken": refresh})
            })
            .collect();
        let mappings: Vec<Value> = EVENTS
            .iter()
            .map(|event| {
                let path = delivery_path("${callId}", event, "${simSentAtMicros}");
                json!({"xelionEvent": event,
                       "crmResourceUri": format!("{}{path}", self.crm_url),
                       "crmResourcePayload": {"callId": "${callId}", "user": "${calleeUser}",
                           "from": "${callerPhoneNumber}", "duration": "${duration}",
                           "direction": "${(initiation==\"outgoing\")?\"calldialed\":\"callreceived\"}"}})
            })
            .collect();
        json!({
            "xelionContext": {"adminUsername": "admin", "adminPassword": "admin",
                              "host": self.xelion_host, "tenant": tenant, "protocol": "http"},
            "crmContext": {"authorizationServerUri": format!("{}/oauth2/token", self.crm_url),
                           "authorizationHeaderPrefix": "Bearer "},
            "userCredentials": credentials,
            "eventUriMappings": mappings,
        })
    }

    /// `POST /api/crm-integrations` for each tenant (a few at once); answers the xelion
    /// context ids in the order of `tenants`.
    pub async fn create_integrations(
        &self,
        tenants: &[String],
        users: u32,
        shared_token: Option<&str>,
    ) -> anyhow::Result<Vec<i64>> {
        stream::iter(tenants)
            .map(|tenant| async move {
                let body = self.integration(tenant, users, shared_token);
                let created = self
                    .send(
                        self.http
                            .post(format!("{}/api/crm-integrations", self.url))
                            .json(&body),
                        &format!("creating the integration of {tenant}"),
                    )
                    .await?;
                created["xelionContext"]["id"]
                    .as_i64()
                    .context("the created integration has no id")
            })
            .buffered(AT_ONCE)
            .try_collect()
            .await
    }

    /// Deletes the integrations of `tenants` (ids in the same order), logging in as each
    /// tenant's administrator.
    pub async fn delete_integrations(&self, tenants: &[String], ids: &[i64]) -> anyhow::Result<()> {
        stream::iter(tenants.iter().zip(ids))
            .map(|(tenant, id)| async move {
                let body = json!({"adminUsername": "admin", "adminPassword": "admin",
                                  "host": self.xelion_host, "tenant": tenant});
                let login = self
                    .send(
                        self.http
                            .post(format!("{}/api/session/login", self.url))
                            .json(&body),
                        &format!("logging in to {tenant}"),
                    )
                    .await?;
                let token = login["authentication"].as_str().unwrap_or_default();
                self.send(
                    self.http
                        .delete(format!("{}/api/crm-integrations/{id}", self.url))
                        .header("Authorization", format!("xelion {token}")),
                    &format!("deleting the integration of {tenant}"),
                )
                .await
                .map(drop)
            })
            .buffer_unordered(AT_ONCE)
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
    }

    /// `GET /health/ready`.
    pub async fn ready(&self) -> anyhow::Result<Value> {
        let resp = self
            .http
            .get(format!("{}/health/ready", self.url))
            .send()
            .await
            .context("reading readiness: no answer from the server")?;
        resp.json().await.context("reading readiness")
    }

    /// Tenants in state `subscribed`.
    pub async fn subscribed(&self) -> anyhow::Result<u64> {
        Ok(self.ready().await?["tenantsByState"]["subscribed"]
            .as_u64()
            .unwrap_or(0))
    }

    /// Waits until `count` tenants are subscribed; answers how long it took.
    pub async fn wait_subscribed(&self, count: u64, limit: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            // The server may still be opening its listener's backlog: an error is retried.
            if let Ok(n) = self.subscribed().await {
                if n >= count {
                    return Ok(start.elapsed());
                }
                if start.elapsed() > limit {
                    anyhow::bail!(
                        "{n} of {count} tenants subscribed after {} s",
                        limit.as_secs()
                    );
                }
            } else if start.elapsed() > limit {
                anyhow::bail!(
                    "the server did not answer readiness within {} s",
                    limit.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
