//! HTTP to the server under test: one request, its answer, and when it started and ended on the
//! suite's monotonic clock. Timing verdicts are built from these intervals (see `timing`), never
//! from sleeps.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Path segments are encoded except for the characters Matrix ids commonly hold unencoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// One answer and its interval, in ms since the run's epoch.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// The body was not JSON (kept for messages).
    pub raw: Option<String>,
    /// The `Retry-After` header (SCH-16), when there is one.
    pub retry_after: Option<String>,
    pub start: u64,
    pub end: u64,
}

impl Answer {
    pub fn errcode(&self) -> Option<&str> {
        self.body.get("errcode").and_then(Value::as_str)
    }
    pub fn short(&self) -> String {
        let body = self.raw.clone().unwrap_or_else(|| self.body.to_string());
        let body: String = body.chars().take(300).collect();
        format!("{} {body}", self.status)
    }
}

/// A request as the suite describes it: `path` is under the homeserver's base URL.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: reqwest::Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Body>,
    pub token: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Body {
    Json(Value),
    Raw(&'static str),
}

impl Request {
    pub fn new(method: reqwest::Method, path: impl Into<String>) -> Self {
        Request { method, path: path.into(), query: Vec::new(), body: None, token: None }
    }
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(reqwest::Method::GET, path)
    }
    pub fn put(path: impl Into<String>, body: Value) -> Self {
        Self::new(reqwest::Method::PUT, path).json(body)
    }
    pub fn post(path: impl Into<String>, body: Value) -> Self {
        Self::new(reqwest::Method::POST, path).json(body)
    }
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(Body::Json(body));
        self
    }
    pub fn raw(mut self, body: &'static str) -> Self {
        self.body = Some(Body::Raw(body));
        self
    }
    pub fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_string(), v.into()));
        self
    }
    pub fn auth(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }
}

#[derive(Debug)]
pub struct TransportError(pub String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The request classes a server may rate limit separately (SEC-3).
pub fn rate_class(req: &Request) -> &'static str {
    let delayed_api = req.path.contains("/delayed_events");
    let has_delay = req.query.iter().any(|(k, _)| k == "delay" || k == "org.matrix.msc4140.delay");
    match req.method {
        reqwest::Method::POST if delayed_api => "management",
        reqwest::Method::GET if delayed_api => "lookups",
        reqwest::Method::PUT if has_delay || req.path.contains("/delayed_event/") => "scheduling",
        reqwest::Method::PUT if req.path.contains("/send/") || req.path.contains("/state/") => "sending",
        _ => "other",
    }
}

/// The connection to the server under test. Cheap to clone; clones share the connection pool and
/// what was learned about rate limits.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    epoch: Instant,
    /// How long to wait in total for `M_LIMIT_EXCEEDED` to pass before giving up.
    rate_limit_patience: Duration,
    /// Request classes this server has been seen rate limiting in this run (a 429 that passed
    /// when retried, or a burst check that met one).
    rate_limited: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<&'static str>>>,
}

impl Client {
    pub fn new(base: &str, epoch: Instant) -> Result<Self, TransportError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TransportError(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            epoch,
            rate_limit_patience: Duration::from_secs(30),
            rate_limited: Default::default(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Milliseconds since the run's epoch (the suite's clock).
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Sleep until the suite's clock reads `at`.
    pub async fn sleep_until(&self, at: u64) {
        tokio::time::sleep_until((self.epoch + Duration::from_millis(at)).into()).await;
    }

    /// Send once; the answer is whatever the server said.
    pub async fn send(&self, req: &Request) -> Result<Answer, TransportError> {
        let url = format!("{}{}", self.base, req.path);
        let mut b = self.http.request(req.method.clone(), &url);
        if !req.query.is_empty() {
            b = b.query(&req.query);
        }
        if let Some(t) = &req.token {
            b = b.bearer_auth(t);
        }
        b = match &req.body {
            Some(Body::Json(v)) => b.json(v),
            Some(Body::Raw(s)) => b.header("content-type", "application/json").body(*s),
            None => b,
        };
        let start = self.now();
        let resp = b.send().await.map_err(|e| TransportError(format!("{} {}: {e}", req.method, req.path)))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let text =
            resp.text().await.map_err(|e| TransportError(format!("{} {}: {e}", req.method, req.path)))?;
        let end = self.now();
        let (body, raw) = match serde_json::from_str::<Value>(&text) {
            Ok(v) => (v, None),
            Err(_) => (Value::Null, Some(text)),
        };
        Ok(Answer { status, body, raw, retry_after, start, end })
    }

    /// Send, waiting out a short `429 M_LIMIT_EXCEEDED` as a client would (`retry_after_ms` up to
    /// 5 s, 30 s in all). A 429 that passes when retried is evidence that the server rate limits
    /// that request class; a longer one, or one that does not pass, is returned to the caller, who
    /// judges it (a 429 is not a wildcard: see `Scenario::client_op`).
    pub async fn call(&self, req: &Request) -> Result<Answer, TransportError> {
        let give_up = Instant::now() + self.rate_limit_patience;
        let mut limited = false;
        loop {
            let a = self.send(req).await?;
            if a.status != 429 || a.errcode() != Some("M_LIMIT_EXCEEDED") {
                if limited {
                    self.note_rate_limited(rate_class(req));
                }
                return Ok(a);
            }
            let wait = a.body.get("retry_after_ms").and_then(Value::as_u64).unwrap_or(500).max(10);
            if wait > 5_000 || Instant::now() + Duration::from_millis(wait) > give_up {
                return Ok(a);
            }
            limited = true;
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    pub fn note_rate_limited(&self, class: &'static str) {
        if let Ok(mut set) = self.rate_limited.lock() {
            set.insert(class);
        }
    }

    /// Whether this server was seen rate limiting `class` in this run.
    pub fn rate_limits(&self, class: &str) -> bool {
        self.rate_limited.lock().is_ok_and(|set| set.contains(class))
    }
}
