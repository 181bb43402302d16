//! The judge: the set of `spec-model` states that explain everything the server said so far.
//!
//! A real server takes the steps the text leaves open (when a due timer fires, whether a returned
//! finalised record is discarded, which DECIDED choice it made) without telling anyone. So the
//! suite never predicts one answer: before each request it lets every candidate state take any
//! of those steps that could have happened by the time the request ended, applies the request
//! with the model's own `step`, and keeps the candidates whose answer matches what the server
//! said. An empty set is a failure, reported with the answers the model allowed.
//!
//! Timestamps are not compared here (the server's clock is not the suite's); `timing` checks them
//! with interval arithmetic. Event ids are compared by shape only, because their allocation order
//! depends on which timer fired first.

use crate::names::Names;
use serde_json::{Map, Value};
use spec_model::config::{Config, Decisions};
use spec_model::judge::{page_allowed, Keyed};
use spec_model::op::{DelayRef, From as ListFrom, Op};
use spec_model::reply::{FinalisedItem, Reply, ScheduledItem};
use spec_model::state::{Cursor, State, Status};
use spec_model::types::{DelayId, Outcome};
use std::collections::HashSet;

/// What the server answered, with the interval it answered in (suite clock, ms).
/// A bound on the explanations kept (each is a full model state).
const MAX_CANDIDATES: usize = 50_000;

pub struct Observation<'a> {
    pub status: u16,
    pub body: &'a Value,
    pub start: u64,
    pub end: u64,
}

#[derive(Clone)]
pub struct Judge {
    configs: Vec<Config>,
    candidates: Vec<(usize, State)>,
    /// The server may forget any finalised record at once (a declared retention of 0), not only
    /// those a lookup or `/sync` returned.
    pub forget_any: bool,
    /// Users are reused across scenarios, so pages may hold only other scenarios' events.
    pub reused_users: bool,
}

impl Judge {
    /// `config` is the server's (learned) configuration; unless `strict`, every DECIDED choice
    /// the text leaves open is a candidate too.
    pub fn new(config: Config, users: u8, rooms: u8, strict: bool) -> Self {
        let mut configs = vec![config];
        if !strict {
            for failed in [Outcome::Cancel, Outcome::Send] {
                for membership in [true, false] {
                    let decisions = Decisions {
                        failed_send_outcome: failed,
                        membership_checked_at_schedule: membership,
                        ..config.decisions
                    };
                    if decisions != config.decisions {
                        configs.push(Config { decisions, ..config });
                    }
                }
            }
        }
        let start = State::new(users, rooms);
        let candidates = (0..configs.len()).map(|i| (i, start.clone())).collect();
        Judge { configs, candidates, forget_any: false, reused_users: false }
    }

    /// One candidate (for reading what is certain, e.g. the number of delayed events so far).
    pub fn any(&self) -> &State {
        &self.candidates[0].1
    }

    pub fn states(&self) -> impl Iterator<Item = &State> {
        self.candidates.iter().map(|(_, s)| s)
    }

    pub fn config(&self) -> &Config {
        &self.configs[0]
    }

    /// Judge the answer to `op`. `Err` explains the mismatch; the candidates are then unchanged.
    pub fn observe(&mut self, op: &Op, seen: &Observation, names: &Names) -> Result<(), String> {
        // A timer may have fired by the end of this answer if its earliest due time (the model
        // stamps `running_since` at the start of the scheduling or restart request) has passed:
        // never one whose due time is later, whatever other requests took.
        let horizon = seen.end;
        let mut next: Vec<(usize, State)> = Vec::new();
        let mut seen_states: HashSet<(usize, State)> = HashSet::new();
        let mut allowed: Vec<String> = Vec::new();
        for (ci, st) in &self.candidates {
            let cfg = &self.configs[*ci];
            for before in
                settle(cfg, st, horizon).into_iter().flat_map(|b| discarded_variants(b, op, self.forget_any))
            {
                let Some(at) = advance_to(cfg, &before, seen.start) else { continue };
                let op = &if self.reused_users { continue_or_restart(&at, op) } else { *op };
                let Some((mut after, step)) = spec_model::step(cfg, &at, op) else { continue };
                let forget = Forget { any: self.forget_any, before: &at };
                match matches(cfg, op, &step.reply, seen, names, &forget, &mut after) {
                    Ok(()) => {
                        if seen_states.insert((*ci, after.clone())) {
                            next.push((*ci, after));
                        }
                    }
                    Err(why) => {
                        if allowed.len() < 4 && !allowed.contains(&why) {
                            allowed.push(why);
                        }
                    }
                }
            }
        }
        if next.is_empty() {
            return Err(format!("the model allows none of this answer: {}", allowed.join(" | ")));
        }
        if next.len() > MAX_CANDIDATES {
            return Err(format!(
                "more than {MAX_CANDIDATES} model states explain this history; the suite cannot judge it"
            ));
        }
        self.candidates = next;
        Ok(())
    }

