//! `spec-model`: check the executable specification, explore it, or print its witness traces.

use clap::{Parser, Subcommand};
use spec_model::checker::run::{self, describe_steps, Report};
use spec_model::checker::{diff, witness, Bounds, DelayModel};
use spec_model::{Mutant, Revision};
use stateright::{Expectation, Model};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "spec-model",
    version,
    about = "The executable specification of MSC4140 and its model checker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Exhaustive BFS of the bounded configurations; every property must PASS.
    Check {
        /// Configurations to check (default: the suite of each revision checked; `large` too).
        #[arg(long = "config")]
        configs: Vec<String>,
        /// `2025-07-09`, `2026-07-10` or `both` (default); ignored when configurations are named.
        #[arg(long, default_value = "both")]
        revision: String,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Check a deliberately broken variant (e.g. `FireEarly`) to see a counterexample.
        #[arg(long, hide = true)]
        mutant: Option<String>,
    },
    /// Serve stateright's Explorer web UI (blocks until interrupted).
    Explore {
        #[arg(long, default_value = "127.0.0.1:3000")]
        bind: String,
        /// A named configuration (default: the first of the revision's suite).
        #[arg(long)]
        config: Option<String>,
        /// `2025-07-09` (default) or `2026-07-10`; ignored when a configuration is named.
        #[arg(long, default_value = "2025-07-09")]
        revision: String,
    },
    /// Print the shortest witness trace of every `sometimes` property.
    Witnesses {
        /// JSON output (the only format).
        #[arg(long)]
        json: bool,
        /// The revision whose properties and suite to use.
        #[arg(long, default_value = "2025-07-09")]
        revision: String,
    },
    /// Every observable difference between the two revisions, each with its shortest trace.
    DiffRevisions {
        /// How many requests deep to search.
        #[arg(long, default_value_t = 5)]
        depth: usize,
        /// A markdown table (the section of docs/model.md) instead of text.
        #[arg(long)]
        markdown: bool,
    },
}

fn parse_revision(name: &str) -> Result<Revision, String> {
    Revision::parse(name).ok_or_else(|| format!("unknown revision `{name}` (2025-07-09 or 2026-07-10)"))
}

