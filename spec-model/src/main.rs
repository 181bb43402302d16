//! `spec-model`: check the executable specification, explore it, or print its witness traces.

use clap::{Parser, Subcommand};
use spec_model::checker::run::{self, describe_steps, Report};
use spec_model::checker::{witness, Bounds, DelayModel};
use spec_model::Mutant;
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
        /// Configurations to check (default: the suite lifecycle, pagination, sync, rate-limited; also large).
        #[arg(long = "config")]
        configs: Vec<String>,
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
        #[arg(long, default_value = "lifecycle")]
        config: String,
    },
    /// Print the shortest witness trace of every `sometimes` property.
    Witnesses {
        /// JSON output (the only format).
        #[arg(long)]
        json: bool,
    },
}

fn suite(names: &[String], mutant: Option<Mutant>) -> Result<Vec<Bounds>, String> {
    let mut suite = if names.is_empty() {
        Bounds::suite()
    } else {
        names
            .iter()
            .map(|n| {
                Bounds::by_name(n).ok_or_else(|| {
                    format!(
                        "unknown configuration `{n}` (try lifecycle, pagination, sync, rate-limited, large)"
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
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
        Command::Check { configs, threads, mutant } => {
            let mutant = mutant.as_deref().map(parse_mutant).transpose()?;
            let suite = suite(&configs, mutant)?;
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
            Ok(report.all_pass())
        }
        Command::Explore { bind, config } => {
            let bounds =
                Bounds::by_name(&config).ok_or_else(|| format!("unknown configuration `{config}`"))?;
            println!("Explorer on http://{bind}/ (Ctrl-C to stop)");
            std::net::TcpListener::bind(&bind).map_err(|e| format!("cannot bind {bind}: {e}"))?;
            DelayModel::new(bounds).checker().serve(bind);
            Ok(true)
        }
        Command::Witnesses { json: _ } => {
            let found = witness::shortest_witnesses(&Bounds::suite());
            let doc = witness::to_json(&found);
            println!("{}", serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?);
            Ok(found.values().all(Option::is_some))
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
