//! Rate limits (SHOULD: SCH-6, MGT-6, SEC-3): a burst of requests from one fresh user must meet
//! `429 M_LIMIT_EXCEEDED` with `retry_after_ms` within `--burst` requests. The model's own rate
//! limit traces need millisecond windows no real server has, so these are hand-written.

use super::control::{manage, schedule_message, user_with_room};
use crate::client::Answer;
use crate::context::Context;
use crate::outcome::{CheckInfo, CheckResult, Verdict};
use serde_json::Value;

pub fn scheduling_info() -> CheckInfo {
    CheckInfo::new(
        "limits/scheduling-is-rate-limited",
        "a burst of scheduling requests meets 429 M_LIMIT_EXCEEDED",
        &["SCH-6", "SEC-3"],
    )
}

pub fn management_info() -> CheckInfo {
    CheckInfo::new(
        "limits/management-is-rate-limited",
        "a burst of management requests meets 429 M_LIMIT_EXCEEDED",
        &["MGT-6", "SEC-3"],
    )
}

fn limited(a: &Answer) -> Option<Result<(), String>> {
    if a.status != 429 {
        return None;
    }
    Some(if a.errcode() == Some("M_LIMIT_EXCEEDED") {
        Ok(())
    } else {
        Err(format!("429 without M_LIMIT_EXCEEDED: {}", a.short()))
    })
}

/// A burst leaves its user rate limited, which would disturb the checks that reuse it next.
fn reused(ctx: &Context, info: &CheckInfo) -> Option<CheckResult> {
    ctx.source.reuses_users().then(|| {
        info.result(
            Verdict::NotApplicable,
            "a burst would leave a reused user (--users) rate limited for later checks",
            0,
        )
    })
}

pub async fn scheduling(ctx: &Context) -> CheckResult {
    let info = scheduling_info();
    if let Some(na) = reused(ctx, &info) {
        return na;
    }
    let t = ctx.client.now();
    let r: Result<String, String> = async {
        let (users, room) = user_with_room(ctx, 1).await?;
        let token = users[0].access_token.clone();
        let long = (120 * ctx.unit_ms()).to_string();
        let mut outcome = Err(format!("no 429 within {} scheduling requests", ctx.opts.burst));
        for n in 0..ctx.opts.burst {
            let txn = format!("{}-burst-{n}", ctx.run_id);
            let a = ctx
                .client
                .send(&schedule_message(&ctx.surface, &room, &txn, &long, &token))
                .await
                .map_err(|e| e.to_string())?;
            if let Some(verdict) = limited(&a) {
                ctx.client.note_rate_limited("scheduling");
                outcome = verdict.map(|()| format!("429 after {n} requests in {} ms", ctx.client.now() - t));
                break;
            }
            // Cancel at once so that an outstanding-event limit (SCH-7) is not what stops us.
            if let Some(id) = a.body.get("delay_id").and_then(Value::as_str) {
                let _ = ctx.client.call(&manage(&ctx.surface, id, "cancel", &token)).await;
            } else {
                outcome = Err(format!("scheduling answered {}", a.short()));
                break;
            }
        }
        ctx.source.release(&users);
        outcome
    }
    .await;
    finish(info, t, ctx, r)
}

pub async fn management(ctx: &Context) -> CheckResult {
    let info = management_info();
    if let Some(na) = reused(ctx, &info) {
        return na;
    }
    let t = ctx.client.now();
    let r: Result<String, String> = async {
        let (users, room) = user_with_room(ctx, 1).await?;
        let token = users[0].access_token.clone();
        let long = (120 * ctx.unit_ms()).to_string();
        let txn = format!("{}-mgmt-burst", ctx.run_id);
        let a = ctx
            .client
            .call(&schedule_message(&ctx.surface, &room, &txn, &long, &token))
            .await
            .map_err(|e| e.to_string())?;
        let id = a.body.get("delay_id").and_then(Value::as_str).ok_or_else(|| a.short())?.to_string();
        let mut outcome = Err(format!("no 429 within {} restart requests", ctx.opts.burst));
        for n in 0..ctx.opts.burst {
            let a = ctx
                .client
                .send(&manage(&ctx.surface, &id, "restart", &token))
                .await
                .map_err(|e| e.to_string())?;
            if let Some(verdict) = limited(&a) {
                ctx.client.note_rate_limited("management");
                outcome = verdict.map(|()| format!("429 after {n} requests in {} ms", ctx.client.now() - t));
                break;
            }
            if a.status != 200 {
                outcome = Err(format!("restart answered {}", a.short()));
                break;
            }
        }
        // Best effort: the user is rate limited now, and waiting out the window would cost seconds.
        let _ = ctx.client.send(&manage(&ctx.surface, &id, "cancel", &token)).await;
        ctx.source.release(&users);
        outcome
    }
    .await;
    finish(info, t, ctx, r)
}

fn finish(info: CheckInfo, t: u64, ctx: &Context, r: Result<String, String>) -> CheckResult {
    let ms = ctx.client.now() - t;
    match r {
        Ok(note) => info.pass(&std::collections::BTreeSet::from([crate::outcome::Clause::Answer]), note, ms),
        Err(e) => info.result(Verdict::Fail, e, ms),
    }
}
