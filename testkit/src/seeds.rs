//! Seed corpora made of meaningful inputs: typed values of the fuzz targets, encoded into the
//! bytes that `arbitrary_take_rest` decodes back into exactly those values (the test
//! `seed_corpus.rs` checks the round trip and that the committed corpus is what this writes).
//!
//! Sources: the model's witness traces (`conformance/witnesses.json`) and deterministic
//! pseudo-random operation sequences for `differential` and `model`; one request per route, method
//! and kind of bad input for `http_request`; valid values and near misses of every parser.

use crate::fuzzing::{Auth, Body, FuzzDelay, FuzzOp, HttpRequest, ParserInput, QueryValue, Segment};
use spec_model::op::{DelayParam, DelayRef, From, Op};
use spec_model::power::PowerChange;
use spec_model::types::{Action, EventType, StateKey};

/// Bytes in `arbitrary` 1.x's layout: integers little-endian, `bool` as a byte's low bit, enum
/// variants as a `u32` scaled to the variant count, collection elements each behind a `true`.
#[derive(Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }
    fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    /// Variant `index` of `count`: the smallest `u32` whose `(x * count) >> 32` is `index`.
    fn variant(&mut self, index: u32, count: u32) -> &mut Self {
        let x = (u64::from(index) << 32).div_ceil(u64::from(count));
        self.0.extend((x as u32).to_le_bytes());
        self
    }
    /// A collection decoded with `arbitrary` (not the last field): each element behind a `true`,
    /// then a `false`.
    fn items<T>(&mut self, items: &[T], each: impl Fn(&mut Self, &T)) -> &mut Self {
        for item in items {
            self.bool(true);
            each(self, item);
        }
        self.bool(false)
    }
    /// The last field, decoded with `arbitrary_take_rest`: the same without the final `false`.
    fn rest<T>(&mut self, items: &[T], each: impl Fn(&mut Self, &T)) -> &mut Self {
        for item in items {
            self.bool(true);
            each(self, item);
        }
        self
    }
}

fn delay(b: &mut Bytes, d: FuzzDelay) {
    match d {
        FuzzDelay::Ms(ms) => b.variant(0, 4).i16(ms),
        FuzzDelay::Max => b.variant(1, 4),
        FuzzDelay::OverMax => b.variant(2, 4),
        FuzzDelay::NotAnInteger => b.variant(3, 4),
    };
}

/// One `FuzzOp` (15 variants, in declaration order).
pub fn fuzz_op(b: &mut Bytes, op: &FuzzOp) {
    const N: u32 = 15;
    match *op {
        FuzzOp::ScheduleState { user, room, key, content, delay: d } => {
            b.variant(0, N).u8(user).u8(room).u8(key).u8(content);
            delay(b, d);
        }
        FuzzOp::ScheduleMessage { user, device, room, content, delay: d, txn } => {
            b.variant(1, N).u8(user).bool(device).u8(room).u8(content);
            delay(b, d);
            b.u8(txn);
        }
        FuzzOp::Manage { user, delay, action } => {
            b.variant(2, N).u8(user).u8(delay).u8(action);
        }
        FuzzOp::SendMessage { user, device, room, content, txn } => {
            b.variant(3, N).u8(user).bool(device).u8(room).u8(content).u8(txn);
        }
        FuzzOp::SendState { user, room, key, content } => {
            b.variant(4, N).u8(user).u8(room).u8(key).u8(content);
        }
        FuzzOp::SetPower { user, room, target, level, what } => {
            b.variant(5, N).u8(user).u8(room).u8(target).u8(level).u8(what);
        }
        FuzzOp::Join { user, room } => {
            b.variant(6, N).u8(user).u8(room);
        }
        FuzzOp::Leave { user, room } => {
            b.variant(7, N).u8(user).u8(room);
        }
        FuzzOp::ListScheduled { user, next } => {
            b.variant(8, N).u8(user).bool(next);
        }
        FuzzOp::ListScheduledBare { user } => {
            b.variant(9, N).u8(user);
        }
        FuzzOp::ListFinalised { user, next } => {
            b.variant(10, N).u8(user).bool(next);
        }
        FuzzOp::Sync { user, initial, include } => {
            b.variant(11, N).u8(user).bool(initial).bool(include);
        }
        FuzzOp::Advance { ms } => {
            b.variant(12, N).u16(ms);
        }
        FuzzOp::Lookup { user, delay } => {
            b.variant(13, N).u8(user).u8(delay);
        }
        FuzzOp::Capabilities { user } => {
            b.variant(14, N).u8(user);
        }
    }
}

