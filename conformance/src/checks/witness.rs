//! Checks generated from the model: one per `sometimes` witness trace of `spec-model`. The trace's
//! operations run against the server in fresh rooms, model time units become real delays, and
//! every answer is judged by `lockstep` (so the server's own allowed choices never fail it).

use crate::checks::control::MaxDelay;
use crate::context::Context;
use crate::outcome::{CheckInfo, CheckResult, Verdict};
use crate::scenario::{Scenario, Stop};
use crate::witnesses::Witness;
use spec_model::config::Config;
use spec_model::op::{DelayParam, DelayRef, Op};
use spec_model::types::DelayId;

pub fn info(w: &Witness) -> CheckInfo {
    let refs: Vec<&str> = w.requirements.iter().map(String::as_str).collect();
    // Every scenario sends content (SCH-2), drains its timers (SRV-1, SRV-9) and judges the
    // rooms (SRV-7, SRV-8); its operations exercise their endpoints' rules.
    let mut also = vec!["SCH-2", "SRV-1", "SRV-7", "SRV-8", "SRV-9"];
    for op in w.ops() {
        also.extend(match op {
            Op::Manage { .. } => &["MGT-1", "MGT-9"][..],
            Op::ListScheduled { .. } => &["LST-1", "LST-4"][..],
            Op::ListFinalised { .. } => &["LST-2", "LST-4"][..],
            Op::ListScheduledBare { .. } => &["LST-6"][..],
            Op::Sync { .. } => &["PSH-1"][..],
            Op::Lookup { .. } => &["LKP-1", "LKP-2", "LKP-3"][..],
            Op::Capabilities { .. } => &["DSC-4"][..],
            _ => &[][..],
        });
    }
    let title = w.title.as_deref().unwrap_or(&w.property);
    CheckInfo::new(&format!("model/{}", slug(title)), title, &refs).also(&also)
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Whether a trace can say anything about a real server at all. Those that cannot are not made
/// into checks (a check that no server can fail is no check): the model's rate-limit traces need
/// millisecond windows (the `limits/` bursts stand in for SCH-6 and MGT-6; SRV-6's insertion
/// limit is not provoked black-box), its retention traces a retention of milliseconds (LST-5 is a
/// MAY no run can observe), and its application-service traces fix where one transaction ends,
/// which a server chooses (`appservice/psh-4-...` judges PSH-4 by the sequence instead).
pub fn runnable(w: &Witness, wcfg: &Config) -> Result<(), &'static str> {
    let rl = wcfg.rate_limits;
    if rl.scheduling.is_some() || rl.management.is_some() || rl.sending.is_some() || rl.lookups.is_some() {
        return Err("needs the model's millisecond rate-limit windows");
    }
    if wcfg.retention.max_age_ms < u64::MAX && w.requirements.iter().all(|r| r == "LST-5") {
        return Err("needs a retention of milliseconds");
    }
    if w.ops().iter().any(|op| matches!(op, Op::AppserviceTransaction { .. })) {
        return Err("fixes the server's transaction boundaries; PSH-4 is judged by appservice/psh-4-finalised-events-pushed-once-in-order");
    }
    Ok(())
}

