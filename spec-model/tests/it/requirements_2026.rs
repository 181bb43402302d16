//! Tests of the merged revision's requirements (`spec/REQUIREMENTS-rev-2026-07-10.md`) on the raw
//! specification, and of the carried-over ones in both revisions. `coverage.rs` checks that every
//! semantic id of both catalogues is named by a property or a test.

use crate::world::*;
use serde_json::json;
use spec_model::config::{RateLimits, Retention, Window};
use spec_model::error::ErrCode;
use spec_model::op::{DelayParam, DelayRef, Op};
use spec_model::power::PowerChange;
use spec_model::render;
use spec_model::reply::{LookupItem, Reply};
use spec_model::types::*;
use spec_model::{Config, Mutant, Revision};

fn merged(cfg: Config) -> Config {
    Config { revision: Revision::Rev2026_07_10, ..cfg }
}

fn finalised_lookup(w: &mut World, user: UserId, id: DelayId) -> serde_json::Value {
    match w.lookup(user, id) {
        Reply::Lookup(item @ LookupItem::Finalised(_)) => render::body(&w.cfg, &Reply::Lookup(item)),
        other => panic!("{id} is not finalised: {other:?}"),
    }
}

// ---- carried over: the same behaviour in both texts ----

// covers both: SCH-4 MGT-3 MGT-9 SRV-7
// Would catch: a `send` action that inserts nothing or something else, a non-empty answer, or a
// `delay_id` reused across users, in either revision.
#[test]
fn send_action_sends_the_scheduled_event_now_in_both_revisions() {
    for revision in Revision::ALL {
        let mut w = World::with(Config::reference_in(revision));
        let id = w.schedule(ADMIN, slot(0), 10_000);
        let other = w.schedule(BOB, slot(1), 10_000);
        assert_ne!(id, other, "{revision}: delay ids are unique across users");
        w.wait(3);
        let s = w.manage(ADMIN, id, Action::Send);
        assert_eq!(render::body(&w.cfg, &s.reply), json!({}), "{revision}");
        let [e] = s.effects.as_slice() else { panic!("{revision}: one event: {:?}", s.effects) };
        assert_eq!(
            (e.sender, e.kind, e.content, e.origin_server_ts),
            (ADMIN, slot(0), Some(ContentId(0)), 3)
        );
        assert_eq!(w.finalisation(id).event_id, Some(e.event_id), "{revision}");
    }
}

// covers both: MGT-4 MGT-5 SRV-1 SRV-10
// Would catch: a cancelled event still sent, a restart that does not move the send time to
// now + delay, or a sent event stamped with its due time instead of the time it was sent.
#[test]
fn cancel_and_restart_in_both_revisions() {
    for revision in Revision::ALL {
        let mut w = World::with(Config { lateness_ms: 2, ..Config::reference_in(revision) });
        let cancelled = w.schedule(ADMIN, slot(0), 5);
        let restarted = w.schedule(ADMIN, slot(1), 5);
        w.wait(3);
        w.manage(ADMIN, cancelled, Action::Cancel);
        w.manage(ADMIN, restarted, Action::Restart);
        let f = w.finalisation(cancelled);
        assert_eq!((f.event_id, f.error), (None, None), "{revision}: a cancel is neither sent nor failed");
        // Due at 3 + 5 = 8: not at 5, not before 8; sent late at 9 and stamped 9.
        for _ in 3..8 {
            assert!(w.try_run(Op::Fire { delay: restarted }).is_none(), "{revision}: early at {}", w.s.now);
            w.run(Op::Advance { ms: 1 });
        }
        w.run(Op::Advance { ms: 1 });
        let sent = w.run(Op::Fire { delay: restarted });
        assert_eq!(sent.effects[0].origin_server_ts, 9, "{revision}");
        assert!(w.wait(20).is_empty(), "{revision}: the cancelled one never fires");
    }
}

