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
    // DSC-2, DSC-3: the merged revision serves both surfaces and says so.
    const MERGED: &str = concat!(
        r#"{"versions":["r0.6.1","v1.1","v1.2","v1.3","v1.4","v1.5","v1.6","v1.7","v1.8","v1.9","v1.10","v1.11","v1.12"],"#,
        r#""unstable_features":{"org.matrix.msc4140":true,"org.matrix.msc4140.stable":true}}"#
    );
    let body = if crate::planted!(app.engine.settings, NoFeatureFlag) {
        r#"{"versions":["v1.11"],"unstable_features":{}}"#
    } else if app.engine.settings.revision.is_merged() {
        MERGED
    } else {
        BODY
    };
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body)
}

async fn capabilities(axum::extract::State(app): axum::extract::State<AppState>, _: Auth) -> Json<Value> {
    let mut caps = json!({
        "m.change_password": { "enabled": false },
        "m.room_versions": { "default": "10", "available": { "10": "stable" } }
    });
    let settings = &app.engine.settings;
    if settings.revision.is_merged() {
        // DSC-4, DSC-5: the limits that apply, an empty object when none does; under both names.
        let mut limits = serde_json::Map::new();
        if settings.max_delay_ms < u64::MAX {
            limits.insert("max_delay_ms".into(), json!(settings.max_delay_ms));
        }
        if settings.max_delayed_per_user < usize::MAX {
            limits.insert("max_scheduled".into(), json!(settings.max_delayed_per_user));
        }
        if crate::planted!(settings, CapabilityWithoutLimits) {
            limits.clear();
        }
        caps["m.delayed_events"] = Value::Object(limits.clone());
        caps["org.matrix.msc4140.delayed_events"] = Value::Object(limits);
    }
    Json(json!({ "capabilities": caps }))
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
