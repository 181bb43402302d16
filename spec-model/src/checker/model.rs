//! The `stateright` model: the specification's state plus the monitor's ghost, the bounded
//! alphabet of operations offered in each state, and the properties of `properties`.

use super::bounds::Bounds;
use super::canonical::canonical;
use super::monitor::{observe, Ghost};
use super::properties;
use crate::op::{DelayParam, DelayRef, From, Op};
use crate::power::PowerChange;
use crate::render;
use crate::reply::FinalisedItem;
use crate::revision::Scheduling;
use crate::spec::step;
use crate::state::{Phase, State};
use crate::types::{
    Action, ContentId, DelayId, DeviceId, EventKind, EventType, RoomId, StateKey, TxnId, UserId,
};
use stateright::{Model, Property};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CheckState {
    pub spec: State,
    pub ghost: Ghost,
}

impl CheckState {
    /// Liveness: clients stopped and nothing is left scheduled. An echo state (see `Ghost::echo`)
    /// is a leaf only because its behaviour continues from its predecessor, so it does not end a
    /// path for this property.
    pub fn drained(&self) -> bool {
        if self.ghost.echo {
            return true;
        }
        self.spec.phase == Phase::Drain && !self.spec.delayed.iter().any(|d| d.is_scheduled())
    }
}

#[derive(Clone, Debug)]
pub struct DelayModel {
    pub bounds: Bounds,
}

/// Content of delayed events; ordinary sends use another, so effects tell them apart.
const DELAYED_CONTENT: ContentId = ContentId(0);
const ORDINARY_CONTENT: ContentId = ContentId(1);
const ROOM: RoomId = RoomId(0);
const ADMIN: UserId = UserId(0);

impl DelayModel {
    pub fn new(bounds: Bounds) -> Self {
        assert!(bounds.max_ids <= 32, "the monitor tracks delay ids in u32 bit sets");
        DelayModel { bounds }
    }

    fn slot(&self, k: u8) -> EventKind {
        EventKind::state(EventType::RtcMember, StateKey::Key(k))
    }

    /// The transaction id of a schedule request. The seed text schedules state events on `/state`,
    /// which has none; the merged text's endpoint has one for every event (SCH-12), fresh per
    /// state event so that only messages explore replays (SCH-10).
    fn schedule_txn(&self, s: &State, kind: EventKind) -> Option<TxnId> {
        match (kind.is_state(), self.bounds.config.rules().scheduling) {
            (false, _) => Some(TxnId(0)),
            (true, Scheduling::DelayParameter) => None,
            (true, Scheduling::DelayedEventEndpoint) => Some(TxnId(3 + s.delayed.len() as u8)),
        }
    }

    /// The client operations offered in the active phase: every operation that exercises a
    /// distinct rule, for the users whose identity matters, in a deterministic order.
    fn client_ops(&self, s: &State, ops: &mut Vec<Op>) {
        let b = &self.bounds;
        let f = b.families;
        let room = &s.rooms[ROOM.0 as usize];
        if (s.delayed.len() as u16) < b.max_ids {
            for &ms in &b.delays {
                let delay = DelayParam::Ms(ms as i64);
                let (kind, content) = (EventKind::message(), DELAYED_CONTENT);
                if f.messages {
                    ops.push(Op::Schedule {
                        user: ADMIN,
                        device: DeviceId(0),
                        room: ROOM,
                        kind,
                        content,
                        delay,
                        txn: Some(TxnId(0)),
                    });
                }
                // Other users need only one delay: what matters is that their events exist.
                let last = Some(&ms) == b.delays.last();
                for user in (0..b.users).map(UserId).filter(|u| *u == ADMIN || last) {
                    for k in 0..b.slots {
                        ops.push(Op::Schedule {
                            user,
                            device: DeviceId(0),
                            room: ROOM,
                            kind: self.slot(k),
                            content,
                            delay,
                            txn: self.schedule_txn(s, self.slot(k)),
                        });
                    }
                }
            }
        }
        for (id, d) in s.ids().zip(&s.delayed) {
            if d.owner != ADMIN && !b.others_manage {
                continue;
            }
            for &action in &b.actions {
                ops.push(Op::Manage { user: d.owner, delay: DelayRef::Issued(id), action });
            }
        }
        if f.refusals {
            let max = b.config.max_delay_ms.unwrap_or(u32::MAX as u64) as i64;
            for delay in [DelayParam::Ms(0), DelayParam::Ms(max + 1)] {
                ops.push(Op::Schedule {
                    user: ADMIN,
                    device: DeviceId(0),
                    room: ROOM,
                    kind: self.slot(0),
                    content: DELAYED_CONTENT,
                    delay,
                    txn: self.schedule_txn(s, self.slot(0)),
                });
            }
            ops.push(Op::Manage { user: ADMIN, delay: DelayRef::NeverIssued, action: Action::Send });
            if let Some(d0) = s.delayed.first() {
                let first = DelayRef::Issued(DelayId(0));
                ops.push(Op::Manage { user: d0.owner, delay: first, action: Action::Other });
                let stranger = UserId((d0.owner.0 + 1) % b.users);
                ops.push(Op::Manage { user: stranger, delay: first, action: Action::Cancel });
            }
        }
        if f.ordinary_sends {
            for user in (0..b.users).map(UserId) {
                for k in 0..b.slots {
                    ops.push(Op::SendState {
                        user,
                        room: ROOM,
                        kind: self.slot(k),
                        content: ORDINARY_CONTENT,
                    });
                }
            }
            ops.push(Op::SendMessage {
                user: ADMIN,
                device: DeviceId(0),
                room: ROOM,
                content: ORDINARY_CONTENT,
                txn: TxnId(2),
            });
        }
        if f.room_changes && b.users > 1 {
            // The admin toggles the other user's power level; the other user leaves and rejoins.
            let other = UserId(1);
            let level = room.power.user_level(other);
            let change = PowerChange::User(other, if level >= 50 { 0 } else { 50 });
            ops.push(Op::SetPower { user: ADMIN, room: ROOM, change });
            ops.push(if room.members.contains(&other) {
                Op::Leave { user: other, room: ROOM }
            } else {
                Op::Join { user: other, room: ROOM }
            });
        }
        if f.lookups {
            // One user looks up; the others' events must stay invisible to it (LST-4).
            let (user, u) = (ADMIN, &s.users[ADMIN.0 as usize]);
            ops.push(Op::ListScheduled { user, from: From::Start });
            if u.scheduled_cursor.is_some() {
                ops.push(Op::ListScheduled { user, from: From::LastNextBatch });
            }
            ops.push(Op::ListFinalised { user, from: From::Start });
            if u.finalised_cursor.is_some() {
                ops.push(Op::ListFinalised { user, from: From::LastNextBatch });
            }
            ops.push(Op::ListScheduledBare { user: ADMIN });
        }
        if f.single_lookups {
            // The admin looks up every id, the other user's too (which it must not see: LKP-1).
            for id in s.ids() {
                ops.push(Op::Lookup { user: ADMIN, delay: DelayRef::Issued(id) });
            }
            ops.push(Op::ListScheduledBare { user: ADMIN });
        }
        if f.capabilities {
            ops.push(Op::Capabilities { user: ADMIN });
        }
        if f.server_restarts {
            // Down until at most the horizon: long enough to make every scheduled event overdue.
            for down_ms in 1..=self.bounds.horizon.saturating_sub(s.now) {
                ops.push(Op::ServerRestart { down_ms });
            }
        }
        if f.appservice {
            ops.push(Op::AppserviceTransaction { acknowledged: true });
            ops.push(Op::AppserviceTransaction { acknowledged: false });
        }
        if f.sync {
            ops.push(Op::Sync { user: ADMIN, initial: true, include_finalised: true });
            if s.users[ADMIN.0 as usize].sync_since.is_some() {
                ops.push(Op::Sync { user: ADMIN, initial: false, include_finalised: true });
                ops.push(Op::Sync { user: ADMIN, initial: false, include_finalised: false });
            }
        }
    }

