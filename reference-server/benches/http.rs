//! Throughput, firing lateness and memory of the reference server, over HTTP on loopback.
//!
//! `cargo bench -p reference-server --bench http [-- --connections 64 --seconds 5 --repeat 3 --max-level 1000000]`
//! (`--memory 0` stops after the throughput table.)
//!
//! `cargo bench -p reference-server --bench http -- --compare-revisions 1 [--level 10000]`: the seed
//! revision (query-parameter scheduling, action in the body) and the merged one (`PUT
//! .../delayed_event`, per-action paths) side by side, runs alternating between the two servers.
//!
//! The server runs as its own process (the release binary, rate limits off) so its memory is
//! measured alone; the load comes from N keep-alive HTTP/1.1 connections in this process, one
//! request in flight per connection. Results: docs/performance.md.

#[path = "../tests/support/loopback.rs"]
mod loopback;

use loopback::{call, connect, field, Client, Process};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which API a server speaks for delayed events.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    /// The seed revision: `?delay=` scheduling, the action in the body.
    Seed,
    /// The merged revision: `PUT .../delayed_event`, per-action paths.
    Merged,
    /// Synapse 1.163.2: the unstable query parameter, the action in the body on the unstable path.
    Synapse,
}

struct Conn {
    api: Api,
    tx: Client,
    token: String,
    room: String,
    ids: Vec<String>,
    next_txn: u64,
}

struct Server {
    /// `None` for a server this bench did not start (Synapse).
    process: Option<Process>,
    addr: String,
    api: Api,
}

/// `retained`: finalised records kept per user.
fn start_server(retained: &str) -> Server {
    start_server_in(retained, "2025-07-09")
}

fn start_server_in(retained: &str, revision: &str) -> Server {
    start_server_with(retained, revision, &[])
}

/// The release server with the bench's settings and `extra` flags (`--data-dir`, `--sync`).
fn start_server_with(retained: &str, revision: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--no-rate-limits", "--log", "warn", "--revision", revision];
    args.extend(["--max-delayed-per-user", "100000000", "--retention-max-per-user", retained]);
    args.extend(["--page-size", "1000"]);
    args.extend(extra);
    let process = Process::start(&args);
    let api = if revision == "2026-07-10" { Api::Merged } else { Api::Seed };
    Server { addr: process.addr.clone(), process: Some(process), api }
}

fn rss_kib(server: &Server) -> u64 {
    server.process.as_ref().map_or(0, Process::rss_kib)
}

async fn setup(server: &Server, n: usize, prefix: &str) -> Vec<Conn> {
    let mut conns = Vec::new();
    let tag = std::process::id();
    for i in 0..n {
        let mut tx = connect(&server.addr).await;
        let body = format!(
            r#"{{"username":"{prefix}{tag}x{i}","password":"pw-{tag}","auth":{{"type":"m.login.dummy"}}}}"#
        );
        let (mut status, mut b) = call(&mut tx, "POST", "/_matrix/client/v3/register", "", &body).await;
        if status == 401 {
            // A user-interactive flow (Synapse): the dummy stage again, in the session it opened.
            let session = field(&b, "session");
            let body = format!(
                r#"{{"username":"{prefix}{tag}x{i}","password":"pw-{tag}","auth":{{"type":"m.login.dummy","session":"{session}"}}}}"#
            );
            (status, b) = call(&mut tx, "POST", "/_matrix/client/v3/register", "", &body).await;
        }
        assert_eq!(status, 200, "register: {}", String::from_utf8_lossy(&b));
        let token = field(&b, "access_token");
        let (_, b) =
            call(&mut tx, "POST", "/_matrix/client/v3/createRoom", &token, r#"{"preset":"public_chat"}"#)
                .await;
        let room = field(&b, "room_id");
        conns.push(Conn { api: server.api, tx, token, room, ids: Vec::new(), next_txn: 0 });
    }
    conns
}

/// Cancel the newest events on every connection until each holds `per_conn` again.
async fn trim(conns: Vec<Conn>, per_conn: usize) -> Vec<Conn> {
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                while c.ids.len() > per_conn {
                    let id = c.ids.pop().unwrap_or_default();
                    let (path, body) = manage(&c, &id, "cancel");
                    let (status, _) = call(&mut c.tx, "POST", &path, &c.token.clone(), &body).await;
                    assert_eq!(status, 200, "cancel failed");
                }
                c
            })
        })
        .collect();
    let mut back = Vec::new();
    for t in tasks {
        back.push(t.await.expect("task"));
    }
    back
}

