use crate::harness::{id, settings, T};
use reference_server::config::{RateLimits, Settings, Window};
use serde_json::json;

// covers: MGT-1 MGT-9
// Would catch: a management endpoint missing on one surface, or a body other than `{}`.
#[tokio::test(start_paused = true)]
async fn manage_on_both_surfaces_answers_empty_object() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d1 = id(&t.schedule_state(&a, &room, "k1", 10_000, json!({})).await);
    let d2 = id(&t.schedule_state(&a, &room, "k2", 10_000, json!({})).await);
    assert_eq!(
        t.post(&a, &format!("/_matrix/client/v1/delayed_events/{d1}"), json!({"action": "restart"}))
            .await
            .ok(),
        json!({})
    );
    let unstable = format!("/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{d2}");
    assert_eq!(t.post(&a, &unstable, json!({"action": "restart"})).await.ok(), json!({}));
}

// covers: MGT-2
// Would catch: a missing or unknown action looked up as an id (404), a wrong code, or a change made.
#[tokio::test(start_paused = true)]
async fn action_is_validated_first() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_state(&a, &room, "k", 10_000, json!({})).await);
    let path = format!("/_matrix/client/v1/delayed_events/{d}");
    t.post(&a, &path, json!({})).await.err(400, "M_MISSING_PARAM");
    for body in
        [json!({"action": "stop"}), json!({"action": 1}), json!({"action": "SEND"}), json!({"action": null})]
    {
        t.post(&a, &path, body).await.err(400, "M_INVALID_PARAM");
    }
    t.raw("POST", &path, Some(&a.token), b"[\"send\"]".to_vec()).await.err(400, "M_BAD_JSON");
    t.raw("POST", &path, Some(&a.token), b"action=send".to_vec()).await.err(400, "M_NOT_JSON");
    t.raw("POST", &path, Some(&a.token), Vec::new()).await.err(400, "M_NOT_JSON");
    // Before the id is looked up: a bad action on an unknown id is still a 400.
    t.action(&a, "0123", "stop").await.err(400, "M_INVALID_PARAM");
    assert_eq!(t.scheduled(&a).await.len(), 1, "nothing changed");
}

// covers: MGT-3 SRV-7
// Would catch: a `send` action that does not insert the event now, with its content and sender, and record it.
#[tokio::test(start_paused = true)]
async fn send_action_sends_now() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_state(&a, &room, &a.id, 60_000, json!({"call": 1})).await);
    t.sleep(10).await;
    let at = t.now();
    t.action(&a, &d, "send").await.ok();
    let e = t.state(&a, &room, "m.rtc.member", &a.id).await.expect("sent");
    assert_eq!(
        (e["sender"].as_str(), &e["content"], e["origin_server_ts"].as_u64()),
        (Some(&*a.id), &json!({"call": 1}), Some(at))
    );
    let f = t.finalised(&a).await;
    assert_eq!((f[0]["outcome"].as_str(), f[0]["reason"].as_str()), (Some("send"), Some("action")));
    assert_eq!(f[0]["event_id"], e["event_id"]);
    assert!(t.scheduled(&a).await.is_empty());
    t.invariants();
}

// covers: MGT-4
// Would catch: a cancelled event whose timer still fires.
#[tokio::test(start_paused = true)]
async fn cancel_means_never_sent() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_message(&a, &room, "bye", 1000).await);
    t.action(&a, &d, "cancel").await.ok();
    t.sleep(5000).await;
    assert!(t.timeline(&a, &room).await.iter().all(|e| e["content"]["body"] != "bye"));
    let f = t.finalised(&a).await;
    assert_eq!((f[0]["outcome"].as_str(), f[0]["reason"].as_str()), (Some("cancel"), Some("action")));
    assert!(f[0].get("event_id").is_none() && f[0].get("error").is_none());
    t.invariants();
}

// covers: MGT-5 SRV-1
// Would catch: a restart that keeps the old due time or fires before `running_since + delay`.
#[tokio::test(start_paused = true)]
async fn restart_moves_the_send_time() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_state(&a, &room, "k", 1000, json!({"v": 1})).await);
    t.sleep(800).await;
    let restarted_at = t.now();
    t.action(&a, &d, "restart").await.ok();
    assert_eq!(t.scheduled(&a).await[0]["running_since"].as_u64(), Some(restarted_at));
    t.sleep(999).await; // the old due time has long passed; the new one is 1 ms away
    assert!(t.state(&a, &room, "m.rtc.member", "k").await.is_none(), "sent before running_since + delay");
    t.sleep(1).await;
    let e = t.state(&a, &room, "m.rtc.member", "k").await.expect("sent at the new due time");
    assert_eq!(e["origin_server_ts"].as_u64(), Some(restarted_at + 1000));
}

