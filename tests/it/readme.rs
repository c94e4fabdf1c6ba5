//! README.md runs as written: every ```sh block, in order, in one bash, from a fresh directory
//! that holds the repository's `tests/` (paths in the README are relative to the repository
//! root), with the built `xelion-cti` first on `PATH`, against the simulators on the ports the
//! README names. Every command must succeed, and the comment lines right after a command are
//! its output: they must match what the command printed, `…` standing for any text (lines
//! are compared with leading and trailing blanks removed, joined). Prose comments go before a
//! command or after a blank line. Commands starting with `cargo` are not run (the test runs
//! inside `cargo test`, with the binary built).

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The ports the README's commands use.
const PORTS: [u16; 3] = [8080, 9001, 9002];
/// The whole README gets this long.
const LIMIT: Duration = Duration::from_secs(300);

/// One command of a block and what the README says it prints.
#[derive(Debug)]
struct Step {
    command: String,
    expected: Vec<String>,
}

/// The ```sh blocks of a Markdown text, in order.
fn sh_blocks(markdown: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start().starts_with("```")) {
            (None, true) if line.trim() == "```sh" => current = Some(Vec::new()),
            (Some(_), true) => blocks.extend(current.take()),
            (Some(lines), false) => lines.push(line),
            _ => {}
        }
    }
    blocks
}

/// Quote state at the end of `line`, starting from `open`: `Some(quote)` while a quote is
/// open; whether the line ends with a continuation backslash.
fn scan(line: &str, mut open: Option<char>) -> (Option<char>, bool) {
    let mut chars = line.chars().peekable();
    let mut prev_blank = true;
    let mut escaped_newline = false;
    while let Some(c) = chars.next() {
        escaped_newline = false;
        match (open, c) {
            (Some('\''), '\'') => open = None,
            (Some('"'), '"') => open = None,
            (Some('"') | None, '\\') => escaped_newline = chars.next().is_none(),
            (None, '\'' | '"') => open = Some(c),
            (None, '#') if prev_blank => break,
            _ => {}
        }
        prev_blank = c.is_whitespace() || c == ';' || c == '(';
    }
    (open, escaped_newline)
}

/// A block's commands, each with the comment lines that follow it directly.
fn steps(block: &[&str]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut collecting = false;
    let mut lines = block.iter();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            collecting = false;
        } else if let Some(comment) = trimmed.strip_prefix('#') {
            if collecting {
                if let Some(step) = out.last_mut() {
                    step.expected.push(comment.trim().to_string());
                }
            }
        } else {
            let mut command = line.to_string();
            let (mut open, mut cont) = scan(line, None);
            while open.is_some() || cont {
                let Some(next) = lines.next() else { break };
                command.push('\n');
                command.push_str(next);
                (open, cont) = scan(next, open);
            }
            out.push(Step {
                command,
                expected: Vec::new(),
            });
            collecting = true;
        }
    }
    out
}

/// Lines trimmed and joined: how output and expectation are compared.
fn flat(text: &str) -> String {
    text.lines().map(str::trim).collect()
}

/// `pattern` with `…` matching any text.
fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

fn ports_free() -> Result<(), String> {
    for port in PORTS {
        std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            format!("the README uses port {port}, which is taken ({e}); free it and run again")
        })?;
    }
    Ok(())
}

#[test]
fn readme_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let steps: Vec<Step> = sh_blocks(&readme)
        .iter()
        .flat_map(|b| steps(b))
        .filter(|s| !s.command.trim_start().starts_with("cargo "))
        .collect();
    assert!(steps.len() > 20, "README.md has its walk-through");
    for tool in ["curl", "python3"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "the README test needs `{tool}` on PATH");
    }
    if let Err(e) = ports_free() {
        panic!("{e}");
    }

    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root.join("tests"), dir.path().join("tests")).unwrap();
    let mut script = String::from("exec 2>&1\n");
    for (i, step) in steps.iter().enumerate() {
        script.push_str(&format!("printf '\\n@@XCTI {i}@@\\n'\n{}\n", step.command));
        script.push_str(&format!("printf '\\n@@XCTI-END {i} %s@@\\n' \"$?\"\n"));
    }
    script.push_str("kill $(jobs -p) 2>/dev/null; wait\n");
    let bin = Path::new(env!("CARGO_BIN_EXE_xelion-cti"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("RUST_LOG", "info")
        .env_remove("XCTI_MASTER_KEY")
        .env_remove("XCTI_DATABASE_URL")
        .env_remove("XCTI_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    // The whole group: the simulators and the server the README started in the background.
    let _ = Command::new("kill")
        // `--` first: procps' kill reads `-KILL -1234` as options, and can signal every
        // process (-1) instead of the group.
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
    let _ = child.wait();
    let out = reader.join().unwrap();

    let mut failures = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let begin = format!("@@XCTI {i}@@\n");
        let Some(start) = out.find(&begin) else {
            failures.push(format!("not reached (time limit?): {}", step.command));
            break;
        };
        let rest = &out[start + begin.len()..];
        let end_marker = format!("@@XCTI-END {i} ");
        let Some(end) = rest.find(&end_marker) else {
            failures.push(format!("did not finish: {}\n{rest}", step.command));
            break;
        };
        let printed = &rest[..end];
        let code = rest[end + end_marker.len()..]
            .split("@@")
            .next()
            .unwrap_or("");
        if code != "0" {
            failures.push(format!(
                "exit code {code}: {}\nprinted: {printed}",
                step.command
            ));
        }
        if !step.expected.is_empty() {
            let want = step.expected.join("\n");
            if !matches(&flat(&want), &flat(printed)) {
                failures.push(format!(
                    "{}\n  README shows: {}\n  printed:     {}",
                    step.command,
                    flat(&want),
                    flat(printed)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "README.md does not run as written:\n\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn steps_follow_the_conventions() {
    let block = [
        "# prose",
        "curl -s x -d '{",
        "  \"a\": 1}' \\",
        "  -H y   # a note",
        "# {\"ok\":",
        "#  true}",
        "",
        "# more prose",
        "A=$(echo 'it''s' | tr a b)",
    ];
    let s = steps(&block);
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(s[0].command.ends_with("-H y   # a note"), "{s:?}");
    assert_eq!(flat(&s[0].expected.join("\n")), "{\"ok\":true}");
    assert!(s[1].expected.is_empty());
    assert!(matches("{\"id\":…,\"x\":\"…\"}", "{\"id\":12,\"x\":\"\"}"));
    assert!(!matches("a…b", "ab-c"));
    assert!(matches("…", "anything"));
}
