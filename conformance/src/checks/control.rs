//! Before any check counts: is the feature there at all (DSC-1), does the simplest use of it work
//! (the positive control), and what maximum delay does the server apply (SCH-5, SCH-8)?
//! Negative checks on a server that fails the control would pass vacuously, so they are then
//! reported NOT-APPLICABLE instead.

use crate::client::{segment, Request};
use crate::context::Context;
use crate::outcome::{CheckInfo, CheckResult, Clause, Verdict};
use std::collections::BTreeSet;

/// What the control checks observed: the answers, and for the positive control the room too.
fn answered() -> BTreeSet<Clause> {
    BTreeSet::from([Clause::Answer])
}
use crate::provision::User;
use crate::surface::Surface;
use serde_json::{json, Value};
use spec_model::types::Prefix;

pub fn discovery_info() -> CheckInfo {
    CheckInfo::new(
        "control/versions-advertises-msc4140",
        "/versions lists org.matrix.msc4140 while the unstable prefix is served",
        &["DSC-1"],
    )
}

pub fn control_info() -> CheckInfo {
    CheckInfo::new(
        "control/schedule-list-send",
        "positive control: schedule a message, send it with the send action, see it in the room",
        &["SCH-1", "SCH-3", "MGT-1"],
    )
    .needs(&[Clause::Answer, Clause::Room])
}

/// The merged revision's positive control and discovery (its endpoints, its ids).
pub fn merged_control_info() -> CheckInfo {
    CheckInfo::new(
        "control/delayed-event-send-action",
        "positive control: PUT .../delayed_event, the send action in the path, the message in the room",
        &["SCH-12", "SCH-14", "MGT-11"],
    )
    .needs(&[Clause::Answer, Clause::Room])
    .in_revision(spec_model::Revision::Rev2026_07_10)
}

pub fn merged_discovery_info() -> CheckInfo {
    CheckInfo::new(
        "control/versions-advertises-msc4140",
        "/versions lists org.matrix.msc4140 while the unstable prefix is served",
        &["DSC-2"],
    )
    .in_revision(spec_model::Revision::Rev2026_07_10)
}

pub fn max_delay_info() -> CheckInfo {
    CheckInfo::new(
        "control/maximum-delay-at-most-a-month",
        "the maximum delay is at most a month",
        &["SCH-8"],
    )
}

/// A user with a room of their own.
pub async fn user_with_room(ctx: &Context, n: usize) -> Result<(Vec<User>, String), String> {
    let users = ctx.source.take(&ctx.client, n).await?;
    let body = json!({"preset": "public_chat"});
    let a = ctx
        .client
        .call(&Request::post("/_matrix/client/v3/createRoom", body).auth(&users[0].access_token))
        .await
        .map_err(|e| e.to_string())?;
    let Some(room) = a.body.get("room_id").and_then(Value::as_str).map(str::to_string) else {
        ctx.source.release(&users);
        return Err(format!("createRoom: {}", a.short()));
    };
    for u in &users[1..] {
        let path = format!("/_matrix/client/v3/rooms/{}/join", segment(&room));
        let _ = ctx.client.call(&Request::post(path, json!({})).auth(&u.access_token)).await;
    }
    Ok((users, room))
}

const CONTROL_BODY: &str = "msc4140 conformance";

/// Schedule a message of `delay` ms as the surface's revision does: the query parameter (seed) or
/// `PUT .../delayed_event` with `delay_ms` in the body (merged; a non-integer `delay` is sent as
/// the string it is, which the server must refuse).
pub fn schedule_message(surface: &Surface, room: &str, txn: &str, delay: &str, token: &str) -> Request {
    let content = json!({"msgtype": "m.text", "body": CONTROL_BODY});
    if surface.merged {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/delayed_event/m.room.message/{}",
            segment(room),
            segment(txn)
        );
        let delay_ms = delay.parse::<u64>().map_or_else(|_| json!(delay), |ms| json!(ms));
        return Request::put(path, json!({"delay_ms": delay_ms, "content": content})).auth(token);
    }
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{}", segment(room), segment(txn));
    Request::put(path, content).query(surface.delay_param(), delay).auth(token)
}

/// An action: in the body (seed) or in the path with an empty object (merged, MGT-11).
pub fn manage(surface: &Surface, id: &str, action: &str, token: &str) -> Request {
    if surface.merged {
        let path = format!("{}/{}/{}", surface.delayed(), segment(id), segment(action));
        return Request::post(path, json!({})).auth(token);
    }
    Request::post(format!("{}/{}", surface.delayed(), segment(id)), json!({"action": action})).auth(token)
}

/// The ids of the user's scheduled events in `room`, from whichever list the server serves.
pub async fn scheduled_ids(ctx: &Context, token: &str, room: &str) -> Result<Vec<String>, String> {
    let (path, key) = if ctx.lookups.scheduled || !ctx.lookups.bare {
        (format!("{}/scheduled", ctx.surface.delayed()), "scheduled")
    } else {
        ("/_matrix/client/unstable/org.matrix.msc4140/delayed_events".to_string(), "delayed_events")
    };
    let a = ctx.client.call(&Request::get(&path).auth(token)).await.map_err(|e| e.to_string())?;
    let list =
        a.body.get(key).and_then(Value::as_array).ok_or_else(|| format!("GET {path}: {}", a.short()))?;
    Ok(list
        .iter()
        .filter(|i| i.get("room_id").and_then(Value::as_str) == Some(room))
        .filter_map(|i| i.get("delay_id").and_then(Value::as_str).map(str::to_string))
        .collect())
}

