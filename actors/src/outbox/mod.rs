//! The outbox writer: group commit of accepted deliveries and status updates.
//!
//! Callers (routing, dispatch) hand their work to one task through a queue; the task commits
//! whatever is queued in one transaction (multi-row statements) as soon as the queue stays
//! empty, `max_batch` rows are queued, or `max_delay` has passed since the first item, then
//! answers each caller. While a batch commits the next one gathers, so batches grow with load. The
//! database is the durability log, not a polled queue: accepted rows come back already claimed,
//! to be dispatched from memory at once; [`OutboxWriter::claim_due`] only recovers work after a
//! restart and picks up due retries. The same task prunes old rows now and then, a small chunk
//! at a time between batches, and, on SQLite (one instance per file), ends the leases the
//! previous process held when it starts. On a SQLite file a second task checkpoints the
//! write-ahead log beside the commits (`store/wal.rs` says why).

mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::store::{Delivery, NewDelivery, Pruned, Retention, StatusUpdate, Store, StoreError};

/// What the writer has done since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Transactions committed.
    pub batches: u64,
    /// Deliveries inserted.
    pub accepted: u64,
    /// Deliveries left out as duplicates.
    pub duplicates: u64,
    /// Status updates applied.
    pub updates: u64,
}

/// The writer's counters, shared with its handles.
#[derive(Debug, Default)]
struct Stats {
    batches: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    updates: AtomicU64,
}

impl Stats {
    /// A transaction committed these jobs (and their inserted rows) and `updates` updates.
    fn committed(
        &self,
        jobs: &[Vec<NewDelivery>],
        inserted: &[Vec<(usize, crate::store::DeliveryId)>],
        updates: usize,
    ) {
        let offered: usize = jobs.iter().map(Vec::len).sum();
        let accepted: usize = inserted.iter().map(Vec::len).sum();
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.accepted.fetch_add(accepted as u64, Ordering::Relaxed);
        self.duplicates
            .fetch_add(offered.saturating_sub(accepted) as u64, Ordering::Relaxed);
        self.updates.fetch_add(updates as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> OutboxStats {
        OutboxStats {
            batches: self.batches.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            updates: self.updates.load(Ordering::Relaxed),
        }
    }
}

/// Timers and limits of the outbox writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxSettings {
    /// How long the writer gathers a batch at most after its first item (it commits sooner
    /// when nothing more is queued).
    pub max_delay: Duration,
    /// Rows (deliveries and updates) at most in one transaction.
    pub max_batch: usize,
    /// Jobs waiting at most; callers wait for room beyond that.
    pub queue: usize,
    /// How long accepted and claimed rows stay leased to this instance.
    pub lease: Duration,
    /// How long rows are kept, and the dedupe window.
    pub retention: Retention,
    /// How often old rows are pruned.
    pub prune_every: Duration,
    /// Rows of each kind deleted per prune step.
    pub prune_chunk: u32,
    /// SQLite: how often the write-ahead log is checkpointed beside the commits.
    pub checkpoint_every: Duration,
    /// SQLite: the log's size in pages past which a checkpoint waits for the writer once so
    /// that the log starts again (the bound on the `-wal` file).
    pub wal_restart_pages: i64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            max_delay: Duration::from_millis(2),
            max_batch: 1000,
            queue: 4096,
            lease: Duration::from_secs(300),
            retention: Retention::default(),
            prune_every: Duration::from_secs(600),
            prune_chunk: 1000,
            checkpoint_every: Duration::from_millis(200),
            wal_restart_pages: 65_536,
        }
    }
}

