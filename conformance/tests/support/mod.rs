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

pub async fn run(settings: Settings, extra: &[&str]) -> Report {
    let url = serve(settings).await;
    let mut args = vec!["msc4140-conformance", "--homeserver", &url, "--register", "open", "--quiet"];
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