    /// The same candidates under a server that keeps no finalised record (retention 0), to tell
    /// which requirement a history breaks.
    pub fn forgetting(&self) -> Judge {
        self.clone().forgetting_if(true)
    }

    pub fn forgetting_if(self, forget_any: bool) -> Judge {
        Judge { forget_any, ..self }
    }

    pub fn reusing_users(self, reused_users: bool) -> Judge {
        Judge { reused_users, ..self }
    }

    /// PER-1..3: the server was down by `down_by` and serving again by `up_by` (suite clock).
    /// Timers due before it went down may have fired then; the model's restart sends the rest at
    /// startup, in send-time order. Returns the fewest events any explanation sent at startup and
    /// the fewest it kept scheduled across the restart (what the restart exercised).
    pub fn server_restart(&mut self, down_by: u64, up_by: u64) -> Result<(usize, usize), String> {
        let mut next: Vec<(usize, State)> = Vec::new();
        let mut known: HashSet<(usize, State)> = HashSet::new();
        let (mut fired, mut kept) = (usize::MAX, usize::MAX);
        for (ci, st) in &self.candidates {
            let cfg = &self.configs[*ci];
            for before in settle(cfg, st, down_by) {
                let down_ms = up_by.saturating_sub(before.now).max(1);
                let Some((after, step)) = spec_model::step(cfg, &before, &Op::ServerRestart { down_ms })
                else {
                    continue;
                };
                fired = fired.min(step.effects.iter().filter(|e| e.delay_id.is_some()).count());
                kept = kept.min(after.delayed.iter().filter(|d| d.is_scheduled()).count());
                if known.insert((*ci, after.clone())) {
                    next.push((*ci, after));
                }
            }
        }
        if next.is_empty() {
            return Err("the model keeps nothing across a restart in this revision".into());
        }
        self.candidates = next;
        Ok((fired, kept))
    }

    /// Add `other`'s candidates (another explanation of the same history, e.g. another order of
    /// concurrent requests).
    pub fn merge(&mut self, other: Judge) {
        for c in other.candidates {
            if !self.candidates.contains(&c) {
                self.candidates.push(c);
            }
        }
    }

    /// Keep the candidates that also explain an observation outside the model's operations (a
    /// room's timeline). `false`, and nothing changed, when none does.
    pub fn retain(&mut self, explains: impl Fn(&State) -> bool) -> bool {
        let kept: Vec<(usize, State)> =
            self.candidates.iter().filter(|(_, s)| explains(s)).cloned().collect();
        if kept.is_empty() {
            return false;
        }
        self.candidates = kept;
        true
    }

    /// Whether `id` is finalised in every candidate (`Some(true)`), in none, or undecided.
    pub fn finalised(&self, id: DelayId) -> Option<bool> {
        let mut v = self.states().map(|s| s.record(id).is_some_and(|d| !d.is_scheduled()));
        let first = v.next()?;
        v.all(|x| x == first).then_some(first)
    }
}

