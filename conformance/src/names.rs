//! The correspondence between the model's names (`@u0`, `!r0`, `d0`, `t0`) and the server's real
//! ids in one scenario. Requests are rendered by `spec_model::render::request` in model names and
//! translated here; answers are translated back before the judge compares them.

use crate::client::segment;
use crate::provision::User;
use serde_json::Value;
use spec_model::types::{ContentId, DelayId, EventType};

/// The content the suite sends for the model's `content`: `{"body": "c0"}`, plus the `msgtype`
/// servers require of `m.room.message` (the model does not distinguish it; `lockstep::blank`
/// drops it again).
pub fn real_content(event_type: EventType, c: ContentId) -> Value {
    let mut v = spec_model::render::content(c);
    if event_type == EventType::RoomMessage {
        v["msgtype"] = Value::from("m.text");
    }
    v
}

#[derive(Clone, Debug, Default)]
pub struct Names {
    pub users: Vec<User>,
    pub rooms: Vec<String>,
    delays: Vec<Option<String>>,
    /// Transaction ids are prefixed so that reused users never repeat one across runs.
    pub txn_prefix: String,
}

impl Names {
    pub fn new(users: Vec<User>, rooms: Vec<String>, txn_prefix: String) -> Self {
        Names { users, rooms, delays: Vec::new(), txn_prefix }
    }

    pub fn bind_delay(&mut self, id: DelayId, real: &str) {
        let i = id.0 as usize;
        if self.delays.len() <= i {
            self.delays.resize(i + 1, None);
        }
        self.delays[i] = Some(real.to_string());
    }

    pub fn real_delay(&self, id: DelayId) -> Option<&str> {
        self.delays.get(id.0 as usize).and_then(|d| d.as_deref())
    }

    pub fn delay_of(&self, real: &str) -> Option<DelayId> {
        self.delays.iter().position(|d| d.as_deref() == Some(real)).map(|i| DelayId(i as u16))
    }

    pub fn user(&self, model: &str) -> Option<&User> {
        model.strip_prefix("@u")?.parse::<usize>().ok().and_then(|i| self.users.get(i))
    }

    /// A model name (`d3`) back to its id.
    pub fn model_delay(s: &str) -> Option<DelayId> {
        s.strip_prefix('d')?.parse().ok().map(DelayId)
    }

    /// One model-named path segment in the server's names, percent-encoded.
    fn real_segment(&self, seg: &str) -> String {
        let mapped = if let Some(i) = seg.strip_prefix("!r").and_then(|n| n.parse::<usize>().ok()) {
            self.rooms.get(i).cloned()
        } else if seg.starts_with("@u") {
            self.user(seg).map(|u| u.user_id.clone())
        } else if let Some(id) = Self::model_delay(seg) {
            self.real_delay(id).map(str::to_string)
        } else {
            seg.strip_prefix('t')
                .filter(|n| n.parse::<u32>().is_ok())
                .map(|n| format!("{}t{n}", self.txn_prefix))
        };
        segment(&mapped.unwrap_or_else(|| seg.to_string()))
    }

    pub fn real_path(&self, model_path: &str) -> String {
        model_path
            .split('/')
            .map(|s| if s.is_empty() { String::new() } else { self.real_segment(s) })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// A model-named string value (a state key) in the server's names.
    pub fn real_value(&self, s: &str) -> String {
        self.user(s).map_or_else(|| s.to_string(), |u| u.user_id.clone())
    }

    /// The server's answer with every real id this scenario knows replaced by its model name.
    pub fn to_model(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.model_string(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.to_model(x)).collect()),
            Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), self.to_model(x))).collect()),
            other => other.clone(),
        }
    }

    fn model_string(&self, s: &str) -> String {
        if let Some(id) = self.delay_of(s) {
            return id.to_string();
        }
        if let Some(i) = self.rooms.iter().position(|r| r == s) {
            return format!("!r{i}");
        }
        if let Some(i) = self.users.iter().position(|u| u.user_id == s) {
            return format!("@u{i}");
        }
        s.to_string()
    }

    /// Whether a (model-named) list item is one of this scenario's delayed events.
    pub fn is_known_item(&self, item: &Value) -> bool {
        let id = item.get("delay_id").or_else(|| item.pointer("/delayed_event/delay_id"));
        id.and_then(Value::as_str).and_then(Self::model_delay).is_some_and(|d| self.real_delay(d).is_some())
    }
}
