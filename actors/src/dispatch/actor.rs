//! The DispatchActor: takes deliveries as their batch commits (and from the recovery poll),
//! sends them lane by lane, and records each outcome through the outbox writer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use tracing::Instrument as _;

use super::lanes::{LaneKey, Lanes, Queued};
use super::outcome::RetryPolicy;
use super::render::MappingCache;
use super::send::{CrmTarget, Round, Sender, Sent};
use crate::clock::Timestamp;
use crate::domain::{CrmContextId, DeliveryId, XelionContextId};
use crate::outbox::OutboxWriter;
use crate::store::{Delivery, StatusUpdate};
use crate::store::{Store, StoreResult};

/// Limits and timers of dispatch.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Requests in flight per crm context.
    pub per_crm_in_flight: usize,
    /// The time one CRM request may take.
    pub request_timeout: Duration,
    /// How often the outbox is asked for due retries and released work.
    pub poll_every: Duration,
    /// Rows claimed per poll.
    pub claim_batch: u32,
    /// How long a stopping server waits for the requests in flight ([`Drain`]).
    pub drain_deadline: Duration,
    /// The retry schedule and time-to-live.
    pub retry: RetryPolicy,
    /// Where outcomes, attempts and render times are counted.
    pub metrics: crate::metrics::Metrics,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            per_crm_in_flight: 16,
            request_timeout: Duration::from_secs(10),
            poll_every: Duration::from_secs(1),
            claim_batch: 1000,
            drain_deadline: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            metrics: crate::metrics::Metrics::default(),
        }
    }
}

impl Queued for Delivery {
    fn seq(&self) -> i64 {
        self.id.0
    }
    fn lane(&self) -> LaneKey {
        LaneKey {
            crm_context_id: self.crm_context_id,
            user_id: self.user_id,
            call_id: self.call_id.clone(),
        }
    }
}

/// Sends deliveries.
pub struct DispatchActor {
    store: Store,
    writer: OutboxWriter,
    /// Status updates, in the order they are made, to the task that queues them at the writer.
    updates: tokio::sync::mpsc::UnboundedSender<StatusUpdate>,
    /// The task that hands `updates` to the writer; awaited by [`Drain`].
    update_task: Option<tokio::task::JoinHandle<()>>,
    /// Rounds running now.
    in_flight: usize,
    /// Set by [`Drain`]: nothing new is started.
    draining: bool,
    /// Told when the last round in flight ends during a drain.
    drained: Vec<tokio::sync::oneshot::Sender<()>>,
    sender: Sender,
    settings: DispatchSettings,
    lanes: Lanes<Delivery>,
    /// Deliveries waiting for a retry: their lane stays busy until the poll claims them.
    deferred: HashMap<DeliveryId, (LaneKey, XelionContextId)>,
    /// Crm contexts as dispatch needs them, by id (dropped when their tenant changes).
    targets: HashMap<CrmContextId, Arc<CrmTarget>>,
    /// Compiled mappings: a reload of a target recompiles only the mappings that changed.
    cache: MappingCache,
    /// Increments whenever the targets are dropped: a load begun before is not cached.
    targets_gen: u64,
    polling: bool,
}

impl DispatchActor {
    pub fn new(
        store: Store,
        writer: OutboxWriter,
        sender: Sender,
        settings: DispatchSettings,
    ) -> Self {
        let (updates, mut queued) = tokio::sync::mpsc::unbounded_channel::<StatusUpdate>();
        let to_writer = writer.clone();
        let update_task = tokio::spawn(async move {
            while let Some(update) = queued.recv().await {
                if to_writer.queue_record(update).await.is_err() {
                    tracing::warn!(
                        "the outbox writer has stopped; status updates are not recorded"
                    );
                    break;
                }
            }
        });
        DispatchActor {
            updates,
            update_task: Some(update_task),
            in_flight: 0,
            draining: false,
            drained: Vec::new(),
            lanes: Lanes::new(settings.per_crm_in_flight),
            store,
            writer,
            sender,
            settings,
            deferred: HashMap::new(),
            targets: HashMap::new(),
            targets_gen: 0,
            cache: MappingCache::new(MappingCache::DEFAULT_CAPACITY),
            polling: false,
        }
    }

    fn record(&self, update: StatusUpdate) {
        self.settings.metrics.delivery_update(&update);
        let _ = self.updates.send(update);
    }

    /// Deliveries held in memory (waiting, in flight or waiting for a retry).
    pub fn held(&self) -> usize {
        self.lanes.len()
    }

