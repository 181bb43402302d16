use crate::harness::{id, settings, T};
use reference_server::config::{RateLimits, Settings, Window};
use serde_json::json;

// covers: SRV-1 SRV-9
// Would catch: a timer firing before `running_since + delay`, or late on an idle server (SRV-10, the
// send time against the due time, needs a late timer: `engine::core_tests`).
#[tokio::test(start_paused = true)]
async fn sent_at_the_due_time_never_before() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let start = t.now();
    id(&t.schedule_state(&a, &room, "k", 5000, json!({"v": 1})).await);
    t.sleep(4999).await;
    assert!(t.state(&a, &room, "m.rtc.member", "k").await.is_none());
    assert_eq!(t.scheduled(&a).await.len(), 1);
    t.sleep(1).await;
    let e = t.state(&a, &room, "m.rtc.member", "k").await.expect("sent");
    // On virtual time the timer fires exactly at the due time, and the event says so.
    assert_eq!(e["origin_server_ts"].as_u64(), Some(start + 5000));
}

// covers: SRV-2 SRV-3
// Would catch: power levels judged at scheduling, or a failure at send time not recorded.
#[tokio::test(start_paused = true)]
async fn power_levels_are_checked_when_sent() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let topic = format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/?delay=1000");
    // Not allowed when scheduled, allowed when sent: sent.
    t.put(&b, &topic, json!({"topic": "first"})).await.ok();
    let power = |b_level: i64| json!({"users": {&a.id: 100, &b.id: b_level}, "events": {"m.rtc.member": 0, "m.room.power_levels": 100, "m.room.topic": 50}});
    let pl = format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/");
    t.put(&a, &pl, power(50)).await.ok();
    t.sleep(1000).await;
    assert_eq!(t.state(&a, &room, "m.room.topic", "").await.expect("topic")["content"]["topic"], "first");
    // Allowed when scheduled, not when due: finalised as a failure with the send's error.
    let d = id(&t.put(&b, &topic, json!({"topic": "second"})).await);
    t.put(&a, &pl, power(0)).await.ok();
    t.sleep(1000).await;
    assert_eq!(t.state(&a, &room, "m.room.topic", "").await.expect("topic")["content"]["topic"], "first");
    let f = t.finalised(&b).await;
    let item = f.iter().find(|f| f["delayed_event"]["delay_id"] == d.as_str()).expect("recorded, not lost");
    assert_eq!((item["outcome"].as_str(), item["reason"].as_str()), (Some("cancel"), Some("error")));
    assert_eq!(item["error"]["errcode"], "M_FORBIDDEN");
    assert!(item.get("event_id").is_none());
    t.invariants();
}

// covers: SRV-3
// Would catch: a delayed event sent for a user who left, or the failure not recorded.
#[tokio::test(start_paused = true)]
async fn leaving_the_room_makes_the_send_fail() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    id(&t.schedule_state(&b, &room, &b.id, 1000, json!({})).await);
    t.post(&b, &format!("/_matrix/client/v3/rooms/{room}/leave"), json!({})).await.ok();
    t.sleep(1000).await;
    let f = t.finalised(&b).await;
    assert_eq!(
        (f[0]["outcome"].as_str(), f[0]["error"]["errcode"].as_str()),
        (Some("cancel"), Some("M_FORBIDDEN"))
    );
    assert!(t.state(&a, &room, "m.rtc.member", &b.id).await.is_none());
}

// covers: SRV-4 UNS-4
// Would catch: another sender's state update not cancelling, or the wrong error shape on either surface.
#[tokio::test(start_paused = true)]
async fn another_senders_state_event_cancels() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let d = id(&t.schedule_state(&a, &room, "shared", 5000, json!({"from": "a"})).await);
    t.put(&b, &format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/shared"), json!({"from": "b"}))
        .await
        .ok();
    assert!(t.scheduled(&a).await.is_empty());
    t.sleep(6000).await;
    assert_eq!(t.state(&a, &room, "m.rtc.member", "shared").await.expect("b's")["content"]["from"], "b");
    let f = t.finalised(&a).await;
    assert_eq!((f[0]["outcome"].as_str(), f[0]["reason"].as_str()), (Some("cancel"), Some("error")));
    assert_eq!(f[0]["error"]["errcode"], "M_CANCELLED_BY_STATE_UPDATE");
    assert_eq!(f[0]["delayed_event"]["delay_id"].as_str(), Some(&*d));
    let u = t.get(&a, "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/finalised").await.ok();
    assert_eq!(u["finalised"][0]["error"]["errcode"], "M_UNKNOWN");
    assert_eq!(u["finalised"][0]["error"]["org.matrix.msc4140.errcode"], "M_CANCELLED_BY_STATE_UPDATE");
    t.action(&a, &d, "send").await.err(409, "M_UNKNOWN");
    t.invariants();
}

// covers: SRV-4
// Would catch: a fired delayed state event not cancelling other senders' ones in its slot.
#[tokio::test(start_paused = true)]
async fn a_firing_delayed_event_cancels_others_in_its_slot() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let first = id(&t.schedule_state(&b, &room, "slot", 1000, json!({"from": "b"})).await);
    let second = id(&t.schedule_state(&a, &room, "slot", 2000, json!({"from": "a"})).await);
    t.sleep(1000).await;
    assert_eq!(t.state(&a, &room, "m.rtc.member", "slot").await.expect("b's")["content"]["from"], "b");
    assert_eq!(t.finalised(&a).await[0]["error"]["errcode"], "M_CANCELLED_BY_STATE_UPDATE");
    assert_eq!(t.finalised(&b).await[0]["delayed_event"]["delay_id"].as_str(), Some(&*first));
    t.action(&a, &second, "restart").await.err(409, "M_UNKNOWN");
    t.invariants();
}

