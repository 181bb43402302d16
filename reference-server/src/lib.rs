//! An in-memory Matrix homeserver subset implementing MSC4140 (cancellable delayed events) as
//! written on 2025-07-09, for client developers, homeserver implementers and our conformance
//! suite. `engine` holds the semantics (synchronous, clock-free); `http` and `scheduler` are the
//! async shell. Requirement ids (`SCH-1`, `MGT-8`, ...) refer to `spec/REQUIREMENTS.md`.

pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
#[cfg(feature = "faults")]
pub mod faults;
pub mod http;
pub mod scheduler;
pub mod sync;

/// Whether the planted fault `$f` is switched on in `$settings`: a constant `false` unless the
/// `faults` feature is compiled in, so a normal build optimises every fault path away.
#[macro_export]
macro_rules! planted {
    ($settings:expr, $f:ident) => {{
        #[cfg(feature = "faults")]
        let on = $settings.faults.has($crate::faults::Fault::$f);
        #[cfg(not(feature = "faults"))]
        let on = {
            let _ = &$settings;
            false
        };
        on
    }};
}

use clock::Clock;
use config::Settings;
use engine::Engine;
use scheduler::Shell;
use std::sync::Arc;

/// A running server's parts: the router to serve, the core, and the timer task.
pub struct Server {
    pub router: axum::Router,
    pub engine: Arc<Engine>,
    pub timers: tokio::task::JoinHandle<()>,
    pub clock: Clock,
}

/// Build the server and start its timer task on the current tokio runtime.
pub fn start(settings: Settings, clock: Clock) -> Server {
    let shell = Arc::new(Shell::default());
    let engine = Arc::new(Engine::new(settings, shell.clone()));
    let timers = tokio::spawn(scheduler::run(engine.clone(), shell.clone(), clock));
    let router = http::router(http::AppState { engine: engine.clone(), shell, clock });
    Server { router, engine, timers, clock }
}
