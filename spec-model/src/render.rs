//! The wire shape of every answer: status and JSON body, under the stable or unstable prefix
//! (UNS-1..4, LST-1, LST-2, LST-6, PSH-1). Model ids render as `d0`, `$e0`, `!r0`, `@u0`;
//! a black-box checker maps the server's own ids onto them.

use crate::config::{Config, SyncShape};
use crate::op::{DelayParam, DelayRef, From, Op};
use crate::reply::{FinalisedItem, Reply, RoomEvent, ScheduledItem};
use crate::state::Cursor;
use crate::types::{ContentId, DeviceId, Prefix};
use serde_json::{json, Map, Value};

pub fn content(c: ContentId) -> Value {
    json!({ "body": c.to_string() })
}

pub fn token(c: Cursor) -> String {
    match c {
        Cursor::After { key, id } => format!("{key}_{id}"),
        Cursor::Offset(n) => format!("o{n}"),
    }
}

pub fn scheduled_item(i: &ScheduledItem) -> Value {
    let mut m = Map::new();
    m.insert("delay_id".into(), json!(i.delay_id.to_string()));
    m.insert("room_id".into(), json!(i.room.to_string()));
    m.insert("type".into(), json!(i.kind.event_type.as_str()));
    if let Some(k) = i.kind.state_key {
        m.insert("state_key".into(), json!(k.to_string()));
    }
    m.insert("delay".into(), json!(i.delay_ms));
    m.insert("running_since".into(), json!(i.running_since));
    m.insert("content".into(), content(i.content));
    Value::Object(m)
}

pub fn finalised_item(i: &FinalisedItem, prefix: Prefix) -> Value {
    let mut m = Map::new();
    m.insert("delayed_event".into(), scheduled_item(&i.delayed_event));
    m.insert("outcome".into(), serde_json::to_value(i.outcome).unwrap_or(Value::Null));
    m.insert("reason".into(), serde_json::to_value(i.reason).unwrap_or(Value::Null));
    if let Some(e) = &i.error {
        m.insert("error".into(), e.body(prefix));
    }
    if let Some(id) = i.event_id {
        m.insert("event_id".into(), json!(id.to_string()));
    }
    m.insert("origin_server_ts".into(), json!(i.origin_server_ts));
    Value::Object(m)
}

/// The sync key (UNS-1).
pub fn finalised_events_key(prefix: Prefix) -> &'static str {
    match prefix {
        Prefix::Stable => "finalised_events",
        Prefix::Unstable => "org.matrix.msc4140.finalised_events",
    }
}

/// An event as it enters a room (the observable effect).
pub fn room_event(e: &RoomEvent) -> Value {
    let mut m = Map::new();
    m.insert("room_id".into(), json!(e.room.to_string()));
    m.insert("event_id".into(), json!(e.event_id.to_string()));
    m.insert("sender".into(), json!(e.sender.to_string()));
    m.insert("type".into(), json!(e.kind.event_type.as_str()));
    if let Some(k) = e.kind.state_key {
        m.insert("state_key".into(), json!(k.to_string()));
    }
    if let Some(c) = e.content {
        m.insert("content".into(), content(c));
    }
    m.insert("origin_server_ts".into(), json!(e.origin_server_ts));
    Value::Object(m)
}

/// The client request an operation stands for: method, path (under `/_matrix/client`), query and
/// body, as `@u<n>` would send it (UNS-1 names under the unstable prefix). `null` for server steps.
/// `from` values name the token of the previous page (`$next_batch`), `$since` the last sync token.
pub fn request(cfg: &Config, op: &Op) -> Value {
    let unstable = cfg.prefix == Prefix::Unstable;
    let delayed = if unstable { "/unstable/org.matrix.msc4140/delayed_events" } else { "/v1/delayed_events" };
    let delay_key = if unstable { "org.matrix.msc4140.delay" } else { "delay" };
    let req = |user: &dyn std::fmt::Display, method: &str, path: String, query: Value, body: Value| json!({ "as": user.to_string(), "method": method, "path": path, "query": query, "body": body });
    let delay_value = |d: DelayParam| match d {
        DelayParam::Ms(ms) => json!(ms.to_string()),
        DelayParam::NotAnInteger => json!("1.5"),
    };
    let from = |f: From| match f {
        From::Start => json!({}),
        From::LastNextBatch => json!({ "from": "$next_batch" }),
    };
    match *op {
        Op::Schedule { user, device, room, kind, content: c, delay, txn } => {
            let path = match (kind.state_key, txn) {
                (Some(k), _) => format!("/v3/rooms/{room}/state/{}/{k}", kind.event_type.as_str()),
                (None, Some(t)) => format!("/v3/rooms/{room}/send/{}/{t}", kind.event_type.as_str()),
                (None, None) => return Value::Null,
            };
            on_device(req(&user, "PUT", path, json!({ delay_key: delay_value(delay) }), content(c)), device)
        }
        Op::Manage { user, delay, action } => {
            let id = match delay {
                DelayRef::Issued(id) => id.to_string(),
                DelayRef::NeverIssued => "never-issued".to_string(),
            };
            req(&user, "POST", format!("{delayed}/{id}"), json!({}), json!({ "action": action.as_str() }))
        }
        Op::SendMessage { user, device, room, content: c, txn } => on_device(
            req(&user, "PUT", format!("/v3/rooms/{room}/send/m.room.message/{txn}"), json!({}), content(c)),
            device,
        ),
        Op::SendState { user, room, kind, content: c } => {
            let key = kind.state_key.map(|k| k.to_string()).unwrap_or_default();
            req(
                &user,
                "PUT",
                format!("/v3/rooms/{room}/state/{}/{key}", kind.event_type.as_str()),
                json!({}),
                content(c),
            )
        }
        Op::SetPower { user, room, change } => req(
            &user,
            "PUT",
            format!("/v3/rooms/{room}/state/m.room.power_levels/"),
            json!({}),
            json!({ "change": change }),
        ),
        Op::Join { user, room } => req(&user, "POST", format!("/v3/rooms/{room}/join"), json!({}), json!({})),
        Op::Leave { user, room } => {
            req(&user, "POST", format!("/v3/rooms/{room}/leave"), json!({}), json!({}))
        }
        Op::ListScheduled { user, from: f } => {
            req(&user, "GET", format!("{delayed}/scheduled"), from(f), Value::Null)
        }
        Op::ListScheduledBare { user } => req(
            &user,
            "GET",
            "/unstable/org.matrix.msc4140/delayed_events".to_string(),
            json!({}),
            Value::Null,
        ),
        Op::ListFinalised { user, from: f } => {
            req(&user, "GET", format!("{delayed}/finalised"), from(f), Value::Null)
        }
        Op::Sync { user, initial, include_finalised } => {
            let mut q = Map::new();
            if !initial {
                q.insert("since".into(), json!("$since"));
            }
            if !include_finalised {
                let key = finalised_events_key(cfg.prefix);
                q.insert("filter".into(), json!({ key: false }).to_string().into());
            }
            req(&user, "GET", "/v3/sync".to_string(), Value::Object(q), Value::Null)
        }
        Op::Advance { .. } | Op::Fire { .. } | Op::Discard { .. } | Op::Drain => Value::Null,
    }
}

