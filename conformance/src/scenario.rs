//! One scenario against the server: fresh rooms (and users, when registering), the model's
//! operations translated to HTTP, every answer judged by `lockstep`, timers awaited with sound
//! deadlines, and at the end every delayed event driven to its finalisation and timed (`timing`).

use crate::client::{Answer, Request};
use crate::context::Context;
use crate::lockstep::{Judge, Observation};
use crate::names::{real_content, Names};
use crate::outcome::{CheckInfo, CheckResult, Clause, Verdict};
use crate::provision::User;
use crate::timing::{self, Arm};
use serde_json::{json, Value};
use spec_model::op::{DelayParam, DelayRef, From as ListFrom, Op};
use spec_model::power::PowerChange;
use spec_model::state::Status;
use spec_model::types::{Action, ContentId, DelayId, EventKind, EventType, Outcome, RoomId, UserId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Why a scenario stopped early.
pub enum Stop {
    /// The server broke a requirement (the message says how).
    Fail(String),
    /// The suite could not go on (transport, setup).
    Error(String),
    /// What the scenario needs could not happen on this server, for a reason that is not a
    /// failure (a rate limit the suite cannot wait out, a choice the text leaves open).
    NotApplicable(String),
}

impl Stop {
    /// The result of a check that stopped here.
    pub fn result(self, info: &CheckInfo, millis: u64) -> CheckResult {
        match self {
            Stop::Fail(m) => info.result(Verdict::Fail, m, millis),
            Stop::Error(m) => info.result(Verdict::Error, m, millis),
            Stop::NotApplicable(m) => info.result(Verdict::NotApplicable, m, millis),
        }
    }
}

impl From<crate::client::TransportError> for Stop {
    fn from(e: crate::client::TransportError) -> Self {
        Stop::Error(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Stop>;

pub struct Scenario<'a> {
    pub ctx: &'a Context,
    pub names: Names,
    pub judge: Judge,
    pub arms: BTreeMap<DelayId, Arm>,
    /// Real `next_batch` tokens per (model user, list) and `/sync` tokens per model user.
    next_batch: BTreeMap<(u8, &'static str), String>,
    since: BTreeMap<u8, String>,
    /// The first finalised item the server showed for each id, and when that answer ended.
    pub finalised_seen: BTreeMap<DelayId, (Value, u64)>,
    /// Notes for the report (e.g. a step the server made pointless).
    pub notes: Vec<String>,
    /// Ordinary sends that succeeded: (sender, kind, content).
    ordinary: Vec<(UserId, EventKind, ContentId)>,
    /// The clauses this scenario observed (see `outcome::Clause`).
    pub seen: BTreeSet<Clause>,
    /// A failure the scenario went on past, to judge the rest (the rooms) too: reported at the
    /// end unless a stricter one comes first.
    pub deferred: Option<String>,
    /// The command a restart in the scenario uses (else the crash when given, else the stop).
    pub restart_with: Option<crate::restart::How>,
}

impl<'a> Scenario<'a> {
    /// Users (the first creates every room) and rooms every user has joined: the model's start.
    pub async fn setup(ctx: &'a Context, users: u8, rooms: u8, tag: &str) -> Result<Scenario<'a>> {
        Self::setup_with_guests(ctx, users, rooms, tag, &[]).await
    }

    /// The same with the model users `guests` guest accounts (SCH-21); rooms then admit guests.
    pub async fn setup_with_guests(
        ctx: &'a Context,
        users: u8,
        rooms: u8,
        tag: &str,
        guests: &[UserId],
    ) -> Result<Scenario<'a>> {
        let mut people = ctx.source.take(&ctx.client, users as usize).await.map_err(Stop::Error)?;
        for g in guests {
            match crate::provision::guest(&ctx.client).await {
                Ok(guest) => {
                    if let Some(slot) = people.get_mut(g.0 as usize) {
                        ctx.source.release(std::slice::from_ref(slot));
                        *slot = guest;
                    }
                }
                Err(e) => {
                    ctx.source.release(&people);
                    return Err(Stop::NotApplicable(format!("SCH-21 needs a guest account: {e}")));
                }
            }
        }
        let room_ids = match Self::rooms(ctx, &people, rooms, tag, !guests.is_empty()).await {
            Ok(r) => r,
            Err(e) => {
                ctx.source.release(&people);
                return Err(e);
            }
        };
        let txn_prefix = format!("{}-{tag}-", ctx.run_id);
        Ok(Scenario {
            ctx,
            names: Names::new(people, room_ids, txn_prefix),
            judge: Judge::new(ctx.model_config(), users, rooms, ctx.opts.strict)
                .forgetting_if(ctx.opts.retention_ms == 0)
                .reusing_users(ctx.source.reuses_users()),
            arms: BTreeMap::new(),
            next_batch: BTreeMap::new(),
            since: BTreeMap::new(),
            finalised_seen: BTreeMap::new(),
            notes: Vec::new(),
            ordinary: Vec::new(),
            seen: BTreeSet::new(),
            deferred: None,
            restart_with: None,
        })
    }

    /// Rooms created by the first user, joined by the others.
    async fn rooms(
        ctx: &Context,
        people: &[User],
        rooms: u8,
        tag: &str,
        guests: bool,
    ) -> Result<Vec<String>> {
        let mut room_ids = Vec::new();
        for r in 0..rooms {
            let mut body =
                json!({"preset": "public_chat", "name": format!("msc4140 conformance {tag} r{r}")});
            if guests {
                let access = json!({"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "can_join"}});
                body["initial_state"] = json!([access]);
            }
            let a = ctx
                .client
                .call(&Request::post("/_matrix/client/v3/createRoom", body).auth(&people[0].access_token))
                .await?;
            let Some(id) = a.body.get("room_id").and_then(Value::as_str) else {
                return Err(Stop::Error(format!("createRoom failed: {}", a.short())));
            };
            for u in &people[1..] {
                let path = format!("/_matrix/client/v3/rooms/{}/join", crate::client::segment(id));
                let j = ctx.client.call(&Request::post(path, json!({})).auth(&u.access_token)).await?;
                if j.status != 200 {
                    return Err(Stop::Error(format!("join failed: {}", j.short())));
                }
            }
            room_ids.push(id.to_string());
        }
        Ok(room_ids)
    }

    /// How many sends (delayed ones reported sent, ordinary ones answered 200) could have put an
    /// event from `sender` of `kind` with `content` in a room.
    pub fn possible_senders(&self, sender: UserId, kind: EventKind, content: ContentId) -> usize {
        let delayed = self
            .finalised_seen
            .iter()
            .filter(|(id, (item, _))| {
                item.get("outcome").and_then(Value::as_str) == Some("send")
                    && self
                        .judge
                        .any()
                        .record(**id)
                        .is_some_and(|d| d.owner == sender && d.kind == kind && d.content == content)
            })
            .count();
        delayed + self.ordinary.iter().filter(|o| **o == (sender, kind, content)).count()
    }

    /// Cancel whatever this scenario may have left scheduled (best effort: a scenario that stopped
    /// at a failure must not leave reused users at their outstanding limit), then give the
    /// users back.
    pub async fn release(&self) {
        for id in self.judge.any().ids() {
            if self.judge.finalised(id) == Some(true) {
                continue;
            }
            let (Some(real), Some(owner)) = (
                self.names.real_delay(id),
                self.judge.any().record(id).and_then(|d| self.names.users.get(d.owner.0 as usize)),
            ) else {
                continue;
            };
            let req = crate::checks::control::manage(&self.ctx.surface, real, "cancel", &owner.access_token);
            let _ = self.ctx.client.send(&req).await;
        }
        self.ctx.source.release(&self.names.users);
    }

    fn user(&self, u: UserId) -> Result<&User> {
        self.names.users.get(u.0 as usize).ok_or_else(|| Stop::Error(format!("no user {u}")))
    }

    /// The HTTP request for a client operation, in the server's names.
    pub async fn request(&self, op: &Op) -> Result<Option<Request>> {
        let cfg = self.judge.config();
        let model = spec_model::render::request(cfg, op);
        if model.is_null() {
            return Ok(None);
        }
        if model.get("device").is_some() {
            // The suite logs each user in once; a trace on another device would need a second login.
            return Err(Stop::Error(
                "the trace uses a second device of a user, which the suite does not log in".into(),
            ));
        }
        let as_user = model["as"]
            .as_str()
            .and_then(|u| self.names.user(u))
            .ok_or_else(|| Stop::Error("bad user".into()))?;
        let method = match model["method"].as_str() {
            Some("PUT") => reqwest::Method::PUT,
            Some("POST") => reqwest::Method::POST,
            _ => reqwest::Method::GET,
        };
        let path =
            format!("/_matrix/client{}", self.names.real_path(model["path"].as_str().unwrap_or_default()));
        let mut req = Request::new(method, path).auth(&as_user.access_token);
        if let Some(q) = model["query"].as_object() {
            for (k, v) in q {
                let v = v.as_str().unwrap_or_default();
                let user = op.user().map_or(0, |u| u.0);
                let v = match v {
                    "$next_batch" => {
                        let list =
                            if matches!(op, Op::ListFinalised { .. }) { "finalised" } else { "scheduled" };
                        match self.next_batch.get(&(user, list)) {
                            Some(t) => t.clone(),
                            None => return Ok(None),
                        }
                    }
                    "$since" => match self.since.get(&user) {
                        Some(t) => t.clone(),
                        None => return Ok(None),
                    },
                    other => other.to_string(),
                };
                req = req.query(k, v);
            }
        }
        if matches!(op, Op::Sync { .. }) {
            req = req.query("timeout", "0");
        }
        req.body = match op {
            Op::SetPower { user, room, change } => {
                Some(crate::client::Body::Json(self.power_levels(*user, *room, *change).await?))
            }
            // SCH-13: the merged revision carries the content inside the body.
            Op::Schedule { kind, content, .. } if self.ctx.merged() => {
                let mut body = model["body"].clone();
                body["content"] = real_content(kind.event_type, *content);
                Some(crate::client::Body::Json(body))
            }
            Op::Schedule { kind, content, .. } => {
                Some(crate::client::Body::Json(real_content(kind.event_type, *content)))
            }
            Op::SendMessage { content, .. } => {
                Some(crate::client::Body::Json(real_content(EventType::RoomMessage, *content)))
            }
            _ if model["body"].is_null() => None,
            _ => Some(crate::client::Body::Json(model["body"].clone())),
        };
        Ok(Some(req))
    }

    /// The room's current power levels with the model's change applied.
    async fn power_levels(&self, user: UserId, room: RoomId, change: PowerChange) -> Result<Value> {
        let room_id = self.names.rooms.get(room.0 as usize).ok_or_else(|| Stop::Error("no room".into()))?;
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
            crate::client::segment(room_id)
        );
        let a = self.ctx.client.call(&Request::get(path).auth(&self.user(user)?.access_token)).await?;
        let mut pl = a.body;
        if !pl.is_object() {
            return Err(Stop::Error(format!("reading power levels: {}", a.status)));
        }
        match change {
            PowerChange::User(u, level) => pl["users"][&self.user(u)?.user_id] = json!(level),
            PowerChange::Event(t, level) => pl["events"][t.as_str()] = json!(level),
            PowerChange::EventsDefault(level) => pl["events_default"] = json!(level),
            PowerChange::StateDefault(level) => pl["state_default"] = json!(level),
            PowerChange::UsersDefault(level) => pl["users_default"] = json!(level),
        }
        Ok(pl)
    }

    /// PER-1..3: take the server down (for about `down_ms`) and up with `how`'s command, then go
    /// on judging from the model's restart (what it sent at startup is judged on the rooms like
    /// any firing).
    pub async fn server_restart(&mut self, how: crate::restart::How, down_ms: u64) -> Result<()> {
        let seen = crate::restart::down_and_up(self.ctx, how, down_ms).await.map_err(Stop::Error)?;
        let Some(d) = seen else {
            return Err(Stop::NotApplicable(format!(
                "no /versions poll found the server down while {} ran: keep it down for $MSC4140_DOWN_MS ms",
                how.flag()
            )));
        };
        let (fired, kept) = self.judge.server_restart(d.down_by, d.up_by).map_err(Stop::Error)?;
        if kept >= 1 {
            self.seen.insert(Clause::Restart);
        }
        if fired >= 2 {
            self.seen.insert(Clause::Startup);
        }
        self.notes.push(format!(
            "{} (asked for {down_ms} ms down): seen down {} ms and serving again {} ms after it started; {fired} sent at startup, {kept} still scheduled{}",
            how.flag(),
            d.down_by - d.started,
            d.up_by - d.started,
            if kept == 0 { " (a slower restart than the trace's needs a larger --time-scale)" } else { "" }
        ));
        Ok(())
    }

    /// Run one client operation and judge the answer. `Ok(None)` when it could not be sent (a
    /// token the server never gave because it returned everything in one page).
    pub async fn client_op(&mut self, op: &Op) -> Result<Option<Answer>> {
        let Some(req) = self.request(op).await? else {
            self.notes.push(format!("skipped {}: the server gave no token for it", op_name(op)));
            return Ok(None);
        };
        let answer = self.send_waiting_out_rate_limits(op, &req).await?;
        if let (Op::Schedule { .. }, 200, Some(real)) =
            (op, answer.status, answer.body.get("delay_id").and_then(Value::as_str))
        {
            if self.names.delay_of(real).is_none() {
                self.names.bind_delay(DelayId(self.judge.any().delayed.len() as u16), real);
            }
        }
        self.rate_limited(op, &req, &answer)?;
        let seen =
            Observation { status: answer.status, body: &answer.body, start: answer.start, end: answer.end };
        let judged = self.judge.observe(op, &seen, &self.names);
        if self.ctx.opts.verbose {
            eprintln!(
                "{} {} -> {} [{}]",
                req.method,
                req.path,
                answer.short(),
                judged.as_ref().err().map_or("allowed", |e| e.as_str())
            );
        }
        if let Err(why) = judged {
            let what = format!("{} {} answered {}", req.method, req.path, answer.short());
            // A server that forgets finalised events at once answers 404 to management where the
            // model expects 200 or 409: that is MGT-8 under the declared retention, whatever the
            // trace is about. The scenario goes on under that explanation, so that an event sent
            // twice still fails SRV-8 (judged on the rooms at the end) at its own level.
            let mut forgetful = self.judge.forgetting();
            let forgetting_explains =
                !self.judge.forget_any && forgetful.observe(op, &seen, &self.names).is_ok();
            let retention = self.ctx.opts.retention_ms;
            if forgetting_explains && matches!(op, Op::Manage { .. }) {
                self.deferred.get_or_insert(format!(
                    "MGT-8: {what}, which the model allows only if finalised events are forgotten at once (not declared: --retention-ms {retention})"
                ));
                self.judge = forgetful;
                self.after(op, &answer);
                return Ok(Some(answer));
            }
            let hint = if forgetting_explains {
                format!(" (it would be allowed if the server forgot finalised events at once, --retention-ms {retention})")
            } else {
                String::new()
            };
            let limit = if self.at_outstanding_limit(op) {
                // The answer at the declared limit has its own shape, a MUST wherever a limit is.
                match self.ctx.surface.prefix {
                    _ if self.ctx.merged() => "SCH-16: at the outstanding limit, ",
                    spec_model::types::Prefix::Unstable => "SCH-7/UNS-3: at the declared outstanding limit, ",
                    spec_model::types::Prefix::Stable => "SCH-7: at the declared outstanding limit, ",
                }
            } else {
                ""
            };
            return Err(Stop::Fail(format!("{}{limit}{what}; {why}{hint}", self.unserved(op))));
        }
        self.seen.insert(Clause::Answer);
        self.after(op, &answer);
        Ok(Some(answer))
    }

    /// Send `req`, waiting out a short `429 M_LIMIT_EXCEEDED` (`retry_after_ms` up to 5 s, 30 s in
    /// all) as a client would, except at the declared outstanding limit: there the 429 is the
    /// answer to judge (waiting would let the user's next event fire and make room, which is how a
    /// server answering SCH-7 with a rate limit used to pass). A 429 that passes when retried is
    /// evidence that the server rate limits the request's class.
    async fn send_waiting_out_rate_limits(&self, op: &Op, req: &Request) -> Result<Answer> {
        let give_up = self.ctx.client.now() + 30_000;
        let mut answer = self.ctx.client.send(req).await?;
        let mut waited = false;
        while answer.status == 429
            && answer.errcode() == Some("M_LIMIT_EXCEEDED")
            && !self.at_outstanding_limit(op)
        {
            let wait = answer.body.get("retry_after_ms").and_then(Value::as_u64).unwrap_or(500).max(10);
            if wait > 5_000 || self.ctx.client.now() + wait > give_up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(wait)).await;
            waited = true;
            answer = self.ctx.client.send(req).await?;
        }
        if waited && answer.status != 429 {
            self.ctx.client.note_rate_limited(crate::client::rate_class(req));
        }
        Ok(answer)
    }

    /// Whether `op` schedules for a user at the declared outstanding limit (SCH-7) in some
    /// explanation of the history so far.
    fn at_outstanding_limit(&self, op: &Op) -> bool {
        match (op, self.ctx.max_outstanding()) {
            (Op::Schedule { user, .. }, Some(max)) => {
                self.judge.states().any(|st| st.scheduled_count(*user) >= max as usize)
            }
            _ => false,
        }
    }

    /// A failure of a request to an endpoint the server does not serve is that endpoint's
    /// requirement's failure, whatever the scenario is about (`LST-2: ...`).
    fn unserved(&self, op: &Op) -> &'static str {
        let l = self.ctx.lookups;
        match op {
            Op::ListScheduled { .. } if !l.scheduled => "LST-1: the scheduled lookup is not served: ",
            Op::ListFinalised { .. } if !l.finalised => "LST-2: the finalised lookup is not served: ",
            Op::ListScheduledBare { .. } if self.ctx.merged() && !l.list => "LKP-4: the list is not served: ",
            Op::ListScheduledBare { .. } if !self.ctx.merged() && !l.bare => {
                "LST-6: the bare unstable lookup is not served: "
            }
            Op::Sync { .. } if !l.sync => "PSH-1: `/sync` carries no finalised events: ",
            Op::Lookup { .. } if !l.single => "LKP-1: the single lookup is not served: ",
            _ => "",
        }
    }

    /// A 429 `M_LIMIT_EXCEEDED` the client could not wait out. It stands in for the model's answer
    /// only when the server was seen rate limiting this request class in this run (the check is
    /// then NOT-APPLICABLE: it cannot be completed); otherwise, and always at the declared
    /// outstanding limit (SCH-7/UNS-3 have their own shape), it is judged like any answer.
    fn rate_limited(&self, op: &Op, req: &Request, a: &Answer) -> Result<()> {
        if a.status != 429 || a.errcode() != Some("M_LIMIT_EXCEEDED") {
            return Ok(());
        }
        let at_limit = self.at_outstanding_limit(op);
        let class = crate::client::rate_class(req);
        if at_limit || !self.ctx.client.rate_limits(class) {
            return Ok(());
        }
        let retry = a.body.get("retry_after_ms").and_then(Value::as_u64).unwrap_or(0);
        Err(Stop::NotApplicable(format!(
            "the server rate limited this scenario's {class} requests (retry_after_ms {retry}, longer than the suite waits); it rate limits that class (seen in this run)"
        )))
    }

    /// Bookkeeping after an accepted answer: tokens, timer arms, finalised items seen.
    pub fn after(&mut self, op: &Op, a: &Answer) {
        match *op {
            Op::Schedule { delay: DelayParam::Ms(ms), .. } if a.status == 200 => {
                if let Some(id) =
                    a.body.get("delay_id").and_then(Value::as_str).and_then(|r| self.names.delay_of(r))
                {
                    self.arms.entry(id).or_insert(Arm { start: a.start, end: a.end, delay: ms as u64 });
                }
            }
            Op::Manage { delay: DelayRef::Issued(id), action: Action::Restart, .. } if a.status == 200 => {
                if let Some(arm) = self.arms.get_mut(&id) {
                    *arm = Arm { start: a.start, end: a.end, ..*arm };
                }
            }
            Op::ListScheduled { user, .. } | Op::ListFinalised { user, .. } => {
                let list = if matches!(op, Op::ListFinalised { .. }) { "finalised" } else { "scheduled" };
                match a.body.get("next_batch").and_then(Value::as_str) {
                    Some(t) => self.next_batch.insert((user.0, list), t.to_string()),
                    None => self.next_batch.remove(&(user.0, list)),
                };
            }
            Op::SendState { user, kind, content, .. } if a.status == 200 => {
                self.ordinary.push((user, kind, content))
            }
            Op::SendMessage { user, content, .. } if a.status == 200 => {
                self.ordinary.push((user, EventKind::message(), content))
            }
            Op::Sync { user, .. } => {
                if let Some(t) = a.body.get("next_batch").and_then(Value::as_str) {
                    self.since.insert(user.0, t.to_string());
                }
            }
            _ => {}
        }
        let items = match op {
            Op::ListFinalised { .. } => a.body.get("finalised").and_then(Value::as_array).cloned(),
            Op::Sync { .. } => {
                let v = a.body.get(self.ctx.surface.sync_key());
                v.and_then(|v| v.as_array().or_else(|| v.get("finalised").and_then(Value::as_array))).cloned()
            }
            _ => None,
        };
        for item in items.into_iter().flatten() {
            let real = item.pointer("/delayed_event/delay_id").and_then(Value::as_str);
            if let Some(id) = real.and_then(|r| self.names.delay_of(r)) {
                self.finalised_seen.entry(id).or_insert((item.clone(), a.end));
            }
        }
        if let (Op::Lookup { delay: DelayRef::Issued(id), .. }, 200) = (op, a.status) {
            if let Some(item) = timing::finalised_from_lookup(&a.body) {
                self.finalised_seen.entry(*id).or_insert((item, a.end));
            }
        }
    }

    /// Wait (polling the owner's finalised list) until `id` is finalised in every model candidate;
    /// fail once the poll started after the due time plus the lateness bound (SRV-1, SRV-9).
    pub async fn await_finalised(&mut self, id: DelayId) -> Result<()> {
        let Some(owner) = self.judge.any().record(id).map(|d| d.owner) else {
            return Err(Stop::Error(format!("{id} was never scheduled")));
        };
        let deadline = self.arms.get(&id).map(|a| a.deadline(self.ctx.opts.max_lateness_ms)).unwrap_or(0);
        let mut pause = 25;
        loop {
            if self.judge.finalised(id) == Some(true) {
                return Ok(());
            }
            let a = self.client_op(&self.poll_op(owner, id)?).await?;
            if self.judge.finalised(id) == Some(true) {
                return Ok(());
            }
            if a.is_some_and(|a| a.start > deadline) {
                return Err(Stop::Fail(format!(
                    "SRV-1/SRV-9: {id} was not finalised by its due time + {} ms (checked {} ms after the deadline)",
                    self.ctx.opts.max_lateness_ms,
                    self.ctx.client.now().saturating_sub(deadline)
                )));
            }
            tokio::time::sleep(Duration::from_millis(pause)).await;
            pause = (pause * 2).min(250);
        }
    }

    /// Follow every pagination the server left open (`next_batch` given) to its last page.
    pub async fn finish_walks(&mut self) -> Result<()> {
        let open: Vec<(u8, &'static str)> = self.next_batch.keys().copied().collect();
        for (user, list) in open {
            for _ in 0..100 {
                if !self.next_batch.contains_key(&(user, list)) {
                    break;
                }
                let from = ListFrom::LastNextBatch;
                let op = if list == "finalised" {
                    Op::ListFinalised { user: UserId(user), from }
                } else {
                    Op::ListScheduled { user: UserId(user), from }
                };
                self.client_op(&op).await?;
            }
        }
        Ok(())
    }

    /// The request that shows whether a timer fired: the finalised list when the server has one,
    /// else `/sync`'s finalised events, else a list of scheduled events (the event leaving it),
    /// the room telling the outcome.
    fn poll_op(&self, owner: UserId, id: DelayId) -> Result<Op> {
        let l = self.ctx.lookups;
        if self.ctx.merged() {
            // LKP-1: the merged revision looks the event itself up.
            if l.single {
                Ok(Op::Lookup { user: owner, delay: DelayRef::Issued(id) })
            } else {
                Err(Stop::Fail(
                    "LKP-1: the server serves no single lookup, so no timer can be observed".into(),
                ))
            }
        } else if l.finalised {
            Ok(Op::ListFinalised { user: owner, from: ListFrom::Start })
        } else if l.sync {
            Ok(Op::Sync { user: owner, initial: true, include_finalised: true })
        } else if l.scheduled {
            Ok(Op::ListScheduled { user: owner, from: ListFrom::Start })
        } else if l.bare {
            Ok(Op::ListScheduledBare { user: owner })
        } else {
            Err(Stop::Fail(
                "LST-1: the server serves no list of delayed events, so no timer can be observed".into(),
            ))
        }
    }

    /// Judge the rooms' timelines: for every (sender, type, state key, content) a delayed event of
    /// this scenario has, the room holds exactly as many events as the model sent plus the
    /// ordinary sends that succeeded (SRV-7: sent as scheduled; SRV-8: at most once).
    ///
    /// A server may finalise a record a moment before the event shows in the timeline, so a
    /// timeline the model cannot explain is read again until the lateness bound has passed.
    pub async fn observe_rooms(&mut self) -> Result<()> {
        let give_up = self.ctx.client.now() + self.ctx.opts.max_lateness_ms;
        let mut pause = 25;
        loop {
            match self.observe_rooms_once().await {
                Err(Stop::Fail(m)) if self.ctx.client.now() < give_up => {
                    let _ = m;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    pause = (pause * 2).min(500);
                }
                other => return other,
            }
        }
    }

    async fn observe_rooms_once(&mut self) -> Result<()> {
        for (r, room_id) in self.names.rooms.clone().iter().enumerate() {
            let room = RoomId(r as u8);
            let st = self.judge.any().clone();
            let Some(reader) =
                st.rooms[r].members.iter().next().and_then(|u| self.names.users.get(u.0 as usize))
            else {
                continue;
            };
            let path = format!("/_matrix/client/v3/rooms/{}/messages", crate::client::segment(room_id));
            let req = Request::get(path).query("dir", "b").query("limit", "500").auth(&reader.access_token);
            let a = self.ctx.client.call(&req).await?;
            let chunk = a.body.get("chunk").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut tuples: Vec<(UserId, EventKind, ContentId)> =
                st.delayed.iter().filter(|d| d.room == room).map(|d| (d.owner, d.kind, d.content)).collect();
            tuples.sort();
            tuples.dedup();
            let mut seen = Vec::new();
            if !tuples.is_empty() {
                self.seen.insert(Clause::Room);
            }
            for &(sender, kind, content) in &tuples {
                let sender_id =
                    self.names.users.get(sender.0 as usize).map(|u| u.user_id.clone()).unwrap_or_default();
                let key = kind.state_key.map(|k| Value::from(self.names.real_value(&k.to_string())));
                let want_content = real_content(kind.event_type, content);
                let n = chunk
                    .iter()
                    .filter(|e| {
                        e.get("type").and_then(Value::as_str) == Some(kind.event_type.as_str())
                            && e.get("sender").and_then(Value::as_str) == Some(sender_id.as_str())
                            && e.get("state_key").cloned() == key
                            && e.get("content") == Some(&want_content)
                    })
                    .count();
                let ordinary = self.ordinary.iter().filter(|o| **o == (sender, kind, content)).count();
                seen.push(((sender, kind, content), n, ordinary));
            }
            let explained = |st: &spec_model::State| {
                seen.iter().all(|&(t, n, ordinary)| {
                    let of =
                        |d: &&spec_model::state::Delayed| d.room == room && (d.owner, d.kind, d.content) == t;
                    let sent = st
                        .delayed
                        .iter()
                        .filter(of)
                        .filter(|d| {
                            d.finalisation()
                                .is_some_and(|f| f.outcome == Outcome::Send && f.event_id.is_some())
                        })
                        .count();
                    let unknown =
                        st.delayed.iter().filter(of).filter(|d| d.status == Status::Discarded).count();
                    (sent + ordinary..=sent + ordinary + unknown).contains(&n)
                })
            };
            if !self.judge.retain(explained) {
                let counts: Vec<String> = seen
                    .iter()
                    .map(|((u, k, c), n, o)| {
                        format!(
                            "{n} × {} {} {c} from {u} ({o} ordinary sends)",
                            k.event_type.as_str(),
                            k.state_key.map(|k| k.to_string()).unwrap_or_default()
                        )
                    })
                    .collect();
                return Err(Stop::Fail(format!(
                    "SRV-7/SRV-8: no model state explains the room's timeline: {}",
                    counts.join("; ")
                )));
            }
        }
        Ok(())
    }

    /// End of scenario: every delayed event still scheduled in some candidate is driven to its end
    /// (awaited when due soon, cancelled otherwise), then timing and sent events are checked.
    pub async fn finish(&mut self, horizon_ms: u64) -> Result<()> {
        let ids: Vec<DelayId> = self.judge.any().ids().collect();
        for id in ids {
            if self.judge.finalised(id) == Some(true) {
                continue;
            }
            let soon = self.arms.get(&id).is_some_and(|a| a.delay <= horizon_ms);
            if soon {
                self.await_finalised(id).await?;
            } else if let Some(owner) = self.judge.any().record(id).map(|d| d.owner) {
                self.client_op(&Op::Manage {
                    user: owner,
                    delay: DelayRef::Issued(id),
                    action: Action::Cancel,
                })
                .await?;
            }
        }
        // The last word on every record: the owner's finalised list.
        let owners: Vec<UserId> = {
            let mut o: Vec<UserId> = self.judge.any().delayed.iter().map(|d| d.owner).collect();
            o.sort();
            o.dedup();
            o
        };
        if self.ctx.merged() && self.ctx.lookups.single {
            let finalised: Vec<(DelayId, UserId)> = self
                .judge
                .any()
                .ids()
                .filter(|id| !self.finalised_seen.contains_key(id))
                .filter_map(|id| self.judge.any().record(id).map(|d| (id, d.owner)))
                .collect();
            for (id, owner) in finalised {
                self.client_op(&Op::Lookup { user: owner, delay: DelayRef::Issued(id) }).await?;
            }
        }
        for owner in owners.into_iter().filter(|_| !self.ctx.merged()) {
            if self.ctx.lookups.finalised {
                self.client_op(&Op::ListFinalised { user: owner, from: ListFrom::Start }).await?;
            } else if self.ctx.lookups.sync {
                self.client_op(&Op::Sync { user: owner, initial: true, include_finalised: true }).await?;
            }
        }
        timing::check_scenario(self).await?;
        self.observe_rooms().await?;
        self.observe_records();
        Ok(())
    }

    /// The Record clause holds when the finalised record of every event this scenario finalised
    /// was read (and judged).
    fn observe_records(&mut self) {
        let finalised: Vec<DelayId> =
            self.judge.any().ids().filter(|id| self.judge.finalised(*id) == Some(true)).collect();
        if !finalised.is_empty() && finalised.iter().all(|id| self.finalised_seen.contains_key(id)) {
            self.seen.insert(Clause::Record);
        }
    }

    /// The verdict of a scenario that ran to its end: a failure it went on past; a required clause
    /// the server gave no way to observe, when the missing observable is itself required; else
    /// PASS when every clause was observed (`CheckInfo::pass`).
    pub fn verdict(&self, info: &CheckInfo, note: String, millis: u64) -> CheckResult {
        if let Some(failure) = &self.deferred {
            return info.result(Verdict::Fail, failure.clone(), millis);
        }
        let l = self.ctx.lookups;
        if info.clauses.contains(&Clause::Record)
            && !self.seen.contains(&Clause::Record)
            && !self.ctx.merged()
            && !l.finalised
            && !l.sync
        {
            return info.result(
                Verdict::Fail,
                format!(
                    "LST-2/PSH-1: the finalised record {} needs (outcome, reason, error, event_id) cannot be observed: the server serves neither GET {}/finalised (LST-2) nor finalised events in /sync (PSH-1)",
                    info.requirements.join("/"),
                    self.ctx.surface.delayed()
                ),
                millis,
            );
        }
        info.pass(&self.seen, note, millis)
    }
}

pub fn op_name(op: &Op) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.get("op").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}
