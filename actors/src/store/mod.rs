//! Storage: every table of the server behind one interface, on SQLite or PostgreSQL.
//!
//! Only actors call this module; HTTP handlers never do. Secrets are encrypted with
//! [`crate::secrets::Cipher`] before they reach a row and are decrypted only on demand.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Row as _};

use crate::secrets::{Cipher, Secret};

use crate::clock;
mod connect;
mod event_sessions;
pub mod testdb;

pub use event_sessions::EventSession;

/// Row id of any table.
pub type Id = i64;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// The scale-out backend.
    Postgres,
}

/// A Xelion tenant the server works for (`xelionContext`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XelionContext {
    pub id: Id,
    pub host: String,
    pub tenant: String,
    /// `http` or `https`.
    pub protocol: String,
    pub admin_username: String,
    pub created_at: String,
}

/// A CRM fed by a Xelion context (`crmContext`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmContext {
    pub id: Id,
    pub xelion_context_id: Id,
    pub authorization_server_uri: String,
    pub authorization_header_prefix: String,
    pub created_at: String,
}

/// A Xelion user registered for a CRM context, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCredentials {
    pub id: Id,
    pub xelion_context_id: Id,
    pub crm_context_id: Id,
    pub xelion_username: String,
    pub xelion_oid: String,
    pub client_id: Option<String>,
    pub created_at: String,
}

/// The decrypted OAuth secrets of one user.
#[derive(Debug, Clone, Default)]
pub struct UserSecrets {
    pub client_secret: Option<Secret>,
    pub device_code: Option<Secret>,
    pub refresh_token: Option<Secret>,
    pub access_token: Option<Secret>,
}

/// Which credential `POST /api/users/{id}/{type}/update` replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ClientId,
    ClientSecret,
    RefreshToken,
    DeviceCode,
}

/// An event URI mapping of a CRM context.
#[derive(Debug, Clone, PartialEq)]
pub struct EventUriMapping {
    pub id: Id,
    pub crm_context_id: Id,
    pub xelion_event: String,
    pub crm_resource_uri: String,
    /// `None` means the request carries no body.
    pub crm_resource_payload: Option<Value>,
    /// HTTP method, `POST` unless the mapping says otherwise.
    pub method: String,
    /// Extra headers (a JSON object of strings), if any.
    pub headers: Option<Value>,
    /// `yyyy-MM-ddTHH:mm:ss.fffffffff` (UTC), as in the CTI API document.
    pub created_at: String,
}

/// A user to register.
#[derive(Debug, Clone)]
pub struct NewUserCredentials {
    pub xelion_username: String,
    pub xelion_oid: String,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub device_code: Option<Secret>,
    pub refresh_token: Option<Secret>,
}

/// A mapping to store. `id` names the existing mapping it replaces (PUT), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMapping {
    pub xelion_event: String,
    pub crm_resource_uri: String,
    pub crm_resource_payload: Option<Value>,
    pub method: String,
    pub headers: Option<Value>,
}

/// Everything `POST /api/crm-integrations` stores, in one transaction.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub host: String,
    pub tenant: String,
    pub protocol: String,
    pub admin_username: String,
    pub admin_password: Secret,
    pub authorization_server_uri: String,
    pub authorization_header_prefix: String,
    pub users: Vec<NewUserCredentials>,
    pub mappings: Vec<NewMapping>,
}

/// An admin API session (the token itself is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSession {
    pub host: String,
    pub tenant: String,
    pub username: String,
    /// Unix seconds.
    pub valid_until: i64,
}

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint: what already exists.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A secret could not be decrypted (wrong master key?).
    #[error("secret: {0}")]
    Crypto(String),
}

/// Result of storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// The storage interface (cheap to clone: a pool and a key).
///
/// One set of portable SQL runs on both backends through sqlx's `Any` driver: `$1, $2…`
/// placeholders (SQLite reads `$NNN` as the NNN-th argument), `RETURNING` (SQLite ≥ 3.35),
/// text and integer columns only. That keeps one implementation of every method, tested on
/// both databases, instead of two copies drifting apart; where a backend needs its own SQL
/// (SQLite's `BEGIN IMMEDIATE`, the migration folder), [`Store::backend`] picks it.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    cipher: Cipher,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("key_id", &self.cipher.key_id())
            .finish_non_exhaustive()
    }
}

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

