//! The merged revision (`--revision 2026-07-10`) over HTTP: discovery, limits and their codes,
//! the per-action paths, the legacy parameter (SCH-20). The answers the model decides are checked
//! by the merged differential test; these are the parts outside the model (HTTP surface) and the
//! configurations the differential run does not use.

use msc4140_testkit::harness::{settings, T};
use reference_server::config::{Revision, Settings};
use serde_json::json;

fn merged() -> Settings {
    Settings { revision: Revision::Rev2026_07_10, ..settings() }
}

const PUT: &str = "/_matrix/client/v3/rooms";
const V1: &str = "/_matrix/client/v1/delayed_events";
const UNSTABLE: &str = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events";

async fn schedule(t: &T, u: &msc4140_testkit::harness::User, room: &str, txn: &str, delay_ms: u64) -> String {
    let path = format!("{PUT}/{room}/delayed_event/m.rtc.member/{txn}");
    let body = json!({ "delay_ms": delay_ms, "state_key": "k", "content": { "m": txn } });
    let r = t.put(u, &path, body).await.ok();
    r["delay_id"].as_str().expect("delay_id").to_string()
}

// covers 2026-07-10: DSC-2 DSC-3 DSC-4 DSC-5
// Would catch: a missing feature flag, the capability absent, under one name only, or with a limit
// that does not apply (or without one that does).
#[tokio::test(start_paused = true)]
async fn versions_and_capability_say_what_is_served() {
    let t = T::with(merged()).await;
    let a = t.user("a").await;
    let v = t.call("GET", "/_matrix/client/versions", None, None).await.ok();
    assert_eq!(v["unstable_features"]["org.matrix.msc4140"], json!(true));
    assert_eq!(v["unstable_features"]["org.matrix.msc4140.stable"], json!(true));
    let caps = t.get(&a, "/_matrix/client/v3/capabilities").await.ok();
    let want = json!({ "max_delay_ms": 86_400_000u64, "max_scheduled": 100 });
    assert_eq!(caps["capabilities"]["m.delayed_events"], want);
    assert_eq!(caps["capabilities"]["org.matrix.msc4140.delayed_events"], want);
    let unlimited = Settings { max_delay_ms: u64::MAX, max_delayed_per_user: usize::MAX, ..merged() };
    let t = T::with(unlimited).await;
    let a = t.user("a").await;
    let caps = t.get(&a, "/_matrix/client/v3/capabilities").await.ok();
    assert_eq!(caps["capabilities"]["m.delayed_events"], json!({}), "present and empty (MSC4542)");
    let seed = T::with(settings()).await;
    let a = seed.user("a").await;
    let caps = seed.get(&a, "/_matrix/client/v3/capabilities").await.ok();
    assert!(caps["capabilities"].get("m.delayed_events").is_none(), "not in the seed revision");
}

