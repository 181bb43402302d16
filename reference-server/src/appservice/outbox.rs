//! What the homeserver owes one application service: the events of interest and PSH-4's
//! finalised delayed events, queued in the order they happened, and the transaction in flight.
//! A transaction is fixed when first taken; until the service acknowledges it, every retry is
//! the same transaction (same id, same contents), and whatever happens meanwhile waits for the
//! next one. So nothing is skipped and nothing is delivered under two transaction ids.

use crate::engine::events::Event;
use crate::engine::ids::DelayId;
use crate::engine::lookups::FinalisedView;
use std::collections::VecDeque;
use std::sync::Arc;

/// At most this many room events per transaction (Synapse's figure); finalised events are not
/// capped, since PSH-4 asks for all of them "since the previous transaction".
pub const MAX_EVENTS: usize = 100;

#[derive(Clone, Debug)]
pub struct Transaction {
    pub txn_id: String,
    pub events: Vec<Arc<Event>>,
    pub finalised: Vec<FinalisedView>,
    /// How many times it was taken before (0: a fresh transaction).
    pub attempt: u32,
}

#[derive(Debug, Default)]
pub struct Outbox {
    events: VecDeque<Arc<Event>>,
    finalised: VecDeque<FinalisedView>,
    in_flight: Option<Transaction>,
    next_txn: u64,
}

impl Outbox {
    pub fn push_event(&mut self, e: Arc<Event>) {
        self.events.push_back(e);
    }

    pub fn push_finalised(&mut self, f: FinalisedView) {
        self.finalised.push_back(f);
    }

    /// The transaction to send now: the unacknowledged one again, or a fresh one from the
    /// queues (`prefix` makes ids unique across restarts), or none when nothing is owed.
    pub fn take(&mut self, prefix: &str, retry_drops_record: bool) -> Option<Transaction> {
        if let Some(t) = &mut self.in_flight {
            t.attempt += 1;
            if retry_drops_record && !t.finalised.is_empty() {
                t.finalised.remove(0);
            }
            return Some(t.clone());
        }
        if self.events.is_empty() && self.finalised.is_empty() {
            return None;
        }
        self.next_txn += 1;
        let n = self.events.len().min(MAX_EVENTS);
        let t = Transaction {
            txn_id: format!("{prefix}.{}", self.next_txn),
            events: self.events.drain(..n).collect(),
            finalised: self.finalised.drain(..).collect(),
            attempt: 0,
        };
        self.in_flight = Some(t.clone());
        Some(t)
    }

    /// The service answered `txn_id` with success: when that was the transaction in flight,
    /// the delay ids of the finalised events it carried.
    pub fn acknowledge(&mut self, txn_id: &str) -> Option<Vec<DelayId>> {
        let t = self.in_flight.take_if(|t| t.txn_id == txn_id)?;
        Some(t.finalised.iter().map(|f| f.delayed.delay_id).collect())
    }

    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.events.is_empty() && self.finalised.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::delayed::{Outcome, Reason};
    use crate::engine::lookups::ScheduledView;

    fn record(n: u128) -> FinalisedView {
        FinalisedView {
            delayed: ScheduledView {
                delay_id: DelayId(n),
                room_id: Arc::from("!r:x"),
                event_type: Arc::from("m.room.message"),
                state_key: None,
                delay: 1000,
                running_since: 0,
                content: serde_json::value::RawValue::from_string("{}".into()).expect("literal JSON"),
            },
            outcome: Outcome::Cancel,
            reason: Reason::Action,
            error: None,
            event_id: None,
            origin_server_ts: n as u64,
        }
    }

    fn ids(t: &Transaction) -> Vec<u128> {
        t.finalised.iter().map(|f| f.delayed.delay_id.0).collect()
    }

    // covers: PSH-4
    // Would catch: a retry that rebuilds the transaction (new id, or records finalised meanwhile
    // mixed in), and an acknowledgement of a stale id clearing the transaction in flight.
    #[test]
    fn a_retry_is_the_same_transaction_and_later_records_wait_for_the_next() {
        let mut o = Outbox::default();
        assert!(o.take("p", false).is_none(), "nothing owed, no transaction");
        o.push_finalised(record(1));
        o.push_finalised(record(2));
        let first = o.take("p", false).expect("two records owed");
        assert_eq!((first.txn_id.as_str(), ids(&first), first.attempt), ("p.1", vec![1, 2], 0));
        o.push_finalised(record(3));
        let again = o.take("p", false).expect("unacknowledged");
        assert_eq!((again.txn_id.as_str(), ids(&again), again.attempt), ("p.1", vec![1, 2], 1));
        assert_eq!(o.acknowledge("p.0"), None, "a stale id acknowledges nothing");
        assert_eq!(o.acknowledge("p.1"), Some(vec![DelayId(1), DelayId(2)]));
        let next = o.take("p", false).expect("record 3 owed");
        assert_eq!((next.txn_id.as_str(), ids(&next)), ("p.2", vec![3]));
        assert!(o.acknowledge("p.2").is_some() && o.is_idle());
        assert!(o.take("p", false).is_none());
    }
}
