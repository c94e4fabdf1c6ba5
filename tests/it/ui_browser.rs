//! The status page in a real browser (Debian's headless chromium, driven through
//! chromedriver's WebDriver HTTP API): log in through the form, see a delivered and a failed
//! delivery, retry the failed one once the CRM accepts it again, see it delivered.
//!
//! With `XCTI_UI_SCREENSHOT=<file.png>` the test also writes a screenshot of the page (after
//! a mapping preview, before the retry): `docs/status-page.png` is made that way.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use cti_sim::api::Scenario;
use serde_json::{json, Value};

use crate::both_backends;
use crate::delivery::World;
use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on a free port, in a process group of its own (with the browsers it starts),
/// killed when dropped.
struct Driver {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Driver {
    fn start() -> Driver {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the browser test needs Debian's chromium and chromedriver; \
                 run `apt-get install chromium chromium-driver`"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = {
            use std::os::unix::process::CommandExt as _;
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("chromedriver starts")
        };
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    async fn ready(&self) {
        eventually("chromedriver ready", || async {
            let resp = self
                .http
                .get(format!("{}/status", self.url))
                .send()
                .await
                .ok()?;
            let body: Value = resp.json().await.ok()?;
            (body["value"]["ready"] == true).then_some(())
        })
        .await;
    }

    /// A headless chromium with a fresh profile in `profile`.
    async fn session(&self, profile: &Path) -> Browser {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--window-size=1280,1640",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let resp: Value = self
            .http
            .post(format!("{}/session", self.url))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON");
        let id = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {resp}"));
        Browser {
            http: self.http.clone(),
            base: format!("{}/session/{id}", self.url),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group this test created: chromedriver and the browser it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
struct Browser {
    http: reqwest::Client,
    base: String,
}

impl Browser {
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp: Value = req
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON");
        if resp["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", resp["value"]);
        }
        resp["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    async fn type_in(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            Some(json!({})),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.command(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn screenshot(&self) -> Vec<u8> {
        let b64 = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("a PNG")
    }

    async fn quit(&self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

/// The row of a delivery with a given status, as the page renders it.
fn row(id: i64, status: &str) -> String {
    format!("class=\"{status}\" id=\"delivery-{id}\"")
}

async fn a_failed_delivery_is_retried_from_the_page(backend: Backend) {
    let driver = Driver::start();
    let w = World::new(backend).await;
    // The CRM refuses the hang-up requests for now.
    let hungup = "/cti-server-stub/api/zoho/services/crm/v2/phonebridge/callhungup";
    let fault = w.crm_fault(hungup, 422, None, None).await;
    w.call("+31612345678", "alice", Scenario::Answered).await;
    let (failed, delivered) = eventually("one failed and others delivered", || async {
        let list = w.deliveries("limit=50").await;
        let all = list["deliveries"].as_array()?.clone();
        let id_of = |status: &str| {
            all.iter()
                .find(|d| d["status"] == status)
                .and_then(|d| d["id"].as_i64())
        };
        let done = all.len() == 3
            && all
                .iter()
                .all(|d| d["status"] == "failed" || d["status"] == "delivered");
        done.then_some(())?;
        Some((id_of("failed")?, id_of("delivered")?))
    })
    .await;

    driver.ready().await;
    let profile = tempfile::tempdir().unwrap();
    let b = driver.session(profile.path()).await;
    let ui = format!("{}/ui", w.app.url);
    b.go(&ui).await;
    b.type_in("#adminUsername", "admin").await;
    b.type_in("#adminPassword", "admin").await;
    b.type_in("#host", &w.app.xelion_host()).await;
    b.type_in("#tenant", "master").await;
    b.click("#login").await;
    let page = eventually("the status page after the login", || async {
        let page = b.source().await;
        page.contains("admin at ").then_some(page)
    })
    .await;
    assert!(page.contains(&row(failed, "failed")), "{page}");
    assert!(page.contains(&row(delivered, "delivered")), "{page}");
    assert!(page.contains("HTTP 422"), "{page}");

    // What the picked mapping would send, shown on the page.
    b.click("#run-preview").await;
    eventually("the preview shown", || async {
        b.source()
            .await
            .contains("id=\"preview-result\"")
            .then_some(())
    })
    .await;
    if let Some(path) = std::env::var_os("XCTI_UI_SCREENSHOT") {
        std::fs::write(&path, b.screenshot().await).expect("screenshot written");
    }

    // The CRM accepts again; the retry button sends it once more.
    w.app.control().remove_crm_fault(fault).await.unwrap();
    b.click(&format!("#delivery-{failed} button.retry")).await;
    let notice = format!("Delivery {failed} is pending again");
    eventually("the retry's notice", || async {
        b.source().await.contains(&notice).then_some(())
    })
    .await;
    eventually("the retried delivery shown delivered", || async {
        b.go(&ui).await;
        b.source()
            .await
            .contains(&row(failed, "delivered"))
            .then_some(())
    })
    .await;
    b.quit().await;
}
both_backends!(a_failed_delivery_is_retried_from_the_page);