/// Every state reachable from `st` by timers firing (those due by `horizon`), in any order,
/// including `st` itself. Discarding returned records (LST-5, PSH-3) is not branched on here,
/// which would be exponential in their number: a list or `/sync` answer that lacks a returned
/// record discards it then, and a management request may meet it discarded (`discarded_variants`).
fn settle(cfg: &Config, st: &State, horizon: u64) -> Vec<State> {
    let mut out = vec![st.clone()];
    let mut known: HashSet<State> = HashSet::from([st.clone()]);
    let mut i = 0;
    while i < out.len() {
        let x = out[i].clone();
        i += 1;
        for id in x.ids() {
            let due = match x.record(id) {
                Some(d) if d.is_scheduled() && d.due() <= horizon => d.due(),
                _ => continue,
            };
            let Some(at) = advance_to(cfg, &x, due) else { continue };
            if let Some((s, _)) = spec_model::step(cfg, &at, &Op::Fire { delay: id }) {
                if known.insert(s.clone()) {
                    out.push(s);
                }
            }
        }
    }
    out
}

/// `st`, and for a management request on a record the server may have forgotten, `st` with it
/// discarded.
fn discarded_variants(st: State, op: &Op, forget_any: bool) -> Vec<State> {
    let forgotten = match op {
        Op::Manage { delay: DelayRef::Issued(id), .. } if may_forget(&st, *id, forget_any) => {
            let mut s = st.clone();
            s.delayed[id.0 as usize].status = Status::Discarded;
            Some(s)
        }
        _ => None,
    };
    std::iter::once(st).chain(forgotten).collect()
}

/// Whether the server may already have dropped a finalised record: it was returned by a lookup
/// or `/sync` (LST-5, PSH-3; the model's `discard_returned`), or the server keeps none.
fn may_forget(st: &State, id: DelayId, forget_any: bool) -> bool {
    st.record(id).and_then(|d| d.finalisation()).is_some_and(|f| f.returned || forget_any)
}

/// What a list or `/sync` answer may lack: records `may_forget` allows in the state before it.
struct Forget<'a> {
    any: bool,
    before: &'a State,
}

impl Forget<'_> {
    fn droppable(&self, id: DelayId) -> bool {
        may_forget(self.before, id, self.any)
    }
}

fn discard_all(after: &mut State, ids: &[DelayId]) {
    for id in ids {
        if let Some(d) = after.delayed.get_mut(id.0 as usize) {
            d.status = Status::Discarded;
        }
    }
}

/// A page that held only other scenarios' events (reused users) gives the server's token but no
/// model cursor: the next page is, for this scenario's events, a walk from the start.
fn continue_or_restart(st: &State, op: &Op) -> Op {
    let cursor = |u: spec_model::types::UserId, finalised: bool| {
        st.users
            .get(u.0 as usize)
            .and_then(|s| if finalised { s.finalised_cursor } else { s.scheduled_cursor })
    };
    match *op {
        Op::ListScheduled { user, from: ListFrom::LastNextBatch } if cursor(user, false).is_none() => {
            Op::ListScheduled { user, from: ListFrom::Start }
        }
        Op::ListFinalised { user, from: ListFrom::LastNextBatch } if cursor(user, true).is_none() => {
            Op::ListFinalised { user, from: ListFrom::Start }
        }
        other => other,
    }
}

fn advance_to(cfg: &Config, st: &State, t: u64) -> Option<State> {
    if st.now >= t {
        return Some(st.clone());
    }
    spec_model::step(cfg, st, &Op::Advance { ms: t - st.now }).map(|(s, _)| s)
}