/// The input of the `differential` target: `(flags, ops)` (see `fuzzing::surface`).
pub fn differential_input(flags: u8, ops: &[FuzzOp]) -> Vec<u8> {
    let mut b = Bytes::default();
    b.u8(flags).rest(ops, fuzz_op);
    b.0
}

/// The input of the `model` target.
pub fn model_input(ops: &[FuzzOp]) -> Vec<u8> {
    let mut b = Bytes::default();
    b.rest(ops, fuzz_op);
    b.0
}

/// A model operation as the fuzzer spells it (the inverse of `FuzzOp::op`); server steps and
/// changes the fuzzer cannot express have none.
pub fn fuzz_op_of(op: &Op) -> Option<FuzzOp> {
    let key = |k: StateKey| match k {
        StateKey::Empty => 0,
        StateKey::Key(0) => 1,
        StateKey::Key(_) => 2,
        StateKey::User(u) => 3 + 4 * u.0,
    };
    let fuzz_delay = |d: DelayParam| match d {
        DelayParam::Ms(ms) => FuzzDelay::Ms(ms.clamp(i16::MIN as i64, i16::MAX as i64) as i16),
        DelayParam::NotAnInteger => FuzzDelay::NotAnInteger,
    };
    let level = |l: i64| match l {
        l if l < 50 => 0,
        l if l < 100 => 1,
        _ => 2,
    };
    let delay_ref = |d: DelayRef| match d {
        DelayRef::Issued(id) => (id.0 % 12) as u8,
        DelayRef::NeverIssued => 255,
    };
    Some(match *op {
        Op::Schedule { user, device, room, kind, content, delay, txn } => match (kind.state_key, txn) {
            (Some(k), _) if kind.event_type == EventType::RtcMember => FuzzOp::ScheduleState {
                user: user.0,
                room: room.0,
                key: key(k),
                content: content.0,
                delay: fuzz_delay(delay),
            },
            (None, Some(t)) => FuzzOp::ScheduleMessage {
                user: user.0,
                device: device.0 == 1,
                room: room.0,
                content: content.0,
                delay: fuzz_delay(delay),
                txn: t.0,
            },
            _ => return None,
        },
        Op::Manage { user, delay, action } => FuzzOp::Manage {
            user: user.0,
            delay: delay_ref(delay),
            action: match action {
                Action::Send => 0,
                Action::Cancel => 1,
                Action::Restart => 2,
                Action::Other => 3,
                Action::Missing => 4,
            },
        },
        Op::SendMessage { user, device, room, content, txn } => FuzzOp::SendMessage {
            user: user.0,
            device: device.0 == 1,
            room: room.0,
            content: content.0,
            txn: txn.0,
        },
        Op::SendState { user, room, kind, content } => {
            FuzzOp::SendState { user: user.0, room: room.0, key: key(kind.state_key?), content: content.0 }
        }
        Op::SetPower { user, room, change } => {
            let (what, target, l) = match change {
                PowerChange::User(t, l) => (0, t.0, l),
                PowerChange::StateDefault(l) => (1, 0, l),
                PowerChange::EventsDefault(l) => (2, 0, l),
                PowerChange::Event(EventType::RtcMember, l) => (3, 0, l),
                _ => return None,
            };
            FuzzOp::SetPower { user: user.0, room: room.0, target, level: level(l), what }
        }
        Op::Join { user, room } => FuzzOp::Join { user: user.0, room: room.0 },
        Op::Leave { user, room } => FuzzOp::Leave { user: user.0, room: room.0 },
        Op::ListScheduled { user, from } => {
            FuzzOp::ListScheduled { user: user.0, next: from == From::LastNextBatch }
        }
        Op::ListScheduledBare { user } => FuzzOp::ListScheduledBare { user: user.0 },
        Op::ListFinalised { user, from } => {
            FuzzOp::ListFinalised { user: user.0, next: from == From::LastNextBatch }
        }
        Op::Sync { user, initial, include_finalised } => {
            FuzzOp::Sync { user: user.0, initial, include: include_finalised }
        }
        Op::Advance { ms } => FuzzOp::Advance { ms: ms.saturating_sub(1).min(u16::MAX as u64) as u16 },
        Op::Lookup { user, delay } => FuzzOp::Lookup { user: user.0, delay: delay_ref(delay) },
        Op::Capabilities { user } => FuzzOp::Capabilities { user: user.0 },
        Op::Fire { .. } | Op::Discard { .. } | Op::Drain => return None,
        Op::ServerRestart { .. } | Op::AppserviceTransaction { .. } => return None,
    })
}

