//! The delayed-event store of one user: scheduled events indexed by due time, and finalised
//! records indexed by finalisation order and by `origin_server_ts`. Pure data, no locks and no
//! clock: the engine holds the owner's lock and passes `now`.
//!
//! SRV-8: an event leaves `scheduled` only through [`UserDelays::take`], and the engine records
//! it as finalised in the same critical section, so it is finalised exactly once.

use super::events::Draft;
use super::ids::DelayId;
use super::rooms::RoomCell;
use crate::error::MatrixError;
use crate::sync::Arc;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Clone)]
pub struct Scheduled {
    pub room: Arc<RoomCell>,
    pub draft: Draft,
    pub delay_ms: u64,
    pub running_since: u64,
}

impl Scheduled {
    /// SRV-1: the earliest time it may be sent.
    pub fn due(&self) -> u64 {
        self.running_since.saturating_add(self.delay_ms)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Send,
    Cancel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Error,
    Action,
    Delay,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Send => "send",
            Outcome::Cancel => "cancel",
        }
    }
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Error => "error",
            Reason::Action => "action",
            Reason::Delay => "delay",
        }
    }
}

#[derive(Clone)]
pub struct Finalised {
    pub event: Scheduled,
    pub outcome: Outcome,
    pub reason: Reason,
    pub error: Option<Box<MatrixError>>,
    pub event_id: Option<Arc<str>>,
    /// LST-8: the sent event's `origin_server_ts`, or the finalisation time.
    pub ts: u64,
    pub seq: u64,
}

/// LST-5 retention.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub max_age_ms: u64,
    pub max_per_user: usize,
}

#[derive(Default)]
pub struct UserDelays {
    scheduled: HashMap<DelayId, Scheduled>,
    by_due: BTreeSet<(u64, DelayId)>,
    finalised: HashMap<DelayId, Finalised>,
    by_seq: BTreeMap<u64, DelayId>,
    by_ts: BTreeSet<(u64, DelayId)>,
    last_seq: u64,
    /// Fault `redundant_send_stalls_others`: this user's timers no longer fire.
    #[cfg(feature = "faults")]
    pub stalled: bool,
    /// Fault `per_user_delay_ids`: the ids issued to this user so far.
    #[cfg(feature = "faults")]
    pub issued: u64,
}

pub type Key = (u64, DelayId);

impl UserDelays {
    /// SCH-7: the events counted against the per-user limit.
    pub fn outstanding(&self) -> usize {
        self.scheduled.len()
    }

    /// The earliest due time among the scheduled events.
    pub fn next_due(&self) -> Option<u64> {
        self.by_due.first().map(|(due, _)| *due)
    }

    pub fn scheduled(&self, id: DelayId) -> Option<&Scheduled> {
        self.scheduled.get(&id)
    }

    pub fn finalised(&self, id: DelayId) -> Option<&Finalised> {
        self.finalised.get(&id)
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn insert(&mut self, id: DelayId, s: Scheduled) {
        self.by_due.insert((s.due(), id));
        self.scheduled.insert(id, s);
    }

    /// MGT-5: the timer starts again from `now`; returns the new due time.
    pub fn restart(&mut self, id: DelayId, now: u64) -> Option<u64> {
        let s = self.scheduled.get_mut(&id)?;
        self.by_due.remove(&(s.due(), id));
        s.running_since = now;
        let due = s.due();
        self.by_due.insert((due, id));
        Some(due)
    }

    /// Take a scheduled event out; the caller must [`UserDelays::record`] it before releasing
    /// the lock.
    pub fn take(&mut self, id: DelayId) -> Option<Scheduled> {
        let s = self.scheduled.remove(&id)?;
        self.by_due.remove(&(s.due(), id));
        Some(s)
    }

    /// Record the finalisation of a taken event.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        id: DelayId,
        event: Scheduled,
        outcome: Outcome,
        reason: Reason,
        error: Option<MatrixError>,
        event_id: Option<Arc<str>>,
        ts: u64,
    ) -> u64 {
        self.last_seq += 1;
        let seq = self.last_seq;
        self.by_seq.insert(seq, id);
        self.by_ts.insert((ts, id));
        self.finalised
            .insert(id, Finalised { event, outcome, reason, error: error.map(Box::new), event_id, ts, seq });
        seq
    }

