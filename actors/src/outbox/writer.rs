//! The writer task: gathers queued work into batches, commits each in one transaction,
//! answers the callers, and prunes between batches.

use std::sync::Arc;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use sqlx::pool::PoolConnection;
use sqlx::Any;

use super::{Job, OutboxSettings, Stats};
use crate::store::{
    take_inserted, Accepting, CheckpointMode, Delivery, Inserted, NewDelivery, PrunePlan, Pruned,
    StatusUpdate, Store, StoreError, Timestamp,
};

/// Rounds of yielding with an empty queue before a batch is committed.
const QUIET_ROUNDS: u32 = 3;

type AcceptReply = oneshot::Sender<Result<Vec<Delivery>, StoreError>>;
type RecordReply = oneshot::Sender<Result<(), StoreError>>;

/// The work of one transaction.
#[derive(Default)]
struct Batch {
    accepts: Vec<(Vec<NewDelivery>, AcceptReply)>,
    records: Vec<(StatusUpdate, RecordReply)>,
    rows: usize,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.accepts.is_empty() && self.records.is_empty()
    }

    /// Adds a data job; a control job (claim, prune, close) is handed back.
    fn push(&mut self, job: Job) -> Option<Job> {
        match job {
            Job::Accept { batch, reply } => {
                self.rows += batch.len();
                self.accepts.push((batch, reply));
                None
            }
            Job::Record { update, reply } => {
                self.rows += 1;
                self.records.push((update, reply));
                None
            }
            control => Some(control),
        }
    }
}

pub(super) struct Writer {
    store: Store,
    settings: Arc<OutboxSettings>,
    stats: Arc<Stats>,
    queue: mpsc::Receiver<Job>,
    /// A prune under way, done a step at a time.
    pruning: Option<PrunePlan>,
    /// Held while the writer writes; the checkpointer's restart takes it to have the writer
    /// wait for it in memory rather than in SQLite's busy handler (which sleeps in steps of
    /// up to 100 ms).
    gate: Arc<tokio::sync::Mutex<()>>,
    /// The connection the writer writes on, kept between batches (see
    /// [`Store::writer_connection`]); replaced after a failure.
    conn: Option<PoolConnection<Any>>,
}

impl Writer {
    pub(super) fn new(
        store: Store,
        settings: Arc<OutboxSettings>,
        stats: Arc<Stats>,
        queue: mpsc::Receiver<Job>,
        gate: Arc<tokio::sync::Mutex<()>>,
    ) -> Writer {
        Writer {
            store,
            settings,
            stats,
            queue,
            pruning: None,
            gate,
            conn: None,
        }
    }

