//! The transition function of MSC4140: `step(config, state, op)` gives the next state and the
//! observation, or `None` when the operation cannot happen in that state (a timer that is not due,
//! a token the client never received, a client request during the drain phase). Every client
//! request is deterministic; the text's freedom lives in the server steps (`Advance`, `Fire`,
//! `Discard`), whose interleavings the checker explores, and in `judge`.
//!
//! Each rule cites the requirement it implements.

use crate::config::{Config, Mutant};
use crate::error::MatrixError;
use crate::op::{DelayParam, DelayRef, From, Op};
use crate::reply::{FinalisedItem, Limits, LookupItem, Reply, RoomEvent, ScheduledItem, Step};
use crate::revision::{CountLimitRefusal, Lookups, MaxDelayRefusal, Scheduling};
use crate::state::{Cursor, Finalisation, Phase, RateClass, State, Status, TxnKey, TxnResult};
use crate::types::{
    Action, ContentId, DelayId, EventId, EventKind, EventType, Outcome, Reason, RoomId, StateKey, UserId,
};

/// Apply `op` to `state` under `cfg`.
pub fn step(cfg: &Config, state: &State, op: &Op) -> Option<(State, Step)> {
    if !op.is_internal() && state.phase == Phase::Drain {
        return None;
    }
    if let Some(user) = op.user() {
        if user.0 as usize >= state.users.len() {
            return None;
        }
    }
    let mut t = Transition { cfg, s: state.clone(), effects: Vec::new() };
    let reply = t.apply(op)?;
    t.apply_retention();
    Some((t.s, Step { reply, effects: t.effects }))
}

/// Delayed events the model covers: messages and `m.rtc.member` state. Delayed membership and
/// power-level events would change room structure when sent; they are outside the model.
fn modelled_kind(kind: EventKind) -> bool {
    match kind.event_type {
        EventType::RoomMessage => kind.state_key.is_none(),
        EventType::RtcMember => kind.state_key.is_some(),
        EventType::Member | EventType::PowerLevels => false,
    }
}

struct Transition<'a> {
    cfg: &'a Config,
    s: State,
    effects: Vec<RoomEvent>,
}

type Answer = Result<Reply, MatrixError>;

