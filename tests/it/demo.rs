//! `xelion-cti demo --calls 2` as a newcomer runs it: calls reach the CRM simulator and the
//! command ends by itself with exit code 0.

use std::io::Read as _;
use std::process::Stdio;

use crate::helpers::{wait_exit, xcti};

#[test]
fn demo_shows_calls_reaching_the_crm_and_exits() {
    let mut child = xcti()
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--calls",
            "2",
            "--interval",
            "0.2",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("demo starts");
    let status = wait_exit(&mut child);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "exit {status:?}\n{out}\n{err}");

    // The API's address and a login for it.
    assert!(out.contains("/api "), "{out}");
    assert!(
        out.contains("adminUsername admin, adminPassword admin"),
        "{out}"
    );
    assert!(out.contains("Authorization: xelion "), "{out}");
    // The status page's address.
    let ui = out
        .lines()
        .find(|l| l.trim_start().starts_with("Status page"))
        .unwrap_or_else(|| panic!("no status page line:\n{out}"));
    assert!(ui.contains("/ui "), "{ui}");
    // Two calls of different kinds, their events, and the CRM requests they became, as
    // the users involved, answered 200.
    assert!(
        out.contains("call 1: answered, +31612345678 -> alice"),
        "{out}"
    );
    assert!(out.contains("call 2: missed, +31687654321 -> bob"), "{out}");
    assert!(!out.contains("call 3:"), "{out}");
    assert!(out.contains("event newCallEvent"), "{out}");
    assert!(out.contains("event missedCallEvent"), "{out}");
    for (action, user) in [
        ("callreceived", "alice"),
        ("callanswered", "alice"),
        ("callhungup", "alice"),
        ("callreceived", "bob"),
        ("callmissed", "bob"),
    ] {
        let line = out
            .lines()
            .find(|l| {
                l.contains(&format!("CRM   POST {action}")) && l.contains(&format!("as {user} "))
            })
            .unwrap_or_else(|| panic!("no {action} of {user}:\n{out}"));
        assert!(line.contains("-> 200"), "{line}");
    }
    assert!(
        out.contains("2 calls placed; the CRM simulator received 5 requests."),
        "{out}"
    );
    // Quiet server logs by default: nothing at info level on stderr.
    assert!(!err.contains(" INFO "), "{err}");
}
