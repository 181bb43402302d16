//! PSH-4 (the seed revision): finalised delayed events of an application service's users are
//! pushed to it in `/transactions`. A hand-written check rather than the model's witness traces:
//! a server chooses where one transaction ends and the next begins, so the lockstep judge (one
//! model transaction, one server transaction) would fail servers that batch differently. What the
//! model fixes, and this check judges, is the sequence: the acknowledged transactions, in order,
//! carry each of the user's finalised events once, in finalisation order, as the model records
//! them; a transaction the service failed is sent again with the same id and the same events.

use crate::appservice::{Received, Receiver, USER_PREFIX};
use crate::checks::control::manage;
use crate::client::{segment, Request};
use crate::context::Context;
use crate::outcome::{CheckInfo, CheckResult, Clause, Verdict};
use serde_json::{json, Value};
use spec_model::config::Config;
use spec_model::op::{DelayParam, DelayRef, Op};
use spec_model::reply::FinalisedItem;
use spec_model::state::State;
use spec_model::types::{Action, ContentId, DelayId, DeviceId, EventKind, RoomId, TxnId, UserId};
use std::collections::{BTreeMap, BTreeSet};

/// Transactions carrying finalised events the service fails before it acknowledges one.
const FAILURES: usize = 2;

pub fn info() -> CheckInfo {
    CheckInfo::new(
        "appservice/psh-4-finalised-events-pushed-once-in-order",
        "an application service's user's finalised events reach it in /transactions once each, in order, also when it was down",
        &["PSH-4"],
    )
}

/// The scenario in the model's operations: d0 fires after 2 units, d1 is cancelled, d2 sent.
fn ops() -> Vec<Op> {
    let me = UserId(0);
    let schedule = |c: u8, units: i64| Op::Schedule {
        user: me,
        device: DeviceId(0),
        room: RoomId(0),
        kind: EventKind::message(),
        content: ContentId(c),
        delay: DelayParam::Ms(units),
        txn: Some(TxnId(c)),
    };
    vec![
        schedule(0, 2),
        schedule(1, 600),
        schedule(2, 600),
        Op::Manage { user: me, delay: DelayRef::Issued(DelayId(1)), action: Action::Cancel },
        Op::Manage { user: me, delay: DelayRef::Issued(DelayId(2)), action: Action::Send },
        Op::Advance { ms: 2 },
        Op::Fire { delay: DelayId(0) },
    ]
}

/// What the model owes the service after the scenario, in order.
fn expected() -> Result<Vec<FinalisedItem>, String> {
    let cfg = Config { appservice_user: Some(UserId(0)), ..Config::reference() };
    let mut state = State::new(1, 1);
    for op in ops() {
        let (next, _) =
            spec_model::spec::step(&cfg, &state, &op).ok_or_else(|| format!("the model refused {op:?}"))?;
        state = next;
    }
    Ok(state.appservice.owed)
}

/// The parts of an item the check compares: delay id (as the model names it), outcome, reason,
/// error code, whether an event was sent, type and content.
fn projection(item: &Value, names: &BTreeMap<String, String>) -> Value {
    let d = item.get("delayed_event").unwrap_or(item);
    let id = d["delay_id"].as_str().unwrap_or_default();
    // The `msgtype` the suite adds for servers that require one (`names::real_content`).
    let mut content = d["content"].clone();
    if let Some(o) = content.as_object_mut().filter(|o| o.get("msgtype") == Some(&json!("m.text"))) {
        o.remove("msgtype");
    }
    json!({
        "delay_id": names.get(id).cloned().unwrap_or_else(|| id.to_string()),
        "outcome": item["outcome"],
        "reason": item["reason"],
        "errcode": item["error"]["errcode"],
        "sent": item.get("event_id").is_some_and(|e| e.is_string()),
        "type": d["type"],
        "content": content,
    })
}

fn model_projection(i: &FinalisedItem) -> Value {
    let rendered = spec_model::render::finalised_item_in(
        i,
        spec_model::types::Prefix::Stable,
        spec_model::Revision::Rev2025_07_09,
    );
    let names = BTreeMap::new();
    projection(&rendered, &names)
}

