//! Sound timing. The suite's clock and the server's are never compared with each other; each
//! verdict uses one clock only:
//!
//! - suite clock: a timer armed by a request that started at `s` and ended at `e` is really due
//!   somewhere in `[s + delay, e + delay]`. So an event seen sent by an answer that ended before
//!   `s + delay` was sent early (SRV-1), and one still unsent when a poll started after
//!   `e + delay + lateness` is late (SRV-9). Anything in between is allowed.
//! - server clock: a sent event's `origin_server_ts` is not before its `running_since + delay`.

use crate::client::{segment, Request};
use crate::scenario::{Result, Scenario, Stop};
use serde_json::Value;
use spec_model::types::DelayId;

/// When a timer was (re)armed, on the suite's clock, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Arm {
    pub start: u64,
    pub end: u64,
    pub delay: u64,
}

impl Arm {
    /// Before this, a correct server cannot have sent it by timer.
    pub fn earliest(&self) -> u64 {
        self.start.saturating_add(self.delay)
    }
    /// A poll starting after this must see it finalised.
    pub fn deadline(&self, lateness: u64) -> u64 {
        self.end.saturating_add(self.delay).saturating_add(lateness)
    }
}

/// Check every finalised record the scenario saw: never early on either clock, and a sent event
/// in the room exactly as scheduled (SRV-1, SRV-7).
/// A merged-revision lookup of a finalised event (LKP-2) in the seed revision's finalised-item
/// shape, which the checks below read; the outcome and reason follow from the fields as LKP-3
/// says (sent by the timer when `finalised_ts >= scheduled_at + delay_ms`). `None` while the
/// event is scheduled (no `finalised_ts`).
pub fn finalised_from_lookup(body: &Value) -> Option<Value> {
    let ts = body.get("finalised_ts")?.clone();
    let since = body.get("scheduled_at").cloned().unwrap_or(Value::Null);
    let delay = body.get("delay_ms").cloned().unwrap_or(Value::Null);
    let sent = body.get("event_id").is_some();
    let due = since.as_u64().zip(delay.as_u64()).map(|(s, d)| s.saturating_add(d));
    let by_timer = sent && due.zip(ts.as_u64()).is_some_and(|(due, t)| t >= due);
    let reason = match () {
        _ if body.get("error").is_some() => "error",
        _ if by_timer => "delay",
        _ => "action",
    };
    let mut item = serde_json::json!({
        "delayed_event": { "delay_id": body.get("delay_id"), "running_since": since, "delay": delay },
        "outcome": if sent { "send" } else { "cancel" },
        "reason": reason,
        "origin_server_ts": ts,
    });
    if let Some(e) = body.get("event_id") {
        item["event_id"] = e.clone();
    }
    Some(item)
}

pub async fn check_scenario(sc: &mut Scenario<'_>) -> Result<()> {
    let seen: Vec<(DelayId, Value, u64)> =
        sc.finalised_seen.iter().map(|(id, (v, at))| (*id, v.clone(), *at)).collect();
    for (id, item, seen_at) in seen {
        if !item.get("origin_server_ts").is_some_and(serde_json::Value::is_u64) {
            return Err(Stop::Fail(format!(
                "LST-8: the finalised item of {id} has no origin_server_ts: {item}"
            )));
        }
        let by_timer = item.get("reason").and_then(Value::as_str) == Some("delay");
        let sent = item.get("outcome").and_then(Value::as_str) == Some("send");
        if by_timer && sent {
            if let Some(arm) = sc.arms.get(&id) {
                if seen_at < arm.earliest() {
                    return Err(Stop::Fail(format!(
                        "SRV-1: {id} was reported sent by its timer {} ms before it could be due (suite clock)",
                        arm.earliest() - seen_at
                    )));
                }
            }
            never_early_on_server_clock(id, &item)?;
        }
        if sent {
            sent_event_as_scheduled(sc, id, &item, by_timer).await?;
        }
    }
    Ok(())
}