    pub(super) async fn run(mut self) {
        // One instance per database (see ARCHITECTURE.md): whatever the previous process held
        // in memory is due again at once, on either backend.
        match self.store.release_claims().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "outbox: leases of the previous run ended"),
            Err(e) => tracing::warn!(error = %e, "outbox: leases could not be ended"),
        }
        let mut prune_tick = tokio::time::interval(self.settings.prune_every);
        prune_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let first = if self.pruning.is_some() {
                match self.queue.try_recv() {
                    Ok(job) => job,
                    Err(TryRecvError::Empty) => {
                        self.prune_step().await;
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                tokio::select! {
                    job = self.queue.recv() => match job {
                        Some(job) => job,
                        None => break,
                    },
                    _ = prune_tick.tick() => {
                        self.start_prune().await;
                        continue;
                    }
                }
            };
            let (batch, control) = self.gather(first).await;
            let gate = self.gate.clone();
            let _writing = gate.lock().await;
            self.commit(batch).await;
            if self.pruning.is_some() {
                self.prune_step().await;
            }
            if let Some(control) = control {
                if self.control(control).await {
                    break;
                }
            }
        }
        tracing::debug!("outbox writer stopped");
    }

    /// Collects data jobs after `first` until the batch is full, a control job comes (run
    /// after the batch commits), or nothing more arrives: the writer yields to the other
    /// tasks a few times (callers just answered queue their next work then) and stops once
    /// the queue stays empty, or when `max_delay` has passed since the first job. Under load
    /// batches grow by themselves while the previous one commits; alone, a job is committed
    /// at once.
    async fn gather(&mut self, first: Job) -> (Batch, Option<Job>) {
        let mut batch = Batch::default();
        if let Some(control) = batch.push(first) {
            return (batch, Some(control));
        }
        let deadline = Instant::now() + self.settings.max_delay;
        let mut quiet = 0;
        while batch.rows < self.settings.max_batch {
            match self.queue.try_recv() {
                Ok(job) => {
                    quiet = 0;
                    if let Some(control) = batch.push(job) {
                        return (batch, Some(control));
                    }
                }
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    quiet += 1;
                    if quiet > QUIET_ROUNDS || Instant::now() >= deadline {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
        (batch, None)
    }

    /// Writes one batch on the writer's own connection (or, where the pool has only one, on
    /// a connection taken for this batch alone).
    async fn write(
        &mut self,
        jobs: &[Vec<NewDelivery>],
        updates: &[StatusUpdate],
        at: Accepting,
    ) -> Result<Inserted, StoreError> {
        if !self.store.can_keep_a_connection() {
            return self.store.write_outbox(jobs, updates, at).await;
        }
        let conn = match self.conn.as_mut() {
            Some(conn) => conn,
            None => self.conn.insert(self.store.writer_connection().await?),
        };
        let result = self.store.write_outbox_on(conn, jobs, updates, at).await;
        if result.as_ref().is_err_and(|e| !e.is_refusal()) {
            self.conn = None;
        }
        result
    }

    /// Commits a batch and answers its callers. If the transaction fails for something the
    /// database refused (a row whose user was deleted meanwhile), each job is tried again
    /// alone, so one caller's bad row does not fail the others.
    async fn commit(&mut self, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        let Batch {
            accepts, records, ..
        } = batch;
        let (jobs, accept_replies): (Vec<_>, Vec<_>) = accepts.into_iter().unzip();
        let (updates, record_replies): (Vec<_>, Vec<_>) = records.into_iter().unzip();
        let at = self.accepting();
        match self.write(&jobs, &updates, at).await {
            Ok(inserted) => {
                self.stats.committed(&jobs, &inserted, updates.len());
                for ((job, ids), reply) in jobs.into_iter().zip(inserted).zip(accept_replies) {
                    let _ = reply.send(Ok(take_inserted(job, ids, &at)));
                }
                for reply in record_replies {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) if jobs.len() + updates.len() > 1 && e.is_refusal() => {
                tracing::debug!(error = %e, "outbox: batch refused; writing its jobs one by one");
                for (job, reply) in jobs.into_iter().zip(accept_replies) {
                    let at = self.accepting();
                    let jobs = [job];
                    let result = match self.write(&jobs, &[], at).await {
                        Ok(inserted) => {
                            self.stats.committed(&jobs, &inserted, 0);
                            let [job] = jobs;
                            let ids = inserted.into_iter().next().unwrap_or_default();
                            Ok(take_inserted(job, ids, &at))
                        }
                        Err(e) => Err(e),
                    };
                    let _ = reply.send(result);
                }
                for (update, reply) in updates.into_iter().zip(record_replies) {
                    let result = self
                        .store
                        .record_updates(std::slice::from_ref(&update), Timestamp::now())
                        .await;
                    if result.is_ok() {
                        self.stats.committed(&[], &[], 1);
                    }
                    let _ = reply.send(result);
                }
            }
            Err(e) if accept_replies.len() == 1 && record_replies.is_empty() => {
                // One caller's job alone: it gets the error itself (a refusal stays one).
                tracing::warn!(error = %e, "outbox: batch not written");
                if let Some(reply) = accept_replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox: batch not written");
                let message = e.to_string();
                for reply in accept_replies {
                    let _ = reply.send(Err(StoreError::Outbox(message.clone())));
                }
                for reply in record_replies {
                    let _ = reply.send(Err(StoreError::Outbox(message.clone())));
                }
            }
        }
    }

    fn accepting(&self) -> Accepting {
        Accepting::at(
            Timestamp::now(),
            self.settings.lease,
            self.settings.retention.dedupe_window,
        )
    }

    /// Runs a control job; true when the writer must stop.
    async fn control(&mut self, job: Job) -> bool {
        match job {
            Job::Claim { limit, reply } => {
                let claimed = self
                    .store
                    .claim_due(Timestamp::now(), limit, self.settings.lease)
                    .await;
                let _ = reply.send(claimed);
                false
            }
            Job::Prune { reply } => {
                self.pruning = None;
                let pruned = self
                    .store
                    .prune_outbox(
                        Timestamp::now(),
                        &self.settings.retention,
                        self.settings.prune_chunk,
                    )
                    .await;
                let _ = reply.send(pruned);
                false
            }
            Job::Close { reply } => {
                // Closed before the answer: the store may close right after it, and SQLite
                // removes its log only once its last connection has closed.
                if let Some(conn) = self.conn.take() {
                    if let Err(e) = conn.close().await {
                        tracing::debug!(error = %e, "outbox: the writer's connection closed badly");
                    }
                }
                let _ = reply.send(());
                true
            }
            // Data jobs never get here: `Batch::push` keeps them.
            Job::Accept { reply, .. } => {
                let _ = reply.send(Err(StoreError::Outbox("misrouted job".into())));
                false
            }
            Job::Record { reply, .. } => {
                let _ = reply.send(Err(StoreError::Outbox("misrouted job".into())));
                false
            }
        }
    }

    async fn start_prune(&mut self) {
        match self
            .store
            .prune_plan(Timestamp::now(), &self.settings.retention)
            .await
        {
            Ok(plan) => self.pruning = Some(plan),
            Err(e) => tracing::warn!(error = %e, "outbox: prune not planned"),
        }
    }

    /// One chunk of the prune under way; ends it when nothing is left (or on an error: the
    /// next tick starts again).
    async fn prune_step(&mut self) {
        let Some(plan) = self.pruning else { return };
        match self
            .store
            .prune_step(&plan, self.settings.prune_chunk)
            .await
        {
            Ok(step) if step.is_empty() => self.pruning = None,
            Ok(Pruned {
                delivered,
                failed,
                keys,
            }) => tracing::debug!(delivered, failed, keys, "outbox: pruned"),
            Err(e) => {
                tracing::warn!(error = %e, "outbox: prune step failed");
                self.pruning = None;
            }
        }
    }
}

/// Checkpoints a SQLite file's log every `checkpoint_every` (passive: the commits go on
/// meanwhile) and, once it has grown past `wal_restart_pages`, once with a restart so that it
/// starts again. Runs until `stop` (never in the middle of a checkpoint); closing the pool
/// checkpoints the rest.
pub(super) async fn checkpointer(
    store: Store,
    settings: Arc<OutboxSettings>,
    gate: Arc<tokio::sync::Mutex<()>>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut tick = tokio::time::interval(settings.checkpoint_every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        let mut result = store.checkpoint(CheckpointMode::Passive).await;
        if let Ok(Some(pages)) = result {
            if pages > settings.wal_restart_pages {
                let _writer_waits = gate.lock().await;
                result = store.checkpoint(CheckpointMode::Restart).await;
                tracing::debug!(pages, outcome = ?result, "outbox: log restarted");
            }
        }
        match result {
            Ok(_) => failing = false,
            Err(e) if !failing => {
                // Once per run of failures (a read-only file fails every time).
                tracing::warn!(error = %e, "outbox: the write-ahead log was not checkpointed");
                failing = true;
            }
            Err(_) => {}
        }
    }
}
