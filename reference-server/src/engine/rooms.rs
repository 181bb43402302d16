//! One room: current state, timeline, membership and power levels derived from that state, and
//! the index of delayed state events waiting on each state slot (SRV-4). A room lives behind its
//! own lock: everything that puts an event into a room holds it, so the checks of SRV-2 and the
//! cancellations of SRV-4 see exactly the state the event enters.

use super::accounts::Account;
use super::events::{Draft, Event};
use super::ids::DelayId;
use super::power::PowerLevels;
use crate::error::{MatrixError, Result};
use crate::sync::{Arc, Mutex, Weak};
use serde_json::Value;
use std::collections::HashMap;

pub type Slot = (Arc<str>, Arc<str>);

pub struct RoomCell {
    pub id: Arc<str>,
    pub room: Mutex<Room>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    Join,
    Invite,
    Leave,
    Ban,
}

impl Membership {
    pub fn parse(s: &str) -> Option<Membership> {
        Some(match s {
            "join" => Membership::Join,
            "invite" => Membership::Invite,
            "leave" => Membership::Leave,
            "ban" => Membership::Ban,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinRule {
    Public,
    Invite,
}

pub struct Room {
    pub id: Arc<str>,
    pub state: HashMap<Slot, Arc<Event>>,
    pub timeline: Vec<Arc<Event>>,
    pub members: HashMap<Arc<str>, Membership>,
    pub power: PowerLevels,
    /// Whether a power-levels event exists (before it, the creator has 100).
    pub has_power_event: bool,
    pub creator: Arc<str>,
    pub join_rule: JoinRule,
    /// SRV-4: scheduled delayed state events per slot, with their owners. Weak: the owner's
    /// store points at the room, so a strong pointer back would be a cycle that outlives the
    /// engine (found by the `http_request` fuzz target as memory growth).
    pub pending: HashMap<Slot, Vec<(DelayId, Weak<Account>)>>,
}

impl Room {
    pub fn new(id: Arc<str>, creator: Arc<str>) -> Room {
        Room {
            id,
            state: HashMap::new(),
            timeline: Vec::new(),
            members: HashMap::new(),
            power: PowerLevels::default(),
            has_power_event: false,
            creator,
            join_rule: JoinRule::Invite,
            pending: HashMap::new(),
        }
    }

    pub fn membership(&self, user: &str) -> Membership {
        self.members.get(user).copied().unwrap_or(Membership::Leave)
    }

    pub fn is_joined(&self, user: &str) -> bool {
        self.membership(user) == Membership::Join
    }

    pub fn user_level(&self, user: &str) -> i64 {
        if !self.has_power_event && *self.creator == *user {
            return 100;
        }
        self.power.user_level(user)
    }

    /// SRV-2: may `sender` put `draft` into this room now? The same rules for an ordinary send, a
    /// `send` action and a delayed event firing; the error is what the ordinary send answers.
    pub fn authorise(&self, sender: &str, draft: &Draft) -> Result<()> {
        if &*draft.event_type == "m.room.member" {
            return self.authorise_membership(sender, draft);
        }
        if !self.is_joined(sender) {
            return Err(MatrixError::forbidden(format!("{sender} is not joined to {}", self.id)));
        }
        let needed = self.power.required(&draft.event_type, draft.state_key.is_some());
        let mine = self.user_level(sender);
        if mine < needed {
            return Err(MatrixError::forbidden(format!(
                "{sender} has power level {mine}, {} needs {needed}",
                draft.event_type
            )));
        }
        if &*draft.event_type == "m.room.create" {
            return Err(MatrixError::forbidden("m.room.create cannot be replaced"));
        }
        if &*draft.event_type == "m.room.power_levels" {
            let next = PowerLevels::parse(&draft.content_value())?;
            self.power.check_change(sender, &next)?;
        }
        Ok(())
    }

    /// Membership events: users join and leave themselves; joined users with enough power invite,
    /// kick, ban and unban others (the room-version auth rules, whether the event is sent now or
    /// by a timer: SRV-2).
    fn authorise_membership(&self, sender: &str, draft: &Draft) -> Result<()> {
        let target = draft.state_key.as_deref().unwrap_or_default();
        let content = draft.content_value();
        let wanted = content
            .get("membership")
            .and_then(Value::as_str)
            .and_then(Membership::parse)
            .ok_or_else(|| MatrixError::bad_json("membership must be join, invite, leave or ban"))?;
        let current = self.membership(target);
        match wanted {
            Membership::Join if target == sender => match current {
                Membership::Join | Membership::Invite => Ok(()),
                Membership::Ban => Err(MatrixError::forbidden("You are banned from this room")),
                Membership::Leave if self.join_rule == JoinRule::Public => Ok(()),
                Membership::Leave => Err(MatrixError::forbidden("You are not invited to this room")),
            },
            Membership::Leave if target == sender => match current {
                Membership::Join | Membership::Invite => Ok(()),
                _ => Err(MatrixError::forbidden("You are not in this room")),
            },
            Membership::Invite => {
                if !self.is_joined(sender) {
                    return Err(MatrixError::forbidden("You are not joined to this room"));
                }
                if self.user_level(sender) < self.power.invite {
                    return Err(MatrixError::forbidden("You are not allowed to invite"));
                }
                match current {
                    Membership::Join => {
                        Err(MatrixError::forbidden(format!("{target} is already in the room")))
                    }
                    Membership::Ban => Err(MatrixError::forbidden(format!("{target} is banned"))),
                    _ => Ok(()),
                }
            }
            Membership::Join => Err(MatrixError::forbidden("You cannot join for another user")),
            // Kick (or, for a banned target, unban) and ban: the room-version auth rules.
            Membership::Leave | Membership::Ban => {
                if !self.is_joined(sender) {
                    return Err(MatrixError::forbidden("You are not joined to this room"));
                }
                let (mine, theirs) = (self.user_level(sender), self.user_level(target));
                if current == Membership::Ban || wanted == Membership::Ban {
                    if mine < self.power.ban {
                        return Err(MatrixError::forbidden(format!(
                            "You need power level {} to ban or unban",
                            self.power.ban
                        )));
                    }
                    if wanted == Membership::Leave {
                        return Ok(()); // unban
                    }
                } else if mine < self.power.kick {
                    return Err(MatrixError::forbidden(format!(
                        "You need power level {} to kick",
                        self.power.kick
                    )));
                }
                if theirs >= mine {
                    return Err(MatrixError::forbidden(format!(
                        "{target} has a power level not below yours"
                    )));
                }
                Ok(())
            }
        }
    }

    /// Record `event` in the timeline and, for a state event, in the state and derived caches.
    /// The caller has authorised it.
    pub fn apply(&mut self, event: Arc<Event>) {
        if let Some(key) = &event.state_key {
            let content: Value = serde_json::from_str(event.content.get()).unwrap_or(Value::Null);
            match &*event.event_type {
                "m.room.member" => {
                    if let Some(m) =
                        content.get("membership").and_then(Value::as_str).and_then(Membership::parse)
                    {
                        self.members.insert(key.clone(), m);
                    }
                }
                "m.room.power_levels" => {
                    if let Ok(p) = PowerLevels::parse(&content) {
                        self.power = p;
                        self.has_power_event = true;
                    }
                }
                "m.room.join_rules" => {
                    self.join_rule = match content.get("join_rule").and_then(Value::as_str) {
                        Some("public") => JoinRule::Public,
                        _ => JoinRule::Invite,
                    };
                }
                _ => {}
            }
            self.state.insert((event.event_type.clone(), key.clone()), event.clone());
        }
        self.timeline.push(event);
    }

    pub fn state_event(&self, event_type: &str, state_key: &str) -> Option<&Arc<Event>> {
        self.state.get(&(Arc::from(event_type), Arc::from(state_key)))
    }
}
