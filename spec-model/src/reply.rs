//! The outputs of the specification: exactly what the server answers (`Reply`, rendered to a
//! status and JSON body by `render`) and the observable effects on rooms (`RoomEvent`).

use crate::error::MatrixError;
use crate::state::{Cursor, Delayed, Finalisation};
use crate::types::{ContentId, DelayId, EventId, EventKind, Outcome, Reason, RoomId, UserId};
use serde::{Deserialize, Serialize};

/// LST-1: one item of the scheduled list (also the `delayed_event` of a finalised item).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScheduledItem {
    pub delay_id: DelayId,
    pub room: RoomId,
    pub kind: EventKind,
    pub delay_ms: u64,
    pub running_since: u64,
    pub content: ContentId,
}

impl ScheduledItem {
    pub fn of(id: DelayId, d: &Delayed) -> Self {
        ScheduledItem {
            delay_id: id,
            room: d.room,
            kind: d.kind,
            delay_ms: d.delay_ms,
            running_since: d.running_since,
            content: d.content,
        }
    }
}

/// LST-2: one item of the finalised list and of `/sync`'s `finalised_events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FinalisedItem {
    pub delayed_event: ScheduledItem,
    pub outcome: Outcome,
    pub reason: Reason,
    pub error: Option<MatrixError>,
    pub event_id: Option<EventId>,
    pub origin_server_ts: u64,
}

impl FinalisedItem {
    pub fn of(id: DelayId, d: &Delayed, f: &Finalisation) -> Self {
        FinalisedItem {
            delayed_event: ScheduledItem::of(id, d),
            outcome: f.outcome,
            reason: f.reason,
            error: f.error,
            event_id: f.event_id,
            origin_server_ts: f.ts,
        }
    }
}

/// LKP-1: one delayed event as the single lookup shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LookupItem {
    Scheduled(ScheduledItem),
    Finalised(FinalisedItem),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// SCH-3: 200 `{"delay_id": ...}`.
    DelayId(DelayId),
    /// MGT-9 and leave: 200 `{}`.
    Empty,
    /// Ordinary send: 200 `{"event_id": ...}`.
    EventId(EventId),
    /// Join: 200 `{"room_id": ...}`.
    Joined(RoomId),
    Error(MatrixError),
    /// LST-1, LST-3.
    Scheduled {
        items: Vec<ScheduledItem>,
        next_batch: Option<Cursor>,
    },
    /// LST-6: `{"delayed_events": [...]}`.
    BareScheduled(Vec<ScheduledItem>),
    /// LST-2, LST-3.
    Finalised {
        items: Vec<FinalisedItem>,
        next_batch: Option<Cursor>,
    },
    /// PSH-1: `finalised` is `None` when the key is absent.
    Sync {
        finalised: Option<Vec<FinalisedItem>>,
        next_batch: u16,
    },
    /// LKP-1.
    Lookup(LookupItem),
    /// DSC-4, DSC-5: `m.delayed_events` with the limits that apply (`None`: no capability).
    Capabilities(Option<Limits>),
    /// PSH-4: the finalised events an application-service transaction carries (`retry`: the
    /// same transaction again).
    Transaction {
        finalised: Vec<FinalisedItem>,
        retry: bool,
    },
    /// A server step, which answers nobody.
    Internal,
}

/// The limits a server advertises (DSC-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Limits {
    pub max_delay_ms: Option<u64>,
    pub max_scheduled: Option<u16>,
}

impl Reply {
    pub fn status(&self) -> u16 {
        match self {
            Reply::Error(e) => e.status,
            _ => 200,
        }
    }
    pub fn error(&self) -> Option<&MatrixError> {
        match self {
            Reply::Error(e) => Some(e),
            _ => None,
        }
    }
}

/// An event entering a room: the observable effect of sends, timers and membership changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoomEvent {
    pub room: RoomId,
    pub event_id: EventId,
    pub sender: UserId,
    pub kind: EventKind,
    /// `None` for membership and power-level events, whose content is structural.
    pub content: Option<ContentId>,
    pub origin_server_ts: u64,
    /// The delayed event it was sent for (SRV-14: its sender sees it in `unsigned`).
    #[serde(default)]
    pub delay_id: Option<DelayId>,
}

/// The full observation of one operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Step {
    pub reply: Reply,
    pub effects: Vec<RoomEvent>,
}
