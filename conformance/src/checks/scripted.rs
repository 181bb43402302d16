//! Hand-written scenarios in the model's own operations, judged exactly like the witness traces
//! (`lockstep` for every answer, the rooms and records at the end): behaviours the witness search
//! does not happen to reach in the shape a real server needs.

use super::witness::drive;
use crate::context::Context;
use crate::outcome::{CheckInfo, CheckResult};
use crate::scenario::Scenario;
use spec_model::op::{DelayParam, DelayRef, From, Op};
use spec_model::power::PowerChange;
use spec_model::types::{
    Action, ContentId, DelayId, DeviceId, EventKind, EventType, RoomId, StateKey, UserId,
};

/// One scripted scenario: its identity and its operations (delays in model units).
#[derive(Debug)]
pub struct Script {
    pub id: &'static str,
    pub title: &'static str,
    pub requirements: &'static [&'static str],
    pub ops: fn() -> Vec<Op>,
}

const ADMIN: UserId = UserId(0);
const OWNER: UserId = UserId(1);
const ROOM: RoomId = RoomId(0);

fn slot() -> EventKind {
    EventKind::state(EventType::RtcMember, StateKey::Key(0))
}

/// SRV-4 where the owner of the delayed state event may send it when it falls due: a server that
/// cancels late (or not at all) lets the old delayed state overwrite the newer state, which the
/// room then shows. (The witness traces' owners lack the power level, so there it would only fail
/// at send time and leave the room unchanged.)
fn srv4_owner_may_send() -> Vec<Op> {
    vec![
        Op::SetPower { user: ADMIN, room: ROOM, change: PowerChange::User(OWNER, 50) },
        Op::Schedule {
            user: OWNER,
            device: DeviceId(0),
            room: ROOM,
            kind: slot(),
            content: ContentId(0),
            delay: DelayParam::Ms(3),
            txn: None,
        },
        Op::SendState { user: ADMIN, room: ROOM, kind: slot(), content: ContentId(1) },
        Op::Advance { ms: 5 },
    ]
}

/// MGT-5 where the restart really moves the due time: restarted half-way, the event is still
/// scheduled after its original due time and sent only at the new one. (The witness traces
/// restart at the model's time 0, where a server that ignores restarts looks the same.)
fn restart_postpones_the_send() -> Vec<Op> {
    let me = ADMIN;
    vec![
        Op::Schedule {
            user: me,
            device: DeviceId(0),
            room: ROOM,
            kind: slot(),
            content: ContentId(0),
            delay: DelayParam::Ms(3),
            txn: None,
        },
        // Restarted at 2 units: due at 5 instead of 3; listed at 4, half-way between.
        Op::Advance { ms: 2 },
        Op::Manage { user: me, delay: DelayRef::Issued(DelayId(0)), action: Action::Restart },
        Op::Advance { ms: 2 },
        Op::ListScheduled { user: me, from: From::Start },
        Op::Advance { ms: 1 },
        Op::Fire { delay: DelayId(0) },
    ]
}

/// PSH-1 with a `since` token: a sync after one returns only what was finalised in between.
fn sync_since_the_token() -> Vec<Op> {
    let me = ADMIN;
    let schedule = |content| Op::Schedule {
        user: me,
        device: DeviceId(0),
        room: ROOM,
        kind: slot(),
        content: ContentId(content),
        delay: DelayParam::Ms(40),
        txn: None,
    };
    let cancel = |id| Op::Manage { user: me, delay: DelayRef::Issued(DelayId(id)), action: Action::Cancel };
    vec![
        schedule(0),
        schedule(1),
        cancel(0),
        Op::Sync { user: me, initial: true, include_finalised: true },
        cancel(1),
        Op::Sync { user: me, initial: false, include_finalised: true },
        Op::Sync { user: me, initial: false, include_finalised: true },
    ]
}

