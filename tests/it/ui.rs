//! The status page (`/ui`) over plain HTTP, as a browser would use it: the login form, the
//! session cookie's flags, forms refused without the session's CSRF value or from another
//! site, escaped output, no secret on the page, and tenant scoping.

use std::collections::BTreeMap;

use cti_actors::store::Timestamp;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::deliveries::{seed, store};
use crate::helpers::*;

/// A user name that is markup.
const SCRIPT_USER: &str = "<script>alert(1)</script>";

/// Where a form is sent from.
#[derive(Clone, Copy)]
pub enum Sent {
    /// The page itself (`Origin` of this server).
    Page,
    /// Another site.
    Elsewhere,
    /// No `Origin` and no `Referer`.
    Nowhere,
}

/// An answer of the page.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub html: String,
}

impl Answer {
    /// The `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The `Set-Cookie` of one cookie.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        hidden_field(&self.html, "csrf")
            .unwrap_or_else(|| panic!("no csrf field in\n{}", self.html))
    }
}

/// The value of the first `<input ... name="{name}" value="...">`.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_string())
}

/// A browser without a script engine: keeps cookies, sends forms, follows no redirect.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    /// Sent as `X-Forwarded-Proto` (a TLS proxy in front).
    pub forwarded_proto: Option<&'static str>,
}

impl Client {
    pub fn new(app: &TestApp) -> Client {
        Client {
            base: app.url.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            forwarded_proto: None,
        }
    }

    fn origin(&self) -> String {
        match self.forwarded_proto {
            Some(proto) => self.base.replacen("http", proto, 1),
            None => self.base.clone(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let mut req = req;
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("Cookie", header.join("; "));
        }
        if let Some(proto) = self.forwarded_proto {
            req = req.header("X-Forwarded-Proto", proto);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let html = resp.text().await.expect("body");
        let answer = Answer {
            status,
            headers,
            html,
        };
        for cookie in answer.set_cookies() {
            let first = cookie.split(';').next().unwrap_or("");
            let (name, value) = first.split_once('=').unwrap();
            if cookie.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        answer
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)], from: Sent) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        match from {
            Sent::Page => req = req.header("Origin", self.origin()),
            Sent::Elsewhere => req = req.header("Origin", "http://evil.example"),
            Sent::Nowhere => {}
        }
        self.send(req).await
    }

    /// Opens the login form and logs in; answers the login's answer.
    pub async fn log_in(&mut self, user: &str, password: &str, host: &str, tenant: &str) -> Answer {
        let form = self.get("/ui").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.html);
        let csrf = form.csrf();
        self.post(
            "/ui/login",
            &[
                ("csrf", &csrf),
                ("adminUsername", user),
                ("adminPassword", password),
                ("host", host),
                ("tenant", tenant),
                ("protocol", "http"),
            ],
            Sent::Page,
        )
        .await
    }

    /// Logs in as `admin` of `master` and answers the status page.
    pub async fn logged_in(app: &TestApp) -> (Client, Answer) {
        let mut c = Client::new(app);
        let answer = c
            .log_in("admin", "admin", &app.xelion_host(), "master")
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
        let page = c.get("/ui").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        (c, page)
    }
}