fn never_early_on_server_clock(id: DelayId, item: &Value) -> Result<()> {
    let d = &item["delayed_event"];
    let (Some(since), Some(delay), Some(ts)) =
        (d["running_since"].as_u64(), d["delay"].as_u64(), item["origin_server_ts"].as_u64())
    else {
        return Err(Stop::Fail(format!(
            "LST-2: finalised item of {id} lacks running_since/delay/origin_server_ts: {item}"
        )));
    };
    if ts < since + delay {
        return Err(Stop::Fail(format!(
            "SRV-1: {id} sent at origin_server_ts {ts}, {} ms before running_since + delay ({since} + {delay})",
            since + delay - ts
        )));
    }
    Ok(())
}

/// SRV-7: the event in the room has the scheduled type, state key, content and sender.
async fn sent_event_as_scheduled(sc: &Scenario<'_>, id: DelayId, item: &Value, by_timer: bool) -> Result<()> {
    let Some(event_id) = item.get("event_id").and_then(Value::as_str) else {
        return Err(Stop::Fail(format!("LST-2: {id} was sent but its finalised item has no event_id")));
    };
    let st = sc.judge.any();
    let Some(d) = st.record(id) else { return Ok(()) };
    let Some(room_id) = sc.names.rooms.get(d.room.0 as usize) else { return Ok(()) };
    // Read as a current member (the owner may have left).
    let reader =
        st.rooms[d.room.0 as usize].members.iter().next().and_then(|u| sc.names.users.get(u.0 as usize));
    let Some(reader) = reader else { return Ok(()) };
    let path = format!("/_matrix/client/v3/rooms/{}/messages", segment(room_id));
    let a = sc
        .ctx
        .client
        .call(&Request::get(path).query("dir", "b").query("limit", "200").auth(&reader.access_token))
        .await?;
    let chunk = a.body.get("chunk").and_then(Value::as_array).cloned().unwrap_or_default();
    let Some(ev) = chunk.iter().find(|e| e.get("event_id").and_then(Value::as_str) == Some(event_id)) else {
        return Err(Stop::Fail(format!(
            "SRV-7: {id} reported sent as {event_id}, which the room's timeline does not hold"
        )));
    };
    let owner = sc.names.users.get(d.owner.0 as usize).map(|u| u.user_id.clone()).unwrap_or_default();
    let want_key = d.kind.state_key.map(|k| sc.names.real_value(&k.to_string()));
    let checks = [
        ("type", ev.get("type").cloned(), Some(Value::from(d.kind.event_type.as_str()))),
        ("sender", ev.get("sender").cloned(), Some(Value::from(owner))),
        ("state_key", ev.get("state_key").cloned(), want_key.map(Value::from)),
        (
            "content",
            ev.get("content").cloned(),
            Some(crate::names::real_content(d.kind.event_type, d.content)),
        ),
    ];
    for (field, got, want) in checks {
        if got != want {
            return Err(Stop::Fail(format!(
                "SRV-7: the event sent for {id} has {field} {} where the scheduled one had {}",
                got.unwrap_or(Value::Null),
                want.unwrap_or(Value::Null)
            )));
        }
    }
    // SRV-8: no more copies of it in the room than sends that could have put them there.
    let same = |e: &&Value| {
        e.get("type") == ev.get("type")
            && e.get("sender") == ev.get("sender")
            && e.get("state_key") == ev.get("state_key")
            && e.get("content") == ev.get("content")
    };
    let copies = chunk.iter().filter(same).count();
    let senders = sc.possible_senders(d.owner, d.kind, d.content);
    if copies > senders {
        return Err(Stop::Fail(format!(
            "SRV-8: the room holds {copies} copies of the event sent for {id}, but at most {senders} sends could have made them"
        )));
    }
    if by_timer {
        let ts = ev.get("origin_server_ts").and_then(Value::as_u64);
        let since = item.pointer("/delayed_event/running_since").and_then(Value::as_u64);
        if let (Some(ts), Some(since)) = (ts, since) {
            if ts < since + d.delay_ms {
                return Err(Stop::Fail(format!(
                    "SRV-1: event {event_id} of {id} has origin_server_ts {ts} before its due time"
                )));
            }
        }
    }
    Ok(())
}
