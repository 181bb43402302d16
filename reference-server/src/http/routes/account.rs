//! Registration (user-interactive `m.login.dummy`), password login, whoami, logout, filters.

use crate::error::{Code, MatrixError};
use crate::http::extract::{
    opt_str, ApiResult, Auth, JsonObject, MaybeToken, OptionalObject, PathParams, Query,
};
use crate::http::AppState;
use crate::sync::lock;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

fn session_body(app: &AppState, s: &crate::engine::accounts::Session) -> Value {
    json!({
        "user_id": &*s.account.user_id,
        "access_token": &*s.token,
        "device_id": &*s.device_id,
        "home_server": app.engine.settings.server_name,
    })
}

const APPSERVICE_LOGIN: &str = "m.login.application_service";

fn missing_as_token() -> MatrixError {
    MatrixError::new(401, Code::MissingToken, "m.login.application_service needs the service's as_token")
}

async fn register(
    State(app): State<AppState>,
    q: Query,
    MaybeToken(token): MaybeToken,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    if opt_str(&body, "type")? == Some(APPSERVICE_LOGIN) {
        let token = token.ok_or_else(missing_as_token)?;
        let username = opt_str(&body, "username")?
            .ok_or_else(|| MatrixError::missing_param("`username` is required"))?;
        let inhibit = body.get("inhibit_login").and_then(Value::as_bool) == Some(true);
        return Ok(match app.engine.register_for_appservice(&token, username, !inhibit)? {
            Some(s) => Json(session_body(&app, &s)),
            None => Json(json!({ "user_id": app.engine.user_id(username) })),
        }
        .into_response());
    }
    if !app.engine.settings.open_registration {
        return Err(MatrixError::forbidden("Registration is disabled").into());
    }
    match q.get("kind")? {
        None | Some("user") => {}
        // SCH-21: guests register without authentication.
        Some("guest") => return Ok(Json(session_body(&app, &app.engine.register_guest())).into_response()),
        Some(other) => return Err(MatrixError::invalid_param(format!("Unknown kind {other:?}")).into()),
    }
    let flows = |error: Option<MatrixError>| {
        let mut b = json!({
            "flows": [{ "stages": ["m.login.dummy"] }],
            "params": {},
            "session": app.engine.ids.opaque(),
        });
        if let (Some(e), Some(m)) = (error, b.as_object_mut()) {
            m.insert("errcode".into(), json!(e.code.as_str()));
            m.insert("error".into(), json!(e.message));
        }
        (StatusCode::UNAUTHORIZED, Json(b)).into_response()
    };
    let auth_type = match body.get("auth") {
        None | Some(Value::Null) => return Ok(flows(None)),
        Some(Value::Object(a)) => opt_str(a, "type")?.map(str::to_string),
        Some(_) => return Err(MatrixError::bad_json("`auth` must be an object").into()),
    };
    if auth_type.as_deref() != Some("m.login.dummy") {
        return Ok(flows(Some(MatrixError::new(401, Code::Unrecognized, "Only m.login.dummy is supported"))));
    }
    let username = opt_str(&body, "username")?;
    if let Some(localpart) = username {
        app.engine.check_not_exclusive(localpart)?;
    }
    let password = opt_str(&body, "password")?.unwrap_or_default();
    let s = app.engine.register(username, password)?;
    let mut out = session_body(&app, &s);
    if body.get("inhibit_login").and_then(Value::as_bool) == Some(true) {
        app.engine.logout(&s.token);
        out = json!({ "user_id": &*s.account.user_id });
    }
    Ok(Json(out).into_response())
}

async fn available(State(app): State<AppState>, q: Query) -> ApiResult {
    let name = q.get("username")?.ok_or_else(|| MatrixError::missing_param("`username` is required"))?;
    if app.engine.account(&app.engine.user_id(name)).is_some() {
        return Err(MatrixError::new(400, Code::UserInUse, "User ID already taken.").into());
    }
    Ok(Json(json!({ "available": true })))
}

async fn login_flows(State(app): State<AppState>) -> Json<Value> {
    let mut flows = vec![json!({ "type": "m.login.password" })];
    if !app.engine.appservices().is_empty() {
        flows.push(json!({ "type": APPSERVICE_LOGIN }));
    }
    Json(json!({ "flows": flows }))
}

async fn login(
    State(app): State<AppState>,
    MaybeToken(token): MaybeToken,
    JsonObject(body): JsonObject,
) -> ApiResult {
    let kind = opt_str(&body, "type")?;
    if kind != Some("m.login.password") && kind != Some(APPSERVICE_LOGIN) {
        return Err(MatrixError::new(
            400,
            Code::Unknown,
            "Only m.login.password and m.login.application_service are supported",
        )
        .into());
    }
    let user = match body.get("identifier") {
        Some(Value::Object(id)) => opt_str(id, "user")?,
        _ => opt_str(&body, "user")?,
    }
    .ok_or_else(|| MatrixError::missing_param("`identifier.user` is required"))?;
    if kind == Some(APPSERVICE_LOGIN) {
        let token = token.ok_or_else(missing_as_token)?;
        let s = app.engine.login_for_appservice(&token, user, opt_str(&body, "device_id")?)?;
        return Ok(Json(session_body(&app, &s)));
    }
    let password =
        opt_str(&body, "password")?.ok_or_else(|| MatrixError::missing_param("`password` is required"))?;
    let s = app.engine.login(user, password, opt_str(&body, "device_id")?)?;
    Ok(Json(session_body(&app, &s)))
}

async fn whoami(Auth(s): Auth) -> Json<Value> {
    Json(json!({ "user_id": &*s.account.user_id, "device_id": &*s.device_id, "is_guest": s.account.guest }))
}

async fn logout(State(app): State<AppState>, Auth(s): Auth, _: OptionalObject) -> Json<Value> {
    app.engine.logout(&s.token);
    Json(json!({}))
}

async fn logout_all(State(app): State<AppState>, Auth(s): Auth, _: OptionalObject) -> Json<Value> {
    app.engine.logout_all(&s.account.user_id);
    Json(json!({}))
}

fn own_user(s: &crate::engine::accounts::Session, user_id: &str) -> Result<(), MatrixError> {
    if *s.account.user_id != *user_id {
        return Err(MatrixError::forbidden("You can only manage your own filters"));
    }
    Ok(())
}

/// PSH-2: a filter may carry `finalised_events` (or its unstable name) set to false.
async fn create_filter(
    State(app): State<AppState>,
    Auth(s): Auth,
    PathParams(user_id): PathParams<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    own_user(&s, &user_id)?;
    let id = app.engine.create_filter(&s, Value::Object(body));
    Ok(Json(json!({ "filter_id": id.to_string() })))
}

async fn get_filter(Auth(s): Auth, PathParams((user_id, id)): PathParams<(String, String)>) -> ApiResult {
    own_user(&s, &user_id)?;
    let filters = lock(&s.account.filters);
    let f = id.parse::<usize>().ok().and_then(|i| filters.get(i).cloned());
    Ok(Json(f.ok_or_else(|| MatrixError::not_found("No such filter"))?))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/register", post(register))
        .route("/register/available", get(available))
        .route("/login", get(login_flows).post(login))
        .route("/account/whoami", get(whoami))
        .route("/logout", post(logout))
        .route("/logout/all", post(logout_all))
        .route("/user/{user_id}/filter", post(create_filter))
        .route("/user/{user_id}/filter/{filter_id}", get(get_filter))
}