/// The status of a delivery through the API.
async fn delivery_status(app: &TestApp, token: &str, xid: i64, id: i64) -> String {
    let (s, body) = app
        .get(
            &format!("/api/crm-integrations/{xid}/deliveries?limit=500"),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .map(|d| d["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no delivery {id}: {body}"))
}

/// A failed and a delivered delivery; answers (xid, failed id, delivered id).
async fn failed_and_delivered(app: &TestApp) -> (i64, i64, i64) {
    let (xid, failed, delivered) = crate::deliveries::failed_and_delivered(app).await;
    (xid, failed.0, delivered.0)
}

async fn the_login_form_opens_a_session_in_a_strict_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_integration().await;
    let host = app.xelion_host();
    let mut c = Client::new(&app);

    // The form, with its CSRF value in a strict cookie too.
    let form = c.get("/ui").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.html.contains("action=\"/ui/login\""), "{}", form.html);
    let login_cookie = form.set_cookie("xcti_login").expect("login cookie");
    for flag in ["Path=/ui", "HttpOnly", "SameSite=Strict"] {
        assert!(login_cookie.contains(flag), "{login_cookie}");
    }
    assert_eq!(
        form.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("default-src 'none'")
    );

    // A wrong password: the error on the form, no session cookie, the password not echoed.
    let wrong = c
        .log_in(SCRIPT_USER, "pw-WRONG-9f1c", &host, "master")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.html);
    assert!(
        wrong.html.contains("Xelion refused the login"),
        "{}",
        wrong.html
    );
    assert!(wrong.set_cookie("xcti_session").is_none());
    assert!(!c.cookies.contains_key("xcti_session"));
    assert!(!wrong.html.contains("pw-WRONG-9f1c"));
    // The name typed is shown back as text.
    assert!(
        wrong
            .html
            .contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""),
        "{}",
        wrong.html
    );
    assert!(!wrong.html.contains("<script"), "{}", wrong.html);

    // The right one: a redirect to the page with the session cookie, not Secure over http.
    let ok = c.log_in("admin", "admin", &host, "master").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    assert_eq!(ok.headers[LOCATION], "/ui");
    let session = ok.set_cookie("xcti_session").expect("session cookie");
    for flag in ["Path=/ui", "HttpOnly", "SameSite=Strict"] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(!session.contains("Secure"), "{session}");
    // The cookie holds an API token of that tenant, as POST /api/session/login gives.
    let token = c.cookies["xcti_session"].clone();
    let (s, body) = app.get("/api/crm-integrations", Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let page = c.get("/ui").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html.contains(&format!("admin at {host} / master")),
        "{}",
        page.html
    );
    assert!(page.html.contains("id=\"socket-state\""), "{}", page.html);
    assert!(!page.html.contains(&token), "the token is not on the page");

    // Logging out ends the API session and removes the cookie.
    let out = c
        .post("/ui/logout", &[("csrf", &page.csrf())], Sent::Page)
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.html);
    assert!(out
        .set_cookie("xcti_session")
        .unwrap()
        .contains("Max-Age=0"));
    let (s, _) = app.get("/api/crm-integrations", Some(&token)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let again = c.get("/ui").await;
    assert!(again.html.contains("action=\"/ui/login\""));

    // Behind a TLS proxy the cookie is Secure, and the form's origin is the https one.
    let mut tls = Client::new(&app);
    tls.forwarded_proto = Some("https");
    let ok = tls.log_in("admin", "admin", &host, "master").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    assert!(ok.set_cookie("xcti_session").unwrap().contains("; Secure"));
}
both_backends!(the_login_form_opens_a_session_in_a_strict_cookie);

async fn forms_need_the_sessions_csrf_value_and_this_origin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, failed, _) = failed_and_delivered(&app).await;
    let token = app.login().await;
    let (mut c, page) = Client::logged_in(&app).await;
    let csrf = page.csrf();
    let retry = format!("/ui/integrations/{xid}/deliveries/{failed}/retry");
    assert!(
        page.html.contains(&format!("action=\"{retry}\"")),
        "{}",
        page.html
    );

    let refused: [(&[(&str, &str)], Sent); 5] = [
        (&[], Sent::Page),
        (&[("csrf", "0123abcd")], Sent::Page),
        (&[("csrf", &csrf[..csrf.len() - 1])], Sent::Page),
        (&[("csrf", &csrf)], Sent::Elsewhere),
        (&[("csrf", &csrf)], Sent::Nowhere),
    ];
    for (fields, from) in refused {
        let a = c.post(&retry, fields, from).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.html);
        assert!(a.html.contains("Refused"), "{}", a.html);
        assert_eq!(delivery_status(&app, &token, xid, failed).await, "failed");
        let a = c.post("/ui/logout", fields, from).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.html);
        assert!(c.cookies.contains_key("xcti_session"));
    }
    // Another session's value does not fit this one.
    let (_, other) = Client::logged_in(&app).await;
    let a = c.post(&retry, &[("csrf", &other.csrf())], Sent::Page).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(delivery_status(&app, &token, xid, failed).await, "failed");
    // The login form needs its own value too.
    let mut fresh = Client::new(&app);
    let login = fresh
        .post(
            "/ui/login",
            &[
                ("adminUsername", "admin"),
                ("adminPassword", "admin"),
                ("host", &app.xelion_host()),
                ("tenant", "master"),
            ],
            Sent::Page,
        )
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN, "{}", login.html);
    assert!(login.set_cookie("xcti_session").is_none());

    // With both, the retry happens.
    let a = c.post(&retry, &[("csrf", &csrf)], Sent::Page).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.html);
    assert_eq!(a.headers[LOCATION], format!("/ui?retried={failed}"));
    assert_ne!(delivery_status(&app, &token, xid, failed).await, "failed");
    let page = c.get(&format!("/ui?retried={failed}")).await;
    assert!(
        page.html
            .contains(&format!("Delivery {failed} is pending again")),
        "{}",
        page.html
    );
}
both_backends!(forms_need_the_sessions_csrf_value_and_this_origin);