/// A small deterministic generator (xorshift), so seeds never change between runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u8 {
        (self.next() % n) as u8
    }
}

/// A random operation, weighted like the proptest generator of the differential tests.
fn random_op(r: &mut Rng) -> FuzzOp {
    let (user, room) = (r.below(3), r.below(2));
    let d = match r.below(8) {
        0 => FuzzDelay::OverMax,
        1 => FuzzDelay::NotAnInteger,
        2 => FuzzDelay::Max,
        3 => FuzzDelay::Ms(-3),
        _ => FuzzDelay::Ms([1, 10, 100, 1000][r.below(4) as usize]),
    };
    match r.below(28) {
        0..=3 => FuzzOp::ScheduleState { user, room, key: r.below(12), content: r.below(3), delay: d },
        4..=6 => FuzzOp::ScheduleMessage {
            user,
            device: r.below(2) == 1,
            room,
            content: r.below(3),
            delay: d,
            txn: r.below(3),
        },
        7..=11 => FuzzOp::Manage {
            user,
            delay: if r.below(10) == 0 { 255 } else { r.below(8) },
            action: r.below(5),
        },
        12 => {
            FuzzOp::SendMessage { user, device: r.below(2) == 1, room, content: r.below(3), txn: r.below(3) }
        }
        13 | 14 => FuzzOp::SendState { user, room, key: r.below(12), content: r.below(3) },
        15 => FuzzOp::SetPower { user, room, target: r.below(3), level: r.below(3), what: r.below(4) },
        16 => FuzzOp::Join { user, room },
        17 => FuzzOp::Leave { user, room },
        18 => FuzzOp::ListScheduled { user, next: r.below(2) == 1 },
        19 => FuzzOp::ListScheduledBare { user },
        20 => FuzzOp::ListFinalised { user, next: r.below(2) == 1 },
        21 => FuzzOp::Sync { user, initial: r.below(2) == 1, include: r.below(3) > 0 },
        22 => FuzzOp::Lookup { user, delay: if r.below(10) == 0 { 255 } else { r.below(8) } },
        23 => FuzzOp::Capabilities { user },
        _ => FuzzOp::Advance { ms: [0u16, 8, 9, 99, 998, 999, 5999][r.below(7) as usize] },
    }
}

