//! Differential tests: generated sequences of model operations run on `spec-model` (the oracle)
//! and on the server through its real HTTP router, on virtual time (the driver is
//! `msc4140_testkit::differential`). Both prefixes are exercised.
//!
//! `PROPTEST_CASES=5000 cargo test -p reference-server --test it differential` runs a longer
//! campaign; a failure shrinks to a minimal sequence and prints it step by step.

use msc4140_testkit::differential::{
    config_in, run, run_in, run_persistent, run_with, DEVICES, MAX_DELAY, ROOMS, USERS,
};
use proptest::prelude::*;
use reference_server::faults::{Fault, Faults};
use spec_model::op::{DelayParam, DelayRef, From, Op};
use spec_model::power::PowerChange;
use spec_model::types::{
    Action, ContentId, DelayId, DeviceId, EventKind, EventType, Prefix, RoomId, StateKey, TxnId, UserId,
};
use spec_model::Revision;

// ---- generation ----

fn user() -> impl Strategy<Value = UserId> {
    (0..USERS).prop_map(UserId)
}

fn room() -> impl Strategy<Value = RoomId> {
    (0..ROOMS).prop_map(RoomId)
}

fn slot_kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(StateKey::Empty),
        Just(StateKey::Key(0)),
        Just(StateKey::Key(1)),
        user().prop_map(StateKey::User),
    ]
    .prop_map(|k| EventKind::state(EventType::RtcMember, k))
}

fn delay() -> impl Strategy<Value = DelayParam> {
    prop_oneof![
        6 => prop_oneof![Just(1i64), Just(10), Just(100), Just(1000), Just(MAX_DELAY)].prop_map(DelayParam::Ms),
        1 => prop_oneof![Just(0i64), Just(-3), Just(MAX_DELAY + 1)].prop_map(DelayParam::Ms),
        1 => Just(DelayParam::NotAnInteger),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![4 => Just(Action::Send), 4 => Just(Action::Cancel), 6 => Just(Action::Restart), 1 => Just(Action::Other), 1 => Just(Action::Missing)]
}

fn level() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0i64), Just(50), Just(100)]
}

fn power_change() -> impl Strategy<Value = PowerChange> {
    prop_oneof![
        (user(), level()).prop_map(|(u, l)| PowerChange::User(u, l)),
        level().prop_map(PowerChange::StateDefault),
        level().prop_map(PowerChange::EventsDefault),
        level().prop_map(|l| PowerChange::Event(EventType::RtcMember, l)),
    ]
}

/// Few transaction ids, used in every room and from every device, so that the scope of SCH-10
/// (device + request path) is exercised: the same id in another room or on another device is a
/// new transaction, on the same path and device a retry.
fn txn() -> impl Strategy<Value = TxnId> {
    (0..3u8).prop_map(TxnId)
}

fn device() -> impl Strategy<Value = DeviceId> {
    (0..DEVICES).prop_map(DeviceId)
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (user(), room(), slot_kind(), 0..3u8, delay()).prop_map(|(user, room, kind, c, delay)| Op::Schedule { user, device: DeviceId(0), room, kind, content: ContentId(c), delay, txn: None }),
        2 => (user(), device(), room(), 0..3u8, delay(), txn()).prop_map(|(user, device, room, c, delay, txn)| Op::Schedule { user, device, room, kind: EventKind::message(), content: ContentId(c), delay, txn: Some(txn) }),
        5 => (user(), prop_oneof![10 => (0..8u16).prop_map(|i| DelayRef::Issued(DelayId(i))), 1 => Just(DelayRef::NeverIssued)], action()).prop_map(|(user, delay, action)| Op::Manage { user, delay, action }),
        1 => (user(), device(), room(), 0..3u8, txn()).prop_map(|(user, device, room, c, txn)| Op::SendMessage { user, device, room, content: ContentId(c), txn }),
        2 => (user(), room(), slot_kind(), 0..3u8).prop_map(|(user, room, kind, c)| Op::SendState { user, room, kind, content: ContentId(c) }),
        1 => (user(), room(), power_change()).prop_map(|(user, room, change)| Op::SetPower { user, room, change }),
        1 => (user(), room()).prop_map(|(user, room)| Op::Join { user, room }),
        1 => (user(), room()).prop_map(|(user, room)| Op::Leave { user, room }),
        1 => (user(), prop_oneof![Just(From::Start), Just(From::LastNextBatch)]).prop_map(|(user, from)| Op::ListScheduled { user, from }),
        1 => user().prop_map(|user| Op::ListScheduledBare { user }),
        1 => (user(), prop_oneof![Just(From::Start), Just(From::LastNextBatch)]).prop_map(|(user, from)| Op::ListFinalised { user, from }),
        1 => (user(), any::<bool>(), any::<bool>()).prop_map(|(user, initial, include_finalised)| Op::Sync { user, initial, include_finalised }),
        4 => prop_oneof![Just(1u64), Just(9), Just(10), Just(100), Just(999), Just(1000), Just(6000)].prop_map(|ms| Op::Advance { ms }),
        2 => any::<bool>().prop_map(|acknowledged| Op::AppserviceTransaction { acknowledged }),
    ]
}

