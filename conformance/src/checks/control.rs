//! Before any check counts: is the feature there at all (DSC-1), does the simplest use of it work
//! (the positive control), and what maximum delay does the server apply (SCH-5, SCH-8)?
//! Negative checks on a server that fails the control would pass vacuously, so they are then
//! reported NOT-APPLICABLE instead.

use crate::client::{segment, Client, Request};
use crate::context::Context;
use crate::outcome::{CheckInfo, CheckResult, Verdict};
use crate::provision::User;
use crate::surface::Surface;
use serde_json::{json, Value};

pub fn discovery_info() -> CheckInfo {
    CheckInfo::new("control/versions-advertises-msc4140", "/versions lists org.matrix.msc4140 while the unstable prefix is served", &["DSC-1"])
}

pub fn control_info() -> CheckInfo {
    CheckInfo::new(
        "control/schedule-list-send",
        "positive control: schedule a message, see it listed, send it, see it finalised",
        &["SCH-1", "SCH-3", "LST-1", "MGT-1", "MGT-3", "LST-2"],
    )
}

pub fn max_delay_info() -> CheckInfo {
    CheckInfo::new("control/maximum-delay-at-most-a-month", "the maximum delay is at most a month", &["SCH-8"])
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

pub fn schedule_message(surface: &Surface, room: &str, txn: &str, delay: &str, token: &str) -> Request {
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{}", segment(room), segment(txn));
    Request::put(path, json!({"msgtype": "m.text", "body": "msc4140 conformance"}))
        .query(surface.delay_param(), delay)
        .auth(token)
}

pub fn manage(surface: &Surface, id: &str, action: &str, token: &str) -> Request {
    Request::post(format!("{}/{}", surface.delayed(), segment(id)), json!({"action": action})).auth(token)
}

/// The ids in the `scheduled` list (or the bare unstable `delayed_events`).
pub async fn scheduled_ids(client: &Client, surface: &Surface, token: &str) -> Result<Vec<String>, String> {
    let a = client.call(&Request::get(format!("{}/scheduled", surface.delayed())).auth(token)).await.map_err(|e| e.to_string())?;
    let list = a.body.get("scheduled").and_then(Value::as_array).ok_or_else(|| format!("GET scheduled: {}", a.short()))?;
    Ok(list.iter().filter_map(|i| i.get("delay_id").and_then(Value::as_str).map(str::to_string)).collect())
}

pub async fn positive_control(ctx: &Context) -> CheckResult {
    let info = control_info();
    let t = ctx.client.now();
    let result = async {
        let (users, room) = user_with_room(ctx, 1).await?;
        let token = users[0].access_token.clone();
        let s = &ctx.surface;
        let delay = (4 * ctx.unit_ms()).to_string();
        let a = ctx.client.call(&schedule_message(s, &room, &format!("{}-control", ctx.run_id), &delay, &token)).await.map_err(|e| e.to_string())?;
        let Some(id) = a.body.get("delay_id").and_then(Value::as_str).map(str::to_string) else {
            return Err(format!("scheduling with `{}` answered {}", s.delay_param(), a.short()));
        };
        let listed = scheduled_ids(&ctx.client, s, &token).await?;
        if !listed.contains(&id) {
            return Err(format!("{id} is not in GET scheduled: {listed:?}"));
        }
        let a = ctx.client.call(&manage(s, &id, "send", &token)).await.map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(format!("the send action answered {}", a.short()));
        }
        let f = ctx.client.call(&Request::get(format!("{}/finalised", s.delayed())).auth(&token)).await.map_err(|e| e.to_string())?;
        let item = f
            .body
            .get("finalised")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|i| i.pointer("/delayed_event/delay_id").and_then(Value::as_str) == Some(&id)).cloned());
        ctx.source.release(&users);
        match item {
            Some(i) if i["outcome"] == "send" && i["reason"] == "action" && i["event_id"].is_string() => Ok(()),
            Some(i) => Err(format!("finalised item {i} (want outcome send, reason action, an event_id)")),
            None => Err(format!("{id} is not in GET finalised after the send action: {}", f.short())),
        }
    }
    .await;
    let ms = ctx.client.now() - t;
    match result {
        Ok(()) => info.result(Verdict::Pass, "", ms),
        Err(e) => info.result(Verdict::Fail, e, ms),
    }
}

/// Learn the server's maximum delay from an over-long request (`None`: it accepted 400 days).
pub async fn probe_max_delay(ctx: &Context) -> Result<Option<u64>, String> {
    let (users, room) = user_with_room(ctx, 1).await?;
    let token = users[0].access_token.clone();
    let s = &ctx.surface;
    let huge = 400 * 86_400_000u64;
    let a = ctx
        .client
        .call(&schedule_message(s, &room, &format!("{}-maxprobe", ctx.run_id), &huge.to_string(), &token))
        .await
        .map_err(|e| e.to_string())?;
    let result = match (a.status, a.body.get("delay_id").and_then(Value::as_str)) {
        (200, Some(id)) => {
            let _ = ctx.client.call(&manage(s, id, "cancel", &token)).await;
            Ok(None)
        }
        (400, _) => {
            let max = a.body.get("max_delay").or_else(|| a.body.get("org.matrix.msc4140.max_delay")).and_then(Value::as_u64);
            max.map(Some).ok_or_else(|| format!("a 400-day delay was refused without `max_delay`: {}", a.short()))
        }
        _ => Err(format!("a 400-day delay answered {}", a.short())),
    };
    ctx.source.release(&users);
    result
}

pub fn max_delay_verdict(max: Option<u64>) -> CheckResult {
    let info = max_delay_info();
    let month = 31 * 86_400_000u64;
    match max {
        Some(m) if m <= month => info.result(Verdict::Pass, format!("max_delay {m} ms"), 0),
        Some(m) => info.result(Verdict::Fail, format!("max_delay {m} ms is more than a month ({month} ms)"), 0),
        None => info.result(Verdict::Fail, "a delay of 400 days was accepted: no maximum", 0),
    }
}