/// A management request in the connection's revision: the action in the body (seed) or in the
/// path with an empty body, as matrix-js-sdk 43 sends it (merged).
fn manage(c: &Conn, id: &str, action: &str) -> (String, String) {
    match c.api {
        Api::Merged => (format!("/_matrix/client/v1/delayed_events/{id}/{action}"), String::new()),
        Api::Seed => {
            (format!("/_matrix/client/v1/delayed_events/{id}"), format!(r#"{{"action":"{action}"}}"#))
        }
        Api::Synapse => (
            format!("/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{id}"),
            format!(r#"{{"action":"{action}"}}"#),
        ),
    }
}

#[derive(Clone, Copy)]
enum Work {
    Versions,
    Schedule { delay_ms: u64 },
    Restart,
}

async fn step(c: &mut Conn, work: Work, i: u64) -> bool {
    match work {
        Work::Versions => call(&mut c.tx, "GET", "/_matrix/client/versions", "", "").await.0 == 200,
        Work::Schedule { delay_ms } => {
            c.next_txn += 1;
            let (room, txn) = (&c.room, c.next_txn);
            let (path, body) = match c.api {
                Api::Merged => {
                    let path = format!("/_matrix/client/v3/rooms/{room}/delayed_event/m.room.message/b{txn}");
                    (path, format!(r#"{{"delay_ms":{delay_ms},"content":{{"body":"x"}}}}"#))
                }
                Api::Seed => {
                    let path = format!(
                        "/_matrix/client/v3/rooms/{room}/send/m.room.message/b{txn}?delay={delay_ms}"
                    );
                    (path, r#"{"body":"x"}"#.to_string())
                }
                Api::Synapse => {
                    let path = format!(
                        "/_matrix/client/v3/rooms/{room}/send/m.room.message/b{txn}?org.matrix.msc4140.delay={delay_ms}"
                    );
                    // Synapse checks a delayed message's content (`msgtype` required).
                    (path, r#"{"body":"x","msgtype":"m.text"}"#.to_string())
                }
            };
            let (status, body) = call(&mut c.tx, "PUT", &path, &c.token.clone(), &body).await;
            if status == 200 {
                c.ids.push(field(&body, "delay_id"));
            }
            status == 200
        }
        Work::Restart => {
            // A pseudo-random pick spreads restarts over the whole index.
            let k = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as usize % c.ids.len();
            let (path, body) = manage(c, &c.ids[k], "restart");
            call(&mut c.tx, "POST", &path, &c.token.clone(), &body).await.0 == 200
        }
    }
}

/// Run `work` on every connection for `secs`; requests per second.
async fn measure(conns: Vec<Conn>, work: Work, secs: f64) -> (Vec<Conn>, f64) {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let (done, failed) = (done.clone(), failed.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    i += 1;
                    if step(&mut c, work, i).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                c
            })
        })
        .collect();
    let mut back = Vec::new();
    for t in tasks {
        back.push(t.await.expect("task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(failed.load(Ordering::Relaxed), 0, "requests failed");
    (back, done.load(Ordering::Relaxed) as f64 / elapsed)
}

/// Schedule on every connection until each holds `per_conn` delayed events.
async fn fill(conns: Vec<Conn>, per_conn: usize, delay_ms: u64) -> Vec<Conn> {
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut i = 0;
                while c.ids.len() < per_conn {
                    i += 1;
                    assert!(step(&mut c, Work::Schedule { delay_ms }, i).await, "schedule failed");
                }
                c
            })
        })
        .collect();
    let mut back = Vec::new();
    for t in tasks {
        back.push(t.await.expect("task"));
    }
    back
}

/// A 1 s warm-up, then `reps` timed runs; the median rate. Scheduling runs are trimmed back to
/// `per_conn` events per connection after each run so the outstanding count stays at its level.
async fn median(
    mut conns: Vec<Conn>,
    work: Work,
    secs: f64,
    reps: usize,
    per_conn: usize,
) -> (Vec<Conn>, Rate, usize) {
    let mut rates = Vec::new();
    let mut peak = 0;
    for rep in 0..=reps {
        let (c, rate) = measure(conns, work, if rep == 0 { 1.0 } else { secs }).await;
        peak = peak.max(c.iter().map(|c| c.ids.len()).sum());
        conns = trim(c, per_conn).await;
        if rep > 0 {
            rates.push(rate);
        }
    }
    rates.sort_by(f64::total_cmp);
    let rate = Rate { median: rates[rates.len() / 2], min: rates[0], max: rates[rates.len() - 1] };
    (conns, rate, peak)
}

/// Requests per second over the timed runs.
#[derive(Clone, Copy)]
struct Rate {
    median: f64,
    min: f64,
    max: f64,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>6.0} req/s [{:.0}..{:.0}]", self.median, self.min, self.max)
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn lateness(n_conns: usize, events: usize) {
    let server = start_server("100000000");
    lateness_on(&server, n_conns, events, "in memory").await;
}

async fn lateness_on(server: &Server, n_conns: usize, events: usize, label: &str) {
    let conns = setup(server, n_conns, "late").await;
    let per = events / n_conns;
    // Due times spread over 10 s, starting 10 s out: all are outstanding before the first fires.
    let t0 = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                for i in 0..per {
                    let offset = (i as u64 * 10_000 / per as u64) + (c.room.len() as u64 % 7);
                    let target = t0 + Duration::from_millis(10_000 + offset);
                    let delay = target.saturating_duration_since(Instant::now()).as_millis().max(1) as u64;
                    assert!(step(&mut c, Work::Schedule { delay_ms: delay }, 0).await);
                }
                c
            })
        })
        .collect();
    let mut conns = Vec::new();
    for t in tasks {
        conns.push(t.await.expect("task"));
    }
    let scheduled_in = t0.elapsed();
    let outstanding: usize = conns.iter().map(|c| c.ids.len()).sum();
    tokio::time::sleep(Duration::from_millis(21_000).saturating_sub(t0.elapsed())).await;
    let mut late = Vec::new();
    for c in &mut conns {
        let mut from = String::new();
        loop {
            let q = if from.is_empty() { String::new() } else { format!("?from={from}") };
            let path = format!("/_matrix/client/v1/delayed_events/finalised{q}");
            let (_, body) = call(&mut c.tx, "GET", &path, &c.token.clone(), "").await;
            let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
            for f in v["finalised"].as_array().into_iter().flatten() {
                let d = &f["delayed_event"];
                let due = d["running_since"].as_u64().unwrap_or(0) + d["delay"].as_u64().unwrap_or(0);
                assert_eq!(f["outcome"], "send");
                let ts = f["origin_server_ts"].as_u64().unwrap_or(0);
                assert!(ts >= due, "sent early");
                late.push(ts - due);
            }
            match v["next_batch"].as_str() {
                Some(n) => from = n.to_string(),
                None => break,
            }
        }
    }
    assert_eq!(late.len(), outstanding, "every event was sent");
    late.sort_unstable();
    println!(
        "lateness ({label}): {} events ({} outstanding, scheduled in {:.1} s), p50 {} ms, p99 {} ms, max {} ms",
        late.len(),
        outstanding,
        scheduled_in.as_secs_f64(),
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = arg("--connections", 64) as usize;
    let secs = arg("--seconds", 5) as f64;
    let max_level = arg("--max-level", 1_000_000) as usize;
    let late_events = arg("--lateness-events", 100_000) as usize;
    println!(
        "connections {n}, median of {} runs of {secs} s after a 1 s warm-up, cores {}",
        arg("--repeat", 3),
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );

    // Finalised records are not kept here, so churn does not grow memory between levels.
    if arg("--compare-storage", 0) == 1 {
        return compare_storage(n, secs, arg("--repeat", 3) as usize, arg("--level", 10_000) as usize).await;
    }
    if arg("--recovery", 0) > 0 {
        return recovery(n, arg("--recovery", 0) as usize).await;
    }
    if arg("--compare-revisions", 0) == 1 {
        return compare_revisions(n, secs, arg("--repeat", 3) as usize, arg("--level", 10_000) as usize)
            .await;
    }
    let server = start_server("0");
    let conns = setup(&server, n, "bench").await;
    let reps = arg("--repeat", 3) as usize;
    let (mut conns, versions, _) = median(conns, Work::Versions, secs, reps, 0).await;
    println!("GET /versions: {versions} (ceiling)");
    let mut level = 1_000;
    while level <= max_level {
        let per_conn = level.div_ceil(n);
        conns = fill(conns, per_conn, 86_400_000).await;
        let held: usize = conns.iter().map(|c| c.ids.len()).sum();
        let (c, restart, _) = median(conns, Work::Restart, secs, reps, per_conn).await;
        let (c, schedule, grown) =
            median(c, Work::Schedule { delay_ms: 86_400_000 }, secs, reps, per_conn).await;
        conns = c;
        println!(
            "outstanding {held:>8}: restart {restart} ({:.0}% of /versions), schedule {schedule} (outstanding {held} -> {grown})",
            100.0 * restart.median / versions.median,
        );
        level *= 10;
    }
    drop(conns);
    drop(server);

    if arg("--memory", 1) == 0 {
        return;
    }
    // Memory on a fresh server: RSS growth per scheduled event.
    let server = start_server("100000000");
    let conns = setup(&server, n, "mem").await;
    let before = rss_kib(&server);
    let conns = fill(conns, max_level.div_ceil(n), 86_400_000).await;
    let held: usize = conns.iter().map(|c| c.ids.len()).sum();
    let after = rss_kib(&server);
    println!(
        "memory: {:.0} bytes per scheduled event at {held} outstanding (RSS {:.1} MiB -> {:.1} MiB)",
        (after - before) as f64 * 1024.0 / held as f64,
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    drop(conns);
    drop(server);
    lateness(100, late_events).await;
}

/// The two revisions side by side at `level` outstanding events: every timed run of one server is
/// followed by the same run on the other, so drift of the machine hits both alike.
async fn compare_revisions(n: usize, secs: f64, reps: usize, level: usize) {
    let seed = start_server_in("0", "2025-07-09");
    let merged = start_server_in("0", "2026-07-10");
    let per_conn = level.div_ceil(n);
    let mut a = fill(setup(&seed, n, "seed").await, per_conn, 86_400_000).await;
    let mut b = fill(setup(&merged, n, "merged").await, per_conn, 86_400_000).await;
    let works = [("restart", Work::Restart), ("schedule", Work::Schedule { delay_ms: 86_400_000 })];
    for (name, work) in works {
        let (mut ra, mut rb) = (Vec::new(), Vec::new());
        for rep in 0..=reps {
            let t = if rep == 0 { 1.0 } else { secs };
            let (c, rate) = measure(a, work, t).await;
            a = trim(c, per_conn).await;
            let (c, rate_b) = measure(b, work, t).await;
            b = trim(c, per_conn).await;
            if rep > 0 {
                ra.push(rate);
                rb.push(rate_b);
            }
        }
        let rate = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            Rate { median: v[v.len() / 2], min: v[0], max: v[v.len() - 1] }
        };
        let (sa, sb) = (rate(ra), rate(rb));
        println!(
            "{name:>8} at {level} outstanding: 2025-07-09 {sa}, 2026-07-10 {sb}: merged/seed {:.0}%",
            100.0 * sb.median / sa.median
        );
    }
}

