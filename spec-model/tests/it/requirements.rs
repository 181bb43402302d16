//! One or more tests per semantic requirement of the catalogue, normal and edge cases, on the raw
//! specification. Each names the ids it covers; `coverage.rs` checks none is left out.

use crate::world::*;
use spec_model::config::{RateLimits, Retention, Window};
use spec_model::error::ErrCode;
use spec_model::op::{DelayParam, DelayRef, From, Op};
use spec_model::power::PowerChange;
use spec_model::render;
use spec_model::reply::{Reply, Step};
use spec_model::types::*;
use spec_model::{Config, Revision};

// ---- scheduling ----

// covers: SCH-1 SCH-3 SCH-4
// Would catch: a schedule that sends at once, answers an `event_id`, or reuses a `delay_id` across users.
#[test]
fn scheduling_answers_a_fresh_delay_id_and_sends_nothing_yet() {
    let mut w = World::new();
    let a = w.run(Op::Schedule {
        user: ADMIN,
        device: DeviceId(0),
        room: ROOM,
        kind: EventKind::message(),
        content: ContentId(0),
        delay: DelayParam::Ms(1000),
        txn: Some(TxnId(1)),
    });
    let b = w.schedule(BOB, slot(0), 1000);
    assert!(a.effects.is_empty(), "nothing enters the room when scheduling");
    let Reply::DelayId(a) = a.reply else { panic!("no delay_id: {:?}", a.reply) };
    assert_ne!(a, b, "delay ids are unique across users");
    let body = render::body(&w.cfg, &Reply::DelayId(a));
    assert!(body.get("delay_id").is_some() && body.get("event_id").is_none());
}

// covers: SCH-9
// Would catch: a zero, negative or non-integer delay scheduled instead of refused with 400 `M_INVALID_PARAM`.
#[test]
fn zero_negative_and_fractional_delays_are_invalid() {
    let mut w = World::new();
    for delay in [DelayParam::Ms(0), DelayParam::Ms(-5), DelayParam::Ms(i64::MIN), DelayParam::NotAnInteger] {
        let reply = w.schedule_raw(ADMIN, slot(0), delay);
        assert_eq!(reply.status(), 400);
        assert_eq!(code(&reply), Some(ErrCode::InvalidParam), "{delay:?}");
    }
    assert!(w.s.delayed.is_empty(), "nothing scheduled");
}

// covers: SCH-5 SCH-8
// Would catch: an exclusive maximum, a missing `max_delay`, `i64::MAX` overflowing past the check.
#[test]
fn the_maximum_delay_is_inclusive_and_reported() {
    let mut w = World::new();
    let max = w.cfg.max_delay_ms.expect("reference has a maximum");
    assert!(max <= 31 * 86_400_000, "SCH-8: at most a month");
    w.schedule(ADMIN, slot(0), max as i64);
    let reply = w.schedule_raw(ADMIN, slot(1), DelayParam::Ms(max as i64 + 1));
    let e = reply.error().expect("refused");
    assert_eq!((e.status, e.code, e.max_delay), (400, ErrCode::MaxDelayExceeded, Some(max)));
    let huge = w.schedule_raw(ADMIN, slot(1), DelayParam::Ms(i64::MAX));
    assert_eq!(code(&huge), Some(ErrCode::MaxDelayExceeded));
}

// covers: SCH-7 SEC-3
// Would catch: an off-by-one limit, or one counting other users' or finalised events.
#[test]
fn the_outstanding_limit_counts_only_scheduled_events_of_the_user() {
    let mut w = World::with(Config { max_outstanding_per_user: Some(2), ..Config::reference() });
    let a = w.schedule(ADMIN, slot(0), 10);
    w.schedule(ADMIN, slot(1), 10);
    let refused = w.schedule_raw(ADMIN, slot(2), DelayParam::Ms(10));
    let e = refused.error().expect("limit");
    assert_eq!((e.status, e.code), (400, ErrCode::MaxDelayedEventsExceeded));
    w.schedule(BOB, slot(0), 10); // another user's budget is separate
    w.manage(ADMIN, a, Action::Cancel);
    w.schedule(ADMIN, slot(2), 10); // finalised events free the slot
}

