//! Application services (PSH-4 and the part of the Application Service API it needs): identity
//! assertion, registration and login with the `as_token`, the exclusive namespace, and
//! transactions delivered to a real service on loopback: retried with the same id and contents
//! until acknowledged, carrying the service users' finalised delayed events once, in order.
//! The delivery tests run on the real clock (a loopback service answers), bounded, and assert
//! no timing; the identity tests run on virtual time.

use crate::harness::{id, settings, T};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use reference_server::appservice::registration::Registration;
use reference_server::config::Settings;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const AS_TOKEN: &str = "as-secret";
const HS_TOKEN: &str = "hs-secret";

fn registration(url: Option<&str>) -> Registration {
    let url = url.map_or("null".to_string(), |u| format!("{u:?}"));
    Registration::from_yaml(&format!(
        "id: bridge\nurl: {url}\nas_token: {AS_TOKEN}\nhs_token: {HS_TOKEN}\nsender_localpart: bridgebot\n\
         namespaces:\n  users:\n    - exclusive: true\n      regex: '@_bridge_.*:localhost'\n"
    ))
    .expect("a valid registration")
}

fn with_service(url: Option<&str>) -> Settings {
    Settings { appservices: vec![registration(url)], appservice_retry_ms: 10, ..settings() }
}

async fn as_call(t: &T, method: &str, path: &str, body: Option<Value>) -> crate::harness::Resp {
    t.call(method, path, Some(AS_TOKEN), body).await
}

/// A new room created with the `as_token` and `query` (`user_id=...`); its id.
async fn as_room(t: &T, query: &str) -> String {
    let r = as_call(t, "POST", &format!("/_matrix/client/v3/createRoom?{query}"), Some(json!({}))).await;
    r.ok()["room_id"].as_str().expect("room").to_string()
}

// covers: PSH-4
// Would catch: an as_token not accepted, `?user_id=` ignored or honoured outside the namespace,
// an unregistered namespace user acted for, a user token allowed to masquerade.
#[tokio::test(start_paused = true)]
async fn an_as_token_acts_as_the_users_of_its_namespace_only() {
    let t = T::with(with_service(None)).await;
    let me = as_call(&t, "GET", "/_matrix/client/v3/account/whoami", None).await.ok();
    assert_eq!(me["user_id"], "@bridgebot:localhost", "no user_id: the service's own user");
    let reg = json!({ "type": "m.login.application_service", "username": "_bridge_alice" });
    let alice = as_call(&t, "POST", "/_matrix/client/v3/register", Some(reg)).await.ok();
    assert_eq!(alice["user_id"], "@_bridge_alice:localhost");
    let as_alice = "/_matrix/client/v3/account/whoami?user_id=@_bridge_alice:localhost";
    assert_eq!(as_call(&t, "GET", as_alice, None).await.ok()["user_id"], "@_bridge_alice:localhost");
    // Outside the namespace, and inside it but never registered.
    let carol = t.user("carol").await;
    let outside =
        as_call(&t, "GET", "/_matrix/client/v3/account/whoami?user_id=@carol:localhost", None).await;
    assert!(outside.err(403, "M_FORBIDDEN")["error"].as_str().unwrap_or_default().contains("namespace"));
    let ghost = "/_matrix/client/v3/account/whoami?user_id=@_bridge_nobody:localhost";
    as_call(&t, "GET", ghost, None).await.err(403, "M_FORBIDDEN");
    let twice =
        "/_matrix/client/v3/account/whoami?user_id=@_bridge_alice:localhost&user_id=@bridgebot:localhost";
    as_call(&t, "GET", twice, None).await.err(400, "M_INVALID_PARAM");
    // An ordinary user's `user_id` parameter asserts nothing.
    let r = t.call("GET", as_alice, Some(&carol.token), None).await.ok();
    assert_eq!(r["user_id"], carol.id);
    // The service's access token works on the delayed-event endpoints as the asserted user.
    let room = as_room(&t, "user_id=@_bridge_alice:localhost").await;
    let path = format!(
        "/_matrix/client/v3/rooms/{room}/send/m.room.message/t1?delay=100&user_id=@_bridge_alice:localhost"
    );
    let d = id(&as_call(&t, "PUT", &path, Some(json!({ "body": "hi" }))).await);
    t.sleep(150).await;
    let fin = as_call(
        &t,
        "GET",
        "/_matrix/client/v1/delayed_events/finalised?user_id=@_bridge_alice:localhost",
        None,
    )
    .await
    .ok();
    assert_eq!(fin["finalised"][0]["delayed_event"]["delay_id"], d.as_str());
    assert_eq!(fin["finalised"][0]["outcome"], "send");
}

