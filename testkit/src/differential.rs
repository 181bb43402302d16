//! Differential tests: generated sequences of model operations run on `spec-model` (the oracle)
//! and on the server through its real HTTP router, on virtual time. Every answer (status,
//! `errcode`, body with the server's ids and timestamps mapped onto the model's) and every event
//! that enters a room must be what the model says. Both prefixes are exercised.
//!
//! The proptest suite is `reference-server/tests/it/differential.rs`; the `differential` fuzz
//! target drives the same [`run_with`].

use crate::harness::{User, EPOCH, T};
use reference_server::config::{RateLimits, Settings};
use serde_json::{json, Map, Value};
use spec_model::config::{Config, Retention};
use spec_model::op::{DelayParam, DelayRef, From, Op};
use spec_model::power::PowerChange;
use spec_model::reply::{Reply, Step};
use spec_model::revision::Revision;
use spec_model::state::State;
use spec_model::types::{Action, ContentId, DelayId, Prefix, RoomId, StateKey, UserId};
use std::collections::HashMap;

pub const USERS: u8 = 3;
pub const ROOMS: u8 = 2;
pub const MAX_DELAY: i64 = 5000;
/// Devices (access tokens) per user.
pub const DEVICES: u8 = 2;

/// The model configuration the server is started to match (seed revision).
pub fn config(prefix: Prefix) -> Config {
    config_in(Revision::Rev2025_07_09, prefix)
}

/// The same in `revision`.
pub fn config_in(revision: Revision, prefix: Prefix) -> Config {
    Config {
        revision,
        prefix,
        max_delay_ms: Some(MAX_DELAY as u64),
        max_outstanding_per_user: Some(3),
        retention: Retention { max_age_ms: 20_000, max_per_user: 4 },
        page_size: 2,
        // PSH-4: one application service owns `@u0`.
        appservice_user: Some(UserId(0)),
        ..Config::reference()
    }
}

/// The application service owning the model's `appservice_user` (never registered
/// exclusively, so the driver registers that user as any other).
fn registration(user: UserId) -> reference_server::appservice::registration::Registration {
    let yaml = format!(
        "id: differential\nurl: http://127.0.0.1:9\nas_token: as-differential\nhs_token: hs-differential\n\
         sender_localpart: differential-bot\nnamespaces:\n  users:\n    - exclusive: false\n      regex: '{}$'\n",
        server_user(user)
    );
    reference_server::appservice::registration::Registration::from_yaml(&yaml).expect("a valid registration")
}

fn settings(cfg: &Config) -> Settings {
    Settings {
        revision: match cfg.revision {
            Revision::Rev2025_07_09 => reference_server::config::Revision::Rev2025_07_09,
            Revision::Rev2026_07_10 => reference_server::config::Revision::Rev2026_07_10,
        },
        max_delay_ms: cfg.max_delay_ms.unwrap_or(u64::MAX),
        max_delayed_per_user: cfg.max_outstanding_per_user.map_or(usize::MAX, usize::from),
        retention_max_age_ms: cfg.retention.max_age_ms,
        retention_max_per_user: cfg.retention.max_per_user as usize,
        discard_returned: cfg.discard_returned,
        page_size: cfg.page_size as usize,
        rate_limits: RateLimits::off(),
        appservices: cfg.appservice_user.map(registration).into_iter().collect(),
        // The driver takes the transactions itself, in step with the model.
        deliver_transactions: false,
        ..Settings::default()
    }
}

/// One run: the model's state and the server, with the map between their ids.
pub struct Driver {
    cfg: Config,
    state: State,
    t: T,
    /// Per model user, one session per model device (SCH-10 scopes transaction ids to it).
    users: Vec<Vec<User>>,
    observer: User,
    rooms: Vec<String>,
    /// Server `delay_id` of each model `DelayId`.
    delay_ids: Vec<String>,
    /// Server event id -> model event id.
    event_ids: HashMap<String, String>,
    sched_next: Vec<Option<String>>,
    fin_next: Vec<Option<String>>,
    sync_next: Vec<Option<String>>,
    observer_since: String,
    /// What happened so far, for the failure report.
    pub log: Vec<String>,
    /// The data directory of a persistent server (removed with the driver).
    _data_dir: Option<tempfile::TempDir>,
}

fn server_user(u: UserId) -> String {
    format!("@u{}:localhost", u.0)
}

