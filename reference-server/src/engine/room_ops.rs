//! Ordinary room operations: creating, joining, leaving, inviting, sending, reading state and
//! history. Every event enters a room through [`Engine::append`] and then
//! [`Engine::after_enter`], which applies SRV-4/SRV-5 for every state event, whoever sends it.

use super::accounts::{RoomEntry, Session, TxnPath, TxnResult};
use super::delayed::{Outcome, Reason};
use super::events::{raw, Draft, Event};
use super::ratelimit::RateClass;
use super::rooms::{Membership, Room, RoomCell};
use super::Engine;
use crate::error::{MatrixError, Result};
use crate::sync::{lock, Arc, Ordering};
use serde_json::{json, Map, Value};

/// `POST /createRoom` options the server honours.
#[derive(Clone, Debug, Default)]
pub struct CreateRoom {
    pub preset: Option<String>,
    pub public: bool,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub initial_state: Vec<Draft>,
    pub power_override: Option<Map<String, Value>>,
    pub invite: Vec<String>,
}

/// Direction of `/messages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Back,
    Forward,
}

pub struct Page {
    pub chunk: Vec<Arc<Event>>,
    pub start: u64,
    pub end: Option<u64>,
}

/// `/context`: an event with up to `limit` neighbours, split as Synapse splits them (half before,
/// the rest after), and `/messages` tokens to paginate outwards from either end.
pub struct Context {
    pub before: Vec<Arc<Event>>,
    pub event: Arc<Event>,
    pub after: Vec<Arc<Event>>,
    pub start: u64,
    pub end: u64,
    pub state: Vec<Arc<Event>>,
}

fn draft(event_type: &str, state_key: Option<&str>, content: Value) -> Draft {
    Draft { event_type: Arc::from(event_type), state_key: state_key.map(Arc::from), content: raw(&content) }
}

impl Engine {
    /// Number `draft` in the event stream and record it in `room` (already authorised).
    pub(super) fn append(
        &self,
        room: &mut Room,
        sender: &Arc<str>,
        draft: Draft,
        txn_id: Option<Arc<str>>,
        delay_id: Option<super::ids::DelayId>,
        now: u64,
    ) -> Arc<Event> {
        let event_id: Arc<str> = Arc::from(self.ids.event_id());
        // The room lock is held: positions within a room increase, and a reader that saw this
        // position in `stream` waits on the room lock until the event is in the timeline.
        let stream = {
            let mut pos = lock(&self.stream);
            *pos += 1;
            *pos
        };
        let event = Arc::new(Event {
            event_id,
            room_id: room.id.clone(),
            sender: sender.clone(),
            event_type: draft.event_type,
            state_key: draft.state_key,
            content: draft.content,
            origin_server_ts: now,
            stream,
            txn_id,
            delay_id,
        });
        room.apply(event.clone());
        if !self.appservices().is_empty() {
            self.appservices().on_event(&event, room);
        }
        event
    }

    /// [`Engine::append`] for an event that enters a room on its own (not as a delayed event's
    /// finalisation, which is stored with its record), stored with its transaction id.
    pub(super) fn append_logged(
        &self,
        room: &mut Room,
        sender: &Arc<str>,
        draft: Draft,
        txn_id: Option<Arc<str>>,
        txn: Option<crate::store::change::TxnRow>,
        now: u64,
    ) -> Arc<Event> {
        let event = self.append(room, sender, draft, txn_id, None, now);
        self.log(|| crate::store::change::Change::Event { event: event.clone(), txn });
        event
    }

    /// What follows an event entering a room: membership bookkeeping for `/sync`, and SRV-4:
    /// scheduled delayed state events of *other* senders for the same slot are cancelled
    /// (SRV-5: the sender's own ones stay; messages cancel nothing). Call without holding any
    /// account's `delays` lock.
    pub(super) fn after_enter(&self, cell: &Arc<RoomCell>, room: &mut Room, event: &Arc<Event>, now: u64) {
        if let Some(key) = &event.state_key {
            if &*event.event_type == "m.room.member" {
                if let Some(target) = self.accounts.get(&**key) {
                    let membership = room.membership(key);
                    let entry = RoomEntry { membership, since: event.stream, room: cell.clone() };
                    lock(&target.rooms).insert(room.id.clone(), entry);
                }
            }
            // SRV-4 in the seed text; the merged one cancels nothing (SRV-12: the delayed state
            // event is sent later and overwrites).
            if !self.settings.revision.is_merged() {
                self.cancel_for_state_update(room, &event.event_type, key, &event.sender, now);
            }
        }
        self.signals.stream_changed();
    }