// covers: SCH-10
// Would catch: a retry that schedules again, or a transaction scope other than device + request path.
#[test]
fn a_repeated_transaction_returns_the_same_delay_id() {
    let mut w = World::with(Config { max_outstanding_per_user: None, ..Config::reference() });
    let with_delay = |user, device, room, ms| Op::Schedule {
        user,
        device: DeviceId(device),
        room,
        kind: EventKind::message(),
        content: ContentId(0),
        delay: DelayParam::Ms(ms),
        txn: Some(TxnId(7)),
    };
    let op = |user, device, room| with_delay(user, device, room, 50);
    let first = w.run(op(ADMIN, 0, ROOM)).reply;
    let again = w.run(with_delay(ADMIN, 0, ROOM, 0)).reply;
    assert_eq!(first, again, "the first answer, whatever the retry carries");
    assert_eq!(w.s.delayed.len(), 1, "nothing new scheduled");
    // The ordinary send on the same path shares the scope: it answers the first answer too.
    let send = Op::SendMessage {
        user: ADMIN,
        device: DeviceId(0),
        room: ROOM,
        content: ContentId(1),
        txn: TxnId(7),
    };
    let same_path = w.run(send);
    assert_eq!((&same_path.reply, same_path.effects.len()), (&first, 0));
    // Another device or another user: a new transaction; so is another room (another path).
    for (user, device) in [(ADMIN, 1), (BOB, 0)] {
        assert_ne!(w.run(op(user, device, ROOM)).reply, first, "{user} D{device}");
    }
    let mut two_rooms = World::with(Config { max_outstanding_per_user: None, ..Config::reference() });
    two_rooms.s = spec_model::state::State::new(3, 2);
    let in_first = two_rooms.run(op(ADMIN, 0, RoomId(0))).reply;
    assert_ne!(two_rooms.run(op(ADMIN, 0, RoomId(1))).reply, in_first, "another room is another path");
    assert_eq!((w.s.delayed.len(), two_rooms.s.delayed.len()), (3, 2));
}

// covers: SCH-11 SRV-2
// Would catch: power levels checked at scheduling, or scheduling allowed after leaving or into an unknown room.
#[test]
fn scheduling_needs_membership_but_not_power() {
    let mut w = World::new();
    // Bob may not set m.rtc.member state (state_default 50) but may schedule it.
    w.schedule(BOB, slot(0), 10);
    w.run(Op::Leave { user: BOB, room: ROOM });
    let left = w.schedule_raw(BOB, slot(0), DelayParam::Ms(10));
    assert_eq!((left.status(), code(&left)), (403, Some(ErrCode::Forbidden)));
    let unknown = w.run(Op::Schedule {
        user: ADMIN,
        device: DeviceId(0),
        room: RoomId(9),
        kind: slot(0),
        content: ContentId(0),
        delay: DelayParam::Ms(10),
        txn: None,
    });
    assert_eq!(code(&unknown.reply), Some(ErrCode::Forbidden));
}

// covers: SCH-6 MGT-6 SEC-3
// Would catch: a window shared between users, no `retry_after_ms`, or a window that never resets.
#[test]
fn rate_limits_answer_429_with_retry_after_and_reset() {
    let limit = Some(Window { max: 1, window_ms: 100 });
    let cfg = Config {
        rate_limits: RateLimits { scheduling: limit, management: limit, lookups: limit, sending: limit },
        ..Config::reference()
    };
    let mut w = World::with(cfg);
    let id = w.schedule(ADMIN, slot(0), 1000);
    let limited = w.schedule_raw(ADMIN, slot(1), DelayParam::Ms(1000));
    let e = limited.error().expect("limited");
    assert_eq!((e.status, e.code, e.retry_after_ms), (429, ErrCode::LimitExceeded, Some(100)));
    w.schedule(BOB, slot(1), 1000); // per user
    w.manage(ADMIN, id, Action::Restart);
    assert_eq!(err(&w.manage(ADMIN, id, Action::Restart)).code, ErrCode::LimitExceeded);
    w.wait(100);
    w.schedule(ADMIN, slot(1), 1000); // a new window
    w.manage(ADMIN, id, Action::Restart);
}

// ---- managing ----

// covers: MGT-2
// Would catch: the id looked up before the action is validated (404 for a bad action), a wrong code, or a change made.
#[test]
fn an_unknown_action_is_invalid_whatever_the_id() {
    let mut w = World::new();
    let id = w.schedule(ADMIN, slot(0), 10);
    for delay in [DelayRef::Issued(id), DelayRef::NeverIssued] {
        let s = w.run(Op::Manage { user: ADMIN, delay, action: Action::Other });
        assert_eq!((err(&s).status, err(&s).code), (400, ErrCode::InvalidParam));
        let s = w.run(Op::Manage { user: ADMIN, delay, action: Action::Missing });
        assert_eq!((err(&s).status, err(&s).code), (400, ErrCode::MissingParam));
    }
    assert!(w.is_scheduled(id));
    assert!(w.s.delayed.len() == 1 && w.s.delayed[0].running_since == 0, "nothing changed");
}

