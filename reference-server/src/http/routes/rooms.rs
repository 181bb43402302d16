//! Rooms: create, join, leave, invite, send and state (ordinary or delayed: SCH-1, SCH-2, SCH-3,
//! SCH-9, UNS-1), state reads, `/messages`, members.

use crate::engine::accounts::{TxnPath, TxnResult};
use crate::engine::events::{raw, Draft, Event};
use crate::engine::lifecycle::Schedule;
use crate::engine::room_ops::{CreateRoom, Dir};
use crate::error::{MatrixError, Surface};
use crate::http::extract::{
    opt_str, parse_object, ApiResult, Auth, JsonObject, OnSurface, OptionalObject, PathParams, Query, RawBody,
};
use crate::http::{render, AppState};
use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The surface a delay was asked on, and the delay or why it is no delay.
type RequestedDelay = (Surface, Result<u64, MatrixError>);

/// SCH-1 / UNS-1: the delay a send asks for, if any, with the surface its name belongs to.
/// SCH-9: only a positive integer number of ms is a delay; integers too large for 64 bits are
/// still integers and fall to SCH-5.
fn requested_delay(q: &Query) -> Result<Option<RequestedDelay>, MatrixError> {
    let stable = q.get("delay")?;
    let unstable = q.get("org.matrix.msc4140.delay")?;
    let (surface, text) = match (stable, unstable) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(MatrixError::invalid_param("Give `delay` or `org.matrix.msc4140.delay`, not both"))
        }
        (Some(t), None) => (Surface::Stable, t),
        (None, Some(t)) => (Surface::Unstable, t),
    };
    let invalid =
        || MatrixError::invalid_param("The delay must be a positive integer number of milliseconds");
    let parsed = if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        Err(invalid())
    } else {
        match text.trim_start_matches('0') {
            "" => Err(invalid()),
            digits => Ok(digits.parse::<u64>().unwrap_or(u64::MAX)),
        }
    };
    Ok(Some((surface, parsed)))
}

/// Fault `lenient_delay`: whatever number the delay parameter holds, its integer part, at least 1.
fn lenient_delay(q: &Query) -> Result<u64, MatrixError> {
    let text = q.get("delay").ok().flatten().or(q.get("org.matrix.msc4140.delay").ok().flatten());
    let n: f64 = text.and_then(|t| t.parse().ok()).unwrap_or(1.0);
    Ok(if n.is_finite() { n.abs().trunc().max(1.0).min(u64::MAX as f64) as u64 } else { 1 })
}

fn check_name(what: &str, s: &str) -> Result<(), MatrixError> {
    if s.len() > 255 {
        return Err(MatrixError::invalid_param(format!("{what} is longer than 255 bytes")));
    }
    Ok(())
}

/// Send now, or schedule (SCH-1..3); the shared body of `send` and `state`.
fn send_or_schedule(
    app: &AppState,
    s: &crate::engine::accounts::Session,
    q: &Query,
    room_id: &str,
    draft: Draft,
    txn: Option<&str>,
) -> ApiResult {
    check_name("event type", &draft.event_type)?;
    if draft.event_type.is_empty() {
        return Err(MatrixError::invalid_param("event type must not be empty").into());
    }
    if let Some(k) = &draft.state_key {
        check_name("state key", k)?;
    }
    let now = app.now();
    let done = match requested_delay(q)? {
        None => {
            let sent = app.engine.send(s, room_id, draft, txn, now)?;
            let mut answer = txn_answer(sent);
            if crate::planted!(app.engine.settings, OrdinarySendAnswersDelayId) {
                answer["delay_id"] = json!("0123456789abcdef0123456789abcdef");
            }
            return Ok(Json(answer));
        }
        Some(_) if app.engine.settings.strict_revision => {
            // SCH-20 under `--strict-revision`: the parameter is not part of the merged text.
            return Err(MatrixError::invalid_param(
                "The `delay` query parameter is not part of MSC4140 as merged: use PUT \
                 /_matrix/client/v3/rooms/{roomId}/delayed_event/{eventType}/{txnId}",
            )
            .into());
        }
        Some((surface, delay)) => {
            app.engine.delayed_events_allowed(s)?;
            // SCH-20: in the merged revision a deprecated alias with the merged semantics.
            let delay = match delay {
                Err(_) if crate::planted!(app.engine.settings, LenientDelay) => lenient_delay(q),
                other => other,
            };
            let req = Schedule { room_id, draft, delay, txn, path: TxnPath::Send };
            let surface = crate::http::routes::delayed_events::error_surface(app, surface);
            app.engine.schedule(s, req, now).on(surface)?
        }
    };
    let mut answer = txn_answer(done);
    if crate::planted!(app.engine.settings, EventIdOnSchedule) {
        answer["event_id"] = json!("$planted-fault");
    }
    Ok(Json(answer))
}

