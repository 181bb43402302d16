//! Room power levels (`users`, `users_default`, `events`, `events_default`, `state_default`) and
//! the send-time authorisation the model applies to every event entering a room (SRV-2). The
//! auth rules for changing power levels are a documented simplification of the room-version
//! rules: enough to make a send forbidden at one time and allowed at another.

use crate::error::MatrixError;
use crate::types::{EventKind, EventType, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PowerLevels {
    pub users: BTreeMap<UserId, i64>,
    pub users_default: i64,
    pub events: BTreeMap<EventType, i64>,
    pub events_default: i64,
    pub state_default: i64,
}

/// One change to the power levels, sent as a new `m.room.power_levels` state event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PowerChange {
    User(UserId, i64),
    Event(EventType, i64),
    EventsDefault(i64),
    StateDefault(i64),
    UsersDefault(i64),
}

impl PowerLevels {
    /// The levels `createRoom` gives a room created by `creator` (the spec's defaults).
    pub fn created_by(creator: UserId) -> Self {
        PowerLevels {
            users: BTreeMap::from([(creator, 100)]),
            users_default: 0,
            events: BTreeMap::from([(EventType::PowerLevels, 100)]),
            events_default: 0,
            state_default: 50,
        }
    }

    pub fn user_level(&self, user: UserId) -> i64 {
        self.users.get(&user).copied().unwrap_or(self.users_default)
    }

    pub fn required(&self, kind: EventKind) -> i64 {
        self.events.get(&kind.event_type).copied().unwrap_or(if kind.is_state() {
            self.state_default
        } else {
            self.events_default
        })
    }

    /// SRV-2: may `sender` send an event of `kind` now?
    pub fn allows(&self, sender: UserId, kind: EventKind) -> bool {
        self.user_level(sender) >= self.required(kind)
    }

    /// The simplified auth rule for a power-level change by `by` (who must already be allowed to
    /// send `m.room.power_levels`): as in the room-version rules, only changed values are judged;
    /// nobody grants or takes more than their own level, and nobody changes another user who is at
    /// or above their own level. Setting a value to what it already is changes nothing and is
    /// always allowed.
    pub fn change(&self, by: UserId, change: PowerChange) -> Result<PowerLevels, MatrixError> {
        let own = self.user_level(by);
        let mut next = self.clone();
        let (old, new) = match change {
            PowerChange::User(target, level) => {
                let old = self.user_level(target);
                if old == level {
                    return Ok(next);
                }
                if target != by && old >= own {
                    return Err(MatrixError::forbidden());
                }
                next.users.insert(target, level);
                (old, level)
            }
            PowerChange::Event(t, level) => {
                let old = self.events.get(&t).copied();
                if old == Some(level) {
                    return Ok(next);
                }
                next.events.insert(t, level);
                (old.unwrap_or(i64::MIN), level)
            }
            PowerChange::EventsDefault(level) => {
                next.events_default = level;
                (self.events_default, level)
            }
            PowerChange::StateDefault(level) => {
                next.state_default = level;
                (self.state_default, level)
            }
            PowerChange::UsersDefault(level) => {
                next.users_default = level;
                (self.users_default, level)
            }
        };
        if old == new {
            return Ok(self.clone());
        }
        if old > own || new > own {
            return Err(MatrixError::forbidden());
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // covers: SRV-2
    // Would catch: state allowed at `users_default`, or a raised level not taking effect.
    #[test]
    fn defaults_let_members_talk_but_not_set_state() {
        let pl = PowerLevels::created_by(UserId(0));
        let member = UserId(1);
        assert!(pl.allows(member, EventKind::message()));
        let rtc = EventKind::state(EventType::RtcMember, crate::types::StateKey::User(member));
        assert!(!pl.allows(member, rtc));
        assert!(pl.allows(UserId(0), rtc));
        let raised = pl.change(UserId(0), PowerChange::User(member, 50)).expect("admin may raise");
        assert!(raised.allows(member, rtc));
    }

    #[test]
    fn nobody_exceeds_their_own_level() {
        let pl = PowerLevels::created_by(UserId(0))
            .change(UserId(0), PowerChange::User(UserId(1), 50))
            .expect("admin may raise");
        assert!(pl.change(UserId(1), PowerChange::User(UserId(1), 60)).is_err());
        assert!(pl.change(UserId(1), PowerChange::User(UserId(0), 0)).is_err());
        assert!(pl.change(UserId(1), PowerChange::StateDefault(40)).is_ok());
    }

    // covers: SRV-2
    // Would catch: a rule that judges unchanged values (the model refused re-sending the admin's
    // level 100 by a level-50 user, which the room-version rules and the server allow).
    #[test]
    fn unchanged_values_are_not_judged() {
        let pl = PowerLevels::created_by(UserId(0))
            .change(UserId(0), PowerChange::User(UserId(1), 50))
            .expect("admin may raise");
        for same in [
            PowerChange::User(UserId(0), 100),
            PowerChange::Event(EventType::PowerLevels, 100),
            PowerChange::StateDefault(50),
        ] {
            assert_eq!(pl.change(UserId(1), same), Ok(pl.clone()), "{same:?}");
        }
        assert!(pl.change(UserId(1), PowerChange::User(UserId(0), 99)).is_err(), "a changed value still is");
    }
}