// Column lists, as macros so that `concat!` builds `&'static str` queries from them.
macro_rules! xc_cols {
    () => {
        "id, host, tenant, protocol, admin_username, created_at"
    };
}
macro_rules! crm_cols {
    () => {
        "id, xelion_context_id, authorization_server_uri, authorization_header_prefix, created_at"
    };
}
macro_rules! user_cols {
    () => {
        "id, xelion_context_id, crm_context_id, xelion_username, xelion_oid, client_id, created_at"
    };
}
macro_rules! mapping_cols {
    () => {
        "id, crm_context_id, xelion_event, crm_resource_uri, crm_resource_payload, method, headers, created_at"
    };
}

// Associated data of each encrypted column: `<table>.<column>:<row id>`.
const XC_ADMIN_PASSWORD: &str = "xelion_contexts.admin_password";
const U_CLIENT_SECRET: &str = "user_credentials.client_secret";
const U_DEVICE_CODE: &str = "user_credentials.device_code";
const U_REFRESH_TOKEN: &str = "user_credentials.refresh_token";
const U_ACCESS_TOKEN: &str = "user_credentials.access_token";

type Tx = sqlx::Transaction<'static, Any>;

impl Store {
    /// Opens the database at `url` (`sqlite://path?mode=rwc`, a bare file path, or `postgres://...`),
    /// creating a SQLite file if missing (WAL mode), and runs the migrations.
    ///
    /// Accepted: `sqlite://path`, `sqlite:path`, `sqlite::memory:`, a bare path (a SQLite
    /// file), `postgres://…` and `postgresql://…`. SQLite files (and their directory) are
    /// created if missing unless the URL says otherwise (`mode=rw` / `mode=ro`); foreign keys
    /// are on, the journal is WAL and a writer waits up to 5 s for another.
    pub async fn open(url: &str, cipher: Cipher) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let target = connect::Target::parse(url)?;
        let pool = target.pool().await?;
        if target.backend == Backend::Sqlite && !target.in_memory {
            // Persistent in the file: once is enough, and it must not run inside a transaction.
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await?;
        }
        let store = Store {
            pool,
            cipher,
            backend: target.backend,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Runs the migrations of the backend (idempotent).
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(sqlx::Error::Migrate(Box::new(e))))
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for tables other modules add later (outbox, leases) and for tests.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The cipher secrets are sealed with.
    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// Closes the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// `SELECT 1`, for readiness.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// A write transaction. SQLite takes the write lock at once (`BEGIN IMMEDIATE`), so two
    /// writers queue on the busy timeout instead of failing when a read lock cannot be upgraded.
    async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    fn seal(&self, column: &str, id: Id, value: &Secret) -> StoreResult<String> {
        self.cipher
            .try_encrypt(value.expose(), &format!("{column}:{id}"))
            .map_err(StoreError::Crypto)
    }

    fn seal_opt(
        &self,
        column: &str,
        id: Id,
        value: Option<&Secret>,
    ) -> StoreResult<Option<String>> {
        value.map(|v| self.seal(column, id, v)).transpose()
    }

    fn open_sealed(
        &self,
        column: &str,
        id: Id,
        stored: Option<String>,
    ) -> StoreResult<Option<Secret>> {
        stored
            .map(|s| {
                self.cipher
                    .decrypt(&s, &format!("{column}:{id}"))
                    .map_err(StoreError::Crypto)
            })
            .transpose()
    }

