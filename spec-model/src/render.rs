//! The wire shape of every request and answer: method, path and body of a request; status,
//! headers and JSON body of an answer; under the stable or unstable prefix and in either revision
//! (UNS-1..5, LST-1, LST-2, LST-6, PSH-1, LKP-1..4, DSC-4, SCH-12, MGT-11, SRV-14). Model ids
//! render as `d0`, `$e0`, `!r0`, `@u0`; a black-box checker maps the server's own ids onto them.

use crate::config::{Config, SyncShape};
use crate::op::{DelayParam, DelayRef, From, Op};
use crate::reply::{FinalisedItem, LookupItem, Reply, RoomEvent, ScheduledItem};
use crate::revision::{Revision, Scheduling};
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

/// A scheduled item in the seed revision (LST-1).
pub fn scheduled_item(i: &ScheduledItem) -> Value {
    scheduled_item_in(i, Revision::Rev2025_07_09)
}

/// A scheduled item: LST-1 (`delay`, `running_since`) or LKP-2/LKP-4 (`delay_ms`, `scheduled_at`).
pub fn scheduled_item_in(i: &ScheduledItem, revision: Revision) -> Value {
    let (delay, since) = match revision {
        Revision::Rev2025_07_09 => ("delay", "running_since"),
        Revision::Rev2026_07_10 => ("delay_ms", "scheduled_at"),
    };
    let mut m = Map::new();
    m.insert("delay_id".into(), json!(i.delay_id.to_string()));
    m.insert("room_id".into(), json!(i.room.to_string()));
    m.insert("type".into(), json!(i.kind.event_type.as_str()));
    if let Some(k) = i.kind.state_key {
        m.insert("state_key".into(), json!(k.to_string()));
    }
    m.insert(delay.into(), json!(i.delay_ms));
    m.insert(since.into(), json!(i.running_since));
    m.insert("content".into(), content(i.content));
    Value::Object(m)
}

/// A finalised record in the seed revision (LST-2).
pub fn finalised_item(i: &FinalisedItem, prefix: Prefix) -> Value {
    finalised_item_in(i, prefix, Revision::Rev2025_07_09)
}

/// A finalised record: LST-2's `{delayed_event, outcome, reason, ...}`, or LKP-2's flat object
/// whose fields tell the state (LKP-3: `event_id` when sent, `error` when it failed).
pub fn finalised_item_in(i: &FinalisedItem, prefix: Prefix, revision: Revision) -> Value {
    if revision == Revision::Rev2026_07_10 {
        let mut v = scheduled_item_in(&i.delayed_event, revision);
        if let Some(m) = v.as_object_mut() {
            m.insert("finalised_ts".into(), json!(i.origin_server_ts));
            if let Some(id) = i.event_id {
                m.insert("event_id".into(), json!(id.to_string()));
            }
            if let Some(e) = &i.error {
                m.insert("error".into(), e.body_in(prefix, revision));
            }
        }
        return v;
    }
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

/// An event as its sender sees it: in the merged revision a sent delayed event carries its
/// `delay_id` in `unsigned` for its sender only (SRV-14; `org.matrix.msc4140.delay_id` on the
/// unstable surface, UNS-5).
pub fn room_event_for_sender(e: &RoomEvent, cfg: &Config) -> Value {
    let mut v = room_event(e);
    if let (Some(id), true) = (e.delay_id, cfg.rules().delay_id_in_unsigned) {
        let key = match cfg.prefix {
            Prefix::Stable => "delay_id",
            Prefix::Unstable => "org.matrix.msc4140.delay_id",
        };
        v["unsigned"] = json!({ key: id.to_string() });
    }
    v
}

/// The capability name (DSC-4, UNS-5).
pub fn capability_key(prefix: Prefix) -> &'static str {
    match prefix {
        Prefix::Stable => "m.delayed_events",
        Prefix::Unstable => "org.matrix.msc4140.delayed_events",
    }
}

