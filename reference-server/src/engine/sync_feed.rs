//! What `/sync` returns: joined rooms' timeline and state, invites, rooms left, and PSH-1's
//! finalised delayed events since the token. A token is `s<stream>_<finalised seq>`: the event
//! stream position and the caller's own finalisation counter.

use super::accounts::Session;
use super::events::Event;
use super::lookups::FinalisedView;
use super::rooms::Membership;
use super::Engine;
use crate::error::{MatrixError, Result};
use crate::sync::{lock, Arc};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncToken {
    pub stream: u64,
    pub finalised: u64,
}

impl SyncToken {
    pub fn parse(s: &str) -> Result<SyncToken> {
        let bad = || MatrixError::invalid_param(format!("Invalid sync token {s:?}"));
        let (a, b) = s.strip_prefix('s').and_then(|r| r.split_once('_')).ok_or_else(bad)?;
        Ok(SyncToken { stream: a.parse().map_err(|_| bad())?, finalised: b.parse().map_err(|_| bad())? })
    }
}

impl std::fmt::Display for SyncToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}_{}", self.stream, self.finalised)
    }
}

pub struct SyncRequest {
    pub since: Option<SyncToken>,
    pub full_state: bool,
    pub timeline_limit: usize,
    /// PSH-2: false when the filter says `finalised_events: false`.
    pub include_finalised: bool,
}

pub struct JoinedRoom {
    pub room_id: Arc<str>,
    pub state: Vec<Arc<Event>>,
    pub timeline: Vec<Arc<Event>>,
    pub limited: bool,
    pub prev_batch: u64,
}

pub struct OtherRoom {
    pub room_id: Arc<str>,
    pub events: Vec<Arc<Event>>,
}

pub struct SyncResponse {
    pub next_batch: SyncToken,
    pub joined: Vec<JoinedRoom>,
    pub invited: Vec<OtherRoom>,
    pub left: Vec<OtherRoom>,
    pub finalised: Vec<FinalisedView>,
}

impl SyncResponse {
    /// Nothing new: a long-poll keeps waiting.
    pub fn is_empty(&self) -> bool {
        self.joined.iter().all(|r| r.timeline.is_empty() && r.state.is_empty())
            && self.invited.is_empty()
            && self.left.is_empty()
            && self.finalised.is_empty()
    }
}

const STRIPPED: [&str; 5] =
    ["m.room.create", "m.room.name", "m.room.join_rules", "m.room.avatar", "m.room.topic"];

impl Engine {
    pub fn sync(&self, s: &Session, req: &SyncRequest, now: u64) -> SyncResponse {
        let initial = req.since.is_none();
        // Read the stream end first: every event up to it is in its room's timeline by the time
        // we hold that room's lock (see `append`).
        let current = self.stream_position();
        // A token from the future (forged, or from before a restart) reads as "now".
        let mut since = req.since.unwrap_or_default();
        since.stream = since.stream.min(current);
        let from_seq = if crate::planted!(self.settings, SyncIgnoresSince) { 0 } else { since.finalised };
        let (finalised, last_seq) = self.finalised_since(s, from_seq, req.include_finalised, now);
        let entries: Vec<_> = lock(&s.account.rooms).values().cloned().collect();
        let mut out = SyncResponse {
            next_batch: SyncToken { stream: current, finalised: last_seq },
            joined: Vec::new(),
            invited: Vec::new(),
            left: Vec::new(),
            finalised,
        };
        let user = &s.account.user_id;
        for entry in entries {
            let room = lock(&entry.room.room);
            let visible = |e: &&Arc<Event>| e.stream <= current;
            let changed = entry.since > since.stream && entry.since <= current;
            match room.membership(user) {
                Membership::Join => {
                    let fresh = initial || req.full_state || changed;
                    let t = &room.timeline;
                    let lo = if fresh { 0 } else { t.partition_point(|e| e.stream <= since.stream) };
                    let hi = t.partition_point(|e| e.stream <= current);
                    let newer = &t[lo..hi];
                    let cut = newer.len().saturating_sub(req.timeline_limit);
                    let timeline: Vec<Arc<Event>> = newer[cut..].to_vec();
                    let limited = cut > 0;
                    let state = if fresh || limited {
                        let first = timeline.first().map_or(u64::MAX, |e| e.stream);
                        let mut st: Vec<Arc<Event>> = room
                            .state
                            .values()
                            .filter(visible)
                            .filter(|e| e.stream < first)
                            .cloned()
                            .collect();
                        st.sort_by_key(|e| e.stream);
                        st
                    } else {
                        Vec::new()
                    };
                    let prev_batch = timeline.first().map_or(current, |e| e.stream - 1);
                    if fresh || !timeline.is_empty() || !state.is_empty() {
                        out.joined.push(JoinedRoom {
                            room_id: room.id.clone(),
                            state,
                            timeline,
                            limited,
                            prev_batch,
                        });
                    }
                }
                Membership::Invite if initial || changed => {
                    let mut events: Vec<Arc<Event>> =
                        room.state.values().filter(|e| STRIPPED.contains(&&*e.event_type)).cloned().collect();
                    events.extend(room.state_event("m.room.member", user).cloned());
                    out.invited.push(OtherRoom { room_id: room.id.clone(), events });
                }
                Membership::Leave | Membership::Ban if !initial && changed => {
                    let events = room.state_event("m.room.member", user).cloned().into_iter().collect();
                    out.left.push(OtherRoom { room_id: room.id.clone(), events });
                }
                _ => {}
            }
        }
        out
    }
}
