//! `spec-model diff-revisions`: every observable difference between the two revisions, each with
//! the shortest trace that shows it.
//!
//! Both revisions start from the same state and take the same client requests (a state event's
//! schedule gets the transaction id the merged endpoint needs). Breadth first, each request is
//! rendered under both revisions (request, status, body, headers, the events entering rooms, the
//! records it finalised); a difference is classed by the operation, the aspect that differs and
//! the two statuses, and the first trace found for a class is a shortest one. Exploration goes on
//! only from states the revisions agree on (transactions aside, which the merged endpoint scopes
//! to a path of its own): once they diverge, the difference that made them is what is reported,
//! not its consequences.

use super::bounds::{Bounds, Families};
use super::canonical::canonical;
use super::model::DelayModel;
use crate::op::{DelayRef, Op};
use crate::render;
use crate::revision::Revision;
use crate::state::State;
use crate::types::{Action, TxnId, UserId};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet, VecDeque};

/// One class of difference and its shortest example.
#[derive(Clone, Debug)]
pub struct Difference {
    /// The operation's variant (`schedule`, `manage`, ...).
    pub op: String,
    /// What differs: `availability`, `request`, `status`, `body`, `headers`, `effects`,
    /// `finalised`, `state`.
    pub aspect: &'static str,
    pub seed_status: Option<u16>,
    pub merged_status: Option<u16>,
    /// The requests before the one that shows the difference, then that one.
    pub trace: Vec<Op>,
    pub seed: Value,
    pub merged: Value,
}

impl Difference {
    pub fn key(&self) -> (String, &'static str, Option<u16>, Option<u16>) {
        (self.op.clone(), self.aspect, self.seed_status, self.merged_status)
    }
}

/// The configuration both revisions are explored in: every family, small limits (reached within
/// two requests), a short clock.
pub fn bounds() -> Bounds {
    let mut b = Bounds::lifecycle();
    b.name = "diff";
    b.families = Families {
        lookups: true,
        sync: true,
        room_changes: true,
        ordinary_sends: true,
        refusals: true,
        messages: true,
        single_lookups: true,
        capabilities: true,
        server_restarts: true,
        appservice: true,
    };
    b.config.discard_returned = false;
    b.config.appservice_user = Some(crate::types::UserId(0));
    b.guests = 1;
    b
}

/// An operation in one line: `schedule(user=0, kind=m.rtc.member/k0, delay=1, txn=-)`.
pub fn short(op: &Op) -> String {
    let Ok(Value::Object(m)) = serde_json::to_value(op) else { return String::new() };
    let args: Vec<String> = m
        .iter()
        .filter(|(k, _)| *k != "op" && *k != "device" && *k != "room" && *k != "content")
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                ("kind", Value::Object(kind)) => {
                    let t = kind.get("event_type").and_then(Value::as_str).unwrap_or("");
                    match kind.get("state_key") {
                        Some(Value::Null) | None => t.to_owned(),
                        Some(key) => format!("{t}/{}", key.to_string().replace(['{', '}', '"'], "")),
                    }
                }
                (_, Value::Null) => "-".to_owned(),
                (_, Value::String(s)) => s.clone(),
                (_, other) => other.to_string().replace(['{', '}', '"'], ""),
            };
            format!("{k}={v}")
        })
        .collect();
    format!("{}({})", variant(op), args.join(", "))
}

/// The merged revision's form of a seed request.
fn translate(op: Op, merged: &State) -> Op {
    match op {
        Op::Schedule { user, device, room, kind, content, delay, txn: None } => Op::Schedule {
            user,
            device,
            room,
            kind,
            content,
            delay,
            txn: Some(TxnId(3 + merged.delayed.len() as u8)),
        },
        other => other,
    }
}

fn variant(op: &Op) -> String {
    serde_json::to_value(op).ok().and_then(|v| v["op"].as_str().map(str::to_owned)).unwrap_or_default()
}

/// What a state is compared by: everything but the transaction table and what the seed text
/// owes an application service (the merged one pushes nothing; that difference is the
/// `appservice_transaction` row, not a reason to stop exploring).
fn comparable(s: &State) -> State {
    let mut s = s.clone();
    s.txns.clear();
    s.appservice = Default::default();
    s
}

/// Every class of difference within `max_depth` requests, shortest example first found.
pub fn differences(max_depth: usize) -> Vec<Difference> {
    let mut merged = bounds();
    merged.config.revision = Revision::Rev2026_07_10;
    differences_between(bounds(), merged, max_depth)
}

