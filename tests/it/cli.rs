//! The binary's `migrate` and `serve` start-up errors, as an operator meets them.

use std::process::Command;

use crate::helpers::{spawn_serve, wait_exit, xcti};

#[test]
fn migrate_creates_the_database_and_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = xcti()
        .args(["migrate"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    assert!(
        dir.path().join("xelion-cti.db").exists(),
        "the default SQLite file"
    );
    assert!(
        dir.path().join("xelion-cti.key").exists(),
        "the default key file"
    );
    // Idempotent.
    let again = xcti()
        .args(["migrate"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(again.status.success());
}

#[test]
fn bad_configuration_is_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "listen = 8080\n").unwrap();
    let out = xcti()
        .args(["serve", "--config"])
        .arg(&cfg)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("c.toml") && err.contains("listen"), "{err}");

    let out = xcti()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--outbound-allow",
            "10.0.0.0/99",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("10.0.0.0/99"));

    let out = xcti()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("XCTI_MASTER_KEY", "too-short")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("XCTI_MASTER_KEY"));
}

#[test]
fn el_eval_and_batch_work_from_the_command_line() {
    let out = xcti()
        .args([
            "el",
            "eval",
            "${(initiation==\"outgoing\")?\"calldialed\":\"callreceived\"} ${2+2/2}",
            "--vars",
            "{\"initiation\":\"outgoing\"}",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "calldialed 3.0"
    );

    let out = xcti().args(["el", "eval", "${1 +}"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("column"));

    use std::io::Write;
    let mut child = xcti()
        .args(["el", "batch"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"template\": \"${a += b}\", \"vars\": {\"a\": 1, \"b\": 2}}\nnot json\n{\"template\": \"${x\"}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one answer per input line, in order");
    assert_eq!(lines[0], serde_json::json!({"ok": "12"}));
    assert!(lines[1]["error"].is_string());
    assert!(lines[2]["error"].as_str().unwrap().contains("column"));
}

#[test]
fn serve_prints_its_real_address_and_sigterm_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cti.db").display());
    let (mut child, addr) = spawn_serve(dir.path(), &db, None);
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0, "the real port, not the one asked for");
    let health = std::net::TcpStream::connect(&addr);
    assert!(health.is_ok(), "the printed address accepts connections");
    drop(health);

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_exit(&mut child);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "exit code after SIGTERM; log:\n{log}"
    );
    assert!(log.contains("store closed"), "{log}");
    // Closing the last connection checkpoints SQLite's write-ahead log and removes it.
    assert!(
        !dir.path().join("cti.db-wal").exists(),
        "the WAL file is gone once the store is closed"
    );
}

#[test]
fn migrate_lists_only_its_own_flags() {
    let out = xcti().args(["migrate", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--database-url",
        "--master-key-file",
        "--config",
        "--log-json",
    ] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
    for flag in ["--listen", "--outbound-allow", "--session-ttl", "--crm-"] {
        assert!(
            !help.contains(flag),
            "{flag} does not apply to migrate:\n{help}"
        );
    }
}

#[test]
fn database_urls_are_reported_once_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    // Another database: said as such, no key file made, no password shown.
    let out = xcti()
        .args(["migrate", "--database-url", "mysql://u:hunter2@db/cti"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unsupported database URL scheme `mysql`"),
        "{err}"
    );
    assert!(!err.contains("key") && !err.contains("hunter2"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // A PostgreSQL server without that database: said once.
    let admin = cti_actors::store::testdb::admin_url().unwrap_or_else(|e| panic!("{e}"));
    let missing = format!(
        "{}/xcti_no_such_db_{}",
        admin.rsplit_once('/').unwrap().0,
        std::process::id()
    );
    let out = xcti()
        .args(["migrate", "--database-url", &missing])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("has no database").count(), 1, "{err}");
    assert!(err.contains("createdb xcti_no_such_db_"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{err}"
    );
}
