//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`) and their typed inputs. The replay
//! test (`tests/replay.rs`) decodes every corpus and regression file exactly as libFuzzer does
//! (`arbitrary_take_rest`) and runs it through the same function.

use crate::harness::{settings, T};
use arbitrary::Arbitrary;
use serde_json::{json, Value};
use spec_model::op::{DelayParam, DelayRef, From, Op};
use spec_model::power::PowerChange;
use spec_model::revision::Revision;
use spec_model::types::{
    Action, ContentId, DelayId, DeviceId, EventKind, EventType, Prefix, RoomId, StateKey, TxnId, UserId,
};
use std::time::Duration;

/// Real path segments and the ids a fixture server issued, plus junk.
#[derive(Arbitrary, Debug, Clone)]
pub enum Segment {
    Known(u8),
    Room(u8),
    Delay(u8),
    User(u8),
    Junk(String),
    Event(u8),
}

pub const SEGMENTS: &[&str] = &[
    "_matrix",
    "client",
    "v1",
    "v3",
    "r0",
    "unstable",
    "org.matrix.msc4140",
    "delayed_events",
    "scheduled",
    "finalised",
    "rooms",
    "send",
    "state",
    "m.room.message",
    "m.rtc.member",
    "m.room.member",
    "m.room.power_levels",
    "",
    "join",
    "leave",
    "invite",
    "messages",
    "sync",
    "versions",
    "register",
    "login",
    "account",
    "whoami",
    "createRoom",
    "user",
    "filter",
    "capabilities",
    "logout",
    "%00",
    "%2F",
    "..",
    // The merged revision's (SCH-12, MGT-11) and the sender's other views (SRV-14).
    "delayed_event",
    "restart",
    "cancel",
    "event",
    "context",
];

