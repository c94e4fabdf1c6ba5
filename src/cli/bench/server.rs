//! The server under test: `xelion-cti serve` of this very binary, as a child process on port
//! 0, so that its memory is its own and every path (HTTP, websocket, storage, dispatch) is
//! the one users run.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// A running `xelion-cti serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: PathBuf,
}

impl Server {
    /// Starts the server on `database_url` with the key file `key`, logging warnings to
    /// `log`; returns once it has printed its address.
    pub fn start(database_url: &str, key: &Path, log: &Path) -> anyhow::Result<Server> {
        let exe = std::env::current_exe().context("finding this program's path")?;
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut child = Command::new(exe)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--outbound-allow", "127.0.0.1/8"])
            .args(["--database-url", database_url])
            .arg("--master-key-file")
            .arg(key)
            .env_remove("XCTI_MASTER_KEY")
            .env_remove("XCTI_CONFIG")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("starting `xelion-cti serve`")?;
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|out| BufReader::new(out).read_line(&mut line));
        let url = line
            .trim()
            .strip_prefix("xelion-cti listening on ")
            .map(String::from);
        match (read, url) {
            (Some(Ok(_)), Some(url)) => Ok(Server {
                child: Some(child),
                url,
                log: log.to_path_buf(),
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                anyhow::bail!(
                    "the server did not start on {}; its log:\n{}",
                    crate::app::redact_url(database_url),
                    last_lines(&tail, 20)
                )
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory of the server process in KiB (Linux: `VmRSS`; elsewhere none).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Whether it still runs; an error naming its log when it has stopped.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(child) = &mut self.child {
            if let Ok(Some(status)) = child.try_wait() {
                anyhow::bail!("the server stopped ({status}); see {}", self.log.display());
            }
        }
        Ok(())
    }

    /// Stops it with SIGTERM (its clean shutdown), SIGKILL after 20 s.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The last `n` lines of a text.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
