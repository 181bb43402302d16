//! The suite's own application service (PSH-4): the registration file to install in the server
//! under test, and a receiver for the transactions the server pushes to it. The receiver answers
//! as a service must (403 `M_FORBIDDEN` without the right `hs_token`, 200 `{}` otherwise) but can
//! be told to fail transactions that carry finalised events, to see them retried.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The fields of a registration file the suite needs (other fields are the server's business).
#[derive(Clone, Debug, Deserialize)]
pub struct Registration {
    pub id: String,
    pub url: Option<String>,
    pub as_token: String,
    pub hs_token: String,
    pub sender_localpart: String,
}

/// Localparts of the users the suite registers through its service.
pub const USER_PREFIX: &str = "msc4140-as-";

fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
    );
    let a = h.finish();
    h.write_u64(a);
    format!("{a:016x}{:016x}", h.finish())
}

/// A fresh registration (new tokens) for a service at `url`, in the YAML homeservers read.
pub fn fresh_registration(url: &str) -> String {
    format!(
        "# MSC4140 conformance suite's application service (PSH-4). Give this file to the server under\n\
         # test (Synapse: app_service_config_files; the reference server: --appservice FILE), then run\n\
         # the suite with --appservice-registration pointing at it.\n\
         id: msc4140-conformance\n\
         url: {url:?}\n\
         as_token: {as_token}\n\
         hs_token: {hs_token}\n\
         sender_localpart: msc4140-conformance-bot\n\
         rate_limited: false\n\
         namespaces:\n  users:\n    - exclusive: true\n      regex: '@{USER_PREFIX}.*'\n  aliases: []\n  rooms: []\n",
        as_token = random_hex(),
        hs_token = random_hex(),
    )
}

pub fn parse_registration(text: &str) -> Result<Registration, String> {
    serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
}

/// One request to `/_matrix/app/v1/transactions/{txnId}`.
#[derive(Clone, Debug)]
pub struct Received {
    pub txn_id: String,
    pub body: Value,
    /// The status the receiver answered.
    pub answered: u16,
    /// The suite's clock when it arrived.
    pub at_ms: u64,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// Answer 500 to this many more authenticated transactions carrying finalised events.
    failures_left: usize,
}

#[derive(Clone)]
struct Shared {
    hs_token: String,
    epoch: std::time::Instant,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves plain data: keep reading it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running receiver.
pub struct Receiver {
    shared: Shared,
    pub addr: SocketAddr,
    pub registration: Registration,
}

fn carries_finalised(body: &Value) -> bool {
    body.get("finalised_events").is_some() || body.get("org.matrix.msc4140.finalised_events").is_some()
}

async fn transaction(
    State(shared): State<Shared>,
    Path(txn_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    let bearer =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = shared.lock();
    let (status, answer) = if bearer != Some(shared.hs_token.as_str()) {
        (StatusCode::FORBIDDEN, json!({ "errcode": "M_FORBIDDEN", "error": "wrong or missing hs_token" }))
    } else if inner.failures_left > 0 && carries_finalised(&body) {
        inner.failures_left -= 1;
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "errcode": "M_UNKNOWN", "error": "the conformance suite's service is down for a while" }),
        )
    } else {
        (StatusCode::OK, json!({}))
    };
    let at_ms = shared.epoch.elapsed().as_millis() as u64;
    inner.received.push(Received { txn_id, body, answered: status.as_u16(), at_ms });
    (status, Json(answer))
}

/// User and room queries: the suite's service has none of them.
async fn nothing_here() -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({ "errcode": "M_NOT_FOUND", "error": "the conformance suite's service has no such thing" }),
        ),
    )
}

impl Receiver {
    /// Listen on `addr` for the service `registration` describes; `epoch` is the suite's clock.
    pub async fn start(
        addr: SocketAddr,
        registration: Registration,
        epoch: std::time::Instant,
    ) -> Result<Receiver, String> {
        let shared = Shared { hs_token: registration.hs_token.clone(), epoch, inner: Arc::default() };
        let app = axum::Router::new()
            .route("/_matrix/app/v1/transactions/{txn_id}", axum::routing::put(transaction))
            .route("/transactions/{txn_id}", axum::routing::put(transaction))
            .route("/_matrix/app/v1/ping", axum::routing::post(|| async { Json(json!({})) }))
            .fallback(nothing_here)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("--appservice-listen {addr}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Receiver { shared, addr, registration })
    }

    /// Fail the next `n` transactions that carry finalised events (500 `M_UNKNOWN`).
    pub fn fail_next(&self, n: usize) {
        self.shared.lock().failures_left = n;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }
}