// covers: MGT-3 MGT-9 SRV-7
// Would catch: a `send` action that inserts nothing, another content/sender/time, or a record without its `event_id`.
#[test]
fn send_sends_now_with_the_scheduled_content() {
    let mut w = World::new();
    let id = w.schedule(ADMIN, slot(0), 10_000);
    w.wait(3);
    let s = w.manage(ADMIN, id, Action::Send);
    assert_eq!(s.reply, Reply::Empty);
    assert_eq!(render::body(&w.cfg, &s.reply), serde_json::json!({}));
    let [e] = s.effects.as_slice() else { panic!("one event: {:?}", s.effects) };
    assert_eq!((e.sender, e.kind, e.content, e.origin_server_ts), (ADMIN, slot(0), Some(ContentId(0)), 3));
    let f = w.finalisation(id);
    assert_eq!((f.outcome, f.reason, f.event_id), (Outcome::Send, Reason::Action, Some(e.event_id)));
}

// covers: MGT-4
// Would catch: a timer that still fires a cancelled event, or a cancel recorded with another outcome.
#[test]
fn cancel_means_never_sent() {
    let mut w = World::new();
    let id = w.schedule(ADMIN, slot(0), 5);
    assert_eq!(w.manage(ADMIN, id, Action::Cancel).reply, Reply::Empty);
    // The timer step itself, past the due time: the model must refuse it (`World::wait` only
    // fires scheduled events, so it could not show this).
    for _ in 0..20 {
        w.run(Op::Advance { ms: 1 });
        assert!(
            w.try_run(Op::Fire { delay: id }).is_none(),
            "the timer fires a cancelled event at {}",
            w.s.now
        );
    }
    let f = w.finalisation(id);
    assert_eq!((f.outcome, f.reason, f.event_id), (Outcome::Cancel, Reason::Action, None));
}

// covers: MGT-5 SRV-1
// Would catch: a restart that keeps the old due time, adds to it, or lets the timer fire early.
#[test]
fn restart_moves_the_due_time_to_now_plus_the_original_delay() {
    let mut w = World::new();
    let id = w.schedule(ADMIN, slot(0), 10);
    w.wait(7);
    w.manage(ADMIN, id, Action::Restart);
    assert!(w.wait(9).is_empty(), "not at the old due time 10, not before 17");
    assert!(w.try_run(Op::Fire { delay: id }).is_none(), "never early");
    let fired = w.wait(1);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].effects[0].origin_server_ts, 17);
    let f = w.finalisation(id);
    assert_eq!((f.outcome, f.reason, f.delayed_event.running_since), (Outcome::Send, Reason::Delay, 7));
}

// covers: MGT-7 SEC-2
// Would catch: another user's id told apart from an unknown one (403, another body), or acted upon.
#[test]
fn unknown_and_foreign_ids_are_the_same_404() {
    let mut w = World::new();
    let bobs = w.schedule(BOB, slot(0), 10);
    let foreign = w.run(Op::Manage { user: ADMIN, delay: DelayRef::Issued(bobs), action: Action::Cancel });
    let unknown = w.run(Op::Manage { user: ADMIN, delay: DelayRef::NeverIssued, action: Action::Cancel });
    assert_eq!(err(&foreign), err(&unknown));
    assert_eq!((err(&unknown).status, err(&unknown).code), (404, ErrCode::NotFound));
    assert_eq!(render::body(&w.cfg, &foreign.reply), render::body(&w.cfg, &unknown.reply));
    assert!(w.is_scheduled(bobs), "untouched");
}

// covers: MGT-8 SRV-8
// Would catch: any wrong cell of the retry table, or a retry that sends again or changes the record.
#[test]
fn actions_on_finalised_events_follow_the_retry_table() {
    let mut w = World::new();
    let sent = w.schedule(ADMIN, slot(0), 10);
    w.manage(ADMIN, sent, Action::Send);
    let cancelled = w.schedule(ADMIN, slot(1), 10);
    w.manage(ADMIN, cancelled, Action::Cancel);
    let table = [
        (sent, Action::Send, 200),
        (sent, Action::Cancel, 409),
        (sent, Action::Restart, 409),
        (cancelled, Action::Cancel, 200),
        (cancelled, Action::Send, 409),
        (cancelled, Action::Restart, 409),
    ];
    for (id, action, status) in table {
        let before = w.s.clone();
        let s = w.manage(ADMIN, id, action);
        assert_eq!(s.reply.status(), status, "{action:?} on {id}");
        if status == 409 {
            assert_eq!(err(&s).code, ErrCode::Unknown);
        }
        assert!(s.effects.is_empty(), "never sent twice");
        assert_eq!(w.s, before, "nothing changes");
    }
}

// covers: MGT-8 LST-5
// Would catch: an unreturned record discarded, or a discarded one still answering 200/409.
#[test]
fn a_discarded_record_answers_404() {
    let mut w = World::with(Config { discard_returned: true, ..Config::reference() });
    let id = w.schedule(ADMIN, slot(0), 10);
    w.manage(ADMIN, id, Action::Cancel);
    assert!(w.try_run(Op::Discard { delay: id }).is_none(), "not returned yet: must be kept");
    w.finalised(ADMIN, From::Start);
    w.run(Op::Discard { delay: id });
    assert_eq!(err(&w.manage(ADMIN, id, Action::Cancel)).code, ErrCode::NotFound);
}