fn state_key(k: StateKey) -> String {
    match k {
        StateKey::User(u) => server_user(u),
        other => other.to_string(),
    }
}

fn content(c: ContentId) -> Value {
    spec_model::render::content(c)
}

impl Driver {
    /// A fresh model and a server configured to match; `tweak` changes the server's settings
    /// (planted faults).
    pub async fn new(revision: Revision, prefix: Prefix, tweak: impl FnOnce(&mut Settings)) -> Driver {
        Driver::start(config_in(revision, prefix), tweak, false).await
    }

    /// The model `cfg` against a server configured to match, in memory or on a fresh data
    /// directory (`persistent`: [`Op::ServerRestart`] restarts it there).
    pub async fn start(cfg: Config, tweak: impl FnOnce(&mut Settings), persistent: bool) -> Driver {
        let mut s = settings(&cfg);
        tweak(&mut s);
        let data_dir = persistent.then(|| tempfile::tempdir().expect("a temporary directory"));
        let t = match &data_dir {
            Some(dir) => {
                s.data_dir = Some(dir.path().to_path_buf());
                s.sync = reference_server::store::SyncMode::Normal;
                T::persistent(s, Default::default()).expect("a fresh data directory opens")
            }
            None => T::with(s).await,
        };
        let mut users = Vec::new();
        for u in 0..USERS {
            let first = t.user(&format!("u{u}")).await;
            let mut devices = vec![first.clone()];
            for _ in 1..DEVICES {
                devices.push(t.login(&first).await);
            }
            users.push(devices);
        }
        let observer = t.user("observer").await;
        let mut rooms = Vec::new();
        for _ in 0..ROOMS {
            let r = t
                .post(&users[0][0], "/_matrix/client/v3/createRoom", json!({"preset": "public_chat"}))
                .await
                .ok();
            let room = r["room_id"].as_str().expect("room").to_string();
            for u in users.iter().skip(1).map(|d| &d[0]).chain([&observer]) {
                t.post(u, &format!("/_matrix/client/v3/rooms/{room}/join"), json!({})).await.ok();
            }
            rooms.push(room);
        }
        let since = t.get(&observer, "/_matrix/client/v3/sync").await.ok()["next_batch"]
            .as_str()
            .expect("token")
            .to_string();
        let n = USERS as usize;
        Driver {
            cfg,
            state: State::new(USERS, ROOMS),
            t,
            users,
            observer,
            rooms,
            delay_ids: Vec::new(),
            event_ids: HashMap::new(),
            sched_next: vec![None; n],
            fin_next: vec![None; n],
            sync_next: vec![None; n],
            observer_since: since,
            log: Vec::new(),
            _data_dir: data_dir,
        }
    }

    /// A user's first device, for requests without a transaction id.
    fn user(&self, u: UserId) -> &User {
        &self.users[u.0 as usize][0]
    }

