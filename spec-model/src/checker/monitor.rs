//! The monitor: after every step it re-checks the step against the requirements, independently
//! of how `spec` computed it, and records what happened. Broken requirements set sticky
//! violation bits (the `always` properties); notable events set witness bits for this step only
//! (the `sometimes` properties). It reads the pre-state, the operation, the observation and the
//! post-state, and never calls into `spec`.

use super::properties::{Violation as V, Witness as W};
use crate::config::Config;
use crate::error::ErrCode;
use crate::op::{DelayRef, From, Op};
use crate::reply::{FinalisedItem, Reply, Step};
use crate::state::{Delayed, State, Status};
use crate::types::{Action, DelayId, Outcome, Reason, UserId};
use serde::{Deserialize, Serialize};

/// One user's walk through one list (LST-3, LST-7), as bit sets of delay ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Walk {
    pub seen: u32,
    /// Listed when the walk began and unchanged since: the walk must return each of them.
    pub stable: u32,
    /// Moved (restarted) or left during the walk: may be listed again (LST-7 as we state it: key
    /// tokens cannot avoid both repeating and skipping an event that moves across the cursor).
    pub moved: u32,
    pub pages: u8,
    pub changed: bool,
    /// Sort key of the last item listed: the order holds across pages too (LST-1, LST-2).
    pub last: Option<(u64, DelayId)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Ghost {
    /// Witness bits of the last step only.
    pub last: u64,
    /// The last step changed nothing but `last`: the state's successors are its predecessor's,
    /// so the checker does not expand it again.
    pub echo: bool,
    /// Sticky violation bits.
    pub violations: u32,
    /// Delay ids whose owner could not have sent them when they were scheduled.
    pub unpermitted_at_schedule: u32,
    /// Per user: the walk through the scheduled list, then through the finalised list.
    pub walks: Vec<[Option<Walk>; 2]>,
    /// PSH-4: delay ids whose finalised events the application service acknowledged.
    pub appservice_acked: u32,
    /// PSH-4: the service user's records seen finalised (as they were then) and carried by no
    /// transaction yet, in finalisation order.
    pub appservice_owed: Vec<FinalisedItem>,
    /// PSH-4: the last transaction, while the service has not acknowledged it.
    pub appservice_unacked: Option<Vec<FinalisedItem>>,
}

impl Ghost {
    /// Equal but for what the last step witnessed (`last`, `echo`): compared without cloning, as
    /// it runs on every step the checker takes.
    pub fn same_history(&self, other: &Ghost) -> bool {
        let Ghost {
            last: _,
            echo: _,
            violations,
            unpermitted_at_schedule,
            walks,
            appservice_acked,
            appservice_owed,
            appservice_unacked,
        } = self;
        *violations == other.violations
            && *unpermitted_at_schedule == other.unpermitted_at_schedule
            && *walks == other.walks
            && *appservice_acked == other.appservice_acked
            && *appservice_owed == other.appservice_owed
            && *appservice_unacked == other.appservice_unacked
    }
}

const SCHEDULED: usize = 0;
const FINALISED: usize = 1;

fn bit(id: DelayId) -> u32 {
    1u32.checked_shl(id.0 as u32).unwrap_or(0)
}

/// LST-1 sort keys of listed scheduled items: (due time, delay id), saturating like `Delayed::due`.
fn scheduled_keys(items: &[crate::reply::ScheduledItem]) -> Vec<(u64, DelayId)> {
    items.iter().map(|i| (i.running_since.saturating_add(i.delay_ms), i.delay_id)).collect()
}

fn allowed_now(s: &State, d: &Delayed) -> bool {
    s.rooms
        .get(d.room.0 as usize)
        .is_some_and(|room| room.members.contains(&d.owner) && room.power.allows(d.owner, d.kind))
}

/// SRV-6: whether `user` may insert one more event into a room now, read off the rate window as
/// the configuration defines it (a fixed window of `max` insertions per `window_ms`).
fn sending_budget_left(cfg: &Config, s: &State, user: UserId) -> bool {
    let Some(limit) = cfg.rate_limits.sending else { return true };
    let Some(u) = s.users.get(user.0 as usize) else { return true };
    let w = u.rate[crate::state::RateClass::Sending as usize];
    s.now >= w.start.saturating_add(limit.window_ms) || w.count < limit.max
}