    /// SRV-4 / UNS-4.
    fn cancel_for_state_update(
        &self,
        room: &mut Room,
        event_type: &Arc<str>,
        key: &Arc<str>,
        sender: &str,
        now: u64,
    ) {
        let slot = (event_type.clone(), key.clone());
        if crate::planted!(self.settings, NoStateUpdateCancel) {
            return;
        }
        let Some(waiting) = room.pending.get_mut(&slot) else { return };
        let (doomed, kept): (Vec<_>, Vec<_>) =
            waiting.drain(..).partition(|(_, owner)| owner.upgrade().is_some_and(|o| &*o.user_id != sender));
        // Fault: an asynchronous canceller loses the race against timers due within 2 s.
        let (doomed, kept) = if crate::planted!(self.settings, LateStateUpdateCancel) {
            let soon = |(id, owner): &(super::ids::DelayId, crate::sync::Weak<super::accounts::Account>)| {
                owner.upgrade().is_some_and(|o| {
                    lock(&o.delays).scheduled(*id).is_some_and(|s| s.due() < now.saturating_add(2_000))
                })
            };
            let (late, doomed): (Vec<_>, Vec<_>) = doomed.into_iter().partition(soon);
            (doomed, kept.into_iter().chain(late).collect())
        } else {
            (doomed, kept)
        };
        let Some(waiting) = room.pending.get_mut(&slot) else { return };
        if kept.is_empty() {
            room.pending.remove(&slot);
        } else {
            *waiting = kept;
        }
        for (id, owner) in doomed {
            let Some(owner) = owner.upgrade() else { continue };
            let mut d = lock(&owner.delays);
            if let Some(s) = d.take(id) {
                let error = Some(MatrixError::cancelled_by_state_update());
                self.finalise(
                    &mut d,
                    &owner.user_id,
                    id,
                    s,
                    Outcome::Cancel,
                    Reason::Error,
                    error,
                    None,
                    now,
                );
            }
        }
    }

    pub fn create_room(&self, s: &Session, req: CreateRoom, now: u64) -> Result<Arc<str>> {
        let creator = s.account.user_id.clone();
        let mut power = json!({
            "users": { &*creator: 100 },
            "users_default": 0,
            "events": {
                "m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
                "m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": 100,
                "m.room.server_acl": 100, "m.room.encryption": 100
            },
            "events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50, "invite": 0
        });
        if let (Some(over), Some(base)) = (&req.power_override, power.as_object_mut()) {
            for (k, v) in over {
                base.insert(k.clone(), v.clone());
            }
        }
        super::power::PowerLevels::parse(&power)?;
        let preset = req.preset.as_deref().unwrap_or(if req.public { "public_chat" } else { "private_chat" });
        let join_rule = match preset {
            "public_chat" => "public",
            "private_chat" | "trusted_private_chat" => "invite",
            other => return Err(MatrixError::invalid_param(format!("unknown preset {other:?}"))),
        };
        let room_id: Arc<str> = Arc::from(self.ids.room_id(&self.settings.server_name));
        let cell = Arc::new(RoomCell {
            id: room_id.clone(),
            room: crate::sync::Mutex::new(Room::new(room_id.clone(), creator.clone())),
        });
        let mut drafts = vec![
            draft("m.room.create", Some(""), json!({ "creator": &*creator, "room_version": "10" })),
            draft("m.room.member", Some(&creator), json!({ "membership": "join" })),
            draft("m.room.power_levels", Some(""), power),
            draft("m.room.join_rules", Some(""), json!({ "join_rule": join_rule })),
            draft("m.room.history_visibility", Some(""), json!({ "history_visibility": "shared" })),
        ];
        drafts.extend(req.initial_state);
        if let Some(name) = req.name {
            drafts.push(draft("m.room.name", Some(""), json!({ "name": name })));
        }
        if let Some(topic) = req.topic {
            drafts.push(draft("m.room.topic", Some(""), json!({ "topic": topic })));
        }
        {
            let mut room = lock(&cell.room);
            let mut events = Vec::new();
            for d in drafts {
                let event = self.append(&mut room, &creator, d, None, None, now);
                self.after_enter(&cell, &mut room, &event, now);
                events.push(event);
            }
            for target in req.invite {
                let d = draft("m.room.member", Some(&target), json!({ "membership": "invite" }));
                room.authorise(&creator, &d)?;
                let event = self.append(&mut room, &creator, d, None, None, now);
                self.after_enter(&cell, &mut room, &event, now);
                events.push(event);
            }
            // One change: a crash never leaves half a room.
            let (room_id, creator) = (room_id.clone(), creator.clone());
            self.log(|| crate::store::change::Change::Room { room_id, creator, events });
        }
        self.rooms.insert_new(room_id.clone(), cell);
        Ok(room_id)
    }

