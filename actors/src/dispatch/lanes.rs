//! The order and fairness of dispatch, without I/O: deliveries wait in lanes, one lane per
//! (crm context, user, callId), and go out one at a time per lane in id (event) order. A
//! lane whose head is retrying keeps the rest of its call waiting, and nothing else. Each crm
//! context has its own limit of requests in flight, and ready lanes are served round robin
//! across crm contexts, so one slow or failing CRM does not hold the others back.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::domain::{CrmContextId, UserId};

/// The lane of a delivery: deliveries sharing it are sent in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LaneKey {
    pub crm_context_id: CrmContextId,
    pub user_id: UserId,
    pub call_id: String,
}

/// What a lane needs to know of a delivery.
pub trait Queued {
    /// Monotonic in event order.
    fn seq(&self) -> i64;
    fn lane(&self) -> LaneKey;
}

#[derive(Debug)]
struct Lane<T> {
    waiting: BTreeMap<i64, T>,
    /// Its head is being sent or waits for a retry: the others wait.
    busy: bool,
}

/// Deliveries waiting to be sent, by lane and crm context.
#[derive(Debug)]
pub struct Lanes<T> {
    lanes: HashMap<LaneKey, Lane<T>>,
    /// Lanes with a head to send, per crm context.
    ready: HashMap<CrmContextId, VecDeque<LaneKey>>,
    /// Crm contexts with a ready lane, in round-robin order.
    turn: VecDeque<CrmContextId>,
    in_flight: HashMap<CrmContextId, usize>,
    /// Every delivery held here, busy or waiting.
    known: HashSet<i64>,
    per_crm_limit: usize,
}

impl<T: Queued> Lanes<T> {
    /// Empty lanes allowing `per_crm_limit` (at least 1) requests in flight per crm context.
    pub fn new(per_crm_limit: usize) -> Self {
        Lanes {
            lanes: HashMap::new(),
            ready: HashMap::new(),
            turn: VecDeque::new(),
            in_flight: HashMap::new(),
            known: HashSet::new(),
            per_crm_limit: per_crm_limit.max(1),
        }
    }

    /// Deliveries held (waiting, in flight or waiting for a retry).
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Whether a delivery is held here.
    pub fn contains(&self, seq: i64) -> bool {
        self.known.contains(&seq)
    }

    /// Adds a delivery; false (and dropped) if it is already here.
    pub fn push(&mut self, item: T) -> bool {
        let seq = item.seq();
        if !self.known.insert(seq) {
            return false;
        }
        let key = item.lane();
        let lane = self.lanes.entry(key.clone()).or_insert_with(|| Lane {
            waiting: BTreeMap::new(),
            busy: false,
        });
        let was_idle = lane.waiting.is_empty() && !lane.busy;
        lane.waiting.insert(seq, item);
        if was_idle {
            self.make_ready(key);
        }
        true
    }

    fn make_ready(&mut self, key: LaneKey) {
        let crm = key.crm_context_id;
        let queue = self.ready.entry(crm).or_default();
        if queue.is_empty() {
            self.turn.push_back(crm);
        }
        queue.push_back(key);
    }

    /// The next delivery to send, if a crm context with room has a ready lane. It counts as
    /// in flight until [`Lanes::finish`] or [`Lanes::defer`].
    pub fn next_ready(&mut self) -> Option<T> {
        for _ in 0..self.turn.len() {
            let crm = self.turn.pop_front()?;
            let busy = self.in_flight.get(&crm).copied().unwrap_or(0);
            if busy >= self.per_crm_limit {
                self.turn.push_back(crm);
                continue;
            }
            let queue = self.ready.get_mut(&crm)?;
            let key = queue.pop_front()?;
            if queue.is_empty() {
                self.ready.remove(&crm);
            } else {
                self.turn.push_back(crm);
            }
            let lane = self.lanes.get_mut(&key)?;
            let (_, item) = lane.waiting.pop_first()?;
            lane.busy = true;
            *self.in_flight.entry(crm).or_default() += 1;
            return Some(item);
        }
        None
    }

