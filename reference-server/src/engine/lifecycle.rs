//! The MSC4140 lifecycle: scheduling (SCH-*), the three actions (MGT-*), the timer firing
//! (SRV-1..3, SRV-6..10) and finalisation (SRV-8). Every transition of a delayed event holds its
//! owner's lock (sends, cancels, the timer and state updates also hold the room's, taken first),
//! so a restart, a send, a cancel, a firing timer and a state update on the same event are
//! totally ordered, and a taken event is recorded as finalised before the owner's lock is
//! released.

use super::accounts::{Session, TxnPath, TxnResult};
use super::delayed::{Outcome, Reason, Retention, Scheduled, UserDelays};
use super::events::{Draft, Event};
use super::ids::DelayId;
use super::ratelimit::RateClass;
use super::rooms::RoomCell;
use super::timers::TimerEntry;
use super::Engine;
use crate::error::{MatrixError, Result};
use crate::store::change::{Change, FinalisedRow, ScheduledRow, TxnRow};
use crate::sync::{lock, Arc};
use std::cmp::Reverse;

/// MGT-2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Send,
    Cancel,
    Restart,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "send" => Action::Send,
            "cancel" => Action::Cancel,
            "restart" => Action::Restart,
            _ => return None,
        })
    }
}

/// A delayed event to schedule: where, what, and after how long.
pub struct Schedule<'a> {
    pub room_id: &'a str,
    pub draft: Draft,
    /// The delay in ms, or why the request's value is none (SCH-9); judged after the
    /// transaction id, so a retry gets the first answer whatever it carries.
    pub delay: Result<u64>,
    /// SCH-10: the transaction id of the `send` path, or of the merged `delayed_event` path.
    pub txn: Option<&'a str>,
    pub path: TxnPath,
}

impl Engine {
    pub(super) fn retention(&self) -> Retention {
        Retention {
            max_age_ms: self.settings.retention_max_age_ms,
            max_per_user: self.settings.retention_max_per_user,
        }
    }

