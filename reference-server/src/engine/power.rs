//! `m.room.power_levels` as the server enforces it (SRV-2: checked whenever an event is about to
//! enter a room, ordinary or delayed).

use crate::error::{MatrixError, Result};
use serde_json::Value;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerLevels {
    pub users: HashMap<String, i64>,
    pub users_default: i64,
    pub events: HashMap<String, i64>,
    pub events_default: i64,
    pub state_default: i64,
    pub invite: i64,
    pub kick: i64,
    pub ban: i64,
    pub redact: i64,
}

impl Default for PowerLevels {
    /// The levels of a room without a power-levels event.
    fn default() -> Self {
        PowerLevels {
            users: HashMap::new(),
            users_default: 0,
            events: HashMap::new(),
            events_default: 0,
            state_default: 0,
            invite: 0,
            kick: 50,
            ban: 50,
            redact: 50,
        }
    }
}

fn level(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        // Older rooms allow levels as strings of digits.
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl PowerLevels {
    /// Parse a power-levels content; malformed levels are a 400 `M_BAD_JSON` for the sender.
    pub fn parse(content: &Value) -> Result<PowerLevels> {
        let obj =
            content.as_object().ok_or_else(|| MatrixError::bad_json("power levels must be an object"))?;
        let bad = |field: &str| MatrixError::bad_json(format!("power levels: `{field}` must be an integer"));
        let scalar = |field: &str, default: i64| -> Result<i64> {
            match obj.get(field) {
                None => Ok(default),
                Some(v) => level(v).ok_or_else(|| bad(field)),
            }
        };
        let map = |field: &str| -> Result<HashMap<String, i64>> {
            match obj.get(field) {
                None => Ok(HashMap::new()),
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| level(v).map(|l| (k.clone(), l)).ok_or_else(|| bad(field)))
                    .collect(),
                Some(_) => Err(MatrixError::bad_json(format!("power levels: `{field}` must be an object"))),
            }
        };
        Ok(PowerLevels {
            users: map("users")?,
            users_default: scalar("users_default", 0)?,
            events: map("events")?,
            events_default: scalar("events_default", 0)?,
            state_default: scalar("state_default", 50)?,
            invite: scalar("invite", 0)?,
            kick: scalar("kick", 50)?,
            ban: scalar("ban", 50)?,
            redact: scalar("redact", 50)?,
        })
    }

    pub fn user_level(&self, user: &str) -> i64 {
        self.users.get(user).copied().unwrap_or(self.users_default)
    }

    pub fn required(&self, event_type: &str, is_state: bool) -> i64 {
        self.events.get(event_type).copied().unwrap_or(if is_state {
            self.state_default
        } else {
            self.events_default
        })
    }

    /// The rules of a power-levels change: the sender may only touch levels at or below its own,
    /// and may not give anyone (other than lowering itself) more than it has.
    pub fn check_change(&self, sender: &str, next: &PowerLevels) -> Result<()> {
        let mine = self.user_level(sender);
        let deny = |what: String| Err(MatrixError::forbidden(format!("You cannot change {what}")));
        let scalars = [
            ("users_default", self.users_default, next.users_default),
            ("events_default", self.events_default, next.events_default),
            ("state_default", self.state_default, next.state_default),
            ("invite", self.invite, next.invite),
            ("kick", self.kick, next.kick),
            ("ban", self.ban, next.ban),
            ("redact", self.redact, next.redact),
        ];
        for (name, old, new) in scalars {
            if old != new && (old > mine || new > mine) {
                return deny(format!("`{name}` beyond your own level"));
            }
        }
        for key in self.events.keys().chain(next.events.keys()) {
            let (old, new) = (self.events.get(key), next.events.get(key));
            if old != new && (old.is_some_and(|&l| l > mine) || new.is_some_and(|&l| l > mine)) {
                return deny(format!("the level of `{key}` beyond your own level"));
            }
        }
        for user in self.users.keys().chain(next.users.keys()) {
            let (old, new) = (self.user_level(user), next.user_level(user));
            if old == new {
                continue;
            }
            if user != sender && old >= mine {
                return deny(format!("the level of {user}, which is not below yours"));
            }
            if new > mine {
                return deny(format!("the level of {user} above your own"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_reads_levels_and_defaults() {
        let p = PowerLevels::parse(
            &json!({"users": {"@a:x": 100}, "events": {"m.rtc.member": 0}, "state_default": "50"}),
        )
        .expect("valid");
        assert_eq!(p.user_level("@a:x"), 100);
        assert_eq!(p.user_level("@b:x"), 0);
        assert_eq!(p.required("m.rtc.member", true), 0);
        assert_eq!(p.required("m.room.topic", true), 50);
        assert_eq!(p.required("m.room.message", false), 0);
        assert!(PowerLevels::parse(&json!({"users": {"@a:x": "high"}})).is_err());
        assert!(PowerLevels::parse(&json!([])).is_err());
    }

    #[test]
    fn change_rules() {
        let p = PowerLevels::parse(&json!({"users": {"@a:x": 100, "@b:x": 50}})).expect("valid");
        let mut up = p.clone();
        up.users.insert("@c:x".into(), 50);
        assert!(p.check_change("@a:x", &up).is_ok());
        assert!(p.check_change("@b:x", &up).is_ok(), "b may give c its own level");
        let mut demote_a = p.clone();
        demote_a.users.insert("@a:x".into(), 0);
        assert!(p.check_change("@b:x", &demote_a).is_err());
        assert!(p.check_change("@a:x", &demote_a).is_ok(), "a may lower itself");
        let mut too_high = p.clone();
        too_high.users.insert("@b:x".into(), 100);
        assert!(p.check_change("@b:x", &too_high).is_err());
    }
}
