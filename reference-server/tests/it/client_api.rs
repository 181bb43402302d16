//! The Client-Server API subset real clients need.

use crate::harness::{settings, T};
use reference_server::config::Settings;
use serde_json::{json, Value};

#[tokio::test(start_paused = true)]
async fn registration_uses_the_dummy_flow() {
    let t = T::new().await;
    let first = t
        .call("POST", "/_matrix/client/v3/register", None, Some(json!({"username": "x", "password": "p"})))
        .await;
    assert_eq!(first.status, 401);
    assert_eq!(first.body["flows"][0]["stages"][0], "m.login.dummy");
    let session = first.body["session"].as_str().expect("session");
    let body =
        json!({"username": "x", "password": "p", "auth": {"type": "m.login.dummy", "session": session}});
    let ok = t.call("POST", "/_matrix/client/v3/register", None, Some(body.clone())).await.ok();
    assert_eq!(ok["user_id"], "@x:localhost");
    t.call("POST", "/_matrix/client/v3/register", None, Some(body)).await.err(400, "M_USER_IN_USE");
    let bad = json!({"username": "X Y", "password": "p", "auth": {"type": "m.login.dummy"}});
    t.call("POST", "/_matrix/client/v3/register", None, Some(bad)).await.err(400, "M_INVALID_USERNAME");
    let token = ok["access_token"].as_str().expect("token");
    let who = t.call("GET", "/_matrix/client/r0/account/whoami", Some(token), None).await.ok();
    assert_eq!(
        (who["user_id"].as_str(), who["device_id"].as_str()),
        (Some("@x:localhost"), ok["device_id"].as_str())
    );
    let closed = T::with(Settings { open_registration: false, ..settings() }).await;
    let body = json!({"username": "x", "auth": {"type": "m.login.dummy"}});
    closed.call("POST", "/_matrix/client/v3/register", None, Some(body)).await.err(403, "M_FORBIDDEN");
}

#[tokio::test(start_paused = true)]
async fn password_login() {
    let t = T::new().await;
    t.user("a").await;
    let flows = t.call("GET", "/_matrix/client/v3/login", None, None).await.ok();
    assert_eq!(flows["flows"][0]["type"], "m.login.password");
    let good = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "@a:localhost"}, "password": "pw"});
    assert_eq!(
        t.call("POST", "/_matrix/client/v3/login", None, Some(good)).await.ok()["user_id"],
        "@a:localhost"
    );
    let legacy = json!({"type": "m.login.password", "user": "a", "password": "pw"});
    t.call("POST", "/_matrix/client/v3/login", None, Some(legacy)).await.ok();
    let wrong = json!({"type": "m.login.password", "user": "a", "password": "nope"});
    t.call("POST", "/_matrix/client/v3/login", None, Some(wrong)).await.err(403, "M_FORBIDDEN");
    let unknown = json!({"type": "m.login.password", "user": "zz", "password": "pw"});
    t.call("POST", "/_matrix/client/v3/login", None, Some(unknown)).await.err(403, "M_FORBIDDEN");
}

#[tokio::test(start_paused = true)]
async fn create_room_options_and_membership() {
    let t = T::new().await;
    let (a, b, c) = (t.user("a").await, t.user("b").await, t.user("c").await);
    let body = json!({
        "preset": "private_chat", "name": "Call", "topic": "t",
        "initial_state": [{"type": "m.room.custom", "state_key": "", "content": {"x": 1}}],
        "power_level_content_override": {"users_default": 10},
        "invite": [&b.id],
    });
    let room = t.post(&a, "/_matrix/client/v3/createRoom", body).await.ok()["room_id"]
        .as_str()
        .expect("room")
        .to_string();
    assert_eq!(t.state(&a, &room, "m.room.name", "").await.expect("name")["content"]["name"], "Call");
    assert_eq!(t.state(&a, &room, "m.room.custom", "").await.expect("custom")["content"]["x"], 1);
    assert_eq!(
        t.state(&a, &room, "m.room.power_levels", "").await.expect("pl")["content"]["users_default"],
        10
    );
    // c is not invited to a private room; b is.
    t.post(&c, &format!("/_matrix/client/v3/rooms/{room}/join"), json!({})).await.err(403, "M_FORBIDDEN");
    t.post(&b, &format!("/_matrix/client/v3/join/{room}"), json!({})).await.ok();
    t.post(&a, &format!("/_matrix/client/v3/rooms/{room}/invite"), json!({"user_id": &c.id})).await.ok();
    t.post(&c, &format!("/_matrix/client/v3/rooms/{room}/join"), json!({})).await.ok();
    let members = t.get(&a, &format!("/_matrix/client/v3/rooms/{room}/joined_members")).await.ok();
    assert_eq!(members["joined"].as_object().map(|m| m.len()), Some(3));
    t.post(&c, &format!("/_matrix/client/v3/rooms/{room}/leave"), json!({})).await.ok();
    t.post(&c, &format!("/_matrix/client/v3/rooms/{room}/leave"), json!({})).await.err(403, "M_FORBIDDEN");
    t.get(&c, &format!("/_matrix/client/v3/rooms/{room}/state")).await.err(403, "M_FORBIDDEN");
    let all = t.get(&a, &format!("/_matrix/client/v3/rooms/{room}/state")).await.ok();
    assert!(all.as_array().is_some_and(|s| s.iter().any(|e| e["type"] == "m.room.create")));
}

