//! Database URLs and pools.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

use super::{Backend, StoreError, StoreResult};

/// A database to open, from the URL the operator gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub backend: Backend,
    /// The URL handed to sqlx's `Any` driver.
    pub url: String,
    /// `sqlite::memory:` and the like.
    pub in_memory: bool,
    /// The SQLite file (for creating its directory), if any.
    pub file: Option<String>,
}

impl Target {
    /// Accepts `postgres://…`, `postgresql://…`, `sqlite://path`, `sqlite:path`,
    /// `sqlite::memory:` and a bare path (a SQLite file). SQLite files are created when
    /// missing unless the URL gives its own `mode`.
    pub fn parse(url: &str) -> StoreResult<Target> {
        let url = url.trim();
        if url.is_empty() {
            return Err(config("the database URL is empty"));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target {
                backend: Backend::Postgres,
                url: url.to_string(),
                in_memory: false,
                file: None,
            });
        }
        let (rest, is_url) = match url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Some(rest) => (rest, true),
            None => {
                if let Some((scheme, _)) = url.split_once("://") {
                    return Err(config(&format!(
                        "unsupported database URL scheme `{scheme}`: use sqlite://<file>, a file path, \
                         or postgres://…"
                    )));
                }
                (url, false)
            }
        };
        let (path, params) = if is_url {
            match rest.split_once('?') {
                Some((p, q)) => (p.to_string(), Some(q.to_string())),
                None => (rest.to_string(), None),
            }
        } else {
            // A bare path is a file name, not a URL: escape what a URL would interpret.
            (escape_path(rest), None)
        };
        let in_memory = path == ":memory:"
            || params
                .as_deref()
                .is_some_and(|q| q.split('&').any(|kv| kv == "mode=memory"));
        if path.is_empty() && !in_memory {
            return Err(config("the SQLite URL names no file"));
        }
        let mut query = params.unwrap_or_default();
        if !query.split('&').any(|kv| kv.starts_with("mode=")) {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str("mode=rwc");
        }
        Ok(Target {
            backend: Backend::Sqlite,
            url: format!("sqlite:{path}?{query}"),
            in_memory,
            file: match (in_memory, is_url) {
                (true, _) => None,
                (false, true) => Some(path),
                (false, false) => Some(rest.to_string()),
            },
        })
    }

    /// Connects a pool.
    pub async fn pool(&self) -> StoreResult<AnyPool> {
        match self.backend {
            Backend::Postgres => {
                // One connection first: a pool that cannot connect reports only that it timed
                // out, this says why (no such database, refused, wrong password).
                use sqlx::Connection as _;
                let probe = tokio::time::timeout(
                    Duration::from_secs(10),
                    sqlx::AnyConnection::connect(&self.url),
                )
                .await
                .map_err(|_| {
                    config("PostgreSQL did not answer within 10 s; is the host in the URL right?")
                })?
                .map_err(|e| postgres_connect_error(&self.url, e))?;
                let _ = probe.close().await;
                AnyPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&self.url)
                    .await
                    .map_err(|e| postgres_connect_error(&self.url, e))
            }
            Backend::Sqlite => {
                if let Some(file) = &self.file {
                    if let Some(dir) = std::path::Path::new(file).parent() {
                        if !dir.as_os_str().is_empty() && !dir.exists() {
                            std::fs::create_dir_all(dir).map_err(|e| {
                                config(&format!(
                                    "cannot create the directory {} of the SQLite database: {e}",
                                    dir.display()
                                ))
                            })?;
                        }
                    }
                }
                let file_backed = !self.in_memory;
                let mut options = AnyPoolOptions::new()
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(move |conn, _meta| {
                        Box::pin(async move {
                            let pragmas = [
                                // sqlx's SQLite driver sets these two by default; say so
                                // explicitly, as the cascades and concurrent writers need them.
                                Some("PRAGMA foreign_keys = ON"),
                                Some("PRAGMA busy_timeout = 5000"),
                                // In WAL mode NORMAL syncs at checkpoints, not at every
                                // commit: a commit survives the process dying (`kill -9`),
                                // only an OS crash or power loss may take the last few. What
                                // the outbox's write rate needs; README.md says so.
                                Some("PRAGMA synchronous = NORMAL"),
                                // No commit copies the log into the file (a checkpoint, with
                                // its syncs, tens of milliseconds): the outbox writer's
                                // checkpointer does, beside the commits (`store/wal.rs`).
                                file_backed.then_some("PRAGMA wal_autocheckpoint = 0"),
                                // The outbox's indexes stay in memory (16 MiB at most per
                                // connection) instead of being read again from the OS.
                                Some("PRAGMA cache_size = -16384"),
                            ];
                            for pragma in pragmas.into_iter().flatten() {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    });
                options = if self.in_memory {
                    // One connection that never closes: the database lives as long as it does.
                    options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    // A SQLite connection does not break between uses: no ping (a round trip
                    // to its worker thread) before each is handed out.
                    options.max_connections(4).test_before_acquire(false)
                };
                Ok(options.connect(&self.url).await?)
            }
        }
    }
}

fn config(message: &str) -> StoreError {
    StoreError::Config(message.to_string())
}

/// A failed first connection to PostgreSQL, said once and with what to do.
fn postgres_connect_error(url: &str, e: sqlx::Error) -> StoreError {
    let parsed = url::Url::parse(url).ok();
    let host = parsed
        .as_ref()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or("localhost"),
                u.port().unwrap_or(5432)
            )
        })
        .unwrap_or_default();
    let db = parsed
        .as_ref()
        .map(|u| u.path().trim_start_matches('/').to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "(the user's default)".to_string());
    let code = match &e {
        sqlx::Error::Database(d) => d.code().map(|c| c.to_string()),
        _ => None,
    };
    match (code.as_deref(), &e) {
        (Some("3D000"), _) => config(&format!(
            "PostgreSQL at {host} has no database `{db}`; create it (`createdb {db}`) or name \
             another in the URL"
        )),
        (Some("28P01" | "28000"), _) => config(&format!(
            "PostgreSQL at {host} refused the user name or password of the URL"
        )),
        (_, sqlx::Error::Io(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            config(&format!(
                "nothing answers at {host} (connection refused); is PostgreSQL running there?"
            ))
        }
        _ => StoreError::Database(e),
    }
}