    // ---- xelion contexts
    /// All xelion contexts (for starting tenants), by id.
    pub async fn list_xelion_contexts(&self) -> StoreResult<Vec<XelionContext>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            xc_cols!(),
            " FROM xelion_contexts ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(xelion_row).collect()
    }

    /// One xelion context by id.
    pub async fn xelion_context(&self, id: Id) -> StoreResult<Option<XelionContext>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            xc_cols!(),
            " FROM xelion_contexts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(xelion_row).transpose()
    }

    /// The xelion context of a host and tenant (host compared case-insensitively).
    pub async fn find_xelion_context(
        &self,
        host: &str,
        tenant: &str,
    ) -> StoreResult<Option<XelionContext>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            xc_cols!(),
            " FROM xelion_contexts WHERE lower(host) = $1 AND tenant = $2"
        ))
        .bind(host.to_ascii_lowercase())
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(xelion_row).transpose()
    }

    /// Stores a whole integration in one transaction: the xelion context (created, or updated
    /// with the new admin credentials and protocol if host+tenant exists), a new crm context,
    /// its users and its mappings. `Conflict(username)` if two users share a username (nothing
    /// is stored then); `Conflict("<host>/<tenant>")` only if a concurrent request created and
    /// deleted that xelion context meanwhile.
    pub async fn create_integration(
        &self,
        new: NewIntegration,
    ) -> StoreResult<(XelionContext, CrmContext)> {
        let now = clock::created_at_now();
        let mut tx = self.begin().await?;

        // Insert the xelion context unless host+tenant exists; `ON CONFLICT DO NOTHING` also
        // settles a race with a concurrent first integration of the same tenant (PostgreSQL
        // waits for the other transaction, then finds its row below).
        let inserted = sqlx::query(
            "INSERT INTO xelion_contexts (host, tenant, protocol, admin_username, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&new.host)
        .bind(&new.tenant)
        .bind(&new.protocol)
        .bind(&new.admin_username)
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let xc_id: Id = match inserted {
            Some(row) => row.try_get("id")?,
            None => {
                let row = sqlx::query(
                    "UPDATE xelion_contexts SET protocol = $1, admin_username = $2 \
                     WHERE lower(host) = $3 AND tenant = $4 RETURNING id",
                )
                .bind(&new.protocol)
                .bind(&new.admin_username)
                .bind(new.host.to_ascii_lowercase())
                .bind(&new.tenant)
                .fetch_optional(&mut *tx)
                .await?
                // deleted again in between: let the caller retry
                .ok_or_else(|| StoreError::Conflict(format!("{}/{}", new.host, new.tenant)))?;
                row.try_get("id")?
            }
        };
        let sealed = self.seal(XC_ADMIN_PASSWORD, xc_id, &new.admin_password)?;
        let row = sqlx::query(concat!(
            "UPDATE xelion_contexts SET admin_password = $1 WHERE id = $2 RETURNING ",
            xc_cols!()
        ))
        .bind(sealed)
        .bind(xc_id)
        .fetch_one(&mut *tx)
        .await?;
        let xelion = xelion_row(&row)?;

        let row = sqlx::query(concat!(
            "INSERT INTO crm_contexts (xelion_context_id, authorization_server_uri, \
             authorization_header_prefix, created_at) VALUES ($1, $2, $3, $4) RETURNING ",
            crm_cols!()
        ))
        .bind(xc_id)
        .bind(&new.authorization_server_uri)
        .bind(&new.authorization_header_prefix)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let crm = crm_row(&row)?;

        for user in &new.users {
            self.insert_user(&mut tx, xc_id, crm.id, user, &now).await?;
        }
        for mapping in &new.mappings {
            insert_mapping(&mut tx, crm.id, mapping, &now).await?;
        }
        tx.commit().await?;
        Ok((xelion, crm))
    }

    /// Deletes a xelion context and everything under it. `NotFound` if absent.
    pub async fn delete_xelion_context(&self, id: Id) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // The foreign keys cascade to crm contexts, users and mappings.
        let done = sqlx::query("DELETE FROM xelion_contexts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Changes host, tenant and protocol. `NotFound` if absent; `Conflict("<host>/<tenant>")`
    /// if another context has that host+tenant.
    pub async fn update_xelion_environment(
        &self,
        id: Id,
        host: &str,
        tenant: &str,
        protocol: &str,
    ) -> StoreResult<XelionContext> {
        let row = sqlx::query(concat!(
            "UPDATE xelion_contexts SET host = $1, tenant = $2, protocol = $3 WHERE id = $4 RETURNING ",
            xc_cols!()
        ))
        .bind(host)
        .bind(tenant)
        .bind(protocol)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| conflict_or(e, || format!("{host}/{tenant}")))?;
        match row {
            Some(row) => Ok(xelion_row(&row)?),
            None => Err(StoreError::NotFound),
        }
    }

    /// Replaces the admin username. `NotFound` if absent.
    pub async fn update_admin_username(&self, id: Id, username: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE xelion_contexts SET admin_username = $1 WHERE id = $2")
            .bind(username)
            .bind(id)
            .execute(&self.pool)
            .await?;
        found(done.rows_affected())
    }

    /// Replaces the admin password. `NotFound` if absent.
    pub async fn update_admin_password(&self, id: Id, password: &Secret) -> StoreResult<()> {
        let sealed = self.seal(XC_ADMIN_PASSWORD, id, password)?;
        let done = sqlx::query("UPDATE xelion_contexts SET admin_password = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(&self.pool)
            .await?;
        found(done.rows_affected())
    }

    /// The decrypted admin password of a context. `NotFound` if absent.
    pub async fn admin_password(&self, id: Id) -> StoreResult<Secret> {
        let row = sqlx::query("SELECT admin_password FROM xelion_contexts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let stored: Option<String> = row.try_get("admin_password")?;
        self.open_sealed(XC_ADMIN_PASSWORD, id, stored)?
            .ok_or_else(|| {
                StoreError::Crypto(format!("{XC_ADMIN_PASSWORD}:{id}: no password stored"))
            })
    }

    // ---- crm contexts
    /// The crm contexts of a xelion context, oldest first.
    pub async fn crm_contexts(&self, xelion_context_id: Id) -> StoreResult<Vec<CrmContext>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            crm_cols!(),
            " FROM crm_contexts WHERE xelion_context_id = $1 ORDER BY id"
        ))
        .bind(xelion_context_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crm_row).collect()
    }

    /// One crm context, only if it belongs to that xelion context.
    pub async fn crm_context(
        &self,
        xelion_context_id: Id,
        crm_context_id: Id,
    ) -> StoreResult<Option<CrmContext>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            crm_cols!(),
            " FROM crm_contexts WHERE id = $1 AND xelion_context_id = $2"
        ))
        .bind(crm_context_id)
        .bind(xelion_context_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(crm_row).transpose()
    }

    // ---- users
    /// Users of a crm context, optionally filtered by exact username and/or oid, by id.
    pub async fn users(
        &self,
        crm_context_id: Id,
        username: Option<&str>,
        oid: Option<&str>,
    ) -> StoreResult<Vec<UserCredentials>> {
        let query = match (username, oid) {
            (None, None) => sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM user_credentials WHERE crm_context_id = $1 ORDER BY id"
            ))
            .bind(crm_context_id),
            (Some(u), None) => sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM user_credentials WHERE crm_context_id = $1 AND xelion_username = $2 ORDER BY id"
            ))
            .bind(crm_context_id)
            .bind(u),
            (None, Some(o)) => sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM user_credentials WHERE crm_context_id = $1 AND xelion_oid = $2 ORDER BY id"
            ))
            .bind(crm_context_id)
            .bind(o),
            (Some(u), Some(o)) => sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM user_credentials WHERE crm_context_id = $1 AND xelion_username = $2 \
                 AND xelion_oid = $3 ORDER BY id"
            ))
            .bind(crm_context_id)
            .bind(u)
            .bind(o),
        };
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(user_row).collect()
    }

    /// Adds users in one transaction. `NotFound` if the crm context does not exist or does not
    /// belong to the xelion context; `Conflict(username)` if one exists in that crm context
    /// (or appears twice in `users`); nothing is stored then.
    pub async fn add_users(
        &self,
        xelion_context_id: Id,
        crm_context_id: Id,
        users: Vec<NewUserCredentials>,
    ) -> StoreResult<Vec<UserCredentials>> {
        let now = clock::created_at_now();
        let mut tx = self.begin().await?;
        let exists =
            sqlx::query("SELECT id FROM crm_contexts WHERE id = $1 AND xelion_context_id = $2")
                .bind(crm_context_id)
                .bind(xelion_context_id)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let mut added = Vec::with_capacity(users.len());
        for user in &users {
            added.push(
                self.insert_user(&mut tx, xelion_context_id, crm_context_id, user, &now)
                    .await?,
            );
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Inserts one user, then seals its secrets with the row id now known.
    async fn insert_user(
        &self,
        tx: &mut Tx,
        xelion_context_id: Id,
        crm_context_id: Id,
        user: &NewUserCredentials,
        now: &str,
    ) -> StoreResult<UserCredentials> {
        let row = sqlx::query(concat!(
            "INSERT INTO user_credentials (xelion_context_id, crm_context_id, xelion_username, \
             xelion_oid, client_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            user_cols!()
        ))
        .bind(xelion_context_id)
        .bind(crm_context_id)
        .bind(&user.xelion_username)
        .bind(&user.xelion_oid)
        .bind(user.client_id.as_deref())
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| conflict_or(e, || user.xelion_username.clone()))?;
        let created = user_row(&row)?;
        if user.client_secret.is_some()
            || user.device_code.is_some()
            || user.refresh_token.is_some()
        {
            let id = created.id;
            sqlx::query(
                "UPDATE user_credentials SET client_secret = $1, device_code = $2, refresh_token = $3 \
                 WHERE id = $4",
            )
            .bind(self.seal_opt(U_CLIENT_SECRET, id, user.client_secret.as_ref())?)
            .bind(self.seal_opt(U_DEVICE_CODE, id, user.device_code.as_ref())?)
            .bind(self.seal_opt(U_REFRESH_TOKEN, id, user.refresh_token.as_ref())?)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        }
        Ok(created)
    }

    /// One user by id.
    pub async fn user(&self, id: Id) -> StoreResult<Option<UserCredentials>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM user_credentials WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// Changes a user's username and oid. `NotFound` if absent; `Conflict(username)` on a
    /// duplicate username in its crm context.
    pub async fn update_user_identity(
        &self,
        id: Id,
        username: &str,
        oid: &str,
    ) -> StoreResult<UserCredentials> {
        let row = sqlx::query(concat!(
            "UPDATE user_credentials SET xelion_username = $1, xelion_oid = $2 WHERE id = $3 RETURNING ",
            user_cols!()
        ))
        .bind(username)
        .bind(oid)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| conflict_or(e, || username.to_string()))?;
        match row {
            Some(row) => Ok(user_row(&row)?),
            None => Err(StoreError::NotFound),
        }
    }

    /// Deletes a user. `NotFound` if absent.
    pub async fn delete_user(&self, id: Id) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM user_credentials WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        found(done.rows_affected())
    }

    /// Replaces one credential (client id in clear; the others encrypted). `NotFound` if absent.
    /// Setting a refresh token or device code clears the stored access token.
    pub async fn update_user_credential(
        &self,
        id: Id,
        kind: CredentialKind,
        value: &Secret,
    ) -> StoreResult<()> {
        let query = match kind {
            CredentialKind::ClientId => {
                sqlx::query("UPDATE user_credentials SET client_id = $1 WHERE id = $2")
                    .bind(value.expose().to_string())
            }
            CredentialKind::ClientSecret => {
                sqlx::query("UPDATE user_credentials SET client_secret = $1 WHERE id = $2")
                    .bind(self.seal(U_CLIENT_SECRET, id, value)?)
            }
            CredentialKind::RefreshToken => sqlx::query(
                "UPDATE user_credentials SET refresh_token = $1, access_token = NULL WHERE id = $2",
            )
            .bind(self.seal(U_REFRESH_TOKEN, id, value)?),
            CredentialKind::DeviceCode => sqlx::query(
                "UPDATE user_credentials SET device_code = $1, access_token = NULL WHERE id = $2",
            )
            .bind(self.seal(U_DEVICE_CODE, id, value)?),
        };
        let done = query.bind(id).execute(&self.pool).await?;
        found(done.rows_affected())
    }

    /// The decrypted secrets of a user. `NotFound` if absent.
    pub async fn user_secrets(&self, id: Id) -> StoreResult<UserSecrets> {
        let row = sqlx::query(
            "SELECT client_secret, device_code, refresh_token, access_token FROM user_credentials WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(UserSecrets {
            client_secret: self.open_sealed(U_CLIENT_SECRET, id, row.try_get("client_secret")?)?,
            device_code: self.open_sealed(U_DEVICE_CODE, id, row.try_get("device_code")?)?,
            refresh_token: self.open_sealed(U_REFRESH_TOKEN, id, row.try_get("refresh_token")?)?,
            access_token: self.open_sealed(U_ACCESS_TOKEN, id, row.try_get("access_token")?)?,
        })
    }

    /// Stores tokens obtained from the CRM (a rotated refresh token when given). `NotFound` if absent.
    pub async fn store_user_tokens(
        &self,
        id: Id,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> StoreResult<()> {
        let access = self.seal(U_ACCESS_TOKEN, id, access_token)?;
        let done = match refresh_token {
            Some(refresh) => sqlx::query(
                "UPDATE user_credentials SET access_token = $1, refresh_token = $2 WHERE id = $3",
            )
            .bind(access)
            .bind(self.seal(U_REFRESH_TOKEN, id, refresh)?)
            .bind(id)
            .execute(&self.pool)
            .await?,
            None => {
                sqlx::query("UPDATE user_credentials SET access_token = $1 WHERE id = $2")
                    .bind(access)
                    .bind(id)
                    .execute(&self.pool)
                    .await?
            }
        };
        found(done.rows_affected())
    }

    // ---- event uri mappings
    /// Mappings of a crm context, by id.
    pub async fn mappings(&self, crm_context_id: Id) -> StoreResult<Vec<EventUriMapping>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            mapping_cols!(),
            " FROM event_uri_mappings WHERE crm_context_id = $1 ORDER BY id"
        ))
        .bind(crm_context_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(mapping_row).collect()
    }

    /// Replaces the given mappings (by id, each must belong to the crm context) in one transaction
    /// and returns all mappings of the context. `NotFound` (and nothing changed) if an id is not
    /// a mapping of that crm context. A replaced mapping keeps its id and `created_at`.
    pub async fn replace_mappings(
        &self,
        crm_context_id: Id,
        changes: Vec<(Id, NewMapping)>,
    ) -> StoreResult<Vec<EventUriMapping>> {
        let mut tx = self.begin().await?;
        for (id, m) in &changes {
            let done = sqlx::query(
                "UPDATE event_uri_mappings SET xelion_event = $1, crm_resource_uri = $2, \
                 crm_resource_payload = $3, method = $4, headers = $5 WHERE id = $6 AND crm_context_id = $7",
            )
            .bind(&m.xelion_event)
            .bind(&m.crm_resource_uri)
            .bind(json_text(m.crm_resource_payload.as_ref()))
            .bind(&m.method)
            .bind(json_text(m.headers.as_ref()))
            .bind(*id)
            .bind(crm_context_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            mapping_cols!(),
            " FROM event_uri_mappings WHERE crm_context_id = $1 ORDER BY id"
        ))
        .bind(crm_context_id)
        .fetch_all(&mut *tx)
        .await?;
        let all = rows
            .iter()
            .map(mapping_row)
            .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await?;
        Ok(all)
    }

    // ---- admin API sessions
    /// Stores a session under the SHA-256 hex of its token.
    pub async fn create_session(&self, token_hash: &str, session: &ApiSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_sessions (token_hash, host, tenant, username, valid_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(&session.host)
        .bind(&session.tenant)
        .bind(&session.username)
        .bind(session.valid_until)
        .bind(clock::created_at_now())
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_or(e, || "session token".to_string()))?;
        Ok(())
    }

    /// A session that has not expired (`now` in unix seconds; valid while `now < valid_until`).
    pub async fn find_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<ApiSession>> {
        let row = sqlx::query(
            "SELECT host, tenant, username, valid_until FROM api_sessions \
             WHERE token_hash = $1 AND valid_until > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ApiSession {
                host: r.try_get("host")?,
                tenant: r.try_get("tenant")?,
                username: r.try_get("username")?,
                valid_until: r.try_get("valid_until")?,
            })
        })
        .transpose()
    }

    /// Ends one session (no error if there is none).
    pub async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM api_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of a host+tenant (after an environment change); host compared
    /// case-insensitively.
    pub async fn delete_sessions_for(&self, host: &str, tenant: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM api_sessions WHERE lower(host) = $1 AND tenant = $2")
            .bind(host.to_ascii_lowercase())
            .bind(tenant)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_sessions(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM api_sessions WHERE valid_until <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

async fn insert_mapping(
    tx: &mut Tx,
    crm_context_id: Id,
    m: &NewMapping,
    now: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO event_uri_mappings (crm_context_id, xelion_event, crm_resource_uri, \
         crm_resource_payload, method, headers, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(crm_context_id)
    .bind(&m.xelion_event)
    .bind(&m.crm_resource_uri)
    .bind(json_text(m.crm_resource_payload.as_ref()))
    .bind(&m.method)
    .bind(json_text(m.headers.as_ref()))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `NotFound` when an update or delete touched no row.
fn found(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// A unique violation becomes `Conflict(what)` (never the SQL text); anything else stays a
/// database error.
fn conflict_or(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what()),
        _ => StoreError::Database(e),
    }
}

/// JSON as stored: `None` and JSON `null` are both SQL NULL.
fn json_text(value: Option<&Value>) -> Option<String> {
    value.filter(|v| !v.is_null()).map(Value::to_string)
}

fn json_value(row: &AnyRow, column: &str) -> Result<Option<Value>, sqlx::Error> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_string(),
            source: Box::new(e),
        })
    })
    .transpose()
}

