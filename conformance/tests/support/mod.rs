//! What both self-test files need: a reference server on loopback and a run of the suite on it.
#![allow(dead_code)]

use conformance::{Options, Report, Verdict};
use reference_server::clock::Clock;
use reference_server::config::Settings;
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
