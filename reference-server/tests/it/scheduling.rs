use crate::harness::{id, settings, T};
use reference_server::config::{RateLimits, Settings, Window};
use serde_json::json;

// covers: SCH-1 SCH-2 SCH-3
// Would catch: a delayed send that sends at once, answers an `event_id`, or changes the content.
#[tokio::test(start_paused = true)]
async fn delay_turns_a_send_into_a_schedule() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    // Without a delay: an ordinary send.
    let r = t
        .put(&a, &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t0"), json!({"body": "now"}))
        .await;
    assert!(r.clone().ok()["event_id"].is_string());
    // With one: a delay_id and no event_id, on both the send and the state paths.
    let m = t.schedule_message(&a, &room, "t1", 5000).await.ok();
    assert!(m["delay_id"].is_string() && m.get("event_id").is_none(), "{m}");
    let content = json!({"application": "m.call", "nested": {"k": [1, 2.5, "x", null]}, "ü": "✓"});
    let s = t.schedule_state(&a, &room, &a.id, 5000, content.clone()).await.ok();
    assert!(s["delay_id"].is_string() && s.get("event_id").is_none(), "{s}");
    assert_eq!(s.as_object().map(|o| o.len()), Some(1));
    // SCH-2: the body is the content, kept as given.
    let listed = t.scheduled(&a).await;
    let item = listed.iter().find(|i| i["delay_id"] == s["delay_id"]).expect("listed");
    assert_eq!(item["content"], content);
    // Nothing entered the room yet.
    assert!(t.timeline(&a, &room).await.iter().all(|e| e["content"]["body"] != "t1"));
}

// covers: SCH-4
// Would catch: a `delay_id` issued twice.
#[tokio::test(start_paused = true)]
async fn delay_ids_are_unique_across_users() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let mut seen = std::collections::HashSet::new();
    for i in 0..20 {
        let u = if i % 2 == 0 { &a } else { &b };
        let r = t.schedule_message(u, &room, &format!("t{i}"), 10_000).await;
        assert!(seen.insert(id(&r)), "duplicate delay_id");
    }
    assert!(seen.iter().all(|i| i != "scheduled" && i != "finalised"));
}

