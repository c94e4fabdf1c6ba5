//! The Xelion websocket: single-use URLs, subscriptions per connection, `test` echo, pings.

use std::collections::BTreeSet;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, Session};
use serde_json::Value;
use tokio::sync::oneshot;

use super::rest::{apply_faults, xerr};
use super::Socket;
use crate::api::DropMode;
use crate::conn::ConnSocket;
use crate::state::{lock, Data, Shared};

/// Largest message a client may send, after joining continuation frames.
const MAX_MESSAGE: usize = 1 << 20;

/// Registers the websocket route on an app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/websocket/{a}/{b}/{c}/{key}", web::get().to(open));
}

/// `GET /websocket/<a>/<b>/<c>/<key>`: the URL is the credential and works once.
async fn open(
    data: Data,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
    body: web::Payload,
) -> HttpResponse {
    let (a, b, c, key) = path.into_inner();
    let ticket_key = format!("{a}/{b}/{c}/{key}");
    let tenant = lock(&data.xelion)
        .tickets
        .get(&ticket_key)
        .map(|t| t.tenant.clone());
    if let Err(r) = apply_faults(&data, &req, tenant.as_deref()).await {
        return r.respond(&req);
    }
    // Check the handshake before consuming the URL, so a plain GET does not burn it.
    let (response, session, stream) = match actix_ws::handle(&req, body) {
        Ok(x) => x,
        Err(e) => return HttpResponse::from_error(e),
    };
    let conn = req
        .conn_data::<ConnSocket>()
        .and_then(ConnSocket::try_clone);
    let (kill_tx, kill_rx) = oneshot::channel();
    let id = {
        let mut st = lock(&data.xelion);
        let Some(ticket) = st.tickets.remove(&ticket_key) else {
            return xerr(&req, 404, 10100, "Unknown or already used websocket URL");
        };
        let id = st.next_socket_id();
        st.counts_mut(&ticket.tenant).sockets_opened += 1;
        st.sockets.insert(
            id,
            Socket {
                ticket,
                subscriptions: BTreeSet::new(),
                session: session.clone(),
                kill: Some(kill_tx),
            },
        );
        id
    };
    actix_web::rt::spawn(serve(data, id, session, stream, kill_rx, conn));
    response
}

/// Reads one connection until it closes or a fault drops it.
async fn serve(
    data: Data,
    id: u64,
    mut session: Session,
    stream: actix_ws::MessageStream,
    mut kill: oneshot::Receiver<DropMode>,
    conn: Option<ConnSocket>,
) {
    let mut stream = stream
        .max_frame_size(MAX_MESSAGE)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE);
    loop {
        tokio::select! {
            mode = &mut kill => {
                match mode {
                    Ok(DropMode::Close) => {
                        let _ = session.clone().close(Some(CloseCode::Away.into())).await;
                    }
                    // Abrupt, or the socket was removed from the state without a word.
                    _ => {
                        if let Some(c) = &conn {
                            c.shutdown();
                        }
                    }
                }
                break;
            }
            msg = stream.recv() => match msg {
                Some(Ok(AggregatedMessage::Text(text))) => {
                    on_text(&data, id, &mut session, &text).await;
                }
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    if session.pong(&bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(AggregatedMessage::Close(_))) => {
                    let _ = session.clone().close(None).await;
                    break;
                }
                Some(Ok(AggregatedMessage::Binary(_) | AggregatedMessage::Pong(_))) => {}
                Some(Err(e)) => {
                    tracing::debug!(socket = id, error = %e, "websocket protocol error");
                    break;
                }
                None => break,
            },
        }
    }
    lock(&data.xelion).sockets.remove(&id);
}

/// `toggle` as Xelion sends it: a boolean or the string `"true"`/`"false"`; absent means on.
fn toggle(v: &Value) -> Option<bool> {
    match v.get("toggle") {
        None | Some(Value::Null) => Some(true),
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        Some(_) => None,
    }
}

/// Handles one client message; unknown or malformed messages are ignored, as Xelion does.
async fn on_text(data: &Data, id: u64, session: &mut Session, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        tracing::debug!(socket = id, "ignored a websocket message that is not JSON");
        return;
    };
    let requests: Vec<&Value> = match v.get("messageType").and_then(Value::as_str) {
        Some("test") => {
            let _ = session.text(text.to_owned()).await;
            return;
        }
        Some("notificationRequest") => vec![&v],
        Some("multiNotificationRequest") => {
            match v.get("notifications").and_then(Value::as_array) {
                Some(list) => list.iter().collect(),
                None => return,
            }
        }
        _ => return,
    };
    let mut st = lock(&data.xelion);
    let Some(sock) = st.sockets.get_mut(&id) else {
        return;
    };
    let mut applied = 0;
    for r in requests {
        let (Some(kind), Some(on)) = (r.get("notificationType").and_then(Value::as_str), toggle(r))
        else {
            continue;
        };
        if on {
            sock.subscriptions.insert(kind.to_owned());
        } else {
            sock.subscriptions.remove(kind);
        }
        applied += 1;
    }
    let tenant = sock.ticket.tenant.clone();
    st.counts_mut(&tenant).subscription_requests += applied;
}

/// Writes `text` as one text frame, verbatim, to the open sockets of a tenant (or of one
/// user); returns how many took it. Done when every frame is queued on its socket.
pub async fn send_text(data: &Shared, tenant: &str, user: Option<&str>, text: String) -> u64 {
    let sessions: Vec<Session> = lock(&data.xelion)
        .sockets
        .values()
        .filter(|s| s.ticket.tenant == tenant && user.is_none_or(|u| u == s.ticket.user_name))
        .map(|s| s.session.clone())
        .collect();
    let mut sent = 0;
    for mut session in sessions {
        if session.text(text.clone()).await.is_ok() {
            sent += 1;
        }
    }
    sent
}

/// Drops the matching sockets of a tenant at once (they leave the counters immediately);
/// returns how many.
pub fn drop_sockets(data: &Shared, tenant: &str, user: Option<&str>, mode: DropMode) -> u64 {
    let mut st = lock(&data.xelion);
    let ids: Vec<u64> = st
        .sockets
        .iter()
        .filter(|(_, s)| s.ticket.tenant == tenant && user.is_none_or(|u| u == s.ticket.user_name))
        .map(|(id, _)| *id)
        .collect();
    for id in &ids {
        if let Some(mut sock) = st.sockets.remove(id) {
            if let Some(kill) = sock.kill.take() {
                let _ = kill.send(mode);
            }
        }
    }
    ids.len() as u64
}
