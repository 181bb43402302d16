//! What both self-test files need: a reference server on loopback and a run of the suite on it.
#![allow(dead_code)]

use conformance::{Options, Report, Verdict};
use reference_server::clock::Clock;
use reference_server::config::Settings;
use reference_server::faults::Fault;
use std::collections::BTreeSet;

/// Serve a reference server with `settings` on a free loopback port, on the real clock.
pub async fn serve(settings: Settings) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let server = reference_server::start(settings, Clock::system());
    tokio::spawn(async move { axum::serve(listener, server.router).await });
    format!("http://{addr}")
}

/// The suite's application service as the reference server is given it: a free loopback
/// address for the suite's receiver and the registration file naming it (PSH-4).
pub struct SuiteService {
    pub listen: String,
    pub file: String,
    _dir: tempfile::TempDir,
}

pub fn suite_service(settings: &mut Settings) -> SuiteService {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let listen = probe.local_addr().expect("address").to_string();
    drop(probe);
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("appservice.yaml");
    let yaml = conformance::appservice::fresh_registration(&format!("http://{listen}"));
    std::fs::write(&file, &yaml).expect("write the registration");
    let registration = reference_server::appservice::registration::Registration::from_yaml(&yaml)
        .expect("the suite's registration loads");
    settings.appservices.push(registration);
    settings.appservice_retry_ms = 50;
    SuiteService { listen, file: file.to_string_lossy().into_owned(), _dir: dir }
}

/// The suite against a fresh server with `settings` and the suite's application service.
pub async fn run(mut settings: Settings, extra: &[&str]) -> Report {
    let service = suite_service(&mut settings);
    let url = serve(settings).await;
    let mut args = vec!["msc4140-conformance", "--homeserver", &url, "--register", "open", "--quiet"];
    args.extend(["--appservice-listen", &service.listen, "--appservice-registration", &service.file]);
    args.extend_from_slice(extra);
    let opts = <Options as clap::Parser>::parse_from(args);
    conformance::runner::run(opts).await.expect("the suite runs")
}

pub fn ids(report: &Report, verdict: Verdict) -> BTreeSet<String> {
    report.results.iter().filter(|r| r.verdict == verdict).map(|r| r.id.clone()).collect()
}

pub fn show(report: &Report) -> String {
    report.summary()
}

/// Faults of the merged revision's own code, which a seed-revision server never reaches (their
/// table is in `self_test_merged.rs`).
pub const MERGED_ONLY: &[Fault] = &[
    Fault::DelayIdForEveryone,
    Fault::LenientDelayMs,
    Fault::OverMaxIs400,
    Fault::CapabilityWithoutLimits,
    Fault::GuestsRefused,
    Fault::RetryAfterRoundedDown,
    Fault::ResendAfterRestart,
];

/// One test per fault, running the file's own `assert_fault`.
#[macro_export]
macro_rules! fault_test {
    ($name:ident, $fault:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            assert_fault(Fault::$fault).await;
        }
    };
}

/// A fault's run: every check in `must` failed, none outside `must` and `may` (unless `any_more`),
/// no ERROR, and exit status 1 for a CI failing on every level.
pub fn assert_failing(
    f: Fault,
    must: &[&str],
    may: &[&str],
    any_more: bool,
    failed: &BTreeSet<String>,
    r: &Report,
) {
    let must: BTreeSet<String> = must.iter().map(|s| s.to_string()).collect();
    let allowed: BTreeSet<String> = must.iter().cloned().chain(may.iter().map(|s| s.to_string())).collect();
    assert!(
        must.is_subset(failed) && (any_more || failed.is_subset(&allowed)),
        "{f:?}: missing {:?}, unexpected {:?}\n{}",
        must.difference(failed).collect::<Vec<_>>(),
        failed.difference(&allowed).collect::<Vec<_>>(),
        show(r)
    );
    assert_eq!(r.exit_code(&conformance::Level::ALL, false), 1, "{}", show(r));
    assert!(ids(r, Verdict::Error).is_empty(), "{}", show(r));
}

/// A reference server on a data directory that the suite can take down and up: its own listen
/// address stays the same, and a control endpoint on another port restarts it
/// (`POST /restart?kill=1&down_ms=N`), which `--restart-cmd`/`--kill-cmd` reach with curl.
pub struct Restartable {
    pub url: String,
    pub restart_cmd: String,
    pub kill_cmd: String,
    _dir: tempfile::TempDir,
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
    engine: std::sync::Arc<reference_server::engine::Engine>,
    timers: tokio::task::JoinHandle<()>,
}

async fn serve_at(addr: std::net::SocketAddr, settings: &Settings) -> Running {
    let server = reference_server::open(settings.clone(), Clock::system(), Default::default())
        .expect("open the data directory");
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind the same address again");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = server.router;
    let served = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Running { stop, served, engine: server.engine, timers: server.timers }
}

impl Running {
    /// Stop serving (open connections finish their request and close), then stop the writer:
    /// cleanly, or dropping what is queued as a SIGKILL would.
    async fn down(self, kill: bool) {
        let _ = self.stop.send(());
        let _ = self.served.await;
        self.timers.abort();
        if let Some(store) = self.engine.store() {
            if kill {
                store.abandon();
            } else {
                store.close();
            }
        }
    }
}

pub async fn restartable(settings: Settings) -> Restartable {
    let dir = tempfile::tempdir().expect("temporary directory");
    let settings = Settings { data_dir: Some(dir.path().to_path_buf()), ..settings };
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = probe.local_addr().expect("address");
    drop(probe);
    let running = std::sync::Arc::new(tokio::sync::Mutex::new(Some(serve_at(addr, &settings).await)));
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let control_addr = control.local_addr().expect("address");
    let restart = axum::routing::post(
        move |axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>| {
            let (running, settings) = (running.clone(), settings.clone());
            async move {
                let kill = q.get("kill").is_some_and(|k| k == "1");
                let down_ms: u64 = q.get("down_ms").and_then(|d| d.parse().ok()).unwrap_or(0);
                let mut slot = running.lock().await;
                if let Some(r) = slot.take() {
                    r.down(kill).await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(down_ms)).await;
                *slot = Some(serve_at(addr, &settings).await);
                "restarted"
            }
        },
    );
    let app = axum::Router::new().route("/restart", restart);
    tokio::spawn(async move { axum::serve(control, app).await });
    let cmd = |kill: u8| {
        format!("curl -fsS -X POST \"http://{control_addr}/restart?kill={kill}&down_ms=$MSC4140_DOWN_MS\" >/dev/null")
    };
    Restartable { url: format!("http://{addr}"), restart_cmd: cmd(0), kill_cmd: cmd(1), _dir: dir }
}

/// The suite against a restartable server, with both restart commands.
pub async fn run_restartable(settings: Settings, extra: &[&str]) -> Report {
    let s = restartable(settings).await;
    let mut args = vec!["msc4140-conformance", "--homeserver", &s.url, "--register", "open", "--quiet"];
    args.extend(["--restart-cmd", &s.restart_cmd, "--kill-cmd", &s.kill_cmd]);
    args.extend_from_slice(extra);
    let opts = <Options as clap::Parser>::parse_from(args);
    conformance::runner::run(opts).await.expect("the suite runs")
}