/// Operation sequences for `differential` and `model`: every witness trace of one revision's
/// model, then 24 pseudo-random sequences of 8 to 40 operations from `rng_seed`; the names start
/// with `prefix`.
pub fn op_sequences(
    witnesses_json: &str,
    prefix: &str,
    rng_seed: u64,
) -> Result<Vec<(String, Vec<FuzzOp>)>, String> {
    let doc: serde_json::Value = serde_json::from_str(witnesses_json).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for w in doc["witnesses"].as_array().ok_or("no witnesses")? {
        let title = w["title"].as_str().or_else(|| w["property"].as_str()).unwrap_or_default();
        let name = title.split(' ').next().unwrap_or_default();
        let mut ops = Vec::new();
        for step in w["steps"].as_array().into_iter().flatten() {
            let op: Op = serde_json::from_value(step["op"].clone()).map_err(|e| e.to_string())?;
            ops.extend(fuzz_op_of(&op));
        }
        if !ops.is_empty() {
            let name = name.replace('/', "-").to_lowercase();
            out.push((format!("{prefix}witness-{:02}-{name}", out.len()), ops));
        }
    }
    let mut r = Rng(rng_seed);
    for i in 0..24 {
        let n = 8 + (r.below(33) as usize);
        out.push((format!("{prefix}random-{i:02}"), (0..n).map(|_| random_op(&mut r)).collect()));
    }
    Ok(out)
}

fn segment_index(name: &str) -> u8 {
    crate::fuzzing::SEGMENTS.iter().position(|s| *s == name).unwrap_or(0) as u8
}

/// One `HttpRequest` (the body last, decoded with `arbitrary_take_rest`).
pub fn http_request_input(req: &HttpRequest) -> Vec<u8> {
    let mut b = Bytes::default();
    b.u8(req.method).u8(req.prefix);
    b.items(&req.path, |b, s| {
        match s {
            Segment::Known(i) => b.variant(0, 6).u8(*i),
            Segment::Room(i) => b.variant(1, 6).u8(*i),
            Segment::Delay(i) => b.variant(2, 6).u8(*i),
            Segment::User(i) => b.variant(3, 6).u8(*i),
            Segment::Junk(_) => b.variant(4, 6).u8(0), // not used by the seeds (strings)
            Segment::Event(i) => b.variant(5, 6).u8(*i),
        };
    });
    b.items(&req.query, |b, (k, v)| {
        b.u8(*k);
        match v {
            QueryValue::Int(i) => b.variant(0, 5).i64(*i),
            QueryValue::Big(_) | QueryValue::Float(_) | QueryValue::Text(_) => b.variant(4, 5),
            QueryValue::Token => b.variant(4, 5),
        };
    });
    match &req.auth {
        Auth::None => b.variant(0, 5),
        Auth::Valid(i) => b.variant(1, 5).u8(*i),
        Auth::Garbage(_) => b.variant(1, 5).u8(0),
        Auth::WrongScheme => b.variant(3, 5),
        Auth::InQuery(i) => b.variant(4, 5).u8(*i),
    };
    match &req.body {
        Body::Empty => b.variant(0, 6),
        Body::Action(a) => b.variant(1, 6).u8(*a),
        Body::Raw(bytes) => b.variant(3, 6).rest(bytes, |b, x| {
            b.u8(*x);
        }),
        Body::Json(_) | Body::Deep(_) | Body::HugeNumber(_) => b.variant(0, 6),
    };
    b.0
}

