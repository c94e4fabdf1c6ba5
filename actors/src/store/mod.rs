//! Storage: every table of the server behind one interface, on SQLite or PostgreSQL.
//!
//! Only actors call this module; HTTP handlers never do. Secrets are encrypted with
//! [`crate::secrets::Cipher`] before they reach a row and are decrypted only on demand.
//!
//! This file holds the [`Store`] itself: opening, migrations, transactions and sealing. Each
//! table has its own file, with its types, its column list, its row mapper and its methods
//! (`impl Store`); everything is re-exported here, so callers name `store::XelionContext`.

use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool};

use crate::secrets::{Cipher, Secret};

mod app_contexts;
mod connect;
mod crm_contexts;
mod deliveries;
mod event_sessions;
mod integrations;
mod mappings;
mod outbox;
mod outbox_update;
mod outbox_write;
#[cfg(feature = "test-util")]
mod raw;
mod retention;
mod rows;
mod sessions;
#[cfg(feature = "test-util")]
pub mod testdb;
mod tokens;
mod users;
mod wal;
mod xelion_contexts;

pub use crate::domain::CredentialKind;
pub use app_contexts::{AppContextAccess, NewAppContext};
pub use crm_contexts::CrmContext;
pub use deliveries::{DeliveryFilter, DeliveryWithAttempts, Page};
pub use integrations::NewIntegration;
pub use mappings::{EventUriMapping, NewMapping};
pub use outbox::{
    Accepting, Attempt, Backlog, Delivery, EventFields, NewDelivery, StatusUpdate,
    ATTEMPT_TEXT_MAX, EXCERPT_MAX,
};
pub(crate) use outbox_write::{take_inserted, Inserted};
pub use retention::{PrunePlan, Pruned, Retention};
pub use sessions::ApiSession;
pub use tokens::{GrantWrite, TokenEndpointId, TokenRecord};
pub use users::{NewUserCredentials, ParkedUser, UserCredentials, UserSecrets};
pub use wal::CheckpointMode;
pub use xelion_contexts::XelionContext;

pub use event_sessions::EventSession;

/// Row id of any table, as the sealing helpers bind it into associated data. Each table's
/// own id has its type in [`crate::domain`].
pub type Id = i64;

pub use crate::clock::Timestamp;
pub use crate::domain::{
    CrmContextId, DeliveryId, DeliveryStatus, HttpMethod, MappingId, Protocol, UserId,
    XelionContextId, XelionEvent,
};

/// The id of a row of any table, as sealing binds it into a secret's associated data
/// (`<table>.<column>:<id>`): the number, whichever table's id type carries it.
trait RowId: std::fmt::Display + Copy {}
impl RowId for Id {}
impl RowId for XelionContextId {}
impl RowId for UserId {}
impl RowId for crate::domain::AppContextId {}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// The scale-out backend.
    Postgres,
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
    /// A crm context identical to the one being stored exists in that xelion context.
    #[error("an identical crm context exists: {0}")]
    CrmContextExists(CrmContextId),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A secret could not be decrypted (wrong master key?).
    #[error("secret: {0}")]
    Crypto(String),
    /// The row is not in a state that allows the change; the text says which and why.
    #[error("{0}")]
    WrongState(String),
    /// The outbox writer could not take or finish the work (stopped, or the batch failed).
    #[error("outbox: {0}")]
    Outbox(String),
    /// The database URL or what it names cannot be used; the text says what to change.
    #[error("{0}")]
    Config(String),
}

impl StoreError {
    /// Whether the database refused the write (a constraint: a row it names was deleted
    /// meanwhile), as opposed to failing; writing the same again is refused again.
    pub fn is_refusal(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(_)))
    }
}

/// Checks a database URL without connecting: `sqlite://…`, a file path or `postgres://…`;
/// anything else (`mysql://…`) is refused, saying what is accepted.
pub fn check_database_url(url: &str) -> StoreResult<Backend> {
    connect::Target::parse(url).map(|t| t.backend)
}

/// Whether a database error means the database cannot be reached now (down, restarting, out
/// of connections, busy) rather than that the request or the data is wrong: worth a 503 and
/// a retry, not a 500.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL (five characters): connection exceptions (08xxx), shutdown and
            // start-up (57P01-57P03), too many connections (53300), a database closed to
            // connections (55000) or gone (3D000). SQLite (a number, extended codes carrying
            // the primary one in the low byte): busy (5) and locked (6).
            if code.len() == 5 {
                code.starts_with("08")
                    || matches!(
                        &*code,
                        "57P01" | "57P02" | "57P03" | "53300" | "55000" | "3D000"
                    )
            } else {
                code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
            }
        }),
        _ => false,
    }
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
    /// A SQLite file in WAL mode: its log is checkpointed by [`Store::checkpoint`].
    wal: bool,
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

type Tx = sqlx::Transaction<'static, Any>;

impl Store {
    /// Opens the database at `url` and runs the migrations: what the server does at start.
    ///
    /// Accepted: `sqlite://path`, `sqlite:path`, `sqlite::memory:`, a bare path (a SQLite
    /// file), `postgres://…` and `postgresql://…`. SQLite files (and their directory) are
    /// created if missing unless the URL says otherwise (`mode=rw` / `mode=ro`); foreign keys
    /// are on, the journal is WAL and a writer waits up to 5 s for another.
    pub async fn open(url: &str, cipher: Cipher) -> StoreResult<Store> {
        let store = Store::open_unmigrated(url, cipher).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database at `url` like [`Store::open`] but leaves the schema as it is, for
    /// `xelion-cti migrate`, which then runs [`Store::migrate`] once and says so.
    pub async fn open_unmigrated(url: &str, cipher: Cipher) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let target = connect::Target::parse(url)?;
        let pool = target.pool().await?;
        if target.backend == Backend::Sqlite && !target.in_memory {
            // Persistent in the file: once is enough, and it must not run inside a transaction.
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await?;
        }
        Ok(Store {
            pool,
            cipher,
            backend: target.backend,
            wal: target.backend == Backend::Sqlite && !target.in_memory,
        })
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

    /// The connection pool: the table files use it, and so will tables other modules of this
    /// crate add later (outbox, leases). Never outside the crate; tests that must look beneath
    /// the interface have the `raw_*` methods (feature `test-util`).
    pub(crate) fn pool(&self) -> &AnyPool {
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

    /// Readiness: a pooled connection, a write transaction begun (on SQLite this takes the
    /// write lock, so a database another process keeps locked is not ready), `SELECT 1`, and
    /// a rollback. Nothing is written.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT 1").fetch_one(&mut *tx).await?;
        tx.rollback().await?;
        Ok(())
    }

    /// A write transaction. SQLite takes the write lock at once (`BEGIN IMMEDIATE`), so two
    /// writers queue on the busy timeout instead of failing when a read lock cannot be upgraded.
    async fn begin(&self) -> StoreResult<Tx> {
        Ok(self.pool.begin_with(self.begin_statement()).await?)
    }

    /// The statement that opens a write transaction on this backend.
    fn begin_statement(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    fn seal(&self, column: &str, id: impl RowId, value: &Secret) -> StoreResult<String> {
        self.cipher
            .try_encrypt(value.expose(), &format!("{column}:{id}"))
            .map_err(StoreError::Crypto)
    }

    fn seal_opt(
        &self,
        column: &str,
        id: impl RowId,
        value: Option<&Secret>,
    ) -> StoreResult<Option<String>> {
        value.map(|v| self.seal(column, id, v)).transpose()
    }

    fn open_sealed(
        &self,
        column: &str,
        id: impl RowId,
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
}