/// PER-1..3 and SRV-8 across a restart (merged revision): two events fall due while the server
/// is down (scheduled latest-due first), three outlive the restart (one of them restarted just
/// before it), one was cancelled and one sent by its action before it. Afterwards the survivors
/// are looked up and left to fire; the rooms must show each sent event once.
fn across_a_restart() -> Vec<Op> {
    let me = ADMIN;
    let schedule = |content: u8, delay: i64, kind: EventKind| Op::Schedule {
        user: me,
        device: DeviceId(0),
        room: ROOM,
        kind,
        content: ContentId(content),
        delay: DelayParam::Ms(delay),
        txn: Some(spec_model::types::TxnId(content)),
    };
    let message = EventKind::message;
    let act = |id: u16, action| Op::Manage { user: me, delay: DelayRef::Issued(DelayId(id)), action };
    let lookup = |id: u16| Op::Lookup { user: me, delay: DelayRef::Issued(DelayId(id)) };
    vec![
        schedule(0, 3, message()),
        schedule(1, 2, message()),
        schedule(2, 12, slot()),
        schedule(3, 12, message()),
        schedule(4, 12, message()),
        schedule(5, 12, message()),
        Op::Advance { ms: 1 },
        act(3, Action::Restart),
        act(4, Action::Cancel),
        act(5, Action::Send),
        // Down for 4 units: both short ones fall due meanwhile, the restarted one (due at 13) not.
        Op::ServerRestart { down_ms: 4 },
        lookup(0),
        lookup(1),
        lookup(2),
        lookup(3),
        lookup(4),
        lookup(5),
    ]
}

/// The restart scenarios (merged revision), each run with `--restart-cmd` and with `--kill-cmd`.
pub const RESTART_SCRIPTS: &[Script] = &[Script {
    id: "restart/per-1-2-3-answered-effects-survive",
    title: "across a restart: scheduled events kept as they were (a restart included), overdue ones sent at startup in send-time order, cancelled and sent ones not sent again",
    requirements: &["PER-1", "PER-2", "PER-3", "PER-4", "SRV-8"],
    ops: across_a_restart,
}];

pub fn restart_info(s: &Script, how: crate::restart::How) -> CheckInfo {
    let (suffix, title) = match how {
        crate::restart::How::Clean => ("clean-stop", "with a clean stop (--restart-cmd)"),
        crate::restart::How::Kill => ("kill", "with a kill (--kill-cmd)"),
    };
    CheckInfo::new(&format!("{}/{suffix}", s.id), &format!("{} {title}", s.title), s.requirements)
        .in_revision(spec_model::Revision::Rev2026_07_10)
}

pub async fn run_restart(ctx: &Context, s: &Script, how: crate::restart::How) -> CheckResult {
    let info = restart_info(s, how);
    if how.command(ctx).is_none() {
        let why = format!("needs the server taken down and up: give {}", how.flag());
        return info.result(crate::outcome::Verdict::NotApplicable, why, 0);
    }
    run_with(ctx, s, info, Some(how)).await
}

pub const SCRIPTS: &[Script] = &[
    Script {
        id: "scripted/srv-4-cancelled-although-its-owner-may-send-it",
        title: "another user's state update cancels a delayed state event its owner may send; the newer state stays",
        requirements: &["SRV-4"],
        ops: srv4_owner_may_send,
    },
    Script {
        id: "scripted/mgt-5-restart-postpones-the-send",
        title: "restarted half-way, an event is still scheduled after its original due time and sent at the new one",
        requirements: &["MGT-5", "SRV-1"],
        ops: restart_postpones_the_send,
    },
    Script {
        id: "scripted/psh-1-sync-since-the-token",
        title: "a sync with `since` carries only the events finalised after that token, then none",
        requirements: &["PSH-1"],
        ops: sync_since_the_token,
    },
];

pub fn info(s: &Script) -> CheckInfo {
    CheckInfo::new(s.id, s.title, s.requirements).also(&["SRV-2", "SRV-7", "SRV-8"])
}

pub async fn run(ctx: &Context, s: &Script) -> CheckResult {
    run_with(ctx, s, info(s), None).await
}

async fn run_with(
    ctx: &Context,
    s: &Script,
    info: CheckInfo,
    how: Option<crate::restart::How>,
) -> CheckResult {
    let started = ctx.client.now();
    // Model time units become real delays, as for the witness traces.
    let unit = ctx.unit_ms() as i64;
    let ops: Vec<Op> = (s.ops)()
        .into_iter()
        .map(|op| match op {
            Op::Schedule { delay: DelayParam::Ms(n), user, device, room, kind, content, txn } => {
                Op::Schedule { delay: DelayParam::Ms(n * unit), user, device, room, kind, content, txn }
            }
            other => other,
        })
        .collect();
    let users = ops.iter().filter_map(Op::user).map(|u| u.0 + 1).max().unwrap_or(1);
    let mut sc = match Scenario::setup(ctx, users, 1, "scripted").await {
        Ok(sc) => sc,
        Err(stop) => return stop.result(&info, 0),
    };
    sc.restart_with = how;
    let outcome = drive(ctx, &mut sc, &ops).await;
    sc.release().await;
    let millis = ctx.client.now() - started;
    match outcome {
        Err(stop) => stop.result(&info, millis),
        Ok(()) => sc.verdict(&info, sc.notes.join("; "), millis),
    }
}