/// Does the server's answer match the model's `reply`? On a list, also move the model's cursor to
/// where the server's page really ended (the server picks page sizes, LST-3).
fn matches(
    cfg: &Config,
    op: &Op,
    reply: &Reply,
    seen: &Observation,
    names: &Names,
    forget: &Forget,
    after: &mut State,
) -> Result<(), String> {
    let expected = spec_model::render::body(cfg, reply);
    let status = reply.status();
    if seen.status != status {
        return Err(format!("{status} {}", compact(&expected)));
    }
    let observed = names.to_model(seen.body);
    match (op, reply) {
        (Op::ListScheduled { user, .. }, Reply::Scheduled { items, .. }) => {
            let keyed: Vec<Keyed> =
                items.iter().map(|i| (i.running_since + i.delay_ms, i.delay_id)).collect();
            let page = page_of(&observed, "scheduled", after, |id, st| {
                st.record(id).filter(|d| d.is_scheduled()).map(|d| (d.due(), scheduled_json(id, st)))
            })?;
            judge_page(&keyed, &page, &observed, "scheduled")?;
            let kept = forget.before.users[user.0 as usize].scheduled_cursor;
            after.users[user.0 as usize].scheduled_cursor = page.cursor(kept);
            Ok(())
        }
        (Op::ListFinalised { user, .. }, Reply::Finalised { items, .. }) => {
            let all: Vec<Keyed> =
                items.iter().map(|i| (i.origin_server_ts, i.delayed_event.delay_id)).collect();
            let page = page_of(&observed, "finalised", after, |id, st| {
                let d = st.record(id)?;
                let f = d.finalisation()?;
                Some((f.ts, finalised_json(cfg, &FinalisedItem::of(id, d, f))))
            })?;
            // Missing returned records were discarded; only those the page has passed (or all,
            // on a last page) can be told missing.
            let reach = page.items.last().and_then(|l| all.iter().position(|k| k == l)).unwrap_or(0);
            let dropped: Vec<DelayId> = all
                .iter()
                .enumerate()
                .filter(|(pos, k)| {
                    !page.items.contains(k) && forget.droppable(k.1) && (!page.next || *pos < reach)
                })
                .map(|(_, k)| k.1)
                .collect();
            let keyed: Vec<Keyed> = all.into_iter().filter(|k| !dropped.contains(&k.1)).collect();
            judge_page(&keyed, &page, &observed, "finalised")?;
            discard_all(after, &dropped);
            let kept = forget.before.users[user.0 as usize].finalised_cursor;
            after.users[user.0 as usize].finalised_cursor = page.cursor(kept);
            Ok(())
        }
        (Op::ListScheduledBare { .. }, Reply::BareScheduled(items)) => {
            let want: Vec<Value> = items
                .iter()
                .map(|i| blank(&spec_model::render::scheduled_item_in(i, cfg.revision)))
                .collect();
            let got = known_items(&observed, "delayed_events", names)?;
            same_set(&want, &got, "delayed_events")
        }
        (Op::Sync { .. }, Reply::Sync { finalised, .. }) => {
            let key = spec_model::render::finalised_events_key(cfg.prefix);
            let got: Vec<Value> = match observed.get(key) {
                None => Vec::new(),
                Some(Value::Array(a)) => a.iter().map(blank).filter(|v| names.is_known_item(v)).collect(),
                Some(Value::Object(o)) => match o.get("finalised") {
                    Some(Value::Array(a)) => a.iter().map(blank).filter(|v| names.is_known_item(v)).collect(),
                    _ => return Err(format!("`{key}` is an object without a `finalised` array")),
                },
                Some(other) => return Err(format!("`{key}` is {other}, not an array")),
            };
            // An empty value is not allowed: absent when there are none (PSH-1).
            if matches!(observed.get(key), Some(Value::Array(a)) if a.is_empty()) {
                return Err(format!("`{key}` present but empty (PSH-1: absent when there are none)"));
            }
            let shown = |id: DelayId| {
                got.iter().any(|v| v.pointer("/delayed_event/delay_id") == Some(&Value::from(id.to_string())))
            };
            let mut dropped = Vec::new();
            let mut want = Vec::new();
            for i in finalised.iter().flatten() {
                let id = i.delayed_event.delay_id;
                if !shown(id) && forget.droppable(id) {
                    dropped.push(id);
                } else {
                    want.push(blank(&spec_model::render::finalised_item(i, cfg.prefix)));
                }
            }
            same_set(&want, &got, key)?;
            discard_all(after, &dropped);
            Ok(())
        }
        _ => {
            if agrees(&comparable(&expected), &comparable(&observed)) {
                Ok(())
            } else {
                Err(format!("{status} {}", compact(&expected)))
            }
        }
    }
}