// covers 2026-07-10: SCH-15 SCH-16 SCH-17 SEC-4
// Would catch: the seed's 400 codes, a `Retry-After` missing or rounded down, or a zero limit
// answered as a full one.
#[tokio::test(start_paused = true)]
async fn limits_answer_403_and_429_with_retry_after() {
    let t = T::with(Settings { max_delayed_per_user: 2, max_delay_ms: 60_000, ..merged() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let path = |txn: &str| format!("{PUT}/{room}/delayed_event/m.room.message/{txn}");
    let over = t.put(&a, &path("t0"), json!({ "delay_ms": 60_001, "content": {} })).await;
    over.err(403, "M_FORBIDDEN");
    schedule(&t, &a, &room, "t1", 2_500).await;
    schedule(&t, &a, &room, "t2", 50_000).await;
    let full = t.put(&a, &path("t3"), json!({ "delay_ms": 10, "content": {} })).await;
    full.err(429, "M_LIMIT_EXCEEDED");
    assert_eq!(full.retry_after.as_deref(), Some("3"), "2.5 s until the next send, rounded up");
    let zero = T::with(Settings { max_delayed_per_user: 0, ..merged() }).await;
    let a = zero.user("a").await;
    let room = zero.room(&a, &[]).await;
    let r = zero
        .put(
            &a,
            &format!("{PUT}/{room}/delayed_event/m.room.message/t"),
            json!({ "delay_ms": 10, "content": {} }),
        )
        .await;
    r.err(403, "M_FORBIDDEN");
    assert!(r.retry_after.is_none());
}

// covers 2026-07-10: MGT-11 SEC-1 UNS-5
// Would catch: a body demanded on the action paths, an unknown action accepted, an endpoint
// without authentication, or a wrapped error code on the unstable surface.
#[tokio::test(start_paused = true)]
async fn actions_are_path_segments_on_both_surfaces() {
    let t = T::with(merged()).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let id = schedule(&t, &a, &room, "t1", 60_000).await;
    let empty = t.raw("POST", &format!("{V1}/{id}/restart"), Some(&a.token), Vec::new()).await;
    assert_eq!((empty.status, empty.body), (200, json!({})), "no body at all (matrix-js-sdk 43)");
    t.post(&a, &format!("{V1}/{id}/bogus"), json!({})).await.err(404, "M_UNRECOGNIZED");
    t.call("POST", &format!("{V1}/{id}/cancel"), None, Some(json!({}))).await.err(401, "M_MISSING_TOKEN");
    t.call("GET", &format!("{V1}/{id}"), None, None).await.err(401, "M_MISSING_TOKEN");
    let path =
        format!("/_matrix/client/unstable/org.matrix.msc4140/rooms/{room}/delayed_event/m.room.message/u");
    t.put(&a, &path, json!({ "delay_ms": 10 })).await.err(400, "M_MISSING_PARAM");
    t.post(&a, &format!("{UNSTABLE}/{id}/send"), json!({})).await.ok();
    let conflict = t.post(&a, &format!("{UNSTABLE}/{id}/cancel"), json!({})).await;
    conflict.err(409, "M_UNKNOWN");
    assert!(conflict.body.get("org.matrix.msc4140.errcode").is_none(), "never wrapped: {}", conflict.body);
}

// covers 2026-07-10: SCH-20
// Would catch: the legacy parameter sent at once (a MatrixRTC leave at join time), ignored, or
// accepted under `--strict-revision`.
#[tokio::test(start_paused = true)]
async fn the_legacy_delay_parameter_is_an_alias_unless_strict() {
    let t = T::with(merged()).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let legacy = format!("{PUT}/{room}/state/m.rtc.member/k?org.matrix.msc4140.delay=60000");
    let id =
        t.put(&a, &legacy, json!({ "m": 1 })).await.ok()["delay_id"].as_str().expect("delay_id").to_string();
    let looked = t.get(&a, &format!("{V1}/{id}")).await.ok();
    assert_eq!(looked["delay_ms"], json!(60_000));
    let state = t.get(&a, &format!("{PUT}/{room}/state/m.rtc.member/k")).await;
    assert_eq!(state.status, 404, "not sent: {}", state.body);
    let too_long =
        t.put(&a, &format!("{PUT}/{room}/send/m.room.message/x?delay=999999999999"), json!({})).await;
    too_long.err(403, "M_FORBIDDEN");
    let strict = T::with(Settings { strict_revision: true, ..merged() }).await;
    let a = strict.user("a").await;
    let room = strict.room(&a, &[]).await;
    let r = strict.put(&a, &format!("{PUT}/{room}/send/m.room.message/x?delay=1000"), json!({})).await;
    r.err(400, "M_INVALID_PARAM");
    assert!(r.body["error"].as_str().is_some_and(|m| m.contains("delayed_event")), "{}", r.body);
}

// covers 2026-07-10: LKP-6 LKP-7
// Would catch: a record kept although the server discards returned ones, or one discarded before
// it was returned; `finalised_ts` other than the finalisation time.
#[tokio::test(start_paused = true)]
async fn a_looked_up_record_may_be_discarded() {
    let t = T::with(Settings { discard_returned: true, ..merged() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let id = schedule(&t, &a, &room, "t1", 60_000).await;
    t.get(&a, &format!("{V1}/{id}")).await.ok();
    t.get(&a, &format!("{V1}/{id}")).await.ok();
    t.post(&a, &format!("{V1}/{id}/cancel"), json!({})).await.ok();
    let now = t.now();
    let record = t.get(&a, &format!("{V1}/{id}")).await.ok();
    assert_eq!(record["finalised_ts"], json!(now));
    t.get(&a, &format!("{V1}/{id}")).await.err(404, "M_NOT_FOUND");
}

// covers 2026-07-10: SCH-18 MGT-6 LKP-5 SRV-13 SEC-5 SRV-9
// Would catch: a request class without its rate limit in this revision, a delayed event inserted
// past the sending budget or retried later instead of finalised with its error, a timer late on
// an idle server.
#[tokio::test(start_paused = true)]
async fn every_class_is_rate_limited_and_timers_fire_on_time() {
    use reference_server::config::{RateLimits, Window};
    let one = Some(Window { max: 1, window_ms: 60_000 });
    let limits = RateLimits {
        scheduling: Some(Window { max: 2, window_ms: 60_000 }),
        management: one,
        lookups: one,
        sending: one,
    };
    let t = T::with(Settings { rate_limits: limits, ..merged() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let start = t.now();
    let first = schedule(&t, &a, &room, "t1", 100).await;
    let path = format!("{PUT}/{room}/delayed_event/m.room.message/t2");
    let second = t.put(&a, &path, json!({ "delay_ms": 100, "content": { "n": 2 } })).await.ok();
    let second = second["delay_id"].as_str().expect("delay_id").to_string();
    let third = t
        .put(
            &a,
            &format!("{PUT}/{room}/delayed_event/m.room.message/t3"),
            json!({ "delay_ms": 100, "content": {} }),
        )
        .await;
    third.err(429, "M_LIMIT_EXCEEDED");
    t.post(&a, &format!("{V1}/{first}/restart"), json!({})).await.ok();
    t.post(&a, &format!("{V1}/{first}/restart"), json!({})).await.err(429, "M_LIMIT_EXCEEDED");
    t.get(&a, V1).await.ok();
    t.get(&a, &format!("{V1}/{first}")).await.err(429, "M_LIMIT_EXCEEDED");
    t.sleep(100).await;
    // Both fall due at once: the sending budget lets one in; the other is finalised with the error.
    let timeline = t.timeline(&a, &room).await;
    let ours = |e: &&serde_json::Value| e["type"] == "m.rtc.member" || e["type"] == "m.room.message";
    let sent: Vec<_> = timeline.iter().filter(ours).collect();
    assert_eq!(sent.len(), 1, "{timeline:?}");
    assert_eq!(sent[0]["origin_server_ts"].as_u64(), Some(start + 100), "sent at the due time");
    let mut records = Vec::new();
    for id in [first, second] {
        t.sleep(60_000).await; // the lookup window reopens
        records.push(t.get(&a, &format!("{V1}/{id}")).await.ok());
    }
    let failed: Vec<_> = records.iter().filter(|r| r.get("event_id").is_none()).collect();
    assert_eq!(failed.len(), 1, "{records:?}");
    assert_eq!(failed[0]["error"]["errcode"], json!("M_LIMIT_EXCEEDED"), "{}", failed[0]);
    let timeline = t.timeline(&a, &room).await;
    assert_eq!(timeline.iter().filter(ours).count(), 1, "not retried later");
    t.invariants();
}

// covers 2026-07-10: SRV-14 UNS-5
// Would catch: `delay_id` missing from the sender's copy (sent by the action or by the timer, in
// `/sync`, `/messages`, `/event` or `/context`), shown to another user, or shown in the seed
// revision.
#[tokio::test(start_paused = true)]
async fn the_sender_alone_sees_the_delay_id_in_unsigned() {
    for revision in [Revision::Rev2026_07_10, Revision::Rev2025_07_09] {
        let t = T::with(Settings { revision, ..settings() }).await;
        let (a, b) = (t.user("a").await, t.user("b").await);
        let room = t.room(&a, &[&b]).await;
        let path = |txn: &str| match revision {
            Revision::Rev2026_07_10 => format!("{PUT}/{room}/delayed_event/m.room.message/{txn}"),
            Revision::Rev2025_07_09 => format!("{PUT}/{room}/send/m.room.message/{txn}?delay=100"),
        };
        let body = |n: u8| match revision {
            Revision::Rev2026_07_10 => json!({ "delay_ms": 100, "content": { "n": n } }),
            Revision::Rev2025_07_09 => json!({ "n": n }),
        };
        let by_action = t.put(&a, &path("t1"), body(1)).await.ok()["delay_id"].clone();
        let by_timer = t.put(&a, &path("t2"), body(2)).await.ok()["delay_id"].clone();
        let id = by_action.as_str().expect("delay_id");
        match revision {
            Revision::Rev2026_07_10 => t.post(&a, &format!("{V1}/{id}/send"), json!({})).await.ok(),
            Revision::Rev2025_07_09 => t.action(&a, id, "send").await.ok(),
        };
        t.sleep(100).await;
        let sync = t.get(&a, "/_matrix/client/v3/sync").await.ok();
        let from_sync =
            sync["rooms"]["join"][&room]["timeline"]["events"].as_array().cloned().unwrap_or_default();
        let ids: Vec<String> = t
            .timeline(&a, &room)
            .await
            .iter()
            .filter(|e| e["type"] == "m.room.message")
            .filter_map(|e| e["event_id"].as_str().map(str::to_string))
            .collect();
        let mut views = vec![
            ("a", t.timeline(&a, &room).await),
            ("a/sync", from_sync),
            ("b", t.timeline(&b, &room).await),
        ];
        for (who, user) in [("a", &a), ("b", &b)] {
            let (mut single, mut context, mut neighbours) = (vec![], vec![], vec![]);
            for id in &ids {
                single.push(t.get(user, &format!("{PUT}/{room}/event/{id}")).await.ok());
                let c = t.get(user, &format!("{PUT}/{room}/context/{id}?limit=20")).await.ok();
                context.push(c["event"].clone());
                for side in ["events_before", "events_after"] {
                    neighbours.extend(c[side].as_array().cloned().unwrap_or_default());
                }
            }
            // Each message is the other's neighbour: together they are the two messages once.
            neighbours.sort_by_key(|e| e["origin_server_ts"].as_u64());
            neighbours.retain(|e| e["type"] == "m.room.message");
            views.extend([(who, single), (who, context), (who, neighbours)]);
        }
        for (viewer, events) in views {
            let shown: Vec<_> = events
                .iter()
                .filter(|e| e["type"] == "m.room.message")
                .map(|e| {
                    (e["unsigned"]["delay_id"].clone(), e["unsigned"]["org.matrix.msc4140.delay_id"].clone())
                })
                .collect();
            let want = if revision == Revision::Rev2026_07_10 && viewer != "b" {
                vec![(by_action.clone(), by_action.clone()), (by_timer.clone(), by_timer.clone())]
            } else {
                vec![(json!(null), json!(null)); 2]
            };
            assert_eq!(shown, want, "{revision:?}, seen by {viewer}");
        }
    }
}

async fn guest(t: &T) -> msc4140_testkit::harness::User {
    let r = t.call("POST", "/_matrix/client/v3/register?kind=guest", None, Some(json!({}))).await.ok();
    msc4140_testkit::harness::User {
        id: r["user_id"].as_str().expect("user_id").into(),
        token: r["access_token"].as_str().expect("token").into(),
    }
}

// covers 2026-07-10: SCH-21
// Would catch: guests refused on a delayed-event endpoint of the merged revision, or let in on the
// seed revision's (where the text is silent and the Client-Server spec admits guests only where it
// says so: 403 `M_GUEST_ACCESS_FORBIDDEN`, DECIDED), or a guest account that can log in.
#[tokio::test(start_paused = true)]
async fn guests_use_delayed_events_in_the_merged_revision_only() {
    let t = T::with(merged()).await;
    let a = t.user("a").await;
    let g = guest(&t).await;
    let who = t.get(&g, "/_matrix/client/v3/account/whoami").await.ok();
    assert_eq!(who["is_guest"], json!(true));
    let room = t.room(&a, &[&g]).await;
    let id = schedule(&t, &g, &room, "t1", 60_000).await;
    t.post(&g, &format!("{V1}/{id}/restart"), json!({})).await.ok();
    t.get(&g, &format!("{V1}/{id}")).await.ok();
    assert_eq!(t.get(&g, V1).await.ok()["delayed_events"].as_array().map(Vec::len), Some(1));
    t.post(&g, &format!("{V1}/{id}/send"), json!({})).await.ok();
    let login = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": g.id }, "password": "" });
    t.call("POST", "/_matrix/client/v3/login", None, Some(login)).await.err(403, "M_FORBIDDEN");

    let seed = T::with(settings()).await;
    let a = seed.user("a").await;
    let g = guest(&seed).await;
    let room = seed.room(&a, &[&g]).await;
    let refused = |r: msc4140_testkit::harness::Resp| {
        r.err(403, "M_GUEST_ACCESS_FORBIDDEN");
    };
    refused(seed.schedule_message(&g, &room, "t1", 1000).await);
    refused(seed.schedule_state(&g, &room, "k", 1000, json!({})).await);
    let id =
        seed.schedule_message(&a, &room, "t1", 1000).await.ok()["delay_id"].as_str().expect("id").to_string();
    refused(seed.action(&g, &id, "send").await);
    refused(seed.get(&g, "/_matrix/client/v1/delayed_events/scheduled").await);
    refused(seed.get(&g, "/_matrix/client/v1/delayed_events/finalised").await);
    refused(seed.get(&g, UNSTABLE).await);
    let plain = format!("{PUT}/{room}/send/m.room.message/p");
    seed.put(&g, &plain, json!({ "body": "hi" })).await.ok();
    assert_eq!(seed.scheduled(&a).await.len(), 1, "nothing the guest asked for was scheduled");
}
