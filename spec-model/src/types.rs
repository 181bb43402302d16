//! Domain identifiers and enumerations of MSC4140, kept small and `Copy` so that model states hash
//! cheaply. Each has a canonical wire rendering (`Display`) used by `render`.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! small_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        small_id!($(#[$doc])* $name(u8), $prefix);
    };
    ($(#[$doc:meta])* $name:ident($int:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $int);
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

small_id!(
    /// A user of the homeserver. `UserId(0)` creates every room and holds power level 100.
    UserId, "@u"
);
small_id!(
    /// A room. Every model room is public: any user may join it.
    RoomId, "!r"
);
small_id!(
    /// Client transaction id. Its scope is the device and the request path (SCH-10).
    TxnId, "t"
);
small_id!(
    /// One of a user's devices (access tokens); transaction ids are scoped to it (SCH-10).
    DeviceId, "D"
);

impl Default for DeviceId {
    /// The device every model user logs in with first.
    fn default() -> Self {
        DeviceId(0)
    }
}
small_id!(
    /// Abstract event content; rendered as `{"body": "c<n>"}`.
    ContentId, "c"
);

small_id!(
    /// Event ids are allocated by the server when an event enters a room.
    EventId(u16), "$e"
);
small_id!(
    /// The model's `delay_id`s are allocated sequentially; real servers choose opaque strings
    /// (SCH-3, SCH-4), which a black-box checker maps onto these.
    DelayId(u16), "d"
);

/// The event types the model distinguishes. Message events never take part in the state-update
/// rule (SRV-5); membership and power levels are state events like any other (SRV-4 applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "m.room.message")]
    RoomMessage,
    #[serde(rename = "m.rtc.member")]
    RtcMember,
    #[serde(rename = "m.room.member")]
    Member,
    #[serde(rename = "m.room.power_levels")]
    PowerLevels,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RoomMessage => "m.room.message",
            EventType::RtcMember => "m.rtc.member",
            EventType::Member => "m.room.member",
            EventType::PowerLevels => "m.room.power_levels",
        }
    }
}

/// A state key. `User` keys are what `m.room.member` and MatrixRTC use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StateKey {
    Empty,
    Key(u8),
    User(UserId),
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateKey::Empty => Ok(()),
            StateKey::Key(k) => write!(f, "k{k}"),
            StateKey::User(u) => write!(f, "{u}"),
        }
    }
}

/// What a delayed event will be: a message (no state key) or a state event for one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventKind {
    pub event_type: EventType,
    pub state_key: Option<StateKey>,
}

impl EventKind {
    pub fn message() -> Self {
        EventKind { event_type: EventType::RoomMessage, state_key: None }
    }
    pub fn state(event_type: EventType, key: StateKey) -> Self {
        EventKind { event_type, state_key: Some(key) }
    }
    pub fn is_state(self) -> bool {
        self.state_key.is_some()
    }
}

/// MGT-2: the three actions, plus `Other` for any value a client may send instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Send,
    Cancel,
    Restart,
    /// An unknown `action` value (MGT-2).
    Other,
    /// No `action` in the body (MGT-2).
    Missing,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Send => "send",
            Action::Cancel => "cancel",
            Action::Restart => "restart",
            Action::Other => "explode",
            Action::Missing => "",
        }
    }
}

/// LST-2 `outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Send,
    Cancel,
}

/// LST-2 `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Error,
    Action,
    Delay,
}

/// Which surface a client speaks (UNS-1..4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Prefix {
    #[default]
    Stable,
    Unstable,
}