/// A page as the server sent it, restricted to delayed events of this scenario.
struct Page {
    items: Vec<Keyed>,
    next: bool,
}

impl Page {
    /// Where the walk stands after this page: after its last item; where it stood (`kept`) when
    /// the page held only other scenarios' events; nowhere at the end.
    fn cursor(&self, kept: Option<Cursor>) -> Option<Cursor> {
        match self.items.last() {
            _ if !self.next => None,
            Some(&(key, id)) => Some(Cursor::After { key, id }),
            None => kept,
        }
    }
}

/// Read the list under `key`, map each item to the model's sort key for it, and compare each item
/// with the model's rendering of that id (`lookup`).
fn page_of(
    observed: &Value,
    key: &str,
    st: &State,
    lookup: impl Fn(DelayId, &State) -> Option<(u64, Value)>,
) -> Result<Page, String> {
    let Some(list) = observed.get(key).and_then(Value::as_array) else {
        return Err(format!("no `{key}` array"));
    };
    let next = match observed.get("next_batch") {
        None | Some(Value::Null) => false,
        Some(Value::String(_)) => true,
        Some(other) => return Err(format!("`next_batch` is {other}, not a string")),
    };
    let mut items = Vec::new();
    for item in list {
        let id_field = item.get("delay_id").or_else(|| item.pointer("/delayed_event/delay_id"));
        let Some(id) = id_field.and_then(Value::as_str).and_then(Names::model_delay) else {
            continue; // not an event of this scenario (reused users)
        };
        let Some((sort_key, want)) = lookup(id, st) else {
            return Err(format!("lists {id}, which the model does not have in `{key}`"));
        };
        let got = blank(item);
        if !agrees(&comparable(&want), &comparable(&got)) {
            return Err(format!("item {} where the model has {}", compact(&got), compact(&want)));
        }
        items.push((sort_key, id));
    }
    Ok(Page { items, next })
}

fn judge_page(remaining: &[Keyed], page: &Page, observed: &Value, key: &str) -> Result<(), String> {
    // With reused users a page may hold only other scenarios' events: nothing to judge on it.
    let only_foreign =
        page.items.is_empty() && observed.get(key).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    if only_foreign || page_allowed(remaining, &page.items, page.next, false) {
        Ok(())
    } else {
        let ids: Vec<String> = remaining.iter().map(|k| k.1.to_string()).collect();
        Err(format!(
            "`{key}` page {:?} (next_batch: {}) where the model has [{}] left",
            page.items.iter().map(|k| k.1.to_string()).collect::<Vec<_>>(),
            page.next,
            ids.join(", ")
        ))
    }
}

fn scheduled_json(id: DelayId, st: &State) -> Value {
    let d = &st.delayed[id.0 as usize];
    blank(&spec_model::render::scheduled_item(&ScheduledItem::of(id, d)))
}

fn finalised_json(cfg: &Config, item: &FinalisedItem) -> Value {
    blank(&spec_model::render::finalised_item(item, cfg.prefix))
}

fn known_items(observed: &Value, key: &str, names: &Names) -> Result<Vec<Value>, String> {
    let Some(list) = observed.get(key).and_then(Value::as_array) else {
        return Err(format!("no `{key}` array"));
    };
    Ok(list.iter().map(blank).filter(|v| names.is_known_item(v)).collect())
}

/// The same items in any order (each observed item agreeing with a distinct model item).
fn same_set(want: &[Value], got: &[Value], key: &str) -> Result<(), String> {
    let want: Vec<Value> = want.iter().map(comparable).collect();
    let mut unmatched: Vec<&Value> = want.iter().collect();
    let mut ok = want.len() == got.len();
    for g in got.iter().map(comparable) {
        match unmatched.iter().position(|w| agrees(w, &g)) {
            Some(i) => {
                unmatched.remove(i);
            }
            None => ok = false,
        }
    }
    if ok {
        Ok(())
    } else {
        let g: Vec<String> = got.iter().map(|v| compact(&comparable(v))).collect();
        let w: Vec<String> = want.iter().map(compact).collect();
        Err(format!("`{key}` {g:?} where the model has {w:?}"))
    }
}

