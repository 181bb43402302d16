use crate::harness::{id, settings, User, T};
use reference_server::config::Settings;
use serde_json::{json, Value};

async fn walk(t: &T, u: &User, path: &str, key: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut from: Option<String> = None;
    loop {
        let p = match &from {
            None => path.to_string(),
            Some(f) => format!("{path}?from={f}"),
        };
        let r = t.get(u, &p).await.ok();
        pages += 1;
        items.extend(r[key].as_array().cloned().unwrap_or_default());
        match r["next_batch"].as_str() {
            Some(n) => from = Some(n.to_string()),
            None => return (items, pages),
        }
    }
}

// covers: LST-1
// Would catch: a wrong order, a missing field, `state_key` on a message, the wrong `running_since`.
#[tokio::test(start_paused = true)]
async fn scheduled_lists_soonest_first_with_every_field() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let late = id(&t.schedule_state(&a, &room, "late", 9000, json!({"n": 1})).await);
    t.sleep(100).await;
    let soon = id(&t.schedule_message(&a, &room, "soon", 1000).await);
    let listed = t.scheduled(&a).await;
    assert_eq!(
        listed.iter().map(|i| i["delay_id"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
        [&soon, &late]
    );
    let m = &listed[0];
    assert_eq!(
        (m["room_id"].as_str(), m["type"].as_str(), m["delay"].as_u64()),
        (Some(&*room), Some("m.room.message"), Some(1000))
    );
    assert!(m.get("state_key").is_none(), "no state_key for a message: {m}");
    assert_eq!(m["running_since"].as_u64(), Some(t.now()));
    let s = &listed[1];
    assert_eq!(
        (s["state_key"].as_str(), &s["content"], s["type"].as_str()),
        (Some("late"), &json!({"n": 1}), Some("m.rtc.member"))
    );
}

// covers: LST-2 LST-8
// Would catch: ascending order, a wrong outcome/reason, timestamps other than send or finalisation time.
#[tokio::test(start_paused = true)]
async fn finalised_lists_newest_first_with_timestamps() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let sent = id(&t.schedule_message(&a, &room, "sent", 100).await);
    let cancelled = id(&t.schedule_message(&a, &room, "cancelled", 60_000).await);
    t.sleep(150).await;
    t.action(&a, &cancelled, "cancel").await.ok();
    let cancelled_at = t.now();
    let f = t.finalised(&a).await;
    assert_eq!(f[0]["delayed_event"]["delay_id"].as_str(), Some(&*cancelled));
    assert_eq!(f[1]["delayed_event"]["delay_id"].as_str(), Some(&*sent));
    // LST-8: the sent event's own timestamp; the finalisation time when never sent.
    let event =
        t.timeline(&a, &room).await.into_iter().find(|e| e["content"]["body"] == "sent").expect("sent");
    assert_eq!(f[1]["origin_server_ts"], event["origin_server_ts"]);
    assert_eq!(f[1]["event_id"], event["event_id"]);
    assert_eq!(f[0]["origin_server_ts"].as_u64(), Some(cancelled_at));
    assert_eq!(f[1]["delayed_event"]["content"]["body"], "sent");
}

// covers: LST-3
// Would catch: a walk that repeats or skips events, or a missing `next_batch`.
#[tokio::test(start_paused = true)]
async fn walking_all_pages_yields_each_event_once() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(id(&t.schedule_message(&a, &room, &format!("t{i}"), 60_000 + i).await));
    }
    let (items, pages) = walk(&t, &a, "/_matrix/client/v1/delayed_events/scheduled", "scheduled").await;
    assert_eq!(pages, 3, "page size 10");
    let walked: Vec<&str> = items.iter().map(|i| i["delay_id"].as_str().unwrap_or_default()).collect();
    assert_eq!(walked, ids.iter().map(String::as_str).collect::<Vec<_>>());
    for d in &ids {
        t.action(&a, d, "cancel").await.ok();
    }
    let (items, pages) = walk(&t, &a, "/_matrix/client/v1/delayed_events/finalised", "finalised").await;
    assert_eq!((items.len(), pages), (25, 3));
    let mut seen: Vec<&str> =
        items.iter().map(|i| i["delayed_event"]["delay_id"].as_str().unwrap_or_default()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25);
    t.get(&a, "/_matrix/client/v1/delayed_events/scheduled?from=garbage").await.err(400, "M_INVALID_PARAM");
}

