//! A whole run: discovery, the controls, then every selected check, `--jobs` at a time.

use crate::checks::{self, control, Check};
use crate::client::Client;
use crate::context::Context;
use crate::options::{Options, PrefixChoice};
use crate::outcome::{CheckInfo, CheckResult, Verdict};
use crate::provision::{Registration, Source};
use crate::report::Report;
use crate::surface::{self, Surface};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spec_model::types::Prefix;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Run the suite. `Err` when it cannot run at all (server unreachable, bad options).
pub async fn run(opts: Options) -> Result<Report, String> {
    let epoch = Instant::now();
    let client = Client::new(&opts.homeserver, epoch).map_err(|e| e.to_string())?;
    let versions = surface::versions(&client).await;
    if !versions.reachable {
        return Err(format!("{}/_matrix/client/versions is not reachable: {}", client.base(), versions.raw));
    }
    let run_id = format!(
        "{:x}",
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros()) & 0xffff_ffff_ffff
    );
    let source = match (&opts.users, &opts.register) {
        (Some(path), _) => Source::from_file(&path.to_string_lossy())?,
        (None, Some(how)) => Source::register(how.clone(), &run_id),
        (None, None) => Source::register(Registration::Open, &run_id),
    };
    let prefix = match opts.prefix {
        PrefixChoice::Stable => Some(Prefix::Stable),
        PrefixChoice::Unstable => Some(Prefix::Unstable),
        PrefixChoice::Auto if versions.stable_feature => Some(Prefix::Stable),
        PrefixChoice::Auto if versions.unstable_feature => Some(Prefix::Unstable),
        PrefixChoice::Auto => None,
    };
    let decision = match prefix {
        Some(_) => match source.take(&client, 1).await {
            Ok(people) => {
                let d =
                    crate::revision::decide(&client, &versions, &people[0].access_token, opts.revision).await;
                source.release(&people);
                d
            }
            // The positive control will report it; the choice stands or the default applies.
            Err(e) => crate::revision::without_probing(opts.revision, format!("no user to probe with: {e}")),
        },
        None => {
            crate::revision::without_probing(opts.revision, "the server does not advertise MSC4140".into())
        }
    };
    if !opts.quiet {
        eprintln!("judging revision {}: {}", decision.revision, decision.reasons.join("; "));
    }
    let merged = decision.revision == spec_model::Revision::Rev2026_07_10;
    let doc = crate::witnesses::load_for(decision.revision)?;
    let selected: Vec<Check> = checks::all(&doc).into_iter().filter(|c| selected(&opts, &c.info())).collect();
    let mut report = Report::new(&opts.homeserver, versions.versions.clone());
    report.judged(decision.revision, decision.reasons.clone());
    let Some(prefix) = prefix else {
        let why =
            "the server does not advertise org.matrix.msc4140 in /versions (use --prefix to test anyway)";
        report.push(control::discovery_info().result(Verdict::NotApplicable, why, 0));
        report.push(control::control_info().result(Verdict::NotApplicable, why, 0));
        report.push(control::max_delay_shape_info(Prefix::Unstable).result(Verdict::NotApplicable, why, 0));
        report.push(control::max_delay_info().result(Verdict::NotApplicable, why, 0));
        for c in &selected {
            report.push(c.info().result(Verdict::NotApplicable, why, 0));
        }
        return Ok(report.finish(epoch, "none"));
    };
    let surface = Surface { prefix, merged };
    report.prefix = surface.name().to_string();
    let jobs = opts.jobs.max(1);
    let mut ctx = Context {
        client,
        surface,
        opts,
        source,
        run_id,
        max_delay: control::MaxDelay::None,
        lookups: Default::default(),
        revision: decision.revision,
        advertised_outstanding: None,
        appservice: None,
    };
    if let (Some(addr), Some(path)) = (ctx.opts.appservice_listen, ctx.opts.appservice_registration.clone()) {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "--appservice-registration {}: {e} (--write-appservice-registration makes one)",
                path.display()
            )
        })?;
        let registration = crate::appservice::parse_registration(&text)
            .map_err(|e| format!("--appservice-registration {}: {e}", path.display()))?;
        ctx.appservice = Some(crate::appservice::Receiver::start(addr, registration, epoch).await?);
    }

    let control = control::positive_control(&ctx).await;
    let control_failed = control.verdict != Verdict::Pass;
    let discovery_info = if merged { control::merged_discovery_info() } else { control::discovery_info() };
    let discovery = match (prefix, versions.unstable_feature, control_failed) {
        (_, true, _) => {
            discovery_info.pass(&std::collections::BTreeSet::from([crate::outcome::Clause::Answer]), "", 0)
        }
        (Prefix::Unstable, false, false) => discovery_info.result(
            Verdict::Fail,
            "the unstable endpoints work but /versions does not list org.matrix.msc4140",
            0,
        ),
        _ => discovery_info.result(Verdict::NotApplicable, "the unstable prefix is not served", 0),
    };
    report.push(discovery);
    report.push(control);
    if merged {
        // Information even when nothing else can be judged: how far from the merged text it is.
        report.legacy_parameter = Some(crate::checks::merged::legacy_parameter(&ctx).await);
    }
    if control_failed {
        let why = "the positive control failed: nothing else can be judged";
        if merged {
            report.push(crate::checks::merged::max_delay_info().result(Verdict::NotApplicable, why, 0));
        } else {
            report.push(control::max_delay_shape_info(prefix).result(Verdict::NotApplicable, why, 0));
            report.push(control::max_delay_info().result(Verdict::NotApplicable, why, 0));
        }
        for c in &selected {
            report.push(c.info().result(
                Verdict::NotApplicable,
                "the positive control failed: nothing else can be judged",
                0,
            ));
        }
        return Ok(report.finish(epoch, surface_name(prefix)));
    }
    ctx.lookups = control::probe_lookups(&ctx).await?;
    report.lookups = ctx.lookups;
    if merged {
        match crate::checks::merged::probe_max_delay(&ctx).await {
            Ok((max, outstanding)) => {
                ctx.max_delay = max.clone();
                ctx.advertised_outstanding = outstanding;
                report.max_delay_ms = max.known();
                report.push(crate::checks::merged::max_delay_verdict(&max));
            }
            Err(e) => report.push(crate::checks::merged::max_delay_info().result(Verdict::Error, e, 0)),
        }
    } else {
        match control::probe_max_delay(&ctx).await {
            Ok(max) => {
                ctx.max_delay = max.clone();
                report.max_delay_ms = max.known();
                report.results.extend(control::max_delay_verdicts(&max, prefix));
            }
            Err(e) => report.push(control::max_delay_info().result(Verdict::Error, e, 0)),
        }
    }

    let ctx = Arc::new(ctx);
    let progress = progress_bar(&ctx.opts, selected.len());
    let semaphore = Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut set = tokio::task::JoinSet::new();
    // Checks that take the server down run alone, after every other check has finished.
    let (serial, concurrent): (Vec<_>, Vec<_>) =
        selected.into_iter().enumerate().partition(|(_, c)| c.restarts_the_server());
    for (i, check) in concurrent {
        let (ctx, semaphore) = (ctx.clone(), semaphore.clone());
        set.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (i, check.run(&ctx).await)
        });
    }
    let mut results: Vec<(usize, CheckResult)> = Vec::new();
    let mut record = |i: usize, mut r: CheckResult| {
        surface_coverage(&mut r, prefix, ctx.lookups);
        let line = crate::report::line(&r);
        // Without a terminal the summary lists every non-pass; live lines would repeat it.
        if !progress.is_hidden() {
            if r.verdict != Verdict::Pass {
                progress.println(line);
            }
            progress.set_message(r.id.clone());
        }
        progress.inc(1);
        results.push((i, r));
    };
    while let Some(joined) = set.join_next().await {
        let (i, r) = joined.map_err(|e| format!("a check panicked: {e}"))?;
        record(i, r);
    }
    for (i, check) in serial {
        let r = check.run(&ctx).await;
        record(i, r);
    }
    progress.finish_and_clear();
    results.sort_by_key(|(i, _)| *i);
    for (_, r) in results {
        report.push(r);
    }
    Ok(report.finish(epoch, surface_name(prefix)))
}

