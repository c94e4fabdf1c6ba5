//! Why an outgoing request got no answer, in words an operator can act on: refused, name not
//! resolved, TLS against a plain server (or the reverse), reset, timed out. Never a secret:
//! only the error chain of the transport, which carries no header or body.

/// The reason a request failed before an answer came, e.g. `connection refused (nothing
/// listens at that address and port)`.
pub fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out (no answer in time; is the host right and reachable?)".to_string();
    }
    let chain = chain(e);
    let lower = chain.to_ascii_lowercase();
    let io_kind = io_kind(e);
    if lower.contains("dns error") || lower.contains("failed to lookup address") {
        return format!(
            "the host name could not be resolved (DNS): {}",
            innermost(e)
        );
    }
    if lower.contains("invalidcontenttype")
        || lower.contains("corrupt message")
        || lower.contains("wrong version number")
        || lower.contains("record overflow")
    {
        return "TLS handshake failed: the server does not speak TLS (is it plain http? then \
                use protocol `http`)"
            .to_string();
    }
    if lower.contains("certificate") {
        return format!(
            "TLS: the server's certificate is not accepted: {}",
            innermost(e)
        );
    }
    if lower.contains("tls") || lower.contains("handshake") {
        return format!("TLS handshake failed: {}", innermost(e));
    }
    match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => {
            return "connection refused (nothing listens at that address and port)".to_string()
        }
        Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted) => {
            return "the connection was reset by the server".to_string()
        }
        Some(std::io::ErrorKind::TimedOut) => {
            return "timed out connecting (is the host right and reachable?)".to_string()
        }
        _ => {}
    }
    if lower.contains("connection closed before message completed")
        || lower.contains("incomplete message")
        || lower.contains("invalid http version")
        || lower.contains("invalid status")
    {
        return "the server closed the connection without an HTTP answer (is it https? then use \
                protocol `https`)"
            .to_string();
    }
    if e.is_connect() {
        return format!("connection failed: {}", innermost(e));
    }
    innermost(e)
}

/// A URL as it may be shown: scheme, host, port and path, no query, no user information.
pub fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_string(),
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = err.source();
    }
    None
}

/// The innermost cause's message (the OS or protocol error).
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn refused_connections_say_so() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = client()
            .get(format!("http://127.0.0.1:{port}/x"))
            .send()
            .await
            .unwrap_err();
        assert!(
            transport_reason(&e).starts_with("connection refused"),
            "{}",
            transport_reason(&e)
        );
    }

    #[tokio::test]
    async fn tls_against_a_plain_server_says_so() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let e = client()
            .get(format!("https://127.0.0.1:{port}/x"))
            .send()
            .await
            .unwrap_err();
        let reason = transport_reason(&e);
        assert!(reason.contains("does not speak TLS"), "{reason}");
    }

    #[tokio::test]
    async fn unknown_names_are_a_dns_failure() {
        let e = client()
            .get("http://no-such-host.invalid/x")
            .send()
            .await
            .unwrap_err();
        let reason = transport_reason(&e);
        assert!(reason.contains("could not be resolved"), "{reason}");
    }

    #[test]
    fn shown_urls_carry_no_query_or_credentials() {
        assert_eq!(
            shown_url("https://u:p@h.example:8443/api/v1/t/users?where=userName%3Dx"),
            "https://h.example:8443/api/v1/t/users"
        );
    }
}
