//! Fresh databases for tests (this crate's and other crates' integration tests); feature
//! `test-util` only, never in the server.
//!
//! PostgreSQL tests never skip: when the server is unreachable they fail, saying where they
//! looked and how to point them elsewhere (`XCTI_TEST_POSTGRES_URL`).

use std::path::Path;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection as _};

/// Where the tests find PostgreSQL when `XCTI_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Creates an empty, uniquely named PostgreSQL database (`xcti_t_<16 hex digits>`) through
/// the admin URL in `XCTI_TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`]) and returns
/// its URL. Blocking; callable from synchronous code and from inside any async runtime (the
/// work runs on its own thread and runtime). The databases are left behind for inspection.
pub fn fresh_postgres_url() -> Result<String, String> {
    let admin = std::env::var("XCTI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
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