/// The merged revision's requests: every delayed event through `PUT .../delayed_event` with a
/// transaction id (SCH-12), the single lookup, the list, the capability.
pub fn merged_op() -> impl Strategy<Value = Op> {
    let id = prop_oneof![10 => (0..8u16).prop_map(|i| DelayRef::Issued(DelayId(i))), 1 => Just(DelayRef::NeverIssued)];
    prop_oneof![
        3 => (user(), device(), room(), prop_oneof![slot_kind(), Just(EventKind::message())], 0..3u8, delay(), txn()).prop_map(|(user, device, room, kind, c, delay, txn)| Op::Schedule { user, device, room, kind, content: ContentId(c), delay, txn: Some(txn) }),
        5 => (user(), id.clone(), action()).prop_map(|(user, delay, action)| Op::Manage { user, delay, action }),
        2 => (user(), id).prop_map(|(user, delay)| Op::Lookup { user, delay }),
        1 => user().prop_map(|user| Op::ListScheduledBare { user }),
        1 => user().prop_map(|user| Op::Capabilities { user }),
        1 => (user(), device(), room(), 0..3u8, txn()).prop_map(|(user, device, room, c, txn)| Op::SendMessage { user, device, room, content: ContentId(c), txn }),
        2 => (user(), room(), slot_kind(), 0..3u8).prop_map(|(user, room, kind, c)| Op::SendState { user, room, kind, content: ContentId(c) }),
        1 => (user(), room(), power_change()).prop_map(|(user, room, change)| Op::SetPower { user, room, change }),
        1 => (user(), room()).prop_map(|(user, room)| Op::Join { user, room }),
        1 => (user(), room()).prop_map(|(user, room)| Op::Leave { user, room }),
        1 => (user(), any::<bool>(), any::<bool>()).prop_map(|(user, initial, include_finalised)| Op::Sync { user, initial, include_finalised }),
        4 => prop_oneof![Just(1u64), Just(9), Just(10), Just(100), Just(999), Just(1000), Just(6000)].prop_map(|ms| Op::Advance { ms }),
        2 => any::<bool>().prop_map(|acknowledged| Op::AppserviceTransaction { acknowledged }),
    ]
}

