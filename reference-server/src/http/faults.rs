//! Planted faults of the HTTP surface that no handler should know about (test builds only, see
//! `crate::faults`): requests answered before authentication.

use super::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// `auth_skipped`: MSC4140 requests without a valid access token are not refused with 401 but
/// answered as an unauthenticated-management revision would: actions succeed (and do nothing),
/// lists are empty, scheduling is forbidden.
pub async fn before_auth(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if !crate::planted!(app.engine.settings, AuthSkipped) {
        return next.run(req).await;
    }
    let header = req.headers().get(axum::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let token = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::to_string).or_else(|| {
        form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    });
    if token.as_deref().and_then(|t| app.engine.session(t)).is_some() {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let delayed = req.uri().query().is_some_and(|q| q.contains("delay="));
    if path.contains("/delayed_events") {
        return match *req.method() {
            axum::http::Method::POST => Json(json!({})).into_response(),
            _ if path.ends_with("/finalised") => Json(json!({ "finalised": [] })).into_response(),
            _ if path.ends_with("/scheduled") => Json(json!({ "scheduled": [] })).into_response(),
            _ => Json(json!({ "delayed_events": [] })).into_response(),
        };
    }
    if delayed {
        let body = json!({ "errcode": "M_FORBIDDEN", "error": "Not allowed" });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    next.run(req).await
}