// covers: SRV-5
// Would catch: the owner's state update, a message, another slot or type cancelling the event.
#[tokio::test(start_paused = true)]
async fn own_state_events_and_messages_cancel_nothing() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    id(&t.schedule_state(&a, &room, "slot", 5000, json!({"v": "delayed"})).await);
    let power =
        json!({"users": {&a.id: 100, &b.id: 50}, "events": {"m.rtc.member": 0, "m.room.power_levels": 100}});
    t.put(&a, &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"), power).await.ok();
    t.put(&a, &format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/slot"), json!({"v": "own"}))
        .await
        .ok();
    t.put(&b, &format!("/_matrix/client/v3/rooms/{room}/send/m.rtc.member/x"), json!({"v": "msg"}))
        .await
        .ok();
    t.put(&b, &format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/other-slot"), json!({}))
        .await
        .ok();
    t.put(&b, &format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.notslot/slot"), json!({})).await.ok();
    assert_eq!(t.scheduled(&a).await.len(), 1);
    t.sleep(5000).await;
    assert_eq!(t.state(&a, &room, "m.rtc.member", "slot").await.expect("sent")["content"]["v"], "delayed");
}

// covers: SRV-6
// Would catch: delayed events inserted past the sending budget (the DECIDED behaviour the catalogue
// withdrew), refused ones lost or retried later, a `send` action past the budget answering 200.
#[tokio::test(start_paused = true)]
async fn insertions_past_the_sending_budget_are_refused_and_recorded() {
    let limits = RateLimits { sending: Some(Window { max: 2, window_ms: 60_000 }), ..RateLimits::off() };
    let t = T::with(Settings { rate_limits: limits, ..settings() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(id(&t.schedule_message(&a, &room, &format!("d{i}"), 100).await));
    }
    let later = id(&t.schedule_message(&a, &room, "later", 70_000).await);
    t.sleep(100).await;
    let sent =
        || async { t.timeline(&a, &room).await.iter().filter(|e| e["type"] == "m.room.message").count() };
    assert_eq!(sent().await, 2, "two insertions in the window");
    let f = t.finalised(&a).await;
    let refused: Vec<_> = f.iter().filter(|i| i["error"]["errcode"] == "M_LIMIT_EXCEEDED").collect();
    assert_eq!(refused.len(), 2, "{f:?}");
    for r in &refused {
        assert_eq!((r["outcome"].as_str(), r["reason"].as_str()), (Some("cancel"), Some("error")));
        assert!(r.get("event_id").is_none());
    }
    t.put(&a, &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/n"), json!({}))
        .await
        .err(429, "M_LIMIT_EXCEEDED");
    t.action(&a, &later, "send").await.err(429, "M_LIMIT_EXCEEDED");
    assert_eq!(t.scheduled(&a).await.len(), 1, "a refused send action keeps the event");
    // Not retried: once the window reopens (at 60.1 s) only the still scheduled event is sent.
    t.sleep(70_000).await;
    assert_eq!(sent().await, 3);
    assert_eq!(ids.len() + 1, t.finalised(&a).await.len());
    t.invariants();
}

// covers: SRV-7 SRV-8
// Would catch: another content, sender or state key, or a retried `send` sending again.
#[tokio::test(start_paused = true)]
async fn the_sent_event_is_the_scheduled_one_once() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let content =
        json!({"call_id": "", "device_id": "DEV", "expires": 7200000, "foci": [{"type": "livekit"}]});
    let d = id(&t.schedule_state(&b, &room, &b.id, 300, content.clone()).await);
    t.sleep(300).await;
    let events: Vec<_> =
        t.timeline(&a, &room).await.into_iter().filter(|e| e["type"] == "m.rtc.member").collect();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e["sender"].as_str(), e["state_key"].as_str(), &e["content"]),
        (Some(&*b.id), Some(&*b.id), &content)
    );
    for _ in 0..3 {
        t.action(&b, &d, "send").await.ok();
    }
    t.sleep(10_000).await;
    assert_eq!(t.timeline(&a, &room).await.iter().filter(|e| e["type"] == "m.rtc.member").count(), 1);
    assert_eq!(t.finalised(&b).await.len(), 1);
    t.invariants();
}

// covers: SRV-8 SRV-1
// Would catch: a heartbeat (restart every 500 ms) that fires early, twice, or leaves entries behind.
#[tokio::test(start_paused = true)]
async fn a_restarted_heartbeat_fires_once_at_the_end() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_state(&a, &room, &a.id, 1000, json!({})).await);
    for _ in 0..50 {
        t.sleep(500).await;
        t.action(&a, &d, "restart").await.ok();
    }
    let last = t.now();
    t.sleep(999).await;
    assert!(t.state(&a, &room, "m.rtc.member", &a.id).await.is_none());
    t.sleep(1).await;
    let e = t.state(&a, &room, "m.rtc.member", &a.id).await.expect("sent");
    assert_eq!(e["origin_server_ts"].as_u64(), Some(last + 1000));
    assert_eq!(t.engine.live_delayed(), 0);
    t.invariants();
}
