//! Fresh databases for tests (this crate's and other crates' integration tests); feature
//! `test-util` only, never in the server.
//!
//! PostgreSQL tests never skip. They use the server named by `XCTI_TEST_POSTGRES_URL`; when
//! that is unset and nothing answers at [`DEFAULT_POSTGRES_URL`], they start a private
//! throwaway server from the installed binaries ([`Throwaway`]: `initdb` and `postgres` in a
//! temporary directory, on a free port, stopped when the test process ends). Without binaries
//! either, they fail with one message that says what to install.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection as _};

/// Where the tests find PostgreSQL when `XCTI_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin URL the tests create their databases through, decided once per process:
/// `XCTI_TEST_POSTGRES_URL` if set; else [`DEFAULT_POSTGRES_URL`] if something answers there;
/// else a [`Throwaway`] server started for this process.
pub fn admin_url() -> Result<String, String> {
    static ADMIN: OnceLock<Result<String, String>> = OnceLock::new();
    ADMIN
        .get_or_init(|| {
            if let Ok(url) = std::env::var("XCTI_TEST_POSTGRES_URL") {
                return Ok(url);
            }
            let default = SocketAddr::from((Ipv4Addr::LOCALHOST, 5432));
            if TcpStream::connect_timeout(&default, Duration::from_secs(2)).is_ok() {
                return Ok(DEFAULT_POSTGRES_URL.to_string());
            }
            let server = Throwaway::start().map_err(|e| {
                format!(
                    "nothing answers at {DEFAULT_POSTGRES_URL} and XCTI_TEST_POSTGRES_URL is unset, \
                     so the tests tried to start a private PostgreSQL: {e}"
                )
            })?;
            let url = server.url().to_string();
            // Lives as long as the process; its watchdog stops it when the process ends.
            std::mem::forget(server);
            Ok(url)
        })
        .clone()
}

/// Creates an empty, uniquely named PostgreSQL database (`xcti_t_<16 hex digits>`) through
/// [`admin_url`] and returns its URL. Blocking; callable from synchronous code and from
/// inside any async runtime (the work runs on its own thread and runtime). The databases are
/// left behind for inspection.
pub fn fresh_postgres_url() -> Result<String, String> {
    let admin = admin_url()?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime for the test database: {e}"))?;
        runtime.block_on(create_database(&admin))
    })
    .join()
    .map_err(|_| "creating the test database panicked".to_string())?
}

async fn create_database(admin: &str) -> Result<String, String> {
    sqlx::any::install_default_drivers();
    let shown = redact(admin);
    let hint = "start PostgreSQL there or set XCTI_TEST_POSTGRES_URL to an admin URL \
                (e.g. postgres://postgres@127.0.0.1:5432/postgres)";
    let mut conn =
        match tokio::time::timeout(Duration::from_secs(15), sqlx::AnyConnection::connect(admin))
            .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(format!(
                    "PostgreSQL for the tests is not reachable at {shown}: {e}; {hint}"
                ))
            }
            Err(_) => {
                return Err(format!(
                    "PostgreSQL for the tests did not answer within 15 s at {shown}; {hint}"
                ))
            }
        };
    let name = format!("xcti_t_{:016x}", rand::random::<u64>());
    // The name is ours (hex digits only), so formatting it into the statement is safe.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("cannot create the test database {name} at {shown}: {e}"))?;
    let _ = conn.close().await;
    Ok(with_database(admin, &name))
}

/// A private PostgreSQL server for one test process: a cluster made by `initdb` in a
/// temporary directory, served by `postgres` on a free loopback port with trust
/// authentication (user `postgres`). A watchdog shell owns the server: it stops it and removes
/// the directory when this value is dropped or when the process that started it ends.
pub struct Throwaway {
    url: String,
    port: u16,
    dir: PathBuf,
    watchdog: Option<Child>,
}

