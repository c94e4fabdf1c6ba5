//! The outbox's batch write: many accepted events and status updates in one transaction,
//! with multi-row statements.
//!
//! Dedupe is the database's: each event's key goes into `delivery_keys`; a key that is already
//! there (and younger than the window) conflicts, and the event's deliveries are dropped.
//! Statements come in a few fixed row counts, so that each stays in the connection's
//! statement cache, and carry at most [`BUDGET`] bytes of bound data. Status updates and
//! attempts are in `outbox_update.rs`.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Connection as _, Row as _};

use super::outbox::Key;
use super::outbox_update::apply_updates;
use super::rows::parse_column;
use super::{
    Accepting, Backend, Delivery, DeliveryId, DeliveryStatus, MappingId, NewDelivery, StatusUpdate,
    Store, StoreError, StoreResult, UserId,
};

/// Rows per statement: a batch runs as statements of these sizes only.
const CHUNKS: [usize; 9] = [256, 128, 64, 32, 16, 8, 4, 2, 1];

/// The most bound data one PostgreSQL statement carries, in bytes. sqlx 0.9 leaves Nagle's
/// algorithm on, and over TLS a message longer than one record (16 KiB) goes out as two
/// writes, the second held back until the server's delayed ACK (40 ms). Statements stay under
/// one record. SQLite has no wire: only the row counts bound its statements.
const BUDGET: usize = 12 * 1024;

/// Bytes a bound integer takes on the wire (length and value).
pub(super) const INT: usize = 12;

/// Bytes a bound text takes on the wire.
pub(super) fn text(s: &str) -> usize {
    4 + s.len()
}