fn txn_answer(done: TxnResult) -> Value {
    match done {
        TxnResult::Sent(event_id) => json!({ "event_id": &*event_id }),
        // SCH-3: a `delay_id` and no `event_id`.
        TxnResult::Scheduled(id) => json!({ "delay_id": id.to_string() }),
    }
}

async fn send(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams((room_id, event_type, txn)): PathParams<(String, String, String)>,
    q: Query,
    RawBody(body): RawBody,
) -> ApiResult {
    // As in the model, a guest's delayed request is refused before anything else (SCH-21).
    if requested_delay(&q).ok().flatten().is_some() {
        app.engine.delayed_events_allowed(&s)?;
    }
    // SCH-10: a retry gets the first answer whatever it carries, so the transaction is looked up
    // before the body (or the delay) is judged. `send_or_schedule` looks again under the lock.
    if let Some(first) = app.engine.replayed(&s, TxnPath::Send, &room_id, &event_type, &txn) {
        return Ok(Json(txn_answer(first)));
    }
    let content = parse_object(&body)?;
    let draft =
        Draft { event_type: Arc::from(event_type), state_key: None, content: raw(&Value::Object(content)) };
    send_or_schedule(&app, &s, &q, &room_id, draft, Some(&txn))
}

async fn put_state(
    app: AppState,
    s: crate::engine::accounts::Session,
    q: Query,
    p: (String, String, String),
    content: Map<String, Value>,
) -> ApiResult {
    let (room_id, event_type, key) = p;
    let draft = Draft {
        event_type: Arc::from(event_type),
        state_key: Some(Arc::from(key)),
        content: raw(&Value::Object(content)),
    };
    send_or_schedule(&app, &s, &q, &room_id, draft, None)
}

async fn put_state_keyed(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(p): PathParams<(String, String, String)>,
    q: Query,
    JsonObject(content): JsonObject,
) -> ApiResult {
    put_state(app, s, q, p, content).await
}

async fn put_state_empty_key(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams((room, t)): PathParams<(String, String)>,
    q: Query,
    JsonObject(content): JsonObject,
) -> ApiResult {
    put_state(app, s, q, (room, t, String::new()), content).await
}

fn state_answer(
    app: &AppState,
    s: &crate::engine::accounts::Session,
    q: &Query,
    room: &str,
    t: &str,
    k: &str,
) -> ApiResult {
    let e = app.engine.state_event(s, room, t, k)?;
    if q.get("format")? == Some("event") {
        return Ok(Json(render::event(&e, None)));
    }
    Ok(Json(serde_json::from_str(e.content.get()).unwrap_or(Value::Null)))
}

async fn get_state_keyed(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams((r, t, k)): PathParams<(String, String, String)>,
    q: Query,
) -> ApiResult {
    state_answer(&app, &s, &q, &r, &t, &k)
}

async fn get_state_empty_key(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams((r, t)): PathParams<(String, String)>,
    q: Query,
) -> ApiResult {
    state_answer(&app, &s, &q, &r, &t, "")
}

async fn all_state(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(room_id): PathParams<String>,
) -> ApiResult {
    let events = app.engine.room_state(&s, &room_id)?;
    Ok(Json(Value::Array(events.iter().map(|e| render::event(e, None)).collect())))
}