pub fn translate(ctx: &Context, w: &Witness, wcfg: &Config) -> Result<Vec<Op>, String> {
    let unit = ctx.unit_ms();
    let mut ops = Vec::new();
    for op in w.ops() {
        let op = match op {
            Op::Schedule { delay: DelayParam::Ms(n), user, device, room, kind, content, txn } if n > 0 => {
                let over_max = wcfg.max_delay_ms.is_some_and(|m| n as u64 > m);
                let real = if over_max {
                    match &ctx.max_delay {
                        MaxDelay::Reported { max, .. } => max + unit,
                        MaxDelay::None => return Err("the server accepted a 400-day delay: it has no maximum (SCH-5 is a MAY)".into()),
                        MaxDelay::Unreported { .. } => {
                            return Err("the server did not report its maximum delay (see control/over-long-delay-refused-with-max-delay)".into())
                        }
                    }
                } else {
                    n as u64 * unit
                };
                Op::Schedule { delay: DelayParam::Ms(real as i64), user, device, room, kind, content, txn }
            }
            other => other,
        };
        ops.push(op);
    }
    if wcfg.max_outstanding_per_user == Some(0) && ctx.max_outstanding() != Some(0) {
        return Err("needs a server whose limit on scheduled events is 0 (SCH-17): configure one and pass --max-outstanding 0".into());
    }
    if w.requirements.iter().any(|r| r == "SCH-7" || r == "SCH-16") {
        if ctx.source.reuses_users() {
            return Err(
                "needs users with no outstanding delayed events; with --users the count is unknown".into()
            );
        }
        let (Some(model_limit), Some(limit)) = (wcfg.max_outstanding_per_user, ctx.max_outstanding()) else {
            return Err("the server's outstanding limit is unknown (pass --max-outstanding N if it has one; SCH-7 is a MAY)".into());
        };
        // Fill up to the server's limit with long delays (cancelled at the end), then the trace.
        let Some(Op::Schedule { user, room, kind, content, .. }) = ops.first().copied() else {
            return Err("unexpected SCH-7 trace".into());
        };
        let pad = limit.saturating_sub(model_limit) as usize;
        let filler = Op::Schedule {
            user,
            device: Default::default(),
            room,
            kind,
            content,
            delay: DelayParam::Ms((60 * unit) as i64),
            txn: None,
        };
        ops = prepend(vec![filler; pad], pad, ops);
    }
    if w.requirements.iter().any(|r| r == "LST-3" || r == "LST-7" || r == "LST-6") {
        // Enough events that a server's own page size (10 recommended) gives several pages (and
        // that a bare list cut to a page would show it, LST-6).
        let Some(Op::Schedule { user, room, kind, content, .. }) = ops.first().copied() else {
            return Err("unexpected pagination trace".into());
        };
        // Each a millisecond later than the one before: with equal due times two fillers
        // scheduled in the same millisecond tie, and a page that skips one of a tie (offset
        // tokens after an event left the list) is indistinguishable from another tie order.
        let filler = |i: usize| Op::Schedule {
            user,
            device: Default::default(),
            room,
            kind,
            content,
            delay: DelayParam::Ms((60 * unit) as i64 + i as i64),
            txn: None,
        };
        let mut fill: Vec<Op> = (0..PAGE_FILL).map(filler).collect();
        if ops.iter().any(|op| matches!(op, Op::ListFinalised { .. })) {
            let cancels = (0..PAGE_FILL).map(|i| Op::Manage {
                user,
                delay: DelayRef::Issued(DelayId(i as u16)),
                action: spec_model::types::Action::Cancel,
            });
            fill.extend(cancels);
        }
        ops = prepend(fill, PAGE_FILL, ops);
    }
    Ok(ops)
}

/// Extra events the pagination traces start with.
pub const PAGE_FILL: usize = 20;

/// `fill` (which schedules `ids` delayed events) before `ops`, whose delay ids move up by `ids`.
fn prepend(fill: Vec<Op>, ids: usize, ops: Vec<Op>) -> Vec<Op> {
    let shift = |d: DelayId| DelayId(d.0 + ids as u16);
    let moved = ops.into_iter().map(|op| match op {
        Op::Manage { user, delay: DelayRef::Issued(d), action } => {
            Op::Manage { user, delay: DelayRef::Issued(shift(d)), action }
        }
        Op::Fire { delay } => Op::Fire { delay: shift(delay) },
        Op::Discard { delay } => Op::Discard { delay: shift(delay) },
        other => other,
    });
    fill.into_iter().chain(moved).collect()
}

