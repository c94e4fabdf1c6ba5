//! A small async client of the control API, for tests, the demo and the benchmark.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{
    Affected, Arrivals, CrmCounters, CrmSettings, DropMode, DropSockets, ExpireAccessTokens,
    ExpireSessions, FaultInfo, FaultSpec, LoadDone, LoadSpec, NewAccessToken, NewCall, NewClient,
    NewDeviceCode, NewRefreshToken, NewTenant, NewUser, PlacedCall, RecordedRequest, Scenario,
    SendFrame, TenantInfo, TenantUpdate, TokenCreated, UserInfo, UserUpdate, XelionCounters,
};

/// How often the `wait_for_*` helpers poll.
const POLL: Duration = Duration::from_millis(20);

/// A control API client bound to one listener (`http://127.0.0.1:PORT`; either one works).
#[derive(Clone, Debug)]
pub struct Control {
    http: reqwest::Client,
    base: String,
}

/// Percent-encodes one path segment (tokens and names may contain anything).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Control {
    /// A client for the control API at `base_url` (e.g. `http://127.0.0.1:9001`).
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Sends a request and returns the raw response if it is a success.
    async fn raw<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}/_sim{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            bail!("{method} {url}: {status}: {text}");
        }
        Ok(resp)
    }

    /// A request whose answer is JSON.
    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let resp = self.raw(method.clone(), path, body).await?;
        resp.json()
            .await
            .with_context(|| format!("{method} /_sim{path}: unexpected answer"))
    }

    /// A request whose answer body does not matter.
    async fn unit<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<()> {
        self.raw(method, path, body).await.map(drop)
    }

    /// Creates a tenant.
    pub async fn create_tenant(&self, name: &str) -> anyhow::Result<TenantInfo> {
        self.create_tenant_with(&NewTenant {
            name: name.into(),
            session_lifetime_seconds: None,
        })
        .await
    }

    /// Creates a tenant with settings.
    pub async fn create_tenant_with(&self, t: &NewTenant) -> anyhow::Result<TenantInfo> {
        self.call(Method::POST, "/xelion/tenants", Some(t)).await
    }

    /// One tenant with its users.
    pub async fn tenant(&self, name: &str) -> anyhow::Result<TenantInfo> {
        self.call::<(), _>(Method::GET, &format!("/xelion/tenants/{}", seg(name)), None)
            .await
    }

    /// Changes the lifetime of sessions created from now on.
    pub async fn set_session_lifetime(
        &self,
        tenant: &str,
        secs: u64,
    ) -> anyhow::Result<TenantInfo> {
        let upd = TenantUpdate {
            session_lifetime_seconds: Some(secs),
        };
        self.call(
            Method::PATCH,
            &format!("/xelion/tenants/{}", seg(tenant)),
            Some(&upd),
        )
        .await
    }

    /// Deletes a tenant, dropping its sockets.
    pub async fn delete_tenant(&self, name: &str) -> anyhow::Result<()> {
        self.unit::<()>(
            Method::DELETE,
            &format!("/xelion/tenants/{}", seg(name)),
            None,
        )
        .await
    }

    /// Adds a user to a tenant.
    pub async fn add_user(&self, tenant: &str, user: &NewUser) -> anyhow::Result<UserInfo> {
        self.call(
            Method::POST,
            &format!("/xelion/tenants/{}/users", seg(tenant)),
            Some(user),
        )
        .await
    }

    /// Changes a user.
    pub async fn update_user(
        &self,
        tenant: &str,
        user_name: &str,
        upd: &UserUpdate,
    ) -> anyhow::Result<UserInfo> {
        let path = format!("/xelion/tenants/{}/users/{}", seg(tenant), seg(user_name));
        self.call(Method::PATCH, &path, Some(upd)).await
    }

    /// The users of a tenant.
    pub async fn users(&self, tenant: &str) -> anyhow::Result<Vec<UserInfo>> {
        self.call::<(), _>(
            Method::GET,
            &format!("/xelion/tenants/{}/users", seg(tenant)),
            None,
        )
        .await
    }

    /// Places a call; every frame has reached the subscribed sockets when this returns.
    pub async fn place_call(&self, tenant: &str, call: &NewCall) -> anyhow::Result<PlacedCall> {
        self.call(
            Method::POST,
            &format!("/xelion/tenants/{}/calls", seg(tenant)),
            Some(call),
        )
        .await
    }

    /// Places a call with default durations.
    pub async fn call_between(
        &self,
        tenant: &str,
        from: &str,
        to: &str,
        scenario: Scenario,
    ) -> anyhow::Result<PlacedCall> {
        self.place_call(tenant, &NewCall::new(from, to, scenario))
            .await
    }

    /// Expires the sessions of a tenant (or of one user): their tokens then answer 401.
    pub async fn expire_sessions(
        &self,
        tenant: &str,
        user_name: Option<&str>,
    ) -> anyhow::Result<u64> {
        let body = ExpireSessions {
            user_name: user_name.map(str::to_owned),
        };
        let path = format!("/xelion/tenants/{}/sessions/expire", seg(tenant));
        let a: Affected = self.call(Method::POST, &path, Some(&body)).await?;
        Ok(a.affected)
    }

    /// Drops the websockets of a tenant (or of one user).
    pub async fn drop_sockets(
        &self,
        tenant: &str,
        user_name: Option<&str>,
        mode: DropMode,
    ) -> anyhow::Result<u64> {
        let body = DropSockets {
            user_name: user_name.map(str::to_owned),
            mode,
        };
        let path = format!("/xelion/tenants/{}/sockets/drop", seg(tenant));
        let a: Affected = self.call(Method::POST, &path, Some(&body)).await?;
        Ok(a.affected)
    }

    /// Writes `text` verbatim as one text frame to every open socket of a tenant (or of one
    /// user); returns how many sockets took it. The frames are queued when this returns.
    pub async fn send_raw_frame(
        &self,
        tenant: &str,
        text: &str,
        user_name: Option<&str>,
    ) -> anyhow::Result<u64> {
        let body = SendFrame {
            text: text.to_owned(),
            user_name: user_name.map(str::to_owned),
        };
        let path = format!("/xelion/tenants/{}/sockets/send", seg(tenant));
        let a: Affected = self.call(Method::POST, &path, Some(&body)).await?;
        Ok(a.affected)
    }

    /// The Xelion counters and open sockets.
    pub async fn xelion_counters(&self) -> anyhow::Result<XelionCounters> {
        self.call::<(), _>(Method::GET, "/xelion/counters", None)
            .await
    }

    /// Waits until `count` sockets of the tenant (of `user_name`, if given) are subscribed to
    /// every one of `types`. Subscriptions have no acknowledgement in the protocol, so tests
    /// use this before placing a call.
    pub async fn wait_for_subscriptions(
        &self,
        tenant: &str,
        user_name: Option<&str>,
        types: &[&str],
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<XelionCounters> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.xelion_counters().await?;
            let ready = c
                .sockets
                .iter()
                .filter(|s| s.tenant == tenant && user_name.is_none_or(|u| u == s.user_name))
                .filter(|s| types.iter().all(|t| s.subscriptions.iter().any(|x| x == t)))
                .count();
            if ready >= count {
                return Ok(c);
            }
            if Instant::now() >= deadline {
                bail!("{ready} of {count} sockets of `{tenant}` subscribed to {types:?} after {timeout:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the tenant has exactly `count` open sockets.
    pub async fn wait_for_open_sockets(
        &self,
        tenant: &str,
        count: u64,
        timeout: Duration,
    ) -> anyhow::Result<XelionCounters> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.xelion_counters().await?;
            let open = c.tenants.get(tenant).map_or(0, |t| t.open_sockets);
            if open == count {
                return Ok(c);
            }
            if Instant::now() >= deadline {
                bail!("tenant `{tenant}` has {open} open sockets, not {count}, after {timeout:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Injects a Xelion fault.
    pub async fn xelion_fault(&self, spec: &FaultSpec) -> anyhow::Result<FaultInfo> {
        self.call(Method::POST, "/xelion/faults", Some(spec)).await
    }

    /// The active Xelion faults.
    pub async fn xelion_faults(&self) -> anyhow::Result<Vec<FaultInfo>> {
        self.call::<(), _>(Method::GET, "/xelion/faults", None)
            .await
    }

    /// Removes one Xelion fault.
    pub async fn remove_xelion_fault(&self, id: u64) -> anyhow::Result<()> {
        self.unit::<()>(Method::DELETE, &format!("/xelion/faults/{id}"), None)
            .await
    }

    /// Removes every Xelion fault.
    pub async fn clear_xelion_faults(&self) -> anyhow::Result<()> {
        self.unit::<()>(Method::DELETE, "/xelion/faults", None)
            .await
    }

    /// Registers an OAuth client (no secret: a public client).
    pub async fn add_client(&self, client_id: &str, secret: Option<&str>) -> anyhow::Result<()> {
        let c = NewClient {
            client_id: client_id.into(),
            client_secret: secret.map(str::to_owned),
        };
        self.unit(Method::POST, "/crm/clients", Some(&c)).await
    }

    /// Registers a refresh token.
    pub async fn add_refresh_token(&self, t: &NewRefreshToken) -> anyhow::Result<TokenCreated> {
        self.call(Method::POST, "/crm/refresh-tokens", Some(t))
            .await
    }

    /// Registers refresh token `token` of `subject`, usable by `client_id`.
    pub async fn refresh_token(
        &self,
        token: &str,
        client_id: &str,
        subject: &str,
    ) -> anyhow::Result<TokenCreated> {
        self.add_refresh_token(&NewRefreshToken {
            token: Some(token.into()),
            client_id: Some(client_id.into()),
            subject: subject.into(),
        })
        .await
    }

    /// Revokes a refresh token: the token endpoint then answers `invalid_grant`.
    pub async fn revoke_refresh_token(&self, token: &str) -> anyhow::Result<()> {
        let path = format!("/crm/refresh-tokens/{}/revoke", seg(token));
        self.unit::<()>(Method::POST, &path, None).await
    }

    /// Registers a device code (pending until approved).
    pub async fn add_device_code(&self, d: &NewDeviceCode) -> anyhow::Result<TokenCreated> {
        self.call(Method::POST, "/crm/device-codes", Some(d)).await
    }

    /// Approves a device code: the next poll gets tokens.
    pub async fn approve_device_code(&self, code: &str) -> anyhow::Result<()> {
        let path = format!("/crm/device-codes/{}/approve", seg(code));
        self.unit::<()>(Method::POST, &path, None).await
    }

    /// Denies a device code: polls get `access_denied`.
    pub async fn deny_device_code(&self, code: &str) -> anyhow::Result<()> {
        let path = format!("/crm/device-codes/{}/deny", seg(code));
        self.unit::<()>(Method::POST, &path, None).await
    }

    /// Mints an access token directly.
    pub async fn add_access_token(&self, t: &NewAccessToken) -> anyhow::Result<TokenCreated> {
        self.call(Method::POST, "/crm/access-tokens", Some(t)).await
    }

    /// Expires access tokens (of one subject, or all): the resource server then answers 401.
    pub async fn expire_access_tokens(&self, subject: Option<&str>) -> anyhow::Result<u64> {
        let body = ExpireAccessTokens {
            subject: subject.map(str::to_owned),
        };
        let a: Affected = self
            .call(Method::POST, "/crm/access-tokens/expire", Some(&body))
            .await?;
        Ok(a.affected)
    }

    /// The CRM settings.
    pub async fn crm_settings(&self) -> anyhow::Result<CrmSettings> {
        self.call::<(), _>(Method::GET, "/crm/settings", None).await
    }

    /// Changes the CRM settings (fields left `None` stay).
    pub async fn set_crm_settings(&self, s: &CrmSettings) -> anyhow::Result<CrmSettings> {
        self.call(Method::PATCH, "/crm/settings", Some(s)).await
    }

    /// Every request the resource server recorded, oldest first.
    pub async fn crm_requests(&self) -> anyhow::Result<Vec<RecordedRequest>> {
        self.crm_requests_where(&[]).await
    }

    /// Recorded requests matching exact filters: `path`, `subject`, `status`, `method`.
    pub async fn crm_requests_where(
        &self,
        filters: &[(&str, &str)],
    ) -> anyhow::Result<Vec<RecordedRequest>> {
        let query = serde_urlencoded::to_string(filters).context("encoding filters")?;
        let path = if query.is_empty() {
            "/crm/requests".to_owned()
        } else {
            format!("/crm/requests?{query}")
        };
        self.call::<(), _>(Method::GET, &path, None).await
    }

    /// Waits until at least `count` recorded requests match the filters; returns them.
    pub async fn wait_for_crm_requests(
        &self,
        filters: &[(&str, &str)],
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<RecordedRequest>> {
        let deadline = Instant::now() + timeout;
        loop {
            let list = self.crm_requests_where(filters).await?;
            if list.len() >= count {
                return Ok(list);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} of {count} CRM requests matching {filters:?} after {timeout:?}",
                    list.len()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Forgets the recorded requests.
    pub async fn clear_crm_requests(&self) -> anyhow::Result<()> {
        self.unit::<()>(Method::DELETE, "/crm/requests", None).await
    }

    /// The CRM counters.
    pub async fn crm_counters(&self) -> anyhow::Result<CrmCounters> {
        self.call::<(), _>(Method::GET, "/crm/counters", None).await
    }

    /// Injects a CRM fault.
    pub async fn crm_fault(&self, spec: &FaultSpec) -> anyhow::Result<FaultInfo> {
        self.call(Method::POST, "/crm/faults", Some(spec)).await
    }

    /// The active CRM faults.
    pub async fn crm_faults(&self) -> anyhow::Result<Vec<FaultInfo>> {
        self.call::<(), _>(Method::GET, "/crm/faults", None).await
    }

    /// Removes one CRM fault.
    pub async fn remove_crm_fault(&self, id: u64) -> anyhow::Result<()> {
        self.unit::<()>(Method::DELETE, &format!("/crm/faults/{id}"), None)
            .await
    }

    /// Removes every CRM fault.
    pub async fn clear_crm_faults(&self) -> anyhow::Result<()> {
        self.unit::<()>(Method::DELETE, "/crm/faults", None).await
    }

    /// Places calls in bulk (see [`LoadSpec`]); answers once the last frame is written.
    pub async fn load(&self, spec: &LoadSpec) -> anyhow::Result<LoadDone> {
        self.call(Method::POST, "/xelion/load", Some(spec)).await
    }

    /// What `arrivals` recording kept (see [`CrmSettings::record`]).
    pub async fn crm_arrivals(&self) -> anyhow::Result<Arrivals> {
        self.call::<(), _>(Method::GET, "/crm/arrivals", None).await
    }

    /// Forgets the arrivals.
    pub async fn clear_crm_arrivals(&self) -> anyhow::Result<()> {
        self.unit::<()>(Method::DELETE, "/crm/arrivals", None).await
    }
}