/// The merged revision in memory, with `--data-dir --sync full` and with `--sync normal`, and
/// Synapse when `--synapse-port` names one on loopback, side by side at `level` outstanding.
async fn compare_storage(n: usize, secs: f64, reps: usize, level: usize) {
    let full_dir =
        tempfile::Builder::new().prefix("msc4140-bench-full-").tempdir().expect("temporary directory");
    let normal_dir =
        tempfile::Builder::new().prefix("msc4140-bench-normal-").tempdir().expect("temporary directory");
    let path = |d: &tempfile::TempDir| d.path().to_str().expect("utf-8").to_string();
    let (full, normal) = (path(&full_dir), path(&normal_dir));
    let mut servers = vec![
        ("in memory", start_server_in("0", "2026-07-10")),
        ("--sync full", start_server_with("0", "2026-07-10", &["--data-dir", &full, "--sync", "full"])),
        ("--sync normal", start_server_with("0", "2026-07-10", &["--data-dir", &normal, "--sync", "normal"])),
    ];
    let synapse_port = arg("--synapse-port", 0);
    if synapse_port > 0 {
        let addr = format!("127.0.0.1:{synapse_port}");
        servers.push(("Synapse", Server { process: None, addr, api: Api::Synapse }));
    }
    let per_conn = level.div_ceil(n);
    let mut conns = Vec::new();
    for (name, server) in &servers {
        // Synapse gets a tenth of the level: filling it at its rate would take most of an hour.
        let per = if server.api == Api::Synapse { per_conn.div_ceil(10) } else { per_conn };
        let started = Instant::now();
        conns.push(fill(setup(server, n, "store").await, per, 86_400_000).await);
        println!("{name}: {} outstanding in {:.1} s", per * n, started.elapsed().as_secs_f64());
    }
    let works = [("restart", Work::Restart), ("schedule", Work::Schedule { delay_ms: 86_400_000 })];
    for (work_name, work) in works {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        for rep in 0..=reps {
            let t = if rep == 0 { 1.0 } else { secs };
            for (i, (_, server)) in servers.iter().enumerate() {
                let per = if server.api == Api::Synapse { per_conn.div_ceil(10) } else { per_conn };
                let (c, rate) = measure(std::mem::take(&mut conns[i]), work, t).await;
                conns[i] = trim(c, per).await;
                if rep > 0 {
                    rates[i].push(rate);
                }
            }
        }
        let medians: Vec<Rate> = rates
            .into_iter()
            .map(|mut v| {
                v.sort_by(f64::total_cmp);
                Rate { median: v[v.len() / 2], min: v[0], max: v[v.len() - 1] }
            })
            .collect();
        for ((name, _), rate) in servers.iter().zip(&medians) {
            println!(
                "{work_name:>8} at {level} outstanding, {name:>13}: {rate}, {:.0}% of in memory",
                100.0 * rate.median / medians[0].median
            );
        }
    }
    drop(conns);
    println!("data directory after the runs: {:.1} MiB", dir_mib(full_dir.path()));
    drop(servers);
    let late_dir =
        tempfile::Builder::new().prefix("msc4140-bench-late-").tempdir().expect("temporary directory");
    let late = path(&late_dir);
    let server = start_server_with("100000000", "2025-07-09", &["--data-dir", &late, "--sync", "full"]);
    lateness_on(&server, 100, arg("--lateness-events", 100_000) as usize, "--data-dir, --sync full").await;
}