// covers both: SRV-9
// covers 2026-07-10: SCH-19
// Would catch: a clock that passes a due time by more than the lateness bound while the event is
// scheduled (30 s of batching allowed in the merged revision when the server declares it).
#[test]
fn lateness_is_bounded_in_both_revisions() {
    for revision in Revision::ALL {
        let mut w = World::with(Config { lateness_ms: 30_000, ..Config::reference_in(revision) });
        let id = w.schedule(ADMIN, slot(0), 10);
        w.run(Op::Advance { ms: 30_010 });
        assert!(w.try_run(Op::Advance { ms: 1 }).is_none(), "{revision}: beyond due + 30 s");
        w.run(Op::Fire { delay: id });
        assert_eq!(w.finalisation(id).origin_server_ts, 30_010);
    }
}

// covers both: MGT-6
// covers 2026-07-10: SCH-18 LKP-5 SEC-5
// Would catch: a rate limit that is shared between users, never resets, or leaves a class out.
#[test]
fn every_class_is_rate_limited_in_the_merged_revision() {
    for revision in Revision::ALL {
        let limit = Some(Window { max: 1, window_ms: 100 });
        let cfg = Config {
            rate_limits: RateLimits { scheduling: limit, management: limit, lookups: limit, sending: limit },
            ..Config::reference_in(revision)
        };
        let mut w = World::with(cfg);
        let id = w.schedule(ADMIN, slot(0), 1000);
        assert_eq!(code(&w.schedule_raw(ADMIN, slot(1), DelayParam::Ms(1000))), Some(ErrCode::LimitExceeded));
        w.schedule(BOB, slot(1), 1000);
        w.manage(ADMIN, id, Action::Restart);
        assert_eq!(err(&w.manage(ADMIN, id, Action::Restart)).code, ErrCode::LimitExceeded);
        w.run(Op::SendMessage {
            user: ADMIN,
            device: DeviceId(0),
            room: ROOM,
            content: ContentId(1),
            txn: TxnId(1),
        });
        let second = w.run(Op::SendMessage {
            user: ADMIN,
            device: DeviceId(0),
            room: ROOM,
            content: ContentId(1),
            txn: TxnId(2),
        });
        assert_eq!(err(&second).code, ErrCode::LimitExceeded, "{revision}: insertion");
        if revision == Revision::Rev2026_07_10 {
            assert!(matches!(w.lookup(ADMIN, id), Reply::Lookup(_)));
            assert_eq!(code(&w.lookup(ADMIN, id)), Some(ErrCode::LimitExceeded), "lookups");
        }
        w.wait(100);
        w.manage(ADMIN, id, Action::Restart);
    }
}

// covers 2026-07-10: SCH-10 SCH-12 SCH-14
// Would catch: a retry on the merged endpoint that schedules again, a scope that lets the delayed
// endpoint and `/send` share transaction ids, or an answer carrying an `event_id`.
#[test]
fn the_merged_endpoint_has_its_own_transaction_scope() {
    let mut w = World::merged();
    let op = |txn: u8, kind: EventKind| Op::Schedule {
        user: ADMIN,
        device: DeviceId(0),
        room: ROOM,
        kind,
        content: ContentId(0),
        delay: DelayParam::Ms(50),
        txn: Some(TxnId(txn)),
    };
    let first = w.run(op(7, slot(0))).reply;
    assert_eq!(w.run(op(7, slot(0))).reply, first, "a retry answers the first answer");
    assert_eq!(w.s.delayed.len(), 1);
    let body = render::body(&w.cfg, &first);
    assert!(body.get("delay_id").is_some() && body.get("event_id").is_none());
    // `/send` with the same transaction id is another endpoint: an ordinary send happens.
    let send = w.run(Op::SendMessage {
        user: ADMIN,
        device: DeviceId(0),
        room: ROOM,
        content: ContentId(1),
        txn: TxnId(7),
    });
    assert!(matches!(send.reply, Reply::EventId(_)) && send.effects.len() == 1);
    // A state event needs a transaction id too: without one it is not a request of this revision.
    let Op::Schedule { user, device, room, kind, content, delay, .. } = op(8, slot(1)) else {
        unreachable!()
    };
    assert!(w.try_run(Op::Schedule { user, device, room, kind, content, delay, txn: None }).is_none());
}