pub async fn run(ctx: &Context, w: &Witness, wcfg: &Config) -> CheckResult {
    let info = info(w);
    let started = ctx.client.now();
    let info = info.in_revision(wcfg.revision);
    if restarts(w) && crate::restart::How::preferred(ctx).is_none() {
        let why = "needs the server taken down and up during the scenario: give --restart-cmd or --kill-cmd";
        return info.result(Verdict::NotApplicable, why, 0);
    }
    // SCH-21: the trace's users other than the rooms' creator are the model's guests.
    let guests: Vec<spec_model::types::UserId> = if w.requirements.iter().any(|r| r == "SCH-21") {
        let mut g: Vec<_> = w.ops().iter().filter_map(Op::user).filter(|u| u.0 > 0).collect();
        g.sort();
        g.dedup();
        if g.is_empty() {
            return info.result(
                Verdict::NotApplicable,
                "the trace has no user but the rooms' creator to be a guest",
                0,
            );
        }
        g
    } else {
        Vec::new()
    };
    let ops = match translate(ctx, w, wcfg) {
        Ok(ops) => ops,
        Err(why) => return info.result(Verdict::NotApplicable, why, 0),
    };
    let users = ops.iter().filter_map(Op::user).map(|u| u.0 + 1).max().unwrap_or(1);
    let rooms = ops.iter().filter_map(Op::room).map(|r| r.0 + 1).max().unwrap_or(1);
    let tag = slug(&w.property).chars().take(24).collect::<String>();
    let mut sc = match Scenario::setup_with_guests(ctx, users, rooms, &tag, &guests).await {
        Ok(sc) => sc,
        Err(Stop::NotApplicable(m)) => return info.result(Verdict::NotApplicable, m, 0),
        Err(Stop::Fail(m) | Stop::Error(m)) => return info.result(Verdict::Error, format!("setup: {m}"), 0),
    };
    let outcome = drive(ctx, &mut sc, &ops).await;
    sc.release().await;
    let millis = ctx.client.now() - started;
    match outcome {
        // A deferred failure (MGT-8) gives way to a stricter one met later (SRV-8 on the rooms).
        Err(stop) => stop.result(&info, millis),
        Ok(()) if walks(w) && sc.notes.iter().any(|n| n.starts_with("skipped list")) => info.result(
            Verdict::NotApplicable,
            format!(
                "the server returned every item in one page, so no walk across pages was exercised ({})",
                sc.notes.join("; ")
            ),
            millis,
        ),
        Ok(()) => sc.verdict(&info, sc.notes.join("; "), millis),
    }
}

/// Traces that take the server down and up (PER-1..3).
pub fn restarts(w: &Witness) -> bool {
    w.ops().iter().any(|op| matches!(op, Op::ServerRestart { .. }))
}

/// Traces about walking pages (LST-3, LST-7).
fn walks(w: &Witness) -> bool {
    w.requirements.iter().any(|r| r == "LST-3" || r == "LST-7")
}

pub async fn drive(ctx: &Context, sc: &mut Scenario<'_>, ops: &[Op]) -> crate::scenario::Result<()> {
    let unit = ctx.unit_ms();
    let t0 = ctx.client.now();
    let mut elapsed = 0;
    for op in ops {
        match *op {
            Op::Advance { ms } => {
                elapsed += ms * unit;
                ctx.client.sleep_until(t0 + elapsed).await;
            }
            Op::Fire { delay } => sc.await_finalised(delay).await?,
            Op::ServerRestart { down_ms } => {
                let how = sc
                    .restart_with
                    .or_else(|| crate::restart::How::preferred(ctx))
                    .ok_or_else(|| Stop::NotApplicable("no --restart-cmd or --kill-cmd".into()))?;
                sc.server_restart(how, down_ms * unit).await?;
            }
            // The server's own choices: the judge already allows them at every step.
            Op::Discard { .. } | Op::Drain => {}
            _ => {
                sc.client_op(op).await?;
            }
        }
    }
    // LST-3: a walk the trace began is followed to its last page.
    sc.finish_walks().await?;
    sc.finish(4 * unit).await
}