/// A request made from another device than the user's first (SCH-10 scopes transactions to it).
fn on_device(mut request: Value, device: DeviceId) -> Value {
    if device != DeviceId::default() {
        request["device"] = json!(device.0);
    }
    request
}

/// The JSON body of `reply` (`null` for server steps, which answer nobody).
pub fn body(cfg: &Config, reply: &Reply) -> Value {
    let prefix = cfg.prefix;
    let with_next = |key: &str, items: Vec<Value>, next: &Option<Cursor>| {
        let mut m = Map::new();
        m.insert(key.into(), Value::Array(items));
        if let Some(c) = next {
            m.insert("next_batch".into(), json!(token(*c)));
        }
        Value::Object(m)
    };
    match reply {
        Reply::DelayId(id) => json!({ "delay_id": id.to_string() }),
        Reply::Empty => json!({}),
        Reply::EventId(id) => json!({ "event_id": id.to_string() }),
        Reply::Joined(room) => json!({ "room_id": room.to_string() }),
        Reply::Error(e) => e.body(prefix),
        Reply::Scheduled { items, next_batch } => {
            with_next("scheduled", items.iter().map(scheduled_item).collect(), next_batch)
        }
        Reply::BareScheduled(items) => {
            json!({ "delayed_events": items.iter().map(scheduled_item).collect::<Vec<_>>() })
        }
        Reply::Finalised { items, next_batch } => {
            with_next("finalised", items.iter().map(|i| finalised_item(i, prefix)).collect(), next_batch)
        }
        Reply::Sync { finalised, next_batch } => {
            let mut m = Map::new();
            m.insert("next_batch".into(), json!(format!("s{next_batch}")));
            if let Some(items) = finalised {
                let list: Vec<Value> = items.iter().map(|i| finalised_item(i, prefix)).collect();
                let value = match cfg.decisions.sync_shape {
                    SyncShape::Array => Value::Array(list),
                    SyncShape::Object => json!({ "finalised": list }),
                };
                m.insert(finalised_events_key(prefix).into(), value);
            }
            Value::Object(m)
        }
        Reply::Internal => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{DelayId, EventKind, EventType, RoomId, StateKey, UserId};

    // covers: LST-1 SCH-2
    // Would catch: a scheduled item missing a field, or `state_key` on a message event.
    #[test]
    fn scheduled_item_has_every_required_field_and_state_key_only_for_state() {
        let mut i = ScheduledItem {
            delay_id: DelayId(3),
            room: RoomId(0),
            kind: EventKind::message(),
            delay_ms: 1500,
            running_since: 7,
            content: ContentId(1),
        };
        let v = scheduled_item(&i);
        for key in ["delay_id", "room_id", "type", "delay", "running_since", "content"] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert!(v.get("state_key").is_none());
        assert_eq!(v["content"], json!({"body": "c1"}));
        i.kind = EventKind::state(EventType::RtcMember, StateKey::User(UserId(1)));
        assert_eq!(scheduled_item(&i)["state_key"], "@u1");
    }

    // covers: PSH-1 UNS-1
    // Would catch: the key present when empty, or the stable key name on the unstable surface.
    #[test]
    fn sync_key_and_absence() {
        let mut cfg = Config::reference();
        let empty = body(&cfg, &Reply::Sync { finalised: None, next_batch: 2 });
        assert!(empty.get("finalised_events").is_none());
        assert_eq!(empty["next_batch"], "s2");
        cfg.prefix = Prefix::Unstable;
        let some = body(&cfg, &Reply::Sync { finalised: Some(vec![]), next_batch: 2 });
        assert!(some.get("org.matrix.msc4140.finalised_events").is_some());
    }
}