// ---- scheduling ----

// covers 2026-07-10: SCH-13
// Would catch: a zero, negative or fractional `delay_ms` accepted.
#[test]
fn delay_ms_must_be_a_positive_integer() {
    let mut w = World::merged();
    for delay in [DelayParam::Ms(0), DelayParam::Ms(-1), DelayParam::NotAnInteger] {
        let reply = w.schedule_raw(ADMIN, slot(0), delay);
        assert_eq!((reply.status(), code(&reply)), (400, Some(ErrCode::InvalidParam)), "{delay:?}");
    }
    assert!(w.s.delayed.is_empty());
}

// covers 2026-07-10: SCH-15 SCH-16 SCH-17 SEC-4
// Would catch: the seed text's codes in the merged revision, a missing or floor-rounded
// `Retry-After`, a limit of 0 answered 429, or the reference configuration without limits.
#[test]
fn limits_are_enforced_with_the_merged_codes() {
    let reference = Config::reference_in(Revision::Rev2026_07_10);
    assert!(reference.max_delay_ms.is_some() && reference.max_outstanding_per_user.is_some(), "SEC-4");
    let mut w =
        World::with(Config { max_outstanding_per_user: Some(2), max_delay_ms: Some(10_000), ..reference });
    let over = w.schedule_raw(ADMIN, slot(0), DelayParam::Ms(10_001));
    assert_eq!((over.status(), code(&over)), (403, Some(ErrCode::Forbidden)));
    w.schedule(ADMIN, slot(0), 10_000);
    w.wait(500);
    w.schedule(ADMIN, slot(1), 2_600);
    let full = w.schedule_raw(ADMIN, slot(2), DelayParam::Ms(100));
    assert_eq!((full.status(), code(&full)), (429, Some(ErrCode::LimitExceeded)));
    // The user's next send is at 500 + 2600 = 3100, 2.6 s from now: `Retry-After: 3`.
    assert_eq!(render::headers(&full), vec![("retry-after", "3".to_string())]);
    let mut disallowed = World::with(Config { max_outstanding_per_user: Some(0), ..reference });
    let zero = disallowed.schedule_raw(ADMIN, slot(0), DelayParam::Ms(10));
    assert_eq!((zero.status(), code(&zero)), (403, Some(ErrCode::Forbidden)));
    let mut floor = w.fork();
    floor.cfg.mutant = Some(Mutant::RetryAfterRoundedDown);
    let rounded = floor.schedule_raw(ADMIN, slot(2), DelayParam::Ms(100));
    assert_eq!(render::headers(&rounded), vec![("retry-after", "2".to_string())], "the mutant differs");
}

// covers 2026-07-10: SCH-21
// Would catch: guests refused in the merged revision, or admitted in the seed one (our decision
// there: 403 `M_GUEST_ACCESS_FORBIDDEN`, as the Client-Server spec treats unlisted endpoints).
#[test]
fn guests_use_delayed_events_in_the_merged_revision_only() {
    let mut w = World::merged_with_guests(Config::reference_in(Revision::Rev2026_07_10), 1);
    let guest = CAROL;
    let id = w.schedule(guest, slot(0), 100);
    assert!(matches!(w.lookup(guest, id), Reply::Lookup(_)));
    assert_eq!(w.manage(guest, id, Action::Restart).reply, Reply::Empty);
    assert!(
        matches!(w.run(Op::ListScheduledBare { user: guest }).reply, Reply::BareScheduled(ref v) if v.len() == 1)
    );
    let mut seed = World::merged_with_guests(Config::reference(), 1);
    let refused = seed.schedule_raw(guest, slot(0), DelayParam::Ms(100));
    assert_eq!((refused.status(), code(&refused)), (403, Some(ErrCode::GuestAccessForbidden)));
    assert!(seed.s.delayed.is_empty());
}

