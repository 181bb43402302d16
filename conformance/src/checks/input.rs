//! Hand-written checks the model cannot generate: malformed requests, missing and unknown access
//! tokens, the ordinary send without a delay, id uniqueness and list isolation. Each refusal is
//! also checked to have changed nothing.

use super::control::{manage, schedule_message, scheduled_ids, user_with_room};
use crate::client::{segment, Request};
use crate::context::Context;
use crate::outcome::{CheckInfo, CheckResult, Clause, Verdict};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// One malformed or unauthenticated request and the answers that are allowed for it.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub id: &'static str,
    pub title: &'static str,
    pub requirements: &'static [&'static str],
    pub kind: RowKind,
    pub status: u16,
    pub errcodes: &'static [&'static str],
}

#[derive(Clone, Copy, Debug)]
pub enum RowKind {
    /// Schedule with this `delay` value.
    Delay(&'static str),
    /// Manage the scheduled event with this raw body.
    ManageBody(&'static str),
    /// One of the four new endpoints without a token (`None`) or with a bad one.
    Token { endpoint: Endpoint, token: Option<&'static str> },
}

#[derive(Clone, Copy, Debug)]
pub enum Endpoint {
    Schedule,
    Manage,
    Scheduled,
    Finalised,
}

const INVALID: &[&str] = &["M_INVALID_PARAM"];
const NOT_OBJECT: &[&str] = &["M_BAD_JSON", "M_NOT_JSON"];

pub const ROWS: &[Row] = &[
    Row {
        id: "input/negative-delay",
        title: "a negative delay is refused",
        requirements: &["SCH-9"],
        kind: RowKind::Delay("-5"),
        status: 400,
        errcodes: INVALID,
    },
    Row {
        id: "input/fractional-delay",
        title: "a fractional delay is refused",
        requirements: &["SCH-9"],
        kind: RowKind::Delay("1.5"),
        status: 400,
        errcodes: INVALID,
    },
    Row {
        id: "input/non-numeric-delay",
        title: "a non-numeric delay is refused",
        requirements: &["SCH-9"],
        kind: RowKind::Delay("soon"),
        status: 400,
        errcodes: INVALID,
    },
    Row {
        id: "input/exponent-delay",
        title: "a delay in exponent notation is refused",
        requirements: &["SCH-9"],
        kind: RowKind::Delay("1e3"),
        status: 400,
        errcodes: INVALID,
    },
    Row {
        id: "input/missing-action",
        title: "a management body without `action` is refused",
        requirements: &["MGT-2"],
        kind: RowKind::ManageBody("{}"),
        status: 400,
        // MGT-2 CLARIFIED: the Client-Server spec's code for a missing parameter, or this one.
        errcodes: &["M_MISSING_PARAM", "M_INVALID_PARAM"],
    },
    Row {
        id: "input/numeric-action",
        title: "a non-string `action` is refused",
        requirements: &["MGT-2"],
        kind: RowKind::ManageBody(r#"{"action": 5}"#),
        status: 400,
        errcodes: INVALID,
    },
    Row {
        id: "input/action-body-not-json",
        title: "a management body that is not JSON is refused",
        requirements: &["MGT-2"],
        kind: RowKind::ManageBody("send"),
        status: 400,
        errcodes: NOT_OBJECT,
    },
    Row {
        id: "input/action-body-array",
        title: "a management body that is a JSON array is refused",
        requirements: &["MGT-2"],
        kind: RowKind::ManageBody(r#"["send"]"#),
        status: 400,
        errcodes: NOT_OBJECT,
    },
    Row {
        id: "auth/schedule-without-token",
        title: "scheduling needs an access token",
        requirements: &["SEC-1"],
        kind: RowKind::Token { endpoint: Endpoint::Schedule, token: None },
        status: 401,
        errcodes: &["M_MISSING_TOKEN"],
    },
    Row {
        id: "auth/schedule-unknown-token",
        title: "scheduling with an unknown token is refused",
        requirements: &["SEC-1"],
        kind: RowKind::Token { endpoint: Endpoint::Schedule, token: Some("msc4140-not-a-token") },
        status: 401,
        errcodes: &["M_UNKNOWN_TOKEN"],
    },
    Row {
        id: "auth/manage-without-token",
        title: "managing needs an access token",
        requirements: &["SEC-1", "MGT-1"],
        kind: RowKind::Token { endpoint: Endpoint::Manage, token: None },
        status: 401,
        errcodes: &["M_MISSING_TOKEN"],
    },
    Row {
        id: "auth/manage-unknown-token",
        title: "managing with an unknown token is refused",
        requirements: &["SEC-1", "MGT-1"],
        kind: RowKind::Token { endpoint: Endpoint::Manage, token: Some("msc4140-not-a-token") },
        status: 401,
        errcodes: &["M_UNKNOWN_TOKEN"],
    },
    Row {
        id: "auth/scheduled-without-token",
        title: "listing scheduled events needs an access token",
        requirements: &["SEC-1"],
        kind: RowKind::Token { endpoint: Endpoint::Scheduled, token: None },
        status: 401,
        errcodes: &["M_MISSING_TOKEN"],
    },
    Row {
        id: "auth/finalised-without-token",
        title: "listing finalised events needs an access token",
        requirements: &["SEC-1"],
        kind: RowKind::Token { endpoint: Endpoint::Finalised, token: None },
        status: 401,
        errcodes: &["M_MISSING_TOKEN"],
    },
];

pub fn row_info(r: &Row) -> CheckInfo {
    CheckInfo::new(r.id, r.title, r.requirements).needs(&[Clause::Answer, Clause::Unchanged])
}

/// A refusal's "nothing changed" is read off a list of scheduled events; without one (LST-1 is
/// required) the clause cannot be shown.
fn no_scheduled_list(ctx: &Context) -> Option<String> {
    let l = ctx.lookups;
    (!l.scheduled && !l.bare).then(|| {
        format!(
            "LST-1: the server serves no list of scheduled events (GET {}/scheduled), so that a refused request changed nothing cannot be observed",
            ctx.surface.delayed()
        )
    })
}

pub async fn run_row(ctx: &Context, row: &Row) -> CheckResult {
    let info = row_info(row);
    let t = ctx.client.now();
    let r = match no_scheduled_list(ctx) {
        Some(why) => Err(Outcome::Fail(why)),
        None => row_outcome(ctx, row).await,
    };
    let ms = ctx.client.now() - t;
    match r {
        Ok(()) => info.pass(&BTreeSet::from([Clause::Answer, Clause::Unchanged]), "", ms),
        Err(Outcome::Fail(m)) => info.result(Verdict::Fail, m, ms),
        Err(Outcome::Error(m)) => info.result(Verdict::Error, m, ms),
    }
}

enum Outcome {
    Fail(String),
    Error(String),
}

async fn row_outcome(ctx: &Context, row: &Row) -> Result<(), Outcome> {
    let s = &ctx.surface;
    let (users, room) = user_with_room(ctx, 1).await.map_err(Outcome::Error)?;
    let token = users[0].access_token.clone();
    // A scheduled event to aim management at, and to show that nothing changed afterwards.
    let long = (120 * ctx.unit_ms()).to_string();
    let txn = format!("{}-{}", ctx.run_id, row.id.replace('/', "-"));
    let a = ctx
        .client
        .call(&schedule_message(s, &room, &txn, &long, &token))
        .await
        .map_err(|e| Outcome::Error(e.to_string()))?;
    let Some(id) = a.body.get("delay_id").and_then(Value::as_str).map(str::to_string) else {
        return Err(Outcome::Error(format!("scheduling the target event: {}", a.short())));
    };
    let before = scheduled_ids(ctx, &token, &room).await.map_err(Outcome::Error)?;
    let req = match row.kind {
        RowKind::Delay(d) => schedule_message(s, &room, &format!("{txn}-bad"), d, &token),
        RowKind::ManageBody(b) => {
            Request::post(format!("{}/{}", s.delayed(), segment(&id)), Value::Null).raw(b).auth(&token)
        }
        RowKind::Token { endpoint, token: bad } => {
            let mut r = match endpoint {
                Endpoint::Schedule => schedule_message(s, &room, &format!("{txn}-bad"), "1000", ""),
                Endpoint::Manage => manage(s, &id, "cancel", ""),
                Endpoint::Scheduled => Request::get(format!("{}/scheduled", s.delayed())),
                Endpoint::Finalised => Request::get(format!("{}/finalised", s.delayed())),
            };
            r.token = bad.map(str::to_string);
            r
        }
    };
    let answer = ctx.client.send(&req).await.map_err(|e| Outcome::Error(e.to_string()))?;
    let code = answer.errcode().unwrap_or("");
    let verdict = if answer.status != row.status || !row.errcodes.contains(&code) {
        Err(Outcome::Fail(format!(
            "answered {}; want {} with errcode {}",
            answer.short(),
            row.status,
            row.errcodes.join(" or ")
        )))
    } else {
        // Nothing new, and the target still there (reused users' older events may fire meanwhile).
        let after = scheduled_ids(ctx, &token, &room).await.map_err(Outcome::Error)?;
        let added: Vec<&String> = after.iter().filter(|i| !before.contains(i)).collect();
        if !added.is_empty() {
            Err(Outcome::Fail(format!("refused, but {added:?} was scheduled")))
        } else if !after.contains(&id) {
            Err(Outcome::Fail(format!("refused, but the targeted event {id} is no longer scheduled")))
        } else {
            Ok(())
        }
    };
    let _ = ctx.client.call(&manage(s, &id, "cancel", &token)).await;
    ctx.source.release(&users);
    verdict
}

pub fn ordinary_send_info() -> CheckInfo {
    CheckInfo::new(
        "input/no-delay-is-an-ordinary-send",
        "without `delay` the request is an ordinary send",
        &["SCH-1"],
    )
    .needs(&[Clause::Answer, Clause::Unchanged])
}

pub fn unique_ids_info() -> CheckInfo {
    CheckInfo::new(
        "input/delay-ids-unique",
        "delay ids are distinct and never `scheduled` or `finalised`",
        &["SCH-4"],
    )
}

pub fn isolation_info() -> CheckInfo {
    CheckInfo::new(
        "input/lists-only-own-events",
        "another user's lists never show my delayed events",
        &["LST-4", "SEC-2"],
    )
}

pub async fn ordinary_send(ctx: &Context) -> CheckResult {
    let info = ordinary_send_info();
    let t = ctx.client.now();
    let r: Result<Seen, String> = async {
        if let Some(why) = no_scheduled_list(ctx) {
            return Err(why);
        }
        let (users, room) = user_with_room(ctx, 1).await?;
        let token = &users[0].access_token;
        let path =
            format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{}-plain", segment(&room), ctx.run_id);
        let a = ctx
            .client
            .call(&Request::put(path, json!({"msgtype": "m.text", "body": "plain"})).auth(token))
            .await
            .map_err(|e| e.to_string())?;
        let listed = scheduled_ids(ctx, token, &room).await?;
        ctx.source.release(&users);
        if a.status != 200 || !a.body["event_id"].is_string() || a.body.get("delay_id").is_some() {
            return Err(format!("answered {} (want 200 with an event_id and no delay_id)", a.short()));
        }
        if !listed.is_empty() && !ctx.source.reuses_users() {
            return Err(format!("something was scheduled: {listed:?}"));
        }
        Ok(BTreeSet::from([Clause::Answer, Clause::Unchanged]))
    }
    .await;
    finish(info, t, ctx, r)
}

pub async fn unique_ids(ctx: &Context) -> CheckResult {
    let info = unique_ids_info();
    let t = ctx.client.now();
    let r: Result<Seen, String> = async {
        let (users, room) = user_with_room(ctx, 2).await?;
        let mut ids = Vec::new();
        for (i, u) in users.iter().enumerate() {
            for n in 0..5 {
                let txn = format!("{}-uniq-{i}-{n}", ctx.run_id);
                let a = ctx
                    .client
                    .call(&schedule_message(
                        &ctx.surface,
                        &room,
                        &txn,
                        &(120 * ctx.unit_ms()).to_string(),
                        &u.access_token,
                    ))
                    .await
                    .map_err(|e| e.to_string())?;
                match a.body.get("delay_id").and_then(Value::as_str) {
                    Some(id) => ids.push((id.to_string(), u.access_token.clone())),
                    None => return Err(format!("scheduling answered {}", a.short())),
                }
            }
        }
        for (id, token) in &ids {
            let _ = ctx.client.call(&manage(&ctx.surface, id, "cancel", token)).await;
        }
        ctx.source.release(&users);
        let mut names: Vec<&str> = ids.iter().map(|(i, _)| i.as_str()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        if names.len() != n {
            return Err(format!("repeated delay ids among {n}: {names:?}"));
        }
        if let Some(bad) = names.iter().find(|i| ["scheduled", "finalised"].contains(i)) {
            return Err(format!("issued the reserved id `{bad}`"));
        }
        Ok(BTreeSet::from([Clause::Answer]))
    }
    .await;
    finish(info, t, ctx, r)
}

pub async fn isolation(ctx: &Context) -> CheckResult {
    let info = isolation_info();
    let t = ctx.client.now();
    let r: Result<Seen, String> = async {
        let (users, room) = user_with_room(ctx, 2).await?;
        let (a_tok, b_tok) = (&users[0].access_token, &users[1].access_token);
        let mut mine = Vec::new();
        for (n, action) in ["cancel", ""].iter().enumerate() {
            let txn = format!("{}-iso-{n}", ctx.run_id);
            let a = ctx
                .client
                .call(&schedule_message(&ctx.surface, &room, &txn, &(120 * ctx.unit_ms()).to_string(), a_tok))
                .await
                .map_err(|e| e.to_string())?;
            let id = a.body.get("delay_id").and_then(Value::as_str).ok_or_else(|| a.short())?.to_string();
            if !action.is_empty() {
                ctx.client
                    .call(&manage(&ctx.surface, &id, action, a_tok))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            mine.push(id);
        }
        let mut seen = Vec::new();
        let l = ctx.lookups;
        let mut lists = Vec::new();
        if l.scheduled {
            lists.push(format!("{}/scheduled", ctx.surface.delayed()));
        }
        if l.finalised {
            lists.push(format!("{}/finalised", ctx.surface.delayed()));
        }
        if l.bare {
            lists.push("/_matrix/client/unstable/org.matrix.msc4140/delayed_events".to_string());
        }
        let queried = lists.len();
        for list in lists {
            let b = ctx.client.call(&Request::get(&list).auth(b_tok)).await.map_err(|e| e.to_string())?;
            if b.status != 200 {
                return Err(format!("GET {list} as the other user answered {}", b.short()));
            }
            let text = b.body.to_string();
            seen.extend(
                mine.iter().filter(|id| text.contains(id.as_str())).map(|id| format!("{id} in {list}")),
            );
        }
        let _ = ctx.client.call(&manage(&ctx.surface, &mine[1], "cancel", a_tok)).await;
        ctx.source.release(&users);
        if !seen.is_empty() {
            Err(format!("the other user's lists show {}", seen.join(", ")))
        } else if queried == 0 {
            // No list was served: nothing was looked at (the lookups' own checks say why).
            Ok(BTreeSet::new())
        } else {
            Ok(BTreeSet::from([Clause::Answer]))
        }
    }
    .await;
    finish(info, t, ctx, r)
}

/// The clauses a hand-written check observed.
type Seen = BTreeSet<Clause>;

fn finish(info: CheckInfo, t: u64, ctx: &Context, r: Result<Seen, String>) -> CheckResult {
    let ms = ctx.client.now() - t;
    match r {
        Ok(seen) => info.pass(&seen, "", ms),
        Err(e) => info.result(Verdict::Fail, e, ms),
    }
}
