//! Concurrency: several connections send `send`, `cancel` and `restart` for one delayed event at
//! once, alone or right at its due time. Each request's interval and answer are recorded; the
//! history passes when some order of the requests that respects real time (a request that ended
//! before another started comes first), with the timer firing anywhere it may, is a sequence the
//! model allows, and the room shows the event at most once (a linearizability check, SRV-8; the
//! room is judged by `Scenario::observe_rooms` when the scenario finishes, as in every scenario).

use crate::client::Answer;
use crate::context::Context;
use crate::lockstep::{Judge, Observation};
use crate::names::Names;
use crate::outcome::{CheckInfo, CheckResult};
use crate::scenario::{Scenario, Stop};
use crate::timing::Arm;
use spec_model::op::{DelayParam, DelayRef, Op};
use spec_model::types::{Action, ContentId, DelayId, EventKind, RoomId, TxnId, UserId};

pub fn actions_info() -> CheckInfo {
    CheckInfo::new(
        "race/concurrent-actions",
        "six concurrent send/cancel/restart requests on one delayed event linearize; it is finalised once",
        &["SRV-8", "MGT-3", "MGT-4", "MGT-5"],
    )
}

pub fn timer_info() -> CheckInfo {
    CheckInfo::new(
        "race/actions-at-the-due-time",
        "send/cancel/restart racing the timer linearize with it; nothing is sent twice",
        &["SRV-8", "SRV-1"],
    )
}

const OWNER: UserId = UserId(0);

pub async fn concurrent_actions(ctx: &Context) -> CheckResult {
    let actions =
        [Action::Send, Action::Cancel, Action::Restart, Action::Send, Action::Cancel, Action::Restart];
    race(ctx, actions_info(), 60, false, &actions, true).await
}

pub async fn at_the_due_time(ctx: &Context) -> CheckResult {
    let actions = [Action::Send, Action::Cancel, Action::Restart];
    race(ctx, timer_info(), 2, true, &actions, false).await
}

/// How far apart the actions racing the timer start, from the earliest due time on.
const AT_DUE_STEP_MS: u64 = 4;
/// How long after its due time a timer counts as racing the requests (the reference server fires
/// within 50 ms, SRV-9).
const FIRING_MS: u64 = 50;

/// Schedule a message with `units` of delay, start `actions` together (or, `at_due`, one after
/// another from the earliest due time on), then judge the history.
async fn race(
    ctx: &Context,
    info: CheckInfo,
    units: u64,
    at_due: bool,
    actions: &[Action],
    bystander: bool,
) -> CheckResult {
    let t = ctx.client.now();
    let mut sc = match Scenario::setup(ctx, 1, 1, &info.id.replace('/', "-")).await {
        Ok(sc) => sc,
        Err(stop) => return stop.result(&info, 0),
    };
    let out = run_race(ctx, &mut sc, units, at_due, actions, bystander).await;
    sc.release().await;
    let ms = ctx.client.now() - t;
    match out {
        Ok(note) => sc.verdict(&info, note, ms),
        Err(stop) => stop.result(&info, ms),
    }
}

/// Whether the requests really raced: two of them overlapped in time, or (with a timer) one was
/// in flight while the timer could have fired. A history without a race shows nothing of what
/// the check is named after.
fn raced(history: &[(Op, Answer)], timer: Option<(u64, u64)>) -> bool {
    let overlap = |a: &Answer, b: &Answer| a.start <= b.end && b.start <= a.end;
    match timer {
        Some((earliest, latest)) => history.iter().any(|(_, a)| a.start <= latest && earliest <= a.end),
        None => {
            history.iter().enumerate().any(|(i, (_, a))| history[i + 1..].iter().any(|(_, b)| overlap(a, b)))
        }
    }
}