    /// SRV-8: the single place an event taken out of `scheduled` becomes finalised. `sent` is
    /// the event it put into the room: stored with the record in one transaction (PER-2).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finalise(
        &self,
        d: &mut UserDelays,
        owner: &str,
        id: DelayId,
        s: Scheduled,
        outcome: Outcome,
        reason: Reason,
        error: Option<MatrixError>,
        sent: Option<&Arc<Event>>,
        now: u64,
    ) {
        tracing::debug!(%id, outcome = outcome.as_str(), reason = reason.as_str(), error = ?error.as_ref().map(|e| e.code.as_str()), "finalised");
        let event_id = sent.map(|e| e.event_id.clone());
        let logged = self.store.is_some().then(|| (error.clone(), event_id.clone()));
        let seq = d.record(id, s, outcome, reason, error, event_id, now);
        // PSH-4 (the seed text; the merged one pushes nothing): queued while the owner's lock
        // orders it after every earlier finalisation of theirs.
        if !self.appservices().is_empty() && !self.settings.revision.is_merged() {
            if let Some(f) = d.finalised(id) {
                self.appservices().on_finalised(owner, || super::lookups::FinalisedView::of(id, f));
            }
        }
        if let Some((error, event_id)) = logged {
            let sent = sent.cloned();
            self.log(|| {
                Change::Finalised(FinalisedRow { id, outcome, reason, error, ts: now, seq, event_id, sent })
            });
        }
        self.retain(d, now);
        if crate::planted!(self.settings, RecordsForgotten) {
            d.discard(id);
            self.log(|| Change::Discarded { ids: vec![id] });
        }
        self.signal_live(-1);
        self.signals.stream_changed();
    }

    /// LST-5: drop records past retention, and on disk too.
    pub(super) fn retain(&self, d: &mut UserDelays, now: u64) {
        let ids = d.enforce_retention(now, self.retention());
        if !ids.is_empty() {
            self.log(|| Change::Discarded { ids });
        }
    }

    pub(super) fn arm(
        &self,
        due: u64,
        id: DelayId,
        owner: &Arc<super::accounts::Account>,
        room: &Arc<RoomCell>,
    ) {
        let entry = TimerEntry { due: self.timer_due(due), id, owner: owner.clone(), room: room.clone() };
        if self.timers.push(entry) {
            self.signals.wake_timers();
        }
    }

    /// SCH-1..11: schedule a delayed event; returns its `delay_id` (or, for a repeated
    /// transaction id, whatever the first request with it returned).
    pub fn schedule(&self, s: &Session, req: Schedule<'_>, now: u64) -> Result<TxnResult> {
        let account = &s.account;
        // SCH-10: the transaction lock is held to the end, so a retry racing the first request
        // still schedules once.
        let mut txns = req.txn.map(|_| lock(&account.txns));
        let txn_key = req.txn.map(|t| s.txn_key(req.path, req.room_id, &req.draft.event_type, t));
        if let (Some(txns), Some(key)) = (&txns, &txn_key) {
            if let Some(prev) = txns.get(key).filter(|_| !crate::planted!(self.settings, TxnReplayIgnored)) {
                return Ok(prev.clone());
            }
        }
        // SCH-9, then SCH-5.
        let delay_ms = req.delay?;
        if delay_ms > self.settings.max_delay_ms && !crate::planted!(self.settings, NoMaxDelay) {
            if crate::planted!(self.settings, WrongMaxDelayError) {
                return Err(MatrixError::invalid_param("delay too long"));
            }
            // SCH-15: the merged text answers 403 (the maximum is in the capability, DSC-4).
            if self.settings.revision.is_merged() {
                return Err(MatrixError::forbidden("The requested delay exceeds the allowed maximum."));
            }
            return Err(MatrixError::max_delay_exceeded(self.settings.max_delay_ms));
        }
        // SCH-11: the room exists and the sender is joined; power levels wait for SRV-2.
        let not_in_room = || MatrixError::forbidden(format!("You are not joined to {}", req.room_id));
        let cell = self.room(req.room_id).ok_or_else(not_in_room)?;
        let mut room = lock(&cell.room);
        if !room.is_joined(&account.user_id) && !crate::planted!(self.settings, ScheduleAfterLeaving) {
            return Err(not_in_room());
        }
        if crate::planted!(self.settings, PowerCheckedAtSchedule) {
            room.authorise(&account.user_id, &req.draft)?;
        }
        // SCH-6.
        self.take_rate(account, RateClass::Scheduling, now)?;
        let id = self.new_delay_id(account);
        let slot = req.draft.slot();
        let scheduled = Scheduled { room: cell.clone(), draft: req.draft, delay_ms, running_since: now };
        let due = scheduled.due();
        {
            let mut d = lock(&account.delays);
            // SCH-7 / SCH-16, SCH-17.
            let limit = self.settings.max_delayed_per_user;
            if d.outstanding() >= limit {
                if crate::planted!(self.settings, OutstandingLimitAsRateLimit) {
                    return Err(MatrixError::limit_exceeded(600_000));
                }
                if !self.settings.revision.is_merged() {
                    return Err(MatrixError::max_delayed_events());
                }
                if limit == 0 {
                    return Err(MatrixError::forbidden("Delayed events are disabled on this server."));
                }
                // `Retry-After`: until the user's next send time, rounded up to a second.
                let wait = d.next_due().map_or(0, |due| due.saturating_sub(now));
                let seconds = if crate::planted!(self.settings, RetryAfterRoundedDown) {
                    wait / 1000
                } else {
                    wait.div_ceil(1000)
                };
                return Err(MatrixError::too_many_scheduled(seconds));
            }
            let logged = self.store.is_some().then(|| ScheduledRow {
                id,
                owner: account.user_id.clone(),
                room_id: cell.id.clone(),
                draft: scheduled.draft.clone(),
                delay_ms,
                running_since: now,
            });
            d.insert(id, scheduled);
            if let Some(row) = logged {
                let txn = req.txn.map(|t| TxnRow::new(s, req.path, req.room_id, &row.draft.event_type, t));
                self.log(|| Change::Scheduled { row, txn });
            }
            self.signal_live(1);
        }
        if let Some(slot) = slot {
            room.pending.entry(slot).or_default().push((id, Arc::downgrade(account)));
        }
        drop(room);
        self.arm(due, id, account, &cell);
        if let (Some(txns), Some(key)) = (&mut txns, txn_key) {
            txns.insert(key, TxnResult::Scheduled(id));
        }
        Ok(TxnResult::Scheduled(id))
    }

    /// SCH-4: a fresh delay id (or, under a planted fault, a per-user counter).
    fn new_delay_id(&self, account: &super::accounts::Account) -> DelayId {
        #[cfg(feature = "faults")]
        if crate::planted!(self.settings, PerUserDelayIds) {
            let mut d = lock(&account.delays);
            d.issued += 1;
            return DelayId(d.issued as u128);
        }
        let _ = account;
        self.ids.delay_id()
    }

    /// MGT-1..10: `send`, `cancel` or `restart` the caller's delayed event `id`.
    pub fn manage(&self, s: &Session, id: &str, action: Action, now: u64) -> Result<()> {
        let account = &s.account;
        // MGT-7 / SEC-2: malformed, unknown, discarded and other users' ids are all 404.
        let not_found = || MatrixError::not_found("No delayed event with this id");
        if crate::planted!(self.settings, UnknownIdInvalid) && DelayId::parse(id).is_none() {
            return Err(MatrixError::invalid_param("Malformed delay id"));
        }
        let id = DelayId::parse(id).ok_or_else(not_found)?;
        let mut d = lock(&account.delays);
        // LST-5: a record past the retention age is gone for management too (MGT-8: 404).
        self.retain(&mut d, now);
        let room = match (d.scheduled(id), d.finalised(id)) {
            (Some(sch), _) => Some(sch.room.clone()),
            (None, Some(_)) => None,
            (None, None)
                if crate::planted!(self.settings, OthersIdForbidden) && self.someone_has(id, account) =>
            {
                return Err(MatrixError::forbidden("This delayed event is not yours"));
            }
            (None, None) => return Err(not_found()),
        };
        // MGT-6 (the rate windows are a leaf lock).
        self.take_rate(account, RateClass::Management, now)?;
        let Some(cell) = room else {
            #[cfg(feature = "faults")]
            if crate::planted!(self.settings, RedundantSendStallsOthers) && action == Action::Send {
                d.stalled = true;
            }
            return self.answer_finalised(&d, id, action);
        };
        let ignored = match action {
            Action::Restart => crate::planted!(self.settings, RestartIgnored),
            Action::Cancel => crate::planted!(self.settings, CancelIgnored),
            Action::Send => crate::planted!(self.settings, SendActionNoop),
        };
        if ignored {
            return Ok(());
        }
        if action == Action::Restart {
            // MGT-5. Every transition of this event holds the owner's lock, so the owner's lock
            // alone orders a restart against a firing timer: the hot path takes no room lock and
            // arms nothing (the event's timer entry re-arms itself when it comes up early).
            d.restart(id, now).ok_or_else(not_found)?;
            self.log(|| Change::Restarted { id, running_since: now });
            return Ok(());
        }
        // Sending and cancelling touch the room: take it first (lock order), then look again.
        drop(d);
        let mut room = lock(&cell.room);
        let mut d = lock(&account.delays);
        let Some(current) = d.scheduled(id) else {
            // Finalised between the two looks.
            return self.answer_finalised(&d, id, action);
        };
        if action == Action::Cancel {
            // MGT-4.
            let slot = current.draft.slot();
            if let Some(taken) = d.take(id) {
                self.finalise(
                    &mut d,
                    &account.user_id,
                    id,
                    taken,
                    Outcome::Cancel,
                    Reason::Action,
                    None,
                    None,
                    now,
                );
            }
            drop(d);
            unindex(&mut room.pending, slot, id);
            return Ok(());
        }
        // MGT-10: a send that would fail answers the ordinary send's error and changes nothing;
        // SRV-6, then SRV-2: the sending budget and the room as it is now, as for an ordinary send.
        self.take_rate(account, RateClass::Sending, now)?;
        if let Err(e) = room.authorise(&account.user_id, &current.draft) {
            if crate::planted!(self.settings, FailedSendActionFinalises) {
                let slot = current.draft.slot();
                if let Some(taken) = d.take(id) {
                    let error = Some(e.clone());
                    self.finalise(
                        &mut d,
                        &account.user_id,
                        id,
                        taken,
                        Outcome::Cancel,
                        Reason::Error,
                        error,
                        None,
                        now,
                    );
                }
                drop(d);
                unindex(&mut room.pending, slot, id);
            }
            return Err(e);
        }
        let Some(taken) = d.take(id) else { return Err(not_found()) };
        let slot = taken.draft.slot();
        let shown = self.settings.revision.is_merged().then_some(id);
        let event = self.append(&mut room, &account.user_id, taken.draft.clone(), None, shown, now);
        // MGT-3.
        self.finalise(
            &mut d,
            &account.user_id,
            id,
            taken,
            Outcome::Send,
            Reason::Action,
            None,
            Some(&event),
            now,
        );
        drop(d);
        unindex(&mut room.pending, slot, id);
        self.after_enter(&cell, &mut room, &event, now);
        Ok(())
    }

    /// MGT-8: on a finalised event, the action matching the outcome is a safe retry (200 `{}`);
    /// a conflicting one is 409; a discarded record is 404.
    fn answer_finalised(&self, d: &UserDelays, id: DelayId, action: Action) -> Result<()> {
        let f = d.finalised(id).ok_or_else(|| MatrixError::not_found("No delayed event with this id"))?;
        match (action, f.outcome) {
            (Action::Send, Outcome::Send) | (Action::Cancel, Outcome::Cancel) => Ok(()),
            _ if crate::planted!(self.settings, ConflictSucceeds) => Ok(()),
            (_, outcome) => Err(MatrixError::conflict(format!(
                "The delayed event was already finalised with outcome `{}`",
                outcome.as_str()
            ))),
        }
    }

    /// Fire every timer that is due; returns the next due time. Called by the timer task only.
    /// `clock` is read again for each event, so a sent event carries the time it was actually
    /// sent (SRV-10) even when a long batch is due at once.
    pub fn run_timers(&self, clock: &dyn Fn() -> u64) -> Option<u64> {
        let mut heap = lock(&self.timers.heap);
        loop {
            self.timers.drain_into(&mut heap);
            loop {
                let now = clock();
                if heap.peek().is_none_or(|Reverse(e)| e.due > now) {
                    break;
                }
                if let Some(Reverse(entry)) = heap.pop() {
                    if let Some(rearm) = self.fire(entry, clock) {
                        heap.push(Reverse(rearm));
                    }
                }
            }
            // Events finalised before their due time leave their entries behind; drop those when
            // they outnumber the live ones (amortised O(1) per entry).
            if heap.len() > 2 * self.live_delayed() + 1024 {
                heap.retain(|Reverse(e)| lock(&e.owner.delays).scheduled(e.id).is_some());
            }
            let next = heap.peek().map(|Reverse(e)| e.due);
            if self.timers.arm(next) {
                return next;
            }
        }
    }

    /// When the timer really fires for an event due at `due` (only planted faults move it).
    fn timer_due(&self, due: u64) -> u64 {
        let (early, late) =
            (crate::planted!(self.settings, FireEarly), crate::planted!(self.settings, FireLate));
        match (early, late) {
            (true, _) => due.saturating_sub(300),
            (_, true) => due.saturating_add(6_000),
            _ => due,
        }
    }

    /// SRV-1..3, SRV-6, SRV-7, SRV-10: send a due event as its owner, or record why it failed.
    /// Returns the entry to arm again when the event was restarted since it was armed. The clock
    /// is read once the locks are held: time spent waiting for them is time the event was not yet
    /// sent (SRV-10).
    fn fire(&self, entry: TimerEntry, clock: &dyn Fn() -> u64) -> Option<TimerEntry> {
        let mut room = lock(&entry.room.room);
        let mut d = lock(&entry.owner.delays);
        let now = clock();
        match d.scheduled(entry.id).map(|s| self.timer_due(s.due())) {
            // Already finalised: the entry is stale.
            None => return None,
            // Fault: the user's timers were stopped; look again in an hour.
            #[cfg(feature = "faults")]
            Some(_) if d.stalled => {
                let due = now + 3_600_000;
                return Some(TimerEntry {
                    due,
                    id: entry.id,
                    owner: entry.owner.clone(),
                    room: entry.room.clone(),
                });
            }
            // Restarted: due later (SRV-1: never before `running_since + delay`).
            Some(due) if due > now => {
                return Some(TimerEntry {
                    due,
                    id: entry.id,
                    owner: entry.owner.clone(),
                    room: entry.room.clone(),
                })
            }
            Some(_) => {}
        }
        let taken = d.take(entry.id)?;
        let slot = taken.draft.slot();
        let owner = entry.owner.user_id.clone();
        // SRV-6 (CLARIFIED): past the owner's sending budget the insertion is refused and recorded
        // like any other send-time failure, never retried; then SRV-2.
        let insertion = self
            .take_rate(&entry.owner, RateClass::Sending, now)
            .and_then(|()| room.authorise(&owner, &taken.draft));
        match insertion {
            Ok(()) => {
                if crate::planted!(self.settings, DoubleSend) {
                    self.append_logged(&mut room, &owner, taken.draft.clone(), None, None, now);
                }
                if crate::planted!(self.settings, SlotCollisionDropsOne) {
                    // Drop the owner's other events for this slot due in the same batch (2 s),
                    // unrecorded.
                    let due_now: Vec<DelayId> = d
                        .scheduled_all()
                        .into_iter()
                        .filter(|(_, s)| {
                            s.due() <= now + 2_000
                                && s.draft.slot().is_some()
                                && s.draft.slot() == taken.draft.slot()
                        })
                        .map(|(id, _)| id)
                        .collect();
                    for other in due_now {
                        d.take(other);
                        self.signal_live(-1);
                        unindex(&mut room.pending, taken.draft.slot(), other);
                    }
                }
                let (sender, draft) = self.as_fired(&room, &owner, &taken.draft);
                let shown = self.settings.revision.is_merged().then_some(entry.id);
                let event = self.append(&mut room, &sender, draft, None, shown, now);
                self.finalise(
                    &mut d,
                    &owner,
                    entry.id,
                    taken,
                    Outcome::Send,
                    Reason::Delay,
                    None,
                    Some(&event),
                    now,
                );
                drop(d);
                unindex(&mut room.pending, slot, entry.id);
                self.after_enter(&entry.room, &mut room, &event, now);
            }
            Err(_) if crate::planted!(self.settings, LoseFailedSends) => {
                self.signal_live(-1);
                drop(d);
                unindex(&mut room.pending, slot, entry.id);
            }
            Err(e) => {
                // SRV-3: recorded with the error the ordinary send would have returned.
                self.finalise(
                    &mut d,
                    &owner,
                    entry.id,
                    taken,
                    Outcome::Cancel,
                    Reason::Error,
                    Some(e),
                    None,
                    now,
                );
                drop(d);
                unindex(&mut room.pending, slot, entry.id);
            }
        }
        None
    }
}