pub async fn positive_control(ctx: &Context) -> CheckResult {
    let info = if ctx.merged() { merged_control_info() } else { control_info() };
    let t = ctx.client.now();
    let result = async {
        let (users, room) = user_with_room(ctx, 1).await?;
        let token = users[0].access_token.clone();
        let s = &ctx.surface;
        let delay = (4 * ctx.unit_ms()).to_string();
        let a = ctx
            .client
            .call(&schedule_message(s, &room, &format!("{}-control", ctx.run_id), &delay, &token))
            .await
            .map_err(|e| e.to_string())?;
        let Some(id) = a.body.get("delay_id").and_then(Value::as_str).map(str::to_string) else {
            let how =
                if s.merged { "PUT .../delayed_event".to_string() } else { format!("`{}`", s.delay_param()) };
            return Err(format!("scheduling with {how} answered {}", a.short()));
        };
        let a = ctx.client.call(&manage(s, &id, "send", &token)).await.map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(format!("the send action answered {}", a.short()));
        }
        let path = format!("/_matrix/client/v3/rooms/{}/messages", segment(&room));
        let m = ctx
            .client
            .call(&Request::get(path).query("dir", "b").query("limit", "50").auth(&token))
            .await
            .map_err(|e| e.to_string())?;
        ctx.source.release(&users);
        let sent = m.body.get("chunk").and_then(Value::as_array).is_some_and(|c| {
            c.iter().any(|e| e["type"] == "m.room.message" && e["content"]["body"] == CONTROL_BODY)
        });
        if sent {
            Ok(())
        } else {
            Err(format!("after the send action the room does not hold the message: {}", m.short()))
        }
    }
    .await;
    let ms = ctx.client.now() - t;
    match result {
        Ok(()) => info.pass(&BTreeSet::from([Clause::Answer, Clause::Room]), "", ms),
        Err(e) => info.result(Verdict::Fail, e, ms),
    }
}

/// Which lookup endpoints the server serves (200 to an authenticated GET), and whether `/sync`
/// carries finalised events (PSH-1): the observables scenarios read records through.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Lookups {
    pub scheduled: bool,
    pub finalised: bool,
    pub bare: bool,
    pub sync: bool,
    /// The merged revision's `GET .../delayed_events/{id}` (LKP-1) and list (LKP-4).
    pub single: bool,
    pub list: bool,
}

pub async fn probe_lookups(ctx: &Context) -> Result<Lookups, String> {
    if ctx.merged() {
        return probe_merged_lookups(ctx).await;
    }
    let (users, room) = user_with_room(ctx, 1).await?;
    let token = &users[0].access_token;
    let served = |path: String| async move {
        ctx.client.call(&Request::get(path).auth(token)).await.map(|a| a.status == 200).unwrap_or(false)
    };
    let mut lookups = Lookups {
        scheduled: served(format!("{}/scheduled", ctx.surface.delayed())).await,
        finalised: served(format!("{}/finalised", ctx.surface.delayed())).await,
        bare: served("/_matrix/client/unstable/org.matrix.msc4140/delayed_events".to_string()).await,
        sync: false,
        single: false,
        list: false,
    };
    // A cancelled event must show in an initial `/sync` under the surface's key.
    let long = (120 * ctx.unit_ms()).to_string();
    let a = ctx
        .client
        .call(&schedule_message(&ctx.surface, &room, &format!("{}-syncprobe", ctx.run_id), &long, token))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(id) = a.body.get("delay_id").and_then(Value::as_str) {
        let _ = ctx.client.call(&manage(&ctx.surface, id, "cancel", token)).await;
        let sync = Request::get("/_matrix/client/v3/sync").query("timeout", "0").auth(token);
        if let Ok(s) = ctx.client.call(&sync).await {
            let key = s.body.get(ctx.surface.sync_key());
            let items =
                key.and_then(|v| v.as_array().or_else(|| v.get("finalised").and_then(Value::as_array)));
            lookups.sync = items.is_some_and(|items| {
                items.iter().any(|i| i.pointer("/delayed_event/delay_id").and_then(Value::as_str) == Some(id))
            });
        }
    }
    ctx.source.release(&users);
    Ok(lookups)
}

