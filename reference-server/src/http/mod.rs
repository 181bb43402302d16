//! The HTTP surface: routing, extractors, rendering. Handlers stay thin; semantics live in
//! [`crate::engine`].

mod durable;
pub mod extract;
#[cfg(feature = "faults")]
mod faults;
pub mod render;
pub mod routes;

use crate::clock::Clock;
use crate::engine::Engine;
use crate::scheduler::Shell;
use extract::ApiError;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub shell: Arc<Shell>,
    pub clock: Clock,
}

impl AppState {
    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }
}

async fn unrecognized() -> ApiError {
    crate::error::MatrixError::unrecognized().into()
}

async fn method_not_allowed() -> ApiError {
    crate::error::MatrixError::method_not_allowed().into()
}

/// Every route, under each prefix clients use.
pub fn router(app: AppState) -> axum::Router {
    use axum::Router;
    let client = routes::discovery::client_routes()
        .merge(routes::account::routes())
        .merge(routes::rooms::routes())
        .merge(routes::sync::routes());
    let panics = tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
        use axum::response::IntoResponse;
        ApiError(
            crate::error::MatrixError::new(500, crate::error::Code::Unknown, "Internal error"),
            crate::error::Surface::Stable,
        )
        .into_response()
    });
    const STABLE: &str = "/_matrix/client/v1/delayed_events";
    const UNSTABLE: &str = "/_matrix/client/unstable/org.matrix.msc4140";
    let router = if app.engine.settings.revision.is_merged() {
        // SCH-12, MGT-11, LKP-1, LKP-4 on both surfaces (UNS-5).
        let client = client.merge(routes::merged::rooms());
        Router::new()
            .nest("/_matrix/client/v3", client.clone())
            .nest("/_matrix/client/r0", client)
            .nest(STABLE, routes::merged::delayed_events())
            .nest(&format!("{UNSTABLE}/delayed_events"), routes::merged::delayed_events())
            .nest(UNSTABLE, routes::merged::rooms())
    } else {
        Router::new()
            .nest("/_matrix/client/v3", client.clone())
            .nest("/_matrix/client/r0", client)
            .nest(STABLE, routes::delayed_events::routes(crate::error::Surface::Stable))
            .nest(
                &format!("{UNSTABLE}/delayed_events"),
                routes::delayed_events::routes(crate::error::Surface::Unstable),
            )
    };
    let router = router
        .merge(routes::discovery::routes())
        .fallback(unrecognized)
        .method_not_allowed_fallback(method_not_allowed);
    let router = match app.engine.store() {
        Some(_) => {
            router.layer(axum::middleware::from_fn_with_state(app.clone(), durable::answer_when_durable))
        }
        None => router,
    };
    #[cfg(feature = "faults")]
    let router = router.layer(axum::middleware::from_fn_with_state(app.clone(), faults::before_auth));
    router
        .layer(panics)
        // `--log tower_http=debug` shows every request and its status.
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::cors::CorsLayer::permissive())
        .with_state(app)
}