// covers: MGT-10 SRV-2
// Would catch: a failing `send` action that finalises the event or answers 200.
#[test]
fn a_failing_send_action_answers_the_send_error_and_keeps_the_event() {
    let mut w = World::new();
    let id = w.schedule(BOB, slot(0), 10);
    let s = w.manage(BOB, id, Action::Send);
    assert_eq!((err(&s).status, err(&s).code), (403, ErrCode::Forbidden));
    assert!(w.is_scheduled(id) && s.effects.is_empty());
    w.run(Op::SetPower { user: ADMIN, room: ROOM, change: PowerChange::User(BOB, 50) });
    assert_eq!(w.manage(BOB, id, Action::Send).reply, Reply::Empty);
}

// ---- sending ----

// covers: SRV-1 SRV-10
// Would catch: early firing, a clock running past the lateness bound, the due time stamped instead of the send time.
#[test]
fn the_timer_never_fires_early_and_stamps_the_time_of_sending() {
    let mut w = World::with(Config { lateness_ms: 5, ..Config::reference() });
    let id = w.schedule(ADMIN, slot(0), 10);
    for _ in 0..9 {
        w.run(Op::Advance { ms: 1 });
        assert!(w.try_run(Op::Fire { delay: id }).is_none(), "early at {}", w.s.now);
    }
    // Allowed lateness: time may pass the due time by up to 5 ms, not more (SRV-9).
    w.run(Op::Advance { ms: 4 });
    assert!(w.try_run(Op::Advance { ms: 3 }).is_none(), "16 is beyond due 10 + lateness 5");
    w.run(Op::Advance { ms: 2 });
    let fired = w.run(Op::Fire { delay: id });
    assert_eq!(fired.effects[0].origin_server_ts, 15, "the time it was sent, not the due time");
    assert_eq!(w.finalisation(id).origin_server_ts, 15);
}

// covers: SRV-9
// Would catch: a clock that passes a due time while the event is still scheduled.
#[test]
fn with_zero_lateness_time_cannot_pass_a_due_time() {
    let mut w = World::new();
    let id = w.schedule(ADMIN, slot(0), 2);
    w.run(Op::Advance { ms: 2 });
    assert!(w.try_run(Op::Advance { ms: 1 }).is_none());
    w.run(Op::Fire { delay: id });
    w.run(Op::Advance { ms: 1 });
}

// covers: SRV-2 SRV-3
// Would catch: power levels judged at scheduling, or a failure at send time not recorded.
#[test]
fn power_levels_are_evaluated_when_sending() {
    let mut w = World::new();
    let allowed_later = w.schedule(BOB, slot(0), 10);
    let forbidden_later = w.schedule(ADMIN, slot(1), 20);
    w.run(Op::SetPower { user: ADMIN, room: ROOM, change: PowerChange::User(BOB, 50) });
    w.run(Op::SetPower { user: ADMIN, room: ROOM, change: PowerChange::Event(EventType::RtcMember, 100) });
    w.run(Op::SetPower { user: ADMIN, room: ROOM, change: PowerChange::User(ADMIN, 90) });
    w.wait(20);
    let f = w.finalisation(forbidden_later);
    assert_eq!((f.outcome, f.reason, f.event_id), (Outcome::Cancel, Reason::Error, None));
    assert_eq!(f.error.map(|e| e.code), Some(ErrCode::Forbidden));
    // Bob was raised to 50 but m.rtc.member now needs 100: also fails, recorded, not lost.
    assert_eq!(w.finalisation(allowed_later).reason, Reason::Error);

    let mut w = World::new();
    let id = w.schedule(BOB, slot(0), 10);
    w.run(Op::SetPower { user: ADMIN, room: ROOM, change: PowerChange::User(BOB, 50) });
    w.wait(10);
    assert_eq!(w.finalisation(id).outcome, Outcome::Send, "allowed at send time: sent");
}

// covers: SRV-3
// Would catch: a sender who left still sending, or a failure outcome ignoring the decision knob.
#[test]
fn membership_is_checked_when_sending_and_failures_follow_the_outcome_knob() {
    for outcome in [Outcome::Cancel, Outcome::Send] {
        let mut cfg = Config::reference();
        cfg.decisions.failed_send_outcome = outcome;
        let mut w = World::with(cfg);
        let id = w.schedule(ADMIN, EventKind::message(), 10);
        w.run(Op::Leave { user: ADMIN, room: ROOM });
        assert!(w.wait(10).iter().all(|s| s.effects.is_empty()));
        let f = w.finalisation(id);
        assert_eq!((f.outcome, f.reason, f.event_id), (outcome, Reason::Error, None));
    }
}

