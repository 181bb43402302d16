//! `--data-dir` (PER-1..3 of the merged revision): what survives a restart, what is sent at
//! startup, and what a crash at each step of the write path can and cannot do. Crashes are the
//! writer stopping dead at a planted crash point (the store's test hooks), after which nothing
//! more is written, as after a SIGKILL; `sigkill.rs` does the same to a real process.

use msc4140_testkit::harness::{settings, User, EPOCH, T};
use reference_server::config::{Revision, Settings};
use reference_server::store::journal::{CrashPlan, CrashPoint};
use reference_server::store::{StoreOptions, SyncMode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const PUT: &str = "/_matrix/client/v3/rooms";
const V1: &str = "/_matrix/client/v1/delayed_events";

fn on_disk(dir: &tempfile::TempDir) -> Settings {
    Settings {
        revision: Revision::Rev2026_07_10,
        data_dir: Some(dir.path().to_path_buf()),
        // Tests need no power-loss durability; the write path is the same.
        sync: SyncMode::Normal,
        retention_max_age_ms: 3_600_000,
        ..settings()
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("msc4140-persistence-").tempdir().expect("a temporary directory")
}

async fn schedule(
    t: &T,
    u: &User,
    room: &str,
    txn: &str,
    delay_ms: u64,
    state_key: Option<&str>,
) -> Option<String> {
    let event_type = if state_key.is_some() { "m.rtc.member" } else { "m.room.message" };
    let mut body = json!({ "delay_ms": delay_ms, "content": { "marker": txn } });
    if let Some(k) = state_key {
        body["state_key"] = json!(k);
    }
    let r = t.put(u, &format!("{PUT}/{room}/delayed_event/{event_type}/{txn}"), body).await;
    (r.status == 200).then(|| r.body["delay_id"].as_str().expect("delay_id").to_string())
}

async fn act(t: &T, u: &User, id: &str, action: &str) -> bool {
    t.post(u, &format!("{V1}/{id}/{action}"), json!({})).await.status == 200
}

async fn lookup(t: &T, u: &User, id: &str) -> Option<Value> {
    let r = t.get(u, &format!("{V1}/{id}")).await;
    (r.status == 200).then_some(r.body)
}

/// Every event of `room` carrying a `marker`, in timeline order: (marker, origin_server_ts).
async fn markers(t: &T, u: &User, room: &str) -> Vec<(String, u64)> {
    t.timeline(u, room)
        .await
        .iter()
        .filter_map(|e| {
            let m = e["content"]["marker"].as_str()?;
            Some((m.to_string(), e["origin_server_ts"].as_u64()?))
        })
        .collect()
}

// covers 2026-07-10: PER-1 PER-4
// Would catch: accounts, tokens, rooms, events, filters, transaction ids, delayed events (and
// their restarts) or finalised records not surviving a clean restart, or a delay id issued twice
// across restarts.
#[tokio::test(start_paused = true)]
async fn a_clean_restart_keeps_everything_a_client_saw() {
    let dir = tempdir();
    let mut t = T::persistent(on_disk(&dir), StoreOptions::default()).expect("open");
    let alice = t.user("alice").await;
    let bob = t.user("bob").await;
    let room = t.room(&alice, &[&bob]).await;
    let filter = t
        .post(&alice, &format!("/_matrix/client/v3/user/{}/filter", alice.id), json!({"room": {}}))
        .await
        .ok();
    let sent = t
        .put(&bob, &format!("{PUT}/{room}/send/m.room.message/hello"), json!({ "marker": "hello" }))
        .await
        .ok();
    let later = schedule(&t, &alice, &room, "later", 10_000, None).await.expect("scheduled");
    let state = schedule(&t, &bob, &room, "state", 20_000, Some("bob")).await.expect("scheduled");
    let cancelled = schedule(&t, &alice, &room, "cancelled", 5_000, None).await.expect("scheduled");
    let now_sent = schedule(&t, &alice, &room, "now", 5_000, None).await.expect("scheduled");
    t.sleep(4_000).await;
    assert!(act(&t, &alice, &later, "restart").await);
    assert!(act(&t, &alice, &cancelled, "cancel").await);
    assert!(act(&t, &alice, &now_sent, "send").await);
    let sync = t.get(&alice, "/_matrix/client/v3/sync").await.ok();
    let ids = [&later, &state, &cancelled, &now_sent];
    let mut before = Vec::new();
    for id in ids {
        let owner = if id == &state { &bob } else { &alice };
        before.push(lookup(&t, owner, id).await.expect("known"));
    }
    let timeline = t.timeline(&alice, &room).await;

    t.restart(1_000, StoreOptions::default()).await.expect("reopen");

    let whoami = t.get(&bob, "/_matrix/client/v3/account/whoami").await.ok();
    assert_eq!(whoami["user_id"], json!(bob.id), "tokens survive");
    let mut after = Vec::new();
    for id in ids {
        let owner = if id == &state { &bob } else { &alice };
        after.push(lookup(&t, owner, id).await.expect("still known"));
    }
    assert_eq!(after, before, "scheduled and finalised delayed events are as they were");
    assert_eq!(t.timeline(&alice, &room).await, timeline, "the room's events are as they were");
    let filter_id = filter["filter_id"].as_str().expect("filter id");
    let kept = t.get(&alice, &format!("/_matrix/client/v3/user/{}/filter/{filter_id}", alice.id)).await.ok();
    assert_eq!(kept, json!({"room": {}}));
    let replay = t
        .put(&bob, &format!("{PUT}/{room}/send/m.room.message/hello"), json!({ "marker": "hello" }))
        .await
        .ok();
    assert_eq!(replay, sent, "a retried transaction answers as before");
    let replay = schedule(&t, &alice, &room, "later", 10_000, None).await;
    assert_eq!(replay.as_deref(), Some(later.as_str()), "a retried scheduling answers as before");
    let fresh = schedule(&t, &alice, &room, "fresh", 10_000, None).await.expect("scheduled");
    assert!(!ids.contains(&&fresh), "a delay id is never issued twice");
    let since = sync["next_batch"].as_str().expect("token");
    let incremental = t.get(&alice, &format!("/_matrix/client/v3/sync?since={since}&timeout=0")).await.ok();
    assert!(incremental["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .is_none_or(|e| e.len() == 1));

    // The restart moved `later` to 4 s + 10 s; it is not sent at its first due time.
    t.sleep(14_000 - 5_000 - 1).await;
    assert!(!markers(&t, &alice, &room).await.iter().any(|(m, _)| m == "later"));
    t.sleep(1).await;
    let sent_later: Vec<_> =
        markers(&t, &alice, &room).await.into_iter().filter(|(m, _)| m == "later").collect();
    assert_eq!(sent_later, [("later".to_string(), EPOCH + 14_000)]);
    t.invariants();
}

// covers 2026-07-10: PER-3 SRV-10
// Would catch: overdue events lost at startup, sent in scheduling or id order instead of send-time
// order, or stamped with their due time instead of the time they were actually sent.
#[tokio::test(start_paused = true)]
async fn overdue_events_are_sent_at_startup_in_send_time_order() {
    let dir = tempdir();
    let mut t = T::persistent(on_disk(&dir), StoreOptions::default()).expect("open");
    let alice = t.user("alice").await;
    let room = t.room(&alice, &[]).await;
    let mut ids = Vec::new();
    // Scheduled latest-due first, so neither scheduling nor id order is send-time order.
    for (txn, delay) in [("third", 3_000), ("first", 1_000), ("second", 2_000)] {
        ids.push(schedule(&t, &alice, &room, txn, delay, None).await.expect("scheduled"));
    }
    let kept = schedule(&t, &alice, &room, "kept", 60_000, None).await.expect("scheduled");
    t.restart(5_000, StoreOptions::default()).await.expect("reopen");
    let restarted_at = t.now();
    let sent = markers(&t, &alice, &room).await;
    let expected: Vec<(String, u64)> =
        ["first", "second", "third"].iter().map(|m| (m.to_string(), restarted_at)).collect();
    assert_eq!(sent, expected);
    for id in &ids {
        let l = lookup(&t, &alice, id).await.expect("known");
        assert_eq!(l["finalised_ts"], json!(restarted_at), "{l}");
        assert!(l["event_id"].is_string(), "{l}");
    }
    assert!(lookup(&t, &alice, &kept).await.expect("known")["finalised_ts"].is_null());
    t.invariants();
}

// Would catch: a second server writing into the same directory, or a directory of another schema
// version or another program read as ours.
#[tokio::test(start_paused = true)]
async fn a_directory_in_use_or_not_ours_is_refused_with_a_clear_error() {
    let dir = tempdir();
    let t = T::persistent(on_disk(&dir), StoreOptions::default()).expect("open");
    let second = T::persistent(on_disk(&dir), StoreOptions::default()).err().expect("refused");
    assert!(second.contains("in use by another process"), "{second}");
    t.engine.store().expect("persistent").close();
    drop(t);

    let db = dir.path().join("msc4140.sqlite3");
    let conn = rusqlite::Connection::open(&db).expect("sqlite");
    conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'", []).expect("update");
    drop(conn);
    let newer = T::persistent(on_disk(&dir), StoreOptions::default()).err().expect("refused");
    assert!(newer.contains("schema version 99") && newer.contains("version 2 only"), "{newer}");

    let other = tempdir();
    let conn = rusqlite::Connection::open(other.path().join("msc4140.sqlite3")).expect("sqlite");
    conn.execute_batch("CREATE TABLE notes (body TEXT)").expect("create");
    drop(conn);
    let foreign = T::persistent(on_disk(&other), StoreOptions::default()).err().expect("refused");
    assert!(foreign.contains("not this server's"), "{foreign}");
}

// Would catch: a data directory of the previous schema version (1, before the application-service
// acknowledgements of issue 17) refused or read without the new table.
#[tokio::test(start_paused = true)]
async fn a_version_1_directory_is_migrated_and_keeps_its_state() {
    let dir = tempdir();
    let t = T::persistent(on_disk(&dir), StoreOptions::default()).expect("open");
    let alice = t.user("alice").await;
    t.engine.store().expect("persistent").close();
    drop(t);
    let db = dir.path().join("msc4140.sqlite3");
    let conn = rusqlite::Connection::open(&db).expect("sqlite");
    conn.execute_batch("DROP TABLE appservice_acked; UPDATE meta SET value = 1 WHERE key = 'schema_version'")
        .expect("make it a version 1 directory");
    drop(conn);
    let t = T::persistent(on_disk(&dir), StoreOptions::default()).expect("a version 1 directory opens");
    let me = t.get(&alice, "/_matrix/client/v3/account/whoami").await.ok();
    assert_eq!(me["user_id"], json!(alice.id), "the session survived the migration");
    t.engine.store().expect("persistent").close();
    drop(t);
    let conn = rusqlite::Connection::open(&db).expect("sqlite");
    let version: i64 = conn
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .expect("version");
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'appservice_acked'", [], |r| r.get(0))
        .expect("tables");
    assert_eq!((version, tables), (2, 1));
}

/// What the clients of [`crash_workload`] were told.
#[derive(Default, Debug)]
struct Answered {
    /// Delay id -> its marker.
    scheduled: BTreeMap<String, String>,
    /// Delay id -> when the answered restart happened.
    restarted: BTreeMap<String, u64>,
    cancelled: Vec<String>,
    sent_by_action: Vec<String>,
    /// Markers of answered ordinary sends.
    sent: Vec<String>,
}

/// A client session exercising every kind of write: registration, a room, ordinary sends,
/// scheduling (messages and state), restarts, both actions and timer firings.
async fn crash_workload(t: &T) -> (User, String, Answered) {
    let mut a = Answered::default();
    let nobody = User { id: String::new(), token: String::new() };
    let body = json!({ "username": "alice", "password": "pw", "auth": { "type": "m.login.dummy" } });
    let r = t.call("POST", "/_matrix/client/v3/register", None, Some(body)).await;
    let Some(token) = r.body["access_token"].as_str().filter(|_| r.status == 200) else {
        return (nobody, String::new(), a);
    };
    let alice = User { id: "@alice:localhost".into(), token: token.into() };
    let r = t.post(&alice, "/_matrix/client/v3/createRoom", json!({ "preset": "public_chat" })).await;
    let Some(room) = r.body["room_id"].as_str().filter(|_| r.status == 200).map(String::from) else {
        return (alice, String::new(), a);
    };
    let mut ids = Vec::new();
    for (i, delay) in [1_000u64, 3_000, 2_000, 1_500, 2_500].into_iter().enumerate() {
        let marker = format!("d{i}");
        let key = (i % 2 == 1).then_some("alice");
        if let Some(id) = schedule(t, &alice, &room, &marker, delay, key).await {
            a.scheduled.insert(id.clone(), marker);
            ids.push(id);
        }
        let marker = format!("s{i}");
        let r = t
            .put(&alice, &format!("{PUT}/{room}/send/m.room.message/{marker}"), json!({ "marker": marker }))
            .await;
        if r.status == 200 {
            a.sent.push(marker);
        }
    }
    t.sleep(500).await;
    if let Some(id) = ids.first() {
        if act(t, &alice, id, "restart").await {
            a.restarted.insert(id.clone(), t.now());
        }
    }
    if let Some(id) = ids.get(1) {
        if act(t, &alice, id, "cancel").await {
            a.cancelled.push(id.clone());
        }
    }
    if let Some(id) = ids.get(2) {
        if act(t, &alice, id, "send").await {
            a.sent_by_action.push(id.clone());
        }
    }
    // Timers fire: d3 at 1.5 s, d0 (restarted) at 1.5 s, d4 at 2.5 s.
    t.sleep(1_200).await;
    if let Some(id) = ids.get(4) {
        if act(t, &alice, id, "restart").await {
            a.restarted.insert(id.clone(), t.now());
        }
    }
    t.sleep(3_000).await;
    (alice, room, a)
}

/// After a crash and a restart on the same directory (with `down_ms` of downtime), and once every
/// timer has had time to fire: the PER/SRV-8 invariants against what was answered.
async fn judge_recovery(t: &T, alice: &User, room: &str, a: &Answered) -> Result<(), String> {
    t.sleep(10_000).await;
    if let Err(e) = t.engine.check_invariants() {
        return Err(format!("server invariant: {e}"));
    }
    let seen = markers(t, alice, room).await;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (m, _) in &seen {
        *counts.entry(m).or_default() += 1;
    }
    if let Some((m, n)) = counts.iter().find(|(_, n)| **n > 1) {
        return Err(format!("PER-2/SRV-8: {m} is in the room {n} times: {seen:?}"));
    }
    for m in &a.sent {
        if !counts.contains_key(m.as_str()) {
            return Err(format!("the answered send {m} is lost"));
        }
    }
    for (id, marker) in &a.scheduled {
        let Some(l) = lookup(t, alice, id).await else {
            return Err(format!("PER-1: the answered delay id {id} ({marker}) is unknown after recovery"));
        };
        let in_room = counts.contains_key(marker.as_str());
        let outcome_sent = l["event_id"].is_string();
        if in_room != outcome_sent {
            return Err(format!(
                "SRV-8: {marker} in the room: {in_room}, its record says sent: {outcome_sent}: {l}"
            ));
        }
        if a.cancelled.contains(id) && in_room {
            return Err(format!("an answered cancel of {marker} was undone"));
        }
        if a.sent_by_action.contains(id) && !in_room {
            return Err(format!("an answered send of {marker} was undone"));
        }
        if let Some(at) = a.restarted.get(id) {
            let since = l["scheduled_at"].as_u64().unwrap_or(0);
            if since < *at {
                return Err(format!("PER-1: the answered restart of {marker} at {at} was undone: {l}"));
            }
        }
        if l["finalised_ts"].is_null() {
            return Err(format!("{marker} is still scheduled long after its send time: {l}"));
        }
    }
    Ok(())
}

/// One run: the workload with the writer stopping at `plan`, then recovery. `None` when the
/// writer never reached the plan (the workload wrote less than that).
async fn crash_run(plan: CrashPlan, split: bool) -> Option<Result<(), String>> {
    let dir = tempdir();
    let options =
        StoreOptions { crash: Some(plan), split_sent_from_record: split, ..StoreOptions::default() };
    let mut t = T::persistent(on_disk(&dir), options).expect("open");
    let (alice, room, answered) = crash_workload(&t).await;
    if !t.engine.store().expect("persistent").journal.watermark().failed {
        return None;
    }
    t.restart(700, StoreOptions::default()).await.expect("reopen after the crash");
    if alice.token.is_empty() || room.is_empty() {
        // Nothing that could be judged was answered; the directory must still open.
        return Some(Ok(()));
    }
    Some(
        judge_recovery(&t, &alice, &room, &answered)
            .await
            .map_err(|e| format!("{plan:?}: {e}\n{answered:?}")),
    )
}

/// Every crash point at every pass of the writer through it: `(plan, verdict)` per crash.
async fn crash_matrix(split: bool) -> Vec<(CrashPlan, Result<(), String>)> {
    let mut out = Vec::new();
    for at in CrashPoint::ALL {
        for hit in 1.. {
            match crash_run(CrashPlan { at, hit }, split).await {
                Some(verdict) => out.push((CrashPlan { at, hit }, verdict)),
                None => break,
            }
        }
    }
    out
}

// covers 2026-07-10: PER-1 PER-2 SRV-8
// Would catch: an answered request whose effect a crash loses, an event sent without its record or
// a record without its event (a double send after recovery), an answered restart undone.
#[tokio::test(start_paused = true)]
async fn a_crash_at_any_step_of_the_write_path_loses_no_answer_and_sends_nothing_twice() {
    let runs = crash_matrix(false).await;
    let per_point = |p: CrashPoint| runs.iter().filter(|(plan, _)| plan.at == p).count();
    for p in CrashPoint::ALL {
        assert!(per_point(p) >= 10, "{p:?}: only {} crashes; the workload writes too little", per_point(p));
    }
    let failures: Vec<&String> = runs.iter().filter_map(|(_, v)| v.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} crashes broke an invariant:\n{}",
        failures.len(),
        runs.len(),
        failures[0]
    );
}

// covers 2026-07-10: PER-2
// Would catch: the crash matrix above being unable to see a double send: with the sent event and
// its record committed separately (element-hq/synapse#17326), some crash must be caught.
#[tokio::test(start_paused = true)]
async fn a_sent_event_committed_apart_from_its_record_is_caught_as_a_double_send() {
    let runs = crash_matrix(true).await;
    let caught: Vec<&String> = runs.iter().filter_map(|(_, v)| v.as_ref().err()).collect();
    assert!(
        caught.iter().any(|e| e.contains("times")),
        "no crash between an event and its record was caught as a double send: {caught:?}"
    );
}

// Would catch: a request answered 200 after the writer stopped (its effect would be lost at the
// next restart while the client believes it done).
#[tokio::test(start_paused = true)]
async fn once_the_writer_has_stopped_nothing_is_answered_as_done() {
    let dir = tempdir();
    let mut t = T::persistent(on_disk(&dir), StoreOptions::default()).expect("open");
    let alice = t.user("alice").await;
    let room = t.room(&alice, &[]).await;
    let crash = StoreOptions {
        crash: Some(CrashPlan { at: CrashPoint::BeforeCommit, hit: 1 }),
        ..StoreOptions::default()
    };
    t.restart(1, crash).await.expect("reopen");
    let r = t.put(&alice, &format!("{PUT}/{room}/send/m.room.message/t1"), json!({ "marker": "lost" })).await;
    r.err(500, "M_UNKNOWN");
    assert!(t.engine.store().expect("persistent").journal.watermark().failed);
    // Any later answer could reflect the unstored change: none is given as a success.
    let r = t.get(&alice, &format!("/_matrix/client/v3/rooms/{room}/messages")).await;
    r.err(500, "M_UNKNOWN");
    t.restart(1, StoreOptions::default()).await.expect("reopen");
    assert!(markers(&t, &alice, &room).await.is_empty(), "the unanswered send is not there");
}