    /// LST-5: drop records older than the age limit and beyond the count limit, oldest
    /// finalisation first.
    /// Returns the ids dropped.
    pub fn enforce_retention(&mut self, now: u64, r: Retention) -> Vec<DelayId> {
        let mut dropped = Vec::new();
        while let Some((_, &id)) = self.by_seq.iter().next() {
            let expired = self.finalised.get(&id).is_some_and(|f| now > f.ts.saturating_add(r.max_age_ms));
            if !expired && self.by_seq.len() <= r.max_per_user {
                break;
            }
            self.discard(id);
            dropped.push(id);
        }
        dropped
    }

    /// A record read back from the data directory, with its original sequence number.
    pub fn restore_record(&mut self, id: DelayId, f: Finalised) {
        self.last_seq = self.last_seq.max(f.seq);
        self.by_seq.insert(f.seq, id);
        self.by_ts.insert((f.ts, id));
        self.finalised.insert(id, f);
    }

    /// LST-5 / PSH-3: forget a finalised record (after retention, or once returned).
    pub fn discard(&mut self, id: DelayId) {
        if let Some(f) = self.finalised.remove(&id) {
            self.by_seq.remove(&f.seq);
            self.by_ts.remove(&(f.ts, id));
        }
    }

    /// LST-1 / LST-7: up to `n` scheduled events after `after` in (due, delay_id) order, and the
    /// key of the last one when more follow.
    pub fn scheduled_page(&self, after: Option<Key>, n: usize) -> (Vec<(DelayId, &Scheduled)>, Option<Key>) {
        use std::ops::Bound::{Excluded, Unbounded};
        let lower = after.map_or(Unbounded, Excluded);
        let mut it = self.by_due.range((lower, Unbounded));
        let keys: Vec<Key> = it.by_ref().take(n).copied().collect();
        let more = it.next().is_some();
        let next = if more { keys.last().copied() } else { None };
        (keys.iter().filter_map(|(_, id)| self.scheduled.get(id).map(|s| (*id, s))).collect(), next)
    }

    /// LST-6: every scheduled event, due soonest first.
    pub fn scheduled_all(&self) -> Vec<(DelayId, &Scheduled)> {
        self.by_due.iter().filter_map(|(_, id)| self.scheduled.get(id).map(|s| (*id, s))).collect()
    }

    /// LST-2 / LST-7: up to `n` finalised records before `before` in descending
    /// (origin_server_ts, delay_id) order, and the key of the last one when more follow.
    pub fn finalised_page(&self, before: Option<Key>, n: usize) -> (Vec<DelayId>, Option<Key>) {
        use std::ops::Bound::{Excluded, Unbounded};
        let upper = before.map_or(Unbounded, Excluded);
        let mut it = self.by_ts.range((Unbounded, upper)).rev();
        let keys: Vec<Key> = it.by_ref().take(n).copied().collect();
        let more = it.next().is_some();
        let next = if more { keys.last().copied() } else { None };
        (keys.into_iter().map(|(_, id)| id).collect(), next)
    }

