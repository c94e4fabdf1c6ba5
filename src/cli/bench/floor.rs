//! The floor: the least a forwarder can do with the same traffic on this machine. Per tenant
//! one websocket (logged in like the server, subscribed to the bench's events); per frame the
//! JSON is read for the call id, event type and send time, and one HTTP request with a fixed
//! body and a fixed access token goes to the CRM simulator. No storage, no templates, no
//! token management, no retries.

use std::sync::Arc;

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::world::{delivery_path, EVENTS};

/// The body of every request.
const BODY: &str = r#"{"callId":"0000000000000000","user":"u1","direction":"callreceived"}"#;

/// A running forwarder; stops (its sockets closed) when dropped.
pub struct Floor {
    readers: Vec<JoinHandle<()>>,
}

impl Drop for Floor {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
    }
}

/// What a forwarded request needs.
struct Target {
    http: reqwest::Client,
    crm_url: String,
    authorization: String,
    in_flight: Arc<Semaphore>,
}

/// Logs in to each tenant as its administrator, opens and subscribes its websocket and
/// forwards every frame, with at most `in_flight` requests open per tenant (as the server's
/// default per crm context).
pub async fn start(
    xelion_url: &str,
    crm_url: &str,
    tenants: &[String],
    access_token: &str,
    in_flight: usize,
) -> anyhow::Result<Floor> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("building the floor's HTTP client")?;
    let mut readers = Vec::new();
    for tenant in tenants {
        let login = http
            .post(format!("{xelion_url}/api/v1/{tenant}/me/login"))
            .json(&json!({"userName": "admin", "password": "admin", "userSpace": "bench-floor"}))
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await?;
        let auth = login["authentication"].as_str().unwrap_or_default();
        let ws = http
            .post(format!("{xelion_url}/api/v1/{tenant}/me/websocket"))
            .header("Authorization", format!("xelion {auth}"))
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await?;
        let url = ws["object"]
            .as_str()
            .context("the websocket answer has no URL")?;
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .with_context(|| format!("opening the websocket of {tenant}"))?;
        let notifications: Vec<Value> = EVENTS
            .iter()
            .map(|e| json!({"notificationType": e, "toggle": true}))
            .collect();
        let subscribe =
            json!({"messageType": "multiNotificationRequest", "notifications": notifications});
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .context("subscribing")?;
        let target = Arc::new(Target {
            http: http.clone(),
            crm_url: crm_url.to_string(),
            authorization: format!("Bearer {access_token}"),
            in_flight: Arc::new(Semaphore::new(in_flight.max(1))),
        });
        readers.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = socket.next().await {
                if let Message::Text(text) = msg {
                    forward(&target, text.as_str()).await;
                }
            }
        }));
    }
    Ok(Floor { readers })
}

/// One frame: read, then one request in the background.
async fn forward(target: &Arc<Target>, text: &str) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let event = frame["notificationType"].as_str().unwrap_or_default();
    let n = &frame["notification"];
    let call = n["callId"].as_str().unwrap_or_default();
    let sent = n["simSentAtMicros"].as_u64().unwrap_or(0).to_string();
    let url = format!("{}{}", target.crm_url, delivery_path(call, event, &sent));
    let Ok(permit) = target.in_flight.clone().acquire_owned().await else {
        return;
    };
    let t = target.clone();
    tokio::spawn(async move {
        // Once more on a connection the CRM simulator had closed while it was idle.
        for _ in 0..2 {
            let sent = t
                .http
                .post(&url)
                .header("Authorization", &t.authorization)
                .header("Content-Type", "application/json")
                .body(BODY)
                .send()
                .await;
            if let Ok(resp) = sent {
                let _ = resp.bytes().await;
                break;
            }
        }
        drop(permit);
    });
}
