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
    let info = info(s);
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
    let outcome = drive(ctx, &mut sc, &ops).await;
    sc.release().await;
    let millis = ctx.client.now() - started;
    match outcome {
        Err(stop) => stop.result(&info, millis),
        Ok(()) => sc.verdict(&info, sc.notes.join("; "), millis),
    }
}