// covers: SRV-4 UNS-4
// Would catch: a state update that cancels nothing, cancels other slots, or records the wrong error shape.
#[test]
fn another_senders_state_update_cancels_the_delayed_state_event() {
    let mut w = World::new();
    let bobs = w.schedule(BOB, slot(0), 10);
    let other_slot = w.schedule(BOB, slot(1), 10);
    let s = w.send_state(ADMIN, slot(0));
    assert_eq!(s.effects.len(), 1);
    let f = w.finalisation(bobs);
    assert_eq!((f.outcome, f.reason), (Outcome::Cancel, Reason::Error));
    let e = f.error.expect("error");
    assert_eq!(e.code, ErrCode::CancelledByStateUpdate);
    let unstable = e.body(Prefix::Unstable);
    assert_eq!(unstable["errcode"], "M_UNKNOWN");
    assert_eq!(unstable["org.matrix.msc4140.errcode"], "M_CANCELLED_BY_STATE_UPDATE");
    assert!(w.is_scheduled(other_slot), "another slot is untouched");
}

// covers: SRV-4
// Would catch: only ordinary state updates cancelling (not fired delayed ones), or messages cancelled.
#[test]
fn a_delayed_state_event_that_fires_cancels_other_senders_pending_ones() {
    let mut w = World::new();
    let admins = w.schedule(ADMIN, slot(0), 5);
    let bobs = w.schedule(BOB, slot(0), 10);
    let carols_msg = w.schedule(CAROL, EventKind::message(), 10);
    w.wait(5);
    assert_eq!(w.finalisation(admins).outcome, Outcome::Send);
    assert_eq!(w.finalisation(bobs).error.map(|e| e.code), Some(ErrCode::CancelledByStateUpdate));
    assert!(w.is_scheduled(carols_msg));
}

// covers: SRV-5
// Would catch: the owner's own state update, or a message, cancelling the delayed state event.
#[test]
fn own_state_updates_and_messages_cancel_nothing() {
    let mut w = World::new();
    let id = w.schedule(ADMIN, slot(0), 10);
    w.send_state(ADMIN, slot(0));
    w.run(Op::SendMessage {
        user: BOB,
        device: DeviceId(0),
        room: ROOM,
        content: ContentId(1),
        txn: TxnId(1),
    });
    assert!(w.is_scheduled(id));
    w.wait(10);
    assert_eq!(w.finalisation(id).outcome, Outcome::Send);
}

// covers: SRV-6
// Would catch: a delayed event sent past an exhausted sending budget (or refused without a record),
// a `send` action past it that answers 200 or finalises the event.
#[test]
fn insertions_past_the_sending_budget_are_refused_and_recorded() {
    let cfg = Config {
        rate_limits: RateLimits {
            sending: Some(Window { max: 1, window_ms: 1000 }),
            ..RateLimits::default()
        },
        ..Config::reference()
    };
    let mut w = World::with(cfg);
    let a = w.schedule(ADMIN, slot(0), 5);
    let b = w.schedule(ADMIN, slot(1), 5);
    let c = w.schedule(ADMIN, slot(2), 5000);
    let fired = w.wait(5);
    assert_eq!(fired.iter().map(|s| s.effects.len()).sum::<usize>(), 1, "one insertion in the window");
    assert_eq!(w.finalisation(a).outcome, Outcome::Send);
    let refused = w.finalisation(b);
    assert_eq!((refused.outcome, refused.reason, refused.event_id), (Outcome::Cancel, Reason::Error, None));
    let e = refused.error.expect("the limit's error");
    assert_eq!((e.status, e.code), (429, ErrCode::LimitExceeded));
    // The `send` action and an ordinary send meet the same budget; the event stays scheduled.
    let s = w.manage(ADMIN, c, Action::Send);
    assert_eq!((err(&s).status, err(&s).code), (429, ErrCode::LimitExceeded));
    assert!(w.is_scheduled(c) && s.effects.is_empty());
    assert_eq!(err(&w.send_state(ADMIN, slot(3))).code, ErrCode::LimitExceeded);
    w.wait(1000);
    assert_eq!(w.manage(ADMIN, c, Action::Send).reply, Reply::Empty, "a new window");
}

