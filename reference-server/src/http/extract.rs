//! Request extractors that answer bad input with Matrix errors (never axum's plain-text
//! rejections): the access token (SEC-1), path segments, the query string, and JSON bodies.

use super::AppState;
use crate::engine::accounts::Session;
use crate::error::{Code, MatrixError, Surface};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

/// An error with the surface whose names it must use (UNS-2..4).
#[derive(Debug)]
pub struct ApiError(pub MatrixError, pub Surface);

impl From<MatrixError> for ApiError {
    fn from(e: MatrixError) -> Self {
        ApiError(e, Surface::Stable)
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError(MatrixError::invalid_param(format!("Invalid path: {}", r.body_text())), Surface::Stable)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = axum::http::StatusCode::from_u16(self.0.status)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.0.body(self.1))).into_response();
        if let Some(s) = self.0.retry_after_s {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, s.into());
        }
        response
    }
}

pub type ApiResult<T = Json<Value>> = Result<T, ApiError>;

/// Attach `surface` to an error result.
pub trait OnSurface<T> {
    fn on(self, surface: Surface) -> Result<T, ApiError>;
}

impl<T> OnSurface<T> for Result<T, MatrixError> {
    fn on(self, surface: Surface) -> Result<T, ApiError> {
        self.map_err(|e| ApiError(e, surface))
    }
}

/// Path parameters with a Matrix error on failure.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParams<T>(pub T);

/// The decoded query string, in order, duplicates kept.
pub struct Query(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Query::of(parts))
    }
}

impl Query {
    pub fn of(parts: &Parts) -> Query {
        let q = parts.uri.query().unwrap_or_default();
        Query(form_urlencoded::parse(q.as_bytes()).into_owned().collect())
    }

    /// The single value of `name`; given twice is a 400.
    pub fn get(&self, name: &str) -> Result<Option<&str>, MatrixError> {
        let mut it = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = it.next();
        if it.next().is_some() {
            return Err(MatrixError::invalid_param(format!("query parameter `{name}` given more than once")));
        }
        Ok(first)
    }
}

/// SEC-1: the caller's session, from `Authorization: Bearer` or `?access_token=`; with an
/// application service's `as_token`, the user `?user_id=` names (identity assertion).
pub struct Auth(pub Session);

/// The access token of a request, if it carries one.
pub fn access_token(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let h = h.to_str().map_err(|_| unknown_token())?;
        let (scheme, token) = h.split_once(' ').ok_or_else(unknown_token)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(unknown_token());
        }
        return Ok(Some(token.trim().to_string()));
    }
    let q = parts.uri.query().unwrap_or_default();
    Ok(form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "access_token").map(|(_, v)| v.into_owned()))
}

/// An `as_token` with its `?user_id=`, or an access token that is neither a user's nor a
/// service's (refused as unknown).
fn appservice_auth(parts: &Parts, app: &AppState, token: &str) -> Result<Session, ApiError> {
    match app.engine.appservice_session(token, Query::of(parts).get("user_id")?) {
        Some(session) => session.map_err(ApiError::from),
        None => Err(unknown_token()),
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = access_token(parts)?.ok_or_else(|| {
            ApiError::from(MatrixError::new(401, Code::MissingToken, "Missing access token"))
        })?;
        match app.engine.session(&token) {
            Some(s) => Ok(Auth(s)),
            None if app.engine.appservices().is_empty() => Err(unknown_token()),
            None => appservice_auth(parts, app, &token).map(Auth),
        }
    }
}

/// The request's access token, if any, unchecked (registration and login of application-service
/// users, where the `as_token` is the credential).
pub struct MaybeToken(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeToken {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        access_token(parts).map(MaybeToken)
    }
}

fn unknown_token() -> ApiError {
    MatrixError::new(401, Code::UnknownToken, "Unrecognised access token").into()
}

/// A request body that must be a JSON object, at most `max_body_bytes` long.
pub struct JsonObject(pub Map<String, Value>);

/// The same, but an empty body reads as `{}` (join, leave, logout: clients often send none).
pub struct OptionalObject(pub Map<String, Value>);

async fn body_bytes(req: Request, app: &AppState) -> Result<axum::body::Bytes, ApiError> {
    let limit = app.engine.settings.max_body_bytes;
    axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
        MatrixError::new(413, Code::TooLarge, format!("Request body exceeds {limit} bytes")).into()
    })
}

/// The raw body, at most `max_body_bytes` long (handlers with a fast path parse it themselves).
pub struct RawBody(pub axum::body::Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, app: &AppState) -> Result<Self, ApiError> {
        body_bytes(req, app).await.map(RawBody)
    }
}

impl FromRequest<AppState> for JsonObject {
    type Rejection = ApiError;
    async fn from_request(req: Request, app: &AppState) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, app).await?;
        parse_object(&bytes).map(JsonObject).map_err(ApiError::from)
    }
}

impl FromRequest<AppState> for OptionalObject {
    type Rejection = ApiError;
    async fn from_request(req: Request, app: &AppState) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, app).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalObject(Map::new()));
        }
        parse_object(&bytes).map(OptionalObject).map_err(ApiError::from)
    }
}

pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, MatrixError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(MatrixError::bad_json("Request body must be a JSON object")),
        Err(e) => Err(MatrixError::not_json(format!("Request body is not valid JSON: {e}"))),
    }
}

/// Read an optional string field; a value of another type is a 400 `M_BAD_JSON`.
pub fn opt_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, MatrixError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MatrixError::bad_json(format!("`{key}` must be a string"))),
    }
}