/// The same between any two configurations (a test plants a fault in one).
pub fn differences_between(seed: Bounds, merged: Bounds, max_depth: usize) -> Vec<Difference> {
    let seed_model = DelayModel::new(seed);
    let merged_model = DelayModel::new(merged);
    let extra_ops = |s: &State| {
        let mut ops: Vec<Op> =
            s.ids().map(|id| Op::Lookup { user: UserId(0), delay: DelayRef::Issued(id) }).collect();
        ops.push(Op::Capabilities { user: UserId(0) });
        ops.push(Op::ServerRestart { down_ms: 1 });
        ops.push(Op::Manage {
            user: UserId(0),
            delay: DelayRef::Issued(crate::types::DelayId(0)),
            action: Action::Missing,
        });
        ops
    };
    let mut found: Found = BTreeMap::new();
    let mut seen: HashSet<State> = HashSet::new();
    let mut queue: VecDeque<(State, State, Vec<Op>)> = VecDeque::new();
    let (s0, m0) = (seed_model.init().spec, merged_model.init().spec);
    seen.insert(canonical(comparable(&s0), true));
    queue.push_back((s0, m0, Vec::new()));
    while let Some((seed, merged, trace)) = queue.pop_front() {
        if trace.len() >= max_depth {
            continue;
        }
        let mut ops = Vec::new();
        stateright::Model::actions(
            &seed_model,
            &super::model::CheckState { spec: seed.clone(), ghost: Default::default() },
            &mut ops,
        );
        ops.extend(extra_ops(&seed));
        for op in ops {
            let merged_op = translate(op, &merged);
            let mut next_trace = trace.clone();
            next_trace.push(op);
            let a = seed_model.describe(&seed, &op);
            let b = merged_model.describe(&merged, &merged_op);
            let mut step: Vec<Aspect> = Vec::new();
            let (Some((sa, oa)), Some((sb, ob))) = (a.clone(), b.clone()) else {
                if a.is_some() != b.is_some() {
                    let possible =
                        |x: bool| Value::String(if x { "possible" } else { "no such step" }.into());
                    step.push(("availability", possible(a.is_some()), possible(b.is_some()), None, None));
                }
                record_all(&mut found, &op, &next_trace, step);
                continue;
            };
            let status = |o: &Value| o["status"].as_u64().map(|s| s as u16);
            let (ss, ms) = (status(&oa), status(&ob));
            let (ra, rb) = (
                render::request(&seed_model.bounds.config, &op),
                render::request(&merged_model.bounds.config, &merged_op),
            );
            if ra != rb {
                step.push(("request", ra, rb, None, None));
            }
            for aspect in ["status", "body", "headers", "effects", "finalised"] {
                if oa.get(aspect) != ob.get(aspect) {
                    let pick = |o: &Value| o.get(aspect).cloned().unwrap_or(Value::Null);
                    step.push((aspect, pick(&oa), pick(&ob), ss, ms));
                }
            }
            let diverged = comparable(&sa) != comparable(&sb);
            // A hidden divergence is reported only when nothing the client saw differed.
            if diverged && step.is_empty() {
                step.push(("state", Value::Null, Value::Null, ss, ms));
            }
            record_all(&mut found, &op, &next_trace, step);
            if diverged {
                continue;
            }
            if seen.insert(canonical(comparable(&sa), true)) {
                queue.push_back((sa, sb, next_trace));
            }
        }
    }
    let mut out: Vec<Difference> = found.into_values().collect();
    out.sort_by(|x, y| (x.trace.len(), x.key()).cmp(&(y.trace.len(), y.key())));
    out
}

/// One aspect that differs in a step: its name, the seed's and the merged revision's values, and
/// both statuses.
type Aspect = (&'static str, Value, Value, Option<u16>, Option<u16>);

type Found = BTreeMap<(String, &'static str, Option<u16>, Option<u16>), Difference>;

/// Keep the first (shortest) example of each class of difference `step` shows.
fn record_all(found: &mut Found, op: &Op, trace: &[Op], step: Vec<Aspect>) {
    for (aspect, seed, merged, seed_status, merged_status) in step {
        let d = Difference {
            op: variant(op),
            aspect,
            seed_status,
            merged_status,
            trace: trace.to_vec(),
            seed,
            merged,
        };
        found.entry(d.key()).or_insert(d);
    }
}

/// A markdown table of the differences (the section of docs/model.md).
pub fn markdown(diffs: &[Difference]) -> String {
    let mut out = String::from(
        "| operation | what differs | seed 2025-07-09 | merged 2026-07-10 | shortest trace |\n|---|---|---|---|---|\n",
    );
    let cell = |v: &Value| {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let s = if s.chars().count() > 160 {
            format!("{}…", s.chars().take(160).collect::<String>())
        } else {
            s
        };
        format!("`{}`", s.replace('|', "\\|"))
    };
    for d in diffs {
        let steps: Vec<String> = d.trace.iter().map(|op| format!("`{}`", short(op))).collect();
        let (seed, merged) = match d.aspect {
            "state" => (
                format!("status {}", d.seed_status.unwrap_or(0)),
                format!("status {}", d.merged_status.unwrap_or(0)),
            ),
            _ => (cell(&d.seed), cell(&d.merged)),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            d.op,
            d.aspect,
            seed,
            merged,
            steps.join(" → ")
        ));
    }
    out
}