/// The merged revision's lookups: a scheduled event looked up by its id (LKP-1) and listed (LKP-4).
async fn probe_merged_lookups(ctx: &Context) -> Result<Lookups, String> {
    let (users, room) = user_with_room(ctx, 1).await?;
    let token = &users[0].access_token;
    let long = (120 * ctx.unit_ms()).to_string();
    let txn = format!("{}-lookupprobe", ctx.run_id);
    let a = ctx.client.call(&schedule_message(&ctx.surface, &room, &txn, &long, token)).await;
    let mut lookups = Lookups::default();
    if let Some(id) = a.as_ref().ok().and_then(|a| a.body.get("delay_id")).and_then(Value::as_str) {
        let get = |path: String| async move { ctx.client.call(&Request::get(path).auth(token)).await.ok() };
        let one = get(format!("{}/{}", ctx.surface.delayed(), segment(id))).await;
        lookups.single = one.is_some_and(|a| a.status == 200 && a.body.get("delay_id") == Some(&json!(id)));
        let list = get(ctx.surface.delayed().to_string()).await;
        lookups.list = list.is_some_and(|a| a.status == 200 && a.body.get("delayed_events").is_some());
        let _ = ctx.client.call(&manage(&ctx.surface, id, "cancel", token)).await;
    }
    ctx.source.release(&users);
    Ok(lookups)
}

/// What an over-long (400-day) delay tells about the server's maximum (SCH-5).
#[derive(Clone, Debug)]
pub enum MaxDelay {
    /// Accepted: no maximum at or below 400 days.
    None,
    /// Refused with a `max_delay` (stable or unstable name).
    Reported { max: u64, answer: String, shape_ok: bool },
    /// Refused without saying the maximum.
    Unreported { answer: String },
}

impl MaxDelay {
    pub fn known(&self) -> Option<u64> {
        match self {
            MaxDelay::Reported { max, .. } => Some(*max),
            _ => None,
        }
    }
}

pub async fn probe_max_delay(ctx: &Context) -> Result<MaxDelay, String> {
    let (users, room) = user_with_room(ctx, 1).await?;
    let token = users[0].access_token.clone();
    let s = &ctx.surface;
    let huge = 400 * 86_400_000u64;
    let a = ctx
        .client
        .call(&schedule_message(s, &room, &format!("{}-maxprobe", ctx.run_id), &huge.to_string(), &token))
        .await
        .map_err(|e| e.to_string())?;
    let (code_key, max_key, code) = match s.prefix {
        Prefix::Stable => ("errcode", "max_delay", "M_MAX_DELAY_EXCEEDED"),
        Prefix::Unstable => {
            ("org.matrix.msc4140.errcode", "org.matrix.msc4140.max_delay", "M_MAX_DELAY_EXCEEDED")
        }
    };
    let result = match (a.status, a.body.get("delay_id").and_then(Value::as_str)) {
        (200, Some(id)) => {
            let _ = ctx.client.call(&manage(s, id, "cancel", &token)).await;
            Ok(MaxDelay::None)
        }
        (400, _) => {
            let wrapped = s.prefix == Prefix::Stable || a.errcode() == Some("M_UNKNOWN");
            let shape_ok = wrapped
                && a.body.get(code_key).and_then(Value::as_str) == Some(code)
                && a.body.get(max_key).is_some();
            let max = a
                .body
                .get(max_key)
                .or_else(|| a.body.get("max_delay"))
                .or_else(|| a.body.get("org.matrix.msc4140.max_delay"));
            Ok(match max.and_then(Value::as_u64) {
                Some(max) => MaxDelay::Reported { max, answer: a.short(), shape_ok },
                None => MaxDelay::Unreported { answer: a.short() },
            })
        }
        _ => Err(format!("a 400-day delay answered {}", a.short())),
    };
    ctx.source.release(&users);
    result
}

pub fn max_delay_shape_info(prefix: Prefix) -> CheckInfo {
    let ids: &[&str] = if prefix == Prefix::Unstable { &["SCH-5", "UNS-2"] } else { &["SCH-5"] };
    CheckInfo::new(
        "control/over-long-delay-refused-with-max-delay",
        "a delay over the maximum gets 400 M_MAX_DELAY_EXCEEDED with `max_delay`",
        ids,
    )
}

pub fn max_delay_verdicts(m: &MaxDelay, prefix: Prefix) -> [CheckResult; 2] {
    let month = 31 * 86_400_000u64;
    let shape = max_delay_shape_info(prefix);
    let bound = max_delay_info();
    match m {
        MaxDelay::None => [
            shape.result(
                Verdict::NotApplicable,
                "a 400-day delay was accepted: the server has no maximum (a MAY)",
                0,
            ),
            bound.result(Verdict::Fail, "a delay of 400 days was accepted: no maximum of a month", 0),
        ],
        MaxDelay::Reported { max, answer, shape_ok } => [
            if *shape_ok {
                shape.pass(&answered(), format!("max_delay {max} ms"), 0)
            } else {
                shape.result(Verdict::Fail, format!("a 400-day delay answered {answer}"), 0)
            },
            if *max <= month {
                bound.pass(&answered(), format!("max_delay {max} ms"), 0)
            } else {
                bound.result(
                    Verdict::Fail,
                    format!("max_delay {max} ms is more than a month ({month} ms)"),
                    0,
                )
            },
        ],
        MaxDelay::Unreported { answer } => [
            shape.result(Verdict::Fail, format!("a 400-day delay answered {answer}"), 0),
            bound.result(
                Verdict::NotApplicable,
                "the server refused 400 days but did not say its maximum",
                0,
            ),
        ],
    }
}
