//! `/versions` (DSC-1), `/capabilities`, and the few read-only endpoints clients call at start.

use crate::http::extract::Auth;
use crate::http::AppState;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// DSC-1: the unstable prefix is served, so `org.matrix.msc4140` is advertised. The body never
/// changes: serve it pre-serialised (it is also the benchmark's ceiling).
async fn versions(axum::extract::State(app): axum::extract::State<AppState>) -> impl IntoResponse {
    const BODY: &str = concat!(
        r#"{"versions":["r0.6.1","v1.1","v1.2","v1.3","v1.4","v1.5","v1.6","v1.7","v1.8","v1.9","v1.10","v1.11","v1.12"],"#,
        r#""unstable_features":{"org.matrix.msc4140":true}}"#
    );
    let body = if crate::planted!(app.engine.settings, NoFeatureFlag) {
        r#"{"versions":["v1.11"],"unstable_features":{}}"#
    } else {
        BODY
    };
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body)
}

async fn capabilities(_: Auth) -> Json<Value> {
    Json(json!({
        "capabilities": {
            "m.change_password": { "enabled": false },
            "m.room_versions": { "default": "10", "available": { "10": "stable" } }
        }
    }))
}

async fn push_rules(_: Auth) -> Json<Value> {
    Json(json!({ "global": { "override": [], "content": [], "room": [], "sender": [], "underride": [] } }))
}

async fn well_known(axum::extract::State(app): axum::extract::State<AppState>) -> Json<Value> {
    Json(json!({ "m.homeserver": { "base_url": format!("http://{}", app.engine.settings.listen) } }))
}

/// Outside the versioned prefixes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_matrix/client/versions", get(versions))
        .route("/.well-known/matrix/client", get(well_known))
}

/// Under `/_matrix/client/{v3,r0}`.
pub fn client_routes() -> Router<AppState> {
    Router::new().route("/capabilities", get(capabilities)).route("/pushrules/", get(push_rules))
}