/// A handle to the writer task (cheap to clone). The task ends when [`OutboxWriter::close`]
/// is called or every handle is dropped, after committing what was queued.
#[derive(Clone)]
pub struct OutboxWriter {
    jobs: mpsc::Sender<Job>,
    settings: Arc<OutboxSettings>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for OutboxWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxWriter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What callers queue.
enum Job {
    Accept {
        batch: Vec<NewDelivery>,
        reply: oneshot::Sender<Result<Vec<Delivery>, StoreError>>,
    },
    Record {
        update: StatusUpdate,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Claim {
        limit: u32,
        reply: oneshot::Sender<Result<Vec<Delivery>, StoreError>>,
    },
    Prune {
        reply: oneshot::Sender<Result<Pruned, StoreError>>,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// The writer's work, to run on some runtime.
type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs the writer on a thread and runtime of its own: on SQLite each statement of a batch is
/// a round trip to the connection's worker thread, and on the pipeline's busy thread every one
/// of them would wait behind whatever else is ready there, stretching each commit and every
/// delivery waiting on it. Falls back to the current runtime if no thread can be had.
fn on_own_thread(task: Task) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(error = %e, "outbox: no runtime of its own; the writer shares one");
            tokio::spawn(task);
            return;
        }
    };
    let (give, take) = std::sync::mpsc::channel::<Task>();
    let thread = std::thread::Builder::new()
        .name("xcti-outbox".into())
        .spawn(move || {
            if let Ok(task) = take.recv() {
                runtime.block_on(task);
                // Connections the writer used go back to the pool in tasks of this runtime;
                // dropped unfinished, such a connection would close later on its own thread
                // and keep SQLite from removing its log when the store closes.
                runtime.block_on(finish_tasks());
            }
        });
    match thread {
        Ok(_) => {
            let _ = give.send(task);
        }
        Err(e) => {
            tracing::warn!(error = %e, "outbox: no thread of its own; the writer shares one");
            tokio::spawn(task);
        }
    }
}

/// Waits, a second at most, until the current runtime has no task left but this one.
async fn finish_tasks() {
    let handle = tokio::runtime::Handle::current();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while handle.metrics().num_alive_tasks() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn stopped() -> StoreError {
    StoreError::Outbox("the outbox writer has stopped".to_string())
}

impl OutboxWriter {
    /// Starts the writer task: on a SQLite file on a thread of its own (below), else on the
    /// current tokio runtime (inside an actix system too).
    pub fn start(store: Store, settings: OutboxSettings) -> OutboxWriter {
        let (jobs, queue) = mpsc::channel(settings.queue.max(1));
        let settings = Arc::new(settings);
        let stats = Arc::new(Stats::default());
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let own_thread = store.has_wal();
        let checkpointing = own_thread.then(|| (store.clone(), settings.clone(), gate.clone()));
        let writer = writer::Writer::new(store, settings.clone(), stats.clone(), queue, gate);
        let task = async move {
            let checkpointer = checkpointing.map(|(store, settings, gate)| {
                let (stop, stopped) = oneshot::channel();
                let task = tokio::spawn(writer::checkpointer(store, settings, gate, stopped));
                (stop, task)
            });
            writer.run().await;
            if let Some((stop, task)) = checkpointer {
                let _ = stop.send(());
                let _ = task.await;
            }
        };
        if own_thread {
            on_own_thread(Box::pin(task));
        } else {
            tokio::spawn(task);
        }
        OutboxWriter {
            jobs,
            settings,
            stats,
        }
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> OutboxStats {
        self.stats.snapshot()
    }

    /// The settings it runs on.
    pub fn settings(&self) -> &OutboxSettings {
        &self.settings
    }

    /// Accepts one caller's deliveries (whole events: deliveries sharing a dedupe key are one
    /// event's, one per mapping). Returns after the batch they joined has committed, with the
    /// deliveries newly inserted, in id order and already claimed for the lease: dispatch them
    /// from memory. Duplicates of an event accepted before (within the dedupe window) are left
    /// out, all of an event's deliveries together.
    pub async fn accept(&self, batch: Vec<NewDelivery>) -> Result<Vec<Delivery>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.send(Job::Accept { batch, reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Records what dispatch learned; returns after the batch it joined has committed (spawn
    /// it to go on at once: the update is queued either way). An update of a row that is gone
    /// (its integration was deleted) is skipped.
    pub async fn record(&self, update: StatusUpdate) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Record { update, reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Queues an update and returns as soon as it is queued, not committed: updates queued
    /// one after another by one caller commit in that order, without waiting for each other.
    /// The answer tells whether its batch committed (failures are logged by the writer too).
    pub async fn queue_record(
        &self,
        update: StatusUpdate,
    ) -> Result<oneshot::Receiver<Result<(), StoreError>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Record { update, reply }).await?;
        Ok(answer)
    }

    /// Claims up to `limit` due rows (recovery and due retries) for the lease, in id order.
    pub async fn claim_due(&self, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Claim { limit, reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Prunes old rows now, all of them, and says how many went.
    pub async fn prune_now(&self) -> Result<Pruned, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Prune { reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Commits what is queued before this call and stops the task; later calls fail.
    pub async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        if self.jobs.send(Job::Close { reply }).await.is_ok() {
            let _ = answer.await;
        }
    }

    async fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.send(job).await.map_err(|_| stopped())
    }
}
