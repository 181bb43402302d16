use crate::harness::{id, settings, User, T};
use reference_server::config::{Settings, SyncKeys};
use serde_json::{json, Value};

async fn sync(t: &T, u: &User, query: &str) -> Value {
    t.get(u, &format!("/_matrix/client/v3/sync?{query}")).await.ok()
}

fn finalised_ids(body: &Value, key: &str) -> Vec<String> {
    body[key].as_array().map_or_else(Vec::new, |a| {
        a.iter().map(|f| f["delayed_event"]["delay_id"].as_str().unwrap_or_default().to_string()).collect()
    })
}

// covers: PSH-1 UNS-1
// Would catch: `since` ignored, the key present when empty, a wrong order or name.
#[tokio::test(start_paused = true)]
async fn sync_carries_finalised_events_since_the_token() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let first = sync(&t, &a, "").await;
    assert!(first.get("finalised_events").is_none(), "absent when there are none");
    let d1 = id(&t.schedule_message(&a, &room, "one", 100).await);
    let d2 = id(&t.schedule_message(&a, &room, "two", 60_000).await);
    t.sleep(200).await;
    t.action(&a, &d2, "cancel").await.ok();
    let since = first["next_batch"].as_str().expect("token");
    let next = sync(&t, &a, &format!("since={since}")).await;
    // Newest first, shaped like LST-2 items, under both names.
    assert_eq!(finalised_ids(&next, "finalised_events"), [d2.clone(), d1.clone()]);
    assert_eq!(finalised_ids(&next, "org.matrix.msc4140.finalised_events"), [d2.clone(), d1.clone()]);
    assert_eq!(next["finalised_events"][1]["outcome"], "send");
    assert_eq!(next["finalised_events"][0]["reason"], "action");
    // Nothing new since: absent again.
    let token = next["next_batch"].as_str().expect("token");
    let later = sync(&t, &a, &format!("since={token}")).await;
    assert!(later.get("finalised_events").is_none(), "{later}");
    // An initial sync returns all retained ones.
    assert_eq!(finalised_ids(&sync(&t, &a, "").await, "finalised_events"), [d2.clone(), d1.clone()]);
}

// covers: PSH-1
// Would catch: the `sync_keys` setting ignored.
#[tokio::test(start_paused = true)]
async fn sync_key_choice() {
    let t = T::with(Settings { sync_keys: SyncKeys::Unstable, ..settings() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_message(&a, &room, "x", 60_000).await);
    t.action(&a, &d, "cancel").await.ok();
    let s = sync(&t, &a, "").await;
    assert!(s.get("finalised_events").is_none());
    assert_eq!(finalised_ids(&s, "org.matrix.msc4140.finalised_events"), vec![d.clone()]);
}

// covers: PSH-2
// Would catch: the inline or stored filter ignored for either key name.
#[tokio::test(start_paused = true)]
async fn filter_removes_the_key() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_message(&a, &room, "x", 60_000).await);
    t.action(&a, &d, "cancel").await.ok();
    for key in ["finalised_events", "org.matrix.msc4140.finalised_events"] {
        let inline = serde_json::to_string(&json!({ key: false })).expect("json");
        let q: String = form_urlencoded::byte_serialize(inline.as_bytes()).collect();
        let s = sync(&t, &a, &format!("filter={q}")).await;
        assert!(
            s.get("finalised_events").is_none() && s.get("org.matrix.msc4140.finalised_events").is_none(),
            "{s}"
        );
        let stored =
            t.post(&a, &format!("/_matrix/client/v3/user/{}/filter", a.id), json!({ key: false })).await.ok();
        let fid = stored["filter_id"].as_str().expect("filter_id");
        let s = sync(&t, &a, &format!("filter={fid}")).await;
        assert!(s.get("finalised_events").is_none(), "{s}");
    }
    // `true` or absent keeps it.
    let s = sync(&t, &a, "filter=%7B%22finalised_events%22%3Atrue%7D").await;
    assert_eq!(finalised_ids(&s, "finalised_events"), vec![d.clone()]);
}

// covers: PSH-3
// Would catch: a record returned by `/sync` and then still listed with `discard_returned` on.
#[tokio::test(start_paused = true)]
async fn records_returned_by_sync_may_be_discarded() {
    let t = T::with(Settings { discard_returned: true, ..settings() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_message(&a, &room, "x", 60_000).await);
    t.action(&a, &d, "cancel").await.ok();
    assert_eq!(finalised_ids(&sync(&t, &a, "").await, "finalised_events"), vec![d.clone()]);
    assert!(t.finalised(&a).await.is_empty());
    assert!(sync(&t, &a, "").await.get("finalised_events").is_none());
}

// covers: PSH-1
// Would catch: a long-poll that sleeps to its timeout instead of waking when an event is finalised.
#[tokio::test(start_paused = true)]
async fn long_poll_wakes_on_a_finalisation() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let token = sync(&t, &a, "").await["next_batch"].as_str().expect("token").to_string();
    let scheduled_at = t.now();
    let d = id(&t.schedule_message(&a, &room, "x", 2000).await);
    let since = sync(&t, &a, &format!("since={token}")).await["next_batch"].as_str().expect("t").to_string();
    let r = sync(&t, &a, &format!("since={since}&timeout=30000")).await;
    assert_eq!(finalised_ids(&r, "finalised_events"), vec![d.clone()]);
    assert_eq!(t.now(), scheduled_at + 2000, "answered when the event fired, not at the timeout");
}