// covers: SRV-8
// Would catch: a timer firing twice, a retry sending again, or one order of restart-vs-timer forbidden.
#[test]
fn a_sent_event_is_sent_once_whatever_races_it() {
    let mut w = World::new();
    let id = w.schedule(ADMIN, slot(0), 3);
    w.wait(3);
    assert!(w.try_run(Op::Fire { delay: id }).is_none(), "the timer cannot fire twice");
    let retry = w.manage(ADMIN, id, Action::Send);
    assert!(retry.effects.is_empty());
    // The race at the due time: restart and the timer are both possible; each order is allowed.
    let mut w = World::new();
    let id = w.schedule(ADMIN, slot(0), 3);
    w.run(Op::Advance { ms: 3 });
    let mut restart_first = w.fork();
    w.run(Op::Fire { delay: id });
    assert_eq!(w.manage(ADMIN, id, Action::Restart).reply.status(), 409);
    assert_eq!(restart_first.manage(ADMIN, id, Action::Restart).reply, Reply::Empty);
    assert!(restart_first.try_run(Op::Fire { delay: id }).is_none(), "moved to 6");
}

// ---- looking up ----

// covers: LST-1 LST-7
// Would catch: an order by `running_since`, ties not by `delay_id`, `state_key` on messages, `next_batch` on a last page.
#[test]
fn scheduled_are_listed_by_due_time_then_delay_id() {
    let mut w = World::with(Config { page_size: 100, ..Config::reference() });
    let late = w.schedule(ADMIN, slot(0), 30);
    let tie_a = w.schedule(ADMIN, slot(1), 20);
    let tie_b = w.schedule(ADMIN, EventKind::message(), 20);
    w.wait(5);
    let soon = w.schedule(ADMIN, slot(2), 10); // due 15
    let (items, more) = w.scheduled(ADMIN, From::Start);
    let ids: Vec<DelayId> = items.iter().map(|i| i.delay_id).collect();
    assert_eq!(ids, vec![soon, tie_a, tie_b, late]);
    assert!(!more);
    assert_eq!(items[0].running_since, 5);
    let json = render::body(&w.cfg, &Reply::Scheduled { items: items.clone(), next_batch: None });
    assert!(json["scheduled"][2].get("state_key").is_none(), "messages have no state_key");
    assert!(json.get("next_batch").is_none());
}

// covers: LST-2 LST-8
// Would catch: ascending order, a wrong outcome/reason, `origin_server_ts` other than the finalisation time.
#[test]
fn finalised_are_listed_latest_first_with_their_outcome() {
    let mut w = World::with(Config { page_size: 100, ..Config::reference() });
    let cancelled = w.schedule(ADMIN, slot(0), 30);
    let timed_out = w.schedule(ADMIN, slot(1), 5);
    w.wait(2);
    w.manage(ADMIN, cancelled, Action::Cancel);
    w.wait(3);
    let (items, _) = w.finalised(ADMIN, From::Start);
    let summary: Vec<_> = items
        .iter()
        .map(|i| (i.delayed_event.delay_id, i.outcome, i.reason, i.origin_server_ts, i.event_id.is_some()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (timed_out, Outcome::Send, Reason::Delay, 5, true),
            (cancelled, Outcome::Cancel, Reason::Action, 2, false), // LST-8: time of finalisation
        ]
    );
}

// covers: LST-3 LST-7
// Would catch: offset tokens (an event leaving shifts the walk and one is skipped) or a repeated item.
#[test]
fn walking_pages_yields_every_event_once_even_while_events_leave() {
    let mut w = World::with(Config { page_size: 2, max_outstanding_per_user: None, ..Config::reference() });
    let ids: Vec<DelayId> = (1..=5).map(|i| w.schedule(ADMIN, slot(i), 10 * i as i64)).collect();
    let (first, more) = w.scheduled(ADMIN, From::Start);
    assert_eq!(first.len(), 2);
    assert!(more);
    // The first listed event leaves; an offset token would now skip one.
    w.manage(ADMIN, ids[0], Action::Cancel);
    let mut seen: Vec<DelayId> = first.iter().map(|i| i.delay_id).collect();
    loop {
        let (page, more) = w.scheduled(ADMIN, From::LastNextBatch);
        seen.extend(page.iter().map(|i| i.delay_id));
        if !more {
            break;
        }
    }
    assert_eq!(seen, ids, "each once, none skipped");
    assert!(w.try_run(Op::ListScheduled { user: ADMIN, from: From::LastNextBatch }).is_none(), "walk over");
}

// covers: LST-4 SEC-2
// Would catch: another user's events in a list or in `/sync`.
#[test]
fn lookups_and_sync_show_only_the_requesters_events() {
    let mut w = World::new();
    w.schedule(BOB, slot(0), 10);
    let bobs_cancelled = w.schedule(BOB, slot(1), 10);
    w.manage(BOB, bobs_cancelled, Action::Cancel);
    assert!(w.scheduled(ADMIN, From::Start).0.is_empty());
    assert!(w.finalised(ADMIN, From::Start).0.is_empty());
    let sync = w.run(Op::Sync { user: ADMIN, initial: true, include_finalised: true });
    assert!(matches!(sync.reply, Reply::Sync { finalised: None, .. }));
    assert_eq!(w.scheduled(BOB, From::Start).0.len(), 1);
}