async fn create_room(State(app): State<AppState>, Auth(s): Auth, JsonObject(body): JsonObject) -> ApiResult {
    let mut req = CreateRoom {
        preset: opt_str(&body, "preset")?.map(str::to_string),
        public: opt_str(&body, "visibility")? == Some("public"),
        name: opt_str(&body, "name")?.map(str::to_string),
        topic: opt_str(&body, "topic")?.map(str::to_string),
        ..CreateRoom::default()
    };
    match body.get("initial_state") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let o = item
                    .as_object()
                    .ok_or_else(|| MatrixError::bad_json("initial_state items must be objects"))?;
                let t = opt_str(o, "type")?
                    .ok_or_else(|| MatrixError::bad_json("initial_state item needs `type`"))?;
                let k = opt_str(o, "state_key")?.unwrap_or_default();
                let content = match o.get("content") {
                    Some(Value::Object(c)) => Value::Object(c.clone()),
                    _ => {
                        return Err(
                            MatrixError::bad_json("initial_state item needs an object `content`").into()
                        )
                    }
                };
                req.initial_state.push(Draft {
                    event_type: Arc::from(t),
                    state_key: Some(Arc::from(k)),
                    content: raw(&content),
                });
            }
        }
        Some(_) => return Err(MatrixError::bad_json("`initial_state` must be an array").into()),
    }
    match body.get("power_level_content_override") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => req.power_override = Some(o.clone()),
        Some(_) => {
            return Err(MatrixError::bad_json("`power_level_content_override` must be an object").into())
        }
    }
    match body.get("invite") {
        None | Some(Value::Null) => {}
        Some(Value::Array(users)) => {
            for u in users {
                let u = u.as_str().ok_or_else(|| MatrixError::bad_json("`invite` must list user ids"))?;
                req.invite.push(u.to_string());
            }
        }
        Some(_) => return Err(MatrixError::bad_json("`invite` must be an array").into()),
    }
    let room_id = app.engine.create_room(&s, req, app.now())?;
    Ok(Json(json!({ "room_id": &*room_id })))
}

async fn join(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(room_id): PathParams<String>,
    _: OptionalObject,
) -> ApiResult {
    app.engine.join(&s, &room_id, app.now())?;
    Ok(Json(json!({ "room_id": room_id })))
}

async fn leave(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(room_id): PathParams<String>,
    _: OptionalObject,
) -> ApiResult {
    app.engine.leave(&s, &room_id, app.now())?;
    Ok(Json(json!({})))
}

async fn invite(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(room_id): PathParams<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    let target =
        opt_str(&body, "user_id")?.ok_or_else(|| MatrixError::missing_param("`user_id` is required"))?;
    app.engine.invite(&s, &room_id, target, app.now())?;
    Ok(Json(json!({})))
}

/// `/kick`, `/ban`, `/unban` (Client-Server spec): `user_id` and an optional `reason`.
async fn moderate(
    app: AppState,
    s: crate::engine::accounts::Session,
    room_id: &str,
    body: Map<String, Value>,
    m: &str,
) -> ApiResult {
    let target =
        opt_str(&body, "user_id")?.ok_or_else(|| MatrixError::missing_param("`user_id` is required"))?;
    let reason = opt_str(&body, "reason")?;
    app.engine.moderate(&s, room_id, target, m, reason, app.now())?;
    Ok(Json(json!({})))
}

async fn kick(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(room_id): PathParams<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    moderate(app, s, &room_id, body, "leave").await
}

async fn ban(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(room_id): PathParams<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    moderate(app, s, &room_id, body, "ban").await
}

async fn unban(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(room_id): PathParams<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    // Unbanning someone who is not banned would be a kick: refuse it as Synapse does.
    let target = opt_str(&body, "user_id")?.unwrap_or_default();
    if !target.is_empty() && !app.engine.is_banned(&room_id, target) {
        return Err(MatrixError::forbidden(format!("{target} is not banned")).into());
    }
    moderate(app, s, &room_id, body, "leave").await
}

/// `/messages` tokens are stream positions `t<N>`; sync tokens `s<N>_<M>` are accepted too.
fn parse_position(s: &str) -> Result<u64, MatrixError> {
    let bad = || MatrixError::invalid_param(format!("Invalid pagination token {s:?}"));
    if let Some(n) = s.strip_prefix('t') {
        return n.parse().map_err(|_| bad());
    }
    crate::engine::sync_feed::SyncToken::parse(s).map(|t| t.stream).map_err(|_| bad())
}

/// `limit` of `/messages` and `/context`: 10 unless given.
fn limit(q: &Query) -> Result<usize, crate::http::extract::ApiError> {
    match q.get("limit")? {
        None => Ok(10),
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| MatrixError::invalid_param("limit must be a non-negative integer").into()),
    }
}

