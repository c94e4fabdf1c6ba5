//! Clients and waits shared by the tests.

use std::time::Duration;

use cti_sim::{Sim, SimConfig, SimHandle};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous: machines are noisy, and waits only end early on success.
pub const WAIT: Duration = Duration::from_secs(10);

/// A websocket client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The default world on loopback ports.
pub fn start() -> SimHandle {
    Sim::start(SimConfig::default()).expect("start the simulators")
}

/// An HTTP client that ignores proxy settings (everything is on loopback).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// `POST me/login` and the raw answer.
pub async fn login_raw(sim: &SimHandle, tenant: &str, body: Value) -> reqwest::Response {
    http()
        .post(format!("{}/api/v1/{tenant}/me/login", sim.xelion_url()))
        .json(&body)
        .send()
        .await
        .expect("login request")
}

/// Logs in and returns the session answer.
pub async fn login(
    sim: &SimHandle,
    tenant: &str,
    user: &str,
    password: &str,
    space: &str,
) -> Value {
    let r = login_raw(
        sim,
        tenant,
        json!({"userName": user, "password": password, "userSpace": space}),
    )
    .await;
    assert_eq!(r.status(), 200, "login of {user}");
    r.json().await.expect("login json")
}

/// The authentication token of a fresh session.
pub async fn token(sim: &SimHandle, user: &str) -> String {
    let space = format!("test-{}", rand_suffix());
    let v = login(sim, "master", user, user, &space).await;
    v["authentication"]
        .as_str()
        .expect("authentication")
        .to_owned()
}

/// A random suffix for distinct userSpaces.
pub fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A request with the Xelion auth header.
pub fn authed(method: reqwest::Method, url: String, token: &str) -> reqwest::RequestBuilder {
    http()
        .request(method, url)
        .header("authorization", format!("xelion {token}"))
}

/// Asserts a Xelion error answer and returns its body.
pub async fn assert_xerr(r: reqwest::Response, status: u16, code: i64) -> Value {
    assert_eq!(r.status().as_u16(), status);
    let v: Value = r.json().await.expect("error json");
    assert_eq!(v["errorCode"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(
        v["info"]
            .as_str()
            .is_some_and(|i| i.starts_with("resource=")),
        "{v}"
    );
    v
}

/// A websocket URL for a session.
pub async fn ws_url(sim: &SimHandle, token: &str) -> String {
    let r = authed(
        reqwest::Method::POST,
        format!("{}/api/v1/master/me/websocket", sim.xelion_url()),
        token,
    )
    .send()
    .await
    .expect("websocket url");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    v["object"].as_str().expect("object").to_owned()
}

/// Logs `user` in and opens a websocket.
pub async fn open_socket(sim: &SimHandle, user: &str) -> Ws {
    let t = token(sim, user).await;
    let url = ws_url(sim, &t).await;
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws
}

/// Sends a JSON text message.
pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

/// Subscribes to types, one `notificationRequest` each, and waits until the simulator has
/// them (the protocol has no acknowledgement).
pub async fn subscribe(sim: &SimHandle, ws: &mut Ws, user: &str, types: &[&str]) {
    for t in types {
        send(
            ws,
            json!({"messageType": "notificationRequest", "notificationType": t, "toggle": true}),
        )
        .await;
    }
    sim.control()
        .wait_for_subscriptions("master", Some(user), types, 1, WAIT)
        .await
        .expect("subscribed");
}

/// The next text frame as it came (pings and pongs skipped); panics after [`WAIT`].
pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        match msg {
            Message::Text(t) => return t.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next text frame as JSON (pings and pongs skipped); panics after [`WAIT`].
pub async fn next_json(ws: &mut Ws) -> Value {
    serde_json::from_str(&next_text(ws).await).expect("json frame")
}

/// Sends a `test` marker and returns the frames that arrive before its echo: since a placed
/// call's frames are queued before the control API answers, this is exactly what the socket
/// got, with no timing involved.
pub async fn drain(ws: &mut Ws) -> Vec<Value> {
    let marker = json!({"messageType": "test", "marker": rand_suffix()});
    send(ws, marker.clone()).await;
    let mut got = Vec::new();
    loop {
        let v = next_json(ws).await;
        if v == marker {
            return got;
        }
        got.push(v);
    }
}

/// The notification types of frames.
pub fn types(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["notificationType"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// `POST /oauth2/token` with a form.
pub async fn token_request(sim: &SimHandle, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http()
        .post(sim.token_url())
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("token json"))
}

/// A refresh_token grant by the demo client.
pub async fn refresh(sim: &SimHandle, refresh_token: &str) -> (u16, Value) {
    token_request(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await
}

/// An access token for `refresh-alice`.
pub async fn alice_access_token(sim: &SimHandle) -> String {
    let (status, v) = refresh(sim, "refresh-alice").await;
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().expect("access_token").to_owned()
}
