//! `/sync` with `since`, long-poll `timeout`, inline or stored filters, and PSH-1/PSH-2's
//! `finalised_events` (UNS-1: `org.matrix.msc4140.finalised_events` on the unstable surface).

use crate::engine::sync_feed::{SyncRequest, SyncResponse, SyncToken};
use crate::error::MatrixError;
use crate::http::extract::{ApiResult, Auth, Query};
use crate::http::{render, AppState};
use crate::sync::lock;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// Longest long-poll we honour.
const MAX_TIMEOUT_MS: u64 = 300_000;

/// The parts of a filter the server honours.
struct Filter {
    timeline_limit: usize,
    include_finalised: bool,
}

fn read_filter(s: &crate::engine::accounts::Session, q: &Query) -> Result<Filter, MatrixError> {
    let value = match q.get("filter")? {
        None => Value::Object(Map::new()),
        Some(text) if text.trim_start().starts_with('{') => serde_json::from_str(text)
            .map_err(|e| MatrixError::bad_json(format!("filter is not valid JSON: {e}")))?,
        Some(id) => {
            let filters = lock(&s.account.filters);
            id.parse::<usize>()
                .ok()
                .and_then(|i| filters.get(i).cloned())
                .ok_or_else(|| MatrixError::invalid_param(format!("Unknown filter {id:?}")))?
        }
    };
    let timeline_limit = value
        .pointer("/room/timeline/limit")
        .and_then(Value::as_u64)
        .map_or(20, |l| l.clamp(1, 500) as usize);
    // PSH-2 / UNS-1: either name set to false removes the key.
    let off = |key: &str| value.get(key) == Some(&Value::Bool(false));
    let include_finalised = !off("finalised_events") && !off("org.matrix.msc4140.finalised_events");
    Ok(Filter { timeline_limit, include_finalised })
}

fn render_sync(app: &AppState, user: &str, r: &SyncResponse) -> Value {
    let viewer = Some(user);
    let mut join = Map::new();
    for room in &r.joined {
        join.insert(
            room.room_id.to_string(),
            json!({
                "timeline": {
                    "events": room.timeline.iter().map(|e| render::event(e, viewer)).collect::<Vec<_>>(),
                    "limited": room.limited,
                    "prev_batch": format!("t{}", room.prev_batch),
                },
                "state": { "events": room.state.iter().map(|e| render::event(e, viewer)).collect::<Vec<_>>() },
                "ephemeral": { "events": [] },
                "account_data": { "events": [] },
                "unread_notifications": {},
            }),
        );
    }
    let mut invite = Map::new();
    for room in &r.invited {
        let events: Vec<Value> = room.events.iter().map(|e| render::stripped(e)).collect();
        invite.insert(room.room_id.to_string(), json!({ "invite_state": { "events": events } }));
    }
    let mut leave = Map::new();
    for room in &r.left {
        let events: Vec<Value> = room.events.iter().map(|e| render::event(e, viewer)).collect();
        leave.insert(
            room.room_id.to_string(),
            json!({ "timeline": { "events": events }, "state": { "events": [] } }),
        );
    }
    let mut body = json!({
        "next_batch": r.next_batch.to_string(),
        "rooms": { "join": join, "invite": invite, "leave": leave },
        "presence": { "events": [] },
        "account_data": { "events": [] },
        "to_device": { "events": [] },
        "device_lists": { "changed": [], "left": [] },
        "device_one_time_keys_count": {},
    });
    // PSH-1: absent when there are none; DECIDED: an array of LST-2 items.
    if !crate::planted!(app.engine.settings, SyncKeyAbsent) {
        if let Some(m) = body.as_object_mut() {
            render::insert_finalised_events(m, &r.finalised, app.engine.settings.sync_keys);
        }
    }
    body
}

async fn sync(State(app): State<AppState>, Auth(s): Auth, q: Query) -> ApiResult {
    let since = q.get("since")?.map(SyncToken::parse).transpose()?;
    let timeout_ms = match q.get("timeout")? {
        None => 0,
        Some(t) => t
            .parse::<u64>()
            .map_err(|_| MatrixError::invalid_param("timeout must be a non-negative integer"))?,
    };
    let full_state = match q.get("full_state")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(MatrixError::invalid_param("full_state must be true or false").into()),
    };
    let mut filter = read_filter(&s, &q)?;
    if crate::planted!(app.engine.settings, SyncFilterIgnored) {
        filter.include_finalised = true;
    }
    // PSH-1 is the seed text's: the merged one pushes nothing over `/sync`.
    filter.include_finalised &= !app.engine.settings.revision.is_merged();
    let req = SyncRequest {
        since,
        full_state,
        timeline_limit: filter.timeline_limit,
        include_finalised: filter.include_finalised,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms.min(MAX_TIMEOUT_MS));
    let mut changes = app.shell.subscribe();
    loop {
        // Mark the current change as seen before looking, so a change after the look wakes us.
        changes.borrow_and_update();
        let r = app.engine.sync(&s, &req, app.now());
        if since.is_none() || !r.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(render_sync(&app, &s.account.user_id, &r)));
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/sync", get(sync))
}