// covers: PSH-4
// Would catch: registration outside the namespace or without the as_token accepted, an ordinary
// registration of a name the service claims exclusively, a password login of a service user.
#[tokio::test(start_paused = true)]
async fn registration_and_login_of_service_users_check_token_and_namespace() {
    let t = T::with(with_service(None)).await;
    let reg = |u: &str| json!({ "type": "m.login.application_service", "username": u });
    let path = "/_matrix/client/v3/register";
    as_call(&t, "POST", path, Some(reg("carol"))).await.err(400, "M_EXCLUSIVE");
    t.call("POST", path, None, Some(reg("_bridge_x"))).await.err(401, "M_MISSING_TOKEN");
    let carol = t.user("carol").await;
    t.call("POST", path, Some(&carol.token), Some(reg("_bridge_x"))).await.err(401, "M_UNKNOWN_TOKEN");
    as_call(&t, "POST", path, Some(json!({ "type": "m.login.application_service" })))
        .await
        .err(400, "M_MISSING_PARAM");
    let dummy = json!({ "username": "_bridge_y", "password": "pw", "auth": { "type": "m.login.dummy" } });
    t.call("POST", path, None, Some(dummy)).await.err(400, "M_EXCLUSIVE");
    let inhibited =
        json!({ "type": "m.login.application_service", "username": "_bridge_z", "inhibit_login": true });
    let r = as_call(&t, "POST", path, Some(inhibited)).await.ok();
    assert_eq!(r, json!({ "user_id": "@_bridge_z:localhost" }));
    as_call(&t, "POST", path, Some(reg("_bridge_z"))).await.err(400, "M_USER_IN_USE");
    let password = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "_bridge_z" }, "password": "" });
    t.call("POST", "/_matrix/client/v3/login", None, Some(password)).await.err(403, "M_FORBIDDEN");
    let login = json!({ "type": "m.login.application_service", "identifier": { "type": "m.id.user", "user": "_bridge_z" } });
    t.call("POST", "/_matrix/client/v3/login", None, Some(login.clone())).await.err(401, "M_MISSING_TOKEN");
    let s = as_call(&t, "POST", "/_matrix/client/v3/login", Some(login)).await.ok();
    let token = s["access_token"].as_str().expect("a session");
    let me = t.call("GET", "/_matrix/client/v3/account/whoami", Some(token), None).await.ok();
    assert_eq!(me["user_id"], "@_bridge_z:localhost");
    let flows = t.call("GET", "/_matrix/client/v3/login", None, None).await.ok();
    assert!(flows["flows"]
        .as_array()
        .is_some_and(|f| f.contains(&json!({ "type": "m.login.application_service" }))));
}

/// The service's own user creates a room and schedules a message due in 1 ms; its delay id.
async fn bot_schedules_one(t: &T) -> String {
    let bot = "user_id=@bridgebot:localhost";
    let room = as_room(t, bot).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t?delay=1&{bot}");
    id(&as_call(t, "PUT", &path, Some(json!({ "body": "x" }))).await)
}

// covers: PSH-4
// Would catch: `rate_limited: false` ignored (a bridge's users throttled like people), the
// service's own user rate limited, or everyone else exempted with them.
#[tokio::test(start_paused = true)]
async fn rate_limited_false_exempts_the_services_users_and_the_sender_always() {
    use reference_server::config::{RateLimits, Window};
    let limits = RateLimits { scheduling: Some(Window { max: 2, window_ms: 10_000 }), ..RateLimits::off() };
    let mut exempt = registration(None);
    exempt.rate_limited = false;
    for (r, users_exempt) in [(registration(None), false), (exempt, true)] {
        let t = T::with(Settings { appservices: vec![r], rate_limits: limits, ..settings() }).await;
        let reg = json!({ "type": "m.login.application_service", "username": "_bridge_alice" });
        as_call(&t, "POST", "/_matrix/client/v3/register", Some(reg)).await.ok();
        let carol = t.user("carol").await;
        for (who, exempt) in [("@bridgebot:localhost", true), ("@_bridge_alice:localhost", users_exempt)] {
            let room = as_room(&t, &format!("user_id={who}")).await;
            let statuses: Vec<u16> = {
                let mut v = Vec::new();
                for i in 0..4 {
                    let path = format!(
                        "/_matrix/client/v3/rooms/{room}/send/m.room.message/r{i}?delay=60000&user_id={who}"
                    );
                    v.push(as_call(&t, "PUT", &path, Some(json!({ "body": "x" }))).await.status);
                }
                v
            };
            let want: &[u16] = if exempt { &[200, 200, 200, 200] } else { &[200, 200, 429, 429] };
            assert_eq!(statuses, want, "{who} (rate_limited exempts users: {users_exempt})");
        }
        let room = t.room(&carol, &[]).await;
        let mut last = 0;
        for i in 0..3 {
            last = t.schedule_message(&carol, &room, &format!("c{i}"), 60_000).await.status;
        }
        assert_eq!(last, 429, "everyone else stays limited");
    }
}

