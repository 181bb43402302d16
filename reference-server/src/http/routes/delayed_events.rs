//! MSC4140's own endpoints, mounted once per surface (UNS-1): managing a delayed event (MGT-1..10)
//! and looking up scheduled (LST-1, LST-3, LST-6) and finalised (LST-2, LST-3, LST-5) ones.
//! SEC-1: every handler takes [`Auth`].

use crate::engine::lifecycle::Action;
use crate::error::{MatrixError, Surface};
use crate::http::extract::{ApiResult, Auth, OnSurface, PathParams, Query, RawBody};
use crate::http::{render, AppState};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// MGT-2: the action is checked before the id is looked up. Fast path for the usual body
/// (`{"action":"restart"}`); anything else goes through the general parse for its exact error.
fn action_of(bytes: &[u8]) -> Result<Action, MatrixError> {
    #[derive(serde::Deserialize)]
    struct Usual<'a> {
        action: &'a str,
    }
    // serde's derived structs also accept arrays; only an object takes the fast path.
    let object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if let Some(a) = object
        .then(|| serde_json::from_slice::<Usual<'_>>(bytes).ok())
        .flatten()
        .and_then(|u| Action::parse(u.action))
    {
        return Ok(a);
    }
    action(&crate::http::extract::parse_object(bytes)?)
}

fn action(body: &Map<String, Value>) -> Result<Action, MatrixError> {
    match body.get("action") {
        Some(Value::String(a)) => Action::parse(a).ok_or_else(|| {
            MatrixError::invalid_param(format!("Unknown action {a:?}: use send, cancel or restart"))
        }),
        Some(_) => Err(MatrixError::invalid_param("`action` must be a string")),
        // MGT-2 CLARIFIED: the Client-Server spec's code for a missing parameter.
        None => Err(MatrixError::missing_param("`action` is required")),
    }
}

fn manage(
    app: &AppState,
    s: &crate::engine::accounts::Session,
    id: &str,
    body: &[u8],
    surface: Surface,
) -> ApiResult<Response> {
    let surface = error_surface(app, surface);
    app.engine.delayed_events_allowed(s).on(surface)?;
    let action = match action_of(body) {
        Err(_) if crate::planted!(app.engine.settings, LenientAction) => Action::Restart,
        other => other.on(surface)?,
    };
    app.engine.manage(s, id, action, app.now()).on(surface)?;
    // MGT-9.
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], "{}").into_response())
}

/// The surface whose error shapes an answer uses (a planted fault forgets the unstable wrapping).
pub fn error_surface(app: &AppState, surface: Surface) -> Surface {
    // UNS-5: the merged revision never wraps error codes.
    if crate::planted!(app.engine.settings, UnwrappedUnstableCodes)
        || app.engine.settings.revision.is_merged()
    {
        Surface::Stable
    } else {
        surface
    }
}

fn page_body(key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert(key.into(), Value::Array(items));
    if let Some(n) = next {
        m.insert("next_batch".into(), json!(n));
    }
    Value::Object(m)
}

pub fn routes(surface: Surface) -> Router<AppState> {
    let manage_id = move |State(app): State<AppState>,
                          Auth(s): Auth,
                          PathParams(id): PathParams<String>,
                          body: Result<RawBody, crate::http::extract::ApiError>| async move {
        let RawBody(body) = body.map_err(|e| crate::http::extract::ApiError(e.0, surface))?;
        manage(&app, &s, &id, &body, surface)
    };
    // `scheduled` and `finalised` share the URL segment of `{delay_id}`; they are never ids.
    let manage_reserved = move |State(app): State<AppState>, Auth(s): Auth, RawBody(body): RawBody| async move {
        manage(&app, &s, "reserved", &body, surface)
    };
    let scheduled = move |State(app): State<AppState>, Auth(s): Auth, q: Query| async move {
        app.engine.delayed_events_allowed(&s).on(surface)?;
        let from = q.get("from").on(surface)?;
        let (items, next) = app.engine.list_scheduled(&s, from, app.now()).on(surface)?;
        Ok::<_, crate::http::extract::ApiError>(Json(page_body(
            "scheduled",
            items.iter().map(render::scheduled).collect(),
            next,
        )))
    };
    let finalised = move |State(app): State<AppState>, Auth(s): Auth, q: Query| async move {
        app.engine.delayed_events_allowed(&s).on(surface)?;
        let from = q.get("from").on(surface)?;
        let (items, next) = app.engine.list_finalised(&s, from, app.now()).on(surface)?;
        let items = items.iter().map(|f| render::finalised(f, error_surface(&app, surface))).collect();
        Ok::<_, crate::http::extract::ApiError>(Json(page_body("finalised", items, next)))
    };
    let mut r = Router::new()
        .route("/{delay_id}", post(manage_id))
        .route("/scheduled", get(scheduled).post(manage_reserved))
        .route("/finalised", get(finalised).post(manage_reserved));
    if surface == Surface::Unstable {
        // LST-6 DECIDED: the bare unstable lookup lists every scheduled event.
        let bare = |State(app): State<AppState>, Auth(s): Auth| async move {
            app.engine.delayed_events_allowed(&s).on(Surface::Unstable)?;
            let items = app.engine.list_scheduled_all(&s, app.now()).on(Surface::Unstable)?;
            Ok::<_, crate::http::extract::ApiError>(Json(json!({
                "delayed_events": items.iter().map(render::scheduled).collect::<Vec<_>>()
            })))
        };
        r = r.route("/", get(bare));
    }
    r
}