/// The finalised items of a transaction body, under the surface's key (array or `{finalised}`).
fn items(body: &Value, key: &str) -> Vec<Value> {
    match body.get(key) {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => o.get("finalised").and_then(Value::as_array).cloned().unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn delay_id_of(item: &Value) -> String {
    item.get("delayed_event").unwrap_or(item)["delay_id"].as_str().unwrap_or_default().to_string()
}

pub async fn run(ctx: &Context) -> CheckResult {
    let info = info();
    let t = ctx.client.now();
    let Some(service) = &ctx.appservice else {
        return info.result(
            Verdict::NotApplicable,
            "needs the suite's application service: --appservice-listen and --appservice-registration, installed in the server",
            0,
        );
    };
    match judge(ctx, service).await {
        // A PASS only from the clauses observed (`CheckInfo::pass`).
        Ok((Verdict::Pass, detail, seen)) => info.pass(&seen, detail, ctx.client.now() - t),
        Ok((verdict, detail, _)) => info.result(verdict, detail, ctx.client.now() - t),
        Err(e) => info.result(Verdict::Error, e, ctx.client.now() - t),
    }
}

type Judged = (Verdict, String, BTreeSet<Clause>);

async fn judge(ctx: &Context, service: &Receiver) -> Result<Judged, String> {
    let want = expected()?;
    let reg = &service.registration;
    // A user of the service's namespace, registered through it (Application Service API).
    let localpart = format!("{USER_PREFIX}{}", ctx.run_id);
    let body = json!({ "type": "m.login.application_service", "username": localpart });
    let r = ctx
        .client
        .call(&Request::post("/_matrix/client/v3/register", body).auth(&reg.as_token))
        .await
        .map_err(|e| e.to_string())?;
    let Some(token) = r.body.get("access_token").and_then(Value::as_str).map(str::to_string) else {
        return Ok((
            Verdict::NotApplicable,
            format!(
                "registering {localpart} with the service's as_token answered {}: is the registration installed in the server?",
                r.short()
            ),
            BTreeSet::new(),
        ));
    };
    let room = ctx
        .client
        .call(&Request::post("/_matrix/client/v3/createRoom", json!({})).auth(&token))
        .await
        .map_err(|e| e.to_string())?;
    let room =
        room.body["room_id"].as_str().ok_or_else(|| format!("createRoom: {}", room.short()))?.to_string();
    service.fail_next(FAILURES);
    // The model's scenario on the server, its delays in the suite's time unit.
    let unit = ctx.unit_ms();
    let mut ids: Vec<String> = Vec::new();
    let mut due = 0;
    for op in ops() {
        match op {
            Op::Schedule { content, delay: DelayParam::Ms(units), .. } => {
                let path = format!(
                    "/_matrix/client/v3/rooms/{}/send/m.room.message/{}-as-{}",
                    segment(&room),
                    ctx.run_id,
                    ids.len()
                );
                let body = crate::names::real_content(spec_model::types::EventType::RoomMessage, content);
                let req = Request::put(path, body)
                    .query(ctx.surface.delay_param(), (units as u64 * unit).to_string())
                    .auth(&token);
                let a = ctx.client.call(&req).await.map_err(|e| e.to_string())?;
                let Some(id) = a.body.get("delay_id").and_then(Value::as_str) else {
                    return Ok((
                        Verdict::Fail,
                        format!("SCH-1: scheduling answered {}", a.short()),
                        BTreeSet::new(),
                    ));
                };
                if ids.is_empty() {
                    due = ctx.client.now() + units as u64 * unit;
                }
                ids.push(id.to_string());
            }
            Op::Manage { delay: DelayRef::Issued(d), action, .. } => {
                let name = if action == Action::Cancel { "cancel" } else { "send" };
                let a = ctx
                    .client
                    .call(&manage(&ctx.surface, &ids[d.0 as usize], name, &token))
                    .await
                    .map_err(|e| e.to_string())?;
                if a.status != 200 {
                    return Ok((
                        Verdict::Fail,
                        format!("MGT-1: {name} answered {}", a.short()),
                        BTreeSet::new(),
                    ));
                }
            }
            _ => {}
        }
    }
    // Someone else's finalised event: none of the service's business.
    let (others, their_room) = crate::checks::control::user_with_room(ctx, 1).await?;
    let theirs = {
        let tok = &others[0].access_token;
        let req = crate::checks::control::schedule_message(
            &ctx.surface,
            &their_room,
            &format!("{}-as-other", ctx.run_id),
            "600000",
            tok,
        );
        let a = ctx.client.call(&req).await.map_err(|e| e.to_string())?;
        let id = a.body["delay_id"].as_str().unwrap_or_default().to_string();
        let _ = ctx.client.call(&manage(&ctx.surface, &id, "cancel", tok)).await;
        id
    };
    ctx.source.release(&others);
    let names: BTreeMap<String, String> =
        ids.iter().enumerate().map(|(i, id)| (id.clone(), DelayId(i as u16).to_string())).collect();
    // Until every record was acknowledged, or the lateness bound plus the patience for the
    // server's retries has passed after the last one fell due.
    let key = spec_model::render::finalised_events_key(ctx.surface.prefix);
    let deadline = due + ctx.opts.max_lateness_ms + ctx.opts.appservice_patience_ms;
    let received = loop {
        let received = service.received();
        let delivered = acknowledged(&received, key);
        if ids.iter().all(|id| delivered.iter().any(|(_, item)| delay_id_of(item) == *id))
            || ctx.client.now() > deadline
        {
            break received;
        }
        ctx.client.sleep_until(ctx.client.now() + 50).await;
    };
    Ok(verdict(&received, key, &ids, &names, &want, &theirs))
}

/// (transaction id, item) of every finalised item in acknowledged transactions, in the order
/// the service acknowledged them, each transaction once.
fn acknowledged(received: &[Received], key: &str) -> Vec<(String, Value)> {
    let mut seen = BTreeSet::new();
    received
        .iter()
        .filter(|r| r.answered == 200 && seen.insert(r.txn_id.clone()))
        .flat_map(|r| items(&r.body, key).into_iter().map(|i| (r.txn_id.clone(), i)))
        .collect()
}

fn verdict(
    received: &[Received],
    key: &str,
    ids: &[String],
    names: &BTreeMap<String, String>,
    want: &[FinalisedItem],
    theirs: &str,
) -> Judged {
    let mut seen = BTreeSet::new();
    let fail = |why: String| (Verdict::Fail, why, BTreeSet::new());
    let ours = |r: &Received| items(&r.body, key).iter().any(|i| ids.contains(&delay_id_of(i)));
    if !theirs.is_empty() && received.iter().any(|r| r.body.to_string().contains(theirs)) {
        return fail(format!(
            "PSH-4: a finalised event of a user outside the service's namespace ({theirs}) was pushed to it"
        ));
    }
    // A retry is the same transaction: same id, same finalised events.
    let mut by_txn: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for r in received.iter().filter(|r| ours(r)) {
        by_txn.entry(&r.txn_id).or_default().push(r);
    }
    for (txn, attempts) in &by_txn {
        let first = items(&attempts[0].body, key);
        if let Some(other) = attempts.iter().find(|a| items(&a.body, key) != first) {
            return fail(format!(
                "PSH-4: transaction {txn} was sent again with other finalised events: {} then {}",
                json!(first.iter().map(delay_id_of).collect::<Vec<_>>()),
                json!(items(&other.body, key).iter().map(delay_id_of).collect::<Vec<_>>())
            ));
        }
        if attempts.len() >= 2 && attempts[0].answered != 200 {
            seen.insert(Clause::Redelivered);
        }
    }
    let delivered: Vec<(String, Value)> =
        acknowledged(received, key).into_iter().filter(|(_, i)| ids.contains(&delay_id_of(i))).collect();
    let order: Vec<String> =
        delivered.iter().map(|(_, i)| names.get(&delay_id_of(i)).cloned().unwrap_or_default()).collect();
    let want_order: Vec<String> = want.iter().map(|i| i.delayed_event.delay_id.to_string()).collect();
    if delivered.is_empty() {
        let carrying = received.iter().filter(|r| ours(r)).count();
        let with_key = received.iter().filter(|r| r.body.get(key).is_some()).count();
        return fail(format!(
            "PSH-4: no acknowledged transaction carried the user's finalised events under `{key}`: {} transactions received, {with_key} with the key, {carrying} carrying the user's records (the service fails the first {FAILURES} of those on purpose)",
            received.len()
        ));
    }
    if order != want_order {
        let many = order.iter().any(|d| order.iter().filter(|e| *e == d).count() > 1);
        let what = if many {
            "delivered more than once"
        } else if order.len() < want_order.len() {
            "not all delivered within the time allowed"
        } else {
            "in another order"
        };
        return fail(format!(
            "PSH-4: {what}: the service acknowledged {order:?}; the model's order is {want_order:?}"
        ));
    }
    seen.insert(Clause::Pushed);
    for ((_, got), w) in delivered.iter().zip(want) {
        let (got, w) = (projection(got, names), model_projection(w));
        if got != w {
            return fail(format!("PSH-4: the pushed record {got} is not the model's {w}"));
        }
    }
    if !seen.contains(&Clause::Redelivered) {
        return (
            Verdict::Pass,
            format!("delivered {order:?}, but no failed transaction of ours was seen sent again"),
            seen,
        );
    }
    (
        Verdict::Pass,
        format!("{order:?} acknowledged once each, in finalisation order, after {FAILURES} failed attempts"),
        seen,
    )
}