/// Splits rows of the given sizes (bytes) into statements: each the largest [`CHUNKS`] size
/// that is left and, on PostgreSQL, fits the [`BUDGET`] (a single row always goes, however
/// large).
pub(super) fn chunk_sizes(backend: Backend, row_bytes: &[usize]) -> Vec<usize> {
    let budget = match backend {
        Backend::Sqlite => usize::MAX,
        Backend::Postgres => BUDGET,
    };
    let mut prefix = Vec::with_capacity(row_bytes.len() + 1);
    prefix.push(0usize);
    for b in row_bytes {
        prefix.push(prefix[prefix.len() - 1].saturating_add(*b));
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < row_bytes.len() {
        let left = row_bytes.len() - at;
        let size = CHUNKS
            .into_iter()
            .find(|&c| c <= left && (c == 1 || prefix[at + c] - prefix[at] <= budget))
            .unwrap_or(1);
        out.push(size);
        at += size;
    }
    out
}

/// Statement texts by kind, row count and backend.
type StatementTexts = HashMap<(&'static str, usize, Backend), Arc<str>>;

/// The text of a multi-row statement, built once per kind, row count and backend.
pub(super) fn statement(
    kind: &'static str,
    rows: usize,
    backend: Backend,
    build: impl FnOnce(&mut Marks) -> String,
) -> AssertSqlSafe<Arc<str>> {
    static TEXTS: LazyLock<Mutex<StatementTexts>> = LazyLock::new(Mutex::default);
    let key = (kind, rows, backend);
    if let Some(text) = TEXTS.lock().ok().and_then(|t| t.get(&key).cloned()) {
        return AssertSqlSafe(text);
    }
    let text: Arc<str> = build(&mut Marks::new(backend)).into();
    if let Ok(mut texts) = TEXTS.lock() {
        texts.insert(key, text.clone());
    }
    AssertSqlSafe(text)
}

/// Bind placeholders in the order they appear in a statement's text: `$1, $2…` on
/// PostgreSQL, plain `?` on SQLite, whose driver looks up the name of every numbered parameter
/// in a list when binding it (quadratic in a statement of a thousand parameters).
pub(super) struct Marks {
    sqlite: bool,
    n: usize,
}

impl Marks {
    pub(super) fn new(backend: Backend) -> Marks {
        Marks {
            sqlite: backend == Backend::Sqlite,
            n: 0,
        }
    }

    /// The next placeholder.
    pub(super) fn one(&mut self) -> String {
        let mut out = String::new();
        self.push(&mut out);
        out
    }

    fn push(&mut self, sql: &mut String) {
        self.n += 1;
        if self.sqlite {
            sql.push('?');
        } else {
            let _ = write!(sql, "${}", self.n);
        }
    }

    /// `rows` copies of `row`, comma-separated, each `@` in it a placeholder.
    pub(super) fn rows(&mut self, rows: usize, row: &str) -> String {
        let mut sql = String::with_capacity(rows * row.len() * 3);
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            for c in row.chars() {
                if c == '@' {
                    self.push(&mut sql);
                } else {
                    sql.push(c);
                }
            }
        }
        sql
    }
}

/// What a batch write inserted: per job, the index in the job and the id of each new row, in
/// id order. Deliveries left out were duplicates.
pub(crate) type Inserted = Vec<Vec<(usize, DeliveryId)>>;

impl Store {
    /// Writes one batch in one transaction: the accepted events of each job (a job is one
    /// caller's list of deliveries; deliveries sharing a key are one event's, one per
    /// mapping), then the status updates. New rows are claimed until `at.claimed_until`.
    pub(crate) async fn write_outbox(
        &self,
        jobs: &[Vec<NewDelivery>],
        updates: &[StatusUpdate],
        at: Accepting,
    ) -> StoreResult<Inserted> {
        let mut conn = self.pool().acquire().await?;
        self.write_outbox_on(&mut conn, jobs, updates, at).await
    }

    /// A connection of the pool for the outbox writer to keep: on SQLite a connection whose
    /// database another one changed drops its whole page cache at its next transaction, so
    /// the writer writes on one connection of its own, whose cache stays warm.
    pub(crate) async fn writer_connection(&self) -> StoreResult<PoolConnection<Any>> {
        Ok(self.pool().acquire().await?)
    }

    /// Whether the pool has room for a connection the outbox writer keeps (not an in-memory
    /// SQLite, whose only connection is the database).
    pub(crate) fn can_keep_a_connection(&self) -> bool {
        self.pool().options().get_max_connections() > 1
    }

    /// [`Store::write_outbox`] on the given connection.
    pub(crate) async fn write_outbox_on(
        &self,
        conn: &mut AnyConnection,
        jobs: &[Vec<NewDelivery>],
        updates: &[StatusUpdate],
        at: Accepting,
    ) -> StoreResult<Inserted> {
        let mut tx = conn.begin_with(self.begin_statement()).await?;
        let inserted = insert_jobs(&mut tx, self.backend, jobs, &at).await?;
        apply_updates(&mut tx, self.backend, updates, at.now).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Accepts one caller's deliveries in their own transaction (what the outbox writer does
    /// for many callers at once) and answers those newly inserted, claimed until
    /// `at.claimed_until`; duplicates are left out.
    pub async fn accept_deliveries(
        &self,
        batch: Vec<NewDelivery>,
        at: Accepting,
    ) -> StoreResult<Vec<Delivery>> {
        let jobs = [batch];
        let inserted = self.write_outbox(&jobs, &[], at).await?;
        let [job] = jobs;
        let ids = inserted.into_iter().next().unwrap_or_default();
        Ok(take_inserted(job, ids, &at))
    }
}

/// The deliveries a job's new rows are, moved out of the job.
pub(crate) fn take_inserted(
    job: Vec<NewDelivery>,
    ids: Vec<(usize, DeliveryId)>,
    at: &Accepting,
) -> Vec<Delivery> {
    let mut slots: Vec<Option<NewDelivery>> = job.into_iter().map(Some).collect();
    ids.into_iter()
        .filter_map(|(i, id)| {
            let d = slots.get_mut(i)?.take()?;
            Some(accepted(id, d, at))
        })
        .collect()
}

/// Which deliveries of the jobs may be new: a key another job of this batch brought first is
/// a duplicate, and so is a second delivery of one job for the same key and mapping. Returns
/// the keys to insert, in order, and a keep flag per delivery.
fn plan_keys(jobs: &[Vec<NewDelivery>]) -> (Vec<Key>, Vec<Vec<bool>>) {
    let mut owner: HashMap<Key, usize> = HashMap::new();
    let mut keys = Vec::new();
    let mut keep = Vec::with_capacity(jobs.len());
    for (j, job) in jobs.iter().enumerate() {
        let mut seen = HashSet::new();
        let mut flags = Vec::with_capacity(job.len());
        for d in job {
            let ok = match d.key() {
                None => true,
                Some(key) => match owner.get(&key) {
                    Some(&o) if o != j => false,
                    Some(_) => seen.insert((key, d.mapping_id)),
                    None => {
                        owner.insert(key.clone(), j);
                        seen.insert((key.clone(), d.mapping_id));
                        keys.push(key);
                        true
                    }
                },
            };
            flags.push(ok);
        }
        keep.push(flags);
    }
    (keys, keep)
}

/// Inserts the keys; answers those that are new (or replaced an expired one).
async fn insert_keys(
    tx: &mut AnyConnection,
    backend: Backend,
    keys: &[Key],
    at: &Accepting,
) -> StoreResult<HashSet<Key>> {
    let mut fresh = HashSet::with_capacity(keys.len());
    let bytes: Vec<usize> = keys
        .iter()
        .map(|(_, _, event, call)| 3 * INT + text(event.as_str()) + text(call))
        .collect();
    let mut rest = keys;
    for size in chunk_sizes(backend, &bytes) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = statement("keys", size, backend, |marks| {
            let values = marks.rows(size, "(@,@,@,@,@)");
            format!(
                "INSERT INTO delivery_keys (crm_context_id, user_id, xelion_event, call_id, \
                 created_at) VALUES {values} ON CONFLICT (crm_context_id, user_id, \
                 xelion_event, call_id) DO UPDATE SET created_at = excluded.created_at \
                 WHERE delivery_keys.created_at < {} \
                 RETURNING crm_context_id, user_id, xelion_event, call_id",
                marks.one()
            )
        });
        let mut query = sqlx::query(sql);
        for (crm, user, event, call) in chunk {
            query = query
                .bind(*crm)
                .bind(*user)
                .bind(event.as_str())
                .bind(super::rows::storable(call))
                .bind(at.now.millis());
        }
        query = query.bind(at.dedupe_since.millis());
        for row in query.fetch_all(&mut *tx).await? {
            fresh.insert((
                row.try_get("crm_context_id")?,
                row.try_get("user_id")?,
                parse_column(&row, "xelion_event")?,
                row.try_get("call_id")?,
            ));
        }
    }
    Ok(fresh)
}

/// Inserts the new deliveries of every job, in job order (so ids follow the order events were
/// accepted in).
async fn insert_jobs(
    tx: &mut AnyConnection,
    backend: Backend,
    jobs: &[Vec<NewDelivery>],
    at: &Accepting,
) -> StoreResult<Inserted> {
    let (keys, keep) = plan_keys(jobs);
    let fresh = insert_keys(tx, backend, &keys, at).await?;
    // An event's text is written once however many deliveries share it.
    let mut texts: Vec<String> = Vec::new();
    let mut text_of: HashMap<usize, usize> = HashMap::new();
    let mut rows: Vec<(usize, usize, &NewDelivery, usize)> = Vec::new();
    for (j, (job, flags)) in jobs.iter().zip(&keep).enumerate() {
        for (i, (d, ok)) in job.iter().zip(flags).enumerate() {
            if *ok && d.key().is_none_or(|k| fresh.contains(&k)) {
                let t = *text_of
                    .entry(Arc::as_ptr(&d.event) as usize)
                    .or_insert_with(|| {
                        texts
                            .push(serde_json::to_string(&*d.event).unwrap_or_else(|_| "{}".into()));
                        texts.len() - 1
                    });
                rows.push((j, i, d, t));
            }
        }
    }
    // Every job gets its list, even one whose deliveries were all duplicates.
    let mut out: Inserted = Vec::new();
    out.resize_with(jobs.len(), Vec::new);
    let bytes: Vec<usize> = rows
        .iter()
        .map(|(_, _, d, t)| {
            8 * INT + text(d.xelion_event.as_str()) + text(&d.call_id) + text(&texts[*t])
        })
        .collect();
    let mut rest = rows.as_slice();
    for size in chunk_sizes(backend, &bytes) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = statement("deliveries", size, backend, |marks| {
            format!(
                "INSERT INTO deliveries (xelion_context_id, crm_context_id, user_id, mapping_id, \
                 xelion_event, call_id, event, status, attempts, next_attempt_at, \
                 claimed_until, created_at, updated_at) VALUES {} \
                 RETURNING id, user_id, mapping_id",
                marks.rows(size, "(@,@,@,@,@,@,@,'pending',0,@,@,@,@)")
            )
        });
        let mut query = sqlx::query(sql);
        for (_, _, d, t) in chunk {
            query = query
                .bind(d.xelion_context_id)
                .bind(d.crm_context_id)
                .bind(d.user_id)
                .bind(d.mapping_id)
                .bind(d.xelion_event.as_str())
                .bind(super::rows::storable(&d.call_id))
                .bind(texts[*t].as_str())
                .bind(at.now.millis())
                .bind(at.claimed_until.millis())
                .bind(at.now.millis())
                .bind(at.now.millis());
        }
        let mut ids = Vec::with_capacity(size);
        for row in query.fetch_all(&mut *tx).await? {
            ids.push((
                row.try_get::<DeliveryId, _>("id")?,
                row.try_get::<UserId, _>("user_id")?,
                row.try_get::<MappingId, _>("mapping_id")?,
            ));
        }
        // Ids grow in the order of the VALUES rows; check the pairing rather than trust it.
        ids.sort_by_key(|(id, _, _)| *id);
        if ids.len() != chunk.len() {
            return Err(StoreError::Outbox(format!(
                "{} rows inserted, {} returned",
                chunk.len(),
                ids.len()
            )));
        }
        for ((id, user, mapping), (j, i, d, _)) in ids.into_iter().zip(chunk) {
            if user != d.user_id || mapping != d.mapping_id {
                return Err(StoreError::Outbox(
                    "inserted ids do not follow the order of the rows".to_string(),
                ));
            }
            out[*j].push((*i, id));
        }
    }
    Ok(out)
}

