//! Bad input gets a clear Matrix error and changes nothing.

use crate::harness::{id, settings, User, T};
use reference_server::config::Settings;
use serde_json::{json, Value};

async fn snapshot(t: &T, u: &User, room: &str) -> (Vec<Value>, Vec<Value>, usize) {
    (t.scheduled(u).await, t.finalised(u).await, t.timeline(u, room).await.len())
}

/// Method, path, token, body, expected status and errcode.
type Case<'a> = (&'a str, String, Option<&'a str>, Vec<u8>, u16, &'a str);

// covers: MGT-2 SCH-2 SCH-9 SEC-1 MGT-7
// Would catch: a bad request answered with a non-Matrix error, a wrong code, or a change of state.
#[tokio::test(start_paused = true)]
async fn bad_requests_get_matrix_errors_and_change_nothing() {
    let t = T::with(Settings { max_body_bytes: 4096, ..settings() }).await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let d = id(&t.schedule_state(&a, &room, "k", 60_000, json!({"v": 1})).await);
    let before = snapshot(&t, &a, &room).await;
    let state = format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/k?delay=1000");
    let send = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/x?delay=1000");
    let manage = format!("/_matrix/client/v1/delayed_events/{d}");
    let tok = Some(a.token.as_str());
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<Case> = vec![
        // Bodies that are not JSON objects.
        ("PUT", state.clone(), tok, b"not json".to_vec(), 400, "M_NOT_JSON"),
        ("PUT", state.clone(), tok, b"[1,2]".to_vec(), 400, "M_BAD_JSON"),
        ("PUT", state.clone(), tok, b"\"text\"".to_vec(), 400, "M_BAD_JSON"),
        ("PUT", state.clone(), tok, b"null".to_vec(), 400, "M_BAD_JSON"),
        ("PUT", send.clone(), tok, vec![0xff, 0xfe, b'{', b'}'], 400, "M_NOT_JSON"),
        ("PUT", send.clone(), tok, b"{\"a\":".to_vec(), 400, "M_NOT_JSON"),
        ("PUT", send.clone(), tok, deep.into_bytes(), 413, "M_TOO_LARGE"),
        ("PUT", send.clone(), tok, format!("{{\"a\":\"{}\"}}", "x".repeat(5000)).into_bytes(), 413, "M_TOO_LARGE"),
        ("POST", manage.clone(), tok, format!("{}1{}", "[".repeat(200), "]".repeat(200)).into_bytes(), 400, "M_NOT_JSON"),
        // Wrong JSON types.
        ("POST", manage.clone(), tok, b"{\"action\":[\"send\"]}".to_vec(), 400, "M_INVALID_PARAM"),
        ("POST", manage.clone(), tok, b"{\"action\":\"\"}".to_vec(), 400, "M_INVALID_PARAM"),
        ("POST", "/_matrix/client/v3/createRoom".into(), tok, b"{\"name\":5}".to_vec(), 400, "M_BAD_JSON"),
        ("POST", "/_matrix/client/v3/createRoom".into(), tok, b"{\"initial_state\":{}}".to_vec(), 400, "M_BAD_JSON"),
        ("POST", "/_matrix/client/v3/createRoom".into(), tok, b"{\"power_level_content_override\":{\"users_default\":\"x\"}}".to_vec(), 400, "M_BAD_JSON"),
        ("POST", "/_matrix/client/v3/createRoom".into(), tok, b"{\"preset\":\"nope\"}".to_vec(), 400, "M_INVALID_PARAM"),
        // Delays at the edges.
        ("PUT", state.replace("delay=1000", "delay=-9223372036854775808"), tok, b"{}".to_vec(), 400, "M_INVALID_PARAM"),
        ("PUT", state.replace("delay=1000", "delay=18446744073709551616"), tok, b"{}".to_vec(), 400, "M_MAX_DELAY_EXCEEDED"),
        ("PUT", state.replace("delay=1000", "delay=0.5"), tok, b"{}".to_vec(), 400, "M_INVALID_PARAM"),
        ("PUT", state.replace("delay=1000", "delay=1000&delay=2000"), tok, b"{}".to_vec(), 400, "M_INVALID_PARAM"),
        ("PUT", state.replace("delay=1000", "delay=NaN"), tok, b"{}".to_vec(), 400, "M_INVALID_PARAM"),
        // Ids and rooms.
        ("POST", "/_matrix/client/v1/delayed_events/%00%ff".into(), tok, b"{\"action\":\"send\"}".to_vec(), 400, "M_INVALID_PARAM"),
        ("POST", "/_matrix/client/v1/delayed_events/%00".into(), tok, b"{\"action\":\"send\"}".to_vec(), 404, "M_NOT_FOUND"),
        ("POST", format!("/_matrix/client/v1/delayed_events/{}", "f".repeat(4000)), tok, b"{\"action\":\"send\"}".to_vec(), 404, "M_NOT_FOUND"),
        ("POST", "/_matrix/client/v1/delayed_events/scheduled".into(), tok, b"{\"action\":\"send\"}".to_vec(), 404, "M_NOT_FOUND"),
        ("POST", "/_matrix/client/v1/delayed_events/finalised".into(), tok, b"{\"action\":\"cancel\"}".to_vec(), 404, "M_NOT_FOUND"),
        ("PUT", "/_matrix/client/v3/rooms/!nope:localhost/state/m.rtc.member/k?delay=10".into(), tok, b"{}".to_vec(), 403, "M_FORBIDDEN"),
        ("PUT", "/_matrix/client/v3/rooms/%ZZ/state/m.rtc.member/k?delay=10".into(), tok, b"{}".to_vec(), 403, "M_FORBIDDEN"),
        ("POST", "/_matrix/client/v3/rooms/!nope:localhost/join".into(), tok, Vec::new(), 404, "M_NOT_FOUND"),
        ("GET", "/_matrix/client/v1/delayed_events/finalised?from=1_zz".into(), tok, Vec::new(), 400, "M_INVALID_PARAM"),
        ("GET", "/_matrix/client/v1/delayed_events/scheduled?from=18446744073709551616_00000000000000000000000000000000".into(), tok, Vec::new(), 400, "M_INVALID_PARAM"),
        ("GET", "/_matrix/client/v3/sync?since=garbage".into(), tok, Vec::new(), 400, "M_INVALID_PARAM"),
        ("GET", "/_matrix/client/v3/sync?timeout=-1".into(), tok, Vec::new(), 400, "M_INVALID_PARAM"),
        ("GET", "/_matrix/client/v3/sync?filter=%7Bbad".into(), tok, Vec::new(), 400, "M_BAD_JSON"),
        ("GET", "/_matrix/client/v3/sync?filter=999".into(), tok, Vec::new(), 400, "M_INVALID_PARAM"),
        // Tokens.
        ("GET", "/_matrix/client/v1/delayed_events/scheduled".into(), Some("\u{1F600}"), Vec::new(), 401, "M_UNKNOWN_TOKEN"),
        ("GET", "/_matrix/client/v1/delayed_events/scheduled".into(), Some(""), Vec::new(), 401, "M_UNKNOWN_TOKEN"),
        // Other users' ids, unknown actions, unknown endpoints and methods.
        ("POST", manage.clone(), Some(b.token.as_str()), b"{\"action\":\"cancel\"}".to_vec(), 404, "M_NOT_FOUND"),
        ("POST", manage.clone(), tok, b"{\"action\":\"destroy\"}".to_vec(), 400, "M_INVALID_PARAM"),
        ("GET", manage.clone(), tok, Vec::new(), 405, "M_UNRECOGNIZED"),
        ("DELETE", "/_matrix/client/v1/delayed_events/scheduled".into(), tok, Vec::new(), 405, "M_UNRECOGNIZED"),
        ("GET", "/_matrix/client/v2/delayed_events".into(), tok, Vec::new(), 404, "M_UNRECOGNIZED"),
        ("PUT", format!("/_matrix/client/v3/rooms/{room}/state/{}/k?delay=10", "t".repeat(300)), tok, b"{}".to_vec(), 400, "M_INVALID_PARAM"),
    ];
    for (method, path, token, body, status, code) in cases {
        let r = match token {
            Some(tok) => raw_with_token(&t, method, &path, tok, body).await,
            None => t.raw(method, &path, None, body).await,
        };
        assert_eq!(
            (r.status, r.body["errcode"].as_str()),
            (status, Some(code)),
            "{method} {}: {}",
            &path[..path.len().min(120)],
            r.body
        );
        assert!(r.body["error"].as_str().is_some_and(|m| !m.is_empty()), "no message: {}", r.body);
    }
    assert_eq!(snapshot(&t, &a, &room).await, before, "bad requests changed state");
    // A sync token from the future is not an error: it reads as "now".
    let future = t.get(&a, "/_matrix/client/v3/sync?since=s999999999_999999999").await.ok();
    assert!(future["next_batch"].is_string());
    t.invariants();
}

