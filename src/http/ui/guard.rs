//! What keeps the status page's session and forms safe: the cookies (HttpOnly,
//! SameSite=Strict, Secure over https, Path=/ui), the CSRF value of every form, the
//! Origin/Referer check of every POST, and the form body.

use actix_web::http::header::{COOKIE, ORIGIN, REFERER};
use actix_web::HttpRequest;
use cti_actors::secrets::token_hash;
use rand::RngCore as _;

/// The cookie that carries the API token of a logged-in administrator.
pub const SESSION_COOKIE: &str = "xcti_session";
/// The cookie that carries the login form's CSRF value (there is no session yet).
pub const LOGIN_COOKIE: &str = "xcti_login";
/// The name of the hidden CSRF field of every form.
pub const CSRF_FIELD: &str = "csrf";

/// The value of a cookie the browser sent, if any.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Whether the page was reached over https (directly, or as a proxy says with
/// `Forwarded`/`X-Forwarded-Proto`).
fn over_https(req: &HttpRequest) -> bool {
    req.connection_info().scheme().eq_ignore_ascii_case("https")
}

/// A `Set-Cookie` value for a page cookie: only for `/ui`, never readable by a script, never
/// sent with a request another site starts, and only over https when served over https.
pub fn set_cookie(req: &HttpRequest, name: &str, value: &str) -> String {
    let secure = if over_https(req) { "; Secure" } else { "" };
    format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict{secure}")
}

/// A `Set-Cookie` value that removes a page cookie.
pub fn clear_cookie(req: &HttpRequest, name: &str) -> String {
    format!("{}; Max-Age=0", set_cookie(req, name, ""))
}

/// The CSRF value of a session's forms: derived from its token (which only the browser holds),
/// so it needs no storage, differs per session, and tells nothing about the token.
pub fn csrf_for_session(session_token: &str) -> String {
    token_hash(&format!("xelion-cti status page forms\n{session_token}"))
}

/// A fresh random CSRF value for the login form (kept in [`LOGIN_COOKIE`]).
pub fn new_login_csrf() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two values in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks that a POST comes from a page of this server: its `Origin` (or, without one, its
/// `Referer`) must be this server's scheme and host. A request that carries neither is refused.
pub fn same_origin(req: &HttpRequest) -> Result<(), String> {
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    let header = |name| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("").trim().to_string())
    };
    if let Some(origin) = header(ORIGIN) {
        return if origin.eq_ignore_ascii_case(&own) {
            Ok(())
        } else {
            Err(format!(
                "the form was sent from another site (Origin `{}`, this server is `{own}`)",
                shorten(&origin)
            ))
        };
    }
    if let Some(referer) = header(REFERER) {
        let lower = referer.to_ascii_lowercase();
        let own_lower = own.to_ascii_lowercase();
        return if lower == own_lower || lower.starts_with(&format!("{own_lower}/")) {
            Ok(())
        } else {
            Err(format!(
                "the form was sent from another page (Referer `{}`, this server is `{own}`)",
                shorten(&referer)
            ))
        };
    }
    Err("the request carries neither Origin nor Referer; send the form from the page".into())
}

fn shorten(s: &str) -> String {
    s.chars().take(100).collect()
}

/// A `application/x-www-form-urlencoded` body.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// A form with no fields.
    pub fn empty() -> Form {
        Form(Vec::new())
    }

    /// Parses a form body; a NUL character anywhere is refused, naming the field.
    pub fn parse(body: &[u8]) -> Result<Form, String> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((k, _)) = pairs
            .iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(format!(
                "{}: a NUL character is not allowed",
                shorten(&k.replace('\0', "\u{fffd}"))
            ));
        }
        Ok(Form(pairs))
    }

    /// The first value of a field, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a field, empty if not sent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn cookies_are_found_among_others() {
        let req = TestRequest::default()
            .insert_header((COOKIE, "a=1; xcti_session=tok-en; b=2"))
            .to_http_request();
        assert_eq!(cookie(&req, SESSION_COOKIE).as_deref(), Some("tok-en"));
        assert_eq!(cookie(&req, LOGIN_COOKIE), None);
    }

    #[test]
    fn cookie_flags() {
        let req = TestRequest::default().to_http_request();
        assert_eq!(
            set_cookie(&req, "n", "v"),
            "n=v; Path=/ui; HttpOnly; SameSite=Strict"
        );
        let req = TestRequest::default()
            .insert_header(("X-Forwarded-Proto", "https"))
            .to_http_request();
        assert!(set_cookie(&req, "n", "v").ends_with("; Secure"));
        assert!(clear_cookie(&req, "n").ends_with("; Max-Age=0"));
    }

    #[test]
    fn origin_must_be_this_server() {
        let with = |name: &str, value: &str| {
            TestRequest::default()
                .insert_header(("Host", "cti.example:8080"))
                .insert_header((name, value))
                .to_http_request()
        };
        assert!(same_origin(&with("Origin", "http://cti.example:8080")).is_ok());
        assert!(same_origin(&with("Origin", "http://evil.example")).is_err());
        assert!(same_origin(&with("Origin", "null")).is_err());
        assert!(same_origin(&with("Referer", "http://cti.example:8080/ui")).is_ok());
        assert!(same_origin(&with("Referer", "http://cti.example:8080.evil/ui")).is_err());
        let bare = TestRequest::default()
            .insert_header(("Host", "cti.example:8080"))
            .to_http_request();
        assert!(same_origin(&bare).is_err());
    }

    #[test]
    fn csrf_values() {
        let a = csrf_for_session("token-a");
        assert_eq!(a, csrf_for_session("token-a"));
        assert_ne!(a, csrf_for_session("token-b"));
        assert!(!a.contains("token-a"));
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &csrf_for_session("token-b")));
        assert!(!same_secret(&a, ""));
        assert_ne!(new_login_csrf(), new_login_csrf());
    }

    #[test]
    fn forms_parse_and_refuse_nul() {
        let f = Form::parse(b"a=1&b=x%3Cy&a=2").unwrap();
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.text("b"), "x<y");
        assert_eq!(f.text("c"), "");
        let err = Form::parse(b"adminUsername=a%00b").err().unwrap();
        assert!(err.starts_with("adminUsername: "), "{err}");
    }
}