async fn run_race(
    ctx: &Context,
    sc: &mut Scenario<'_>,
    units: u64,
    at_due: bool,
    actions: &[Action],
    bystander: bool,
) -> crate::scenario::Result<String> {
    let delay = units * ctx.unit_ms();
    let schedule = Op::Schedule {
        user: OWNER,
        device: Default::default(),
        room: RoomId(0),
        kind: EventKind::message(),
        content: ContentId(0),
        delay: DelayParam::Ms(delay as i64),
        txn: Some(TxnId(0)),
    };
    sc.client_op(&schedule).await?;
    let id = DelayId(0);
    if bystander {
        // Another of the owner's events, due soon: the race must not disturb its timer.
        let other = Op::Schedule {
            user: OWNER,
            device: Default::default(),
            room: RoomId(0),
            kind: EventKind::message(),
            content: ContentId(1),
            delay: DelayParam::Ms(2 * ctx.unit_ms() as i64),
            txn: Some(TxnId(1)),
        };
        sc.client_op(&other).await?;
    }
    let starts: Vec<Option<u64>> = match sc.arms.get(&id).copied() {
        Some(arm) if at_due => {
            (0..actions.len() as u64).map(|i| Some(arm.earliest() + i * AT_DUE_STEP_MS)).collect()
        }
        _ => vec![None; actions.len()],
    };
    let ops: Vec<Op> = actions
        .iter()
        .map(|&action| Op::Manage { user: OWNER, delay: DelayRef::Issued(id), action })
        .collect();
    let mut requests = Vec::new();
    for op in &ops {
        requests.push(sc.request(op).await?.ok_or_else(|| Stop::Error("no request".into()))?);
    }
    let answers: Vec<Answer> = {
        let mut set = tokio::task::JoinSet::new();
        for (i, req) in requests.into_iter().enumerate() {
            let client = ctx.client.clone();
            let start = starts[i];
            set.spawn(async move {
                if let Some(at) = start {
                    client.sleep_until(at).await;
                }
                (i, client.send(&req).await)
            });
        }
        let mut got: Vec<Option<Answer>> = vec![None; ops.len()];
        while let Some(joined) = set.join_next().await {
            let (i, a) = joined.map_err(|e| Stop::Error(e.to_string()))?;
            got[i] = Some(a?);
        }
        got.into_iter()
            .map(|a| a.ok_or_else(|| Stop::Error("lost answer".into())))
            .collect::<Result<_, _>>()?
    };
    let history: Vec<(Op, Answer)> = ops.into_iter().zip(answers).collect();
    let timer = sc.arms.get(&id).filter(|_| at_due).map(|a| (a.earliest(), a.deadline(0) + FIRING_MS));
    if !raced(&history, timer) {
        let what = if timer.is_some() {
            "none was in flight while the timer could fire"
        } else {
            "no two overlapped"
        };
        return Err(Stop::NotApplicable(format!(
            "the requests did not race ({what}): nothing of the race was exercised"
        )));
    }
    sc.judge = match linearize(&sc.judge, &sc.names, &history) {
        Ok(j) => j,
        Err(why) => {
            let shown: Vec<String> = history
                .iter()
                .map(|(op, a)| format!("{}@[{},{}]→{}", action_of(op), a.start, a.end, a.status))
                .collect();
            // A server that forgets finalised events at once answers 404 to the losers: that
            // breaks MGT-8 (under the declared retention). The scenario goes on under that
            // explanation, so the room still decides whether it was sent more than once (SRV-8).
            let forgetful = Judge::forgetting(&sc.judge);
            match linearize(&forgetful, &sc.names, &history) {
                Ok(j) => {
                    sc.deferred.get_or_insert(format!(
                        "MGT-8: [{}] linearizes only if finalised events are forgotten at once (404 to later actions), which the declared retention (--retention-ms {}) does not allow",
                        shown.join(", "),
                        ctx.opts.retention_ms
                    ));
                    j
                }
                Err(_) => {
                    return Err(Stop::Fail(format!(
                        "SRV-8: no order of [{}] is allowed by the model ({why})",
                        shown.join(", ")
                    )))
                }
            }
        }
    };
    sc.seen.insert(crate::outcome::Clause::Answer);
    // Successful restarts re-arm the timer somewhere within their union.
    let restarts: Vec<&Answer> = history
        .iter()
        .filter(|(op, a)| action_of(op) == "restart" && a.status == 200)
        .map(|(_, a)| a)
        .collect();
    if let (Some(arm), false) = (sc.arms.get_mut(&id), restarts.is_empty()) {
        let start = restarts.iter().map(|a| a.start).min().unwrap_or(arm.start);
        let end = restarts.iter().map(|a| a.end).max().unwrap_or(arm.end);
        *arm = Arm { start, end, ..*arm };
    }
    sc.finish(4 * ctx.unit_ms()).await?;
    let statuses: Vec<String> =
        history.iter().map(|(op, a)| format!("{} {}", action_of(op), a.status)).collect();
    Ok(statuses.join(", "))
}

/// Every real-time-respecting order of `history` that the model accepts, merged.
pub fn linearize(start: &Judge, names: &Names, history: &[(Op, Answer)]) -> Result<Judge, String> {
    let mut done: Option<Judge> = None;
    let mut last_error = String::new();
    let mut remaining: Vec<usize> = (0..history.len()).collect();
    explore(start.clone(), names, history, &mut remaining, &mut done, &mut last_error);
    done.ok_or(last_error)
}

fn explore(
    judge: Judge,
    names: &Names,
    history: &[(Op, Answer)],
    remaining: &mut Vec<usize>,
    done: &mut Option<Judge>,
    last_error: &mut String,
) {
    if remaining.is_empty() {
        match done {
            Some(d) => d.merge(judge),
            None => *done = Some(judge),
        }
        return;
    }
    for k in 0..remaining.len() {
        let i = remaining[k];
        let a = &history[i].1;
        // Only a request that no other pending request wholly precedes may come next.
        if remaining.iter().any(|&j| j != i && history[j].1.end < a.start) {
            continue;
        }
        let mut next = judge.clone();
        let seen = Observation { status: a.status, body: &a.body, start: a.start, end: a.end };
        match next.observe(&history[i].0, &seen, names) {
            Ok(()) => {
                remaining.remove(k);
                explore(next, names, history, remaining, done, last_error);
                remaining.insert(k, i);
            }
            Err(e) => *last_error = format!("{} answered {}: {e}", action_of(&history[i].0), a.short()),
        }
    }
}

fn action_of(op: &Op) -> &'static str {
    match op {
        Op::Manage { action, .. } => action.as_str(),
        _ => "?",
    }
}