    fn release_slot(&mut self, crm: CrmContextId) {
        if let Some(n) = self.in_flight.get_mut(&crm) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(&crm);
            }
        }
    }

    /// The delivery in flight is done for good (delivered, failed or held): its lane moves on.
    pub fn finish(&mut self, seq: i64, key: &LaneKey) {
        self.known.remove(&seq);
        self.release_slot(key.crm_context_id);
        self.lane_moves_on(key);
    }

    fn lane_moves_on(&mut self, key: &LaneKey) {
        let Some(lane) = self.lanes.get_mut(key) else {
            return;
        };
        lane.busy = false;
        if lane.waiting.is_empty() {
            self.lanes.remove(key);
        } else {
            self.make_ready(key.clone());
        }
    }

    /// The delivery in flight waits for a retry: it frees its slot but keeps its lane busy;
    /// [`Lanes::resume`] puts it back at the head when its time comes.
    pub fn defer(&mut self, key: &LaneKey) {
        self.release_slot(key.crm_context_id);
    }

    /// A deferred delivery will not come back (its row is gone): its lane moves on.
    pub fn abandon(&mut self, seq: i64, key: &LaneKey) {
        self.known.remove(&seq);
        self.lane_moves_on(key);
    }

    /// A deferred delivery is due again: back at the head of its lane, which is ready.
    pub fn resume(&mut self, item: T) {
        let key = item.lane();
        let seq = item.seq();
        self.known.insert(seq);
        let lane = self.lanes.entry(key.clone()).or_insert_with(|| Lane {
            waiting: BTreeMap::new(),
            busy: false,
        });
        lane.waiting.insert(seq, item);
        lane.busy = false;
        self.make_ready(key);
    }

    /// Removes every waiting delivery matching `drop` (an integration deleted, a user parked)
    /// and answers them. In-flight and deferred ones are not here to remove; their owners see
    /// the change when they finish.
    pub fn remove_where(&mut self, mut drop: impl FnMut(&T) -> bool) -> Vec<T> {
        let mut out = Vec::new();
        for lane in self.lanes.values_mut() {
            let gone: Vec<i64> = lane
                .waiting
                .iter()
                .filter(|(_, t)| drop(t))
                .map(|(s, _)| *s)
                .collect();
            for s in gone {
                if let Some(t) = lane.waiting.remove(&s) {
                    self.known.remove(&s);
                    out.push(t);
                }
            }
        }
        let lanes = &self.lanes;
        for queue in self.ready.values_mut() {
            queue.retain(|k| lanes.get(k).is_some_and(|l| !l.waiting.is_empty()));
        }
        self.ready.retain(|_, q| !q.is_empty());
        let ready = &self.ready;
        self.turn.retain(|c| ready.contains_key(c));
        self.lanes.retain(|_, l| l.busy || !l.waiting.is_empty());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct D {
        seq: i64,
        crm: i64,
        user: i64,
        call: &'static str,
    }

    impl Queued for D {
        fn seq(&self) -> i64 {
            self.seq
        }
        fn lane(&self) -> LaneKey {
            LaneKey {
                crm_context_id: CrmContextId(self.crm),
                user_id: UserId(self.user),
                call_id: self.call.to_string(),
            }
        }
    }

    fn d(seq: i64, crm: i64, call: &'static str) -> D {
        D {
            seq,
            crm,
            user: 1,
            call,
        }
    }

    #[test]
    fn one_call_goes_out_in_order_one_at_a_time() {
        let mut lanes = Lanes::new(10);
        lanes.push(d(2, 1, "a"));
        lanes.push(d(1, 1, "a"));
        let first = lanes.next_ready().unwrap();
        assert_eq!(first.seq, 1, "lowest id first, whatever the push order");
        assert!(
            lanes.next_ready().is_none(),
            "the second waits for the first"
        );
        lanes.finish(1, &first.lane());
        assert_eq!(lanes.next_ready().unwrap().seq, 2);
        assert!(
            !lanes.push(d(2, 1, "a")),
            "a delivery already here is not added twice"
        );
    }

    #[test]
    fn a_retrying_call_holds_back_only_itself() {
        let mut lanes = Lanes::new(10);
        lanes.push(d(1, 1, "a"));
        lanes.push(d(2, 1, "a"));
        lanes.push(d(3, 1, "b"));
        let a1 = lanes.next_ready().unwrap();
        lanes.defer(&a1.lane());
        assert_eq!(
            lanes.next_ready().unwrap().seq,
            3,
            "the other call is not stuck"
        );
        assert!(lanes.next_ready().is_none(), "call a waits for its retry");
        lanes.resume(a1);
        assert_eq!(
            lanes.next_ready().unwrap().seq,
            1,
            "the retried one before its successor"
        );
    }

    #[test]
    fn a_full_crm_context_does_not_block_another() {
        let mut lanes = Lanes::new(1);
        lanes.push(d(1, 1, "a"));
        lanes.push(d(2, 1, "b"));
        lanes.push(d(3, 2, "c"));
        let first = lanes.next_ready().unwrap();
        assert_eq!(first.crm, 1);
        let second = lanes.next_ready().unwrap();
        assert_eq!(second.seq, 3, "crm 1 is at its limit; crm 2 goes");
        assert!(lanes.next_ready().is_none());
        lanes.finish(first.seq, &first.lane());
        assert_eq!(lanes.next_ready().unwrap().seq, 2);
    }

    #[test]
    fn ready_lanes_are_served_round_robin_across_crm_contexts() {
        let mut lanes = Lanes::new(100);
        for i in 0..10 {
            lanes.push(D {
                seq: i,
                crm: 1,
                user: 1,
                call: Box::leak(format!("c{i}").into_boxed_str()),
            });
        }
        lanes.push(d(100, 2, "x"));
        let first_two: Vec<i64> = (0..2).map(|_| lanes.next_ready().unwrap().crm).collect();
        assert_eq!(
            first_two,
            [1, 2],
            "crm 2 does not wait behind crm 1's backlog"
        );
    }

    #[test]
    fn removing_drops_waiting_ones_and_keeps_order() {
        let mut lanes = Lanes::new(10);
        lanes.push(d(1, 1, "a"));
        lanes.push(d(2, 1, "a"));
        lanes.push(d(3, 2, "b"));
        let a1 = lanes.next_ready().unwrap();
        let gone = lanes.remove_where(|x| x.crm == 2 || x.seq == 2);
        assert_eq!(gone.len(), 2);
        assert_eq!(lanes.len(), 1, "only the one in flight");
        lanes.finish(a1.seq, &a1.lane());
        assert!(lanes.next_ready().is_none());
        assert!(lanes.is_empty());
    }
}
