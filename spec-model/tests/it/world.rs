//! A tiny scenario driver over the raw specification: apply operations, read answers.

use spec_model::error::{ErrCode, MatrixError};
use spec_model::op::{DelayParam, DelayRef, From, Op};
use spec_model::reply::{FinalisedItem, Reply, ScheduledItem, Step};
use spec_model::revision::Scheduling;
use spec_model::state::State;
use spec_model::types::*;
use spec_model::{step, Config, Revision};

pub const ADMIN: UserId = UserId(0);
pub const BOB: UserId = UserId(1);
pub const CAROL: UserId = UserId(2);
pub const ROOM: RoomId = RoomId(0);

pub fn slot(k: u8) -> EventKind {
    EventKind::state(EventType::RtcMember, StateKey::Key(k))
}

pub struct World {
    pub cfg: Config,
    pub s: State,
    next_txn: u8,
}

impl World {
    /// Three users, one room created by `ADMIN`, everyone joined, our reference configuration.
    pub fn new() -> Self {
        Self::with(Config::reference())
    }

    pub fn with(cfg: Config) -> Self {
        World { cfg, s: State::new(3, 1), next_txn: 100 }
    }

    /// An independent copy, to follow another interleaving from here.
    pub fn fork(&self) -> Self {
        World { cfg: self.cfg, s: self.s.clone(), next_txn: self.next_txn }
    }

    /// Apply `op`; panics if the operation cannot happen in this state.
    pub fn run(&mut self, op: Op) -> Step {
        self.try_run(op).unwrap_or_else(|| panic!("{op:?} is not enabled"))
    }

    pub fn try_run(&mut self, op: Op) -> Option<Step> {
        let (s, observed) = step(&self.cfg, &self.s, &op)?;
        self.s = s;
        Some(observed)
    }

    /// The same in the merged revision.
    pub fn merged() -> Self {
        Self::with(Config::reference_in(Revision::Rev2026_07_10))
    }

    /// The merged revision with some users guests (SCH-21).
    pub fn merged_with_guests(cfg: Config, guests: u8) -> Self {
        World { cfg, s: State::with_guests(3, 1, guests), next_txn: 100 }
    }

    /// A schedule request as the revision's endpoint takes it: a transaction id for messages, and
    /// for every event in the merged revision (SCH-12).
    pub fn schedule_op(&mut self, user: UserId, kind: EventKind, delay: DelayParam) -> Op {
        let needs_txn = !kind.is_state() || self.cfg.rules().scheduling == Scheduling::DelayedEventEndpoint;
        let txn = needs_txn.then(|| {
            self.next_txn += 1;
            TxnId(self.next_txn)
        });
        Op::Schedule { user, device: DeviceId(0), room: ROOM, kind, content: ContentId(0), delay, txn }
    }

    pub fn lookup(&mut self, user: UserId, id: DelayId) -> Reply {
        self.run(Op::Lookup { user, delay: DelayRef::Issued(id) }).reply
    }

    pub fn schedule_raw(&mut self, user: UserId, kind: EventKind, delay: DelayParam) -> Reply {
        let op = self.schedule_op(user, kind, delay);
        self.run(op).reply
    }

    /// Schedule and return the delay id (panics on refusal).
    pub fn schedule(&mut self, user: UserId, kind: EventKind, ms: i64) -> DelayId {
        match self.schedule_raw(user, kind, DelayParam::Ms(ms)) {
            Reply::DelayId(id) => id,
            other => panic!("schedule refused: {other:?}"),
        }
    }

    pub fn manage(&mut self, user: UserId, id: DelayId, action: Action) -> Step {
        self.run(Op::Manage { user, delay: DelayRef::Issued(id), action })
    }

    pub fn send_state(&mut self, user: UserId, kind: EventKind) -> Step {
        self.run(Op::SendState { user, room: ROOM, kind, content: ContentId(1) })
    }

    /// Let `ms` pass, firing every timer as it falls due (in due-time order).
    pub fn wait(&mut self, ms: u64) -> Vec<Step> {
        let mut fired = Vec::new();
        for _ in 0..ms {
            fired.extend(self.fire_due());
            self.run(Op::Advance { ms: 1 });
        }
        fired.extend(self.fire_due());
        fired
    }

    pub fn fire_due(&mut self) -> Vec<Step> {
        let mut fired = Vec::new();
        let mut due: Vec<(u64, DelayId)> = self
            .s
            .ids()
            .zip(&self.s.delayed)
            .filter(|(_, d)| d.is_scheduled() && d.due() <= self.s.now)
            .map(|(id, d)| (d.due(), id))
            .collect();
        due.sort();
        for (_, id) in due {
            if let Some(step) = self.try_run(Op::Fire { delay: id }) {
                fired.push(step);
            }
        }
        fired
    }

    pub fn scheduled(&mut self, user: UserId, from: From) -> (Vec<ScheduledItem>, bool) {
        match self.run(Op::ListScheduled { user, from }).reply {
            Reply::Scheduled { items, next_batch } => (items, next_batch.is_some()),
            other => panic!("unexpected {other:?}"),
        }
    }

    pub fn finalised(&mut self, user: UserId, from: From) -> (Vec<FinalisedItem>, bool) {
        match self.run(Op::ListFinalised { user, from }).reply {
            Reply::Finalised { items, next_batch } => (items, next_batch.is_some()),
            other => panic!("unexpected {other:?}"),
        }
    }

    pub fn finalisation(&self, id: DelayId) -> FinalisedItem {
        let d = self.s.record(id).expect("issued");
        let f = d.finalisation().unwrap_or_else(|| panic!("{id} not finalised: {:?}", d.status));
        FinalisedItem::of(id, d, f)
    }

    pub fn is_scheduled(&self, id: DelayId) -> bool {
        self.s.record(id).is_some_and(|d| d.is_scheduled())
    }
}

pub fn err(step: &Step) -> MatrixError {
    *step.reply.error().unwrap_or_else(|| panic!("expected an error, got {:?}", step.reply))
}

pub fn code(reply: &Reply) -> Option<ErrCode> {
    reply.error().map(|e| e.code)
}