#[derive(Arbitrary, Debug, Clone)]
pub enum QueryValue {
    Int(i64),
    Big(u128),
    Float(f64),
    Text(String),
    Token,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Auth {
    None,
    Valid(u8),
    Garbage(String),
    WrongScheme,
    InQuery(u8),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Body {
    Empty,
    Action(u8),
    Json(JsonTree),
    Raw(Vec<u8>),
    Deep(u16),
    HugeNumber(String),
}

/// A bounded JSON document.
#[derive(Arbitrary, Debug, Clone)]
pub enum JsonTree {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Array(Vec<JsonTree>),
    Object(Vec<(String, JsonTree)>),
}

impl JsonTree {
    fn value(&self, depth: u8) -> Value {
        if depth > 8 {
            return Value::Null;
        }
        match self {
            JsonTree::Null => Value::Null,
            JsonTree::Bool(b) => json!(b),
            JsonTree::Int(i) => json!(i),
            JsonTree::Float(f) => json!(f),
            JsonTree::Text(s) => json!(s),
            JsonTree::Array(a) => Value::Array(a.iter().take(16).map(|x| x.value(depth + 1)).collect()),
            JsonTree::Object(o) => {
                Value::Object(o.iter().take(16).map(|(k, v)| (k.clone(), v.value(depth + 1))).collect())
            }
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct HttpRequest {
    pub method: u8,
    /// The low 7 bits pick the prefix; the high bit serves the merged revision (a layout that
    /// keeps every older input decoding as before).
    pub prefix: u8,
    pub path: Vec<Segment>,
    pub query: Vec<(u8, QueryValue)>,
    pub auth: Auth,
    pub body: Body,
}

const QUERY_KEYS: &[&str] = &[
    "delay",
    "org.matrix.msc4140.delay",
    "from",
    "since",
    "timeout",
    "filter",
    "dir",
    "limit",
    "access_token",
    "full_state",
    "format",
    "kind",
    "username",
];

/// A fixture: two users, a room, a scheduled delayed state event and message, one finalised, in
/// either revision.
struct Fixture {
    t: T,
    tokens: Vec<String>,
    rooms: Vec<String>,
    delays: Vec<String>,
    users: Vec<String>,
    events: Vec<String>,
}

async fn fixture(merged: bool) -> Fixture {
    use reference_server::config::{Revision, Settings};
    let revision = if merged { Revision::Rev2026_07_10 } else { Revision::Rev2025_07_09 };
    let t = T::with(Settings { revision, ..settings() }).await;
    let a = t.user("a").await;
    let b = t.user("b").await;
    let room = t.room(&a, &[&b]).await;
    let (d1, d2) = if merged {
        let path = |t: &str, txn: &str| format!("/_matrix/client/v3/rooms/{room}/delayed_event/{t}/{txn}");
        let state = json!({ "delay_ms": 5000, "state_key": a.id, "content": { "v": 1 } });
        let d1 = t.put(&a, &path("m.rtc.member", "s"), state).await;
        let d2 = t.put(&b, &path("m.room.message", "t"), json!({ "delay_ms": 100, "content": {} })).await;
        (d1, d2)
    } else {
        (
            t.schedule_state(&a, &room, &a.id, 5000, json!({"v": 1})).await,
            t.schedule_message(&b, &room, "t", 100).await,
        )
    };
    let id = |r: crate::harness::Resp| r.body["delay_id"].as_str().unwrap_or_default().to_string();
    let (d1, d2) = (id(d1), id(d2));
    t.sleep(100).await;
    let events = t
        .timeline(&a, &room)
        .await
        .iter()
        .filter_map(|e| e["event_id"].as_str().map(str::to_string))
        .collect();
    Fixture {
        tokens: vec![a.token.clone(), b.token.clone()],
        rooms: vec![room],
        delays: vec![d1, d2],
        users: vec![a.id, b.id],
        events,
        t,
    }
}

fn pick<T: Clone>(v: &[T], i: u8) -> Option<T> {
    if v.is_empty() {
        None
    } else {
        Some(v[i as usize % v.len()].clone())
    }
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `http_request`: no panic, no 5xx, every error a Matrix error, an answer within 400 s of virtual
/// time (long-polls run on the paused clock; a hang never answers), and the server's invariants
/// afterwards. Nothing depends on the wall clock, so a loaded machine cannot fail an input.
pub fn http_request(input: &HttpRequest) -> Result<(), String> {
    crate::harness::on_virtual_time(async {
        let f = fixture(input.prefix & 0x80 != 0).await;
        let methods = ["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "HEAD"];
        let method = methods[input.method as usize % methods.len()];
        let prefixes = [
            "/_matrix/client/v3",
            "/_matrix/client/v1/delayed_events",
            "/_matrix/client/unstable/org.matrix.msc4140/delayed_events",
            "/_matrix/client",
            "",
        ];
        let mut path = prefixes[(input.prefix & 0x7f) as usize % prefixes.len()].to_string();
        for seg in input.path.iter().take(8) {
            let s = match seg {
                Segment::Known(i) => SEGMENTS[*i as usize % SEGMENTS.len()].to_string(),
                Segment::Room(i) => encode(&pick(&f.rooms, *i).unwrap_or_default()),
                Segment::Delay(i) => pick(&f.delays, *i).unwrap_or_default(),
                Segment::User(i) => encode(&pick(&f.users, *i).unwrap_or_default()),
                Segment::Junk(j) => encode(j),
                Segment::Event(i) => encode(&pick(&f.events, *i).unwrap_or_default()),
            };
            path.push('/');
            path.push_str(&s);
        }
        let mut query: Vec<String> = input
            .query
            .iter()
            .take(6)
            .map(|(k, v)| {
                let value = match v {
                    QueryValue::Int(i) => i.to_string(),
                    QueryValue::Big(b) => b.to_string(),
                    QueryValue::Float(x) => x.to_string(),
                    QueryValue::Text(s) => s.clone(),
                    QueryValue::Token => "s1_0".into(),
                };
                format!("{}={}", QUERY_KEYS[*k as usize % QUERY_KEYS.len()], encode(&value))
            })
            .collect();
        let mut header = None;
        match &input.auth {
            Auth::None => {}
            Auth::Valid(i) => header = pick(&f.tokens, *i).map(|t| format!("Bearer {t}")),
            Auth::Garbage(g) => header = Some(g.clone()),
            Auth::WrongScheme => header = pick(&f.tokens, 0).map(|t| format!("Basic {t}")),
            Auth::InQuery(i) => {
                query.push(format!("access_token={}", pick(&f.tokens, *i).unwrap_or_default()))
            }
        }
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let body: Vec<u8> = match &input.body {
            Body::Empty => Vec::new(),
            Body::Action(a) => {
                format!(r#"{{"action":"{}"}}"#, ["send", "cancel", "restart", "x"][*a as usize % 4])
                    .into_bytes()
            }
            Body::Json(tree) => tree.value(0).to_string().into_bytes(),
            Body::Raw(bytes) => bytes.clone(),
            Body::Deep(n) => {
                let n = (*n as usize) % 20_000;
                format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()
            }
            Body::HugeNumber(digits) => {
                format!(r#"{{"n": 1{}}}"#, digits.chars().filter(char::is_ascii_digit).collect::<String>())
                    .into_bytes()
            }
        };
        let Ok(uri) = path.parse::<axum::http::Uri>() else { return Ok(()) };
        let mut req = axum::http::Request::builder().method(method).uri(uri);
        if let Some(h) = header {
            if let Ok(v) = axum::http::HeaderValue::from_str(&h) {
                req = req.header("authorization", v);
            }
        }
        let Ok(req) = req.body(axum::body::Body::from(body)) else { return Ok(()) };
        let answer = tokio::time::timeout(
            Duration::from_secs(400),
            tower::ServiceExt::oneshot(f.t.router.clone(), req),
        )
        .await
        .map_err(|_| format!("{method} {path}: no answer within 400 s of virtual time"))?
        .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = answer.status().as_u16();
        let bytes =
            http_body_util::BodyExt::collect(answer.into_body()).await.map_err(|e| e.to_string())?.to_bytes();
        if status >= 500 {
            return Err(format!("{method} {path}: {status} {}", String::from_utf8_lossy(&bytes)));
        }
        // HEAD answers carry no body by definition; the user-interactive auth answer of
        // `POST /register` (401 with `flows` and a `session`) is not an error.
        if status >= 400 && method != "HEAD" {
            let v: Value = serde_json::from_slice(&bytes)
                .map_err(|_| format!("{method} {path}: {status} with a non-JSON body"))?;
            let uia = status == 401 && method == "POST" && v["flows"].is_array() && v["session"].is_string();
            if uia {
                return f.t.engine.check_invariants();
            }
            let code_ok = v["errcode"].as_str().is_some_and(|c| c.starts_with("M_"));
            if !code_ok || !v["error"].is_string() {
                return Err(format!("{method} {path}: {status} is not a Matrix error: {v}"));
            }
        }
        f.t.engine.check_invariants()
    })
}

/// An operation of the model, as the fuzzer builds it.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum FuzzOp {
    ScheduleState { user: u8, room: u8, key: u8, content: u8, delay: FuzzDelay },
    ScheduleMessage { user: u8, device: bool, room: u8, content: u8, delay: FuzzDelay, txn: u8 },
    Manage { user: u8, delay: u8, action: u8 },
    SendMessage { user: u8, device: bool, room: u8, content: u8, txn: u8 },
    SendState { user: u8, room: u8, key: u8, content: u8 },
    SetPower { user: u8, room: u8, target: u8, level: u8, what: u8 },
    Join { user: u8, room: u8 },
    Leave { user: u8, room: u8 },
    ListScheduled { user: u8, next: bool },
    ListScheduledBare { user: u8 },
    ListFinalised { user: u8, next: bool },
    Sync { user: u8, initial: bool, include: bool },
    Advance { ms: u16 },
    Lookup { user: u8, delay: u8 },
    Capabilities { user: u8 },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum FuzzDelay {
    Ms(i16),
    Max,
    OverMax,
    NotAnInteger,
}

impl FuzzOp {
    /// The model operation, within the bounds of `crate::differential` (3 users, 2 rooms).
    pub fn op(self) -> Op {
        use crate::differential::{MAX_DELAY, ROOMS, USERS};
        let u = |x: u8| UserId(x % USERS);
        let r = |x: u8| RoomId(x % ROOMS);
        let key = |k: u8| match k % 4 {
            0 => StateKey::Empty,
            1 => StateKey::Key(0),
            2 => StateKey::Key(1),
            _ => StateKey::User(UserId((k / 4) % USERS)),
        };
        let delay = |d: FuzzDelay| match d {
            FuzzDelay::Ms(ms) => DelayParam::Ms(ms as i64),
            FuzzDelay::Max => DelayParam::Ms(MAX_DELAY),
            FuzzDelay::OverMax => DelayParam::Ms(MAX_DELAY + 1),
            FuzzDelay::NotAnInteger => DelayParam::NotAnInteger,
        };
        // Few transaction ids, shared by rooms and devices, so that scopes collide (SCH-10).
        let txn = |n: u8| TxnId(n % 3);
        let device = |d: bool| DeviceId(u8::from(d));
        let level = |l: u8| [0i64, 50, 100][l as usize % 3];
        match self {
            FuzzOp::ScheduleState { user, room, key: k, content, delay: d } => Op::Schedule {
                user: u(user),
                device: DeviceId(0),
                room: r(room),
                kind: EventKind::state(EventType::RtcMember, key(k)),
                content: ContentId(content % 3),
                delay: delay(d),
                txn: None,
            },
            FuzzOp::ScheduleMessage { user, device: dev, room, content, delay: d, txn: n } => Op::Schedule {
                user: u(user),
                device: device(dev),
                room: r(room),
                kind: EventKind::message(),
                content: ContentId(content % 3),
                delay: delay(d),
                txn: Some(txn(n)),
            },
            FuzzOp::Manage { user, delay: d, action } => Op::Manage {
                user: u(user),
                delay: delay_ref(d),
                action: [Action::Send, Action::Cancel, Action::Restart, Action::Other, Action::Missing]
                    [action as usize % 5],
            },
            FuzzOp::SendMessage { user, device: dev, room, content, txn: n } => Op::SendMessage {
                user: u(user),
                device: device(dev),
                room: r(room),
                content: ContentId(content % 3),
                txn: txn(n),
            },
            FuzzOp::SendState { user, room, key: k, content } => Op::SendState {
                user: u(user),
                room: r(room),
                kind: EventKind::state(EventType::RtcMember, key(k)),
                content: ContentId(content % 3),
            },
            FuzzOp::SetPower { user, room, target, level: l, what } => Op::SetPower {
                user: u(user),
                room: r(room),
                change: match what % 4 {
                    0 => PowerChange::User(u(target), level(l)),
                    1 => PowerChange::StateDefault(level(l)),
                    2 => PowerChange::EventsDefault(level(l)),
                    _ => PowerChange::Event(EventType::RtcMember, level(l)),
                },
            },
            FuzzOp::Join { user, room } => Op::Join { user: u(user), room: r(room) },
            FuzzOp::Leave { user, room } => Op::Leave { user: u(user), room: r(room) },
            FuzzOp::ListScheduled { user, next } => Op::ListScheduled {
                user: u(user),
                from: if next { From::LastNextBatch } else { From::Start },
            },
            FuzzOp::ListScheduledBare { user } => Op::ListScheduledBare { user: u(user) },
            FuzzOp::ListFinalised { user, next } => Op::ListFinalised {
                user: u(user),
                from: if next { From::LastNextBatch } else { From::Start },
            },
            FuzzOp::Sync { user, initial, include } => {
                Op::Sync { user: u(user), initial, include_finalised: include }
            }
            FuzzOp::Advance { ms } => Op::Advance { ms: 1 + (ms as u64 % 7000) },
            FuzzOp::Lookup { user, delay: d } => Op::Lookup { user: u(user), delay: delay_ref(d) },
            FuzzOp::Capabilities { user } => Op::Capabilities { user: u(user) },
        }
    }

    /// The operation as `revision`'s clients can ask it: each revision's endpoints stand in for
    /// the other's (the merged revision schedules state events with a transaction id, lists
    /// without pages and looks up one id; the seed revision has no single lookup and no
    /// capability), so every input exercises the revision it runs on.
    pub fn op_in(self, revision: Revision) -> Op {
        let op = self.op();
        match (revision, op) {
            (Revision::Rev2025_07_09, Op::Lookup { user, .. }) => {
                Op::ListFinalised { user, from: From::Start }
            }
            (Revision::Rev2025_07_09, Op::Capabilities { user }) => Op::ListScheduledBare { user },
            (
                Revision::Rev2026_07_10,
                Op::Schedule { user, device, room, kind, content, delay, txn: None },
            ) => Op::Schedule { user, device, room, kind, content, delay, txn: Some(TxnId(content.0 % 3)) },
            (Revision::Rev2026_07_10, Op::ListScheduled { user, .. }) => Op::ListScheduledBare { user },
            (Revision::Rev2026_07_10, Op::ListFinalised { user, .. }) => Op::Capabilities { user },
            (_, op) => op,
        }
    }
}

fn delay_ref(d: u8) -> DelayRef {
    if d == 255 {
        DelayRef::NeverIssued
    } else {
        DelayRef::Issued(DelayId((d % 12) as u16))
    }
}

/// The fault the `differential` target plants, from `MSC4140_FAULT=<name>` (for proving it bites;
/// the names are `reference_server::faults::Fault::name`).
#[cfg(feature = "faults")]
pub fn fault_from_env() -> reference_server::faults::Faults {
    use reference_server::faults::{Fault, Faults};
    let named = std::env::var("MSC4140_FAULT").ok().and_then(|n| Fault::from_name(&n));
    named.map_or_else(Faults::none, |f| Faults::of(&[f]))
}

/// The first byte of a `differential` input: bit 0 the unstable surface, bit 1 the merged
/// revision (bit 0 alone is what the target's older `bool` decoded to).
pub fn surface(flags: u8) -> (Revision, Prefix) {
    let revision = if flags & 2 != 0 { Revision::Rev2026_07_10 } else { Revision::Rev2025_07_09 };
    (revision, if flags & 1 != 0 { Prefix::Unstable } else { Prefix::Stable })
}

/// `differential`: the server must answer as the model says (either revision, either surface).
pub fn differential(ops: &[FuzzOp], flags: u8) -> Result<(), String> {
    let (revision, prefix) = surface(flags);
    let ops: Vec<Op> = ops.iter().take(40).map(|o| o.op_in(revision)).collect();
    crate::differential::run_in(revision, prefix, &ops)
}

/// The same against a server with the planted `faults`.
#[cfg(feature = "faults")]
pub fn differential_with(
    ops: &[FuzzOp],
    flags: u8,
    faults: reference_server::faults::Faults,
) -> Result<(), String> {
    let (revision, prefix) = surface(flags);
    let ops: Vec<Op> = ops.iter().take(40).map(|o| o.op_in(revision)).collect();
    crate::differential::run_in_with(revision, prefix, faults, &ops)
}

/// `model`: the monitor never flags a step of the model itself, in either revision.
pub fn model(ops: &[FuzzOp]) -> Result<(), String> {
    model_in(Revision::Rev2025_07_09, ops)?;
    model_in(Revision::Rev2026_07_10, ops)
}

fn model_in(revision: Revision, ops: &[FuzzOp]) -> Result<(), String> {
    use spec_model::checker::monitor::{observe, Ghost};
    use spec_model::checker::properties::Violation;
    let cfg = crate::differential::config_in(revision, Prefix::Stable);
    // The monitor watches every property; a revision is judged by its own (the merged text has
    // no `/sync` push, so PSH-1's bit means nothing there).
    let judged = Violation::of(revision).fold(0, |m, v| m | v.bit());
    let mut state = spec_model::state::State::new(crate::differential::USERS, crate::differential::ROOMS);
    let mut ghost =
        Ghost { walks: vec![[None, None]; crate::differential::USERS as usize], ..Ghost::default() };
    for op in ops.iter().take(200).map(|o| o.op_in(revision)) {
        // The monitor tracks delay ids in 32-bit sets.
        if state.delayed.len() >= 32 && matches!(op, Op::Schedule { .. }) {
            continue;
        }
        let op = match op {
            // Time passes only as far as the model allows; fire what is due first.
            Op::Advance { ms } => {
                let due = state.ids().find(|id| {
                    state.delayed[id.0 as usize].is_scheduled()
                        && state.delayed[id.0 as usize].due() <= state.now
                });
                match due {
                    Some(id) => Op::Fire { delay: id },
                    None => Op::Advance { ms },
                }
            }
            other => other,
        };
        let Some((next, step)) = spec_model::spec::step(&cfg, &state, &op) else { continue };
        ghost = observe(&cfg, &state, &op, &step, &next, &ghost);
        if ghost.violations & judged != 0 {
            let broken: Vec<_> =
                Violation::of(revision).filter(|v| ghost.violations & v.bit() != 0).collect();
            return Err(format!("{revision:?}, {op:?}: the monitor flags {broken:?}"));
        }
        state = next;
    }
    Ok(())
}

/// Inputs of the hand-written parsers.
#[derive(Arbitrary, Debug, Clone)]
pub enum ParserInput {
    DelayId(String),
    PageToken(String),
    SyncToken(String),
    Window(String),
    Config(String),
}

/// `parsers`: never panic; whatever parses prints back to itself and parses again the same.
pub fn parsers(input: &ParserInput) -> Result<(), String> {
    use reference_server::engine::ids::DelayId as ServerDelayId;
    use reference_server::engine::lookups::{format_token, parse_token};
    use reference_server::engine::sync_feed::SyncToken;
    match input {
        ParserInput::DelayId(s) => {
            if let Some(id) = ServerDelayId::parse(s) {
                if id.to_string() != *s {
                    return Err(format!("delay id {s:?} prints as {id}"));
                }
            }
        }
        ParserInput::PageToken(s) => {
            if let Ok(key) = parse_token(s) {
                if parse_token(&format_token(key)) != Ok(key) {
                    return Err(format!("page token {s:?} does not round-trip"));
                }
            }
        }
        ParserInput::SyncToken(s) => {
            if let Ok(t) = SyncToken::parse(s) {
                if SyncToken::parse(&t.to_string()) != Ok(t) {
                    return Err(format!("sync token {s:?} does not round-trip"));
                }
            }
        }
        ParserInput::Window(s) => {
            let _ = s.parse::<reference_server::config::Window>();
        }
        ParserInput::Config(s) => {
            if let Ok(settings) = toml::from_str::<reference_server::config::Settings>(s) {
                let _ = settings.validate();
            }
        }
    }
    Ok(())
}