// ---- managing ----

// covers 2026-07-10: MGT-11 MGT-14
// Would catch: an unknown or missing action answered 200 or judged after the id, or unknown,
// foreign and discarded ids told apart.
#[test]
fn actions_are_path_segments_and_ids_are_private() {
    let mut w =
        World::with(Config { discard_returned: true, ..Config::reference_in(Revision::Rev2026_07_10) });
    let id = w.schedule(ADMIN, slot(0), 10);
    for delay in [DelayRef::Issued(id), DelayRef::NeverIssued] {
        // An unknown action segment is no endpoint; without one the path is the lookup's (GET).
        for (action, status) in [(Action::Other, 404), (Action::Missing, 405)] {
            let s = w.run(Op::Manage { user: ADMIN, delay, action });
            assert_eq!((err(&s).status, err(&s).code), (status, ErrCode::Unrecognized), "{action:?}");
        }
    }
    let unknown = w.run(Op::Manage { user: ADMIN, delay: DelayRef::NeverIssued, action: Action::Cancel });
    let foreign = w.manage(BOB, id, Action::Cancel);
    assert_eq!(unknown.reply, foreign.reply);
    assert_eq!(err(&foreign).status, 404);
    w.manage(ADMIN, id, Action::Cancel);
    finalised_lookup(&mut w, ADMIN, id);
    w.run(Op::Discard { delay: id });
    assert_eq!(w.manage(ADMIN, id, Action::Cancel).reply, unknown.reply, "a discarded record is unknown");
}

// covers 2026-07-10: MGT-12 MGT-13
// Would catch: a conflicting action answered 200, `cancel` on an event cancelled by an error
// refused, or `restart` on a sent event accepted (MSC4542).
#[test]
fn retries_and_conflicts_on_finalised_events() {
    let mut w = World::merged();
    let sent = w.schedule(ADMIN, slot(0), 10);
    let cancelled = w.schedule(ADMIN, slot(1), 10);
    let failed = w.schedule(BOB, slot(2), 1); // Bob may not set this state: fails at send time
    w.manage(ADMIN, sent, Action::Send);
    w.manage(ADMIN, cancelled, Action::Cancel);
    w.wait(1);
    assert_eq!(w.finalisation(failed).error.map(|e| e.code), Some(ErrCode::Forbidden));
    let table = [
        (ADMIN, sent, Action::Send, 200),
        (ADMIN, sent, Action::Cancel, 409),
        (ADMIN, sent, Action::Restart, 409),
        (ADMIN, cancelled, Action::Cancel, 200),
        (ADMIN, cancelled, Action::Send, 409),
        (ADMIN, cancelled, Action::Restart, 409),
        (BOB, failed, Action::Cancel, 200),
        (BOB, failed, Action::Send, 409),
    ];
    for (user, id, action, status) in table {
        let s = w.manage(user, id, action);
        assert_eq!(s.reply.status(), status, "{action:?} on {id}");
        assert!(s.effects.is_empty(), "nothing sent again");
    }
}

// covers 2026-07-10: MGT-15 MGT-16 SRV-11
// Would catch: a failing `send` action that finalises the event, answers 200 or another error than
// the ordinary send's; a timer that stops after it; a send-time failure lost.
#[test]
fn a_failing_send_action_leaves_the_timer_running() {
    let mut w = World::merged();
    let id = w.schedule(BOB, slot(0), 10);
    let s = w.manage(BOB, id, Action::Send);
    assert_eq!((err(&s).status, err(&s).code), (403, ErrCode::Forbidden));
    let ordinary = w.send_state(BOB, slot(0));
    assert_eq!(err(&ordinary), err(&s), "the error the ordinary send answers");
    assert!(w.is_scheduled(id));
    w.wait(10);
    let f = w.finalisation(id);
    assert_eq!(
        (f.event_id, f.error.map(|e| e.code)),
        (None, Some(ErrCode::Forbidden)),
        "finalised with the error"
    );
    let mut allowed = World::merged();
    let id = allowed.schedule(BOB, slot(0), 10);
    allowed.manage(BOB, id, Action::Send);
    allowed.run(Op::SetPower { user: ADMIN, room: ROOM, change: PowerChange::User(BOB, 50) });
    assert_eq!(allowed.wait(10).len(), 1, "the timer still sends once allowed");
}