struct Observation<'a> {
    cfg: &'a Config,
    pre: &'a State,
    op: &'a Op,
    step: &'a Step,
    post: &'a State,
    last: u64,
    violations: u32,
}

impl Observation<'_> {
    fn saw(&mut self, w: W) {
        self.last |= w.bit();
    }
    fn broke(&mut self, v: V) {
        self.violations |= v.bit();
    }
    fn check(&mut self, ok: bool, v: V) {
        if !ok {
            self.broke(v);
        }
    }
}

/// Observe one step and return the ghost of the post-state.
pub fn observe(cfg: &Config, pre: &State, op: &Op, step: &Step, post: &State, ghost: &Ghost) -> Ghost {
    let mut o = Observation { cfg, pre, op, step, post, last: 0, violations: 0 };
    let mut next = ghost.clone();
    o.records(&mut next);
    o.effects();
    o.limits();
    o.reply(&mut next);
    o.server_restart();
    o.appservice(&mut next);
    next.last = o.last;
    next.violations |= o.violations;
    next
}

impl Observation<'_> {
    /// Every record's transition in this step.
    fn records(&mut self, ghost: &mut Ghost) {
        for (i, after) in self.post.delayed.iter().enumerate() {
            let id = DelayId(i as u16);
            let Some(before) = self.pre.delayed.get(i) else {
                if !allowed_now(self.post, after) {
                    ghost.unpermitted_at_schedule |= bit(id);
                }
                continue;
            };
            match (before.status, after.status) {
                (Status::Finalised(_) | Status::Discarded, Status::Scheduled)
                | (Status::Discarded, Status::Finalised(_)) => self.broke(V::ExactlyOnce),
                (Status::Finalised(f), Status::Finalised(g)) => {
                    let same = Status::Finalised(crate::state::Finalisation { returned: g.returned, ..f });
                    self.check(same == after.status, V::ExactlyOnce);
                }
                (Status::Scheduled, Status::Discarded) => self.broke(V::NeverLost),
                (Status::Finalised(f), Status::Discarded) => {
                    if matches!(self.op, Op::Discard { .. }) {
                        self.saw(if self.cfg.rules().sync_push {
                            W::DiscardedAfterReturn
                        } else {
                            W::DiscardedAfterLookup
                        });
                    } else if self.post.now > f.ts + self.cfg.retention.max_age_ms {
                        self.saw(W::ExpiredByAge);
                    } else {
                        self.saw(W::ExpiredByCount);
                    }
                }
                (Status::Scheduled, Status::Finalised(g)) => self.finalised(id, after, g, ghost),
                _ => {}
            }
            // Walks in progress lose the events that moved or left (LST-7).
            for walks in ghost.walks.iter_mut() {
                if let Some(w) = &mut walks[SCHEDULED] {
                    let moved =
                        before.is_scheduled() && (!after.is_scheduled() || after.due() != before.due());
                    if moved {
                        w.stable &= !bit(id);
                        w.moved |= bit(id);
                        w.changed = true;
                    }
                }
                if let Some(w) = &mut walks[FINALISED] {
                    if w.stable & bit(id) != 0 && after.finalisation().is_none() {
                        w.stable &= !bit(id);
                        w.changed = true;
                    }
                }
            }
        }
        if let Op::Fire { delay } = *self.op {
            if let Some(d) = self.pre.record(delay) {
                // SRV-1, SRV-2 and SRV-6, judged on the pre-state.
                self.check(self.pre.now >= d.due(), V::NeverEarly);
                let f = self.post.record(delay).and_then(|a| a.finalisation()).copied();
                let sent = f.is_some_and(|f| f.event_id.is_some());
                let budget = sending_budget_left(self.cfg, self.pre, d.owner);
                self.check(sent == (budget && allowed_now(self.pre, d)), V::CheckedAtSend);
                if !budget {
                    let refused = f.is_some_and(|f| {
                        f.reason == Reason::Error && f.error.map(|e| e.code) == Some(ErrCode::LimitExceeded)
                    });
                    self.check(refused, V::InsertionRefused);
                }
            }
        }
    }

    fn finalised(&mut self, id: DelayId, d: &Delayed, f: crate::state::Finalisation, ghost: &Ghost) {
        match (f.outcome, f.reason) {
            (Outcome::Send, Reason::Action) => self.saw(W::SentByAction),
            (Outcome::Cancel, Reason::Action) => self.saw(W::CancelledByAction),
            (Outcome::Send, Reason::Delay) => {
                self.saw(W::SentByTimeout);
                // SRV-12: the delayed state overwrites another sender's newer state.
                let overwritten = d.kind.state_key.and_then(|k| {
                    self.pre.rooms.get(d.room.0 as usize)?.state.get(&(d.kind.event_type, k)).copied()
                });
                if overwritten.is_some_and(|e| e.sender != d.owner) && !self.cfg.rules().state_update_cancels
                {
                    self.saw(W::StateOverwrites);
                }
                if d.restarted {
                    self.saw(W::RestartThenTimeout);
                }
                if ghost.unpermitted_at_schedule & bit(id) != 0 {
                    self.saw(W::AllowedOnlyAtSendTime);
                }
            }
            _ => {}
        }
        match f.error.map(|e| e.code) {
            Some(ErrCode::CancelledByStateUpdate) => {
                // SRV-12: the merged revision cancels nothing for a state update.
                self.check(self.cfg.rules().state_update_cancels, V::StateUpdateKeeps);
                self.saw(W::CancelledByStateUpdate);
                if matches!(self.op, Op::Fire { .. }) {
                    self.saw(W::FiredStateCancelsOther);
                }
                // SRV-5: explained only by a state event of another sender for the same slot.
                let explained = self
                    .step
                    .effects
                    .iter()
                    .any(|e| e.room == d.room && e.kind == d.kind && e.sender != d.owner);
                self.check(explained, V::OnlyOtherSenderCancels);
            }
            Some(ErrCode::Forbidden) if f.reason == Reason::Error => self.saw(W::FailedAtSendTime),
            Some(ErrCode::LimitExceeded) if f.reason == Reason::Error => self.saw(W::InsertionRateLimited),
            _ => {}
        }
    }

    /// SRV-4, SRV-7, SRV-8 on the events that entered rooms.
    fn effects(&mut self) {
        let delayed_op = matches!(self.op, Op::Manage { .. } | Op::Fire { .. } | Op::ServerRestart { .. });
        for e in &self.step.effects {
            let source = self.post.delayed.iter().enumerate().find(|(i, d)| {
                let first_send = self.pre.delayed.get(*i).is_some_and(|p| p.is_scheduled());
                first_send && d.finalisation().is_some_and(|f| f.event_id == Some(e.event_id))
            });
            match source {
                Some((_, d)) => {
                    let same = e.sender == d.owner
                        && e.kind == d.kind
                        && e.room == d.room
                        && e.content == Some(d.content);
                    self.check(same, V::ContentUnchanged);
                }
                None => self.check(!delayed_op, V::ExactlyOnce),
            }
            if e.kind.is_state() && self.cfg.rules().state_update_cancels {
                let survivor =
                    self.post.delayed.iter().any(|d| {
                        d.is_scheduled() && d.room == e.room && d.kind == e.kind && d.owner != e.sender
                    });
                self.check(!survivor, V::OtherSenderCancels);
            }
        }
    }

    fn limits(&mut self) {
        if let Some(max) = self.cfg.max_outstanding_per_user {
            let ok = (0..self.post.users.len())
                .all(|u| self.post.scheduled_count(UserId(u as u8)) <= max as usize);
            self.check(ok, V::OutstandingLimit);
        }
        if let Some(max) = self.cfg.max_delay_ms {
            let ok = self.post.delayed.iter().all(|d| !d.is_scheduled() || d.delay_ms <= max);
            self.check(ok, V::MaxDelay);
        }
    }

    /// PER-1..3 on a server restart: every scheduled event is kept as it was, unless its send time
    /// passed during the downtime; those are sent (or fail) at startup, in send-time order; no event
    /// is sent for a record finalised before.
    fn server_restart(&mut self) {
        let Op::ServerRestart { .. } = self.op else { return };
        let now = self.post.now;
        let mut overdue: Vec<(u64, DelayId)> = Vec::new();
        for (i, before) in self.pre.delayed.iter().enumerate() {
            let id = DelayId(i as u16);
            let Some(after) = self.post.record(id) else { continue };
            if !before.is_scheduled() {
                continue;
            }
            if before.due() <= now {
                overdue.push((before.due(), id));
                let finalised_now = after.finalisation().is_some_and(|f| f.ts == now);
                self.check(finalised_now, V::SurvivesServerRestart);
            } else {
                let kept = after.is_scheduled()
                    && after.running_since == before.running_since
                    && after.delay_ms == before.delay_ms
                    && after.content == before.content;
                self.check(kept, V::SurvivesServerRestart);
                if kept {
                    self.saw(W::SurvivedServerRestart);
                }
            }
        }
        overdue.sort();
        // The delayed events the startup sent, in the order they entered the rooms.
        let sent: Vec<DelayId> = self.step.effects.iter().filter_map(|e| e.delay_id).collect();
        let expected: Vec<DelayId> = overdue
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| {
                self.post.record(*id).and_then(|d| d.finalisation()).is_some_and(|f| f.event_id.is_some())
            })
            .collect();
        self.check(sent == expected, V::OverdueInOrder);
        let fresh = self.step.effects.iter().all(|e| {
            self.pre.delayed.iter().zip(&self.post.delayed).any(|(b, a)| {
                b.is_scheduled() && a.finalisation().is_some_and(|f| f.event_id == Some(e.event_id))
            })
        });
        self.check(fresh, V::NoResendAfterServerRestart);
        if expected.len() >= 2 && sent == expected {
            self.saw(W::OverdueSentAfterRestart);
        }
    }

    /// PSH-4: a fresh transaction carries exactly the finalised events of the service's users
    /// that no transaction carried yet, in the order they were finalised, each as it was then; a
    /// retry carries what the unacknowledged one did; no record is acknowledged twice.
    fn appservice(&mut self, ghost: &mut Ghost) {
        let Some(user) = self.cfg.appservice_user else {
            if let Op::AppserviceTransaction { .. } = self.op {
                if let Reply::Transaction { .. } = self.step.reply {
                    self.broke(V::AppserviceOnceInOrder);
                }
            }
            return;
        };
        if !self.cfg.rules().appservice_push {
            return;
        }
        // The records this step finalised, seen from outside the model's queue.
        let mut fresh: Vec<(u16, FinalisedItem)> = self
            .post
            .ids()
            .filter(|id| self.pre.record(*id).is_none_or(|d| d.is_scheduled()))
            .filter_map(|id| {
                let d = self.post.record(id)?;
                let f = d.finalisation()?;
                (d.owner == user).then(|| (f.seq, FinalisedItem::of(id, d, f)))
            })
            .collect();
        fresh.sort();
        ghost.appservice_owed.extend(fresh.into_iter().map(|(_, item)| item));
        let Op::AppserviceTransaction { acknowledged } = *self.op else { return };
        let Reply::Transaction { finalised, retry } = &self.step.reply else {
            // Nothing sent: right only when nothing was owed.
            let owed = !ghost.appservice_owed.is_empty() || ghost.appservice_unacked.is_some();
            return self
                .check(!owed || self.pre.phase == crate::state::Phase::Drain, V::AppserviceOnceInOrder);
        };
        let want = ghost.appservice_unacked.clone().unwrap_or_else(|| ghost.appservice_owed.clone());
        let ids: Vec<DelayId> = finalised.iter().map(|i| i.delayed_event.delay_id).collect();
        let twice = ids.iter().any(|id| ghost.appservice_acked & bit(*id) != 0);
        self.check(
            *finalised == want && !twice && *retry == ghost.appservice_unacked.is_some(),
            V::AppserviceOnceInOrder,
        );
        if !*retry {
            ghost.appservice_owed.clear();
        }
        if acknowledged {
            ghost.appservice_acked |= ids.iter().fold(0, |m, id| m | bit(*id));
            ghost.appservice_unacked = None;
            if *retry && !ids.is_empty() {
                self.saw(W::AppserviceRetried);
            }
        } else {
            ghost.appservice_unacked = Some(finalised.clone());
        }
    }

    fn owned_by(&self, user: UserId, id: DelayId) -> bool {
        self.pre.record(id).or(self.post.record(id)).is_some_and(|d| d.owner == user)
    }

    fn reply(&mut self, ghost: &mut Ghost) {
        let code = self.step.reply.error().map(|e| e.code);
        if self.step.reply.error().is_none()
            && self.pre.is_guest(self.op.user().unwrap_or(UserId(0)))
            && matches!(self.op, Op::Schedule { .. } | Op::Manage { .. })
        {
            self.saw(W::GuestUses);
        }
        match *self.op {
            Op::Schedule { user, .. } if code == Some(ErrCode::LimitExceeded) => {
                // SCH-16: `Retry-After` counts to the user's next send time, rounded up.
                if let Some(s) = self.step.reply.error().and_then(|e| e.retry_after_header_s) {
                    let next = self
                        .pre
                        .delayed
                        .iter()
                        .filter(|d| d.owner == user && d.is_scheduled())
                        .map(|d| d.due())
                        .min();
                    let want = next.map_or(0, |due| due.saturating_sub(self.pre.now).div_ceil(1000));
                    self.check(s == want, V::RetryAfterNextDue);
                    self.saw(W::LimitRefused);
                } else {
                    self.saw(W::ScheduleRateLimited);
                }
            }
            Op::Schedule { .. }
                if code == Some(ErrCode::Forbidden) && self.cfg.max_outstanding_per_user == Some(0) =>
            {
                self.saw(W::ZeroLimitForbidden)
            }
            Op::Schedule { .. }
                if code == Some(ErrCode::Forbidden)
                    && self.cfg.rules().max_delay_refusal == crate::revision::MaxDelayRefusal::Forbidden
                    && self.post.delayed.len() == self.pre.delayed.len()
                    && matches!(self.op, Op::Schedule { delay: crate::op::DelayParam::Ms(ms), .. } if self.cfg.max_delay_ms.is_some_and(|m| *ms > 0 && *ms as u64 > m)) =>
            {
                self.saw(W::MaxDelayRefused)
            }
            Op::Lookup { user, delay } => self.lookup(user, delay),
            Op::Capabilities { .. } => {
                if let Reply::Capabilities(limits) = &self.step.reply {
                    let want = self.cfg.rules().capability.then_some(crate::reply::Limits {
                        max_delay_ms: self.cfg.max_delay_ms,
                        max_scheduled: self.cfg.max_outstanding_per_user,
                    });
                    self.check(*limits == want, V::CapabilityLimits);
                    if limits.is_some() {
                        self.saw(W::CapabilityRead);
                    }
                }
            }
            Op::Schedule { kind, .. } => match (&self.step.reply, code) {
                (Reply::DelayId(_), _) if self.post.delayed.len() > self.pre.delayed.len() => {
                    self.saw(if kind.is_state() { W::ScheduledState } else { W::ScheduledMessage })
                }
                (Reply::DelayId(_), _) => self.saw(W::TxnReplay),
                (_, Some(ErrCode::InvalidParam)) => self.saw(W::InvalidDelay),
                (_, Some(ErrCode::MaxDelayExceeded)) => self.saw(W::MaxDelayRefused),
                (_, Some(ErrCode::MaxDelayedEventsExceeded)) => self.saw(W::LimitRefused),
                (_, Some(ErrCode::Forbidden)) => self.saw(W::ScheduleForbidden),
                (_, Some(ErrCode::LimitExceeded)) => self.saw(W::ScheduleRateLimited),
                _ => {}
            },
            Op::Manage { user, delay, action } => self.manage(user, delay, action, code),
            Op::SendMessage { user, .. } | Op::SendState { user, .. }
                if self.step.reply.error().is_none() =>
            {
                let kept = self
                    .pre
                    .delayed
                    .iter()
                    .zip(&self.post.delayed)
                    .any(|(a, b)| a.is_scheduled() && b.is_scheduled() && a.owner == user);
                let same_slot_kept = self.pre.delayed.iter().zip(&self.post.delayed).any(|(a, b)| {
                        a.is_scheduled() && b.is_scheduled() && a.owner == user
                            && matches!(self.op, Op::SendState { kind, room, .. } if *kind == a.kind && *room == a.room)
                    });
                if same_slot_kept {
                    self.saw(W::SameSenderKeeps);
                }
                if kept && matches!(self.op, Op::SendMessage { .. }) {
                    self.saw(W::MessageKeeps);
                }
            }
            Op::ListScheduled { user, from } => {
                if let Reply::Scheduled { items, next_batch } = &self.step.reply {
                    let keys: Vec<(u64, DelayId)> = scheduled_keys(items);
                    let ids: Vec<DelayId> = items.iter().map(|i| i.delay_id).collect();
                    self.isolation(user, &ids);
                    self.walk(ghost, SCHEDULED, user, from, &keys, next_batch.is_some());
                }
            }
            Op::ListScheduledBare { user } => {
                if let Reply::BareScheduled(items) = &self.step.reply {
                    let keys: Vec<(u64, DelayId)> = scheduled_keys(items);
                    self.check(keys.windows(2).all(|w| w[0] < w[1]), V::ScheduledOrder);
                    let ids: Vec<DelayId> = items.iter().map(|i| i.delay_id).collect();
                    self.isolation(user, &ids);
                    if !ids.is_empty() {
                        self.saw(if self.cfg.rules().sync_push { W::BareList } else { W::ScheduledList });
                    }
                }
            }
            Op::ListFinalised { user, from } => {
                if let Reply::Finalised { items, next_batch } = &self.step.reply {
                    let keys: Vec<(u64, DelayId)> =
                        items.iter().map(|i| (i.origin_server_ts, i.delayed_event.delay_id)).collect();
                    let ids: Vec<DelayId> = items.iter().map(|i| i.delayed_event.delay_id).collect();
                    self.isolation(user, &ids);
                    self.walk(ghost, FINALISED, user, from, &keys, next_batch.is_some());
                }
            }
            Op::Sync { user, initial, include_finalised } => {
                if let Reply::Sync { finalised, .. } = &self.step.reply {
                    self.sync(user, initial, include_finalised, finalised.as_deref());
                }
            }
            _ => {}
        }
    }

    fn manage(&mut self, user: UserId, delay: DelayRef, action: Action, code: Option<ErrCode>) {
        match code {
            Some(ErrCode::InvalidParam | ErrCode::MissingParam | ErrCode::Unrecognized) => {
                self.saw(W::InvalidAction)
            }
            Some(ErrCode::LimitExceeded) => self.saw(W::ManagementRateLimited),
            Some(ErrCode::NotFound) => match delay {
                DelayRef::NeverIssued => self.saw(W::UnknownId),
                DelayRef::Issued(id) if !self.owned_by(user, id) => self.saw(W::OthersId),
                DelayRef::Issued(id)
                    if self.pre.record(id).is_some_and(|d| d.status == Status::Discarded) =>
                {
                    self.saw(W::GoneAfterDiscard)
                }
                DelayRef::Issued(_) => {}
            },
            _ => {}
        }
        let DelayRef::Issued(id) = delay else { return };
        let (Some(before), Some(after)) = (self.pre.record(id), self.post.record(id)) else { return };
        let invalid = matches!(action, Action::Other | Action::Missing);
        if before.owner != user || invalid || code == Some(ErrCode::LimitExceeded) {
            return;
        }
        match before.status {
            Status::Finalised(f) => {
                // MGT-8.
                let matching = matches!(
                    (action, f.outcome),
                    (Action::Send, Outcome::Send) | (Action::Cancel, Outcome::Cancel)
                );
                let answered = if matching {
                    self.step.reply == Reply::Empty
                } else {
                    self.step.reply.status() == 409 && code == Some(ErrCode::Unknown)
                };
                let unchanged = before == after && self.step.effects.is_empty();
                self.check(answered && unchanged, V::Retries);
                if answered && unchanged {
                    self.saw(if matching { W::RetrySucceeds } else { W::ConflictRefused });
                }
            }
            Status::Scheduled => match (action, &self.step.reply) {
                (Action::Send, Reply::Error(_)) if after.is_scheduled() => self.saw(W::SendActionFails),
                (Action::Restart, Reply::Empty) => self.saw(W::Restarted),
                _ => {}
            },
            Status::Discarded => {}
        }
    }

    /// LKP-1/LKP-3: the single lookup shows the requester's own event as the state holds it.
    fn lookup(&mut self, user: UserId, delay: DelayRef) {
        use crate::reply::LookupItem;
        let record = match delay {
            DelayRef::Issued(id) => self.pre.record(id).map(|d| (id, *d)),
            DelayRef::NeverIssued => None,
        };
        match (&self.step.reply, record) {
            (Reply::Lookup(LookupItem::Scheduled(i)), Some((id, d))) => {
                let truthful = d.owner == user
                    && d.is_scheduled()
                    && i.delay_id == id
                    && i.running_since == d.running_since;
                self.check(truthful, V::LookupTruthful);
                self.check(d.owner == user, V::Isolation);
                self.saw(W::LookupScheduled);
            }
            (Reply::Lookup(LookupItem::Finalised(i)), Some((id, d))) => {
                let f = d.finalisation();
                let truthful = d.owner == user
                    && i.delayed_event.delay_id == id
                    && f.is_some_and(|f| f.event_id == i.event_id && f.error == i.error)
                    && !(i.event_id.is_some() && i.error.is_some());
                self.check(truthful, V::LookupTruthful);
                self.check(d.owner == user, V::Isolation);
                self.saw(W::LookupFinalised);
            }
            (Reply::Lookup(_), None) => self.broke(V::LookupTruthful),
            (Reply::Error(e), Some((_, d))) if e.code == ErrCode::NotFound => {
                // Only another user's event, or a discarded record, is not found.
                let hidden = d.owner != user || d.status == Status::Discarded;
                self.check(hidden, V::LookupTruthful);
            }
            _ => {}
        }
    }

    fn isolation(&mut self, user: UserId, ids: &[DelayId]) {
        let ok = ids.iter().all(|id| self.owned_by(user, *id));
        self.check(ok, V::Isolation);
    }

    /// One page of a walk: order across pages (LST-1, LST-2: key tokens make a walk monotone),
    /// no repeats, no skips (LST-3, LST-7).
    fn walk(
        &mut self,
        ghost: &mut Ghost,
        list: usize,
        user: UserId,
        from: From,
        page: &[(u64, DelayId)],
        more: bool,
    ) {
        let mut w = match from {
            From::Start => {
                let stable = self.pre.delayed.iter().enumerate().filter(|(_, d)| {
                    d.owner == user
                        && if list == SCHEDULED { d.is_scheduled() } else { d.finalisation().is_some() }
                });
                Walk { stable: stable.fold(0, |acc, (i, _)| acc | bit(DelayId(i as u16))), ..Walk::default() }
            }
            From::LastNextBatch => ghost.walks[user.0 as usize][list].unwrap_or_default(),
        };
        let (order, ascending) =
            if list == SCHEDULED { (V::ScheduledOrder, true) } else { (V::FinalisedOrder, false) };
        for &(key, id) in page {
            if let Some(prev) = w.last {
                self.check(if ascending { (key, id) > prev } else { (key, id) < prev }, order);
            }
            w.last = Some((key, id));
            self.check(w.seen & bit(id) == 0 || w.moved & bit(id) != 0, V::PaginationWalk);
            w.seen |= bit(id);
        }
        w.pages = (w.pages + 1).min(2); // only "two pages or more" matters
        if more {
            ghost.walks[user.0 as usize][list] = Some(w);
            return;
        }
        ghost.walks[user.0 as usize][list] = None;
        self.check(w.stable & !w.seen == 0, V::PaginationWalk);
        if w.pages >= 2 {
            self.saw(if list == SCHEDULED { W::ScheduledWalk } else { W::FinalisedWalk });
            if w.changed {
                self.saw(W::WalkAcrossChange);
            }
        }
    }

    fn sync(
        &mut self,
        user: UserId,
        initial: bool,
        include: bool,
        got: Option<&[crate::reply::FinalisedItem]>,
    ) {
        let since = if initial { 0 } else { self.pre.users[user.0 as usize].sync_since.unwrap_or(0) };
        let mut expected: Vec<DelayId> = self
            .pre
            .delayed
            .iter()
            .enumerate()
            .filter(|(_, d)| d.owner == user && d.finalisation().is_some_and(|f| f.seq > since))
            .map(|(i, _)| DelayId(i as u16))
            .collect();
        expected.sort();
        let mut ids: Vec<DelayId> =
            got.unwrap_or_default().iter().map(|i| i.delayed_event.delay_id).collect();
        self.isolation(user, &ids);
        ids.sort();
        if include {
            self.check(ids == expected && (got.is_some() != expected.is_empty()), V::SyncSince);
            if !ids.is_empty() {
                self.saw(W::SyncFinalised);
            }
        } else {
            self.check(got.is_none(), V::SyncSince);
            if !expected.is_empty() {
                self.saw(W::SyncFiltered);
            }
        }
    }
}