/// Requests for `http_request`: every route of the API with a valid token, then the kinds of bad
/// input (no or wrong token, bad bodies, bad delays, other users' ids).
pub fn http_requests() -> Vec<(String, HttpRequest)> {
    const GET: u8 = 0;
    const PUT: u8 = 1;
    const POST: u8 = 2;
    const DELETE: u8 = 3;
    // Prefixes of `fuzzing::http_request`.
    const V3: u8 = 0;
    const STABLE: u8 = 1;
    const UNSTABLE: u8 = 2;
    let k = |s: &str| Segment::Known(segment_index(s));
    let json = |s: &str| Body::Raw(s.as_bytes().to_vec());
    // Query keys of `fuzzing::QUERY_KEYS`.
    let (delay, unstable_delay, from, since, timeout, filter, limit) = (0u8, 1u8, 2u8, 3u8, 4u8, 5u8, 7u8);
    let r = |method, prefix, path: Vec<Segment>, query: Vec<(u8, QueryValue)>, auth, body| HttpRequest {
        method,
        prefix,
        path,
        query,
        auth,
        body,
    };
    let a = || Auth::Valid(0);
    let b_user = || Auth::Valid(1);
    let room_send = |t: &str, txn: &str| vec![k("rooms"), Segment::Room(0), k("send"), k(t), k(txn)];
    let room_state = |t: &str| vec![k("rooms"), Segment::Room(0), k("state"), k(t), Segment::User(0)];
    let delayed = |t: &str, txn: &str| vec![k("rooms"), Segment::Room(0), k("delayed_event"), k(t), k(txn)];
    // The high bit of the prefix serves the merged revision (`fuzzing::HttpRequest::prefix`).
    const M: u8 = 0x80;
    vec![
        ("versions", r(GET, 3, vec![k("versions")], vec![], Auth::None, Body::Empty)),
        ("schedule-message", r(PUT, V3, room_send("m.room.message", "scheduled"), vec![(delay, QueryValue::Int(1000))], a(), json(r#"{"body":"x","msgtype":"m.text"}"#))),
        ("schedule-message-unstable", r(PUT, V3, room_send("m.room.message", "finalised"), vec![(unstable_delay, QueryValue::Int(5))], a(), json(r#"{"body":"y"}"#))),
        ("schedule-state", r(PUT, V3, room_state("m.rtc.member"), vec![(delay, QueryValue::Int(5000))], a(), json(r#"{"call_id":"","foci":[]}"#))),
        ("schedule-delay-zero", r(PUT, V3, room_state("m.rtc.member"), vec![(delay, QueryValue::Int(0))], a(), json("{}"))),
        ("schedule-delay-negative", r(PUT, V3, room_state("m.rtc.member"), vec![(delay, QueryValue::Int(-1))], a(), json("{}"))),
        ("schedule-delay-huge", r(PUT, V3, room_state("m.rtc.member"), vec![(delay, QueryValue::Int(i64::MAX))], a(), json("{}"))),
        ("schedule-delay-twice", r(PUT, V3, room_state("m.rtc.member"), vec![(delay, QueryValue::Int(10)), (unstable_delay, QueryValue::Int(10))], a(), json("{}"))),
        ("schedule-not-json", r(PUT, V3, room_state("m.rtc.member"), vec![(delay, QueryValue::Int(10))], a(), json("{\"a\":"))),
        ("schedule-array", r(PUT, V3, room_send("m.room.message", "send"), vec![(delay, QueryValue::Int(10))], a(), json("[1,2]"))),
        ("schedule-retry-empty-body", r(PUT, V3, room_send("m.room.message", "scheduled"), vec![(delay, QueryValue::Int(1000))], a(), Body::Empty)),
        ("schedule-no-token", r(PUT, V3, room_state("m.rtc.member"), vec![(delay, QueryValue::Int(10))], Auth::None, json("{}"))),
        ("send-now", r(PUT, V3, room_send("m.room.message", "v3"), vec![], a(), json(r#"{"body":"now"}"#))),
        ("state-now", r(PUT, V3, room_state("m.rtc.member"), vec![], a(), json("{}"))),
        ("kick-delayed", r(PUT, V3, vec![k("rooms"), Segment::Room(0), k("state"), k("m.room.member"), Segment::User(1)], vec![(delay, QueryValue::Int(10))], a(), json(r#"{"membership":"leave"}"#))),
        ("power-levels", r(PUT, V3, vec![k("rooms"), Segment::Room(0), k("state"), k("m.room.power_levels"), k("")], vec![], a(), json(r#"{"users":{"@a:localhost":100},"state_default":"50"}"#))),
        ("manage-send", r(POST, STABLE, vec![Segment::Delay(0)], vec![], a(), Body::Action(0))),
        ("manage-cancel", r(POST, STABLE, vec![Segment::Delay(0)], vec![], a(), Body::Action(1))),
        ("manage-restart-unstable", r(POST, UNSTABLE, vec![Segment::Delay(0)], vec![], a(), Body::Action(2))),
        ("manage-unknown-action", r(POST, STABLE, vec![Segment::Delay(0)], vec![], a(), Body::Action(3))),
        ("manage-missing-action", r(POST, STABLE, vec![Segment::Delay(0)], vec![], a(), json("{}"))),
        ("manage-empty-body", r(POST, STABLE, vec![Segment::Delay(1)], vec![], a(), Body::Empty)),
        ("manage-others-id", r(POST, STABLE, vec![Segment::Delay(0)], vec![], b_user(), Body::Action(1))),
        ("manage-finalised-id", r(POST, UNSTABLE, vec![Segment::Delay(1)], vec![], b_user(), Body::Action(0))),
        ("manage-reserved-id", r(POST, STABLE, vec![k("scheduled")], vec![], a(), Body::Action(0))),
        ("manage-wrong-method", r(DELETE, STABLE, vec![Segment::Delay(0)], vec![], a(), Body::Empty)),
        ("manage-wrong-scheme", r(POST, STABLE, vec![Segment::Delay(0)], vec![], Auth::WrongScheme, Body::Action(0))),
        ("manage-token-in-query", r(POST, STABLE, vec![Segment::Delay(0)], vec![], Auth::InQuery(0), Body::Action(2))),
        ("list-scheduled", r(GET, STABLE, vec![k("scheduled")], vec![], a(), Body::Empty)),
        ("list-scheduled-from", r(GET, STABLE, vec![k("scheduled")], vec![(from, QueryValue::Token)], a(), Body::Empty)),
        ("list-finalised", r(GET, UNSTABLE, vec![k("finalised")], vec![], b_user(), Body::Empty)),
        ("list-finalised-bad-from", r(GET, STABLE, vec![k("finalised")], vec![(from, QueryValue::Int(-5))], a(), Body::Empty)),
        ("list-bare-unstable", r(GET, UNSTABLE, vec![], vec![], a(), Body::Empty)),
        ("sync", r(GET, V3, vec![k("sync")], vec![], b_user(), Body::Empty)),
        ("sync-since-timeout", r(GET, V3, vec![k("sync")], vec![(since, QueryValue::Token), (timeout, QueryValue::Int(100))], a(), Body::Empty)),
        ("sync-filter-id", r(GET, V3, vec![k("sync")], vec![(filter, QueryValue::Int(0))], a(), Body::Empty)),
        ("messages", r(GET, V3, vec![k("rooms"), Segment::Room(0), k("messages")], vec![(limit, QueryValue::Int(3))], a(), Body::Empty)),
        ("join", r(POST, V3, vec![k("rooms"), Segment::Room(0), k("join")], vec![], b_user(), Body::Empty)),
        ("leave", r(POST, V3, vec![k("rooms"), Segment::Room(0), k("leave")], vec![], b_user(), json("{}"))),
        ("invite", r(POST, V3, vec![k("rooms"), Segment::Room(0), k("invite")], vec![], a(), json(r#"{"user_id":"@c:localhost"}"#))),
        ("create-room", r(POST, V3, vec![k("createRoom")], vec![], a(), json(r#"{"preset":"public_chat","name":"n"}"#))),
        ("register", r(POST, V3, vec![k("register")], vec![], Auth::None, json(r#"{"username":"z","password":"p","auth":{"type":"m.login.dummy"}}"#))),
        ("login", r(POST, V3, vec![k("login")], vec![], Auth::None, json(r#"{"type":"m.login.password","identifier":{"type":"m.id.user","user":"a"},"password":"pw"}"#))),
        ("whoami", r(GET, V3, vec![k("account"), k("whoami")], vec![], a(), Body::Empty)),
        ("capabilities", r(GET, V3, vec![k("capabilities")], vec![], a(), Body::Empty)),
        ("filter", r(POST, V3, vec![k("user"), Segment::User(0), k("filter")], vec![], a(), json(r#"{"finalised_events":false}"#))),
        ("path-traversal", r(GET, STABLE, vec![k(".."), k("%2F"), k("scheduled")], vec![], a(), Body::Empty)),
        ("logout", r(POST, V3, vec![k("logout")], vec![], b_user(), Body::Empty)),
        ("event", r(GET, V3, vec![k("rooms"), Segment::Room(0), k("event"), Segment::Event(0)], vec![], a(), Body::Empty)),
        ("context", r(GET, V3, vec![k("rooms"), Segment::Room(0), k("context"), Segment::Event(1)], vec![(limit, QueryValue::Int(3))], b_user(), Body::Empty)),
        // The merged revision (SCH-12..17, MGT-11..14, LKP-1..4, DSC-4, SRV-14).
        ("merged-schedule-message", r(PUT, M | V3, delayed("m.room.message", "scheduled"), vec![], a(), json(r#"{"delay_ms":1000,"content":{"body":"x"}}"#))),
        ("merged-schedule-state", r(PUT, M | V3, delayed("m.rtc.member", "send"), vec![], a(), json(r#"{"delay_ms":5000,"state_key":"k","content":{}}"#))),
        ("merged-schedule-retry", r(PUT, M | V3, delayed("m.room.message", "scheduled"), vec![], a(), Body::Empty)),
        ("merged-schedule-no-delay", r(PUT, M | V3, delayed("m.room.message", "v3"), vec![], a(), json(r#"{"content":{}}"#))),
        ("merged-schedule-zero", r(PUT, M | V3, delayed("m.room.message", "v3"), vec![], a(), json(r#"{"delay_ms":0,"content":{}}"#))),
        ("merged-schedule-over-max", r(PUT, M | V3, delayed("m.room.message", "v3"), vec![], a(), json(r#"{"delay_ms":18446744073709551615,"content":{}}"#))),
        ("merged-schedule-bad-content", r(PUT, M | V3, delayed("m.room.message", "v3"), vec![], a(), json(r#"{"delay_ms":10,"content":"x","state_key":5}"#))),
        ("merged-schedule-no-token", r(PUT, M | V3, delayed("m.room.message", "v3"), vec![], Auth::None, json(r#"{"delay_ms":10,"content":{}}"#))),
        ("merged-legacy-param", r(PUT, M | V3, room_send("m.room.message", "v1"), vec![(unstable_delay, QueryValue::Int(1000))], a(), json(r#"{"body":"legacy"}"#))),
        ("merged-restart", r(POST, M | STABLE, vec![Segment::Delay(0), k("restart")], vec![], a(), Body::Empty)),
        ("merged-send-unstable", r(POST, M | UNSTABLE, vec![Segment::Delay(0), k("send")], vec![], a(), json("{}"))),
        ("merged-cancel-finalised", r(POST, M | STABLE, vec![Segment::Delay(1), k("cancel")], vec![], b_user(), Body::Empty)),
        ("merged-unknown-action", r(POST, M | STABLE, vec![Segment::Delay(0), k("finalised")], vec![], a(), Body::Empty)),
        ("merged-missing-action", r(POST, M | STABLE, vec![Segment::Delay(0)], vec![], a(), Body::Action(0))),
        ("merged-others-action", r(POST, M | UNSTABLE, vec![Segment::Delay(0), k("cancel")], vec![], b_user(), Body::Empty)),
        ("merged-lookup-scheduled", r(GET, M | STABLE, vec![Segment::Delay(0)], vec![], a(), Body::Empty)),
        ("merged-lookup-finalised", r(GET, M | UNSTABLE, vec![Segment::Delay(1)], vec![], b_user(), Body::Empty)),
        ("merged-lookup-others", r(GET, M | STABLE, vec![Segment::Delay(1)], vec![], a(), Body::Empty)),
        ("merged-list", r(GET, M | STABLE, vec![], vec![], a(), Body::Empty)),
        ("merged-capabilities", r(GET, M | V3, vec![k("capabilities")], vec![], a(), Body::Empty)),
        ("merged-event", r(GET, M | V3, vec![k("rooms"), Segment::Room(0), k("event"), Segment::Event(255)], vec![], b_user(), Body::Empty)),
        ("merged-context", r(GET, M | V3, vec![k("rooms"), Segment::Room(0), k("context"), Segment::Event(255)], vec![(limit, QueryValue::Int(4))], b_user(), Body::Empty)),
    ]
    .into_iter()
    .map(|(n, r)| (n.to_string(), r))
    .collect()
}

/// One `ParserInput` (5 variants; the string is the rest of the input).
pub fn parser_input(p: &ParserInput) -> Vec<u8> {
    let mut b = Bytes::default();
    let (i, s) = match p {
        ParserInput::DelayId(s) => (0, s),
        ParserInput::PageToken(s) => (1, s),
        ParserInput::SyncToken(s) => (2, s),
        ParserInput::Window(s) => (3, s),
        ParserInput::Config(s) => (4, s),
    };
    b.variant(i, 5);
    b.0.extend(s.as_bytes());
    b.0
}

/// Valid values of every parser (as the server prints them) and near misses.
pub fn parser_inputs() -> Vec<(String, ParserInput)> {
    use reference_server::engine::ids::DelayId;
    use reference_server::engine::lookups::format_token;
    // Fixed ids (the server's are partly random): sequence number, then random bits.
    let (d1, d2) = (DelayId((7 << 64) | 0x9e37_79b9_7f4a_7c15), DelayId(1 << 64));
    let id = d1.to_string();
    let mut out: Vec<(&str, ParserInput)> = vec![
        ("delay-id", ParserInput::DelayId(id.clone())),
        ("delay-id-upper", ParserInput::DelayId(id.to_uppercase())),
        ("delay-id-short", ParserInput::DelayId(id[..31].to_string())),
        ("delay-id-long", ParserInput::DelayId(format!("{id}0"))),
        ("delay-id-reserved", ParserInput::DelayId("scheduled".into())),
        ("delay-id-nonhex", ParserInput::DelayId(format!("{}g", &id[..31]))),
        ("page-token", ParserInput::PageToken(format_token((1_700_000_005_000, d1)))),
        ("page-token-zero", ParserInput::PageToken(format_token((0, d2)))),
        ("page-token-max", ParserInput::PageToken(format_token((u64::MAX, d2)))),
        ("page-token-overflow", ParserInput::PageToken(format!("18446744073709551616_{id}"))),
        ("page-token-no-id", ParserInput::PageToken("1700000005000_".into())),
        ("page-token-sign", ParserInput::PageToken(format!("+5_{id}"))),
        ("sync-token", ParserInput::SyncToken("s42_7".into())),
        ("sync-token-zero", ParserInput::SyncToken("s0_0".into())),
        ("sync-token-max", ParserInput::SyncToken(format!("s{}_{}", u64::MAX, u64::MAX))),
        ("sync-token-no-prefix", ParserInput::SyncToken("42_7".into())),
        ("sync-token-one-part", ParserInput::SyncToken("s42".into())),
        ("sync-token-leading-zero", ParserInput::SyncToken("s042_7".into())),
        ("window", ParserInput::Window("200/10000".into())),
        ("window-zero", ParserInput::Window("1/0".into())),
        ("window-spaces", ParserInput::Window(" 5 / 1000 ".into())),
        ("window-negative", ParserInput::Window("-1/1000".into())),
        ("window-huge", ParserInput::Window("4294967296/18446744073709551615".into())),
        (
            "config",
            ParserInput::Config(
                "max_delay_ms = 60000\npage_size = 5\n[rate_limits.scheduling]\nmax = 3\nwindow_ms = 1000\n"
                    .into(),
            ),
        ),
        (
            "config-zero",
            ParserInput::Config("max_delay_ms = 0\npage_size = 0\nserver_name = \"a b\"\n".into()),
        ),
        ("config-unknown", ParserInput::Config("nope = 1\n".into())),
        ("config-types", ParserInput::Config("listen = 5\nsync_keys = \"sideways\"\n".into())),
    ];
    out.sort_by(|a, b| a.0.cmp(b.0));
    out.into_iter().map(|(n, p)| (n.to_string(), p)).collect()
}