    pub fn init(&self) -> CheckState {
        CheckState {
            spec: State::with_guests(self.bounds.users, self.bounds.rooms, self.bounds.guests),
            ghost: Ghost { walks: vec![[None, None]; self.bounds.users as usize], ..Ghost::default() },
        }
    }

    /// The observation of `op` in `state` rendered as the server would answer it, with the
    /// records the step finalised (what a later lookup would show).
    pub fn describe(&self, state: &State, op: &Op) -> Option<(State, serde_json::Value)> {
        let cfg = &self.bounds.config;
        let (post, observed) = step(cfg, state, op)?;
        let finalised: Vec<serde_json::Value> = post
            .ids()
            .zip(&post.delayed)
            .filter(|(id, _)| state.record(*id).is_none_or(|d| d.is_scheduled()))
            .filter_map(|(id, d)| {
                let f = d.finalisation()?;
                Some(render::finalised_item_in(&FinalisedItem::of(id, d, f), cfg.prefix, cfg.revision))
            })
            .collect();
        let mut observation = serde_json::json!({
            "status": observed.reply.status(),
            "body": render::body(cfg, &observed.reply),
            "finalised": finalised,
            "effects": observed.effects.iter().map(|e| render::room_event_for_sender(e, cfg)).collect::<Vec<_>>(),
        });
        let headers = render::headers(&observed.reply);
        if !headers.is_empty() {
            observation["headers"] = headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        Some((post, observation))
    }
}

impl Model for DelayModel {
    type State = CheckState;
    type Action = Op;

    fn init_states(&self) -> Vec<CheckState> {
        vec![self.init()]
    }

    fn actions(&self, s: &CheckState, ops: &mut Vec<Op>) {
        if s.ghost.echo {
            return;
        }
        let spec = &s.spec;
        if spec.phase == Phase::Active {
            self.client_ops(spec, ops);
            if spec.now < self.bounds.horizon {
                ops.push(Op::Advance { ms: 1 });
            }
            ops.push(Op::Drain);
        } else {
            ops.push(Op::Advance { ms: 1 });
        }
        for id in spec.ids() {
            ops.push(Op::Fire { delay: id });
            if self.bounds.config.discard_returned {
                ops.push(Op::Discard { delay: id });
            }
        }
    }

    fn next_state(&self, s: &CheckState, op: Op) -> Option<CheckState> {
        let (post, observed) = step(&self.bounds.config, &s.spec, &op)?;
        let mut ghost = observe(&self.bounds.config, &s.spec, &op, &observed, &post, &s.ghost);
        let post = canonical(post, self.bounds.observes_history());
        ghost.echo = post == s.spec && ghost.same_history(&s.ghost);
        Some(CheckState { spec: post, ghost })
    }

    fn format_step(&self, s: &CheckState, op: Op) -> Option<String> {
        self.describe(&s.spec, &op).map(|(_, v)| v.to_string())
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all(self.bounds.config.revision)
    }
}
