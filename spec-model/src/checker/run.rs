//! Running the checker over one or several bounded configurations and judging every property:
//! an `always` or `eventually` property passes when no configuration finds a counterexample, a
//! `sometimes` property when at least one configuration finds a witness.

use super::bounds::Bounds;
use super::model::{CheckState, DelayModel};
use crate::op::Op;
use crate::revision::Revision;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct ConfigStats {
    pub name: &'static str,
    pub generated: usize,
    pub unique: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
}

impl ConfigStats {
    pub fn states_per_sec(&self) -> f64 {
        self.generated as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Each property's name, kind and discovery path (if any) after one exploration.
pub type Found = Vec<(&'static str, Expectation, Option<Vec<Op>>)>;

#[derive(Clone, Debug)]
pub struct Discovery {
    pub config: &'static str,
    pub bounds: Bounds,
    pub ops: Vec<Op>,
}

#[derive(Clone, Debug)]
pub struct PropertyVerdict {
    pub name: &'static str,
    pub expectation: Expectation,
    pub pass: bool,
    /// The counterexample of a failing property, or the witness of a passing `sometimes` one.
    pub discovery: Option<Discovery>,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub configs: Vec<ConfigStats>,
    pub verdicts: Vec<PropertyVerdict>,
    /// Only some configurations were checked: a `sometimes` property without a witness may just
    /// not be exercised by them, so it does not count as a failure.
    pub partial: bool,
    pub revision: Revision,
}

impl PropertyVerdict {
    /// A `sometimes` property without a witness in a partial run.
    pub fn not_exercised(&self, partial: bool) -> bool {
        partial && !self.pass && matches!(self.expectation, Expectation::Sometimes)
    }
}

impl Report {
    pub fn all_pass(&self) -> bool {
        self.verdicts.iter().all(|v| v.pass || v.not_exercised(self.partial))
    }
}

/// Exhaustive BFS of one configuration; `stop_at` ends the search early once any (or, with
/// `all_of`, all) of those properties have discoveries.
pub fn explore(
    bounds: &Bounds,
    threads: usize,
    stop_at: Option<BTreeSet<&'static str>>,
    all_of: bool,
) -> (ConfigStats, Found) {
    let model = DelayModel::new(bounds.clone());
    let properties = model.properties();
    let start = Instant::now();
    let mut builder = model.checker().threads(threads.max(1));
    if let Some(names) = stop_at {
        builder = builder.finish_when(if all_of {
            HasDiscoveries::AllOf(names)
        } else {
            HasDiscoveries::AnyOf(names)
        });
    }
    let checker = builder.spawn_bfs().join();
    let elapsed = start.elapsed();
    let stats = ConfigStats {
        name: bounds.name,
        generated: checker.state_count(),
        unique: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        elapsed,
    };
    let mut discoveries = checker.discoveries();
    let found = properties
        .iter()
        .map(|p| {
            let path: Option<Path<CheckState, Op>> = discoveries.remove(p.name);
            (p.name, p.expectation.clone(), path.map(|p| p.into_actions()))
        })
        .collect();
    (stats, found)
}

/// Check every property over `suite`, whose configurations all speak one revision.
pub fn check(suite: &[Bounds], threads: usize) -> Report {
    let revision = suite.first().map_or(Revision::default(), |b| b.config.revision);
    assert!(suite.iter().all(|b| b.config.revision == revision), "one revision per check");
    let mut configs = Vec::new();
    let mut verdicts: Vec<PropertyVerdict> = Vec::new();
    for bounds in suite {
        let (stats, found) = explore(bounds, threads, None, false);
        configs.push(stats);
        for (name, expectation, ops) in found {
            let discovery = ops.map(|ops| Discovery { config: bounds.name, bounds: bounds.clone(), ops });
            let is_failure = !matches!(expectation, Expectation::Sometimes);
            match verdicts.iter_mut().find(|v| v.name == name) {
                None => verdicts.push(PropertyVerdict {
                    name,
                    pass: discovery.is_some() != is_failure,
                    expectation,
                    discovery,
                }),
                Some(v) if is_failure && discovery.is_some() && v.pass => {
                    v.pass = false;
                    v.discovery = discovery;
                }
                Some(v) if !is_failure && !v.pass && discovery.is_some() => {
                    v.pass = true;
                    v.discovery = discovery;
                }
                Some(_) => {}
            }
        }
    }
    let full: Vec<&str> = Bounds::suite(revision).iter().map(|b| b.name).collect();
    let partial = !full.iter().all(|name| suite.iter().any(|b| b.name == *name));
    Report { configs, verdicts, partial, revision }
}

/// The numbered steps of a discovery: each operation, then the server's answer. Replayed on the
/// raw specification (not the checker's canonical states), so ids are those a server would issue.
pub fn describe_steps(d: &Discovery) -> Vec<(Op, serde_json::Value)> {
    let model = DelayModel::new(d.bounds.clone());
    let mut state = model.init().spec;
    let mut steps = Vec::new();
    for op in &d.ops {
        let Some((next, observed)) = model.describe(&state, op) else { break };
        steps.push((*op, observed));
        state = next;
    }
    steps
}
