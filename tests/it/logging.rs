//! The server's log, as an operator runs it: a closed or stalled pipe neither stops nor hangs
//! the server, a file gets no colour codes, and a Xelion that cannot be reached is a warning
//! naming the URL tried and the reason.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use cti_sim::{Sim, SimConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_message, spawn_serve, wait_exit, xcti};

/// `serve` on port 0 in `dir`, stdout and stderr piped; answers the child and its address.
fn serve_piped(dir: &std::path::Path) -> (Child, String) {
    let mut child = xcti()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("xelion-cti listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (child, addr)
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[actix_rt::test]
async fn a_closed_log_pipe_neither_stops_nor_hangs_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve_piped(dir.path());
    // The reader went away (`| head -1`): every later line fails to be written.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let http = reqwest::Client::new();
    for _ in 0..50 {
        let resp = http
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let ready: Value = http
        .get(format!("http://{addr}/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ready["logLinesDropped"].as_u64().unwrap() > 0,
        "the lost lines are counted: {ready}"
    );
    terminate(&child);
    assert!(wait_exit(&mut child).success(), "SIGTERM still stops it");
}

#[actix_rt::test]
async fn a_stalled_log_pipe_neither_stops_nor_hangs_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve_piped(dir.path());
    // stderr stays open and is never read: the pipe fills after some 64 KiB of lines.
    let _stalled = child.stderr.take();
    let http = reqwest::Client::new();
    for _ in 0..1500 {
        let resp = http
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(resp.status(), StatusCode::OK);
    }
    terminate(&child);
    assert!(wait_exit(&mut child).success(), "SIGTERM still stops it");
}

#[actix_rt::test]
async fn unreachable_xelion_is_a_warning_with_url_and_reason_in_a_plain_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_serve(
        dir.path(),
        &format!("sqlite://{}", dir.path().join("x.db").display()),
        None,
    );
    let sim = Sim::start(SimConfig::default()).expect("simulators start");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let http = reqwest::Client::new();
    let login = |host: String, protocol: &str| {
        http.post(format!("http://{addr}/api/session/login"))
            .json(
                &json!({"adminUsername": "admin", "adminPassword": "S3CRET-pw-4f1c",
                          "host": host, "tenant": "master", "protocol": protocol}),
            )
            .send()
    };

    let resp = login(format!("127.0.0.1:{closed}"), "http").await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    let refused = error_message(status, &body, StatusCode::BAD_GATEWAY, 10500);
    let url = format!("http://127.0.0.1:{closed}/api/v1/master/me/login");
    assert!(
        refused.contains(&url) && refused.contains("connection refused"),
        "{refused}"
    );

    // https against the simulator, which speaks plain http.
    let resp = login(sim.xelion_addr().to_string(), "https").await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    let tls = error_message(status, &body, StatusCode::BAD_GATEWAY, 10500);
    assert!(
        tls.contains("https://") && tls.contains("does not speak TLS"),
        "{tls}"
    );

    terminate(&child);
    assert!(wait_exit(&mut child).success());
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(!log.contains('\u{1b}'), "no colour codes in a file");
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
    assert!(
        warnings
            .iter()
            .any(|l| l.contains(&url) && l.contains("connection refused")),
        "a warning names the URL and the reason: {warnings:?}"
    );
    assert!(
        warnings.iter().any(|l| l.contains("does not speak TLS")),
        "{warnings:?}"
    );
    assert!(!log.contains("S3CRET-pw-4f1c"), "never a password");
}

/// `--log-json` with `RUST_LOG=debug`: every line is one JSON object, and what a tenant and a
/// delivery log carries their span with the ids (the tenant's id, the delivery's id and
/// tenant).
#[actix_rt::test]
async fn json_logs_carry_a_span_per_tenant_and_per_delivery() {
    use crate::delivery::World;
    use crate::helpers::{spawn_serve_with, Backend, Database, TestApp};
    use cti_sim::api::Scenario;

    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(SimConfig::default()).expect("simulators start");
    let db = Database::fresh(Backend::Sqlite);
    let (mut child, addr) = spawn_serve_with(
        dir.path(),
        &db.url,
        Some(&db.key),
        &[("XCTI_LOG_JSON", "true"), ("RUST_LOG", "debug")],
    );
    let w = World::register(TestApp::attach(format!("http://{addr}"), db, sim)).await;
    w.call("+31612345678", "alice", Scenario::Answered).await;
    crate::helpers::eventually("the call's deliveries delivered", || async {
        let list = w.deliveries("status=delivered").await;
        (list["deliveries"].as_array()?.len() >= 2).then_some(())
    })
    .await;
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(wait_exit(&mut child).code(), Some(0));

    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let xid = w.xid.to_string();
    let in_span = |name: &str, key: &str, value: &str| {
        lines.iter().any(|l| {
            l["spans"].as_array().is_some_and(|spans| {
                spans
                    .iter()
                    .any(|s| s["name"] == name && s[key].as_str() == Some(value))
            })
        })
    };
    assert!(
        in_span("tenant", "id", &xid),
        "a line in the tenant's span with its id {xid}:\n{log}"
    );
    let delivered: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "delivered")
        .collect();
    assert!(
        delivered.len() >= 2,
        "each delivery logs its outcome:\n{log}"
    );
    for line in delivered {
        let span = &line["span"];
        assert_eq!(span["name"], "delivery", "{line}");
        assert_eq!(span["tenant"].as_str(), Some(xid.as_str()), "{line}");
        assert!(
            span["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{line}"
        );
    }
}