    fn room_or_404(&self, room_id: &str) -> Result<Arc<RoomCell>> {
        self.room(room_id).ok_or_else(|| MatrixError::not_found(format!("Unknown room {room_id}")))
    }

    /// Put a membership event for `target` into the room, unless it is already the membership.
    fn membership(&self, s: &Session, room_id: &str, target: &str, m: &str, now: u64) -> Result<()> {
        let cell = self.room_or_404(room_id)?;
        let mut room = lock(&cell.room);
        if m == "join" && room.is_joined(target) {
            return Ok(());
        }
        let d = draft("m.room.member", Some(target), json!({ "membership": m }));
        room.authorise(&s.account.user_id, &d)?;
        let event = self.append_logged(&mut room, &s.account.user_id, d, None, None, now);
        self.after_enter(&cell, &mut room, &event, now);
        Ok(())
    }

    pub fn join(&self, s: &Session, room_id: &str, now: u64) -> Result<()> {
        self.membership(s, room_id, &s.account.user_id.clone(), "join", now)
    }

    pub fn leave(&self, s: &Session, room_id: &str, now: u64) -> Result<()> {
        self.membership(s, room_id, &s.account.user_id.clone(), "leave", now)
    }

    pub fn invite(&self, s: &Session, room_id: &str, target: &str, now: u64) -> Result<()> {
        self.membership(s, room_id, target, "invite", now)
    }

    pub fn is_banned(&self, room_id: &str, user: &str) -> bool {
        self.room(room_id).is_some_and(|cell| lock(&cell.room).membership(user) == Membership::Ban)
    }

    /// `/kick`, `/ban`, `/unban`: a membership event for `target` (`leave`, `ban`, `leave`), with
    /// the optional reason, authorised like any membership change.
    pub fn moderate(
        &self,
        s: &Session,
        room_id: &str,
        target: &str,
        m: &str,
        reason: Option<&str>,
        now: u64,
    ) -> Result<()> {
        let cell = self.room_or_404(room_id)?;
        let mut room = lock(&cell.room);
        let mut content = json!({ "membership": m });
        if let Some(r) = reason {
            content["reason"] = json!(r);
        }
        let d = draft("m.room.member", Some(target), content);
        room.authorise(&s.account.user_id, &d)?;
        let event = self.append_logged(&mut room, &s.account.user_id, d, None, None, now);
        self.after_enter(&cell, &mut room, &event, now);
        Ok(())
    }

    /// An ordinary send (`PUT .../send/...` or `.../state/...` without a delay). A repeated
    /// transaction id answers the first answer again.
    /// SCH-10: the first answer to this transaction (device + path), if it was already used.
    pub fn replayed(
        &self,
        s: &Session,
        path: TxnPath,
        room_id: &str,
        event_type: &str,
        txn: &str,
    ) -> Option<TxnResult> {
        if crate::planted!(self.settings, TxnReplayIgnored) {
            return None;
        }
        let key = s.txn_key(path, room_id, &Arc::from(event_type), txn);
        lock(&s.account.txns).get(&key).cloned()
    }

    pub fn send(
        &self,
        s: &Session,
        room_id: &str,
        d: Draft,
        txn: Option<&str>,
        now: u64,
    ) -> Result<TxnResult> {
        let txns_lock = txn.map(|_| lock(&s.account.txns));
        let txn_key = txn.map(|t| s.txn_key(TxnPath::Send, room_id, &d.event_type, t));
        if let (Some(txns), Some(key)) = (&txns_lock, &txn_key) {
            if let Some(prev) = txns.get(key) {
                return Ok(prev.clone());
            }
        }
        self.take_rate(&s.account, RateClass::Sending, now)?;
        let cell = self
            .room(room_id)
            .ok_or_else(|| MatrixError::forbidden(format!("You are not in room {room_id}")))?;
        let mut room = lock(&cell.room);
        room.authorise(&s.account.user_id, &d)?;
        let row = txn
            .filter(|_| self.store.is_some())
            .map(|t| crate::store::change::TxnRow::new(s, TxnPath::Send, room_id, &d.event_type, t));
        let event = self.append_logged(&mut room, &s.account.user_id, d, txn.map(Arc::from), row, now);
        self.after_enter(&cell, &mut room, &event, now);
        drop(room);
        if let (Some(mut txns), Some(key)) = (txns_lock, txn_key) {
            txns.insert(key, TxnResult::Sent(event.event_id.clone()));
        }
        Ok(TxnResult::Sent(event.event_id.clone()))
    }

