//! The suite judged against the reference server: everything passes on the real thing (both
//! surfaces, two page sizes), and every deliberate fault of the server is reported as the failure
//! of the checks that should see it. A check no broken server can fail would be a defect.

use conformance::{Options, Report, Verdict};
use reference_server::clock::Clock;
use reference_server::config::{Faults, Settings};
use std::collections::BTreeSet;

/// Serve a reference server with `settings` on a free loopback port, on the real clock.
async fn serve(settings: Settings) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let server = reference_server::start(settings, Clock::system());
    tokio::spawn(async move { axum::serve(listener, server.router).await });
    format!("http://{addr}")
}

async fn run(settings: Settings, extra: &[&str]) -> Report {
    let url = serve(settings).await;
    let mut args = vec!["msc4140-conformance", "--homeserver", &url, "--register", "open", "--quiet"];
    args.extend_from_slice(extra);
    let opts = <Options as clap::Parser>::parse_from(args);
    conformance::runner::run(opts).await.expect("the suite runs")
}

fn ids(report: &Report, verdict: Verdict) -> BTreeSet<String> {
    report.results.iter().filter(|r| r.verdict == verdict).map(|r| r.id.clone()).collect()
}

fn show(report: &Report) -> String {
    report.summary()
}

/// The witness traces that need millisecond rate-limit windows or retention.
const NOT_APPLICABLE: &[&str] = &[
    "model/lst-5-finalised-record-dropped-beyond-the-per-user-count",
    "model/lst-5-finalised-record-expires-by-age",
    "model/mgt-6-management-rate-limited",
    "model/sch-6-scheduling-rate-limited",
    "model/srv-6-insertion-refused-by-the-sending-limit-cancel-error-m-limit-exceeded",
];

async fn passes_everything(settings: Settings, prefix: &str) {
    let r = run(settings, &["--prefix", prefix, "--max-outstanding", "100"]).await;
    assert!(ids(&r, Verdict::Fail).is_empty() && ids(&r, Verdict::Error).is_empty(), "{}", show(&r));
    let na: BTreeSet<String> = NOT_APPLICABLE.iter().map(|s| s.to_string()).collect();
    assert_eq!(ids(&r, Verdict::NotApplicable), na, "{}", show(&r));
    assert!(r.results.len() > 60, "{} checks", r.results.len());
    assert_eq!(r.exit_code(&[conformance::Level::Must]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_passes_every_check_on_the_stable_surface() {
    passes_everything(Settings::default(), "stable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_passes_every_check_on_the_unstable_surface_with_one_item_pages() {
    let settings = Settings { page_size: 1, discard_returned: true, ..Settings::default() };
    passes_everything(settings, "unstable").await;
}

/// Run with one fault planted and a short lateness bound; the checks in `must_fail` fail.
async fn detects(faults: Faults, must_fail: &[&str]) {
    let settings = Settings { faults, ..Settings::default() };
    let r = run(settings, &["--prefix", "stable", "--max-lateness-ms", "1500"]).await;
    let failed = ids(&r, Verdict::Fail);
    for id in must_fail {
        assert!(failed.contains(*id), "{faults:?}: {id} did not fail\n{}", show(&r));
    }
    assert_eq!(r.exit_code(&[conformance::Level::Must]), 1, "{}", show(&r));
}

// Each fault is a bug seen in (or plausible for) deployed servers; see reference-server's
// `config::Faults`. The ids are the checks whose scenario meets the fault.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_event_sent_twice_fails_the_timer_scenarios() {
    let faults = Faults { double_send: true, ..Faults::default() };
    detects(
        faults,
        &[
            "model/srv-1-timeout-outcome-send-reason-delay",
            "model/mgt-5-srv-1-restarted-event-sent-at-the-new-due-time",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_one_of_two_events_for_a_slot_fails_the_pagination_walk() {
    let faults = Faults { slot_collision_drops_one: true, ..Faults::default() };
    detects(faults, &["model/lst-3-full-pagination-walk-of-scheduled"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_failed_send_fails_srv_3() {
    let faults = Faults { lose_failed_sends: true, ..Faults::default() };
    detects(faults, &["model/srv-3-power-levels-fail-at-send-time-outcome-cancel-reason-error"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redundant_send_stalling_other_timers_fails_the_race_check() {
    let faults = Faults { redundant_send_stalls_others: true, ..Faults::default() };
    detects(faults, &["race/concurrent-actions"]).await;
}

/// A homeserver without MSC4140: only `/versions`, without the feature flag.
async fn serve_without_the_feature() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let versions = axum::Json(serde_json::json!({"versions": ["v1.11"], "unstable_features": {}}));
    let app = axum::Router::new()
        .route("/_matrix/client/versions", axum::routing::get(move || async move { versions }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_feature_gets_no_pass_at_all() {
    let url = serve_without_the_feature().await;
    let opts = Options::for_server(&url);
    let r = conformance::runner::run(opts).await.expect("the suite runs");
    assert!(r.results.len() > 60);
    assert!(r.results.iter().all(|c| c.verdict == Verdict::NotApplicable), "{}", show(&r));
    // Forcing the prefix: the positive control fails and nothing else counts.
    let mut opts = Options::for_server(&url);
    opts.prefix = conformance::options::PrefixChoice::Unstable;
    let r = conformance::runner::run(opts).await.expect("the suite runs");
    assert_eq!(ids(&r, Verdict::Pass), BTreeSet::new(), "{}", show(&r));
    assert_eq!(
        ids(&r, Verdict::Fail),
        BTreeSet::from(["control/schedule-list-send".to_string()]),
        "{}",
        show(&r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_provisioned_users_from_a_file_work_too() {
    let url = serve(Settings::default()).await;
    let http = reqwest::Client::new();
    let mut users = Vec::new();
    for i in 0..4 {
        let body = serde_json::json!({"username": format!("pool{i}"), "password": "pw", "auth": {"type": "m.login.dummy"}});
        let r: serde_json::Value = http
            .post(format!("{url}/_matrix/client/v3/register"))
            .json(&body)
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        users.push(serde_json::json!({"user_id": r["user_id"], "access_token": r["access_token"]}));
    }
    let file = std::env::temp_dir().join(format!("msc4140-users-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_string(&users).expect("json")).expect("write users file");
    let path = file.to_string_lossy().to_string();
    let opts = <Options as clap::Parser>::parse_from([
        "msc4140-conformance",
        "--homeserver",
        &url,
        "--users",
        &path,
        "--quiet",
        "--max-outstanding",
        "100",
        "--skip",
        "limits/",
    ]);
    // Twice: the second run meets the first one's history (finalised records on every page).
    for _ in 0..2 {
        let r = conformance::runner::run(opts.clone()).await.expect("the suite runs");
        assert!(ids(&r, Verdict::Fail).is_empty() && ids(&r, Verdict::Error).is_empty(), "{}", show(&r));
    }
    let _ = std::fs::remove_file(&file);
}