    fn take(&mut self, deliveries: Vec<Delivery>) {
        if self.draining {
            // Stored and leased: the next start releases and sends them.
            return;
        }
        for d in deliveries {
            if let Some((_, _)) = self.deferred.remove(&d.id) {
                self.lanes.resume(d);
            } else {
                self.lanes.push(d);
            }
        }
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            return;
        }
        while let Some(d) = self.lanes.next_ready() {
            self.in_flight += 1;
            let cached = self.targets.get(&d.crm_context_id).cloned();
            let store = self.store.clone();
            let sender = self.sender.clone();
            let cache = self.cache.clone();
            let gen = self.targets_gen;
            let span = delivery_span(&d);
            let settle_span = span.clone();
            let job = async move {
                let (target, loaded) = match cached {
                    Some(t) => (Some(t), false),
                    None => {
                        match load_target(&store, &cache, d.xelion_context_id, d.crm_context_id)
                            .await
                        {
                            Ok(t) => (t, true),
                            Err(e) => {
                                tracing::warn!(delivery = %d.id, error = %e, "crm context could not be loaded");
                                return (d, None, None);
                            }
                        }
                    }
                };
                let round = sender.round(target.clone(), &d).await;
                (d, loaded.then_some(target).flatten(), Some(round))
            }
            .instrument(span);
            ctx.spawn(
                job.into_actor(self)
                    .map(move |(d, target, round), act, ctx| {
                        if let Some(t) = target {
                            if act.targets_gen == gen {
                                act.targets.insert(d.crm_context_id, t);
                            }
                        }
                        act.in_flight -= 1;
                        act.settle(d, round, &settle_span);
                        if act.draining && act.in_flight == 0 {
                            for waiter in act.drained.drain(..) {
                                let _ = waiter.send(());
                            }
                        }
                        act.pump(ctx);
                    }),
            );
        }
    }

    /// Records how a round ended and moves the lane on (or keeps it for a retry).
    fn settle(&mut self, d: Delivery, round: Option<Round>, span: &tracing::Span) {
        let _span = span.enter();
        let key = d.lane();
        let now = Timestamp::now();
        let Some(round) = round else {
            // The store failed before sending: due again at the next poll.
            self.deferred
                .insert(d.id, (key.clone(), d.xelion_context_id));
            self.lanes.defer(&key);
            return;
        };
        let mut attempts = d.attempts;
        if let Some(earlier) = round.earlier {
            attempts += 1;
            self.record(StatusUpdate::RetryAt {
                id: d.id,
                attempt: earlier,
                at: now.plus(self.writer.settings().lease),
            });
        }
        let update = match round.sent {
            Sent::Delivered(attempt) => StatusUpdate::Delivered { id: d.id, attempt },
            Sent::Failed { attempt, reason } => StatusUpdate::Failed {
                id: d.id,
                attempt,
                reason,
            },
            Sent::Held { reason } => StatusUpdate::Held { id: d.id, reason },
            Sent::Retry {
                attempt,
                retry_after,
            } => {
                let next = self.settings.retry.next_attempt(
                    attempts + 1,
                    d.ttl_from().to_system_time(),
                    retry_after,
                    SystemTime::now(),
                    &mut rand::thread_rng(),
                );
                match next {
                    Some(at) => {
                        tracing::info!(
                            crm_status = ?attempt.status,
                            error = attempt.error.as_deref().unwrap_or(""),
                            retry_at = %Timestamp::from_system_time(at).as_created_at(),
                            "the CRM did not take the delivery now; retrying"
                        );
                        self.record(StatusUpdate::RetryAt {
                            id: d.id,
                            attempt,
                            at: Timestamp::from_system_time(at),
                        });
                        self.deferred
                            .insert(d.id, (key.clone(), d.xelion_context_id));
                        self.lanes.defer(&key);
                        return;
                    }
                    None => StatusUpdate::Failed {
                        id: d.id,
                        attempt: Some(attempt),
                        reason: format!(
                            "not delivered within its time-to-live ({} s)",
                            self.settings.retry.ttl.as_secs()
                        ),
                    },
                }
            }
        };
        match &update {
            StatusUpdate::Delivered { attempt, .. } => {
                tracing::debug!(crm_status = ?attempt.status, ms = attempt.duration_ms, "delivered")
            }
            StatusUpdate::Failed { reason, .. } => {
                tracing::warn!(reason = %reason, "delivery failed")
            }
            StatusUpdate::Held { reason, .. } => {
                tracing::info!(reason = %reason, "delivery held until the user is authorised again")
            }
            _ => {}
        }
        self.record(update);
        self.lanes.finish(d.id.0, &key);
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.polling || self.draining {
            return;
        }
        self.polling = true;
        let writer = self.writer.clone();
        let batch = self.settings.claim_batch;
        let claim = async move { writer.claim_due(batch).await };
        ctx.spawn(claim.into_actor(self).map(move |res, act, ctx| {
            act.polling = false;
            match res {
                Ok(rows) => {
                    let full = rows.len() as u32 >= batch;
                    act.take(rows);
                    act.pump(ctx);
                    if full {
                        act.poll(ctx);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming due deliveries failed"),
            }
        }));
    }
}

/// The span of everything done for one delivery: its id and whose it is.
fn delivery_span(d: &Delivery) -> tracing::Span {
    tracing::info_span!(
        "delivery",
        id = %d.id,
        tenant = %d.xelion_context_id,
        crm_context = %d.crm_context_id,
        user = %d.user_id,
        event = %d.xelion_event
    )
}

/// A crm context's prefix and compiled mappings; `None` if it no longer exists.
async fn load_target(
    store: &Store,
    cache: &MappingCache,
    xid: XelionContextId,
    crm: CrmContextId,
) -> StoreResult<Option<Arc<CrmTarget>>> {
    let Some(ctx) = store.crm_context(xid, crm).await? else {
        return Ok(None);
    };
    let mut mappings = HashMap::new();
    for m in store.mappings(crm).await? {
        match cache.compiled(&m) {
            Ok(c) => {
                mappings.insert(m.id, c);
            }
            Err(e) => {
                tracing::warn!(mapping = %m.id, error = %e, "a stored mapping does not compile")
            }
        }
    }
    Ok(Some(Arc::new(CrmTarget {
        authorization_header_prefix: ctx.authorization_header_prefix,
        mappings,
    })))
}

impl Actor for DispatchActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.poll(ctx);
        ctx.run_interval(self.settings.poll_every, |act, ctx| act.poll(ctx));
        let mut unparked = self.sender.tokens.subscribe_unparked();
        let store = self.store.clone();
        let me = ctx.address();
        actix::spawn(async move {
            loop {
                match unparked.recv().await {
                    Ok(user) => {
                        match store.release_held(user).await {
                            Ok(n) if n > 0 => {
                                tracing::info!(user = %user, deliveries = n, "held deliveries released")
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(user = %user, error = %e, "releasing held deliveries failed")
                            }
                        }
                        me.do_send(PollNow);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => me.do_send(PollNow),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }
}

/// Deliveries whose batch committed: send them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Dispatch(pub Vec<Delivery>);

impl Handler<Dispatch> for DispatchActor {
    type Result = ();
    fn handle(&mut self, msg: Dispatch, ctx: &mut Context<Self>) {
        self.take(msg.0);
        self.pump(ctx);
    }
}

/// Look for due work now (a retry asked through the API, released deliveries).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PollNow;

impl Handler<PollNow> for DispatchActor {
    type Result = ();
    fn handle(&mut self, _: PollNow, ctx: &mut Context<Self>) {
        self.poll(ctx);
    }
}

/// A tenant's configuration changed (`deleted`: it is gone with its deliveries).
#[derive(Message)]
#[rtype(result = "()")]
pub struct TenantChanged {
    pub xelion_context_id: XelionContextId,
    pub deleted: bool,
}

impl Handler<TenantChanged> for DispatchActor {
    type Result = ();
    fn handle(&mut self, msg: TenantChanged, _: &mut Context<Self>) {
        let xid = msg.xelion_context_id;
        // Targets are few; dropping all is simpler than tracking which belong to `xid`, and a
        // reload is one query per crm context.
        self.targets_gen += 1;
        self.targets.clear();
        if msg.deleted {
            let gone = self.lanes.remove_where(|d| d.xelion_context_id == xid);
            let deferred: Vec<(DeliveryId, LaneKey)> = self
                .deferred
                .iter()
                .filter(|(_, (_, x))| *x == xid)
                .map(|(id, (key, _))| (*id, key.clone()))
                .collect();
            for (id, key) in &deferred {
                self.deferred.remove(id);
                self.lanes.abandon(id.0, key);
            }
            tracing::info!(id = %xid, dropped = gone.len() + deferred.len(), "integration deleted: its deliveries stop");
        }
    }
}

/// The server is stopping: start nothing new, wait up to `deadline` for the rounds in flight,
/// and hand every outcome recorded so far to the writer. Deliveries not finished stay in the
/// outbox (leased; the next start releases and sends them). Answers what was left unfinished.
#[derive(Message)]
#[rtype(result = "Drained")]
pub struct Drain {
    pub deadline: Duration,
}

/// How a [`Drain`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub struct Drained {
    /// Rounds in flight when the drain began.
    pub in_flight: usize,
    /// Rounds still in flight at the deadline (sent again after the next start).
    pub unfinished: usize,
}

impl Handler<Drain> for DispatchActor {
    type Result = ResponseActFuture<Self, Drained>;

    fn handle(&mut self, msg: Drain, _: &mut Context<Self>) -> Self::Result {
        self.draining = true;
        let in_flight = self.in_flight;
        let (tx, rx) = tokio::sync::oneshot::channel();
        if in_flight == 0 {
            let _ = tx.send(());
        } else {
            self.drained.push(tx);
        }
        Box::pin(
            async move {
                let _ = tokio::time::timeout(msg.deadline, rx).await;
            }
            .into_actor(self)
            .then(move |(), act, _| {
                let unfinished = act.in_flight;
                // Closing the channel lets the task pass on what is queued, then end.
                act.updates = tokio::sync::mpsc::unbounded_channel().0;
                let task = act.update_task.take();
                async move {
                    if let Some(task) = task {
                        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
                    }
                    Drained {
                        in_flight,
                        unfinished,
                    }
                }
                .into_actor(act)
            }),
        )
    }
}