#[tokio::test(start_paused = true)]
async fn power_levels_are_enforced_for_ordinary_sends() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    t.put(&b, &format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/"), json!({"topic": "x"}))
        .await
        .err(403, "M_FORBIDDEN");
    let pl = format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels");
    t.put(&b, &pl, json!({"users": {&b.id: 100}})).await.err(403, "M_FORBIDDEN");
    t.put(&a, &pl, json!({"users": {&a.id: 100}, "events_default": 20})).await.ok();
    t.put(&b, &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/1"), json!({}))
        .await
        .err(403, "M_FORBIDDEN");
    t.put(&a, &pl, json!({"users": {&a.id: 101}})).await.err(403, "M_FORBIDDEN");
}

#[tokio::test(start_paused = true)]
async fn sends_are_idempotent_per_transaction() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/txn1");
    let first = t.put(&a, &path, json!({"body": "1"})).await.ok();
    let again = t.put(&a, &path, json!({"body": "1"})).await.ok();
    assert_eq!(first, again);
    let n = t.timeline(&a, &room).await.iter().filter(|e| e["type"] == "m.room.message").count();
    assert_eq!(n, 1);
    let sync = t.get(&a, "/_matrix/client/v3/sync").await.ok();
    let events = sync["rooms"]["join"][&room]["timeline"]["events"].as_array().cloned().unwrap_or_default();
    let mine = events.iter().find(|e| e["type"] == "m.room.message").expect("in sync");
    assert_eq!(mine["unsigned"]["transaction_id"], "txn1");
}

#[tokio::test(start_paused = true)]
async fn messages_paginate_both_ways() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    for i in 0..7 {
        t.put(&a, &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{i}"), json!({"body": i}))
            .await
            .ok();
    }
    let mut from = String::new();
    let mut bodies = Vec::new();
    loop {
        let q = if from.is_empty() { String::new() } else { format!("&from={from}") };
        let r = t.get(&a, &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=3{q}")).await.ok();
        for e in r["chunk"].as_array().cloned().unwrap_or_default() {
            if e["type"] == "m.room.message" {
                bodies.push(e["content"]["body"].clone());
            }
        }
        match r["end"].as_str() {
            Some(e) => from = e.to_string(),
            None => break,
        }
    }
    assert_eq!(bodies, (0..7).rev().map(Value::from).collect::<Vec<_>>());
    t.get(&a, &format!("/_matrix/client/v3/rooms/{room}/messages?dir=x")).await.err(400, "M_INVALID_PARAM");
}

#[tokio::test(start_paused = true)]
async fn sync_follows_rooms_incrementally() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[]).await;
    let initial = t.get(&b, "/_matrix/client/v3/sync").await.ok();
    assert!(initial["rooms"]["join"].as_object().is_some_and(|j| j.is_empty()));
    t.post(&a, &format!("/_matrix/client/v3/rooms/{room}/invite"), json!({"user_id": &b.id})).await.ok();
    let since = initial["next_batch"].as_str().expect("t");
    let inv = t.get(&b, &format!("/_matrix/client/v3/sync?since={since}")).await.ok();
    assert!(inv["rooms"]["invite"][&room]["invite_state"]["events"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));
    t.post(&b, &format!("/_matrix/client/v3/rooms/{room}/join"), json!({})).await.ok();
    let since = inv["next_batch"].as_str().expect("t");
    let joined = t.get(&b, &format!("/_matrix/client/v3/sync?since={since}")).await.ok();
    let r = &joined["rooms"]["join"][&room];
    // A fresh join brings the room: its state, in `state` or in the timeline.
    let seen = |part: &str| {
        r[part]["events"].as_array().is_some_and(|s| s.iter().any(|e| e["type"] == "m.room.create"))
    };
    assert!(seen("state") || seen("timeline"), "{joined}");
    t.put(&a, &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/1"), json!({"body": "hi"}))
        .await
        .ok();
    let since = joined["next_batch"].as_str().expect("t");
    let next = t.get(&b, &format!("/_matrix/client/v3/sync?since={since}&timeout=1000")).await.ok();
    let events = next["rooms"]["join"][&room]["timeline"]["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["content"]["body"], "hi");
    let since = next["next_batch"].as_str().expect("t");
    let before = t.now();
    let idle = t.get(&b, &format!("/_matrix/client/v3/sync?since={since}&timeout=1000")).await.ok();
    assert_eq!(t.now() - before, 1000, "an idle long-poll waits for its timeout");
    assert!(idle["rooms"]["join"].as_object().is_some_and(|j| j.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn filters_capabilities_and_discovery() {
    let t = T::new().await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let f = t
        .post(
            &a,
            &format!("/_matrix/client/v3/user/{}/filter", a.id),
            json!({"room": {"timeline": {"limit": 5}}}),
        )
        .await
        .ok();
    let fid = f["filter_id"].as_str().expect("id");
    let got = t.get(&a, &format!("/_matrix/client/v3/user/{}/filter/{fid}", a.id)).await.ok();
    assert_eq!(got["room"]["timeline"]["limit"], 5);
    t.post(&b, &format!("/_matrix/client/v3/user/{}/filter", a.id), json!({})).await.err(403, "M_FORBIDDEN");
    t.get(&a, &format!("/_matrix/client/v3/user/{}/filter/99", a.id)).await.err(404, "M_NOT_FOUND");
    let caps = t.get(&a, "/_matrix/client/v3/capabilities").await.ok();
    assert_eq!(caps["capabilities"]["m.room_versions"]["default"], "10");
    t.get(&a, "/_matrix/client/v3/pushrules/").await.ok();
}