/// Percent-escapes the characters of a file path that a URL would read otherwise.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(url: &str) -> (String, bool) {
        let t = Target::parse(url).unwrap();
        assert_eq!(t.backend, Backend::Sqlite);
        (t.url, t.in_memory)
    }

    #[test]
    fn sqlite_forms() {
        assert_eq!(sqlite("sqlite://data/x.db").0, "sqlite:data/x.db?mode=rwc");
        assert_eq!(sqlite("sqlite:///abs/x.db").0, "sqlite:/abs/x.db?mode=rwc");
        assert_eq!(sqlite("sqlite:x.db").0, "sqlite:x.db?mode=rwc");
        assert_eq!(sqlite("sqlite://x.db?mode=ro").0, "sqlite:x.db?mode=ro");
        assert_eq!(
            sqlite("sqlite://x.db?cache=shared").0,
            "sqlite:x.db?cache=shared&mode=rwc"
        );
        assert_eq!(sqlite("/var/lib/x.db").0, "sqlite:/var/lib/x.db?mode=rwc");
        assert_eq!(sqlite("x.db").0, "sqlite:x.db?mode=rwc");
        assert_eq!(sqlite("/tmp/a%b?.db").0, "sqlite:/tmp/a%25b%3F.db?mode=rwc");
        assert!(sqlite("sqlite::memory:").1);
        assert!(sqlite("sqlite://?mode=memory").1);
        let t = Target::parse("/tmp/a%b?.db").unwrap();
        assert_eq!(t.file.as_deref(), Some("/tmp/a%b?.db"));
        let t = Target::parse("sqlite:///abs/x.db").unwrap();
        assert_eq!(t.file.as_deref(), Some("/abs/x.db"));
        assert_eq!(Target::parse("sqlite::memory:").unwrap().file, None);
    }

    #[test]
    fn postgres_forms() {
        for url in [
            "postgres://u@h/db",
            "postgresql://u:p@h:5432/db?sslmode=disable",
        ] {
            let t = Target::parse(url).unwrap();
            assert_eq!(t.backend, Backend::Postgres);
            assert_eq!(t.url, url);
        }
    }

    #[test]
    fn rejects_others() {
        let err = Target::parse("mysql://u:secret@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mysql"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        assert!(Target::parse("").is_err());
        assert!(Target::parse("sqlite://").is_err());
    }
}