async fn markup_shows_as_text_and_no_secret_is_on_the_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let control = app.control();
    control
        .add_user(
            "master",
            &cti_sim::NewUser::new(SCRIPT_USER, "pw-script", false),
        )
        .await
        .expect("user");
    let users = [SCRIPT_USER, "bob"];
    let (s, created) = app
        .post(
            "/api/crm-integrations",
            None,
            &app.integration_body("master", &users),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{created}");
    let xid = created["xelionContext"]["id"].as_i64().unwrap();
    let crm = created["crmContext"]["id"].as_i64().unwrap();
    let token = app.login().await;
    // A mapping whose payload template holds markup.
    let path = format!("/api/crm-integrations/{xid}/crm-contexts/{crm}/event-uri-mappings");
    let (_, mut mappings) = app.get(&path, Some(&token)).await;
    for m in mappings.as_array_mut().unwrap() {
        if m["xelionEvent"] == "newCallEvent" {
            m["crmResourcePayload"] =
                json!({"note": "<script>alert(2)</script>", "callId": "${callId}"});
        }
    }
    let (s, body) = app.put(&path, Some(&token), &mappings).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // A delivery of that user, and the user parked: the CRM does not know its credentials.
    let s = store(&app).await;
    seed(&s, xid, crm, 1, Timestamp::now()).await;
    let (_, listed) = app
        .get(
            &format!(
                "/api/crm-integrations/{xid}/crm-contexts/{crm}/user-credentials?username={}",
                url::form_urlencoded::byte_serialize(SCRIPT_USER.as_bytes()).collect::<String>()
            ),
            Some(&token),
        )
        .await;
    let uid = listed[0]["userCredentialsId"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/users/{uid}/verify"),
        Some(&token),
        &Value::Null,
    )
    .await;

    let (mut c, _) = Client::logged_in(&app).await;
    let page = eventually("the user listed as needing re-authorisation", || {
        let mut c = c.clone();
        async move {
            let page = c.get("/ui").await;
            let section = page
                .html
                .split("id=\"reauthorisation\"")
                .nth(1)?
                .to_string();
            let listed = section.split("</section>").next()?.contains("alert(1)");
            listed.then_some(page)
        }
    })
    .await;
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    assert!(page.html.contains(escaped), "{}", page.html);
    assert!(!page.html.contains("<script"), "{}", page.html);

    // The preview of the stored mapping and of pasted templates: markup stays text.
    let stored = hidden_option(&page.html, "newCallEvent");
    let csrf = page.csrf();
    let previewed = c
        .post(
            "/ui/preview",
            &[
                ("csrf", &csrf),
                ("mapping", &stored),
                (
                    "event",
                    r#"{"callId": "c-1", "callerPhoneNumber": "+31612345678"}"#,
                ),
            ],
            Sent::Page,
        )
        .await;
    assert_eq!(previewed.status, StatusCode::OK, "{}", previewed.html);
    assert!(
        previewed
            .html
            .contains("&lt;script&gt;alert(2)&lt;/script&gt;"),
        "{}",
        previewed.html
    );
    let pasted = c
        .post(
            "/ui/preview",
            &[
                ("csrf", &csrf),
                ("mapping", "given"),
                ("crmContextId", &crm.to_string()),
                ("xelionEvent", "callHungUpEvent"),
                ("method", "PUT"),
                ("crmResourceUri", "http://127.0.0.1:1/calls/${callId}"),
                (
                    "crmResourcePayload",
                    r#"{"x": "<script>alert(3)</script>${callId}"}"#,
                ),
                ("event", r#"{"callId": "<b>c-2</b>"}"#),
            ],
            Sent::Page,
        )
        .await;
    assert_eq!(pasted.status, StatusCode::OK, "{}", pasted.html);
    assert!(
        pasted
            .html
            .contains("PUT http://127.0.0.1:1/calls/%3Cb%3Ec-2%3C%2Fb%3E"),
        "{}",
        pasted.html
    );
    assert!(
        pasted
            .html
            .contains("&lt;script&gt;alert(3)&lt;/script&gt;&lt;b&gt;c-2&lt;/b&gt;"),
        "{}",
        pasted.html
    );
    // A template that does not parse: its error, in the page.
    let broken = c
        .post(
            "/ui/preview",
            &[
                ("csrf", &csrf),
                ("mapping", "given"),
                ("crmContextId", &crm.to_string()),
                ("xelionEvent", "newCallEvent"),
                ("crmResourceUri", "http://127.0.0.1:1/calls/${callId"),
                ("event", "{}"),
            ],
            Sent::Page,
        )
        .await;
    assert!(broken.html.contains("crmResourceUri"), "{}", broken.html);

    for answer in [&page, &previewed, &pasted, &broken] {
        assert!(!answer.html.contains("<script"), "{}", answer.html);
        for secret in all_secrets("master", &users).iter().skip(1) {
            assert!(
                !answer.html.contains(secret.as_str()),
                "{secret} on the page"
            );
        }
        assert!(!answer.html.contains(&c.cookies["xcti_session"]));
        assert!(!answer.html.contains(&token));
    }
}
both_backends!(markup_shows_as_text_and_no_secret_is_on_the_page);

/// The value of the preview picker's option for the stored mapping of `event`.
fn hidden_option(html: &str, event: &str) -> String {
    html.split("<option value=\"")
        .skip(1)
        .find(|o| o.starts_with("stored:") && o.contains(event))
        .and_then(|o| o.split('"').next())
        .unwrap_or_else(|| panic!("no stored {event} mapping to pick in\n{html}"))
        .to_string()
}

async fn another_tenant_cannot_retry_a_delivery(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, failed, delivered) = failed_and_delivered(&app).await;
    let token = app.login().await;
    add_tenant(&app.control(), "acme").await;
    let mut acme = Client::new(&app);
    let ok = acme
        .log_in("admin", &admin_password("acme"), &app.xelion_host(), "acme")
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let page = acme.get("/ui").await;
    assert!(page.html.contains("No integration"), "{}", page.html);
    assert!(!page.html.contains(&format!("delivery-{failed}")));
    let a = acme
        .post(
            &format!("/ui/integrations/{xid}/deliveries/{failed}/retry"),
            &[("csrf", &page.csrf())],
            Sent::Page,
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.html);
    assert_eq!(delivery_status(&app, &token, xid, failed).await, "failed");

    // master's own page lists both, the failed one first with its error and a retry button.
    let (_, page) = Client::logged_in(&app).await;
    let (f, d) = (
        page.html
            .find(&format!("id=\"delivery-{failed}\""))
            .expect("failed listed"),
        page.html
            .find(&format!("id=\"delivery-{delivered}\""))
            .expect("delivered listed"),
    );
    assert!(f < d, "failures first");
    assert!(page.html.contains("the CRM answered 422"), "{}", page.html);
    assert_eq!(page.html.matches("class=\"small retry\"").count(), 1);
}
both_backends!(another_tenant_cannot_retry_a_delivery);