impl Transition<'_> {
    fn apply(&mut self, op: &Op) -> Option<Reply> {
        let rules = self.cfg.rules();
        // SCH-21: guests may use the delayed-event endpoints in the merged revision only.
        if let Some(user) = op.user() {
            if self.s.is_guest(user) && !rules.guests_allowed && delayed_event_endpoint(op) {
                return Some(Reply::Error(MatrixError::guest_access_forbidden()));
            }
        }
        let answer = match *op {
            Op::Schedule { user, device, room, kind, content, delay, txn } => {
                // SCH-1: the seed revision schedules messages on `/send` (with a transaction id)
                // and state on `/state` (without); SCH-12: the merged one has a path of its own
                // with a transaction id for every delayed event.
                let txn_matches_path = match rules.scheduling {
                    Scheduling::DelayParameter => kind.is_state() != txn.is_some(),
                    Scheduling::DelayedEventEndpoint => txn.is_some(),
                };
                if !modelled_kind(kind) || !txn_matches_path {
                    return None;
                }
                let delayed_endpoint = rules.scheduling == Scheduling::DelayedEventEndpoint;
                let key = txn.map(|txn| TxnKey {
                    user,
                    device,
                    room,
                    event_type: kind.event_type,
                    txn,
                    delayed_endpoint,
                });
                if let Some(key) = key {
                    // SCH-10: a repeated transaction returns the first answer and does nothing.
                    if let Some(prev) = self.s.txns.get(&key) {
                        return Some(txn_reply(*prev));
                    }
                }
                let answer = self.schedule(user, room, kind, content, delay);
                if let (Some(key), Ok(Reply::DelayId(id))) = (key, &answer) {
                    self.s.txns.insert(key, TxnResult::Scheduled(*id));
                }
                answer
            }
            Op::Manage { user, delay, action } => self.manage(user, delay, action),
            Op::SendMessage { user, device, room, content, txn } => {
                // SCH-10: in the seed revision the same path as a delayed message, so the same
                // transaction scope; in the merged one delayed events have a path of their own.
                let key = TxnKey {
                    user,
                    device,
                    room,
                    event_type: EventType::RoomMessage,
                    txn,
                    delayed_endpoint: false,
                };
                if let Some(prev) = self.s.txns.get(&key) {
                    return Some(txn_reply(*prev));
                }
                let answer = self.send(user, room, EventKind::message(), content);
                if let Ok(Reply::EventId(id)) = &answer {
                    self.s.txns.insert(key, TxnResult::Sent(*id));
                }
                answer
            }
            Op::SendState { user, room, kind, content } => {
                if !kind.is_state() || !modelled_kind(kind) {
                    return None;
                }
                self.send(user, room, kind, content)
            }
            Op::SetPower { user, room, change } => self.set_power(user, room, change),
            Op::Join { user, room } => self.join(user, room),
            Op::Leave { user, room } => self.leave(user, room),
            // LKP-1/LKP-4: in the merged revision `.../delayed_events/scheduled` is a lookup of an
            // event whose id is `scheduled`: there is none.
            Op::ListScheduled { .. } | Op::ListFinalised { .. }
                if rules.lookups != Lookups::PaginatedLists =>
            {
                Err(MatrixError::not_found())
            }
            Op::ListScheduled { user, from } => self.list_scheduled(user, from)?,
            Op::ListScheduledBare { user } => self.list_scheduled_bare(user),
            Op::ListFinalised { user, from } => self.list_finalised(user, from)?,
            // The seed revision serves no single lookup: the path takes only POST.
            Op::Lookup { .. } if rules.lookups == Lookups::PaginatedLists => {
                Err(MatrixError::new(405, crate::error::ErrCode::Unrecognized))
            }
            Op::Lookup { user, delay } => self.lookup(user, delay),
            Op::Capabilities { .. } => {
                let omit = self.cfg.is(Mutant::CapabilityOmitsLimits);
                Ok(Reply::Capabilities(rules.capability.then(|| Limits {
                    max_delay_ms: self.cfg.max_delay_ms.filter(|_| !omit),
                    max_scheduled: self.cfg.max_outstanding_per_user.filter(|_| !omit),
                })))
            }
            Op::Sync { user, initial, include_finalised } => self.sync(user, initial, include_finalised)?,
            Op::ServerRestart { down_ms } => {
                self.server_restart(down_ms)?;
                Ok(Reply::Internal)
            }
            Op::AppserviceTransaction { acknowledged } => Ok(self.appservice_transaction(acknowledged)?),
            Op::Advance { ms } => {
                self.advance(ms)?;
                Ok(Reply::Internal)
            }
            Op::Fire { delay } => {
                self.fire(delay)?;
                Ok(Reply::Internal)
            }
            Op::Discard { delay } => {
                self.discard(delay)?;
                Ok(Reply::Internal)
            }
            Op::Drain => {
                if self.s.phase == Phase::Drain {
                    return None;
                }
                self.s.phase = Phase::Drain;
                Ok(Reply::Internal)
            }
        };
        Some(answer.unwrap_or_else(Reply::Error))
    }

    // ---- scheduling (SCH-*) ----

    fn schedule(
        &mut self,
        user: UserId,
        room: RoomId,
        kind: EventKind,
        content: ContentId,
        delay: DelayParam,
    ) -> Answer {
        // SCH-9: a positive integer number of ms.
        let delay_ms = match delay {
            DelayParam::Ms(ms) if ms > 0 => ms as u64,
            _ => return Err(MatrixError::invalid_param()),
        };
        // SCH-5 / SCH-15.
        if let Some(max) = self.cfg.max_delay_ms {
            if delay_ms > max && !self.cfg.is(Mutant::NoMaxDelay) {
                return Err(match self.cfg.rules().max_delay_refusal {
                    MaxDelayRefusal::BadRequestWithMaximum => MatrixError::max_delay_exceeded(max),
                    MaxDelayRefusal::Forbidden => MatrixError::forbidden(),
                });
            }
        }
        // SCH-11: the room must exist and the sender be joined; power levels wait (SRV-2).
        let joined = self.s.rooms.get(room.0 as usize).map(|r| r.members.contains(&user));
        match joined {
            None => return Err(MatrixError::forbidden()),
            Some(false) if self.cfg.decisions.membership_checked_at_schedule => {
                return Err(MatrixError::forbidden())
            }
            Some(_) => {}
        }
        // SCH-6.
        self.take(user, RateClass::Scheduling)?;
        // SCH-7 / SCH-16, SCH-17.
        if let Some(max) = self.cfg.max_outstanding_per_user {
            let outstanding = self.s.scheduled_count(user);
            let over = if self.cfg.is(Mutant::LimitOffByOne) {
                outstanding > max as usize
            } else {
                outstanding >= max as usize
            };
            if max == 0 && self.cfg.rules().zero_limit_forbidden {
                return Err(MatrixError::forbidden());
            }
            if over {
                return Err(match self.cfg.rules().count_limit_refusal {
                    CountLimitRefusal::BadRequest => MatrixError::max_delayed_events(),
                    CountLimitRefusal::TooManyRequestsWithRetryAfter => {
                        MatrixError::too_many_scheduled(self.seconds_until_next_due(user))
                    }
                });
            }
        }
        // The model's id space is finite; running out is the outstanding limit of last resort.
        let id = DelayId(u16::try_from(self.s.delayed.len()).map_err(|_| MatrixError::max_delayed_events())?);
        self.s.delayed.push(crate::state::Delayed {
            owner: user,
            room,
            kind,
            content,
            delay_ms,
            restarted: false,
            running_since: self.s.now,
            status: Status::Scheduled,
        });
        Ok(Reply::DelayId(id))
    }

    // ---- managing (MGT-*) ----

    fn manage(&mut self, user: UserId, delay: DelayRef, action: Action) -> Answer {
        // MGT-2: the action is validated before the id is looked up. MGT-11: in the merged
        // revision the action is a path segment; another one (or none) is no endpoint.
        match (action, self.cfg.rules().action_in_path) {
            (Action::Other, true) => return Err(MatrixError::unrecognized()),
            // Without an action segment the path is the single lookup's, which takes only GET.
            (Action::Missing, true) => {
                return Err(MatrixError::new(405, crate::error::ErrCode::Unrecognized))
            }
            (Action::Other, false) => return Err(MatrixError::invalid_param()),
            (Action::Missing, false) => return Err(MatrixError::missing_param()),
            (Action::Send | Action::Cancel | Action::Restart, _) => {}
        }
        // MGT-7 / SEC-2: unknown, discarded and other users' ids are all 404.
        let id = match delay {
            DelayRef::Issued(id) => id,
            DelayRef::NeverIssued => return Err(MatrixError::not_found()),
        };
        let record = match self.s.record(id) {
            Some(d) if d.owner == user && d.status != Status::Discarded => *d,
            _ => return Err(MatrixError::not_found()),
        };
        // MGT-6.
        self.take(user, RateClass::Management)?;
        match record.status {
            Status::Finalised(f) => self.manage_finalised(id, action, f),
            Status::Scheduled => match action {
                Action::Send => {
                    // MGT-10: a failing send answers the send's error and changes nothing (but
                    // the rate window it used, as an ordinary send's would be).
                    self.insertion_check(record.room, record.owner, record.kind)?;
                    let event_id = self.alloc_event();
                    self.finalise(id, Outcome::Send, Reason::Action, None, Some(event_id));
                    self.enter_delayed(
                        record.room,
                        record.owner,
                        record.kind,
                        Some(record.content),
                        event_id,
                        Some(id),
                    );
                    Ok(Reply::Empty) // MGT-3, MGT-9
                }
                Action::Cancel => {
                    self.finalise(id, Outcome::Cancel, Reason::Action, None, None);
                    Ok(Reply::Empty) // MGT-4
                }
                Action::Restart => {
                    let d = &mut self.s.delayed[id.0 as usize];
                    d.running_since = self.s.now;
                    d.restarted = true;
                    Ok(Reply::Empty) // MGT-5
                }
                Action::Other | Action::Missing => Err(MatrixError::invalid_param()),
            },
            Status::Discarded => Err(MatrixError::not_found()),
        }
    }

    /// MGT-8: retries that match the outcome succeed; conflicting actions are 409.
    fn manage_finalised(&mut self, id: DelayId, action: Action, f: Finalisation) -> Answer {
        let record = self.s.delayed[id.0 as usize];
        match (action, f.outcome) {
            (Action::Send, Outcome::Send) => {
                if self.cfg.is(Mutant::ResendOnRetry) {
                    let event_id = self.alloc_event();
                    self.enter(record.room, record.owner, record.kind, Some(record.content), event_id);
                }
                Ok(Reply::Empty)
            }
            (Action::Cancel, Outcome::Cancel) => Ok(Reply::Empty),
            (Action::Cancel, Outcome::Send) if self.cfg.is(Mutant::CancelSentSucceeds) => Ok(Reply::Empty),
            (Action::Restart, _) if self.cfg.is(Mutant::RestartFinalised) => {
                let d = &mut self.s.delayed[id.0 as usize];
                d.status = Status::Scheduled;
                d.running_since = self.s.now;
                Ok(Reply::Empty)
            }
            _ => Err(MatrixError::conflict()),
        }
    }

    // ---- ordinary room operations ----

    fn send(&mut self, user: UserId, room: RoomId, kind: EventKind, content: ContentId) -> Answer {
        self.insertion_check(room, user, kind)?;
        let event_id = self.alloc_event();
        self.enter(room, user, kind, Some(content), event_id);
        Ok(Reply::EventId(event_id))
    }

    fn set_power(&mut self, user: UserId, room: RoomId, change: crate::power::PowerChange) -> Answer {
        let kind = EventKind::state(EventType::PowerLevels, StateKey::Empty);
        self.authorise(room, user, kind)?;
        let next = self.s.rooms[room.0 as usize].power.change(user, change)?;
        self.s.rooms[room.0 as usize].power = next;
        let event_id = self.alloc_event();
        self.enter(room, user, kind, None, event_id);
        Ok(Reply::EventId(event_id))
    }

    fn join(&mut self, user: UserId, room: RoomId) -> Answer {
        let r = self.s.rooms.get_mut(room.0 as usize).ok_or(MatrixError::not_found())?;
        if r.members.insert(user) {
            let event_id = self.alloc_event();
            self.enter(room, user, EventKind::state(EventType::Member, StateKey::User(user)), None, event_id);
        }
        Ok(Reply::Joined(room))
    }

    fn leave(&mut self, user: UserId, room: RoomId) -> Answer {
        let r = self.s.rooms.get_mut(room.0 as usize).ok_or(MatrixError::not_found())?;
        if !r.members.remove(&user) {
            return Err(MatrixError::forbidden());
        }
        let event_id = self.alloc_event();
        self.enter(room, user, EventKind::state(EventType::Member, StateKey::User(user)), None, event_id);
        Ok(Reply::Empty)
    }

    // ---- lookups (LST-*) and push (PSH-*) ----

    /// LST-4: whose events a user's lookups list.
    fn listed_owner(&self, user: UserId, owner: UserId) -> bool {
        owner == user || self.cfg.is(Mutant::ListsEveryone)
    }

    /// LST-1 / LST-7: ascending by (`running_since + delay`, `delay_id`).
    fn scheduled_sorted(&self, user: UserId) -> Vec<(u64, DelayId)> {
        let by_running_since = self.cfg.is(Mutant::ScheduledByRunningSince);
        let mut keys: Vec<(u64, DelayId)> = self
            .s
            .ids()
            .map(|id| (id, &self.s.delayed[id.0 as usize]))
            .filter(|(_, d)| d.is_scheduled() && self.listed_owner(user, d.owner))
            .map(|(id, d)| (if by_running_since { d.running_since } else { d.due() }, id))
            .collect();
        keys.sort();
        keys
    }

    /// LST-2 / LST-7: descending by (`origin_server_ts`, `delay_id`).
    fn finalised_sorted(&self, user: UserId) -> Vec<(u64, DelayId)> {
        let mut keys: Vec<(u64, DelayId)> = self
            .s
            .ids()
            .filter_map(|id| {
                let d = &self.s.delayed[id.0 as usize];
                let f = d.finalisation()?;
                self.listed_owner(user, d.owner).then_some((f.ts, id))
            })
            .collect();
        keys.sort();
        if !self.cfg.is(Mutant::FinalisedAscending) {
            keys.reverse();
        }
        keys
    }

    /// One page from `sorted` after `cursor` (LST-3, LST-7). Key cursors select by position in
    /// the sort order, so items leaving the list never shift the walk.
    fn page(
        &self,
        sorted: &[(u64, DelayId)],
        cursor: Option<Cursor>,
        descending: bool,
    ) -> (Vec<DelayId>, Option<Cursor>) {
        let rest: Vec<(u64, DelayId)> = match cursor {
            None => sorted.to_vec(),
            Some(Cursor::After { key, id }) => sorted
                .iter()
                .copied()
                .filter(|k| if descending { *k < (key, id) } else { *k > (key, id) })
                .collect(),
            Some(Cursor::Offset(n)) => sorted.iter().copied().skip(n as usize).collect(),
        };
        let size = self.cfg.page_size.max(1) as usize;
        let page: Vec<(u64, DelayId)> = rest.iter().copied().take(size).collect();
        let next = (rest.len() > page.len()).then(|| {
            if self.cfg.is(Mutant::OffsetTokens) {
                let skipped = match cursor {
                    Some(Cursor::Offset(n)) => n,
                    _ => 0,
                };
                Cursor::Offset(skipped + page.len() as u16)
            } else {
                let (key, id) = page[page.len() - 1];
                Cursor::After { key, id }
            }
        });
        (page.into_iter().map(|(_, id)| id).collect(), next)
    }

    fn list_scheduled(&mut self, user: UserId, from: From) -> Option<Answer> {
        let cursor = match from {
            From::Start => None,
            From::LastNextBatch => Some(self.s.users[user.0 as usize].scheduled_cursor?),
        };
        if let Err(e) = self.take(user, RateClass::Lookups) {
            return Some(Err(e));
        }
        let sorted = self.scheduled_sorted(user);
        let (ids, next_batch) = self.page(&sorted, cursor, false);
        self.s.users[user.0 as usize].scheduled_cursor = next_batch;
        let items = ids.into_iter().map(|id| ScheduledItem::of(id, &self.s.delayed[id.0 as usize])).collect();
        Some(Ok(Reply::Scheduled { items, next_batch }))
    }

    /// LST-6 DECIDED: the bare unstable endpoint lists every scheduled event in one response.
    fn list_scheduled_bare(&mut self, user: UserId) -> Answer {
        self.take(user, RateClass::Lookups)?;
        let items = self
            .scheduled_sorted(user)
            .into_iter()
            .map(|(_, id)| ScheduledItem::of(id, &self.s.delayed[id.0 as usize]))
            .collect();
        Ok(Reply::BareScheduled(items))
    }

    fn list_finalised(&mut self, user: UserId, from: From) -> Option<Answer> {
        let cursor = match from {
            From::Start => None,
            From::LastNextBatch => Some(self.s.users[user.0 as usize].finalised_cursor?),
        };
        if let Err(e) = self.take(user, RateClass::Lookups) {
            return Some(Err(e));
        }
        let sorted = self.finalised_sorted(user);
        let descending = !self.cfg.is(Mutant::FinalisedAscending);
        let (ids, next_batch) = self.page(&sorted, cursor, descending);
        self.s.users[user.0 as usize].finalised_cursor = next_batch;
        Some(Ok(Reply::Finalised { items: self.mark_returned(&ids), next_batch }))
    }

    /// LKP-1: one of the requester's delayed events, scheduled or finalised (while retained);
    /// LKP-6: a finalised record so returned may be discarded.
    fn lookup(&mut self, user: UserId, delay: DelayRef) -> Answer {
        let DelayRef::Issued(id) = delay else { return Err(MatrixError::not_found()) };
        let d = match self.s.record(id) {
            Some(d) if self.listed_owner(user, d.owner) => *d,
            _ => return Err(MatrixError::not_found()),
        };
        self.take(user, RateClass::Lookups)?;
        match d.status {
            Status::Scheduled => Ok(Reply::Lookup(LookupItem::Scheduled(ScheduledItem::of(id, &d)))),
            Status::Finalised(_) if self.cfg.is(Mutant::LookupShowsScheduled) => {
                Ok(Reply::Lookup(LookupItem::Scheduled(ScheduledItem::of(id, &d))))
            }
            Status::Finalised(_) => {
                let item = self.mark_returned(&[id]).into_iter().next().ok_or(MatrixError::not_found())?;
                Ok(Reply::Lookup(LookupItem::Finalised(item)))
            }
            Status::Discarded => Err(MatrixError::not_found()),
        }
    }

    /// SCH-16: seconds until the user's next delayed event is due, rounded up.
    fn seconds_until_next_due(&self, user: UserId) -> u64 {
        let next =
            self.s.delayed.iter().filter(|d| d.owner == user && d.is_scheduled()).map(|d| d.due()).min();
        let wait = next.map_or(0, |due| due.saturating_sub(self.s.now));
        if self.cfg.is(Mutant::RetryAfterRoundedDown) {
            wait / 1000
        } else {
            wait.div_ceil(1000)
        }
    }

    /// PER-1..3 (merged revision): the server is down for `down_ms`, during which no timer fires;
    /// at startup every scheduled event survives as it was (last restart included), and those whose
    /// send time passed meanwhile are sent at once, in the order of their send times (ties by id).
    fn server_restart(&mut self, down_ms: u64) -> Option<()> {
        if !self.cfg.rules().persistent || down_ms == 0 || self.s.phase == Phase::Drain {
            return None;
        }
        if self.cfg.is(Mutant::ServerRestartForgetsRestarts) {
            for d in self.s.delayed.iter_mut().filter(|d| d.is_scheduled() && d.restarted) {
                d.running_since = d.running_since.saturating_sub(1);
            }
        }
        if self.cfg.is(Mutant::ResendAfterServerRestart) {
            let last = self
                .s
                .delayed
                .iter()
                .filter_map(|d| d.finalisation().filter(|f| f.event_id.is_some()).map(|f| (f.seq, *d)))
                .max_by_key(|(seq, _)| *seq);
            if let Some((_, d)) = last {
                let event_id = self.alloc_event();
                self.enter(d.room, d.owner, d.kind, Some(d.content), event_id);
            }
        }
        self.s.now = self.s.now.checked_add(down_ms)?;
        let mut overdue: Vec<(u64, DelayId)> = self
            .s
            .ids()
            .map(|id| (id, &self.s.delayed[id.0 as usize]))
            .filter(|(_, d)| d.is_scheduled() && d.due() <= self.s.now)
            .map(|(id, d)| (d.due(), id))
            .collect();
        overdue.sort();
        if self.cfg.is(Mutant::OverdueOutOfOrder) {
            overdue.reverse();
        }
        for (_, id) in overdue {
            // An earlier one may have cancelled it (SRV-4 in the seed revision; none in this one).
            if self.s.record(id).is_some_and(|d| d.is_scheduled()) {
                self.fire(id)?;
            }
        }
        Some(())
    }

    /// PSH-4: a transaction to the application service carries every finalised event of its
    /// users that no transaction carried yet, in the order they were finalised; one it did not
    /// acknowledge is sent again as it was. No transaction when there is nothing to carry.
    fn appservice_transaction(&mut self, acknowledged: bool) -> Option<Reply> {
        self.cfg.appservice_user?;
        if !self.cfg.rules().appservice_push || self.s.phase == Phase::Drain {
            return None;
        }
        let queue = &mut self.s.appservice;
        let (mut finalised, retry) = match &queue.unacknowledged {
            Some(items) => (items.clone(), true),
            None if queue.owed.is_empty() => return None,
            None => (std::mem::take(&mut queue.owed), false),
        };
        if retry && self.cfg.is(Mutant::RetryDropsRecord) && !finalised.is_empty() {
            finalised.remove(0);
        }
        queue.unacknowledged = (!acknowledged).then(|| finalised.clone());
        Some(Reply::Transaction { finalised, retry })
    }

    /// PSH-1, PSH-2: finalisations after the user's last `/sync` token (all for an initial sync).
    fn sync(&mut self, user: UserId, initial: bool, include: bool) -> Option<Answer> {
        let since = if initial { 0 } else { self.s.users[user.0 as usize].sync_since? };
        let since = if self.cfg.is(Mutant::SyncIgnoresSince) { 0 } else { since };
        let next_batch = self.s.finalise_seq;
        self.s.users[user.0 as usize].sync_since = Some(next_batch);
        let ids: Vec<DelayId> = self
            .finalised_sorted(user)
            .into_iter()
            .map(|(_, id)| id)
            .filter(|id| self.s.delayed[id.0 as usize].finalisation().is_some_and(|f| f.seq > since))
            .collect();
        // PSH-1 is the seed revision's: the merged one pushes nothing.
        let push = include && !ids.is_empty() && self.cfg.rules().sync_push;
        let finalised = push.then(|| self.mark_returned(&ids));
        Some(Ok(Reply::Sync { finalised, next_batch }))
    }

    fn mark_returned(&mut self, ids: &[DelayId]) -> Vec<FinalisedItem> {
        ids.iter()
            .filter_map(|&id| {
                let d = &mut self.s.delayed[id.0 as usize];
                if let Status::Finalised(f) = &mut d.status {
                    f.returned = true;
                    let f = *f;
                    Some(FinalisedItem::of(id, d, &f))
                } else {
                    None
                }
            })
            .collect()
    }

    // ---- server steps: time, timers, discarding (SRV-*, LST-5) ----

    /// Time may pass only while every scheduled event stays within its lateness bound (SRV-9).
    fn advance(&mut self, ms: u64) -> Option<()> {
        let until = self.s.now.checked_add(ms)?;
        let blocked = self
            .s
            .delayed
            .iter()
            .any(|d| d.is_scheduled() && until > d.due().saturating_add(self.cfg.lateness_ms));
        if ms == 0 || blocked || (self.s.phase == Phase::Drain && !self.any_scheduled()) {
            return None;
        }
        self.s.now = until;
        Some(())
    }

    fn any_scheduled(&self) -> bool {
        self.s.delayed.iter().any(|d| d.is_scheduled())
    }

    /// SRV-1: never before `running_since + delay`; SRV-2: checked now; SRV-3: failures recorded;
    /// SRV-6: refused past the owner's sending budget, and then recorded like any failure.
    fn fire(&mut self, id: DelayId) -> Option<()> {
        let d = *self.s.record(id)?;
        let earliest = if self.cfg.is(Mutant::FireEarly) { d.due().saturating_sub(1) } else { d.due() };
        let stalled = self.cfg.is(Mutant::RestartStopsTimer) && d.restarted;
        if !d.is_scheduled() || self.s.now < earliest || stalled {
            return None;
        }
        let check = if self.cfg.is(Mutant::FiringIgnoresSendBudget) {
            let _ = self.take(d.owner, RateClass::Sending);
            self.authorise(d.room, d.owner, d.kind)
        } else if self.cfg.is(Mutant::NoSendTimeCheck) {
            self.take(d.owner, RateClass::Sending)
        } else {
            self.insertion_check(d.room, d.owner, d.kind)
        };
        match check {
            Ok(()) => {
                let event_id = self.alloc_event();
                self.finalise(id, Outcome::Send, Reason::Delay, None, Some(event_id));
                let sender = if self.cfg.is(Mutant::WrongSender) { UserId(0) } else { d.owner };
                self.enter_delayed(d.room, sender, d.kind, Some(d.content), event_id, Some(id));
            }
            Err(_) if self.cfg.is(Mutant::DropFailedSend) => {
                self.s.delayed[id.0 as usize].status = Status::Discarded;
            }
            Err(e) => {
                let outcome = if self.cfg.rules().failures_are_cancellations {
                    Outcome::Cancel
                } else {
                    self.cfg.decisions.failed_send_outcome
                };
                self.finalise(id, outcome, Reason::Error, Some(e), None);
            }
        }
        Some(())
    }

    /// LST-5 / PSH-3: a returned record may go.
    fn discard(&mut self, id: DelayId) -> Option<()> {
        let d = self.s.record(id)?;
        if !self.cfg.discard_returned || !d.finalisation().is_some_and(|f| f.returned) {
            return None;
        }
        self.s.delayed[id.0 as usize].status = Status::Discarded;
        Some(())
    }

    /// LST-5: records older than the retention age, or beyond the per-user count, are dropped,
    /// oldest finalisation first (by sequence: a tie on `ts` must never drop the newest record).
    fn apply_retention(&mut self) {
        let now = self.s.now;
        let r = self.cfg.retention;
        for d in &mut self.s.delayed {
            if d.finalisation().is_some_and(|f| now > f.ts.saturating_add(r.max_age_ms)) {
                d.status = Status::Discarded;
            }
        }
        for user in 0..self.s.users.len() {
            let owner = UserId(user as u8);
            let mut kept: Vec<(u16, DelayId)> = self
                .s
                .ids()
                .filter_map(|id| {
                    let d = &self.s.delayed[id.0 as usize];
                    (d.owner == owner).then_some(())?;
                    d.finalisation().map(|f| (f.seq, id))
                })
                .collect();
            kept.sort();
            let excess = kept.len().saturating_sub(r.max_per_user as usize);
            for (_, id) in kept.into_iter().take(excess) {
                self.s.delayed[id.0 as usize].status = Status::Discarded;
            }
        }
    }

    // ---- shared rules ----

    /// Every event entering a room on behalf of `sender`, ordinary or delayed: the sending rate
    /// limit (SRV-6; the window is used even when the send then fails, as for an ordinary send),
    /// then membership and power levels (SRV-2).
    fn insertion_check(&mut self, room: RoomId, sender: UserId, kind: EventKind) -> Result<(), MatrixError> {
        self.take(sender, RateClass::Sending)?;
        self.authorise(room, sender, kind)
    }

    /// SRV-2: membership and power levels, evaluated whenever an event is about to enter a room.
    fn authorise(&self, room: RoomId, sender: UserId, kind: EventKind) -> Result<(), MatrixError> {
        let r = self.s.rooms.get(room.0 as usize).ok_or(MatrixError::forbidden())?;
        if !r.members.contains(&sender) || !r.power.allows(sender, kind) {
            return Err(MatrixError::forbidden());
        }
        Ok(())
    }

    fn alloc_event(&mut self) -> EventId {
        let id = EventId(self.s.next_event);
        self.s.next_event += 1;
        id
    }

    /// An event enters the room. SRV-4/SRV-5: a state event cancels the scheduled delayed state
    /// events of *other* senders for the same (type, state key); messages cancel nothing.
    fn enter(
        &mut self,
        room: RoomId,
        sender: UserId,
        kind: EventKind,
        content: Option<ContentId>,
        event_id: EventId,
    ) {
        self.enter_delayed(room, sender, kind, content, event_id, None);
    }

    /// An event enters the room, sent for delayed event `delay_id` if any (SRV-14).
    fn enter_delayed(
        &mut self,
        room: RoomId,
        sender: UserId,
        kind: EventKind,
        content: Option<ContentId>,
        event_id: EventId,
        delay_id: Option<DelayId>,
    ) {
        let now = self.s.now;
        let origin_server_ts = now;
        self.effects.push(RoomEvent { room, event_id, sender, kind, content, origin_server_ts, delay_id });
        let Some(key) = kind.state_key else { return };
        if let (EventType::RtcMember, Some(content)) = (kind.event_type, content) {
            let entry = crate::state::StateEntry { sender, content, event_id };
            self.s.rooms[room.0 as usize].state.insert((kind.event_type, key), entry);
        }
        // SRV-4 (seed) / SRV-12 (merged: the delayed state event is sent later and overwrites).
        let rule = self.cfg.rules().state_update_cancels != self.cfg.is(Mutant::StateUpdateRuleInverted);
        let doomed: Vec<DelayId> = self
            .s
            .ids()
            .filter(|id| {
                let d = &self.s.delayed[id.0 as usize];
                let cancels = if self.cfg.is(Mutant::StateUpdateIgnored) || !rule {
                    false
                } else if self.cfg.is(Mutant::SameSenderCancels) {
                    true
                } else {
                    d.owner != sender
                };
                d.is_scheduled() && d.room == room && d.kind == kind && cancels
            })
            .collect();
        for id in doomed {
            let error = MatrixError::cancelled_by_state_update();
            self.finalise(id, Outcome::Cancel, Reason::Error, Some(error), None);
        }
    }

    /// SRV-8: the only way out of `Scheduled`.
    fn finalise(
        &mut self,
        id: DelayId,
        outcome: Outcome,
        reason: Reason,
        error: Option<MatrixError>,
        event_id: Option<EventId>,
    ) {
        self.s.finalise_seq += 1;
        let f = Finalisation {
            outcome,
            reason,
            error,
            event_id,
            ts: self.s.now,
            seq: self.s.finalise_seq,
            returned: false,
        };
        let d = &self.s.delayed[id.0 as usize];
        if self.cfg.rules().appservice_push && self.cfg.appservice_user == Some(d.owner) {
            self.s.appservice.owed.push(crate::reply::FinalisedItem::of(id, d, &f));
        }
        self.s.delayed[id.0 as usize].status = Status::Finalised(f);
    }

    /// SCH-6, MGT-6, lookups and sends: one fixed window per user and class.
    fn take(&mut self, user: UserId, class: RateClass) -> Result<(), MatrixError> {
        let Some(limit) = self.class_limit(class) else { return Ok(()) };
        let now = self.s.now;
        let w = &mut self.s.users[user.0 as usize].rate[class as usize];
        if now >= w.start.saturating_add(limit.window_ms) {
            *w = crate::state::RateWindow { start: now, count: 0 };
        }
        if w.count >= limit.max {
            return Err(MatrixError::limit_exceeded(w.start.saturating_add(limit.window_ms) - now));
        }
        w.count += 1;
        Ok(())
    }

    fn class_limit(&self, class: RateClass) -> Option<crate::config::Window> {
        let l = &self.cfg.rate_limits;
        match class {
            RateClass::Scheduling => l.scheduling,
            RateClass::Management => l.management,
            RateClass::Lookups => l.lookups,
            RateClass::Sending => l.sending,
        }
    }
}

/// The requests of MSC4140's own endpoints (what a guest may or may not use, SCH-21).
fn delayed_event_endpoint(op: &Op) -> bool {
    matches!(
        op,
        Op::Schedule { .. }
            | Op::Manage { .. }
            | Op::ListScheduled { .. }
            | Op::ListScheduledBare { .. }
            | Op::ListFinalised { .. }
            | Op::Lookup { .. }
    )
}

fn txn_reply(prev: TxnResult) -> Reply {
    match prev {
        TxnResult::Scheduled(id) => Reply::DelayId(id),
        TxnResult::Sent(id) => Reply::EventId(id),
    }
}
