//! What the core hands to the storage writer: one self-contained change per mutation, written in
//! the order the core made them. A change that must be atomic on disk is one value: a delayed
//! event sent with its finalised record, an ordinary send with its transaction id, a new room with
//! its initial events (PER-2, SRV-8: no event without its record, no record without its event).

use crate::engine::accounts::TxnPath;
use crate::engine::delayed::{Outcome, Reason};
use crate::engine::events::{Draft, Event};
use crate::engine::ids::DelayId;
use crate::error::MatrixError;
use std::sync::Arc;

/// A transaction id and the request path it was used on (SCH-10).
#[derive(Clone, Debug)]
pub struct TxnRow {
    pub user_id: Arc<str>,
    pub device_id: Arc<str>,
    pub path: TxnPath,
    pub room_id: Arc<str>,
    pub event_type: Arc<str>,
    pub txn_id: String,
}

impl TxnRow {
    pub fn new(
        s: &crate::engine::accounts::Session,
        path: TxnPath,
        room_id: &str,
        event_type: &Arc<str>,
        txn_id: &str,
    ) -> TxnRow {
        TxnRow {
            user_id: s.account.user_id.clone(),
            device_id: s.device_id.clone(),
            path,
            room_id: Arc::from(room_id),
            event_type: event_type.clone(),
            txn_id: txn_id.to_string(),
        }
    }
}

/// A delayed event as scheduled.
#[derive(Clone, Debug)]
pub struct ScheduledRow {
    pub id: DelayId,
    pub owner: Arc<str>,
    pub room_id: Arc<str>,
    pub draft: Draft,
    pub delay_ms: u64,
    pub running_since: u64,
}

/// A finalisation (SRV-8), with the event it sent, if any.
#[derive(Clone, Debug)]
pub struct FinalisedRow {
    pub id: DelayId,
    pub outcome: Outcome,
    pub reason: Reason,
    pub error: Option<MatrixError>,
    pub ts: u64,
    pub seq: u64,
    pub event_id: Option<Arc<str>>,
    /// The event written with the record; `None` for cancellations, and when the event was
    /// written by its own change (only under the planted fault that splits them).
    pub sent: Option<Arc<Event>>,
}

#[derive(Clone, Debug)]
pub enum Change {
    Account {
        user_id: Arc<str>,
        password: String,
        guest: bool,
    },
    Session {
        token: Arc<str>,
        user_id: Arc<str>,
        device_id: Arc<str>,
    },
    SessionGone {
        token: Arc<str>,
    },
    SessionsGone {
        user_id: Arc<str>,
    },
    Filter {
        user_id: Arc<str>,
        index: usize,
        body: String,
    },
    Room {
        room_id: Arc<str>,
        creator: Arc<str>,
        events: Vec<Arc<Event>>,
    },
    Event {
        event: Arc<Event>,
        txn: Option<TxnRow>,
    },
    Scheduled {
        row: ScheduledRow,
        txn: Option<TxnRow>,
    },
    Restarted {
        id: DelayId,
        running_since: u64,
    },
    Finalised(FinalisedRow),
    /// Records dropped by retention or once returned (LST-5, PSH-3).
    Discarded {
        ids: Vec<DelayId>,
    },
    /// PSH-4: the application service `service` acknowledged a transaction carrying these.
    AppserviceAcked {
        service: Arc<str>,
        ids: Vec<DelayId>,
    },
}
