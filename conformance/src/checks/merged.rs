//! Hand-written checks of the merged revision (2026-07-10): what its witness traces cannot say
//! (bad scheduling bodies, the maximum delay's 403, `unsigned.delay_id`), and the SCH-20 report on
//! the earlier revisions' `delay` query parameter.

use crate::checks::control::{manage, schedule_message, user_with_room, MaxDelay};
use crate::client::{segment, Request};
use crate::context::Context;
use crate::outcome::{CheckInfo, CheckResult, Clause, Verdict};
use serde_json::{json, Value};
use spec_model::Revision;
use std::collections::BTreeSet;
use std::time::Duration;

const MERGED: Revision = Revision::Rev2026_07_10;

fn answered() -> BTreeSet<Clause> {
    BTreeSet::from([Clause::Answer])
}

fn delayed_event_path(ctx: &Context, room: &str, txn: &str) -> String {
    let rooms = match ctx.surface.prefix {
        spec_model::types::Prefix::Stable => "/_matrix/client/v3/rooms",
        spec_model::types::Prefix::Unstable => "/_matrix/client/unstable/org.matrix.msc4140/rooms",
    };
    format!("{rooms}/{}/delayed_event/m.room.message/{}", segment(room), segment(txn))
}

pub fn max_delay_info() -> CheckInfo {
    CheckInfo::new(
        "control/over-long-delay-refused-403",
        "a delay over the maximum gets 403 M_FORBIDDEN; the capability advertises that maximum",
        &["SCH-15", "DSC-4"],
    )
    .in_revision(MERGED)
}

/// SCH-15 / DSC-4: the capability's `max_delay_ms`, and what a 400-day delay gets.
pub async fn probe_max_delay(ctx: &Context) -> Result<(MaxDelay, Option<u16>), String> {
    let (users, room) = user_with_room(ctx, 1).await?;
    let token = users[0].access_token.clone();
    let caps = ctx
        .client
        .call(&Request::get("/_matrix/client/v3/capabilities").auth(&token))
        .await
        .map_err(|e| e.to_string())?;
    let cap = caps.body.pointer("/capabilities").and_then(|c| {
        c.get("m.delayed_events").or_else(|| c.get("org.matrix.msc4140.delayed_events")).cloned()
    });
    let advertised = cap.as_ref().and_then(|c| c.get("max_delay_ms")).and_then(Value::as_u64);
    let outstanding = cap
        .as_ref()
        .and_then(|c| c.get("max_scheduled"))
        .and_then(Value::as_u64)
        .map(|n| n.min(u16::MAX as u64) as u16);
    let huge = 400 * 86_400_000u64;
    let txn = format!("{}-maxprobe", ctx.run_id);
    let a = ctx
        .client
        .call(&schedule_message(&ctx.surface, &room, &txn, &huge.to_string(), &token))
        .await
        .map_err(|e| e.to_string())?;
    let result = match (a.status, a.body.get("delay_id").and_then(Value::as_str)) {
        (200, Some(id)) => {
            let _ = ctx.client.call(&manage(&ctx.surface, id, "cancel", &token)).await;
            MaxDelay::None
        }
        _ => {
            let shape_ok = a.status == 403 && a.errcode() == Some("M_FORBIDDEN");
            match advertised {
                Some(max) => MaxDelay::Reported { max, answer: a.short(), shape_ok },
                None => MaxDelay::Unreported { answer: a.short() },
            }
        }
    };
    ctx.source.release(&users);
    Ok((result, outstanding))
}

/// The verdict on the probe: PASS when the 400-day delay got 403 `M_FORBIDDEN` and the capability
/// advertised a maximum below it; a server without a maximum (a MAY) is NOT-APPLICABLE.
pub fn max_delay_verdict(m: &MaxDelay) -> CheckResult {
    let info = max_delay_info();
    match m {
        MaxDelay::None => info.result(Verdict::NotApplicable, "a 400-day delay was accepted: no maximum (a MAY)", 0),
        MaxDelay::Reported { max, answer, shape_ok: true } if *max < 400 * 86_400_000 => {
            info.pass(&answered(), format!("max_delay_ms {max}; 400 days answered {answer}"), 0)
        }
        MaxDelay::Reported { max, answer, .. } => info.result(
            Verdict::Fail,
            format!("a 400-day delay answered {answer} (SCH-15: 403 M_FORBIDDEN); the capability says max_delay_ms {max}"),
            0,
        ),
        MaxDelay::Unreported { answer } => info.result(
            Verdict::Fail,
            format!("DSC-4: a 400-day delay was refused ({answer}) but the capability advertises no max_delay_ms"),
            0,
        ),
    }
}

