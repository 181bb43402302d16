//! The merged revision's own endpoints (`--revision 2026-07-10`), mounted once per surface:
//! scheduling through `PUT .../delayed_event/{type}/{txnId}` (SCH-12..14), the per-action
//! management paths (MGT-11..16), the single lookup and the list of scheduled events (LKP-1..4).
//! Error codes are the standard ones on both surfaces (UNS-5).

use crate::engine::accounts::{TxnPath, TxnResult};
use crate::engine::events::{raw, Draft};
use crate::engine::lifecycle::{Action, Schedule};
use crate::engine::lookups::Lookup;
use crate::error::{MatrixError, Surface};
use crate::http::extract::{parse_object, ApiResult, Auth, OnSurface, PathParams, RawBody};
use crate::http::{render, AppState};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// SCH-13: `delay_ms`, a positive integer number of ms.
fn delay_ms(body: &Map<String, Value>) -> Result<u64, MatrixError> {
    match body.get("delay_ms") {
        None => Err(MatrixError::missing_param("`delay_ms` is required")),
        Some(v) => v.as_u64().filter(|&ms| ms > 0).ok_or_else(|| {
            MatrixError::invalid_param("`delay_ms` must be a positive integer number of milliseconds")
        }),
    }
}

/// SCH-13: the event `content` (an object) and the `state_key` (a string, for state events).
fn draft(event_type: String, body: &Map<String, Value>) -> Result<Draft, MatrixError> {
    let content = match body.get("content") {
        None => return Err(MatrixError::missing_param("`content` is required")),
        Some(Value::Object(c)) => c,
        Some(_) => return Err(MatrixError::bad_json("`content` must be a JSON object")),
    };
    let state_key = match body.get("state_key") {
        None => None,
        Some(Value::String(k)) => Some(Arc::from(k.as_str())),
        Some(_) => return Err(MatrixError::bad_json("`state_key` must be a string")),
    };
    Ok(Draft { event_type: Arc::from(event_type), state_key, content: raw(&Value::Object(content.clone())) })
}

fn schedule(
    app: &AppState,
    s: &crate::engine::accounts::Session,
    (room_id, event_type, txn): (String, String, String),
    body: &[u8],
) -> ApiResult {
    // SCH-10: a retry gets the first answer whatever its body, so the transaction comes first.
    // SCH-21: guests are welcome here; the rule is the engine's, shared with the seed revision.
    app.engine.delayed_events_allowed(s)?;
    let path = TxnPath::DelayedEvent;
    let answer = |done: TxnResult| match done {
        TxnResult::Scheduled(id) => Json(json!({ "delay_id": id.to_string() })),
        TxnResult::Sent(event_id) => Json(json!({ "event_id": &*event_id })),
    };
    if let Some(first) = app.engine.replayed(s, path, &room_id, &event_type, &txn) {
        return Ok(answer(first));
    }
    if event_type.is_empty() || event_type.len() > 255 {
        return Err(MatrixError::invalid_param("event type must be 1 to 255 bytes").into());
    }
    let body = parse_object(body)?;
    let draft = draft(event_type, &body)?;
    if draft.state_key.as_ref().is_some_and(|k| k.len() > 255) {
        return Err(MatrixError::invalid_param("state key is longer than 255 bytes").into());
    }
    let mut delay = delay_ms(&body);
    if crate::planted!(app.engine.settings, LenientDelayMs) && body.contains_key("delay_ms") {
        delay = Ok(delay.unwrap_or(60_000));
    }
    if crate::planted!(app.engine.settings, OverMaxIs400)
        && delay.as_ref().is_ok_and(|d| *d > app.engine.settings.max_delay_ms)
    {
        return Err(MatrixError::invalid_param("delay_ms is over the maximum").into());
    }
    let req = Schedule { room_id: &room_id, draft, delay, txn: Some(&txn), path };
    Ok(answer(app.engine.schedule(s, req, app.now())?))
}

fn manage(
    app: &AppState,
    s: &crate::engine::accounts::Session,
    id: &str,
    action: &str,
) -> ApiResult<Response> {
    // MGT-11: another action is no endpoint.
    let action = Action::parse(action).ok_or_else(MatrixError::unrecognized)?;
    app.engine.delayed_events_allowed(s)?;
    app.engine.manage(s, id, action, app.now())?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], "{}").into_response())
}

/// The routes under `.../delayed_events` of either surface.
pub fn delayed_events() -> Router<AppState> {
    // MGT-11: the body is ignored (matrix-js-sdk 43 sends none).
    let action = |State(app): State<AppState>,
                  Auth(s): Auth,
                  PathParams((id, action)): PathParams<(String, String)>| async move {
        manage(&app, &s, &id, &action)
    };
    let lookup = |State(app): State<AppState>, Auth(s): Auth, PathParams(id): PathParams<String>| async move {
        let body = match app.engine.lookup(&s, &id, app.now()).on(Surface::Stable)? {
            Lookup::Scheduled(v) => render::merged_scheduled(&v),
            Lookup::Finalised(v) => render::merged_finalised(&v),
        };
        Ok::<_, crate::http::extract::ApiError>(Json(Value::Object(body)))
    };
    // LKP-4: every scheduled event of the caller, by send time.
    let list = |State(app): State<AppState>, Auth(s): Auth| async move {
        let items = app.engine.list_scheduled_all(&s, app.now()).on(Surface::Stable)?;
        let items: Vec<Value> = items.iter().map(|v| Value::Object(render::merged_scheduled(v))).collect();
        Ok::<_, crate::http::extract::ApiError>(Json(json!({ "delayed_events": items })))
    };
    Router::new()
        .route("/", get(list))
        .route("/{delay_id}", get(lookup))
        .route("/{delay_id}/{action}", post(action))
}

/// `PUT .../rooms/{roomId}/delayed_event/{eventType}/{txnId}` (SCH-12).
pub fn rooms() -> Router<AppState> {
    let put_delayed =
        |State(app): State<AppState>,
         Auth(s): Auth,
         PathParams(path): PathParams<(String, String, String)>,
         RawBody(body): RawBody| async move { schedule(&app, &s, path, &body) };
    Router::new().route("/rooms/{room_id}/delayed_event/{event_type}/{txn_id}", put(put_delayed))
}