// ---- looking up ----

// covers 2026-07-10: LKP-1 LKP-2 LKP-3
// Would catch: a lookup of a foreign id that answers, a missing field, `finalised_ts` on a
// scheduled event, or the wrong fields telling a finalised event's state.
#[test]
fn the_single_lookup_tells_the_state_by_its_fields() {
    let mut w = World::merged();
    let scheduled = w.schedule(ADMIN, slot(0), 100);
    let Reply::Lookup(item) = w.lookup(ADMIN, scheduled) else { panic!("lookup") };
    let v = render::body(&w.cfg, &Reply::Lookup(item));
    for key in ["delay_id", "room_id", "type", "state_key", "delay_ms", "scheduled_at", "content"] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert!(v.get("finalised_ts").is_none() && v.get("event_id").is_none());
    assert_eq!(code(&w.lookup(BOB, scheduled)), Some(ErrCode::NotFound));
    let sent = w.schedule(ADMIN, slot(1), 100);
    let cancelled = w.schedule(ADMIN, slot(2), 100);
    let failed = w.schedule(BOB, slot(3), 100);
    w.wait(5);
    w.manage(ADMIN, sent, Action::Send);
    w.manage(ADMIN, cancelled, Action::Cancel);
    w.wait(100);
    let s = finalised_lookup(&mut w, ADMIN, sent);
    assert!(s.get("event_id").is_some() && s.get("error").is_none());
    assert!(
        s["finalised_ts"].as_u64() < Some(s["scheduled_at"].as_u64().unwrap_or(0) + 100),
        "sent manually"
    );
    let c = finalised_lookup(&mut w, ADMIN, cancelled);
    assert!(c.get("finalised_ts").is_some() && c.get("event_id").is_none() && c.get("error").is_none());
    let f = finalised_lookup(&mut w, BOB, failed);
    assert_eq!(f["error"]["errcode"], "M_FORBIDDEN");
    assert!(f.get("event_id").is_none());
    assert!(s.get("outcome").is_none() && s.get("origin_server_ts").is_none(), "no seed-revision fields");
}

// covers 2026-07-10: LKP-4
// Would catch: finalised events in the list, another order than send time then id, pagination.
#[test]
fn the_list_has_every_scheduled_event_by_send_time() {
    let mut w = World::merged();
    let late = w.schedule(ADMIN, slot(0), 30);
    let early = w.schedule(ADMIN, slot(1), 10);
    let tie = w.schedule(ADMIN, slot(2), 10);
    let gone = w.schedule(ADMIN, slot(3), 5);
    w.schedule(BOB, slot(4), 1);
    w.manage(ADMIN, gone, Action::Cancel);
    let Reply::BareScheduled(items) = w.run(Op::ListScheduledBare { user: ADMIN }).reply else {
        panic!("list")
    };
    let ids: Vec<DelayId> = items.iter().map(|i| i.delay_id).collect();
    assert_eq!(ids, vec![early, tie, late]);
    let body = render::body(&w.cfg, &Reply::BareScheduled(items));
    assert!(body.get("next_batch").is_none() && body["delayed_events"][0].get("finalised_ts").is_none());
}