fn xelion_row(r: &AnyRow) -> StoreResult<XelionContext> {
    Ok(XelionContext {
        id: r.try_get("id")?,
        host: r.try_get("host")?,
        tenant: r.try_get("tenant")?,
        protocol: r.try_get("protocol")?,
        admin_username: r.try_get("admin_username")?,
        created_at: r.try_get("created_at")?,
    })
}

fn crm_row(r: &AnyRow) -> StoreResult<CrmContext> {
    Ok(CrmContext {
        id: r.try_get("id")?,
        xelion_context_id: r.try_get("xelion_context_id")?,
        authorization_server_uri: r.try_get("authorization_server_uri")?,
        authorization_header_prefix: r.try_get("authorization_header_prefix")?,
        created_at: r.try_get("created_at")?,
    })
}

fn user_row(r: &AnyRow) -> StoreResult<UserCredentials> {
    Ok(UserCredentials {
        id: r.try_get("id")?,
        xelion_context_id: r.try_get("xelion_context_id")?,
        crm_context_id: r.try_get("crm_context_id")?,
        xelion_username: r.try_get("xelion_username")?,
        xelion_oid: r.try_get("xelion_oid")?,
        client_id: r.try_get("client_id")?,
        created_at: r.try_get("created_at")?,
    })
}

fn mapping_row(r: &AnyRow) -> StoreResult<EventUriMapping> {
    Ok(EventUriMapping {
        id: r.try_get("id")?,
        crm_context_id: r.try_get("crm_context_id")?,
        xelion_event: r.try_get("xelion_event")?,
        crm_resource_uri: r.try_get("crm_resource_uri")?,
        crm_resource_payload: json_value(r, "crm_resource_payload")?,
        method: r.try_get("method")?,
        headers: json_value(r, "headers")?,
        created_at: r.try_get("created_at")?,
    })
}