// covers: LST-5
// Would catch: the newest record dropped on a timestamp tie, or an age limit off by one.
#[test]
fn retention_drops_by_age_and_by_count_oldest_first() {
    let cfg = Config {
        retention: Retention { max_age_ms: 100, max_per_user: 2 },
        max_outstanding_per_user: None,
        page_size: 100,
        ..Config::reference()
    };
    let mut w = World::with(cfg);
    let ids: Vec<DelayId> = (0..3).map(|k| w.schedule(ADMIN, slot(k), 1000)).collect();
    for id in &ids {
        w.manage(ADMIN, *id, Action::Cancel); // all at time 0: ties on ts
    }
    let (kept, _) = w.finalised(ADMIN, From::Start);
    let kept: Vec<DelayId> = kept.iter().map(|i| i.delayed_event.delay_id).collect();
    assert_eq!(kept, vec![ids[2], ids[1]], "the oldest finalisation went, never the newest");
    w.wait(100);
    assert_eq!(w.finalised(ADMIN, From::Start).0.len(), 2, "kept for exactly max_age");
    w.wait(1);
    assert!(w.finalised(ADMIN, From::Start).0.is_empty(), "expired");
}

// covers: LST-6
// Would catch: the bare unstable list paginated or truncated.
#[test]
fn the_bare_unstable_list_has_every_scheduled_event_in_one_page() {
    let mut w = World::with(Config { page_size: 1, ..Config::reference() });
    for k in 0..3 {
        w.schedule(ADMIN, slot(k), 10);
    }
    let reply = w.run(Op::ListScheduledBare { user: ADMIN }).reply;
    let body = render::body(&w.cfg, &reply);
    assert_eq!(body["delayed_events"].as_array().map(Vec::len), Some(3));
    assert!(body.get("next_batch").is_none());
}

// ---- push ----

// covers: PSH-1 UNS-1
// Would catch: `since` ignored, the key present when empty, or another key name or value shape.
#[test]
fn sync_carries_finalisations_since_the_token_and_omits_the_key_otherwise() {
    let mut w = World::new();
    let a = w.schedule(ADMIN, slot(0), 10);
    w.manage(ADMIN, a, Action::Cancel);
    let initial = w.run(Op::Sync { user: ADMIN, initial: true, include_finalised: true }).reply;
    let Reply::Sync { finalised: Some(items), .. } = &initial else { panic!("{initial:?}") };
    assert_eq!(items.len(), 1, "initial sync: all retained");
    let quiet = w.run(Op::Sync { user: ADMIN, initial: false, include_finalised: true }).reply;
    assert!(render::body(&w.cfg, &quiet).get("finalised_events").is_none(), "absent when none");
    let b = w.schedule(ADMIN, slot(1), 5);
    w.wait(5);
    let next = w.run(Op::Sync { user: ADMIN, initial: false, include_finalised: true }).reply;
    let Reply::Sync { finalised: Some(items), .. } = &next else { panic!("{next:?}") };
    assert_eq!(items.iter().map(|i| i.delayed_event.delay_id).collect::<Vec<_>>(), vec![b]);
    let mut unstable = w.cfg;
    unstable.prefix = Prefix::Unstable;
    let body = render::body(&unstable, &next);
    assert!(body["org.matrix.msc4140.finalised_events"].is_array());
    let mut object = w.cfg;
    object.decisions.sync_shape = spec_model::config::SyncShape::Object;
    assert!(render::body(&object, &next)["finalised_events"]["finalised"].is_array());
}