/// The merged revision's requests with the server going down and coming back on its data
/// directory now and then (PER-1..3), with events falling due during the downtime.
fn persistent_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => merged_op(),
        1 => prop_oneof![Just(1u64), Just(500), Just(1000), Just(6000)].prop_map(|down_ms| Op::ServerRestart { down_ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    // covers 2026-07-10: PER-1 PER-2 PER-3 SRV-8 SRV-10
    // Would catch: a restarted server whose scheduled events, restarts, records, rooms or
    // transaction ids differ from before the restart, or whose startup sends differ from the
    // model's (which, in what order, at what time).
    #[test]
    fn persistent_server_restarts_as_the_model_says(ops in proptest::collection::vec(persistent_op(), 1..40), unstable in any::<bool>()) {
        let prefix = if unstable { Prefix::Unstable } else { Prefix::Stable };
        if let Err(e) = run_persistent(config_in(Revision::Rev2026_07_10, prefix), &ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    // covers: SCH-1 SCH-3 SCH-5 SCH-7 SCH-9 SCH-10 SCH-11 MGT-2 MGT-3 MGT-4 MGT-5 MGT-7 MGT-8 MGT-10 LST-1 LST-2 LST-3 LST-5 LST-6 LST-7 PSH-1 PSH-2 SRV-1 SRV-2 SRV-3 SRV-4 SRV-5 SRV-7 SRV-8
    // Would catch: any answer or room effect that differs from the model's on the stable surface.
    #[test]
    fn server_answers_as_the_model_says_stable(ops in proptest::collection::vec(op(), 1..40)) {
        if let Err(e) = run(Prefix::Stable, &ops) {
            prop_assert!(false, "{}", e);
        }
    }

    // covers: UNS-1 UNS-2 UNS-3 UNS-4
    // Would catch: any answer, error shape or room effect that differs from the model's on the unstable surface.
    #[test]
    fn server_answers_as_the_model_says_unstable(ops in proptest::collection::vec(op(), 1..40)) {
        if let Err(e) = run(Prefix::Unstable, &ops) {
            prop_assert!(false, "{}", e);
        }
    }

    // covers 2026-07-10: SCH-4 SCH-10 SCH-12 SCH-13 SCH-14 SCH-15 SCH-16 MGT-3 MGT-4 MGT-5 MGT-9 MGT-11 MGT-12 MGT-13 MGT-14 MGT-15 MGT-16 LKP-1 LKP-2 LKP-3 LKP-4 DSC-4 SRV-1 SRV-2 SRV-5 SRV-7 SRV-8 SRV-11 SRV-12 SEC-2 UNS-5
    // Would catch: any answer or room effect of the merged revision that differs from the model's.
    #[test]
    fn merged_server_answers_as_the_model_says(ops in proptest::collection::vec(merged_op(), 1..40), unstable in any::<bool>()) {
        let prefix = if unstable { Prefix::Unstable } else { Prefix::Stable };
        if let Err(e) = run_in(Revision::Rev2026_07_10, prefix, &ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The differential run must find each deliberate bug within the CI case budget; the shrunk
/// sequence is printed (`cargo test ... -- --nocapture`), and replayed against the correct server,
/// where it must pass: the failure is the fault's, not a disagreement the fault merely exposed.
fn finds(fault: Fault) -> Vec<Op> {
    let faults = Faults::of(&[fault]);
    use proptest::test_runner::{RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
    let config = ProptestConfig {
        cases: 1024,
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        run_with(Prefix::Stable, faults, &ops).map_err(TestCaseError::fail)
    });
    match result {
        Err(TestError::Fail(why, ops)) => {
            eprintln!("{faults:?} found; shrunk to {} steps:\n{why}", ops.len());
            run_with(Prefix::Stable, faults, &ops).expect_err("the shrunk case fails on the faulty server");
            if let Err(e) = run(Prefix::Stable, &ops) {
                panic!("the shrunk case of {faults:?} fails on the correct server too:\n{e}");
            }
            ops
        }
        other => panic!("the differential run did not find {faults:?}: {other:?}"),
    }
}

#[test]
fn finds_a_redundant_send_that_stalls_other_timers() {
    let ops = finds(Fault::RedundantSendStallsOthers);
    assert!(ops.iter().any(|o| matches!(o, Op::Manage { action: Action::Send, .. })), "{ops:?}");
}

#[test]
fn finds_an_event_sent_twice() {
    let ops = finds(Fault::DoubleSend);
    assert!(ops.iter().any(|o| matches!(o, Op::Schedule { .. })), "{ops:?}");
}

#[test]
fn finds_a_dropped_slot_collision() {
    let ops = finds(Fault::SlotCollisionDropsOne);
    let states = ops
        .iter()
        .filter(|o| matches!(o, Op::Schedule { kind: EventKind { state_key: Some(_), .. }, .. }))
        .count();
    assert!(states >= 2, "{ops:?}");
}

#[test]
fn finds_failed_sends_that_were_lost() {
    let ops = finds(Fault::LoseFailedSends);
    // A schedule the sender may not send when due, and time passing to its due time.
    assert!(ops.iter().any(|o| matches!(o, Op::Schedule { .. })), "{ops:?}");
    assert!(ops.iter().any(|o| matches!(o, Op::Advance { .. })), "{ops:?}");
}

// covers: PSH-4
// Would catch: a retried transaction to an application service that loses a finalised record.
#[test]
fn finds_a_record_dropped_from_a_retried_transaction() {
    let ops = finds(Fault::RetryDropsRecord);
    let unacknowledged =
        ops.iter().position(|o| matches!(o, Op::AppserviceTransaction { acknowledged: false }));
    let retried = unacknowledged
        .is_some_and(|i| ops[i + 1..].iter().any(|o| matches!(o, Op::AppserviceTransaction { .. })));
    assert!(retried, "a transaction left unacknowledged, then retried: {ops:?}");
}

/// Regressions the differential run found in the server, kept as fixed sequences.
mod regressions {
    use super::*;

    fn message(user: u8, delay: DelayParam, txn: u8) -> Op {
        Op::Schedule {
            user: UserId(user),
            device: DeviceId(0),
            room: RoomId(0),
            kind: EventKind::message(),
            content: ContentId(0),
            delay,
            txn: Some(TxnId(txn)),
        }
    }

    // covers: SCH-10
    // Would catch: a retry with an invalid delay answered 400 instead of the first answer.
    /// A retry of a transaction answers the first answer before the delay is even parsed: the
    /// server used to reject the retry's invalid `delay` with 400.
    #[test]
    fn transaction_retry_is_checked_before_the_delay() {
        let ops = [message(1, DelayParam::Ms(1), 2), message(1, DelayParam::Ms(0), 2)];
        for prefix in [Prefix::Stable, Prefix::Unstable] {
            run(prefix, &ops).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    // covers: SCH-10
    // Would catch: a server scoping transaction ids per user or per token only: the model (device
    // + path, as the Client-Server spec says) and the server must agree on every one of these.
    #[test]
    fn transaction_scope_is_device_and_request_path() {
        let on = |device: u8, room: u8, txn: u8| Op::Schedule {
            user: UserId(1),
            device: DeviceId(device),
            room: RoomId(room),
            kind: EventKind::message(),
            content: ContentId(0),
            delay: DelayParam::Ms(1000),
            txn: Some(TxnId(txn)),
        };
        let send = |device: u8, room: u8, txn: u8| Op::SendMessage {
            user: UserId(1),
            device: DeviceId(device),
            room: RoomId(room),
            content: ContentId(1),
            txn: TxnId(txn),
        };
        let ops =
            [on(0, 0, 1), on(1, 0, 1), on(0, 1, 1), on(0, 0, 1), send(0, 0, 1), send(1, 1, 1), send(1, 1, 1)];
        for prefix in [Prefix::Stable, Prefix::Unstable] {
            run(prefix, &ops).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    // covers: LST-5 MGT-8
    // Would catch: a record past the retention age still answering management requests.
    /// A record past the retention age is gone for management too: the server used to answer
    /// a `send` retry with 200 until a lookup applied retention.
    #[test]
    fn retention_applies_before_management() {
        let ops = [
            message(2, DelayParam::Ms(1), 0),
            Op::Advance { ms: 20_006 },
            Op::Manage { user: UserId(2), delay: DelayRef::Issued(DelayId(0)), action: Action::Send },
        ];
        run(Prefix::Stable, &ops).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The restart comparison can fail: a model with each of its restart mutants disagrees with the
/// correct server on a sequence where the mutant matters, and the correct model agrees.
#[test]
fn the_restart_comparison_fails_against_each_restart_mutant_of_the_model() {
    use spec_model::config::Mutant;
    let schedule = |txn: u8, delay: i64| Op::Schedule {
        user: UserId(0),
        device: DeviceId(0),
        room: RoomId(0),
        kind: EventKind::message(),
        content: ContentId(txn),
        delay: DelayParam::Ms(delay),
        txn: Some(TxnId(txn)),
    };
    let restart =
        Op::Manage { user: UserId(0), delay: DelayRef::Issued(DelayId(0)), action: Action::Restart };
    let lookup = Op::Lookup { user: UserId(0), delay: DelayRef::Issued(DelayId(0)) };
    let cases = [
        (
            Mutant::OverdueOutOfOrder,
            vec![schedule(0, 1000), schedule(1, 100), Op::ServerRestart { down_ms: 6000 }],
        ),
        (
            Mutant::ResendAfterServerRestart,
            vec![schedule(0, 100), Op::Advance { ms: 1000 }, Op::ServerRestart { down_ms: 1 }],
        ),
        (
            Mutant::ServerRestartForgetsRestarts,
            vec![
                schedule(0, 5000),
                Op::Advance { ms: 100 },
                restart,
                Op::ServerRestart { down_ms: 1 },
                lookup,
            ],
        ),
    ];
    for (mutant, ops) in cases {
        let cfg = config_in(Revision::Rev2026_07_10, Prefix::Stable);
        if let Err(e) = run_persistent(cfg, &ops) {
            panic!("the correct model disagrees on the {mutant:?} case:\n{e}");
        }
        let mutated = spec_model::config::Config { mutant: Some(mutant), ..cfg };
        assert!(run_persistent(mutated, &ops).is_err(), "{mutant:?} not caught by {ops:?}");
    }
}