// covers: SCH-5 SCH-8
// Would catch: an exclusive maximum, no `max_delay` in the error, or the refused event scheduled anyway.
#[tokio::test(start_paused = true)]
async fn maximum_delay() {
    assert!(Settings::default().max_delay_ms <= 31 * 24 * 3600 * 1000, "SCH-8: at most a month by default");
    let t = T::with(Settings { max_delay_ms: 60_000, ..settings() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    t.schedule_state(&a, &room, "k", 60_000, json!({})).await.ok();
    let r = t.schedule_state(&a, &room, "k", 60_001, json!({})).await;
    assert_eq!(r.err(400, "M_MAX_DELAY_EXCEEDED")["max_delay"], 60_000);
    assert_eq!(t.scheduled(&a).await.len(), 1, "the refused one was not scheduled");
}

// covers: SCH-6 SEC-3
// Would catch: scheduling without a rate limit, or a window that never reopens.
#[tokio::test(start_paused = true)]
async fn scheduling_is_rate_limited() {
    let limits = RateLimits { scheduling: Some(Window { max: 3, window_ms: 1000 }), ..RateLimits::off() };
    let t = T::with(Settings { rate_limits: limits, ..settings() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    for i in 0..3 {
        t.schedule_message(&a, &room, &format!("t{i}"), 50_000).await.ok();
    }
    let r = t.schedule_message(&a, &room, "t3", 50_000).await;
    let retry = r.err(429, "M_LIMIT_EXCEEDED")["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(retry > 0 && retry <= 1000);
    assert_eq!(t.scheduled(&a).await.len(), 3);
    t.sleep(retry).await;
    t.schedule_message(&a, &room, "t4", 50_000).await.ok();
}

// covers: SCH-7 SEC-3
// Would catch: a limit shared between users, or one counting finalised events.
#[tokio::test(start_paused = true)]
async fn outstanding_limit_per_user() {
    let t = T::with(Settings { max_delayed_per_user: 2, ..settings() }).await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let first = t.schedule_message(&a, &room, "t0", 50_000).await;
    t.schedule_message(&a, &room, "t1", 50_000).await.ok();
    t.schedule_message(&a, &room, "t2", 50_000).await.err(400, "M_MAX_DELAYED_EVENTS_EXCEEDED");
    // Per user: b is not affected.
    t.schedule_message(&b, &room, "t0", 50_000).await.ok();
    // Finalising one frees a place.
    t.action(&a, &id(&first), "cancel").await.ok();
    t.schedule_message(&a, &room, "t3", 50_000).await.ok();
    t.invariants();
}

// covers: SCH-9
// Would catch: a zero, negative, signed, fractional or non-ASCII delay accepted.
#[tokio::test(start_paused = true)]
async fn delay_must_be_a_positive_integer() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    for bad in ["0", "-1", "-0", "1.5", "1e3", "abc", "", "+5", " 5", "0x10", "１"] {
        let q: String = form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        let path = format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/k?delay={q}");
        t.put(&a, &path, json!({})).await.err(400, "M_INVALID_PARAM");
    }
    // A huge integer is an integer: it is over the maximum.
    let huge = "123456789012345678901234567890";
    let path = format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/k?delay={huge}");
    t.put(&a, &path, json!({})).await.err(400, "M_MAX_DELAY_EXCEEDED");
    assert!(t.scheduled(&a).await.is_empty());
    t.schedule_state(&a, &room, "k", 1, json!({})).await.ok();
}

// covers: SCH-10
// Would catch: a retry scheduling again, a scope other than device + path, or a retry whose body is parsed first.
#[tokio::test(start_paused = true)]
async fn transaction_ids_make_scheduling_idempotent() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let first = id(&t.schedule_message(&a, &room, "same", 10_000).await);
    let again = id(&t.schedule_message(&a, &room, "same", 10_000).await);
    assert_eq!(first, again);
    assert_eq!(t.scheduled(&a).await.len(), 1);
    // Another access token (device) of the same user is another transaction scope.
    let login = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "a"}, "password": "pw"});
    let token = t.call("POST", "/_matrix/client/v3/login", None, Some(login)).await.ok()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let other = crate::harness::User { id: a.id.clone(), token };
    assert_ne!(id(&t.schedule_message(&other, &room, "same", 10_000).await), first);
    // A retry is answered before its body is read: an empty or broken retry body, or an invalid
    // delay, still gets the first answer (the server used to answer 400 M_NOT_JSON).
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/same");
    for (query, body) in [("?delay=10000", &b""[..]), ("?delay=0", b"{"), ("", b"[]")] {
        let r = t.raw("PUT", &format!("{path}{query}"), Some(&a.token), body.to_vec()).await;
        assert_eq!(id(&r), first, "{query} {body:?}");
    }
    // Another path (room) is another transaction.
    let room2 = t.room(&a, &[]).await;
    assert_ne!(id(&t.schedule_message(&a, &room2, "same", 10_000).await), first);
    assert_eq!(t.scheduled(&a).await.len(), 3);
}

// covers: SCH-11
// Would catch: scheduling into a room the user is not in, or power levels judged at scheduling.
#[tokio::test(start_paused = true)]
async fn scheduling_checks_room_and_membership_not_power() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[]).await;
    t.schedule_state(&b, &room, "k", 1000, json!({})).await.err(403, "M_FORBIDDEN");
    t.schedule_state(&a, "!nope:localhost", "k", 1000, json!({})).await.err(403, "M_FORBIDDEN");
    t.post(&b, &format!("/_matrix/client/v3/rooms/{room}/join"), json!({})).await.ok();
    // m.room.topic needs 50; b has 0 but may schedule it (SRV-2 decides at send time).
    let path = format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/?delay=1000");
    t.put(&b, &path, json!({"topic": "later"})).await.ok();
}
