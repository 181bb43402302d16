//! The inputs of the specification: every client request of the API surface as an abstract
//! operation, plus the server's own steps (time passing, the timer firing, discarding a returned
//! record), which are where the text allows several behaviours.

use crate::power::PowerChange;
use crate::types::{Action, ContentId, DelayId, DeviceId, EventKind, RoomId, TxnId, UserId};
use serde::{Deserialize, Serialize};

/// The `delay` query parameter as a client may send it (SCH-1, SCH-9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DelayParam {
    Ms(i64),
    /// A fractional or non-numeric value such as `1.5` or `soon`.
    NotAnInteger,
}

/// A `delay_id` in a management request: one the server issued, or one it never did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DelayRef {
    Issued(DelayId),
    NeverIssued,
}

/// Where a lookup starts: from the beginning, or from the `next_batch` this user last received
/// for the same list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum From {
    Start,
    LastNextBatch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `PUT /rooms/{room}/send/{type}/{txn}?delay=` or `PUT /rooms/{room}/state/{type}/{key}?delay=`
    /// (SCH-1). `txn` is present exactly for the send endpoint; `device` is the access token's
    /// device, the scope of `txn` (SCH-10).
    Schedule {
        user: UserId,
        #[serde(default)]
        device: DeviceId,
        room: RoomId,
        kind: EventKind,
        content: ContentId,
        delay: DelayParam,
        txn: Option<TxnId>,
    },
    /// `POST /delayed_events/{delay_id}` with `{"action": ...}` (MGT-1).
    Manage {
        user: UserId,
        delay: DelayRef,
        action: Action,
    },
    /// An ordinary `PUT /rooms/{room}/send/m.room.message/{txn}`.
    SendMessage {
        user: UserId,
        #[serde(default)]
        device: DeviceId,
        room: RoomId,
        content: ContentId,
        txn: TxnId,
    },
    /// An ordinary `PUT /rooms/{room}/state/{type}/{key}` (SRV-4, SRV-5).
    SendState {
        user: UserId,
        room: RoomId,
        kind: EventKind,
        content: ContentId,
    },
    /// A new `m.room.power_levels` event.
    SetPower {
        user: UserId,
        room: RoomId,
        change: PowerChange,
    },
    Join {
        user: UserId,
        room: RoomId,
    },
    Leave {
        user: UserId,
        room: RoomId,
    },
    /// `GET /delayed_events/scheduled` (LST-1, LST-3).
    ListScheduled {
        user: UserId,
        from: From,
    },
    /// The bare unstable `GET .../delayed_events` (LST-6): every scheduled event, one page.
    ListScheduledBare {
        user: UserId,
    },
    /// `GET /delayed_events/finalised` (LST-2, LST-3).
    ListFinalised {
        user: UserId,
        from: From,
    },
    /// `GET .../delayed_events/{delay_id}` (LKP-1): one delayed event, scheduled or finalised.
    Lookup {
        user: UserId,
        delay: DelayRef,
    },
    /// `GET /capabilities` (DSC-4, DSC-5).
    Capabilities {
        user: UserId,
    },
    /// `GET /sync` (PSH-1, PSH-2); `since` is the user's last `next_batch` unless `initial`;
    /// `include_finalised: false` is a filter with `"finalised_events": false`.
    Sync {
        user: UserId,
        initial: bool,
        include_finalised: bool,
    },
    /// Time passes by `ms`.
    Advance {
        ms: u64,
    },
    /// Server step: the timer of a due delayed event fires (SRV-1, SRV-2, SRV-3).
    Fire {
        delay: DelayId,
    },
    /// Server step: a finalised record that was returned is discarded (LST-5, PSH-3).
    Discard {
        delay: DelayId,
    },
    /// Checker step: clients stop; from now on only time passes and timers fire (liveness phase).
    Drain,
    /// Server step: the homeserver goes down for `down_ms` (no timer fires meanwhile) and comes
    /// back (PER-1..3).
    ServerRestart {
        down_ms: u64,
    },
    /// Server step: the homeserver sends (or retries) an application-service transaction
    /// (`PUT {url}/_matrix/app/v1/transactions/{txnId}`) and the service acknowledges it or not
    /// (PSH-4).
    AppserviceTransaction {
        acknowledged: bool,
    },
}

impl Op {
    /// Steps the server takes on its own, as opposed to client requests.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Op::Advance { .. }
                | Op::Fire { .. }
                | Op::Discard { .. }
                | Op::Drain
                | Op::ServerRestart { .. }
                | Op::AppserviceTransaction { .. }
        )
    }

    /// The client making the request (`None` for server steps).
    pub fn user(&self) -> Option<UserId> {
        match *self {
            Op::Schedule { user, .. }
            | Op::Manage { user, .. }
            | Op::SendMessage { user, .. }
            | Op::SendState { user, .. }
            | Op::SetPower { user, .. }
            | Op::Join { user, .. }
            | Op::Leave { user, .. }
            | Op::ListScheduled { user, .. }
            | Op::ListScheduledBare { user }
            | Op::ListFinalised { user, .. }
            | Op::Lookup { user, .. }
            | Op::Capabilities { user }
            | Op::Sync { user, .. } => Some(user),
            Op::Advance { .. }
            | Op::Fire { .. }
            | Op::Discard { .. }
            | Op::Drain
            | Op::ServerRestart { .. }
            | Op::AppserviceTransaction { .. } => None,
        }
    }

    /// The room a request names, if any.
    pub fn room(&self) -> Option<RoomId> {
        match *self {
            Op::Schedule { room, .. }
            | Op::SendMessage { room, .. }
            | Op::SendState { room, .. }
            | Op::SetPower { room, .. }
            | Op::Join { room, .. }
            | Op::Leave { room, .. } => Some(room),
            _ => None,
        }
    }
}