fn dir_mib(dir: &std::path::Path) -> f64 {
    let bytes: u64 = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    bytes as f64 / (1024.0 * 1024.0)
}

/// Recovery of `events` scheduled events: the time from starting the server on the directory a
/// SIGKILLed server left until it serves, and its RSS then, against the RSS of an in-memory server
/// holding the same events.
async fn recovery(n: usize, events: usize) {
    let per_conn = events.div_ceil(n);
    let memory = start_server_in("0", "2026-07-10");
    let empty = rss_kib(&memory);
    let conns = fill(setup(&memory, n, "rss").await, per_conn, 86_400_000).await;
    let held: usize = conns.iter().map(|c| c.ids.len()).sum();
    let in_memory = rss_kib(&memory).saturating_sub(empty) as f64 * 1024.0 / held as f64;
    drop(conns);
    drop(memory);

    let dir =
        tempfile::Builder::new().prefix("msc4140-bench-recovery-").tempdir().expect("temporary directory");
    let path = dir.path().to_str().expect("utf-8").to_string();
    let flags = ["--data-dir", path.as_str(), "--sync", "normal"];
    let mut server = start_server_with("0", "2026-07-10", &flags);
    let started = Instant::now();
    let conns = fill(setup(&server, n, "rec").await, per_conn, 86_400_000).await;
    let filled_in = started.elapsed().as_secs_f64();
    drop(conns);
    if let Some(p) = server.process.as_mut() {
        p.kill();
    }
    let started = Instant::now();
    let server = start_server_with("0", "2026-07-10", &flags);
    let recovered_in = started.elapsed().as_secs_f64();
    // Measured on a server that only recovered: nothing in it but what it read back.
    let persistent = rss_kib(&server) as f64 * 1024.0;
    let empty_persistent = {
        let fresh =
            tempfile::Builder::new().prefix("msc4140-bench-empty-").tempdir().expect("temporary directory");
        let p = fresh.path().to_str().expect("utf-8").to_string();
        let s = start_server_with("0", "2026-07-10", &["--data-dir", &p]);
        rss_kib(&s) as f64 * 1024.0
    };
    let per_event = (persistent - empty_persistent) / held as f64;
    println!(
        "recovery of {held} scheduled events ({:.0} MiB on disk, filled in {filled_in:.1} s): ready in {recovered_in:.2} s; \
         RSS {:.0} bytes per event after recovery, {in_memory:.0} in memory ({:.2}x)",
        dir_mib(dir.path()),
        per_event,
        per_event / in_memory
    );
}