async fn messages(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(room_id): PathParams<String>,
    q: Query,
) -> ApiResult {
    let dir = match q.get("dir")?.unwrap_or("b") {
        "b" => Dir::Back,
        "f" => Dir::Forward,
        other => return Err(MatrixError::invalid_param(format!("dir must be b or f, not {other:?}")).into()),
    };
    let from = q.get("from")?.map(parse_position).transpose()?;
    let limit = limit(&q)?;
    let page = app.engine.messages(&s, &room_id, from, dir, limit)?;
    let viewer = Some(&*s.account.user_id);
    let everyone = crate::planted!(app.engine.settings, DelayIdForEveryone);
    let mut body = json!({
        "chunk": page.chunk.iter().map(|e| render::event(e, if everyone { Some(&*e.sender) } else { viewer })).collect::<Vec<_>>(),
        "start": format!("t{}", page.start),
    });
    if let (Some(end), Some(m)) = (page.end, body.as_object_mut()) {
        m.insert("end".into(), json!(format!("t{end}")));
    }
    Ok(Json(body))
}

// SRV-14: the sender sees `unsigned.delay_id` here as in `/sync` and `/messages`.
async fn event(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams((room_id, event_id)): PathParams<(String, String)>,
) -> ApiResult {
    let c = app.engine.context(&s, &room_id, &event_id, 0)?;
    Ok(Json(render::event(&c.event, Some(&*s.account.user_id))))
}

async fn context(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams((room_id, event_id)): PathParams<(String, String)>,
    q: Query,
) -> ApiResult {
    let limit = limit(&q)?;
    let c = app.engine.context(&s, &room_id, &event_id, limit)?;
    let viewer = Some(&*s.account.user_id);
    let all = |events: &[Arc<Event>]| events.iter().map(|e| render::event(e, viewer)).collect::<Vec<_>>();
    Ok(Json(json!({
        "event": render::event(&c.event, viewer),
        "events_before": all(&c.before),
        "events_after": all(&c.after),
        "start": format!("t{}", c.start),
        "end": format!("t{}", c.end),
        "state": c.state.iter().map(|e| render::event(e, None)).collect::<Vec<_>>(),
    })))
}

async fn joined_members(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(room_id): PathParams<String>,
) -> ApiResult {
    let members = app.engine.joined_members(&s, &room_id)?;
    let joined: Map<String, Value> = members.iter().map(|u| (u.to_string(), json!({}))).collect();
    Ok(Json(json!({ "joined": joined })))
}

async fn members(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(room_id): PathParams<String>,
) -> ApiResult {
    let events = app.engine.room_state(&s, &room_id)?;
    let chunk: Vec<Value> =
        events.iter().filter(|e| &*e.event_type == "m.room.member").map(|e| render::event(e, None)).collect();
    Ok(Json(json!({ "chunk": chunk })))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/createRoom", post(create_room))
        .route("/join/{room_id}", post(join))
        .route("/rooms/{room_id}/join", post(join))
        .route("/rooms/{room_id}/leave", post(leave))
        .route("/rooms/{room_id}/invite", post(invite))
        .route("/rooms/{room_id}/kick", post(kick))
        .route("/rooms/{room_id}/ban", post(ban))
        .route("/rooms/{room_id}/unban", post(unban))
        .route("/rooms/{room_id}/send/{event_type}/{txn_id}", put(send))
        .route("/rooms/{room_id}/state", get(all_state))
        .route("/rooms/{room_id}/state/{event_type}", put(put_state_empty_key).get(get_state_empty_key))
        .route("/rooms/{room_id}/state/{event_type}/", put(put_state_empty_key).get(get_state_empty_key))
        .route("/rooms/{room_id}/state/{event_type}/{state_key}", put(put_state_keyed).get(get_state_keyed))
        .route("/rooms/{room_id}/messages", get(messages))
        .route("/rooms/{room_id}/event/{event_id}", get(event))
        .route("/rooms/{room_id}/context/{event_id}", get(context))
        .route("/rooms/{room_id}/joined_members", get(joined_members))
        .route("/rooms/{room_id}/members", get(members))
}