// covers: LST-4 SEC-2
// Would catch: another user's events in any of the three lookups.
#[tokio::test(start_paused = true)]
async fn lookups_list_only_the_callers_events() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let d = id(&t.schedule_message(&a, &room, "a1", 10).await);
    t.schedule_message(&a, &room, "a2", 60_000).await.ok();
    t.sleep(20).await;
    assert!(t.scheduled(&b).await.is_empty());
    assert!(t.finalised(&b).await.is_empty());
    let bare = t.get(&b, "/_matrix/client/unstable/org.matrix.msc4140/delayed_events").await.ok();
    assert_eq!(bare["delayed_events"], json!([]));
    assert_eq!(t.finalised(&a).await[0]["delayed_event"]["delay_id"].as_str(), Some(&*d));
}

// covers: LST-5
// Would catch: records kept beyond the age or count, or the oldest kept instead of the newest.
#[tokio::test(start_paused = true)]
async fn retention_by_age_and_count() {
    let t = T::with(Settings { retention_max_age_ms: 10_000, retention_max_per_user: 3, ..settings() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let d = id(&t.schedule_message(&a, &room, &format!("t{i}"), 60_000).await);
        t.action(&a, &d, "cancel").await.ok();
        ids.push(d);
        t.sleep(1).await;
    }
    let kept: Vec<String> = t
        .finalised(&a)
        .await
        .iter()
        .map(|f| f["delayed_event"]["delay_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kept, [ids[4].clone(), ids[3].clone(), ids[2].clone()], "the newest three");
    t.action(&a, &ids[0], "cancel").await.err(404, "M_NOT_FOUND");
    t.sleep(10_001).await;
    assert!(t.finalised(&a).await.is_empty(), "older than the age limit");
}

// covers: LST-6
// Would catch: the bare unstable list paginated, truncated or unordered.
#[tokio::test(start_paused = true)]
async fn bare_unstable_lookup_lists_every_scheduled_event() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    for i in 0..15 {
        t.schedule_message(&a, &room, &format!("t{i}"), 60_000 - i).await.ok();
    }
    let r = t.get(&a, "/_matrix/client/unstable/org.matrix.msc4140/delayed_events").await.ok();
    let items = r["delayed_events"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 15, "one response, beyond the page size");
    let dues: Vec<u64> = items.iter().map(|i| i["delay"].as_u64().unwrap_or_default()).collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]));
    let (paged, _) =
        walk(&t, &a, "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/scheduled", "scheduled")
            .await;
    assert_eq!(paged, items);
}

// covers: LST-7
// Would catch: ties broken otherwise than by `delay_id`, or offset tokens skipping events when others leave.
#[tokio::test(start_paused = true)]
async fn ties_by_delay_id_and_walks_survive_changes() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(id(&t.schedule_message(&a, &room, &format!("t{i}"), 60_000).await));
    }
    // All due together: the order is by delay_id.
    let mut sorted = ids.clone();
    sorted.sort();
    let page1 = t.get(&a, "/_matrix/client/v1/delayed_events/scheduled").await.ok();
    let first: Vec<String> = page1["scheduled"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|i| i["delay_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(first, sorted[..10]);
    // Events leave the list mid-walk: on the walked page and on the next one.
    t.action(&a, &sorted[3], "cancel").await.ok();
    t.action(&a, &sorted[12], "send").await.ok();
    let next = page1["next_batch"].as_str().expect("more");
    let page2 = t.get(&a, &format!("/_matrix/client/v1/delayed_events/scheduled?from={next}")).await.ok();
    let second: Vec<String> = page2["scheduled"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|i| i["delay_id"].as_str().unwrap_or_default().to_string())
        .collect();
    let expected: Vec<String> = sorted[10..].iter().filter(|d| **d != sorted[12]).cloned().collect();
    assert_eq!(second, expected, "no repeat, no skip of events that stayed");
    assert!(page2.get("next_batch").is_none());
}
