//! Tests of the core without HTTP: timer bookkeeping the HTTP tests cannot see.

use super::accounts::TxnPath;
use super::events::Draft;
use super::lifecycle::{Action, Schedule};
use super::room_ops::CreateRoom;
use super::{Engine, NoSignals};
use crate::config::{RateLimits, Revision, Settings};
use crate::sync::Arc;

fn settings() -> Settings {
    Settings { rate_limits: RateLimits::off(), max_delayed_per_user: 100_000, ..Settings::default() }
}

fn engine() -> Engine {
    Engine::new(settings(), Arc::new(NoSignals))
}

fn message() -> Draft {
    Draft { event_type: Arc::from("m.room.message"), state_key: None, content: super::events::empty_object() }
}

/// Schedule a message; its delay id.
fn schedule(
    e: &Engine,
    s: &super::accounts::Session,
    room: &str,
    delay_ms: u64,
    now: u64,
) -> super::ids::DelayId {
    match e.schedule(
        s,
        Schedule { room_id: room, draft: message(), delay: Ok(delay_ms), txn: None, path: TxnPath::Send },
        now,
    ) {
        Ok(super::accounts::TxnResult::Scheduled(id)) => id,
        other => panic!("not scheduled: {:?}", other.err()),
    }
}

fn setup(e: &Engine) -> (super::accounts::Session, Arc<str>) {
    let s = e.register(Some("a"), "pw").expect("register");
    let create = CreateRoom { preset: Some("public_chat".into()), ..CreateRoom::default() };
    let room = e.create_room(&s, create, 0).expect("room");
    (s, room)
}

// covers: MGT-5 SRV-1
// Would catch: a restart that adds timer entries, fires at the old due time, or never re-arms.
#[test]
fn a_restarted_event_rearms_its_single_timer_entry() {
    let e = engine();
    let (s, room) = setup(&e);
    let id = schedule(&e, &s, &room, 100, 0);
    e.manage(&s, &id.to_string(), Action::Restart, 50).expect("restart");
    assert_eq!(e.timer_entries(), 1, "a restart adds no entry");
    assert_eq!(e.run_timers(&|| 100), Some(150), "re-armed at the new due time, not sent");
    assert_eq!(e.live_delayed(), 1);
    assert_eq!(e.run_timers(&|| 149), Some(150));
    assert_eq!(e.run_timers(&|| 150), None, "sent at the new due time");
    assert_eq!(e.live_delayed(), 0);
    e.check_invariants().expect("invariants");
}

#[test]
fn entries_of_events_finalised_early_are_compacted() {
    let e = engine();
    let (s, room) = setup(&e);
    let keep = schedule(&e, &s, &room, 5_000_000, 0);
    for _ in 0..3000 {
        let id = schedule(&e, &s, &room, 1_000_000, 10);
        e.manage(&s, &id.to_string(), Action::Cancel, 10).expect("cancel");
    }
    assert_eq!(e.run_timers(&|| 20), Some(5_000_000), "only the live event's entry is left");
    assert_eq!(e.timer_entries(), 1);
    e.manage(&s, &keep.to_string(), Action::Restart, 30).expect("still scheduled");
    e.check_invariants().expect("invariants");
}

/// Dropping the engine frees every account and room: no reference cycle through the index of
/// delayed state events (the `http_request` fuzz target showed memory growing per input).
#[test]
fn an_engine_with_scheduled_state_events_is_freed_when_dropped() {
    let e = engine();
    let (s, room) = setup(&e);
    let draft = Draft { state_key: Some(Arc::from("k")), ..message() };
    e.schedule(&s, Schedule { room_id: &room, draft, delay: Ok(1000), txn: None, path: TxnPath::Send }, 0)
        .expect("scheduled");
    let account = Arc::downgrade(&s.account);
    let cell = Arc::downgrade(&e.room(&room).expect("room"));
    drop(s);
    drop(e);
    assert!(account.upgrade().is_none(), "the account outlived the engine");
    assert!(cell.upgrade().is_none(), "the room outlived the engine");
}

// covers both: SRV-10
// Would catch: a firing event stamped with its due time, or with a clock read taken before the
// engine could insert it (the timer used to read the clock before waiting for the room's lock), in
// either revision.
#[test]
fn a_late_firing_is_stamped_with_the_time_it_was_sent_not_the_due_time() {
    for revision in [Revision::Rev2025_07_09, Revision::Rev2026_07_10] {
        late_firing_in(revision);
    }
}

fn late_firing_in(revision: Revision) {
    use crate::sync::lock;
    use std::sync::atomic::{AtomicU64, Ordering};
    let e = Arc::new(Engine::new(Settings { revision, ..settings() }, Arc::new(NoSignals)));
    let (s, room) = setup(&e);
    let id = schedule(&e, &s, &room, 1_000, 0);
    let now = Arc::new(AtomicU64::new(1_000));
    let cell = e.room(&room).expect("room");
    // The engine is busy with the room (another request holds it) when the event falls due.
    let busy = lock(&cell.room);
    let timer = {
        let (e, now) = (e.clone(), now.clone());
        std::thread::spawn(move || e.run_timers(&|| now.load(Ordering::SeqCst)))
    };
    // Whether or not the timer thread already waits for the lock, the event enters the room only
    // after 700 ms more have passed.
    std::thread::sleep(std::time::Duration::from_millis(50));
    now.store(1_700, Ordering::SeqCst);
    drop(busy);
    assert_eq!(timer.join().expect("timer thread"), None);
    let sent = lock(&cell.room).timeline.last().cloned().expect("sent");
    assert_eq!(sent.origin_server_ts, 1_700, "stamped with the send time, not the due time 1000");
    let (items, _) = e.list_finalised(&s, None, 1_700).expect("lookup");
    let f = items.iter().find(|f| f.delayed.delay_id == id).expect("finalised");
    assert_eq!(f.origin_server_ts, 1_700);
    e.check_invariants().expect("invariants");
}
