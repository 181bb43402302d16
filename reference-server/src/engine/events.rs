//! A room event as the server stores it and hands it to clients.

use serde_json::value::RawValue;
use std::sync::Arc;

#[derive(Debug)]
pub struct Event {
    pub event_id: Arc<str>,
    pub room_id: Arc<str>,
    pub sender: Arc<str>,
    pub event_type: Arc<str>,
    /// `Some` for state events (SRV-4 slots are `(event_type, state_key)`).
    pub state_key: Option<Arc<str>>,
    pub content: Box<RawValue>,
    /// SRV-10: when the event actually entered the room.
    pub origin_server_ts: u64,
    /// Position in the server-wide event stream (sync tokens, `/messages` tokens).
    pub stream: u64,
    /// Echoed to the sender in `unsigned.transaction_id`.
    pub txn_id: Option<Arc<str>>,
    /// SRV-14 (merged revision): the delayed event it was sent for, shown to the sender only.
    pub delay_id: Option<super::ids::DelayId>,
}

/// What a client asks to put into a room (an ordinary send, or a delayed one when it fires).
#[derive(Clone, Debug)]
pub struct Draft {
    pub event_type: Arc<str>,
    pub state_key: Option<Arc<str>>,
    pub content: Box<RawValue>,
}

impl Draft {
    pub fn slot(&self) -> Option<(Arc<str>, Arc<str>)> {
        self.state_key.clone().map(|k| (self.event_type.clone(), k))
    }

    /// The content as a JSON value (for the few events whose content the server interprets).
    pub fn content_value(&self) -> serde_json::Value {
        serde_json::from_str(self.content.get()).unwrap_or(serde_json::Value::Null)
    }
}

pub fn raw(value: &serde_json::Value) -> Box<RawValue> {
    // Serialising a Value cannot fail (its map keys are strings), and the text is valid JSON.
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    RawValue::from_string(text).unwrap_or_else(|_| empty_object())
}

pub fn empty_object() -> Box<RawValue> {
    // "{}" is valid JSON; the fallback keeps this free of unwrap.
    RawValue::from_string("{}".into()).unwrap_or_else(|_| Box::<RawValue>::default())
}