/// Timestamps and event ids replaced by placeholders (compared elsewhere, see module doc).
pub fn blank(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let x = match k.as_str() {
                    "running_since" | "origin_server_ts" | "scheduled_at" | "finalised_ts" if x.is_u64() => {
                        Value::from(0)
                    }
                    "event_id" if x.is_string() => Value::from("$event"),
                    "content" => {
                        let mut c = blank(x);
                        if let Some(o) =
                            c.as_object_mut().filter(|o| o.get("msgtype") == Some(&Value::from("m.text")))
                        {
                            o.remove("msgtype");
                        }
                        c
                    }
                    _ => blank(x),
                };
                out.insert(k.clone(), x);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(blank).collect()),
        other => other.clone(),
    }
}

/// What of a body is compared: everything but human-readable `error` strings (an `error`
/// object, a finalised item's failure, is compared), and `retry_after_ms` only for its presence.
fn comparable(v: &Value) -> Value {
    match blank(v) {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, x)| !(k == "error" && x.is_string()))
                .map(|(k, x)| {
                    let x = if k == "retry_after_ms" { Value::Bool(true) } else { comparable(&x) };
                    (k, x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(comparable).collect()),
        other => other,
    }
}

/// Does the server's `got` say what the model's `want` says? Objects may carry more keys than the
/// model renders (Matrix clients ignore unknown keys; servers add later revisions' fields), except
/// keys whose presence is the meaning: an `event_id` (SCH-3: a delayed send answers none; LKP-3:
/// sent) and a lookup's `finalised_ts` or `error` object (LKP-3: finalised, failed).
fn agrees(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let telling = ["event_id", "finalised_ts", "error"];
            let no_extra = telling.iter().all(|k| w.contains_key(*k) || !g.contains_key(*k));
            no_extra && w.iter().all(|(k, wv)| g.get(k).is_some_and(|gv| agrees(wv, gv)))
        }
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| agrees(a, b))
        }
        (w, g) => w == g,
    }
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 240 {
        format!("{}…", &s[..s.char_indices().nth(240).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::User;
    use serde_json::json;
    use spec_model::op::{DelayParam, From as ListFrom};
    use spec_model::types::{Action, ContentId, EventKind, Prefix, RoomId, TxnId, UserId};

    fn setup() -> (Judge, Names) {
        let mut cfg = Config::reference();
        cfg.discard_returned = true;
        cfg.page_size = u8::MAX;
        cfg.lateness_ms = 60_000;
        let users = vec![User { user_id: "@a:x".into(), access_token: "t".into() }];
        let names = Names::new(users, vec!["!room:x".into()], "p".into());
        (Judge::new(cfg, 1, 1, false), names)
    }

    fn schedule(judge: &mut Judge, names: &mut Names, real: &str, txn: u8, at: u64) {
        let op = Op::Schedule {
            user: UserId(0),
            device: Default::default(),
            room: RoomId(0),
            kind: EventKind::message(),
            content: ContentId(0),
            delay: DelayParam::Ms(10_000),
            txn: Some(TxnId(txn)),
        };
        names.bind_delay(DelayId(judge.any().delayed.len() as u16), real);
        let body = json!({"delay_id": real});
        judge
            .observe(&op, &Observation { status: 200, body: &body, start: at, end: at + 1 }, names)
            .expect("allowed");
    }

    fn manage(
        judge: &mut Judge,
        names: &Names,
        action: Action,
        status: u16,
        body: Value,
    ) -> Result<(), String> {
        let op = Op::Manage { user: UserId(0), delay: DelayRef::Issued(DelayId(0)), action };
        judge.observe(&op, &Observation { status, body: &body, start: 10, end: 11 }, names)
    }

    #[test]
    fn a_conflicting_action_that_succeeds_is_refused() {
        let (mut judge, mut names) = setup();
        schedule(&mut judge, &mut names, "real0", 0, 0);
        manage(&mut judge, &names, Action::Cancel, 200, json!({})).expect("cancel allowed");
        let bad = manage(&mut judge.clone(), &names, Action::Send, 200, json!({}));
        assert!(bad.is_err(), "send after cancel answered 200 must be refused");
        manage(&mut judge, &names, Action::Send, 409, json!({"errcode": "M_UNKNOWN"})).expect("409 allowed");
    }

    #[test]
    fn a_timer_never_fires_before_its_own_earliest_due_time_whatever_other_requests_took() {
        let (mut judge, mut names) = setup();
        schedule(&mut judge, &mut names, "real0", 0, 0); // due from 10_000 on
                                                         // Another request took 3 s: that says nothing about the first timer (the judge used to
                                                         // widen every horizon by the slowest request, and so accepted Synapse's 101st schedule).
        let op = Op::Schedule {
            user: UserId(0),
            device: Default::default(),
            room: RoomId(0),
            kind: EventKind::message(),
            content: ContentId(0),
            delay: DelayParam::Ms(60_000),
            txn: Some(TxnId(1)),
        };
        names.bind_delay(DelayId(1), "real1");
        let body = json!({"delay_id": "real1"});
        judge
            .observe(&op, &Observation { status: 200, body: &body, start: 100, end: 3_100 }, &names)
            .expect("ok");
        let cancel =
            Op::Manage { user: UserId(0), delay: DelayRef::Issued(DelayId(0)), action: Action::Cancel };
        let fired = json!({"errcode": "M_UNKNOWN"});
        let early = Observation { status: 409, body: &fired, start: 9_500, end: 9_501 };
        assert!(judge.clone().observe(&cancel, &early, &names).is_err(), "not due before 10 000");
        let late = Observation { status: 409, body: &fired, start: 10_500, end: 10_501 };
        judge.observe(&cancel, &late, &names).expect("due by then: it may have been sent");
    }

    #[test]
    fn a_page_that_skips_the_first_item_is_refused_and_any_prefix_is_allowed() {
        let (mut judge, mut names) = setup();
        schedule(&mut judge, &mut names, "real0", 0, 0);
        schedule(&mut judge, &mut names, "real1", 1, 5);
        let item = |id: &str| {
            json!({"delay_id": id, "room_id": "!room:x", "type": "m.room.message", "delay": 10_000,
                   "running_since": 123, "content": {"body": "c0"}})
        };
        let op = Op::ListScheduled { user: UserId(0), from: ListFrom::Start };
        let skip = json!({"scheduled": [item("real1")]});
        let seen = Observation { status: 200, body: &skip, start: 20, end: 21 };
        assert!(judge.clone().observe(&op, &seen, &names).is_err());
        let first = json!({"scheduled": [item("real0")], "next_batch": "tok"});
        let seen = Observation { status: 200, body: &first, start: 20, end: 21 };
        judge.clone().observe(&op, &seen, &names).expect("a one-item page is allowed");
        let no_next = json!({"scheduled": [item("real0")]});
        let seen = Observation { status: 200, body: &no_next, start: 20, end: 21 };
        assert!(judge.observe(&op, &seen, &names).is_err(), "items left without next_batch");
    }

    #[test]
    fn an_empty_sync_key_and_a_returned_record_coming_back_are_refused() {
        let (mut judge, mut names) = setup();
        schedule(&mut judge, &mut names, "real0", 0, 0);
        manage(&mut judge, &names, Action::Cancel, 200, json!({})).expect("cancel");
        let key = spec_model::render::finalised_events_key(Prefix::Stable);
        let op = Op::Sync { user: UserId(0), initial: true, include_finalised: true };
        let empty = json!({"next_batch": "s1", key: []});
        assert!(judge
            .clone()
            .observe(&op, &Observation { status: 200, body: &empty, start: 20, end: 21 }, &names)
            .is_err());
        // Absent: the record was returned before? It was not, so it may not be missing.
        let absent = json!({"next_batch": "s1"});
        assert!(judge
            .clone()
            .observe(&op, &Observation { status: 200, body: &absent, start: 20, end: 21 }, &names)
            .is_err());
    }
}