impl Engine {
    /// Who sends a firing event, and what (only planted faults change either: SRV-7).
    fn as_fired(&self, room: &super::rooms::Room, owner: &Arc<str>, draft: &Draft) -> (Arc<str>, Draft) {
        let mut out = (owner.clone(), draft.clone());
        if crate::planted!(self.settings, WrongSender) {
            out.0 = room.creator.clone();
        }
        if crate::planted!(self.settings, ContentChanged) {
            let mut content = draft.content_value();
            if let Some(m) = content.as_object_mut() {
                m.insert("changed_by".into(), serde_json::json!("the server"));
            }
            out.1.content = super::events::raw(&content);
        }
        let _ = room;
        out
    }

    /// Fault `others_id_forbidden`: whether another account holds `id` (the caller holds its own
    /// store's lock, so the others are only tried, never waited for).
    fn someone_has(&self, id: DelayId, caller: &Arc<super::accounts::Account>) -> bool {
        self.accounts.values().iter().filter(|a| !Arc::ptr_eq(a, caller)).any(|a| {
            a.delays.try_lock().is_ok_and(|d| d.scheduled(id).is_some() || d.finalised(id).is_some())
        })
    }
}

/// Remove a finalised delayed state event from its slot's pending list.
fn unindex(
    pending: &mut std::collections::HashMap<
        super::rooms::Slot,
        Vec<(DelayId, crate::sync::Weak<super::accounts::Account>)>,
    >,
    slot: Option<super::rooms::Slot>,
    id: DelayId,
) {
    let Some(slot) = slot else { return };
    if let Some(list) = pending.get_mut(&slot) {
        list.retain(|(p, _)| *p != id);
        if list.is_empty() {
            pending.remove(&slot);
        }
    }
}