async fn raw_with_token(t: &T, method: &str, path: &str, token: &str, body: Vec<u8>) -> crate::harness::Resp {
    // Tokens that are not valid header values go in the query string instead.
    if axum::http::HeaderValue::from_str(&format!("Bearer {token}")).is_ok() {
        t.raw(method, path, Some(token), body).await
    } else {
        let q: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
        let sep = if path.contains('?') { '&' } else { '?' };
        t.raw(method, &format!("{path}{sep}access_token={q}"), None, body).await
    }
}

// covers: SCH-2
// Would catch: content re-encoded on the way (non-ASCII, large numbers, float precision).
#[tokio::test(start_paused = true)]
async fn non_ascii_and_large_numbers_in_content_are_kept() {
    let t = T::new().await;
    let a = t.user("a").await;
    let room = t.room(&a, &[]).await;
    let content = json!({"body": "héllo 🌍 \u{0000} \u{202e}", "n": 18446744073709551615u64, "neg": -9223372036854775808i64, "f": 1.0e300});
    let d = id(&t
        .put(&a, &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/y?delay=10"), content.clone())
        .await);
    t.sleep(10).await;
    let f = t.finalised(&a).await;
    let item = f.iter().find(|i| i["delayed_event"]["delay_id"] == d.as_str()).expect("finalised");
    assert_eq!(item["delayed_event"]["content"], content);
    let ev =
        t.timeline(&a, &room).await.into_iter().find(|e| e["event_id"] == item["event_id"]).expect("sent");
    assert_eq!(ev["content"], content);
}

/// What a merged-revision client can see of its state: the scheduled list, one record, the room.
async fn merged_snapshot(t: &T, u: &User, room: &str, record: &str) -> (Value, Value, usize) {
    let list = t.get(u, "/_matrix/client/v1/delayed_events").await.ok();
    let one = t.get(u, &format!("/_matrix/client/v1/delayed_events/{record}")).await.ok();
    (list, one, t.timeline(u, room).await.len())
}

// covers 2026-07-10: SCH-12 SCH-13 MGT-11 MGT-14 LKP-1 UNS-5 SEC-1
// Would catch: a bad body, path, method or token on the merged revision's endpoints (on either
// surface) answered with a non-Matrix error, a wrong code, the seed revision's codes, or a change of
// state; `/event` and `/context` leaking another room or panicking on a bad `limit`.
#[tokio::test(start_paused = true)]
async fn bad_requests_to_the_merged_endpoints_get_matrix_errors_and_change_nothing() {
    let merged = reference_server::config::Revision::Rev2026_07_10;
    let t = T::with(Settings { max_body_bytes: 4096, max_delay_ms: 60_000, revision: merged, ..settings() })
        .await;
    let (a, b) = (t.user("a").await, t.user("b").await);
    let room = t.room(&a, &[&b]).await;
    let put = |txn: &str| format!("/_matrix/client/v3/rooms/{room}/delayed_event/m.rtc.member/{txn}");
    let body = json!({ "delay_ms": 60_000, "state_key": "k", "content": {} });
    let d = id(&t.put(&a, &put("first"), body).await);
    let sent = id(&t.put(&a, &put("second"), json!({ "delay_ms": 1000, "content": {} })).await);
    t.post(&a, &format!("/_matrix/client/v1/delayed_events/{sent}/send"), json!({})).await.ok();
    let before = merged_snapshot(&t, &a, &room, &sent).await;
    let tok = Some(a.token.as_str());
    let j = |v: Value| serde_json::to_vec(&v).unwrap_or_default();
    let mut cases: Vec<Case> = vec![
        // PUT .../delayed_event bodies (SCH-13).
        ("PUT", put("b1"), tok, b"not json".to_vec(), 400, "M_NOT_JSON"),
        ("PUT", put("b2"), tok, b"[1]".to_vec(), 400, "M_BAD_JSON"),
        ("PUT", put("b3"), tok, Vec::new(), 400, "M_NOT_JSON"),
        ("PUT", put("b4"), tok, j(json!({ "content": {} })), 400, "M_MISSING_PARAM"),
        ("PUT", put("b5"), tok, j(json!({ "delay_ms": 1000 })), 400, "M_MISSING_PARAM"),
        ("PUT", put("b6"), tok, j(json!({ "delay_ms": 0, "content": {} })), 400, "M_INVALID_PARAM"),
        ("PUT", put("b7"), tok, j(json!({ "delay_ms": -5, "content": {} })), 400, "M_INVALID_PARAM"),
        ("PUT", put("b8"), tok, j(json!({ "delay_ms": "1000", "content": {} })), 400, "M_INVALID_PARAM"),
        ("PUT", put("b9"), tok, j(json!({ "delay_ms": 1.5, "content": {} })), 400, "M_INVALID_PARAM"),
        (
            "PUT",
            put("b10"),
            tok,
            b"{\"delay_ms\":18446744073709551616,\"content\":{}}".to_vec(),
            400,
            "M_INVALID_PARAM",
        ),
        ("PUT", put("b11"), tok, j(json!({ "delay_ms": null, "content": {} })), 400, "M_INVALID_PARAM"),
        ("PUT", put("b12"), tok, j(json!({ "delay_ms": 1000, "content": [] })), 400, "M_BAD_JSON"),
        ("PUT", put("b13"), tok, j(json!({ "delay_ms": 1000, "content": "x" })), 400, "M_BAD_JSON"),
        (
            "PUT",
            put("b14"),
            tok,
            j(json!({ "delay_ms": 1000, "content": {}, "state_key": 7 })),
            400,
            "M_BAD_JSON",
        ),
        (
            "PUT",
            put("b15"),
            tok,
            j(json!({ "delay_ms": 1000, "content": {}, "state_key": "k".repeat(300) })),
            400,
            "M_INVALID_PARAM",
        ),
        (
            "PUT",
            put("b16"),
            tok,
            j(json!({ "delay_ms": 1000, "content": { "x": "y".repeat(5000) } })),
            413,
            "M_TOO_LARGE",
        ),
        // Above the maximum delay is 403 in this revision (SCH-15), also far above it.
        ("PUT", put("b17"), tok, j(json!({ "delay_ms": 60_001, "content": {} })), 403, "M_FORBIDDEN"),
        ("PUT", put("b18"), tok, j(json!({ "delay_ms": u64::MAX, "content": {} })), 403, "M_FORBIDDEN"),
        // Paths, rooms and tokens.
        (
            "PUT",
            format!("/_matrix/client/v3/rooms/{room}/delayed_event/{}/t", "t".repeat(300)),
            tok,
            j(json!({ "delay_ms": 1000, "content": {} })),
            400,
            "M_INVALID_PARAM",
        ),
        (
            "PUT",
            "/_matrix/client/v3/rooms/!nope:localhost/delayed_event/m.x/t".into(),
            tok,
            j(json!({ "delay_ms": 1000, "content": {} })),
            403,
            "M_FORBIDDEN",
        ),
        (
            "PUT",
            "/_matrix/client/v3/rooms/%ZZ/delayed_event/m.x/t".into(),
            tok,
            j(json!({ "delay_ms": 1000, "content": {} })),
            403,
            "M_FORBIDDEN",
        ),
        ("PUT", put("b19"), None, j(json!({ "delay_ms": 1000, "content": {} })), 401, "M_MISSING_TOKEN"),
        (
            "PUT",
            put("b20"),
            Some("nope"),
            j(json!({ "delay_ms": 1000, "content": {} })),
            401,
            "M_UNKNOWN_TOKEN",
        ),
        ("GET", put("b21"), tok, Vec::new(), 405, "M_UNRECOGNIZED"),
        (
            "PUT",
            format!("/_matrix/client/v3/rooms/{room}/delayed_event/m.x"),
            tok,
            j(json!({ "delay_ms": 1000, "content": {} })),
            404,
            "M_UNRECOGNIZED",
        ),
        // /event and /context (SRV-14's other views).
        ("GET", format!("/_matrix/client/v3/rooms/{room}/event/$nope"), tok, Vec::new(), 404, "M_NOT_FOUND"),
        (
            "GET",
            format!("/_matrix/client/v3/rooms/{room}/context/$nope"),
            tok,
            Vec::new(),
            404,
            "M_NOT_FOUND",
        ),
        (
            "GET",
            format!("/_matrix/client/v3/rooms/{room}/context/$nope?limit=-1"),
            tok,
            Vec::new(),
            400,
            "M_INVALID_PARAM",
        ),
        (
            "GET",
            "/_matrix/client/v3/rooms/!nope:localhost/event/$x".into(),
            tok,
            Vec::new(),
            403,
            "M_FORBIDDEN",
        ),
    ];
    for prefix in
        ["/_matrix/client/v1/delayed_events", "/_matrix/client/unstable/org.matrix.msc4140/delayed_events"]
    {
        let bob = Some(b.token.as_str());
        cases.extend([
            // Per-action paths (MGT-11, MGT-14): unknown actions are no endpoint.
            ("POST", format!("{prefix}/{d}/destroy"), tok, Vec::new(), 404, "M_UNRECOGNIZED"),
            ("POST", format!("{prefix}/{d}/SEND"), tok, Vec::new(), 404, "M_UNRECOGNIZED"),
            ("POST", format!("{prefix}/{d}"), tok, j(json!({ "action": "send" })), 405, "M_UNRECOGNIZED"),
            ("GET", format!("{prefix}/{d}/send"), tok, Vec::new(), 405, "M_UNRECOGNIZED"),
            ("POST", format!("{prefix}/{d}/cancel"), bob, Vec::new(), 404, "M_NOT_FOUND"),
            ("POST", format!("{prefix}/{d}/cancel"), None, Vec::new(), 401, "M_MISSING_TOKEN"),
            ("POST", format!("{prefix}/{}/cancel", "f".repeat(4000)), tok, Vec::new(), 404, "M_NOT_FOUND"),
            ("POST", format!("{prefix}/%00/restart"), tok, Vec::new(), 404, "M_NOT_FOUND"),
            ("POST", format!("{prefix}/%ff/restart"), tok, Vec::new(), 400, "M_INVALID_PARAM"),
            // Lookups (LKP-1).
            ("GET", format!("{prefix}/{d}"), bob, Vec::new(), 404, "M_NOT_FOUND"),
            ("GET", format!("{prefix}/0000"), tok, Vec::new(), 404, "M_NOT_FOUND"),
            ("GET", format!("{prefix}/{d}"), None, Vec::new(), 401, "M_MISSING_TOKEN"),
            ("DELETE", format!("{prefix}/{d}"), tok, Vec::new(), 405, "M_UNRECOGNIZED"),
            ("PUT", prefix.to_string(), tok, Vec::new(), 405, "M_UNRECOGNIZED"),
        ]);
    }
    for (method, path, token, body, status, code) in cases {
        let r = match token {
            Some(tok) => raw_with_token(&t, method, &path, tok, body).await,
            None => t.raw(method, &path, None, body).await,
        };
        let at = &path[..path.len().min(120)];
        assert_eq!((r.status, r.body["errcode"].as_str()), (status, Some(code)), "{method} {at}: {}", r.body);
        assert!(r.body["error"].as_str().is_some_and(|m| !m.is_empty()), "no message: {}", r.body);
    }
    assert_eq!(merged_snapshot(&t, &a, &room, &sent).await, before, "bad requests changed state");
    t.invariants();
}
