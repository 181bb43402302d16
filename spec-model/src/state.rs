//! The state of the specification: a virtual clock, rooms, every delayed event ever scheduled
//! (scheduled, finalised or discarded: an id never disappears, so "never lost" is checkable), and
//! per-user positions (pagination cursors, `/sync` token, rate-limit windows, transaction ids).
//! Everything is ordered (`Vec` indexed by small ids, `BTreeMap`) so that hashing is canonical.

use crate::error::MatrixError;
use crate::power::PowerLevels;
use crate::types::{
    ContentId, DelayId, DeviceId, EventId, EventKind, EventType, Outcome, Reason, RoomId, StateKey, TxnId,
    UserId,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StateEntry {
    pub sender: UserId,
    pub content: ContentId,
    pub event_id: EventId,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Room {
    pub members: BTreeSet<UserId>,
    pub power: PowerLevels,
    /// Current state of the slots delayed events can target (`m.rtc.member` here).
    pub state: BTreeMap<(EventType, StateKey), StateEntry>,
}

/// LST-2: how a delayed event ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Finalisation {
    pub outcome: Outcome,
    pub reason: Reason,
    pub error: Option<MatrixError>,
    pub event_id: Option<EventId>,
    /// LST-8: the sent event's `origin_server_ts`, or the time it was finalised.
    pub ts: u64,
    /// Position in the server-wide order of finalisations (what `/sync` tokens count).
    pub seq: u16,
    /// Returned by a lookup or `/sync`, hence discardable (LST-5, PSH-3).
    pub returned: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    Scheduled,
    Finalised(Finalisation),
    /// Finalised, then dropped by retention or after being returned.
    Discarded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Delayed {
    pub owner: UserId,
    pub room: RoomId,
    pub kind: EventKind,
    pub content: ContentId,
    pub delay_ms: u64,
    /// Restarted at least once (not observable; witnesses and a mutant use it).
    pub restarted: bool,
    pub running_since: u64,
    pub status: Status,
}

impl Delayed {
    /// SRV-1: the earliest time the timer may send it.
    pub fn due(&self) -> u64 {
        self.running_since.saturating_add(self.delay_ms)
    }
    pub fn is_scheduled(&self) -> bool {
        self.status == Status::Scheduled
    }
    pub fn finalisation(&self) -> Option<&Finalisation> {
        match &self.status {
            Status::Finalised(f) => Some(f),
            _ => None,
        }
    }
}

/// A pagination token (LST-3, LST-7): the sort key of the last item returned, so that it stays
/// meaningful while items come and go. `Offset` exists only for the `OffsetTokens` mutant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Cursor {
    After { key: u64, id: DelayId },
    Offset(u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct RateWindow {
    pub start: u64,
    pub count: u8,
}

/// The four rate-limit classes (SEC-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RateClass {
    Scheduling = 0,
    Management = 1,
    Lookups = 2,
    Sending = 3,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct UserState {
    /// A guest account (SCH-21).
    #[serde(default)]
    pub guest: bool,
    pub scheduled_cursor: Option<Cursor>,
    pub finalised_cursor: Option<Cursor>,
    pub sync_since: Option<u16>,
    pub rate: [RateWindow; 4],
}

/// SCH-10: a transaction id's scope, as the Client-Server spec defines it: the device and the
/// request path (`/rooms/{room}/send/{type}/{txn}`, whether or not a delay is asked for).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxnKey {
    pub user: UserId,
    pub device: DeviceId,
    pub room: RoomId,
    pub event_type: EventType,
    pub txn: TxnId,
    /// The merged revision's `PUT .../delayed_event/...`: a path of its own (SCH-10, SCH-12).
    #[serde(default)]
    pub delayed_endpoint: bool,
}

/// What a transaction id was first used for (SCH-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TxnResult {
    Scheduled(DelayId),
    Sent(EventId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Clients act and time passes.
    Active,
    /// Clients have stopped; only time passes and timers fire (the liveness phase).
    Drain,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct State {
    /// Virtual clock, Unix ms.
    pub now: u64,
    pub phase: Phase,
    pub rooms: Vec<Room>,
    /// Indexed by `DelayId`.
    pub delayed: Vec<Delayed>,
    pub users: Vec<UserState>,
    pub txns: BTreeMap<TxnKey, TxnResult>,
    pub next_event: u16,
    pub finalise_seq: u16,
    /// PSH-4: what the application service has been sent.
    #[serde(default)]
    pub appservice: AppserviceQueue,
}

/// PSH-4: the homeserver's side of the transactions to the application service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppserviceQueue {
    /// Finalised events of the service's users not yet in a transaction, as they were finalised.
    /// Retention does not withdraw them (DECIDED: the text asks for all of them "since the
    /// previous transaction"; its retention sentence is about `/sync`).
    pub owed: Vec<crate::reply::FinalisedItem>,
    /// The last transaction, when the service did not acknowledge it: a retry carries exactly it.
    pub unacknowledged: Option<Vec<crate::reply::FinalisedItem>>,
}

impl State {
    /// `users` users; `rooms` rooms created by `UserId(0)`, with every user joined.
    pub fn new(users: u8, rooms: u8) -> Self {
        let creator = UserId(0);
        State {
            now: 0,
            phase: Phase::Active,
            rooms: (0..rooms)
                .map(|_| Room {
                    members: (0..users).map(UserId).collect(),
                    power: PowerLevels::created_by(creator),
                    state: BTreeMap::new(),
                })
                .collect(),
            delayed: Vec::new(),
            users: vec![UserState::default(); users as usize],
            txns: BTreeMap::new(),
            next_event: 0,
            finalise_seq: 0,
            appservice: AppserviceQueue::default(),
        }
    }

    /// The same with the last `guests` users guest accounts (SCH-21).
    pub fn with_guests(users: u8, rooms: u8, guests: u8) -> Self {
        let mut s = Self::new(users, rooms);
        let first = users.saturating_sub(guests) as usize;
        for u in &mut s.users[first..] {
            u.guest = true;
        }
        s
    }

    pub fn is_guest(&self, user: UserId) -> bool {
        self.users.get(user.0 as usize).is_some_and(|u| u.guest)
    }

    pub fn record(&self, id: DelayId) -> Option<&Delayed> {
        self.delayed.get(id.0 as usize)
    }

    pub fn ids(&self) -> impl Iterator<Item = DelayId> + '_ {
        (0..self.delayed.len()).map(|i| DelayId(i as u16))
    }

    pub fn scheduled_count(&self, user: UserId) -> usize {
        self.delayed.iter().filter(|d| d.owner == user && d.is_scheduled()).count()
    }
}