/// The suites to check, one per revision.
fn suites(names: &[String], revision: &str, mutant: Option<Mutant>) -> Result<Vec<Vec<Bounds>>, String> {
    let revisions = match revision {
        "both" => Revision::ALL.to_vec(),
        r => vec![parse_revision(r)?],
    };
    let named = suite(names, mutant)?;
    if names.is_empty() {
        return Ok(revisions
            .into_iter()
            .map(|r| {
                let mut s = Bounds::suite(r);
                for b in &mut s {
                    b.config.mutant = mutant;
                }
                s
            })
            .collect());
    }
    Ok(Revision::ALL
        .into_iter()
        .map(|r| named.iter().filter(|b| b.config.revision == r).cloned().collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect())
}

fn suite(names: &[String], mutant: Option<Mutant>) -> Result<Vec<Bounds>, String> {
    let mut suite: Vec<Bounds> = names
        .iter()
        .map(|n| {
            Bounds::by_name(n).ok_or_else(|| {
                let known: Vec<&str> = Bounds::all().iter().map(|b| b.name).collect();
                format!("unknown configuration `{n}` (one of {})", known.join(", "))
            })
        })
        .collect::<Result<_, _>>()?;
    for b in &mut suite {
        b.config.mutant = mutant;
    }
    Ok(suite)
}

fn parse_mutant(name: &str) -> Result<Mutant, String> {
    Mutant::ALL
        .iter()
        .copied()
        .find(|m| format!("{m:?}").eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("unknown mutant `{name}`; one of {:?}", Mutant::ALL))
}

fn print_report(report: &Report) {
    println!("revision {} ({})", report.revision, report.revision.profile());
    for c in &report.configs {
        println!(
            "configuration {:<13} {:>10} states generated, {:>9} unique, depth {:>3}, {:>7.2} s, {:>9.0} states/s",
            c.name,
            c.generated,
            c.unique,
            c.max_depth,
            c.elapsed.as_secs_f64(),
            c.states_per_sec()
        );
    }
    for v in &report.verdicts {
        let kind = match v.expectation {
            Expectation::Always => "always",
            Expectation::Sometimes => "sometimes",
            Expectation::Eventually => "eventually",
        };
        if v.not_exercised(report.partial) {
            println!("----  {kind:<10} {}  (not exercised by the configurations checked)", v.name);
            continue;
        }
        let verdict = if v.pass { "PASS" } else { "FAIL" };
        let note = match (&v.discovery, v.pass) {
            (Some(d), true) => format!("  (witness: {} steps in {})", d.ops.len(), d.config),
            _ => String::new(),
        };
        println!("{verdict}  {kind:<10} {}{note}", v.name);
        if let (false, Some(d)) = (v.pass, &v.discovery) {
            let what =
                if matches!(v.expectation, Expectation::Sometimes) { "no witness" } else { "counterexample" };
            println!("      {what} in configuration {}:", d.config);
            for (i, (op, observed)) in describe_steps(d).iter().enumerate() {
                println!("      {:>3}. {}", i + 1, serde_json::to_string(op).unwrap_or_default());
                println!("           -> {observed}");
            }
        } else if !v.pass {
            println!("      no witness in any configuration");
        }
    }
    let failed = report.verdicts.iter().filter(|v| !v.pass && !v.not_exercised(report.partial)).count();
    let skipped = report.verdicts.iter().filter(|v| v.not_exercised(report.partial)).count();
    let passed = report.verdicts.len() - failed - skipped;
    println!(
        "{} properties, {passed} passed, {failed} failed, {skipped} not exercised",
        report.verdicts.len()
    );
}

fn run(cli: Cli) -> Result<bool, String> {
    match cli.command {
        Command::Check { configs, revision, threads, mutant } => {
            let mutant = mutant.as_deref().map(parse_mutant).transpose()?;
            let mut all_pass = true;
            for suite in suites(&configs, &revision, mutant)? {
                let mut report = run::check(&suite, threads);
                // stateright keeps the last violating path it met, not the shortest: search again.
                let failing: Vec<&'static str> = report
                    .verdicts
                    .iter()
                    .filter(|v| !v.pass && !v.not_exercised(report.partial))
                    .map(|v| v.name)
                    .collect();
                for (name, d) in witness::shortest(&suite, failing) {
                    if let (Some(v), Some(d)) = (report.verdicts.iter_mut().find(|v| v.name == name), d) {
                        v.discovery = Some(d);
                    }
                }
                print_report(&report);
                all_pass &= report.all_pass();
            }
            Ok(all_pass)
        }
        Command::Explore { bind, config, revision } => {
            let bounds = match config {
                Some(config) => {
                    Bounds::by_name(&config).ok_or_else(|| format!("unknown configuration `{config}`"))?
                }
                None => {
                    let revision = parse_revision(&revision)?;
                    Bounds::suite(revision).into_iter().next().ok_or("the revision has no configuration")?
                }
            };
            println!(
                "Explorer on http://{bind}/ ({}, revision {}; Ctrl-C to stop)",
                bounds.name, bounds.config.revision
            );
            std::net::TcpListener::bind(&bind).map_err(|e| format!("cannot bind {bind}: {e}"))?;
            DelayModel::new(bounds).checker().serve(bind);
            Ok(true)
        }
        Command::Witnesses { json: _, revision } => {
            let revision = parse_revision(&revision)?;
            let found = witness::shortest_witnesses(&Bounds::suite(revision));
            let doc = witness::to_json(revision, &found);
            println!("{}", serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?);
            Ok(found.values().all(Option::is_some))
        }
        Command::DiffRevisions { depth, markdown } => {
            let diffs = diff::differences(depth);
            if markdown {
                print!("{}", diff::markdown(&diffs));
            } else {
                for d in &diffs {
                    println!("{} / {} ({} steps)", d.op, d.aspect, d.trace.len());
                    for op in &d.trace {
                        println!("    {}", diff::short(op));
                    }
                    println!("  2025-07-09: {}", d.seed);
                    println!("  2026-07-10: {}", d.merged);
                }
                println!("{} classes of difference within {depth} requests", diffs.len());
            }
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("spec-model: {e}");
            ExitCode::from(2)
        }
    }
}