// covers 2026-07-10: LKP-6 PER-4 LKP-7
// Would catch: a record discarded before a lookup returned it, kept past retention, lost by a
// server restart, or a `finalised_ts` other than the finalisation time.
#[test]
fn retention_lookups_and_restarts_keep_finalised_records_as_the_text_allows() {
    let cfg = Config {
        discard_returned: true,
        retention: Retention { max_age_ms: 50, max_per_user: 10 },
        lateness_ms: 7,
        ..Config::reference_in(Revision::Rev2026_07_10)
    };
    let mut w = World::with(cfg);
    let id = w.schedule(ADMIN, slot(0), 10);
    let other = w.schedule(ADMIN, slot(1), 10);
    w.run(Op::Advance { ms: 17 });
    w.fire_due();
    assert_eq!(finalised_lookup(&mut w, ADMIN, id)["finalised_ts"], 17, "the time of finalisation");
    assert!(w.try_run(Op::Discard { delay: other }).is_none(), "not returned yet");
    w.run(Op::ServerRestart { down_ms: 3 });
    assert_eq!(finalised_lookup(&mut w, ADMIN, other)["finalised_ts"], 17, "kept across a restart");
    w.run(Op::Discard { delay: id });
    assert_eq!(code(&w.lookup(ADMIN, id)), Some(ErrCode::NotFound));
    w.wait(51);
    assert_eq!(code(&w.lookup(ADMIN, other)), Some(ErrCode::NotFound), "past retention");
}

// ---- sending ----

// covers 2026-07-10: SRV-12 SRV-5
// Would catch: another sender's state update cancelling the delayed state event, or the delayed
// event not overwriting it when sent.
#[test]
fn a_state_update_is_overwritten_not_cancelling() {
    let mut w = World::merged();
    let id = w.schedule(BOB, slot(0), 10);
    w.run(Op::SetPower { user: ADMIN, room: ROOM, change: PowerChange::User(BOB, 50) });
    let update = w.send_state(ADMIN, slot(0));
    assert!(w.is_scheduled(id), "nothing cancelled");
    let Reply::EventId(_) = update.reply else { panic!("sent") };
    let fired = w.wait(10);
    assert_eq!(fired.len(), 1);
    let entry = w.s.rooms[0].state.get(&(EventType::RtcMember, StateKey::Key(0))).copied().expect("state");
    assert_eq!((entry.sender, entry.content), (BOB, ContentId(0)), "the delayed event overwrote it");
    let mut seed = World::new();
    let id = seed.schedule(BOB, slot(0), 10);
    seed.send_state(ADMIN, slot(0));
    assert!(!seed.is_scheduled(id), "the seed text cancels");
}

// covers 2026-07-10: SRV-14 UNS-5
// Would catch: `delay_id` missing from the sender's view of a sent delayed event, shown on an
// ordinary event or in the seed revision, the stable key on the unstable surface, or MSC4140's
// codes wrapped in `org.matrix.msc4140.errcode` in the merged revision.
#[test]
fn the_sender_sees_the_delay_id_in_unsigned() {
    let mut w = World::merged();
    let id = w.schedule(ADMIN, slot(0), 1);
    let fired = w.wait(1);
    let e = &fired[0].effects[0];
    assert_eq!(render::room_event_for_sender(e, &w.cfg)["unsigned"], json!({ "delay_id": id.to_string() }));
    assert!(render::room_event(e).get("unsigned").is_none(), "others' view");
    let unstable = Config { prefix: Prefix::Unstable, ..w.cfg };
    assert_eq!(
        render::room_event_for_sender(e, &unstable)["unsigned"]["org.matrix.msc4140.delay_id"],
        id.to_string()
    );
    assert!(
        render::room_event_for_sender(e, &Config::reference()).get("unsigned").is_none(),
        "seed revision"
    );
    let ordinary = w.send_state(ADMIN, slot(1));
    assert!(render::room_event_for_sender(&ordinary.effects[0], &w.cfg).get("unsigned").is_none());
    let refused = w.schedule_raw(ADMIN, slot(1), DelayParam::Ms(i64::MAX));
    let body = render::body(&unstable, &refused);
    assert_eq!(body["errcode"], "M_FORBIDDEN");
    let limit = Config { max_outstanding_per_user: Some(1), ..unstable };
    let mut full = World::with(limit);
    full.schedule(ADMIN, slot(0), 1000);
    let reply = full.schedule_raw(ADMIN, slot(1), DelayParam::Ms(10));
    let body = render::body(&limit, &reply);
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    assert!(body.get("org.matrix.msc4140.errcode").is_none(), "standard codes on both surfaces");
}