// covers: MGT-6 SEC-3
// Would catch: management without a rate limit, or a refused action that still acts.
#[tokio::test(start_paused = true)]
async fn management_is_rate_limited() {
    let limits = RateLimits { management: Some(Window { max: 2, window_ms: 5000 }), ..RateLimits::off() };
    let t = T::with(Settings { rate_limits: limits, ..settings() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_state(&a, &room, "k", 60_000, json!({})).await);
    t.action(&a, &d, "restart").await.ok();
    t.action(&a, &d, "restart").await.ok();
    t.action(&a, &d, "send").await.err(429, "M_LIMIT_EXCEEDED");
    assert_eq!(t.scheduled(&a).await.len(), 1, "the refused send did nothing");
}

// covers: MGT-7 SEC-2
// Would catch: another user's id told apart from an unknown one, or managed by a stranger.
#[tokio::test(start_paused = true)]
async fn unknown_and_foreign_ids_are_indistinguishable() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let d = id(&t.schedule_state(&a, &room, "k", 60_000, json!({})).await);
    let mut bodies = Vec::new();
    for action in ["send", "cancel", "restart"] {
        bodies.push(t.action(&b, &d, action).await.err(404, "M_NOT_FOUND").clone());
        bodies.push(
            t.action(&b, "00000000000000000000000000000000", action).await.err(404, "M_NOT_FOUND").clone(),
        );
        bodies.push(t.action(&a, "not-an-id", action).await.err(404, "M_NOT_FOUND").clone());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    assert_eq!(t.scheduled(&a).await.len(), 1, "b changed nothing");
    assert!(t.scheduled(&b).await.is_empty());
}

// covers: MGT-8 SRV-8
// Would catch: any wrong cell of the retry table, or a retried `send` that sends again.
#[tokio::test(start_paused = true)]
async fn retries_on_finalised_events() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let sent = id(&t.schedule_message(&a, &room, "s", 60_000).await);
    let cancelled = id(&t.schedule_message(&a, &room, "c", 60_000).await);
    let timed_out = id(&t.schedule_message(&a, &room, "o", 10).await);
    t.action(&a, &sent, "send").await.ok();
    t.action(&a, &cancelled, "cancel").await.ok();
    t.sleep(20).await;
    let table = [
        (&sent, "send", 200),
        (&sent, "cancel", 409),
        (&sent, "restart", 409),
        (&timed_out, "send", 200),
        (&timed_out, "cancel", 409),
        (&timed_out, "restart", 409),
        (&cancelled, "cancel", 200),
        (&cancelled, "send", 409),
        (&cancelled, "restart", 409),
    ];
    for (d, action, status) in table {
        let r = t.action(&a, d, action).await;
        if status == 200 {
            assert_eq!(r.ok(), json!({}));
        } else {
            r.err(409, "M_UNKNOWN");
        }
    }
    // SRV-8: the retried sends sent nothing new.
    let bodies: Vec<String> = t
        .timeline(&a, &room)
        .await
        .iter()
        .filter_map(|e| e["content"]["body"].as_str().map(String::from))
        .collect();
    assert_eq!(bodies, ["s", "o"]);
    t.invariants();
}

// covers: MGT-8 LST-5 PSH-3
// Would catch: discarded records still answering, or records not discarded once returned.
#[tokio::test(start_paused = true)]
async fn discarded_records_answer_404() {
    let t = T::with(Settings { discard_returned: true, ..settings() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_message(&a, &room, "x", 60_000).await);
    t.action(&a, &d, "cancel").await.ok();
    t.action(&a, &d, "cancel").await.ok();
    assert_eq!(t.finalised(&a).await.len(), 1, "returned once");
    assert!(t.finalised(&a).await.is_empty(), "then discarded");
    t.action(&a, &d, "cancel").await.err(404, "M_NOT_FOUND");
}

// covers: MGT-10 SRV-2
// Would catch: a failing `send` action that finalises the event or answers 200.
#[tokio::test(start_paused = true)]
async fn failing_send_action_keeps_the_event_scheduled() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/?delay=60000");
    let d = id(&t.put(&b, &path, json!({"topic": "b's"})).await);
    t.action(&b, &d, "send").await.err(403, "M_FORBIDDEN");
    assert_eq!(t.scheduled(&b).await.len(), 1, "still scheduled");
    assert!(t.finalised(&b).await.is_empty());
    // Once b may, the same action succeeds: checked when sent.
    let power = json!({"users": {&a.id: 100, &b.id: 50}, "events": {"m.rtc.member": 0, "m.room.power_levels": 100, "m.room.topic": 50}});
    t.put(&a, &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"), power).await.ok();
    t.action(&b, &d, "send").await.ok();
    assert_eq!(t.state(&b, &room, "m.room.topic", "").await.expect("topic")["content"]["topic"], "b's");
}
