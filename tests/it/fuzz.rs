//! Property-based fuzzing of the admin API with schemathesis, against the served
//! `/api/openapi.json`: every operation, every check, authenticated, on both backends. The
//! server answers no 5xx and everything it answers conforms to the document.
//!
//! schemathesis is a Python tool: `.ci/run` installs it into `target/schemathesis-venv`; the
//! test also finds it on `PATH`. Fuzzed bodies name hosts the server would reach (Xelion
//! hosts, token endpoints): the server under test reaches only `127.0.0.1`
//! (`outbound_only_allowed`, no DNS lookups), where a wrong port is refused at once.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use cti_sim::{Sim, SimConfig};

use crate::both_backends;
use crate::helpers::*;

/// Test cases per operation and phase: enough to find what is shallow, bounded so that a
/// run takes a minute or two.
const MAX_EXAMPLES: &str = "15";

/// The checks' settings. A valid request may get a 4xx the document cannot express in a
/// schema (a template that does not parse, a host the outbound rule refuses, a user Xelion
/// does not know); and 502 is the documented answer when Xelion cannot be reached (the
/// fuzzer learns the simulator's host from the answers and tries it with `https`, which it
/// does not speak): the server's own failures, 500 and the other 5xx, remain failures.
const CONFIG: &str = r#"
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "502"]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429", "502"]

[phases.stateful]
max-steps = 20
"#;

/// The schemathesis executable: the venv `.ci/run` makes, else `PATH`.
fn schemathesis() -> Option<PathBuf> {
    let venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis-venv/bin/schemathesis");
    if venv.is_file() {
        return Some(venv);
    }
    let on_path = Command::new("schemathesis").arg("--version").output();
    matches!(on_path, Ok(o) if o.status.success()).then(|| PathBuf::from("schemathesis"))
}

async fn schemathesis_finds_no_server_error_and_no_nonconformance(backend: Backend) {
    let Some(exe) = schemathesis() else {
        panic!(
            "schemathesis is not installed; install it as .ci/run does: \
             `python3 -m venv target/schemathesis-venv && \
             target/schemathesis-venv/bin/pip install schemathesis` (or put `schemathesis` on PATH)"
        );
    };
    let sim = Sim::start(SimConfig::default()).expect("simulators start");
    let db = Database::fresh(backend);
    let mut settings = db.settings();
    // Loopback only, and not even a DNS lookup for the names the fuzzer makes up.
    settings.outbound_allow = vec!["127.0.0.1/32".into()];
    settings.outbound_only_allowed = true;
    // The fuzzer's failed logins must not lock the run out.
    settings.failed_logins_per_source = 0;
    settings.failed_logins_per_user = 0;
    let app = TestApp::spawn_with_settings(db, sim, settings).await;
    // Something to find: an integration with users and mappings.
    app.create_integration().await;
    let token = app.login().await;

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, CONFIG).expect("config written");
    let schema = format!("{}/api/openapi.json", app.url);
    let mut cmd = Command::new(&exe);
    cmd.current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .arg("--config-file")
        .arg(&config)
        .args(["run", &schema])
        .args(["--checks", "all"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", "20261130"])
        // One worker: Python's parser is not safe across the threads of several.
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        .args(["--suppress-health-check", "all"])
        // Logging out would end the run's own session.
        .args(["--exclude-path", "/api/session/logout"])
        .args(["-H", &format!("Authorization: xelion {token}")]);
    let started = Instant::now();
    // Blocking: the server runs on this test's runtime, so wait on another thread.
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("schemathesis thread")
        .expect("schemathesis starts");
    let took = started.elapsed();
    let report = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    // "N generated, N passed, M skipped", and the requests the server timed.
    let cases = report
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(" generated"))
        .unwrap_or("no summary");
    let (_, metrics) = app.get("/metrics", None).await;
    let requests: f64 = metrics
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("xcti_http_request_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    println!(
        "schemathesis on {backend:?}: {:.0} s, {cases}, {requests} requests served",
        took.as_secs_f64()
    );
    assert!(
        output.status.success(),
        "schemathesis found problems on {backend:?} (exit {:?}):\n{report}",
        output.status.code()
    );
}
both_backends!(schemathesis_finds_no_server_error_and_no_nonconformance);
