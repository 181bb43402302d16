//! A Matrix homeserver subset implementing MSC4140 (cancellable delayed events), either revision,
//! in memory or persistent (`store`), for client developers, homeserver implementers and our
//! conformance suite. `engine` holds the semantics (synchronous, clock-free); `http` and
//! `scheduler` are the async shell. Requirement ids (`SCH-1`, `MGT-8`, ...) refer to
//! `spec/REQUIREMENTS.md` and `spec/REQUIREMENTS-rev-2026-07-10.md`.

pub mod appservice;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
#[cfg(feature = "faults")]
pub mod faults;
pub mod http;
pub mod scheduler;
pub mod store;
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
    /// One delivery task per application service with a URL.
    pub appservices: Vec<tokio::task::JoinHandle<()>>,
    pub clock: Clock,
}

/// Build an in-memory server and start its timer task on the current tokio runtime.
pub fn start(settings: Settings, clock: Clock) -> Server {
    let shell = Arc::new(Shell::default());
    let engine = Arc::new(Engine::new(settings, shell.clone()));
    serve(engine, shell, clock)
}

/// Build a server on `settings.data_dir` (or in memory without one): load it, send what fell due
/// while the server was down in send-time order (PER-3), then start the timer task.
pub fn open(
    settings: Settings,
    clock: Clock,
    options: store::StoreOptions,
) -> Result<Server, store::StoreError> {
    let Some(dir) = settings.data_dir.clone() else { return Ok(start(settings, clock)) };
    let (store, snapshot) = store::Store::open(&dir, settings.sync, options)?;
    let shell = Arc::new(Shell::default());
    let engine = Arc::new(Engine::restore(settings, shell.clone(), store, snapshot)?);
    #[cfg(feature = "faults")]
    if planted!(engine.settings, ResendAfterRestart) {
        engine.resend_last_sent(clock.now_ms());
    }
    engine.run_timers(&|| clock.now_ms());
    Ok(serve(engine, shell, clock))
}

fn serve(engine: Arc<Engine>, shell: Arc<Shell>, clock: Clock) -> Server {
    let timers = tokio::spawn(scheduler::run(engine.clone(), shell.clone(), clock));
    let appservices = appservice::sender::spawn_all(&engine, &shell);
    let router = http::router(http::AppState { engine: engine.clone(), shell, clock });
    Server { router, engine, timers, appservices, clock }
}
