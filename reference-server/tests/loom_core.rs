//! loom tests of the delayed-event core: concurrent restart, send, cancel, timer firing and a
//! state-update cancellation on the same and on different delay ids.
//!
//! `RUSTFLAGS="--cfg msc4140_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p reference-server --test loom_core --release`
#![cfg(msc4140_loom)]

use reference_server::config::{RateLimits, Settings};
use reference_server::engine::accounts::{Session, TxnPath, TxnResult};
use reference_server::engine::events::Draft;
use reference_server::engine::ids::DelayId;
use reference_server::engine::lifecycle::{Action, Schedule};
use reference_server::engine::room_ops::CreateRoom;
use reference_server::engine::{Engine, NoSignals};
use std::sync::Arc;

struct World {
    e: Arc<Engine>,
    a: Session,
    b: Session,
    room: Arc<str>,
}

fn world() -> World {
    let settings = Settings { rate_limits: RateLimits::off(), ..Settings::default() };
    let e = Arc::new(Engine::new(settings, Arc::new(NoSignals)));
    let a = e.register(Some("a"), "pw").expect("a");
    let b = e.register(Some("b"), "pw").expect("b");
    let create = CreateRoom {
        preset: Some("public_chat".into()),
        power_override: serde_json::from_str(r#"{"events": {"m.rtc.member": 0}}"#).ok(),
        ..CreateRoom::default()
    };
    let room = e.create_room(&a, create, 0).expect("room");
    e.join(&b, &room, 0).expect("join");
    World { e, a, b, room }
}

fn draft(state_key: Option<&str>, body: &str) -> Draft {
    let content = serde_json::value::RawValue::from_string(format!(r#"{{"body":"{body}"}}"#)).expect("json");
    Draft { event_type: Arc::from("m.rtc.member"), state_key: state_key.map(Arc::from), content }
}

fn schedule(w: &World, s: &Session, key: Option<&str>, delay: u64) -> DelayId {
    match w.e.schedule(
        s,
        Schedule {
            room_id: &w.room,
            draft: draft(key, "delayed"),
            delay: Ok(delay),
            txn: Some("t"),
            path: TxnPath::Send,
        },
        0,
    ) {
        Ok(TxnResult::Scheduled(id)) => id,
        other => panic!("not scheduled: {:?}", other.err()),
    }
}

/// How many delayed events of the room's timeline carry `body`.
fn sent(w: &World, body: &str) -> usize {
    let page =
        w.e.messages(&w.a, &w.room, None, reference_server::engine::room_ops::Dir::Back, 1000)
            .expect("messages");
    page.chunk.iter().filter(|e| e.content.get().contains(body)).count()
}

fn finalised_outcome(w: &World, s: &Session, id: DelayId) -> Option<&'static str> {
    let (items, _) = w.e.list_finalised(s, None, 1_000).expect("lookup");
    let found: Vec<_> = items.iter().filter(|f| f.delayed.delay_id == id).collect();
    assert!(found.len() <= 1, "finalised more than once");
    found.first().map(|f| f.outcome.as_str())
}

fn still_scheduled(w: &World, s: &Session, id: DelayId) -> bool {
    let (items, _) = w.e.list_scheduled(s, None, 1_000).expect("lookup");
    items.iter().any(|i| i.delay_id == id)
}

#[test]
fn restart_racing_the_timer() {
    loom::model(|| {
        let w = world();
        let id = schedule(&w, &w.a, Some("k"), 100);
        let (e, a) = (w.e.clone(), w.a.clone());
        let restart =
            loom::thread::spawn(move || e.manage(&a, &id.to_string(), Action::Restart, 100).is_ok());
        let e = w.e.clone();
        let timer = loom::thread::spawn(move || e.run_timers(&|| 100));
        let restarted = restart.join().expect("thread");
        timer.join().expect("thread");
        if restarted {
            // A restart that returned 200 is never followed by a fire at the old due time.
            assert!(still_scheduled(&w, &w.a, id));
            assert_eq!(sent(&w, "delayed"), 0);
        } else {
            assert_eq!(finalised_outcome(&w, &w.a, id), Some("send"));
            assert_eq!(sent(&w, "delayed"), 1);
        }
        w.e.check_invariants().expect("invariants");
    });
}

#[test]
fn send_cancel_and_timer_finalise_exactly_once() {
    loom::model(|| {
        let w = world();
        let id = schedule(&w, &w.a, None, 100);
        let (e, a) = (w.e.clone(), w.a.clone());
        let send = loom::thread::spawn(move || e.manage(&a, &id.to_string(), Action::Send, 100).is_ok());
        let (e, a) = (w.e.clone(), w.a.clone());
        let cancel = loom::thread::spawn(move || e.manage(&a, &id.to_string(), Action::Cancel, 100).is_ok());
        let e = w.e.clone();
        let timer = loom::thread::spawn(move || e.run_timers(&|| 100));
        let (sent_ok, cancel_ok) = (send.join().expect("thread"), cancel.join().expect("thread"));
        timer.join().expect("thread");
        let outcome = finalised_outcome(&w, &w.a, id).expect("finalised");
        // Never both sent and cancelled; the winner's answer agrees with the record.
        assert!(!(sent_ok && cancel_ok));
        if cancel_ok {
            assert_eq!(outcome, "cancel");
        }
        if sent_ok {
            assert_eq!(outcome, "send");
        }
        assert_eq!(sent(&w, "delayed"), usize::from(outcome == "send"));
        assert_eq!(w.e.live_delayed(), 0);
        w.e.check_invariants().expect("invariants");
    });
}

#[test]
fn state_update_racing_the_timer() {
    loom::model(|| {
        let w = world();
        let id = schedule(&w, &w.a, Some("slot"), 100);
        let (e, b, room) = (w.e.clone(), w.b.clone(), w.room.clone());
        let update =
            loom::thread::spawn(move || e.send(&b, &room, draft(Some("slot"), "update"), None, 100).is_ok());
        let e = w.e.clone();
        let timer = loom::thread::spawn(move || e.run_timers(&|| 100));
        assert!(update.join().expect("thread"));
        timer.join().expect("thread");
        match finalised_outcome(&w, &w.a, id) {
            // The update came first: cancelled by it, never sent.
            Some("cancel") => assert_eq!(sent(&w, "delayed"), 0),
            // The timer came first: sent once, then overwritten.
            Some("send") => assert_eq!(sent(&w, "delayed"), 1),
            other => panic!("not finalised: {other:?}"),
        }
        let state = w.e.state_event(&w.a, &w.room, "m.rtc.member", "slot").expect("state");
        assert!(state.content.get().contains("update"), "the last word is the update's");
        w.e.check_invariants().expect("invariants");
    });
}

#[test]
fn other_delay_ids_are_unaffected() {
    loom::model(|| {
        let w = world();
        let due = schedule(&w, &w.a, Some("one"), 100);
        let other = match w.e.schedule(
            &w.a,
            Schedule {
                room_id: &w.room,
                draft: draft(Some("two"), "other"),
                delay: Ok(500),
                txn: None,
                path: TxnPath::Send,
            },
            0,
        ) {
            Ok(TxnResult::Scheduled(id)) => id,
            r => panic!("{:?}", r.err()),
        };
        let (e, a) = (w.e.clone(), w.a.clone());
        let restart = loom::thread::spawn(move || e.manage(&a, &other.to_string(), Action::Restart, 100));
        let (e, a) = (w.e.clone(), w.a.clone());
        let send_again = loom::thread::spawn(move || e.manage(&a, &due.to_string(), Action::Send, 100));
        let e = w.e.clone();
        let timer = loom::thread::spawn(move || e.run_timers(&|| 100));
        restart.join().expect("thread").expect("the other event restarts");
        let _ = send_again.join().expect("thread");
        timer.join().expect("thread");
        assert_eq!(finalised_outcome(&w, &w.a, due), Some("send"));
        assert!(still_scheduled(&w, &w.a, other), "finalising one event touched another");
        assert_eq!(w.e.live_delayed(), 1, "the outstanding count is exact");
        w.e.check_invariants().expect("invariants");
    });
}

/// The harness detects races: a check-then-act finalisation (look under the lock, act under a
/// second one) lets two threads finalise one event. loom must find the interleaving.
#[test]
#[should_panic(expected = "finalised twice")]
fn a_check_then_act_variant_is_caught() {
    use reference_server::engine::delayed::{Outcome, Reason, UserDelays};
    use reference_server::sync::Mutex;
    loom::model(|| {
        let w = world();
        let id = schedule(&w, &w.a, None, 100);
        let store = Arc::new(Mutex::new(UserDelays::default()));
        let template = {
            let d = w.a.account.delays.lock().expect("lock");
            d.scheduled(id).cloned().expect("scheduled")
        };
        store.lock().expect("lock").insert(id, template.clone());
        let finalisations = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let racer = |outcome| {
            let (store, n, template) = (store.clone(), finalisations.clone(), template.clone());
            loom::thread::spawn(move || {
                let scheduled = store.lock().expect("lock").scheduled(id).is_some();
                if scheduled {
                    let mut d = store.lock().expect("lock");
                    d.take(id);
                    d.record(id, template, outcome, Reason::Action, None, None, 100);
                    n.fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
                }
            })
        };
        let (x, y) = (racer(Outcome::Send), racer(Outcome::Cancel));
        x.join().expect("thread");
        y.join().expect("thread");
        assert!(finalisations.load(loom::sync::atomic::Ordering::SeqCst) <= 1, "finalised twice");
    });
}