    fn joined_room(&self, s: &Session, room_id: &str) -> Result<Arc<RoomCell>> {
        let denied = || MatrixError::forbidden(format!("You are not joined to {room_id}"));
        let cell = self.room(room_id).ok_or_else(denied)?;
        if !lock(&cell.room).is_joined(&s.account.user_id) {
            return Err(denied());
        }
        Ok(cell)
    }

    pub fn room_state(&self, s: &Session, room_id: &str) -> Result<Vec<Arc<Event>>> {
        let cell = self.joined_room(s, room_id)?;
        let room = lock(&cell.room);
        let mut events: Vec<Arc<Event>> = room.state.values().cloned().collect();
        events.sort_by_key(|e| e.stream);
        Ok(events)
    }

    pub fn state_event(&self, s: &Session, room_id: &str, event_type: &str, key: &str) -> Result<Arc<Event>> {
        let cell = self.joined_room(s, room_id)?;
        let room = lock(&cell.room);
        room.state_event(event_type, key).cloned().ok_or_else(|| MatrixError::not_found("Event not found."))
    }

    pub fn joined_members(&self, s: &Session, room_id: &str) -> Result<Vec<Arc<str>>> {
        let cell = self.joined_room(s, room_id)?;
        let room = lock(&cell.room);
        let mut members: Vec<Arc<str>> =
            room.members.iter().filter(|(_, m)| **m == Membership::Join).map(|(u, _)| u.clone()).collect();
        members.sort();
        Ok(members)
    }

    /// `/messages`: `from` is a stream position; backwards returns events at or before it.
    pub fn messages(
        &self,
        s: &Session,
        room_id: &str,
        from: Option<u64>,
        dir: Dir,
        limit: usize,
    ) -> Result<Page> {
        let cell = self.joined_room(s, room_id)?;
        let room = lock(&cell.room);
        let limit = limit.clamp(1, 1000);
        let t = &room.timeline;
        Ok(match dir {
            Dir::Back => {
                let start = from.unwrap_or(u64::MAX);
                let upto = t.partition_point(|e| e.stream <= start);
                let chunk: Vec<Arc<Event>> = t[..upto].iter().rev().take(limit).cloned().collect();
                let more = upto > chunk.len();
                let end = if more { chunk.last().map(|e| e.stream - 1) } else { None };
                let start = from.unwrap_or_else(|| t.last().map_or(0, |e| e.stream));
                Page { chunk, start, end }
            }
            Dir::Forward => {
                let start = from.unwrap_or(0);
                let after = t.partition_point(|e| e.stream <= start);
                let chunk: Vec<Arc<Event>> = t[after..].iter().take(limit).cloned().collect();
                let more = t.len() - after > chunk.len();
                let end = if more { chunk.last().map(|e| e.stream) } else { None };
                Page { chunk, start, end }
            }
        })
    }

    /// `/rooms/{roomId}/event/{eventId}` and `/context/{eventId}` (the latter with `limit` > 0).
    /// Like `/messages`, only for current members: the server keeps no history visibility.
    pub fn context(&self, s: &Session, room_id: &str, event_id: &str, limit: usize) -> Result<Context> {
        let cell = self.joined_room(s, room_id)?;
        let room = lock(&cell.room);
        let t = &room.timeline;
        let at = t
            .iter()
            .position(|e| &*e.event_id == event_id)
            .ok_or_else(|| MatrixError::not_found("Event not found."))?;
        let limit = limit.min(1000);
        let before: Vec<Arc<Event>> = t[..at].iter().rev().take(limit / 2).cloned().collect();
        let after: Vec<Arc<Event>> = t[at + 1..].iter().take(limit - limit / 2).cloned().collect();
        let event = Arc::clone(&t[at]);
        let start = before.last().unwrap_or(&event).stream.saturating_sub(1);
        let end = after.last().unwrap_or(&event).stream;
        let mut state: Vec<Arc<Event>> = room.state.values().cloned().collect();
        state.sort_by_key(|e| e.stream);
        Ok(Context { before, event, after, start, end, state })
    }

    /// The current end of the event stream.
    pub fn stream_position(&self) -> u64 {
        *lock(&self.stream)
    }

    pub(super) fn signal_live(&self, delta: isize) {
        if delta >= 0 {
            self.live.fetch_add(delta as usize, Ordering::SeqCst);
        } else {
            self.live.fetch_sub(delta.unsigned_abs(), Ordering::SeqCst);
        }
    }
}
