//! Drives the real router in process on tokio's paused clock: requests go through axum exactly
//! as over the network, and `sleep` moves virtual time, firing timers at their exact due times.

use reference_server::clock::Clock;
use reference_server::config::{RateLimits, Settings};
use reference_server::store::StoreOptions;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Virtual time starts here (a fixed epoch keeps timestamps reproducible).
pub const EPOCH: u64 = 1_700_000_000_000;

pub struct T {
    pub router: axum::Router,
    pub engine: std::sync::Arc<reference_server::engine::Engine>,
    pub clock: Clock,
    _timers: tokio::task::JoinHandle<()>,
    /// The application-service delivery tasks (stopped with the server at a restart).
    appservices: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    /// The `Retry-After` header, when there is one (SCH-16).
    pub retry_after: Option<String>,
}

impl Resp {
    /// The body of a 200, or a panic showing what came instead.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected 200, got {} {}", self.status, self.body);
        self.body
    }

    /// Assert a Matrix error with this status and errcode.
    #[track_caller]
    pub fn err(&self, status: u16, errcode: &str) -> &Value {
        assert_eq!(
            (self.status, self.body["errcode"].as_str()),
            (status, Some(errcode)),
            "body: {}",
            self.body
        );
        assert!(self.body["error"].is_string(), "error message missing: {}", self.body);
        &self.body
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

/// Settings for tests: the defaults with rate limits off unless a test turns them on.
pub fn settings() -> Settings {
    Settings { rate_limits: RateLimits::off(), ..Settings::default() }
}

impl T {
    pub async fn new() -> T {
        T::with(settings()).await
    }

    pub async fn with(settings: Settings) -> T {
        let s = reference_server::start(settings, Clock::starting_at(EPOCH));
        T {
            router: s.router,
            engine: s.engine,
            clock: s.clock,
            _timers: s.timers,
            appservices: s.appservices,
        }
    }

    /// A server on `settings.data_dir`, answers held until durable (waited for on a blocking
    /// thread, which keeps virtual time still meanwhile).
    pub fn persistent(settings: Settings, options: StoreOptions) -> Result<T, String> {
        T::open_at(settings, Clock::starting_at(EPOCH), options)
    }

    fn open_at(settings: Settings, clock: Clock, mut options: StoreOptions) -> Result<T, String> {
        options.blocking_waits = true;
        let s = reference_server::open(settings, clock, options).map_err(|e| format!("open: {e}"))?;
        Ok(T {
            router: s.router,
            engine: s.engine,
            clock: s.clock,
            _timers: s.timers,
            appservices: s.appservices,
        })
    }

    /// Stop the server, let `down_ms` pass with no server running, and start it again on the
    /// same data directory (PER-1..3): what was queued is written first, as at a clean shutdown
    /// or, when a planted crash stopped the writer, not at all, as after a SIGKILL.
    pub async fn restart(&mut self, down_ms: u64, options: StoreOptions) -> Result<(), String> {
        self._timers.abort();
        for task in &self.appservices {
            task.abort();
        }
        let settings = self.engine.settings.clone();
        if let Some(store) = self.engine.store() {
            store.close();
        }
        tokio::time::sleep(std::time::Duration::from_millis(down_ms)).await;
        *self = T::open_at(settings, self.clock, options)?;
        Ok(())
    }

    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    pub async fn raw(&self, method: &str, path: &str, token: Option<&str>, body: Vec<u8>) -> Resp {
        let mut req = axum::http::Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(axum::body::Body::from(body)).expect("request");
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(axum::http::header::RETRY_AFTER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let bytes = http_body_util::BodyExt::collect(res.into_body()).await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("non-JSON answer {status}: {bytes:?}"))
        };
        Resp { status, body, retry_after }
    }

    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let bytes = body.map(|b| serde_json::to_vec(&b).expect("json")).unwrap_or_default();
        self.raw(method, path, token, bytes).await
    }

    pub async fn get(&self, u: &User, path: &str) -> Resp {
        self.call("GET", path, Some(&u.token), None).await
    }

    pub async fn post(&self, u: &User, path: &str, body: Value) -> Resp {
        self.call("POST", path, Some(&u.token), Some(body)).await
    }

    pub async fn put(&self, u: &User, path: &str, body: Value) -> Resp {
        self.call("PUT", path, Some(&u.token), Some(body)).await
    }

    pub async fn user(&self, name: &str) -> User {
        let body = json!({ "username": name, "password": "pw", "auth": { "type": "m.login.dummy" } });
        let r = self.call("POST", "/_matrix/client/v3/register", None, Some(body)).await.ok();
        User {
            id: r["user_id"].as_str().expect("user_id").into(),
            token: r["access_token"].as_str().expect("token").into(),
        }
    }

    /// Another device (access token) of a registered user: a password login.
    pub async fn login(&self, u: &User) -> User {
        let body = json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": u.id },
            "password": "pw",
        });
        let r = self.call("POST", "/_matrix/client/v3/login", None, Some(body)).await.ok();
        User { id: u.id.clone(), token: r["access_token"].as_str().expect("token").into() }
    }

    /// A public call room created by `owner` (level 100), joined by `others` (level 0), where
    /// anyone may send `m.rtc.member` and topics need 50.
    pub async fn room(&self, owner: &User, others: &[&User]) -> String {
        let power =
            json!({ "events": { "m.rtc.member": 0, "m.room.power_levels": 100, "m.room.topic": 50 } });
        let body = json!({ "preset": "public_chat", "power_level_content_override": power });
        let r = self.post(owner, "/_matrix/client/v3/createRoom", body).await.ok();
        let room = r["room_id"].as_str().expect("room_id").to_string();
        for u in others {
            self.post(u, &format!("/_matrix/client/v3/rooms/{room}/join"), json!({})).await.ok();
        }
        room
    }

    /// Schedule a delayed state event (`m.rtc.member`, state key `key`) on the stable surface.
    pub async fn schedule_state(&self, u: &User, room: &str, key: &str, delay: u64, content: Value) -> Resp {
        self.put(
            u,
            &format!("/_matrix/client/v3/rooms/{room}/state/m.rtc.member/{key}?delay={delay}"),
            content,
        )
        .await
    }

    pub async fn schedule_message(&self, u: &User, room: &str, txn: &str, delay: u64) -> Resp {
        let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}?delay={delay}");
        self.put(u, &path, json!({ "body": txn, "msgtype": "m.text" })).await
    }

    pub async fn action(&self, u: &User, id: &str, action: &str) -> Resp {
        self.post(u, &format!("/_matrix/client/v1/delayed_events/{id}"), json!({ "action": action })).await
    }

    pub async fn scheduled(&self, u: &User) -> Vec<Value> {
        let r = self.get(u, "/_matrix/client/v1/delayed_events/scheduled").await.ok();
        r["scheduled"].as_array().cloned().unwrap_or_default()
    }

    /// Every finalised item, walking all pages.
    pub async fn finalised(&self, u: &User) -> Vec<Value> {
        let mut out = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let path = match &from {
                None => "/_matrix/client/v1/delayed_events/finalised".to_string(),
                Some(f) => format!("/_matrix/client/v1/delayed_events/finalised?from={f}"),
            };
            let r = self.get(u, &path).await.ok();
            out.extend(r["finalised"].as_array().cloned().unwrap_or_default());
            match r["next_batch"].as_str() {
                Some(n) => from = Some(n.to_string()),
                None => return out,
            }
        }
    }

    /// The current state event content of a slot, `None` when absent.
    pub async fn state(&self, u: &User, room: &str, t: &str, key: &str) -> Option<Value> {
        let r = self.get(u, &format!("/_matrix/client/v3/rooms/{room}/state/{t}/{key}?format=event")).await;
        (r.status == 200).then_some(r.body)
    }

    /// Room events in order, oldest first.
    pub async fn timeline(&self, u: &User, room: &str) -> Vec<Value> {
        let r = self.get(u, &format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=1000")).await.ok();
        r["chunk"].as_array().cloned().unwrap_or_default()
    }

    /// Let `ms` of virtual time pass; timers due meanwhile fire at their due time.
    pub async fn sleep(&self, ms: u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        // Let the timer task finish what the last wake-up started.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }

    #[track_caller]
    pub fn invariants(&self) {
        if let Err(e) = self.engine.check_invariants() {
            panic!("server invariant broken: {e}");
        }
    }
}

pub fn id(v: &Resp) -> String {
    v.body["delay_id"].as_str().unwrap_or_else(|| panic!("no delay_id in {}", v.body)).to_string()
}

/// Run `f` on a fresh single-threaded runtime with tokio's clock paused (virtual time).
pub fn on_virtual_time<F: std::future::Future<Output = Result<(), String>>>(f: F) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(f)
}