/// Headers an answer must carry besides the body (SCH-16: `Retry-After` in seconds).
pub fn headers(reply: &Reply) -> Vec<(&'static str, String)> {
    match reply {
        Reply::Error(e) => {
            e.retry_after_header_s.map(|s| ("retry-after", s.to_string())).into_iter().collect()
        }
        _ => Vec::new(),
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
    let rules = cfg.rules();
    let delayed = if unstable { "/unstable/org.matrix.msc4140/delayed_events" } else { "/v1/delayed_events" };
    let rooms = if unstable { "/unstable/org.matrix.msc4140/rooms" } else { "/v3/rooms" };
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
        // SCH-12/SCH-13: the merged revision's own path, everything in the body.
        Op::Schedule { user, device, room, kind, content: c, delay, txn }
            if rules.scheduling == Scheduling::DelayedEventEndpoint =>
        {
            let Some(t) = txn else { return Value::Null };
            let mut body = json!({ "content": content(c) });
            body["delay_ms"] = match delay {
                DelayParam::Ms(ms) => json!(ms),
                DelayParam::NotAnInteger => json!(1.5),
            };
            if let Some(k) = kind.state_key {
                body["state_key"] = json!(k.to_string());
            }
            let path = format!("{rooms}/{room}/delayed_event/{}/{t}", kind.event_type.as_str());
            on_device(req(&user, "PUT", path, json!({}), body), device)
        }
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
            match (rules.action_in_path, action) {
                // MGT-11: the action in the path, an empty body; none at all for a missing one.
                (true, crate::types::Action::Missing) => {
                    req(&user, "POST", format!("{delayed}/{id}"), json!({}), json!({}))
                }
                (true, _) => {
                    req(&user, "POST", format!("{delayed}/{id}/{}", action.as_str()), json!({}), json!({}))
                }
                (false, crate::types::Action::Missing) => {
                    req(&user, "POST", format!("{delayed}/{id}"), json!({}), json!({}))
                }
                (false, _) => req(
                    &user,
                    "POST",
                    format!("{delayed}/{id}"),
                    json!({}),
                    json!({ "action": action.as_str() }),
                ),
            }
        }
        Op::Lookup { user, delay } => {
            let id = match delay {
                DelayRef::Issued(id) => id.to_string(),
                DelayRef::NeverIssued => "never-issued".to_string(),
            };
            req(&user, "GET", format!("{delayed}/{id}"), json!({}), Value::Null)
        }
        Op::Capabilities { user } => req(&user, "GET", "/v3/capabilities".into(), json!({}), Value::Null),
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
        // LST-6 (unstable only) / LKP-4 (both surfaces).
        Op::ListScheduledBare { user } => {
            let path = match cfg.revision {
                Revision::Rev2025_07_09 => "/unstable/org.matrix.msc4140/delayed_events".to_string(),
                Revision::Rev2026_07_10 => delayed.to_string(),
            };
            req(&user, "GET", path, json!({}), Value::Null)
        }
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
        Op::Advance { .. }
        | Op::Fire { .. }
        | Op::Discard { .. }
        | Op::Drain
        | Op::ServerRestart { .. }
        | Op::AppserviceTransaction { .. } => Value::Null,
    }
}

/// PSH-1 / PSH-4: the value of the `finalised_events` key.
fn finalised_events_value(cfg: &Config, items: &[FinalisedItem]) -> Value {
    let list: Vec<Value> = items.iter().map(|i| finalised_item_in(i, cfg.prefix, cfg.revision)).collect();
    match cfg.decisions.sync_shape {
        SyncShape::Array => Value::Array(list),
        SyncShape::Object => json!({ "finalised": list }),
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
    let rev = cfg.revision;
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
        Reply::Error(e) => e.body_in(prefix, rev),
        Reply::Scheduled { items, next_batch } => {
            with_next("scheduled", items.iter().map(|i| scheduled_item_in(i, rev)).collect(), next_batch)
        }
        Reply::BareScheduled(items) => {
            json!({ "delayed_events": items.iter().map(|i| scheduled_item_in(i, rev)).collect::<Vec<_>>() })
        }
        Reply::Finalised { items, next_batch } => with_next(
            "finalised",
            items.iter().map(|i| finalised_item_in(i, prefix, rev)).collect(),
            next_batch,
        ),
        Reply::Lookup(LookupItem::Scheduled(i)) => scheduled_item_in(i, rev),
        Reply::Lookup(LookupItem::Finalised(i)) => finalised_item_in(i, prefix, rev),
        // DSC-4/DSC-5: present, with the fields of the limits that apply (empty when none).
        Reply::Capabilities(limits) => {
            let mut caps = Map::new();
            if let Some(l) = limits {
                let mut m = Map::new();
                if let Some(max) = l.max_delay_ms {
                    m.insert("max_delay_ms".into(), json!(max));
                }
                if let Some(n) = l.max_scheduled {
                    m.insert("max_scheduled".into(), json!(n));
                }
                caps.insert(capability_key(prefix).into(), Value::Object(m));
            }
            json!({ "capabilities": caps })
        }
        Reply::Sync { finalised, next_batch } => {
            let mut m = Map::new();
            m.insert("next_batch".into(), json!(format!("s{next_batch}")));
            if let Some(items) = finalised {
                m.insert(finalised_events_key(prefix).into(), finalised_events_value(cfg, items));
            }
            Value::Object(m)
        }
        // PSH-4: the body of `PUT /_matrix/app/v1/transactions/{txnId}` the service receives, with
        // the key and the value shape of `/sync`.
        Reply::Transaction { finalised, .. } => {
            json!({ "events": [], finalised_events_key(prefix): finalised_events_value(cfg, finalised) })
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
