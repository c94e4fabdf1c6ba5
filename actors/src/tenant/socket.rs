//! The Xelion websocket of one tenant: connecting under the outbound rule, subscribing, and
//! the read loop with its keep-alive.
//!
//! The loop owns the socket and runs as a future on the tenant's arbiter (no thread of its
//! own); it talks to the tenant through a callback for frames and a channel for commands.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::event::{parse_frame, Frame, Rejected};
use crate::domain::XelionEvent;
use crate::outbound::OutboundPolicy;

/// An open Xelion websocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Limits and timers of a socket.
#[derive(Debug, Clone)]
pub struct SocketSettings {
    /// How often the tenant pings.
    pub ping_interval: Duration,
    /// A socket with no frame (pong, event, anything) for this long is dead.
    pub dead_after: Duration,
    /// Frames longer than this are counted as oversized and dropped (the socket stays up).
    pub max_event_frame: usize,
    /// Connect and handshake together must finish within this.
    pub connect_timeout: Duration,
}

impl Default for SocketSettings {
    fn default() -> Self {
        SocketSettings {
            ping_interval: Duration::from_secs(30),
            dead_after: Duration::from_secs(75),
            max_event_frame: 256 * 1024,
            connect_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a socket could not be opened or ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    /// The URL Xelion gave is not a websocket URL.
    #[error("`{0}` is not a ws:// or wss:// URL")]
    BadUrl(String),
    /// The outbound rule refused every address of the host.
    #[error("websocket host {0} is a non-public address and not in --outbound-allow")]
    Blocked(String),
    /// Connecting, the TLS or the websocket handshake failed.
    #[error("websocket {url}: {reason}")]
    Connect {
        /// The URL without its secret path.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The socket failed while open.
    #[error("websocket failed: {0}")]
    Broken(String),
    /// Xelion closed the socket.
    #[error("websocket closed by Xelion{0}")]
    Closed(String),
    /// No frame arrived within the dead-socket limit.
    #[error("websocket silent for {0:?} (no pong); taken as dead")]
    Dead(Duration),
}

/// What the tenant asks of its socket.
#[derive(Debug)]
pub enum SocketCmd {
    /// Subscribe to exactly these event types (toggling only the difference).
    Subscribe(BTreeSet<XelionEvent>),
    /// Close the socket with a close frame and end the loop.
    Close,
}

/// Buffers sized for small frames: tungstenite's defaults reserve 128 KiB each way per
/// socket, which idle tenants would pay for nothing. The message limit is generous so that an
/// oversized frame is read, counted and dropped instead of breaking the socket.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20))
}

/// The TLS settings of `wss://` sockets: the same crypto provider (ring) and roots as the
/// HTTP client, built once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static TLS: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
        .map_err(|e| e.to_string())
    })
    .clone()
}

/// Opens the websocket at `url` (single use; the URL is the credential, so it is never
/// logged whole). Every address is checked against the outbound rule before connecting.
pub async fn open(
    url: &str,
    policy: &OutboundPolicy,
    settings: &SocketSettings,
) -> Result<Socket, SocketError> {
    let parsed = url::Url::parse(url).map_err(|_| SocketError::BadUrl(redact(url)))?;
    let tls = match parsed.scheme() {
        "ws" => false,
        "wss" => true,
        _ => return Err(SocketError::BadUrl(redact(url))),
    };
    let host = parsed
        .host_str()
        .ok_or_else(|| SocketError::BadUrl(redact(url)))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    let shown = redact(url);
    let connect = async {
        let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| SocketError::Connect {
                url: shown.clone(),
                reason: format!("DNS: {e}"),
            })?
            .collect();
        let allowed: Vec<_> = addrs
            .iter()
            .filter(|a| policy.ip_allowed(&host, a.ip()))
            .copied()
            .collect();
        if allowed.is_empty() {
            return Err(match addrs.first() {
                Some(a) => SocketError::Blocked(a.ip().to_string()),
                None => SocketError::Connect {
                    url: shown.clone(),
                    reason: "DNS returned no address".into(),
                },
            });
        }
        let stream = TcpStream::connect(&allowed[..])
            .await
            .map_err(|e| SocketError::Connect {
                url: shown.clone(),
                reason: format!("connect: {e}"),
            })?;
        let _ = stream.set_nodelay(true);
        let connector = if tls {
            Connector::Rustls(tls_config().map_err(|reason| SocketError::Connect {
                url: shown.clone(),
                reason: format!("TLS: {reason}"),
            })?)
        } else {
            Connector::Plain
        };
        let (socket, _) = tokio_tungstenite::client_async_tls_with_config(
            url,
            stream,
            Some(ws_config()),
            Some(connector),
        )
        .await
        .map_err(|e| SocketError::Connect {
            url: shown.clone(),
            reason: format!("handshake: {e}"),
        })?;
        Ok(socket)
    };
    tokio::time::timeout(settings.connect_timeout, connect)
        .await
        .map_err(|_| SocketError::Connect {
            url: shown.clone(),
            reason: format!("timed out after {:?}", settings.connect_timeout),
        })?
}