// ---- persistence ----

// covers 2026-07-10: PER-1 PER-2 PER-3
// Would catch: a restart undone by a server restart, an event sent twice or a cancelled one sent,
// overdue events sent out of send-time order or not at startup.
#[test]
fn a_server_restart_keeps_schedules_and_sends_overdue_events_in_order() {
    let mut w = World::with(Config {
        max_outstanding_per_user: None,
        ..Config::reference_in(Revision::Rev2026_07_10)
    });
    let sent = w.schedule(ADMIN, slot(0), 5);
    let cancelled = w.schedule(ADMIN, slot(1), 5);
    let second = w.schedule(ADMIN, slot(2), 30);
    let first = w.schedule(ADMIN, slot(3), 40);
    let kept = w.schedule(ADMIN, slot(4), 100);
    w.manage(ADMIN, cancelled, Action::Cancel);
    w.wait(20);
    w.manage(ADMIN, first, Action::Restart); // now due at 20 + 40 = 60, after `second` (30)
    w.manage(ADMIN, kept, Action::Restart); // due at 120
    let restart = w.run(Op::ServerRestart { down_ms: 60 });
    let order: Vec<Option<DelayId>> = restart.effects.iter().map(|e| e.delay_id).collect();
    assert_eq!(order, vec![Some(second), Some(first)], "overdue ones, by send time, nothing else");
    assert!(restart.effects.iter().all(|e| e.origin_server_ts == 80), "at startup");
    assert_eq!(w.s.record(kept).map(|d| (d.running_since, d.is_scheduled())), Some((20, true)));
    assert!(w.finalisation(sent).event_id.is_some() && w.finalisation(cancelled).event_id.is_none());
    assert_eq!(w.wait(40).len(), 1, "the kept one fires at 120, once");
    let seed = step_restart(Config::reference());
    assert!(seed.is_none(), "the seed text has no server restart step");
}

fn step_restart(cfg: Config) -> Option<()> {
    let mut w = World::with(cfg);
    w.try_run(Op::ServerRestart { down_ms: 1 }).map(|_| ())
}

// ---- discovery ----

// covers 2026-07-10: DSC-4 DSC-5
// Would catch: the capability missing, a limit advertised that is not enforced, one enforced but
// not advertised, or the capability omitted when no limit applies.
#[test]
fn the_capability_advertises_exactly_the_enforced_limits() {
    let cases = [
        (Some(1000), Some(5), json!({ "max_delay_ms": 1000, "max_scheduled": 5 })),
        (None, Some(5), json!({ "max_scheduled": 5 })),
        (None, None, json!({})),
    ];
    for (max_delay_ms, max, want) in cases {
        let cfg = merged(Config { max_delay_ms, max_outstanding_per_user: max, ..Config::reference() });
        let mut w = World::with(cfg);
        let reply = w.run(Op::Capabilities { user: ADMIN }).reply;
        assert_eq!(render::body(&cfg, &reply)["capabilities"]["m.delayed_events"], want);
        let unstable = Config { prefix: Prefix::Unstable, ..cfg };
        assert_eq!(
            render::body(&unstable, &reply)["capabilities"]["org.matrix.msc4140.delayed_events"],
            want
        );
    }
    let mut seed = World::new();
    let reply = seed.run(Op::Capabilities { user: ADMIN }).reply;
    assert_eq!(render::body(&seed.cfg, &reply), json!({ "capabilities": {} }), "the seed text has none");
}