pub fn bad_bodies_info() -> CheckInfo {
    CheckInfo::new(
        "input/delayed-event-bad-bodies",
        "PUT .../delayed_event with a missing or invalid field gets 400 and schedules nothing",
        &["SCH-13"],
    )
    .in_revision(MERGED)
}

/// SCH-13: each body, the error codes the text allows for it.
fn bodies(strict: bool) -> Vec<(&'static str, &'static str, &'static [&'static str])> {
    let invalid: &[&str] = &["M_BAD_JSON", "M_INVALID_PARAM"];
    let missing: &[&str] =
        if strict { &["M_MISSING_PARAM"] } else { &["M_MISSING_PARAM", "M_BAD_JSON", "M_INVALID_PARAM"] };
    vec![
        ("no delay_ms", r#"{"content":{}}"#, missing),
        ("no content", r#"{"delay_ms":60000}"#, missing),
        ("delay_ms 0", r#"{"delay_ms":0,"content":{}}"#, invalid),
        ("delay_ms -1", r#"{"delay_ms":-1,"content":{}}"#, invalid),
        ("delay_ms a string", r#"{"delay_ms":"60000","content":{}}"#, invalid),
        ("delay_ms 1.5", r#"{"delay_ms":1.5,"content":{}}"#, invalid),
        ("content a string", r#"{"delay_ms":60000,"content":"x"}"#, invalid),
        ("content an array", r#"{"delay_ms":60000,"content":[]}"#, invalid),
        ("state_key a number", r#"{"delay_ms":60000,"content":{},"state_key":5}"#, invalid),
        ("a JSON array", "[]", &["M_BAD_JSON", "M_NOT_JSON"]),
        ("not JSON", r#"{"delay_ms":"#, &["M_NOT_JSON", "M_BAD_JSON"]),
    ]
}

pub async fn bad_bodies(ctx: &Context) -> CheckResult {
    let info = bad_bodies_info();
    let t = ctx.client.now();
    let result = async {
        let (users, room) = user_with_room(ctx, 1).await?;
        let token = users[0].access_token.clone();
        let mut failures = Vec::new();
        for (i, (what, body, codes)) in bodies(ctx.opts.strict).into_iter().enumerate() {
            let path = delayed_event_path(ctx, &room, &format!("{}-bad-{i}", ctx.run_id));
            let mut req = Request::new(reqwest::Method::PUT, path).auth(&token);
            req.body = Some(crate::client::Body::Raw(body));
            let a = ctx.client.call(&req).await.map_err(|e| e.to_string())?;
            if a.status != 400 || !a.errcode().is_some_and(|c| codes.contains(&c)) {
                failures.push(format!("{what}: {} (want 400 {})", a.short(), codes.join(" or ")));
            }
        }
        let list = ctx
            .client
            .call(&Request::get(ctx.surface.delayed()).auth(&token))
            .await
            .map_err(|e| e.to_string())?;
        let in_room = |i: &&Value| i.get("room_id").and_then(Value::as_str) == Some(room.as_str());
        let left = list
            .body
            .get("delayed_events")
            .and_then(Value::as_array)
            .map_or(0, |l| l.iter().filter(in_room).count());
        ctx.source.release(&users);
        if left > 0 {
            failures.push(format!("{left} event(s) scheduled by the refused requests"));
        }
        Ok::<_, String>(failures)
    }
    .await;
    let ms = ctx.client.now() - t;
    match result {
        Ok(f) if f.is_empty() => info.pass(&answered(), "11 bodies refused, nothing scheduled", ms),
        Ok(f) => info.result(Verdict::Fail, f.join("; "), ms),
        Err(e) => info.result(Verdict::Error, e, ms),
    }
}

pub fn delay_id_unsigned_info() -> CheckInfo {
    CheckInfo::new(
        "model/srv-14-delay-id-in-unsigned-for-the-sender",
        "a sent delayed event carries unsigned.delay_id for its sender only",
        &["SRV-14"],
    )
    .needs(&[Clause::Answer, Clause::Room])
    .in_revision(MERGED)
}

/// SRV-14: schedule, send with the action, read the room as the sender and as another member.
pub async fn delay_id_unsigned(ctx: &Context) -> CheckResult {
    let info = delay_id_unsigned_info();
    let t = ctx.client.now();
    let key = match ctx.surface.prefix {
        spec_model::types::Prefix::Stable => "delay_id",
        spec_model::types::Prefix::Unstable => "org.matrix.msc4140.delay_id",
    };
    let result = async {
        let (users, room) = user_with_room(ctx, 2).await?;
        let (a, b) = (users[0].access_token.clone(), users[1].access_token.clone());
        let txn = format!("{}-unsigned", ctx.run_id);
        let s = ctx.client.call(&schedule_message(&ctx.surface, &room, &txn, "600000", &a)).await;
        let id =
            s.as_ref().ok().and_then(|s| s.body.get("delay_id")).and_then(Value::as_str).map(str::to_string);
        let Some(id) = id else {
            ctx.source.release(&users);
            return Err(format!("scheduling answered {}", s.map(|s| s.short()).unwrap_or_default()));
        };
        let sent =
            ctx.client.call(&manage(&ctx.surface, &id, "send", &a)).await.map_err(|e| e.to_string())?;
        if sent.status != 200 {
            ctx.source.release(&users);
            return Err(format!("the send action answered {}", sent.short()));
        }
        let path = format!("/_matrix/client/v3/rooms/{}/messages", segment(&room));
        let mut verdicts = Vec::new();
        for (who, token) in [("the sender", &a), ("another member", &b)] {
            let mut found = None;
            for _ in 0..40 {
                let m = ctx
                    .client
                    .call(&Request::get(&path).query("dir", "b").query("limit", "50").auth(token))
                    .await
                    .map_err(|e| e.to_string())?;
                found = m.body.get("chunk").and_then(Value::as_array).and_then(|c| {
                    c.iter()
                        .find(|e| {
                            e["type"] == "m.room.message" && e["content"]["body"] == "msc4140 conformance"
                        })
                        .cloned()
                });
                if found.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let Some(ev) = found else {
                return Err(format!("the sent message is not in the room as {who} reads it"));
            };
            verdicts.push((who, ev["unsigned"].get(key).cloned()));
        }
        ctx.source.release(&users);
        let want_sender = Some(json!(id));
        match (&verdicts[0].1, &verdicts[1].1) {
            (s, None) if *s == want_sender => Ok(None),
            (s, o) => Ok(Some(format!(
                "unsigned.{key}: the sender sees {}, another member {} (want {id} and nothing)",
                s.clone().unwrap_or(Value::Null),
                o.clone().unwrap_or(Value::Null)
            ))),
        }
    }
    .await;
    let ms = ctx.client.now() - t;
    match result {
        Ok(None) => info.pass(&BTreeSet::from([Clause::Answer, Clause::Room]), "", ms),
        Ok(Some(f)) => info.result(Verdict::Fail, f, ms),
        Err(e) => info.result(Verdict::Error, e, ms),
    }
}

/// SCH-20: what the server does with `?org.matrix.msc4140.delay=` (and `?delay=`) on `/send`:
/// an alias of the merged endpoint, a refusal, or an immediate send (a hazard: a client that
/// meant "later" sent now).
pub async fn legacy_parameter(ctx: &Context) -> String {
    let Ok((users, room)) = user_with_room(ctx, 1).await else { return "could not be probed".into() };
    let token = users[0].access_token.clone();
    let mut out = Vec::new();
    for param in ["org.matrix.msc4140.delay", "delay"] {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
            segment(&room),
            segment(&format!("{}-legacy-{param}", ctx.run_id))
        );
        let req = Request::put(path, json!({ "msgtype": "m.text", "body": "legacy" }))
            .query(param, "600000")
            .auth(&token);
        let said = match ctx.client.call(&req).await {
            Ok(a) if a.status == 200 && a.body.get("delay_id").is_some() => {
                if let Some(id) = a.body.get("delay_id").and_then(Value::as_str) {
                    let _ = ctx.client.call(&manage(&ctx.surface, id, "cancel", &token)).await;
                }
                "accepted as a deprecated alias (a delay_id)".to_string()
            }
            Ok(a) if a.status == 200 && a.body.get("event_id").is_some() => {
                "HAZARD: sent at once (an event_id), the delay ignored".to_string()
            }
            Ok(a) => format!("refused: {}", a.short()),
            Err(e) => format!("no answer: {e}"),
        };
        out.push(format!("`?{param}=` {said}"));
    }
    ctx.source.release(&users);
    out.join("; ")
}

pub fn retry_after_info() -> CheckInfo {
    CheckInfo::new(
        "limits/retry-after-at-the-count-limit",
        "at the count limit, 429 M_LIMIT_EXCEEDED with Retry-After = seconds to the user's next send time, rounded up",
        &["SCH-16"],
    )
    .in_revision(MERGED)
}

/// The `Retry-After` values a correct server may give: the user's next send time is 30 s after a
/// moment within the first scheduling request, the 429 comes from a moment within the last one;
/// both intervals are on the suite's clock, which ticks as the server's does.
fn retry_after_bounds(first: (u64, u64), last: (u64, u64), delay_ms: u64) -> (u64, u64) {
    let least = (first.0 + delay_ms).saturating_sub(last.1);
    let most = (first.1 + delay_ms).saturating_sub(last.0);
    (least.div_ceil(1000), most.div_ceil(1000))
}

/// SCH-16: fill a fresh user's count to the advertised (or declared) limit, the first event due in
/// 30 s, then schedule one more.
pub async fn retry_after(ctx: &Context) -> CheckResult {
    let info = retry_after_info();
    let t = ctx.client.now();
    let Some(limit) = ctx.max_outstanding() else {
        let why = "the server advertises no max_scheduled and --max-outstanding was not given (the limit is a SHOULD)";
        return info.result(Verdict::NotApplicable, why, 0);
    };
    if ctx.source.reuses_users() || !(1..=1000).contains(&limit) {
        let why = format!(
            "needs a fresh user and a limit of 1 to 1000 (limit {limit}, reused users: {})",
            ctx.source.reuses_users()
        );
        return info.result(Verdict::NotApplicable, why, 0);
    }
    const FIRST_MS: u64 = 30_000;
    let result = async {
        let (users, room) = user_with_room(ctx, 1).await?;
        let token = users[0].access_token.clone();
        let mut ids = Vec::new();
        let mut first = (0, 0);
        for i in 0..limit {
            let delay = if i == 0 { FIRST_MS } else { 600_000 };
            let txn = format!("{}-retry-{i}", ctx.run_id);
            let req = schedule_message(&ctx.surface, &room, &txn, &delay.to_string(), &token);
            let a = ctx.client.call(&req).await.map_err(|e| e.to_string())?;
            let Some(id) = a.body.get("delay_id").and_then(Value::as_str) else {
                return Err(format!(
                    "scheduling event {} of the limit {limit} answered {}",
                    i + 1,
                    a.short()
                ));
            };
            if i == 0 {
                first = (a.start, a.end);
            }
            ids.push(id.to_string());
        }
        // A rate limit clears; the count limit does not: a short 429 without a fitting header is
        // tried again, as a client would.
        let mut verdict = Err("no answer".to_string());
        for attempt in 0..4 {
            let txn = format!("{}-retry-over-{attempt}", ctx.run_id);
            let req = schedule_message(&ctx.surface, &room, &txn, "600000", &token);
            let a = ctx.client.send(&req).await.map_err(|e| e.to_string())?;
            let (least, most) = retry_after_bounds(first, (a.start, a.end), FIRST_MS);
            let header = a.retry_after.as_deref().and_then(|h| h.trim().parse::<u64>().ok());
            verdict = match (a.status, a.errcode(), header) {
                (429, Some("M_LIMIT_EXCEEDED"), Some(s)) if (least..=most).contains(&s) => {
                    Ok(format!("Retry-After {s} (allowed {least}..={most})"))
                }
                (429, Some("M_LIMIT_EXCEEDED"), _) => Err(format!(
                    "Retry-After {:?} where the user's next send time is {least}..={most} s away: {}",
                    a.retry_after,
                    a.short()
                )),
                _ => Err(format!(
                    "one over the limit of {limit} answered {} (Retry-After {:?})",
                    a.short(),
                    a.retry_after
                )),
            };
            let short_wait = a.body.get("retry_after_ms").and_then(Value::as_u64).filter(|ms| *ms <= 5_000);
            match (&verdict, short_wait) {
                (Err(_), Some(ms)) => tokio::time::sleep(Duration::from_millis(ms.max(10))).await,
                _ => break,
            }
        }
        for id in &ids {
            let _ = ctx.client.send(&manage(&ctx.surface, id, "cancel", &token)).await;
        }
        ctx.source.release(&users);
        Ok(verdict)
    }
    .await;
    let ms = ctx.client.now() - t;
    match result {
        Ok(Ok(note)) => info.pass(&answered(), note, ms),
        Ok(Err(f)) => info.result(Verdict::Fail, f, ms),
        Err(e) => info.result(Verdict::Error, e, ms),
    }
}

#[cfg(test)]
mod tests {
    use super::retry_after_bounds;

    // covers 2026-07-10: SCH-16
    // Would catch: bounds that admit a rounded-down value or reject the exact one.
    #[test]
    fn retry_after_bounds_round_up_from_both_ends() {
        // Scheduled during [1000, 1010], over the limit during [1100, 1105]: due 29.89-29.91 s later.
        assert_eq!(retry_after_bounds((1000, 1010), (1100, 1105), 30_000), (30, 30));
        // Exactly on a second.
        assert_eq!(retry_after_bounds((0, 0), (0, 0), 30_000), (30, 30));
        // A slow first request widens the range.
        assert_eq!(retry_after_bounds((0, 2500), (100, 200), 30_000), (30, 33));
    }
}