/// The URL with its path (the credential) hidden.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}/…",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "(unparsable URL)".into(),
    }
}

/// A `multiNotificationRequest` toggling `events` to `on`.
fn toggle(events: impl IntoIterator<Item = XelionEvent>, on: bool) -> Option<Message> {
    let notifications: Vec<_> = events
        .into_iter()
        .map(|e| json!({"notificationType": e.as_str(), "toggle": on}))
        .collect();
    if notifications.is_empty() {
        return None;
    }
    let text = json!({"messageType": "multiNotificationRequest", "notifications": notifications});
    Some(Message::text(text.to_string()))
}

/// Subscribes a fresh socket to `events`.
pub async fn subscribe(
    socket: &mut Socket,
    events: &BTreeSet<XelionEvent>,
) -> Result<(), SocketError> {
    if let Some(msg) = toggle(events.iter().copied(), true) {
        socket
            .send(msg)
            .await
            .map_err(|e| SocketError::Broken(e.to_string()))?;
    }
    Ok(())
}

/// What happened on a socket, for the tenant.
#[derive(Debug)]
pub enum SocketNews {
    /// A text frame, read.
    Frame(Frame),
    /// The subscriptions now in force.
    Subscribed(BTreeSet<XelionEvent>),
}

/// Runs an open, subscribed socket until it fails, Xelion closes it or the tenant says
/// [`SocketCmd::Close`] (then `Ok`).
pub async fn run(
    mut socket: Socket,
    mut subscribed: BTreeSet<XelionEvent>,
    mut commands: mpsc::UnboundedReceiver<SocketCmd>,
    settings: SocketSettings,
    mut news: impl FnMut(SocketNews),
) -> Result<(), SocketError> {
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(
        Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = socket.next() => {
                last_heard = Instant::now();
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        news(SocketNews::Frame(parse_frame(text.as_str(), settings.max_event_frame)));
                    }
                    Some(Ok(Message::Binary(_))) => news(SocketNews::Frame(Frame::Rejected(Rejected::Malformed))),
                    // Pings are answered by tungstenite; pongs only prove the socket lives.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame
                            .map(|f| format!(" ({} {})", u16::from(f.code), f.reason))
                            .unwrap_or_default();
                        return Err(SocketError::Closed(why));
                    }
                    Some(Err(e)) => return Err(SocketError::Broken(e.to_string())),
                    None => return Err(SocketError::Closed(String::new())),
                }
            }
            cmd = commands.recv() => match cmd {
                Some(SocketCmd::Subscribe(wanted)) => {
                    let off = toggle(subscribed.difference(&wanted).copied(), false);
                    let on = toggle(wanted.difference(&subscribed).copied(), true);
                    for msg in [off, on].into_iter().flatten() {
                        socket.send(msg).await.map_err(|e| SocketError::Broken(e.to_string()))?;
                    }
                    subscribed = wanted;
                    news(SocketNews::Subscribed(subscribed.clone()));
                }
                Some(SocketCmd::Close) | None => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
                    return Ok(());
                }
            },
            _ = ping.tick() => {
                let silent = last_heard.elapsed();
                if silent >= settings.dead_after {
                    return Err(SocketError::Dead(silent));
                }
                socket
                    .send(Message::Ping(Default::default()))
                    .await
                    .map_err(|e| SocketError::Broken(e.to_string()))?;
            }
        }
    }
}
