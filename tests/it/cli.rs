//! The binary's `migrate` and `serve` start-up errors, as an operator meets them.

use std::process::Command;

fn xcti() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xelion-cti"));
    c.env_remove("XCTI_MASTER_KEY")
        .env_remove("XCTI_DATABASE_URL");
    c
}

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