// covers: PSH-4
// Would catch: a retry that loses or adds a record, another user's record pushed, an acknowledged
// record pushed again, records out of finalisation order, or a push in the merged revision.
#[test]
fn application_service_transactions_carry_its_users_finalised_events_once_in_order() {
    let transaction = |w: &mut World, acknowledged| w.try_run(Op::AppserviceTransaction { acknowledged });
    let ids = |step: &Step| match &step.reply {
        Reply::Transaction { finalised, retry } => {
            (finalised.iter().map(|i| i.delayed_event.delay_id).collect::<Vec<_>>(), *retry)
        }
        other => panic!("{other:?}"),
    };
    let cfg = Config { appservice_user: Some(BOB), ..Config::reference() };
    let mut w = World::with(cfg);
    assert!(transaction(&mut w, true).is_none(), "nothing to carry, no transaction");
    let admins = w.schedule(ADMIN, slot(0), 10);
    let a = w.schedule(BOB, slot(1), 10);
    let b = w.schedule(BOB, slot(2), 5);
    w.manage(ADMIN, admins, Action::Cancel);
    w.wait(5); // `b` fails to send (BOB may not set state): a failure is carried too
    w.manage(BOB, a, Action::Cancel);
    let first = transaction(&mut w, false).expect("a transaction");
    assert_eq!(ids(&first), (vec![b, a], false), "BOB's records only, in finalisation order");
    assert!(first.reply.error().is_none());
    let c = w.schedule(BOB, slot(3), 10);
    w.manage(BOB, c, Action::Cancel);
    let retry = transaction(&mut w, true).expect("the retry");
    assert_eq!(ids(&retry), (vec![b, a], true), "a retry carries exactly the unacknowledged transaction");
    let next = transaction(&mut w, true).expect("the next transaction");
    assert_eq!(ids(&next), (vec![c], false));
    assert!(transaction(&mut w, true).is_none(), "nothing is carried twice");
    let body = render::body(&w.cfg, &next.reply);
    assert_eq!(body["finalised_events"].as_array().map(Vec::len), Some(1));
    let mut merged = World::with(Config { revision: Revision::Rev2026_07_10, ..cfg });
    let d = merged.schedule(BOB, slot(0), 10);
    merged.manage(BOB, d, Action::Cancel);
    assert!(transaction(&mut merged, true).is_none(), "the merged text pushes nothing");
}

// covers: PSH-2 PSH-3
// Would catch: the filter ignored, or a record discarded that only a filtered sync "returned".
#[test]
fn the_filter_removes_the_key_and_returned_records_may_be_discarded() {
    let mut w = World::with(Config { discard_returned: true, ..Config::reference() });
    w.run(Op::Sync { user: ADMIN, initial: true, include_finalised: true });
    let id = w.schedule(ADMIN, slot(0), 10);
    w.manage(ADMIN, id, Action::Cancel);
    let filtered = w.run(Op::Sync { user: ADMIN, initial: false, include_finalised: false }).reply;
    assert!(matches!(filtered, Reply::Sync { finalised: None, .. }));
    assert!(w.try_run(Op::Discard { delay: id }).is_none(), "a filtered sync returned nothing");
    w.run(Op::Sync { user: ADMIN, initial: true, include_finalised: true });
    w.run(Op::Discard { delay: id });
    assert!(w.finalised(ADMIN, From::Start).0.is_empty());
}

// ---- unstable prefix ----

// covers: UNS-1 UNS-2 UNS-3
// Would catch: stable names or unwrapped codes on the unstable surface, or one limit's code given for the other.
#[test]
fn unstable_requests_and_errors_use_the_unstable_names() {
    let cfg = Config { prefix: Prefix::Unstable, ..Config::reference() };
    let manage = Op::Manage { user: ADMIN, delay: DelayRef::Issued(DelayId(0)), action: Action::Send };
    let req = render::request(&cfg, &manage);
    assert_eq!(req["path"], "/unstable/org.matrix.msc4140/delayed_events/d0");
    let schedule = Op::Schedule {
        user: ADMIN,
        device: DeviceId(0),
        room: ROOM,
        kind: slot(0),
        content: ContentId(0),
        delay: DelayParam::Ms(5),
        txn: None,
    };
    assert_eq!(render::request(&cfg, &schedule)["query"]["org.matrix.msc4140.delay"], "5");
    let mut w = World::with(Config { max_outstanding_per_user: Some(1), ..cfg });
    w.schedule(ADMIN, slot(0), 10);
    // The maximum delay is checked first (order of checks, docs/model.md), the limit after it.
    for (delay, code) in [
        (DelayParam::Ms(1), "M_MAX_DELAYED_EVENTS_EXCEEDED"),
        (DelayParam::Ms(i64::MAX), "M_MAX_DELAY_EXCEEDED"),
    ] {
        let reply = w.schedule_raw(ADMIN, slot(1), delay);
        let body = render::body(&w.cfg, &reply);
        assert_eq!(body["errcode"], "M_UNKNOWN");
        assert_eq!(body["org.matrix.msc4140.errcode"], code, "{delay:?}");
    }
}

// covers: SCH-5 SRV-1
// Would catch: `running_since + delay` overflowing so a huge delay fires at once, or a clock that wraps.
#[test]
fn without_a_maximum_huge_delays_are_accepted_and_never_overflow() {
    let mut w = World::with(Config { max_delay_ms: None, ..Config::reference() });
    let id = w.schedule(ADMIN, slot(0), i64::MAX);
    w.run(Op::Advance { ms: 1 << 40 });
    w.manage(ADMIN, id, Action::Restart);
    assert!(w.try_run(Op::Fire { delay: id }).is_none(), "due in 2^63 ms, not now");
    assert!(w.try_run(Op::Advance { ms: u64::MAX }).is_none(), "the clock cannot wrap");
    assert!(w.is_scheduled(id));
}