/// What a check exercised because of the surface it ran on: the unstable names (UNS-1) and error
/// shapes (UNS-2..4) it judged, and finalised items' timestamps (LST-8) when it read finalised
/// lists. For the coverage matrix only.
fn surface_coverage(r: &mut CheckResult, prefix: Prefix, lookups: control::Lookups) {
    let mut add = |id: &str| {
        if !r.requirements.iter().chain(&r.also_covers).any(|x| x == id) {
            r.also_covers.push(id.to_string());
        }
    };
    let model = r.id.starts_with("model/");
    if prefix == Prefix::Unstable {
        add("UNS-1");
        let own = r.requirements.clone();
        for (req, uns) in [("SCH-5", "UNS-2"), ("SCH-7", "UNS-3")] {
            if model && own.iter().any(|x| x == req) {
                add(uns);
            }
        }
        if model && lookups.finalised && own.iter().any(|x| x == "SRV-4") {
            add("UNS-4");
        }
    }
    if model && lookups.finalised {
        add("LST-8");
    }
}

fn surface_name(p: Prefix) -> &'static str {
    match p {
        Prefix::Stable => "stable",
        Prefix::Unstable => "unstable",
    }
}

fn selected(opts: &Options, info: &CheckInfo) -> bool {
    let only = opts.only.is_empty() || opts.only.iter().any(|p| info.selected_by(p));
    let skip = opts.skip.iter().any(|p| info.selected_by(p));
    let level = opts.level.is_empty() || opts.level.contains(&info.level);
    only && !skip && level
}

fn progress_bar(opts: &Options, n: usize) -> ProgressBar {
    if opts.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
