use crate::harness::{id, settings, T};
use reference_server::config::Settings;
use serde_json::json;

const U: &str = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events";

// covers: DSC-1
// Would catch: `/versions` without `org.matrix.msc4140`.
#[tokio::test(start_paused = true)]
async fn versions_advertises_the_unstable_feature() {
    let t = T::new().await;
    let v = t.call("GET", "/_matrix/client/versions", None, None).await.ok();
    assert_eq!(v["unstable_features"]["org.matrix.msc4140"], true);
    assert!(v["versions"].as_array().is_some_and(|a| a.iter().any(|x| x == "v1.11")));
}

// covers: UNS-1 LST-6
// Would catch: an unstable path missing, or both delay names accepted at once.
#[tokio::test(start_paused = true)]
async fn unstable_names_work_end_to_end() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/k?org.matrix.msc4140.delay=1000");
    let d = id(&t.put(&a, &path, json!({})).await);
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t?org.matrix.msc4140.delay=1000");
    let m = id(&t.put(&a, &path, json!({"body": "m"})).await);
    let listed = t.get(&a, &format!("{U}/scheduled")).await.ok();
    assert_eq!(listed["scheduled"].as_array().map(Vec::len), Some(2));
    t.post(&a, &format!("{U}/{m}"), json!({"action": "cancel"})).await.ok();
    t.sleep(1000).await;
    let f = t.get(&a, &format!("{U}/finalised")).await.ok();
    assert_eq!(f["finalised"][0]["delayed_event"]["delay_id"].as_str(), Some(&*d));
    // Giving both names is ambiguous.
    let both =
        format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/k?delay=5&org.matrix.msc4140.delay=5");
    t.put(&a, &both, json!({})).await.err(400, "M_INVALID_PARAM");
}

// covers: UNS-2 SCH-5
// Would catch: the stable shape on the unstable surface or the reverse.
#[tokio::test(start_paused = true)]
async fn max_delay_error_shape_per_surface() {
    let t = T::with(Settings { max_delay_ms: 1000, ..settings() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/k?org.matrix.msc4140.delay=1001");
    let r = t.put(&a, &path, json!({})).await;
    let b = r.err(400, "M_UNKNOWN");
    assert_eq!(
        (&b["org.matrix.msc4140.errcode"], &b["org.matrix.msc4140.max_delay"]),
        (&json!("M_MAX_DELAY_EXCEEDED"), &json!(1000))
    );
    assert!(b.get("max_delay").is_none());
    let stable = t.schedule_state(&a, &room, "k", 1001, json!({})).await;
    assert_eq!(stable.err(400, "M_MAX_DELAY_EXCEEDED")["max_delay"], 1000);
}

// covers: UNS-3 SCH-7
// Would catch: the stable code on the unstable surface or the reverse.
#[tokio::test(start_paused = true)]
async fn outstanding_limit_error_shape_per_surface() {
    let t = T::with(Settings { max_delayed_per_user: 1, ..settings() }).await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    t.schedule_state(&a, &room, "k", 1000, json!({})).await.ok();
    let path = format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/k?org.matrix.msc4140.delay=10");
    let r = t.put(&a, &path, json!({})).await;
    assert_eq!(r.err(400, "M_UNKNOWN")["org.matrix.msc4140.errcode"], "M_MAX_DELAYED_EVENTS_EXCEEDED");
    t.schedule_state(&a, &room, "k", 1000, json!({})).await.err(400, "M_MAX_DELAYED_EVENTS_EXCEEDED");
}

// covers: SEC-1
// Would catch: an endpoint reachable without a token or with a wrong one, or acting anyway.
#[tokio::test(start_paused = true)]
async fn every_new_endpoint_needs_a_valid_token() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let d = id(&t.schedule_state(&a, &room, "k", 60_000, json!({})).await);
    let endpoints = [
        ("POST", format!("/_matrix/client/v1/delayed_events/{d}")),
        ("POST", format!("{U}/{d}")),
        ("GET", "/_matrix/client/v1/delayed_events/scheduled".into()),
        ("GET", "/_matrix/client/v1/delayed_events/finalised".into()),
        ("GET", format!("{U}/scheduled")),
        ("GET", format!("{U}/finalised")),
        ("GET", U.into()),
        ("PUT", format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/k?delay=10")),
        ("PUT", format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t?delay=10")),
    ];
    let body = json!({"action": "send"});
    for (method, path) in &endpoints {
        t.call(method, path, None, Some(body.clone())).await.err(401, "M_MISSING_TOKEN");
        t.call(method, path, Some("syt_wrong"), Some(body.clone())).await.err(401, "M_UNKNOWN_TOKEN");
    }
    // A logged-out token stops working.
    t.post(&a, "/_matrix/client/v3/logout", json!({})).await.ok();
    t.call("GET", &format!("{U}/scheduled"), Some(&a.token), None).await.err(401, "M_UNKNOWN_TOKEN");
    let login = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "a"}, "password": "pw"});
    let token = t.call("POST", "/_matrix/client/v3/login", None, Some(login)).await.ok()["access_token"]
        .as_str()
        .expect("t")
        .to_string();
    let r = t.call("GET", "/_matrix/client/v1/delayed_events/scheduled", Some(&token), None).await.ok();
    assert_eq!(r["scheduled"].as_array().map(Vec::len), Some(1), "nothing was sent or changed");
}