/// The delivery a new row is.
fn accepted(id: DeliveryId, d: NewDelivery, at: &Accepting) -> Delivery {
    Delivery {
        id,
        xelion_context_id: d.xelion_context_id,
        crm_context_id: d.crm_context_id,
        user_id: d.user_id,
        mapping_id: d.mapping_id,
        xelion_event: d.xelion_event,
        call_id: d.call_id,
        event: d.event,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(at.now),
        created_at: at.now,
        updated_at: at.now,
        reason: None,
        requeued_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CrmContextId, XelionContextId, XelionEvent};

    #[test]
    fn chunks_cover_every_row_with_few_sizes_under_the_budget() {
        let pg = Backend::Postgres;
        for n in [0, 1, 3, 5, 17, 255, 256, 257, 1000, 4097] {
            let sizes = chunk_sizes(pg, &vec![INT; n]);
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}");
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
            assert!(sizes.iter().all(|s| CHUNKS.contains(s)));
        }
        assert_eq!(
            chunk_sizes(pg, &[INT; 1000]),
            [256, 256, 256, 128, 64, 32, 8]
        );
        // 400-byte rows: 30 fit the budget, so statements of 16 (never one over it).
        let sizes = chunk_sizes(pg, &[400; 100]);
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(sizes.iter().all(|&s| s * 400 <= BUDGET), "{sizes:?}");
        assert_eq!(sizes[0], 16);
        // A row larger than the budget goes alone.
        assert_eq!(chunk_sizes(pg, &[100, BUDGET * 2, 100]), [1, 1, 1]);
        // SQLite has no wire to fit.
        assert_eq!(chunk_sizes(Backend::Sqlite, &[400; 100]), [64, 32, 4]);
    }

    #[test]
    fn statements_are_built_once() {
        let a = statement("test", 2, Backend::Postgres, |m| m.rows(2, "(@)"));
        let b = statement("test", 2, Backend::Postgres, |_| unreachable!());
        assert_eq!(&*a.0, "($1),($2)");
        assert!(Arc::ptr_eq(&a.0, &b.0));
    }

    #[test]
    fn placeholders_follow_the_text() {
        let mut pg = Marks::new(Backend::Postgres);
        assert_eq!(pg.rows(2, "(@,@,'x')"), "($1,$2,'x'),($3,$4,'x')");
        assert_eq!(pg.one(), "$5");
        let mut lite = Marks::new(Backend::Sqlite);
        assert_eq!(lite.rows(2, "(@,@)"), "(?,?),(?,?)");
    }

    fn d(user: i64, mapping: i64, call: &str) -> NewDelivery {
        NewDelivery {
            xelion_context_id: XelionContextId(1),
            crm_context_id: CrmContextId(1),
            user_id: UserId(user),
            mapping_id: MappingId(mapping),
            xelion_event: XelionEvent::CallHungUp,
            call_id: call.to_string(),
            event: Default::default(),
        }
    }

    #[test]
    fn a_key_belongs_to_the_first_job_that_brings_it() {
        let jobs = vec![
            // one event, two mappings, and the same event again inside the job
            vec![d(1, 10, "c1"), d(1, 11, "c1"), d(1, 10, "c1")],
            // the transfer duplicate from another caller
            vec![d(1, 10, "c1"), d(2, 10, "c1")],
            // no call id: never a duplicate
            vec![d(3, 10, ""), d(3, 10, "")],
        ];
        let (keys, keep) = plan_keys(&jobs);
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keep,
            vec![vec![true, true, false], vec![false, true], vec![true, true]]
        );
    }
}
