//! JSON shapes of events and of MSC4140's lookup items (LST-1, LST-2, PSH-1).

use crate::engine::events::Event;
use crate::engine::lookups::{FinalisedView, ScheduledView};
use crate::error::Surface;
use serde_json::{json, Map, Value};

fn raw_to_value(raw: &serde_json::value::RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// A client-format event; `viewer` sees its own transaction id.
pub fn event(e: &Event, viewer: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("event_id".into(), json!(&*e.event_id));
    m.insert("room_id".into(), json!(&*e.room_id));
    m.insert("sender".into(), json!(&*e.sender));
    m.insert("type".into(), json!(&*e.event_type));
    if let Some(k) = &e.state_key {
        m.insert("state_key".into(), json!(&**k));
    }
    m.insert("content".into(), raw_to_value(&e.content));
    m.insert("origin_server_ts".into(), json!(e.origin_server_ts));
    let mut unsigned = Map::new();
    if viewer == Some(&*e.sender) {
        if let Some(txn) = &e.txn_id {
            unsigned.insert("transaction_id".into(), json!(&**txn));
        }
        // SRV-14 / UNS-5: the sender's clients see which delayed event it was, under both names.
        if let Some(id) = e.delay_id {
            unsigned.insert("delay_id".into(), json!(id.to_string()));
            unsigned.insert("org.matrix.msc4140.delay_id".into(), json!(id.to_string()));
        }
    }
    m.insert("unsigned".into(), Value::Object(unsigned));
    Value::Object(m)
}

/// A stripped state event (invites).
pub fn stripped(e: &Event) -> Value {
    json!({
        "type": &*e.event_type,
        "state_key": e.state_key.as_deref().unwrap_or_default(),
        "sender": &*e.sender,
        "content": raw_to_value(&e.content),
    })
}

/// PSH-1 / PSH-4: `items` under the `finalised_events` name(s) `keys` selects, each with its
/// surface's error shape (UNS-1); nothing when there are none.
pub fn insert_finalised_events(
    m: &mut Map<String, Value>,
    items: &[FinalisedView],
    keys: crate::config::SyncKeys,
) {
    use crate::config::SyncKeys;
    if items.is_empty() {
        return;
    }
    if matches!(keys, SyncKeys::Stable | SyncKeys::Both) {
        let list = items.iter().map(|f| finalised(f, Surface::Stable)).collect();
        m.insert("finalised_events".into(), Value::Array(list));
    }
    if matches!(keys, SyncKeys::Unstable | SyncKeys::Both) {
        let list = items.iter().map(|f| finalised(f, Surface::Unstable)).collect();
        m.insert("org.matrix.msc4140.finalised_events".into(), Value::Array(list));
    }
}

/// LST-1: `delay_id`, `room_id`, `type`, `state_key` (state events only), `delay`,
/// `running_since`, `content`.
pub fn scheduled(s: &ScheduledView) -> Value {
    Value::Object(scheduled_fields(s, "delay", "running_since"))
}

/// The fields both revisions show of a scheduled event; they name the delay and its start apart.
fn scheduled_fields(s: &ScheduledView, delay_key: &str, since_key: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("delay_id".into(), json!(s.delay_id.to_string()));
    m.insert("room_id".into(), json!(&*s.room_id));
    m.insert("type".into(), json!(&*s.event_type));
    if let Some(k) = &s.state_key {
        m.insert("state_key".into(), json!(&**k));
    }
    m.insert(delay_key.into(), json!(s.delay));
    m.insert(since_key.into(), json!(s.running_since));
    m.insert("content".into(), raw_to_value(&s.content));
    m
}

/// LST-2 / LST-8: `{delayed_event, outcome, reason, error?, event_id?, origin_server_ts}`.
pub fn finalised(f: &FinalisedView, surface: Surface) -> Value {
    let mut m = Map::new();
    m.insert("delayed_event".into(), scheduled(&f.delayed));
    m.insert("outcome".into(), json!(f.outcome.as_str()));
    m.insert("reason".into(), json!(f.reason.as_str()));
    if let Some(e) = &f.error {
        m.insert("error".into(), e.body(surface));
    }
    if let Some(id) = &f.event_id {
        m.insert("event_id".into(), json!(&**id));
    }
    m.insert("origin_server_ts".into(), json!(f.origin_server_ts));
    Value::Object(m)
}

/// LKP-2 / LKP-4 (merged revision): `delay_id`, `room_id`, `type`, `state_key` (state events
/// only), `delay_ms`, `scheduled_at`, `content`.
pub fn merged_scheduled(s: &ScheduledView) -> Map<String, Value> {
    scheduled_fields(s, "delay_ms", "scheduled_at")
}

/// LKP-2 / LKP-3: the scheduled fields, `finalised_ts`, and `event_id` when sent or `error` when
/// it failed (never both). Error codes are never wrapped in this revision (UNS-5).
pub fn merged_finalised(f: &FinalisedView) -> Map<String, Value> {
    let mut m = merged_scheduled(&f.delayed);
    m.insert("finalised_ts".into(), json!(f.origin_server_ts));
    if let Some(id) = &f.event_id {
        m.insert("event_id".into(), json!(&**id));
    } else if let Some(e) = &f.error {
        m.insert("error".into(), e.body(Surface::Stable));
    }
    m
}