/// One request the test service received.
#[derive(Clone, Debug)]
struct Received {
    txn_id: String,
    authorization: String,
    body: Value,
    answered: u16,
}

#[derive(Default)]
struct ServiceState {
    received: Vec<Received>,
    /// Answer 500 to this many more requests carrying finalised events (down while it is owed
    /// some, so that the retries are what delivers them).
    failures_left: usize,
    /// The hs_token the service accepts (403 `M_FORBIDDEN` otherwise, as the spec asks).
    expected_token: String,
}

type Service = Arc<Mutex<ServiceState>>;

async fn transaction(
    State(service): State<Service>,
    Path(txn_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut s = service.lock().expect("service lock");
    let authorization =
        headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (status, answer) = if authorization != format!("Bearer {}", s.expected_token) {
        (StatusCode::FORBIDDEN, json!({ "errcode": "M_FORBIDDEN", "error": "bad hs_token" }))
    } else if s.failures_left > 0 && body.get("finalised_events").is_some() {
        s.failures_left -= 1;
        (StatusCode::INTERNAL_SERVER_ERROR, json!({ "errcode": "M_UNKNOWN", "error": "down for a while" }))
    } else {
        (StatusCode::OK, json!({}))
    };
    s.received.push(Received { txn_id, authorization, body, answered: status.as_u16() });
    (status, Json(answer))
}

/// A service on loopback; its base URL.
async fn start_service(state: Service) -> String {
    start_service_at(state, "127.0.0.1:0").await
}

async fn start_service_at(state: Service, addr: &str) -> String {
    let app = axum::Router::new()
        .route("/_matrix/app/v1/transactions/{txn_id}", axum::routing::put(transaction))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await.expect("a loopback port");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Wait (bounded) until `done` holds for what the service received.
async fn until(service: &Service, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let received = service.lock().expect("service lock").received.clone();
        if done(&received) {
            return received;
        }
        assert!(Instant::now() < deadline, "{what} within 20 s; the service received {received:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The delay ids of the finalised events of acknowledged transactions, in delivery order.
fn acknowledged_records(received: &[Received], key: &str) -> Vec<String> {
    received
        .iter()
        .filter(|r| r.answered == 200)
        .flat_map(|r| r.body[key].as_array().cloned().unwrap_or_default())
        .map(|f| f["delayed_event"]["delay_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every attempt under one transaction id carried the same body.
fn retries_are_identical(received: &[Received]) {
    for r in received {
        for other in received.iter().filter(|o| o.txn_id == r.txn_id) {
            assert_eq!(other.body, r.body, "two bodies under transaction id {}", r.txn_id);
        }
    }
}

/// A bridge user's three delayed events finalised (cancelled, sent, fired) while the service
/// fails the transactions carrying them three times; what the service received, and the delay
/// ids in finalisation order.
async fn down_for_a_while(tweak: impl FnOnce(&mut Settings)) -> (Vec<Received>, Vec<String>, String) {
    let service: Service = Arc::new(Mutex::new(ServiceState {
        failures_left: 3,
        expected_token: HS_TOKEN.into(),
        ..Default::default()
    }));
    let url = start_service(service.clone()).await;
    let mut settings = with_service(Some(&url));
    tweak(&mut settings);
    let t = T::with(settings).await;
    let reg = json!({ "type": "m.login.application_service", "username": "_bridge_alice" });
    as_call(&t, "POST", "/_matrix/client/v3/register", Some(reg)).await.ok();
    let q = "user_id=@_bridge_alice:localhost";
    let room = as_room(&t, q).await;
    let schedule = |txn: &str, delay: u64| {
        format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}?delay={delay}&{q}")
    };
    let fires = id(&as_call(&t, "PUT", &schedule("a", 300), Some(json!({ "body": "fires" }))).await);
    let cancelled =
        id(&as_call(&t, "PUT", &schedule("b", 60_000), Some(json!({ "body": "cancelled" }))).await);
    let sent = id(&as_call(&t, "PUT", &schedule("c", 60_000), Some(json!({ "body": "sent" }))).await);
    let action = |d: &str| format!("/_matrix/client/v1/delayed_events/{d}?{q}");
    as_call(&t, "POST", &action(&cancelled), Some(json!({ "action": "cancel" }))).await.ok();
    as_call(&t, "POST", &action(&sent), Some(json!({ "action": "send" }))).await.ok();
    // Someone outside the namespace, in a room of their own: none of the service's business.
    let carol = t.user("carol").await;
    let hers = t.room(&carol, &[]).await;
    let carols = id(&t.schedule_message(&carol, &hers, "x", 1).await);
    // Done when the fired event is finalised (last) and the server owes the service nothing.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fired =
            as_call(&t, "GET", &format!("/_matrix/client/v1/delayed_events/finalised?{q}"), None).await.ok();
        if fired.to_string().contains(&fires) && t.engine.appservices().is_idle(0) {
            break;
        }
        assert!(Instant::now() < deadline, "delivery finished within 20 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let received = service.lock().expect("service lock").received.clone();
    (received, vec![cancelled, sent, fires], carols)
}

// covers: PSH-4
// Would catch: a record lost or repeated while the service was down (retries rebuilding the
// transaction, records finalised meanwhile slipped into a retry, acknowledgement before the
// 2xx), the wrong order, the key missing, another user's records pushed, the hs_token not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_down_for_a_while_receives_each_finalised_event_once_in_order() {
    let (received, want, carols) = down_for_a_while(|_| {}).await;
    assert_eq!(acknowledged_records(&received, "finalised_events"), want, "each once, in finalisation order");
    assert_eq!(
        acknowledged_records(&received, "org.matrix.msc4140.finalised_events"),
        want,
        "the unstable name too"
    );
    assert_eq!(received.iter().filter(|r| r.answered == 500).count(), 3, "{received:#?}");
    retries_are_identical(&received);
    assert!(received.iter().all(|r| r.authorization == format!("Bearer {HS_TOKEN}")));
    let all = received.iter().map(|r| r.body.to_string()).collect::<String>();
    assert!(!all.contains(&carols), "another user's record was pushed: {all}");
    let finalised: Vec<Value> = received
        .iter()
        .filter(|r| r.answered == 200)
        .flat_map(|r| r.body["finalised_events"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        finalised.iter().map(|f| (f["outcome"].clone(), f["reason"].clone())).collect::<Vec<_>>(),
        [
            (json!("cancel"), json!("action")),
            (json!("send"), json!("action")),
            (json!("send"), json!("delay"))
        ]
    );
    // The room events of interest came too (the bridge user's room), each once.
    let events: Vec<String> = received
        .iter()
        .filter(|r| r.answered == 200)
        .flat_map(|r| r.body["events"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| e["content"]["body"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(events, ["sent", "fires"]);
}

// covers: PSH-4
// Would catch: the test above passing whatever the server does with a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planted_retry_drops_record_fault_fails_the_test_above() {
    use reference_server::faults::{Fault, Faults};
    let (received, want, _) = down_for_a_while(|s| s.faults = Faults::of(&[Fault::RetryDropsRecord])).await;
    let got = acknowledged_records(&received, "finalised_events");
    assert!(
        got.len() < want.len() && got.iter().all(|d| want.contains(d)),
        "records lost: {got:?} of {want:?}"
    );
}

// covers: PSH-4
// Would catch: a transaction the service refused (wrong hs_token) counted as delivered, or a
// retry that stops after a few attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_refusing_the_hs_token_gets_the_same_transaction_until_it_accepts() {
    let service: Service =
        Arc::new(Mutex::new(ServiceState { expected_token: "another-token".into(), ..Default::default() }));
    let url = start_service(service.clone()).await;
    let t = T::with(with_service(Some(&url))).await;
    let d = bot_schedules_one(&t).await;
    let refused =
        until(&service, "four refused attempts", |r| r.iter().filter(|x| x.answered == 403).count() >= 4)
            .await;
    // Refused, the first transaction is sent again as it was, and nothing after it is sent.
    let first = refused[0].txn_id.clone();
    assert!(refused.iter().all(|r| r.txn_id == first && r.answered == 403), "{refused:#?}");
    // The operator fixes the service's configuration.
    service.lock().expect("service lock").expected_token = HS_TOKEN.into();
    let received = until(&service, "the record acknowledged", |r| {
        acknowledged_records(r, "finalised_events").contains(&d)
    })
    .await;
    retries_are_identical(&received);
    let record_txns: Vec<&str> = received
        .iter()
        .filter(|r| r.body.to_string().contains(&format!("\"delay_id\":\"{d}\"")))
        .map(|r| r.txn_id.as_str())
        .collect();
    assert!(
        record_txns.iter().all(|x| *x == record_txns[0]),
        "one transaction id carried it: {record_txns:?}"
    );
    assert_eq!(acknowledged_records(&received, "finalised_events"), [d]);
    assert!(
        received.iter().any(|r| r.txn_id == first && r.answered == 200),
        "the refused one acknowledged at last"
    );
}

// covers: PSH-4
// Would catch: the merged revision pushing finalised events (its text has no push), or room
// events of interest not delivered at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merged_revision_delivers_room_events_without_finalised_ones() {
    let service: Service =
        Arc::new(Mutex::new(ServiceState { expected_token: HS_TOKEN.into(), ..Default::default() }));
    let url = start_service(service.clone()).await;
    let mut s = with_service(Some(&url));
    s.revision = reference_server::config::Revision::Rev2026_07_10;
    let t = T::with(s).await;
    let bot = "user_id=@bridgebot:localhost";
    let room = as_room(&t, bot).await;
    let path = format!("/_matrix/client/v1/rooms/{room}/delayed_event/m.room.message/t?{bot}");
    let path = path.replace("/v1/rooms", "/v3/rooms");
    as_call(&t, "PUT", &path, Some(json!({ "delay_ms": 1, "content": { "body": "late" } }))).await.ok();
    let received = until(&service, "the fired event delivered", |r| {
        r.iter().any(|x| x.body["events"].to_string().contains("\"late\""))
    })
    .await;
    assert!(received.iter().all(|r| r.body.get("finalised_events").is_none()
        && r.body.get("org.matrix.msc4140.finalised_events").is_none()));
}

// covers: PSH-4
// Would catch: a record given up on while the service was unreachable (connection refused),
// or delivered twice once it came back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_unreachable_for_a_while_gets_the_record_once_it_is_back() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = probe.local_addr().expect("address").to_string();
    drop(probe);
    let t = T::with(with_service(Some(&format!("http://{addr}")))).await;
    let d = bot_schedules_one(&t).await;
    // Nothing listens for a while: the server keeps the transaction (several attempts at 10, 20,
    // 40, ... ms fail to connect).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!t.engine.appservices().is_idle(0), "still owed while unreachable");
    let service: Service =
        Arc::new(Mutex::new(ServiceState { expected_token: HS_TOKEN.into(), ..Default::default() }));
    start_service_at(service.clone(), &addr).await;
    until(&service, "the record acknowledged", |r| acknowledged_records(r, "finalised_events").contains(&d))
        .await;
    // A while more for a duplicate that should not come.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let received = service.lock().expect("service lock").received.clone();
    assert_eq!(acknowledged_records(&received, "finalised_events"), [d]);
    retries_are_identical(&received);
}

// covers: PSH-4
// Would catch: with a data directory, records owed to a service forgotten at a restart, or
// records it acknowledged before a restart pushed again after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_data_directory_what_the_service_has_not_acknowledged_survives_a_restart() {
    let service: Service =
        Arc::new(Mutex::new(ServiceState { expected_token: "not-yet".into(), ..Default::default() }));
    let url = start_service(service.clone()).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let settings = Settings {
        data_dir: Some(dir.path().to_path_buf()),
        sync: reference_server::store::SyncMode::Normal,
        ..with_service(Some(&url))
    };
    let mut t = T::persistent(settings, Default::default()).expect("a fresh data directory");
    let first = bot_schedules_one(&t).await;
    // The service refuses everything for a while; the server stops meanwhile.
    until(&service, "two refused attempts", |r| r.iter().filter(|x| x.answered == 403).count() >= 2).await;
    t.restart(0, Default::default()).await.expect("restarted");
    service.lock().expect("service lock").expected_token = HS_TOKEN.into();
    until(&service, "the first record acknowledged", |r| {
        acknowledged_records(r, "finalised_events").contains(&first)
    })
    .await;
    // Acknowledged before this restart: not pushed again after it.
    t.restart(0, Default::default()).await.expect("restarted");
    let second = bot_schedules_one(&t).await;
    until(&service, "the second record acknowledged", |r| {
        acknowledged_records(r, "finalised_events").contains(&second)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let received = service.lock().expect("service lock").received.clone();
    assert_eq!(acknowledged_records(&received, "finalised_events"), [first, second]);
    retries_are_identical(&received);
}