    fn delayed_base(&self) -> &'static str {
        match self.cfg.prefix {
            Prefix::Stable => "/_matrix/client/v1/delayed_events",
            Prefix::Unstable => "/_matrix/client/unstable/org.matrix.msc4140/delayed_events",
        }
    }

    fn delay_query(&self, d: DelayParam) -> String {
        let key = match self.cfg.prefix {
            Prefix::Stable => "delay",
            Prefix::Unstable => "org.matrix.msc4140.delay",
        };
        let value = match d {
            DelayParam::Ms(ms) => ms.to_string(),
            DelayParam::NotAnInteger => "1.5".into(),
        };
        format!("{key}={value}")
    }

    fn server_delay_id(&self, d: DelayRef) -> String {
        match d {
            DelayRef::Issued(id) => self
                .delay_ids
                .get(id.0 as usize)
                .cloned()
                .unwrap_or_else(|| format!("{:032x}", 0xdead_0000 + id.0 as u128)),
            DelayRef::NeverIssued => "ffffffffffffffffffffffffffffffff".into(),
        }
    }

    /// Apply one operation to both; `Err` describes the first disagreement.
    pub async fn apply(&mut self, op: Op) -> Result<(), String> {
        if let Op::Advance { ms } = op {
            return self.advance(ms).await;
        }
        if let Op::ServerRestart { down_ms } = op {
            return self.server_restart(down_ms).await;
        }
        if let Op::AppserviceTransaction { acknowledged } = op {
            return self.appservice_transaction(acknowledged);
        }
        let Some((next, step)) = spec_model::spec::step(&self.cfg, &self.state, &op) else { return Ok(()) };
        let (status, body) = self.request(op).await?;
        let mut shown = body.to_string();
        if shown.len() > 300 {
            shown = format!("{}...", &shown[..shown.char_indices().nth(300).map_or(shown.len(), |(i, _)| i)]);
        }
        self.log.push(format!("{op:?} -> {status} {shown}"));
        let effects = self.observe().await?;
        self.check_effects(&step, &effects)?;
        self.state = next;
        self.check_reply(op, &step, status, &body)
    }

    /// PER-1..3: the server goes down for `down_ms` and comes back on its data directory; what
    /// it sends at startup must be what the model sends, in the same order.
    async fn server_restart(&mut self, down_ms: u64) -> Result<(), String> {
        let Some((next, step)) =
            spec_model::spec::step(&self.cfg, &self.state, &Op::ServerRestart { down_ms })
        else {
            return Ok(());
        };
        if self.t.engine.store().is_none() {
            return Err("a server restart needs a persistent server (Driver::start with persistent)".into());
        }
        self.t.restart(down_ms, Default::default()).await?;
        self.log.push(format!("ServerRestart {{ down_ms: {down_ms} }}"));
        let effects = self.observe().await?;
        self.check_effects(&step, &effects)?;
        self.state = next;
        Ok(())
    }

    /// PSH-4: the server's next transaction to the application service must carry what the
    /// model's does (room events aside: they are not the model's business, and a transaction of
    /// nothing else is acknowledged as soon as it is taken).
    fn appservice_transaction(&mut self, acknowledged: bool) -> Result<(), String> {
        let engine = self.t.engine.clone();
        let taken = loop {
            match engine.appservice_transaction(0) {
                Some(t) if t.finalised.is_empty() && t.attempt == 0 => {
                    engine.appservice_acknowledge(0, &t.txn_id);
                }
                other => break other,
            }
        };
        let op = Op::AppserviceTransaction { acknowledged };
        let model = spec_model::spec::step(&self.cfg, &self.state, &op)
            .filter(|(_, step)| matches!(step.reply, Reply::Transaction { .. }));
        let shown = taken.as_ref().map(|t| {
            let ids: Vec<String> =
                t.finalised.iter().map(|f| self.name(&f.delayed.delay_id.to_string())).collect();
            format!("{} (attempt {}) {ids:?}", t.txn_id, t.attempt)
        });
        self.log.push(format!("{op:?} -> {}", shown.as_deref().unwrap_or("no transaction")));
        match (model, taken) {
            (None, None) => Ok(()),
            (None, Some(t)) => Err(format!(
                "{op:?}: the model owes the service nothing, the server sends {}",
                self.transaction_body(&t)
            )),
            (Some((_, step)), None) => Err(format!(
                "{op:?}: the model sends {}, the server has no transaction",
                spec_model::render::body(&self.cfg, &step.reply)
            )),
            (Some((next, step)), Some(t)) => {
                let Reply::Transaction { retry, .. } = step.reply else { return Err("unreachable".into()) };
                let mut want = spec_model::render::body(&self.cfg, &step.reply);
                let mut got = self.transaction_body(&t);
                scrub(&mut want);
                scrub(&mut got);
                if want != got || retry != (t.attempt > 0) {
                    return Err(format!(
                        "{op:?}: the model sends {want} (retry: {retry}), the server {got} (attempt {})",
                        t.attempt
                    ));
                }
                if acknowledged {
                    engine.appservice_acknowledge(0, &t.txn_id);
                }
                self.state = next;
                Ok(())
            }
        }
    }

    /// A transaction's body as the model renders it: no room events, the model's key only.
    fn transaction_body(&self, t: &reference_server::appservice::outbox::Transaction) -> Value {
        let body = reference_server::appservice::sender::body(t, self.t.engine.settings.sync_keys);
        let key = spec_model::render::finalised_events_key(self.cfg.prefix);
        let mut m = Map::new();
        m.insert("events".into(), json!([]));
        if let Some(v) = body.get(key) {
            m.insert(key.into(), v.clone());
        }
        self.normalise(Value::Object(m))
    }

    /// Time passes: due events fire in the model exactly when the server's timers fire them.
    async fn advance(&mut self, ms: u64) -> Result<(), String> {
        let target = self.state.now + ms;
        loop {
            let due = self
                .state
                .delayed
                .iter()
                .filter(|d| d.is_scheduled())
                .map(|d| d.due())
                .filter(|&d| d <= target)
                .min();
            let until = due.unwrap_or(target);
            let mut expected = Vec::new();
            if until > self.state.now {
                let (next, _) = spec_model::spec::step(
                    &self.cfg,
                    &self.state,
                    &Op::Advance { ms: until - self.state.now },
                )
                .ok_or("the model refused to advance")?;
                self.state = next;
            }
            if due.is_some() {
                let ready: Vec<DelayId> = self
                    .state
                    .ids()
                    .filter(|id| {
                        self.state.delayed[id.0 as usize].is_scheduled()
                            && self.state.delayed[id.0 as usize].due() <= until
                    })
                    .collect();
                for id in ready {
                    // An earlier one may have cancelled it (SRV-4: same slot, other sender).
                    if !self.state.delayed[id.0 as usize].is_scheduled() {
                        continue;
                    }
                    let (next, step) =
                        spec_model::spec::step(&self.cfg, &self.state, &Op::Fire { delay: id })
                            .ok_or("the model refused to fire")?;
                    self.state = next;
                    expected.extend(step.effects);
                }
            }
            let now = self.t.now() - EPOCH;
            self.t.sleep(until - now).await;
            self.log.push(format!("Advance to {until} ms"));
            let effects = self.observe().await?;
            self.check_effects(&Step { reply: Reply::Internal, effects: expected }, &effects)?;
            if due.is_none() || until == target {
                return Ok(());
            }
        }
    }

    fn merged(&self) -> bool {
        self.cfg.revision == Revision::Rev2026_07_10
    }

    /// SCH-12, MGT-11, LKP-1, LKP-4, DSC-4: the merged revision's requests; `None` for those it
    /// shares with the seed revision.
    async fn merged_request(&self, op: Op) -> Option<Result<crate::harness::Resp, String>> {
        let t = &self.t;
        let rooms_base = match self.cfg.prefix {
            Prefix::Stable => "/_matrix/client/v3",
            Prefix::Unstable => "/_matrix/client/unstable/org.matrix.msc4140",
        };
        Some(Ok(match op {
            Op::Schedule { user, device, room, kind, content: c, delay, txn } => {
                let Some(txn) = txn else {
                    return Some(Err("the merged endpoint needs a transaction id".into()));
                };
                let u = &self.users[user.0 as usize][device.0 as usize];
                let path = format!(
                    "{rooms_base}/rooms/{}/delayed_event/{}/{txn}",
                    self.rooms[room.0 as usize],
                    kind.event_type.as_str()
                );
                let mut body = json!({ "content": content(c) });
                body["delay_ms"] = match delay {
                    DelayParam::Ms(ms) => json!(ms),
                    DelayParam::NotAnInteger => json!(1.5),
                };
                if let Some(k) = kind.state_key {
                    body["state_key"] = json!(state_key(k));
                }
                t.put(u, &path, body).await
            }
            Op::Manage { user, delay, action } => {
                let base = format!("{}/{}", self.delayed_base(), self.server_delay_id(delay));
                let path = match action {
                    Action::Missing => base,
                    Action::Other => format!("{base}/bogus"),
                    other => format!("{base}/{}", other.as_str()),
                };
                t.post(self.user(user), &path, json!({})).await
            }
            Op::Lookup { user, delay } => {
                t.get(self.user(user), &format!("{}/{}", self.delayed_base(), self.server_delay_id(delay)))
                    .await
            }
            Op::ListScheduledBare { user } => t.get(self.user(user), self.delayed_base()).await,
            Op::Capabilities { user } => t.get(self.user(user), "/_matrix/client/v3/capabilities").await,
            _ => return None,
        }))
    }

    async fn request(&mut self, op: Op) -> Result<(u16, Value), String> {
        let merged = if self.merged() { self.merged_request(op).await } else { None };
        let t = &self.t;
        let r = match (merged, op) {
            (Some(r), _) => r?,
            (None, op) => match op {
                Op::Schedule { user, device, room, kind, content: c, delay, txn } => {
                    let u = &self.users[user.0 as usize][device.0 as usize];
                    let room = &self.rooms[room.0 as usize];
                    let path = match (kind.state_key, txn) {
                        (Some(k), _) => format!(
                            "/_matrix/client/v3/rooms/{room}/state/{}/{}",
                            kind.event_type.as_str(),
                            state_key(k)
                        ),
                        (None, Some(txn)) => {
                            format!("/_matrix/client/v3/rooms/{room}/send/{}/{txn}", kind.event_type.as_str())
                        }
                        (None, None) => return Err("a message without a transaction id".into()),
                    };
                    t.put(u, &format!("{path}?{}", self.delay_query(delay)), content(c)).await
                }
                Op::Manage { user, delay, action } => {
                    let path = format!("{}/{}", self.delayed_base(), self.server_delay_id(delay));
                    let body = match action {
                        Action::Missing => json!({}),
                        other => json!({ "action": other.as_str() }),
                    };
                    t.post(self.user(user), &path, body).await
                }
                Op::SendMessage { user, device, room, content: c, txn } => {
                    let path = format!(
                        "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
                        self.rooms[room.0 as usize]
                    );
                    t.put(&self.users[user.0 as usize][device.0 as usize], &path, content(c)).await
                }
                Op::SendState { user, room, kind, content: c } => {
                    let key = kind.state_key.map(state_key).unwrap_or_default();
                    let path = format!(
                        "/_matrix/client/v3/rooms/{}/state/{}/{key}",
                        self.rooms[room.0 as usize],
                        kind.event_type.as_str()
                    );
                    t.put(self.user(user), &path, content(c)).await
                }
                Op::SetPower { user, room, change } => {
                    let path = format!(
                        "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
                        self.rooms[room.0 as usize]
                    );
                    let current = t.get(&self.observer, &path).await.ok();
                    t.put(self.user(user), &path, apply_change(current, change)).await
                }
                Op::Join { user, room } => {
                    t.post(
                        self.user(user),
                        &format!("/_matrix/client/v3/rooms/{}/join", self.rooms[room.0 as usize]),
                        json!({}),
                    )
                    .await
                }
                Op::Leave { user, room } => {
                    t.post(
                        self.user(user),
                        &format!("/_matrix/client/v3/rooms/{}/leave", self.rooms[room.0 as usize]),
                        json!({}),
                    )
                    .await
                }
                Op::ListScheduled { user, from } => {
                    let q = from_query(from, &self.sched_next[user.0 as usize]);
                    t.get(self.user(user), &format!("{}/scheduled{q}", self.delayed_base())).await
                }
                Op::ListScheduledBare { user } => {
                    t.get(self.user(user), "/_matrix/client/unstable/org.matrix.msc4140/delayed_events").await
                }
                Op::Lookup { .. } | Op::Capabilities { .. } | Op::ServerRestart { .. } => {
                    return Err(format!(
                        "{op:?} is the merged revision's; this harness drives the seed revision"
                    ))
                }
                Op::AppserviceTransaction { .. } => {
                    return Err("taken by Driver::appservice_transaction".into())
                }
                Op::ListFinalised { user, from } => {
                    let q = from_query(from, &self.fin_next[user.0 as usize]);
                    t.get(self.user(user), &format!("{}/finalised{q}", self.delayed_base())).await
                }
                Op::Sync { user, initial, include_finalised } => {
                    let mut q = Vec::new();
                    if !initial {
                        q.push(format!(
                            "since={}",
                            self.sync_next[user.0 as usize].clone().unwrap_or_default()
                        ));
                    }
                    if !include_finalised {
                        let f = json!({ spec_model::render::finalised_events_key(self.cfg.prefix): false })
                            .to_string();
                        q.push(format!(
                            "filter={}",
                            form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
                        ));
                    }
                    t.get(self.user(user), &format!("/_matrix/client/v3/sync?{}", q.join("&"))).await
                }
                Op::Advance { .. } | Op::Fire { .. } | Op::Discard { .. } | Op::Drain => {
                    return Err("internal step".into())
                }
            },
        };
        // Remember what the server issued, keyed by the model's names.
        let body = r.body;
        match op {
            Op::Schedule { .. } => {
                if let Some(id) = body["delay_id"].as_str() {
                    if !self.delay_ids.contains(&id.to_string()) {
                        self.delay_ids.push(id.to_string());
                    }
                }
            }
            Op::ListScheduled { user, .. } if r.status == 200 => {
                self.sched_next[user.0 as usize] = body["next_batch"].as_str().map(String::from)
            }
            Op::ListFinalised { user, .. } if r.status == 200 => {
                self.fin_next[user.0 as usize] = body["next_batch"].as_str().map(String::from)
            }
            Op::Sync { user, .. } if r.status == 200 => {
                self.sync_next[user.0 as usize] = body["next_batch"].as_str().map(String::from)
            }
            _ => {}
        }
        Ok((r.status, body))
    }

    /// Events that entered the rooms since the last look, per room, oldest first.
    async fn observe(&mut self) -> Result<Vec<Vec<Value>>, String> {
        let filter =
            form_urlencoded::byte_serialize(br#"{"room":{"timeline":{"limit":500}}}"#).collect::<String>();
        let path = format!("/_matrix/client/v3/sync?since={}&filter={filter}", self.observer_since);
        let s = self.t.get(&self.observer, &path).await.ok();
        self.observer_since = s["next_batch"].as_str().ok_or("no next_batch")?.to_string();
        Ok(self
            .rooms
            .iter()
            .map(|r| s["rooms"]["join"][r]["timeline"]["events"].as_array().cloned().unwrap_or_default())
            .collect())
    }

    fn check_effects(&mut self, step: &Step, seen: &[Vec<Value>]) -> Result<(), String> {
        for (r, events) in seen.iter().enumerate() {
            let expected: Vec<_> = step.effects.iter().filter(|e| e.room == RoomId(r as u8)).collect();
            if expected.len() != events.len() {
                return Err(format!(
                    "room !r{r}: the model expects {} new events, the server shows {}: {events:?}",
                    expected.len(),
                    events.len()
                ));
            }
            for (m, s) in expected.iter().zip(events) {
                let sid = s["event_id"].as_str().unwrap_or_default().to_string();
                self.event_ids.insert(sid, m.event_id.to_string());
                let got = (
                    s["sender"].as_str().map(String::from),
                    s["type"].as_str().map(String::from),
                    s["state_key"].as_str().map(String::from),
                    s["origin_server_ts"].as_u64().map(|ts| ts - EPOCH),
                );
                let want = (
                    Some(server_user(m.sender)),
                    Some(m.kind.event_type.as_str().to_string()),
                    m.kind.state_key.map(state_key),
                    Some(m.origin_server_ts),
                );
                if got != want {
                    return Err(format!("room !r{r}: expected event {want:?}, server sent {got:?}"));
                }
                if let Some(c) = m.content {
                    if s["content"] != content(c) {
                        return Err(format!(
                            "room !r{r}: content {} instead of {}",
                            s["content"],
                            content(c)
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_reply(&self, op: Op, step: &Step, status: u16, body: &Value) -> Result<(), String> {
        let mut want = spec_model::render::body(&self.cfg, &step.reply);
        let mut got = self.normalise(body.clone());
        if let Op::Sync { .. } = op {
            // Only the MSC4140 part of /sync is the model's business.
            let key = spec_model::render::finalised_events_key(self.cfg.prefix);
            let mut m = Map::new();
            for k in ["next_batch", key] {
                if let Some(v) = got.get(k) {
                    m.insert(k.into(), v.clone());
                }
            }
            got = Value::Object(m);
        }
        if let (Op::Capabilities { .. }, 200) = (op, status) {
            // Only the delayed-event capability under the model's name is the model's business.
            let mut m = Map::new();
            if let Some(want) = want["capabilities"].as_object() {
                for k in want.keys() {
                    m.insert(k.clone(), got["capabilities"][k].clone());
                }
            }
            got = json!({ "capabilities": m });
        }
        scrub(&mut want);
        scrub(&mut got);
        if status != step.reply.status() || want != got {
            return Err(format!(
                "{op:?}: the model says {} {want}, the server answered {status} {got}",
                step.reply.status()
            ));
        }
        Ok(())
    }

    /// Server ids and timestamps -> the model's.
    fn normalise(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.name(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.normalise(x)).collect()),
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| {
                        let v = match (k.as_str(), &v) {
                            (
                                "running_since" | "origin_server_ts" | "scheduled_at" | "finalised_ts",
                                Value::Number(n),
                            ) => {
                                json!(n.as_u64().unwrap_or(0).saturating_sub(EPOCH))
                            }
                            _ => self.normalise(v),
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    fn name(&self, s: &str) -> String {
        if let Some(i) = self.delay_ids.iter().position(|d| d == s) {
            return format!("d{i}");
        }
        if let Some(i) = self.rooms.iter().position(|r| r == s) {
            return format!("!r{i}");
        }
        if let Some(e) = self.event_ids.get(s) {
            return e.clone();
        }
        s.strip_suffix(":localhost")
            .filter(|u| u.starts_with("@u"))
            .map_or_else(|| s.to_string(), String::from)
    }
}

fn from_query(from: From, token: &Option<String>) -> String {
    match (from, token) {
        (From::LastNextBatch, Some(t)) => format!("?from={t}"),
        _ => String::new(),
    }
}

/// Tokens are compared by presence, error messages not at all (the model has its own wording).
fn scrub(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key("errcode") {
                m.remove("error");
            }
            if m.contains_key("next_batch") {
                m.insert("next_batch".into(), json!("<token>"));
            }
            m.values_mut().for_each(scrub);
        }
        Value::Array(a) => a.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// The server's current power-levels content with one change applied, as a client would send it.
fn apply_change(mut current: Value, change: PowerChange) -> Value {
    let Some(m) = current.as_object_mut() else { return current };
    match change {
        PowerChange::User(u, l) => {
            m.entry("users").or_insert_with(|| json!({}))[server_user(u)] = json!(l);
        }
        PowerChange::Event(t, l) => {
            m.entry("events").or_insert_with(|| json!({}))[t.as_str()] = json!(l);
        }
        PowerChange::EventsDefault(l) => {
            m.insert("events_default".into(), json!(l));
        }
        PowerChange::StateDefault(l) => {
            m.insert("state_default".into(), json!(l));
        }
        PowerChange::UsersDefault(l) => {
            m.insert("users_default".into(), json!(l));
        }
    }
    current
}

/// Run `ops` on a fresh model and a correct server (seed revision); the first disagreement, with
/// the steps.
pub fn run(prefix: Prefix, ops: &[Op]) -> Result<(), String> {
    run_tweaked(Revision::Rev2025_07_09, prefix, |_| {}, ops)
}

/// The same in `revision`.
pub fn run_in(revision: Revision, prefix: Prefix, ops: &[Op]) -> Result<(), String> {
    run_tweaked(revision, prefix, |_| {}, ops)
}

/// The same against a server with deliberate bugs.
#[cfg(feature = "faults")]
pub fn run_with(prefix: Prefix, faults: reference_server::faults::Faults, ops: &[Op]) -> Result<(), String> {
    run_tweaked(Revision::Rev2025_07_09, prefix, |s| s.faults = faults, ops)
}

/// The same in `revision`.
#[cfg(feature = "faults")]
pub fn run_in_with(
    revision: Revision,
    prefix: Prefix,
    faults: reference_server::faults::Faults,
    ops: &[Op],
) -> Result<(), String> {
    run_tweaked(revision, prefix, |s| s.faults = faults, ops)
}

/// Run `ops` (server restarts among them) on a model and a server on a fresh data directory.
pub fn run_persistent(cfg: Config, ops: &[Op]) -> Result<(), String> {
    run_driver(cfg, |_| {}, true, ops)
}

fn run_tweaked(
    revision: Revision,
    prefix: Prefix,
    tweak: impl FnOnce(&mut Settings),
    ops: &[Op],
) -> Result<(), String> {
    run_driver(config_in(revision, prefix), tweak, false, ops)
}

fn run_driver(
    cfg: Config,
    tweak: impl FnOnce(&mut Settings),
    persistent: bool,
    ops: &[Op],
) -> Result<(), String> {
    let prefix = cfg.prefix;
    crate::harness::on_virtual_time(async {
        let mut d = Driver::start(cfg, tweak, persistent).await;
        for op in ops {
            if let Err(e) = d.apply(*op).await {
                return Err(format!("{e}\n\nsteps ({prefix:?} prefix):\n  {}", d.log.join("\n  ")));
            }
        }
        // Liveness: once clients stop, everything scheduled is finalised.
        if let Err(e) = d.apply(Op::Advance { ms: MAX_DELAY as u64 + 1 }).await {
            return Err(format!("{e}\n\nsteps ({prefix:?} prefix):\n  {}", d.log.join("\n  ")));
        }
        if d.state.delayed.iter().any(|x| x.is_scheduled()) || d.t.engine.live_delayed() != 0 {
            return Err("events still scheduled after every due time passed".into());
        }
        d.t.engine.check_invariants()
    })
}