impl Throwaway {
    /// Starts a server and waits until it accepts connections (at most 60 s).
    pub fn start() -> Result<Throwaway, String> {
        let bin = postgres_bin_dir().ok_or_else(|| {
            "no PostgreSQL server binaries (initdb, postgres) were found on PATH or under \
             /usr/lib/postgresql/*/bin; install PostgreSQL (Debian: apt-get install postgresql) \
             or set XCTI_TEST_POSTGRES_URL to a running server's admin URL"
                .to_string()
        })?;
        // `initdb` and `postgres` refuse to run as root: then they run as `postgres`.
        let as_root = run_capture("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
        let dir = std::env::temp_dir().join(format!("xcti-pg-{:016x}", rand::random::<u64>()));
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut run_as: Vec<String> = Vec::new();
        if as_root {
            let chown = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status();
            if !chown.is_ok_and(|s| s.success()) {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(
                    "running as root, the server must run as the user `postgres`, \
                            and that user does not exist (install PostgreSQL from the \
                            distribution's packages)"
                        .into(),
                );
            }
            run_as = [
                "setpriv",
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
            ]
            .map(String::from)
            .to_vec();
        }
        let data = dir.join("data");
        let initdb = command_as(&run_as, &bin.join("initdb"))
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .arg("-D")
            .arg(&data)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !initdb.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&initdb.stderr).trim()
            ));
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("xcti-pg-watchdog")
            .arg(&dir)
            .arg(port.to_string())
            .arg(bin.join("postgres"))
            .args(&run_as)
            .env("XCTI_PG_PARENT", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the PostgreSQL watchdog: {e}"))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        loop {
            // Accepting TCP is not yet accepting sessions ("the database system is starting
            // up"): pg_isready tells the difference.
            let listening = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok();
            if listening && ready(&bin, port) {
                break;
            }
            let exited = watchdog.try_wait().ok().flatten().is_some();
            if exited || started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
                let _ = watchdog.kill();
                let _ = watchdog.wait();
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "the private PostgreSQL did not start on port {port}: {}",
                    log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Throwaway {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            dir,
            watchdog: Some(watchdog),
        })
    }

    /// The admin URL (user `postgres`, database `postgres`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on (loopback).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory that holds the cluster (removed when the server stops).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &watchdog.id().to_string()])
                .status();
            let _ = watchdog.wait();
        }
    }
}

/// Runs `postgres` (as `$4...` when given: the root case) and stops it, fast, when told to
/// (TERM) or when the process that started it is gone; then removes the directory.
const WATCHDOG: &str = r#"
dir=$1; port=$2; postgres=$3; shift 3
"$@" "$postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
  >"$dir/log" 2>&1 &
pg=$!
stop() { kill -INT "$pg" 2>/dev/null; wait "$pg"; rm -rf "$dir"; exit 0; }
trap stop TERM INT HUP
while kill -0 "$XCTI_PG_PARENT" 2>/dev/null && kill -0 "$pg" 2>/dev/null; do
  sleep 1 & wait $!
done
stop
"#;

/// Where `initdb` and `postgres` are: on PATH, else the newest `/usr/lib/postgresql/*/bin`.
fn postgres_bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Whether the server on `port` accepts sessions (`pg_isready`; without it, listening is taken
/// as ready).
fn ready(bin: &Path, port: u16) -> bool {
    let tool = bin.join("pg_isready");
    if !tool.is_file() {
        return true;
    }
    Command::new(tool)
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program` as a command, run through `run_as` (a `setpriv ...` prefix) when given.
fn command_as(run_as: &[String], program: &Path) -> Command {
    match run_as.split_first() {
        None => Command::new(program),
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
    }
}

fn run_capture(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A fresh SQLite database URL in `dir` (the file is created when the store opens it).
pub fn fresh_sqlite_url(dir: &Path) -> String {
    let file = dir.join(format!("xcti-{:016x}.db", rand::random::<u64>()));
    format!("sqlite://{}?mode=rwc", file.display())
}

/// `url` with its database (path) replaced by `name`, keeping the query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    let authority = &url[after_scheme..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!(
                "{}{user}:***@{host}{}",
                &url[..after_scheme],
                &url[authority_end..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn sqlite_urls_are_fresh() {
        let dir = std::env::temp_dir();
        let a = fresh_sqlite_url(&dir);
        assert!(a.starts_with("sqlite://"));
        assert_ne!(a, fresh_sqlite_url(&dir));
    }
}