    /// PSH-1: records finalised after `since_seq`, newest first.
    pub fn finalised_since(&self, since_seq: u64) -> Vec<DelayId> {
        let mut ids: Vec<(u64, DelayId)> = self
            .by_seq
            .range(since_seq.saturating_add(1)..)
            .filter_map(|(_, id)| self.finalised.get(id).map(|f| (f.ts, *id)))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// Checks the store's own indexes agree (used by tests and fuzzing).
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.by_due.len() != self.scheduled.len() {
            return Err(format!("by_due has {} keys, scheduled {}", self.by_due.len(), self.scheduled.len()));
        }
        for (due, id) in &self.by_due {
            match self.scheduled.get(id) {
                Some(s) if s.due() == *due => {}
                _ => return Err(format!("by_due entry {id} at {due} is stale")),
            }
            if self.finalised.contains_key(id) {
                return Err(format!("{id} is both scheduled and finalised"));
            }
        }
        if self.by_seq.len() != self.finalised.len() || self.by_ts.len() != self.finalised.len() {
            return Err("finalised indexes disagree".into());
        }
        for (ts, id) in &self.by_ts {
            if self.finalised.get(id).map(|f| f.ts) != Some(*ts) {
                return Err(format!("by_ts entry {id} is stale"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::{empty_object, Draft};
    use crate::engine::rooms::Room;
    use crate::sync::Mutex;

    fn scheduled(delay_ms: u64, running_since: u64) -> Scheduled {
        let id: Arc<str> = Arc::from("!r:x");
        let room = Arc::new(RoomCell { id: id.clone(), room: Mutex::new(Room::new(id, Arc::from("@a:x"))) });
        let draft =
            Draft { event_type: Arc::from("m.room.message"), state_key: None, content: empty_object() };
        Scheduled { room, draft, delay_ms, running_since }
    }

    // covers: SRV-8 MGT-5
    // Would catch: the store's due-time index and records drifting apart after take/record/restart.
    #[test]
    fn take_record_restart_keep_indexes_consistent() {
        let mut d = UserDelays::default();
        let (a, b) = (DelayId(1), DelayId(2));
        d.insert(a, scheduled(100, 0));
        d.insert(b, scheduled(50, 0));
        assert_eq!(d.scheduled_all().iter().map(|(id, _)| *id).collect::<Vec<_>>(), [b, a]);
        assert_eq!(d.restart(b, 80), Some(130));
        assert_eq!(d.scheduled_all().iter().map(|(id, _)| *id).collect::<Vec<_>>(), [a, b]);
        let taken = d.take(a).expect("scheduled");
        assert!(d.take(a).is_none(), "taken once");
        d.record(a, taken, Outcome::Send, Reason::Delay, None, None, 100);
        assert!(d.restart(a, 120).is_none(), "a finalised event cannot restart");
        d.check_invariants().expect("consistent");
    }

    /// The invariant check is not vacuous: each kind of corruption is reported.
    #[test]
    fn invariant_check_detects_corruption() {
        let mut d = UserDelays::default();
        d.insert(DelayId(1), scheduled(100, 0));
        d.by_due.insert((999, DelayId(1)));
        assert!(d.check_invariants().is_err(), "stale due index");

        let mut d = UserDelays::default();
        d.insert(DelayId(1), scheduled(100, 0));
        let s = scheduled(100, 0);
        d.record(DelayId(1), s, Outcome::Cancel, Reason::Action, None, None, 5);
        assert!(d.check_invariants().is_err(), "both scheduled and finalised");

        let mut d = UserDelays::default();
        d.record(DelayId(3), scheduled(1, 0), Outcome::Cancel, Reason::Action, None, None, 5);
        d.by_ts.clear();
        assert!(d.check_invariants().is_err(), "finalised index missing");
    }

    // covers: LST-5
    // Would catch: retention by count dropping the newest record when timestamps tie.
    #[test]
    fn retention_drops_oldest_finalisation_first_even_on_timestamp_ties() {
        let mut d = UserDelays::default();
        for i in 0..4 {
            d.record(DelayId(10 - i), scheduled(1, 0), Outcome::Cancel, Reason::Action, None, None, 7);
        }
        d.enforce_retention(7, Retention { max_age_ms: 1000, max_per_user: 2 });
        assert!(d.finalised(DelayId(10)).is_none() && d.finalised(DelayId(9)).is_none());
        assert!(d.finalised(DelayId(8)).is_some() && d.finalised(DelayId(7)).is_some());
        d.enforce_retention(1008, Retention { max_age_ms: 1000, max_per_user: 2 });
        assert!(d.finalised(DelayId(8)).is_none(), "older than the age limit");
    }
}
